//! A minimal blocking HTTP/1.1 client for the one request a kiosk makes (`POST /v1/sync`):
//! the body is streamed with chunked encoding, so a large push never sits whole in memory.
//! Plain HTTP; the payload is sealed end to end (TLS with a pinned certificate would add to it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("HQ address `{0}` is not an http://host:port address")]
    BadUrl(String),
    #[error("cannot reach HQ at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("the connection to HQ broke: {0}")]
    Io(#[from] std::io::Error),
    #[error("HQ sent a malformed HTTP answer")]
    BadResponse,
}

/// `http://host:port[/...]` → (`host:port`, host)
fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::BadUrl(url.to_owned()))?;
    let hostport = rest.split('/').next().unwrap_or_default();
    if hostport.is_empty() {
        return Err(HttpError::BadUrl(url.to_owned()));
    }
    let addr = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    Ok((addr, hostport.to_owned()))
}

/// Counts bytes written and read on the connection (for progress and the benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub sent: u64,
    pub received: u64,
}

/// POSTs `body` to `url` + `path`; returns the status and the response body.
pub fn post(
    url: &str,
    path: &str,
    body: &mut dyn Read,
    traffic: &mut Traffic,
) -> Result<(u16, Vec<u8>), HttpError> {
    let (addr, host) = split_url(url)?;
    let stream = TcpStream::connect(&addr).map_err(|source| HttpError::Connect {
        addr: addr.clone(),
        source,
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, &stream);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    w.write_all(head.as_bytes())?;
    traffic.sent += head.len() as u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let size = format!("{n:x}\r\n");
        w.write_all(size.as_bytes())?;
        w.write_all(&buf[..n])?;
        w.write_all(b"\r\n")?;
        traffic.sent += (size.len() + n + 2) as u64;
    }
    w.write_all(b"0\r\n\r\n")?;
    traffic.sent += 5;
    w.flush()?;
    drop(w);
    let mut r = BufReader::new(&stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    traffic.received += line.len() as u64;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::BadResponse)?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(HttpError::BadResponse);
        }
        traffic.received += line.len() as u64;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse::<usize>().ok();
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    let mut out = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            traffic.received += line.len() as u64;
            let n = usize::from_str_radix(line.trim(), 16).map_err(|_| HttpError::BadResponse)?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            traffic.received += chunk.len() as u64;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        out.resize(n, 0);
        r.read_exact(&mut out)?;
        traffic.received += n as u64;
    } else {
        r.read_to_end(&mut out)?;
        traffic.received += out.len() as u64;
    }
    Ok((status, out))
}
