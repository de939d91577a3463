//! The HQ dashboard at scale: 1,000,000 records and 2,000 kiosks in PostgreSQL, generated in
//! the database (`generate_series`, not by syncing), then the records page with each filter,
//! the name search, the ID lookup, the fleet page and the audit page, through the real router
//! over loopback HTTP with a signed-in session. Reports p50/p99 of the server's answer time
//! (target ≤ 200 ms each) and EXPLAINs the records queries when `BENCH_EXPLAIN=1`.
//!
//! `cargo run --release -p enroll-hq --features bench-tools --bin dashboard-bench` (env
//! BENCH_RECORDS, BENCH_KIOSKS, BENCH_SAMPLES scale it). Starts its own PostgreSQL 15 cluster (the tests' harness).

#[path = "../tests/backend/mod.rs"]
mod backend;

use enroll_hq::dashboard::{auth, DashConfig};
use enroll_hq::{server, Hq, Options};
use enroll_sync::refdata::refdata;
use enroll_sync::text::search_key;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE: &[&str] = &[
    "Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Đức", "Quang", "Thu", "Xuân", "Hoài",
];
const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dung", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Khánh", "Lan",
    "Linh", "Long", "Mai", "Nam", "Nga", "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang",
    "Tuấn", "Việt", "Yến", "Giang", "Khoa", "Nhung", "Oanh", "Thắng",
];

/// Fills the database: kiosks with telemetry history, then records, in SQL.
async fn generate(url: &str, records: usize, kiosks: usize) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let up = |v: &[&str]| v.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>();
    let key = |v: &[&str]| v.iter().map(|s| search_key(s)).collect::<Vec<_>>();
    let communes: Vec<String> = refdata().communes.iter().map(|c| c.code.clone()).collect();
    let commune_provinces: Vec<String> = refdata()
        .communes
        .iter()
        .map(|c| c.province_code.clone())
        .collect();
    let t = Instant::now();
    client
        .execute(
            "INSERT INTO kiosks (id, name, public_key, added_at, last_seen_at, last_sync_at, telemetry)
             SELECT 'K' || lpad(i::text, 5, '0'), 'Ki-ốt ' || i, md5(i::text) || md5((-i)::text),
                    now() - interval '90 days', now() - (i % 10) * interval '1 day',
                    now() - (i % 10) * interval '1 day',
                    json_build_object('software_version', '0.1.' || (i % 4), 'free_bytes', 20000000000 - i * 1000000,
                      'records_waiting', i % 40, 'oldest_waiting_at', null, 'last_capture_at', null,
                      'clock', to_char(now() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text
             FROM generate_series(1, $1::int) i",
            &[&(kiosks as i32)],
        )
        .await
        .expect("kiosks");
    client
        .execute(
            "INSERT INTO kiosk_telemetry (kiosk_id, at, free_bytes, records_waiting)
             SELECT 'K' || lpad(i::text, 5, '0'), now() - d * interval '1 day',
                    20000000000 - i * 1000000 + d * 300000000, i % 40
             FROM generate_series(1, $1::int) i, generate_series(0, 6) d",
            &[&(kiosks as i32)],
        )
        .await
        .expect("telemetry");
    // Ids are 16 bytes in creation order (like UUIDv7); every name part, place and status is
    // picked by a different stride so that the filters cut the table differently.
    client
        .execute(
            "INSERT INTO records (id, kiosk_id, enrollment_no, full_name, search_key, id_number,
                province_code, commune_code, operator_id, captured_at, status, hq_status, hq_reason,
                updated_at, heads, blobs, chunks, doc)
             SELECT decode(lpad(to_hex(i), 32, '0'), 'hex'),
                    'K' || lpad((1 + i % $2::int)::text, 5, '0'),
                    'K' || lpad((1 + i % $2::int)::text, 5, '0') || '-' || lpad(i::text, 8, '0'),
                    ($3::text[])[1 + (i * 7) % array_length($3::text[], 1)] || ' ' ||
                      ($5::text[])[1 + (i * 13) % array_length($5::text[], 1)] || ' ' ||
                      ($7::text[])[1 + (i * 31) % array_length($7::text[], 1)],
                    ($4::text[])[1 + (i * 7) % array_length($4::text[], 1)] || ' ' ||
                      ($6::text[])[1 + (i * 13) % array_length($6::text[], 1)] || ' ' ||
                      ($8::text[])[1 + (i * 31) % array_length($8::text[], 1)],
                    lpad((i % 1000)::text, 3, '0') || lpad(i::text, 9, '0'),
                    ($10::text[])[1 + (i * 17) % array_length($10::text[], 1)],
                    ($9::text[])[1 + (i * 17) % array_length($9::text[], 1)],
                    'OP' || lpad((i % 6000)::text, 4, '0'),
                    timestamptz '2026-01-01 00:00:00+00' + i * interval '25 seconds',
                    (ARRAY['approved','approved','approved','synced','synced','captured','captured','draft','returned','approved'])[1 + i % 10],
                    (ARRAY[NULL,NULL,NULL,'received','received','card_printed',NULL,'duplicate',NULL,'recapture_needed'])[1 + (i / 10) % 10],
                    NULL,
                    now(), '\\x'::bytea, '\\x'::bytea, 1, '\\x00'::bytea
             FROM generate_series(1, $1::int) i",
            &[
                &(records as i32),
                &(kiosks as i32),
                &up(FAMILY),
                &key(FAMILY),
                &up(MIDDLE),
                &key(MIDDLE),
                &up(GIVEN),
                &key(GIVEN),
                &communes,
                &commune_provinces,
            ],
        )
        .await
        .expect("records");
    client.batch_execute("ANALYZE").await.expect("analyze");
    eprintln!(
        "generated {records} records and {kiosks} kiosks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// One GET with the session cookie; the whole answer read. Returns (status line, time).
fn get(addr: SocketAddr, path: &str, cookie: &str) -> (String, usize, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {}={cookie}\r\nConnection: close\r\n\r\n",
        auth::SESSION_COOKIE
    )
    .expect("send");
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("read");
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&body);
    let status = text.lines().next().unwrap_or_default().to_owned();
    (status, body.len(), took)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let records = env_count("BENCH_RECORDS", 1_000_000);
    let kiosks = env_count("BENCH_KIOSKS", 2_000);
    let samples = env_count("BENCH_SAMPLES", 40);
    let pg = backend::Backend::postgres();
    let url = pg.database().expect("postgres url");
    let dir = tempfile::tempdir().expect("tmp");
    let hq = Arc::new(
        Hq::open_with(Options {
            database: Some(url.clone()),
            ..Options::in_dir(dir.path())
        })
        .expect("hq"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(generate(&url, records, kiosks));

    auth::add_user(&hq, "bench", "admin", &[], "bench password 1", "bench").expect("user");
    let scoped = refdata().provinces[3].code.clone();
    auth::add_user(
        &hq,
        "scoped",
        "reviewer",
        &[scoped.clone()],
        "bench password 1",
        "bench",
    )
    .expect("user");
    let token = |name: &str| match auth::sign_in(&hq, name, "bench password 1").expect("sign in") {
        auth::SignIn::Ok { token, .. } => token,
        other => panic!("{other:?}"),
    };
    let admin = token("bench");
    let scoped_token = token("scoped");

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let h = hq.clone();
    std::thread::spawn(move || {
        server::serve_with(
            listener,
            h,
            DashConfig {
                secure_cookies: false,
            },
            enroll_hq::conn::ConnLimits::default(),
        )
    });
    std::thread::sleep(Duration::from_millis(300));

    let p = refdata().provinces[5].code.clone();
    let c = refdata()
        .communes_of(&p)
        .nth(2)
        .map(|c| c.code.clone())
        .expect("commune");
    let some_id = format!("{:03}{:09}", 777_777 % 1000, 777_777);
    let pages: Vec<(&str, String, &str)> = vec![
        ("records, no filter", "/records".into(), &admin),
        (
            "records, page 2 (keyset)",
            format!(
                "/records?after={}",
                uuid::Uuid::from_u128(records as u128 - 50)
            ),
            &admin,
        ),
        ("province", format!("/records?province={p}"), &admin),
        (
            "province + commune",
            format!("/records?province={p}&commune={c}"),
            &admin,
        ),
        ("kiosk", "/records?kiosk=K01234".into(), &admin),
        ("operator", "/records?operator=OP0042".into(), &admin),
        ("kiosk status", "/records?status=returned".into(), &admin),
        ("HQ status", "/records?hq=card_printed".into(), &admin),
        ("HQ status none", "/records?hq=none".into(), &admin),
        (
            "capture dates (1 week)",
            "/records?from=2026-03-01&to=2026-03-08".into(),
            &admin,
        ),
        ("name: nguyen", "/records?q=nguyen".into(), &admin),
        (
            "name: Nguyễn Thị Thảo",
            "/records?q=Nguy%E1%BB%85n+Th%E1%BB%8B+Th%E1%BA%A3o".into(),
            &admin,
        ),
        (
            "name: rare (lý hoài oanh)",
            "/records?q=ly+hoai+oanh".into(),
            &admin,
        ),
        ("name, nothing matches", "/records?q=zzzz".into(), &admin),
        ("ID number", format!("/records?idno={some_id}"), &admin),
        (
            "all filters",
            format!("/records?province={p}&status=approved&hq=none&q=nguyen"),
            &admin,
        ),
        ("province-scoped user", "/records".into(), &scoped_token),
        ("fleet", "/fleet".into(), &admin),
        ("fleet, page 20", "/fleet?after=K00950".into(), &admin),
        ("audit", "/audit".into(), &admin),
    ];
    println!("dashboard on PostgreSQL: {records} records, {kiosks} kiosks, {samples} samples each");
    println!(
        "{:<28} {:>9} {:>9} {:>9}  answer",
        "page", "p50 ms", "p99 ms", "max ms"
    );
    let mut worst = Duration::ZERO;
    for (name, path, cookie) in &pages {
        for _ in 0..3 {
            get(addr, path, cookie);
        }
        let mut times = Vec::with_capacity(samples);
        let mut last = (String::new(), 0);
        for _ in 0..samples {
            let (status, len, took) = get(addr, path, cookie);
            last = (status, len);
            times.push(took);
        }
        times.sort();
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        worst = worst.max(p99);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<28} {:>9.1} {:>9.1} {:>9.1}  {} ({} bytes)",
            ms(p50),
            ms(p99),
            ms(*times.last().expect("samples")),
            last.0,
            last.1
        );
        assert!(last.0.contains("200"), "{name}: {}", last.0);
    }
    println!(
        "worst p99: {:.1} ms (target ≤ 200 ms) {}",
        worst.as_secs_f64() * 1000.0,
        if worst <= Duration::from_millis(200) {
            "OK"
        } else {
            "OVER"
        }
    );
    if std::env::var_os("BENCH_EXPLAIN").is_some() {
        rt.block_on(explain(&url, &p));
    }
}

/// The plans of the records queries behind the slowest pages.
async fn explain(url: &str, province: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let cols = "id, kiosk_id, enrollment_no, full_name, search_key, id_number, province_code, commune_code, operator_id, captured_at, status, hq_status, hq_reason, updated_at";
    for q in [
        format!("SELECT {cols} FROM records WHERE province_code = '{province}' ORDER BY id DESC LIMIT 51"),
        format!("SELECT {cols} FROM records WHERE (' ' || search_key) LIKE '% nguyen%' ORDER BY id DESC LIMIT 51"),
        format!("SELECT {cols} FROM records WHERE (' ' || search_key) LIKE '% ly%' AND (' ' || search_key) LIKE '% hoai%' AND (' ' || search_key) LIKE '% oanh%' ORDER BY id DESC LIMIT 51"),
        format!("SELECT {cols} FROM records WHERE captured_at >= '2026-03-01' AND captured_at < '2026-03-08' ORDER BY captured_at DESC, id DESC LIMIT 51"),
    ] {
        println!("\nEXPLAIN ANALYZE {q}");
        for row in client
            .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {q}"), &[])
            .await
            .expect("explain")
        {
            println!("  {}", row.get::<_, String>(0));
        }
    }
}
