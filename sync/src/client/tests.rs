//! A hostile fake HQ on a loopback socket: each answer must end `post` quickly with a plain,
//! typed error and bounded memory.

use super::*;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

/// Reads one chunked request to its end (`0\r\n\r\n`), so the client is waiting for the answer.
fn read_request(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.ends_with(b"0\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Runs `answer` for one connection on a loopback port; returns the URL.
fn fake_hq(answer: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            read_request(&mut s);
            answer(s);
        }
    });
    url
}

/// Writes `bytes` again and again until the client hangs up or 4 GiB went out.
fn flood(s: &mut TcpStream, bytes: &[u8]) {
    let mut sent = 0u64;
    while sent < 4 << 30 {
        if s.write_all(bytes).is_err() {
            return;
        }
        sent += bytes.len() as u64;
    }
}

fn quick() -> Options {
    Options {
        idle_timeout: Duration::from_secs(1),
        answer_timeout: Duration::from_secs(2),
        reply_body_timeout: Duration::from_secs(20),
        ..Options::default()
    }
}

fn push(url: &str, options: &Options) -> (Result<(u16, Vec<u8>), HttpError>, Duration) {
    let started = Instant::now();
    let body = vec![7u8; 300_000];
    let mut traffic = Traffic::default();
    let r = post_with(url, "/v1/sync", &mut body.as_slice(), &mut traffic, options);
    (r, started.elapsed())
}

#[test]
fn huge_content_length_is_refused_before_reading() {
    let url = fake_hq(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n");
        flood(&mut s, &[0u8; 64 * 1024]);
    });
    let (r, took) = push(&url, &quick());
    let e = r.expect_err("refused");
    assert!(matches!(e, HttpError::ReplyTooLarge { .. }), "{e}");
    assert!(e.to_string().contains("nothing was lost"), "{e}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn endless_body_stops_at_the_cap() {
    let url = fake_hq(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        flood(&mut s, &[1u8; 64 * 1024]);
    });
    let options = Options {
        max_reply: 1 << 20,
        ..quick()
    };
    let (r, took) = push(&url, &options);
    let e = r.expect_err("refused");
    assert!(
        matches!(e, HttpError::ReplyTooLarge { limit } if limit == 1 << 20),
        "{e}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn chunk_size_of_all_ones_is_refused() {
    let url = fake_hq(|mut s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
        );
        flood(&mut s, &[2u8; 64 * 1024]);
    });
    let (r, took) = push(&url, &quick());
    let e = r.expect_err("refused");
    assert!(
        matches!(
            e,
            HttpError::ReplyTooLarge { .. } | HttpError::BadResponse(_)
        ),
        "{e}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn endless_headers_are_refused() {
    let url = fake_hq(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        flood(&mut s, b"X-More: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    });
    let (r, took) = push(&url, &quick());
    let e = r.expect_err("refused");
    assert!(matches!(e, HttpError::HeadersTooLarge { .. }), "{e}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn silent_hq_times_out() {
    let url = fake_hq(|s| {
        thread::sleep(Duration::from_secs(30));
        drop(s);
    });
    let (r, took) = push(&url, &quick());
    let e = r.expect_err("refused");
    assert!(matches!(e, HttpError::Timeout { .. }), "{e}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn honest_answers_arrive_and_bytes_are_counted() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"[..],
        &b"HTTP/1.1 409 Conflict\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"[..],
    ] {
        let url = fake_hq(move |mut s| {
            let _ = s.write_all(answer);
        });
        let body = vec![7u8; 300_000];
        let mut traffic = Traffic::default();
        let (status, bytes) = post_with(
            &url,
            "/v1/sync",
            &mut body.as_slice(),
            &mut traffic,
            &quick(),
        )
        .expect("answer");
        assert!(status == 200 || status == 409);
        assert_eq!(bytes, b"hello");
        assert!(
            traffic.sent >= 300_000 && traffic.sent < 301_000,
            "{traffic:?}"
        );
        assert_eq!(traffic.received, answer.len() as u64);
    }
}

#[test]
fn https_without_a_pin_is_refused() {
    let body = [0u8; 4];
    let mut traffic = Traffic::default();
    let e = post(
        "https://127.0.0.1:9/",
        "/v1/sync",
        &mut &body[..],
        &mut traffic,
    )
    .expect_err("refused");
    assert!(matches!(e, HttpError::NoPin), "{e}");
    let e = post("ftp://h/", "/v1/sync", &mut &body[..], &mut traffic).expect_err("refused");
    assert!(matches!(e, HttpError::BadUrl(_)), "{e}");
}
