//! Read replicas: `Options::read_database` (`--read-database`) sends HQ's read-only queries to a
//! real PostgreSQL streaming replica (`pg_basebackup -R`) that the test starts beside the primary.

mod backend;

use backend::PgServer;
use chrono::{DateTime, TimeZone, Utc};
use enroll_hq::storage::Projection;
use enroll_hq::{Hq, Options, Page, RecordQuery, StoredRecord};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 8, 0, 0)
        .single()
        .expect("valid date")
}

fn record(i: u128) -> StoredRecord {
    StoredRecord {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i),
        kiosk_id: "K00001".into(),
        doc: vec![i as u8; 10],
        chunks: 1,
        heads: vec![],
        blobs: vec![],
        p: Projection {
            enrollment_no: format!("K00001-{i}"),
            full_name: format!("NGUYEN VAN {i}"),
            search_key: format!("nguyen van {i}"),
            id_number: Some(format!("0010{i:08}")),
            province_code: Some("01".into()),
            commune_code: Some("c1".into()),
            operator_id: "op".into(),
            captured_at: Some(at(1)),
            status: "approved".into(),
            hq_status: None,
            hq_reason: None,
            updated_at: at(2),
        },
    }
}

fn put(hq: &Hq, from: u128, to: u128) {
    let mut s = hq.session().expect("session");
    s.begin().expect("begin");
    let rows: Vec<StoredRecord> = (from..to).map(record).collect();
    s.put_records(&rows).expect("put");
    s.commit().expect("commit");
}

fn listed(hq: &Hq) -> usize {
    let page = Page {
        limit: 10_000,
        ..Page::default()
    };
    hq.list_records(&RecordQuery::default(), &page)
        .expect("list")
        .len()
}

fn on_primary(hq: &Hq) -> usize {
    let page = Page {
        limit: 10_000,
        ..Page::default()
    };
    hq.session()
        .expect("session")
        .list_records(&RecordQuery::default(), &page)
        .expect("list")
        .len()
}

fn wait_for(hq: &Hq, n: usize) {
    let until = Instant::now() + Duration::from_secs(60);
    while listed(hq) != n {
        assert!(
            Instant::now() < until,
            "the replica never reached {n} records"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sql(url: &str, statement: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(conn);
        client.batch_execute(statement).await.expect(statement);
        drop(client);
        let _ = task.await;
    });
}

#[test]
fn read_only_queries_go_to_the_replica_and_writes_to_the_primary() {
    let primary = PgServer::start();
    let dir = tempfile::tempdir().expect("tmp");
    // The primary creates the schema; the replica is cloned from it.
    drop(Hq::open_with(Options {
        database: Some(primary.url()),
        ..Options::in_dir(dir.path())
    }));
    let replica = primary.replica();
    let hq = Hq::open_with(Options {
        database: Some(primary.url()),
        read_database: Some(replica.url()),
        ..Options::in_dir(dir.path())
    })
    .expect("open hq");
    hq.add_kiosk(
        "Xã A",
        &hex::encode(enroll_sync::identity::DeviceKey::generate().public()),
        None,
    )
    .expect("kiosk");
    put(&hq, 0, 5);
    wait_for(&hq, 5);

    // Replay paused: the primary has 8, the listing (served by the replica) still shows 5.
    sql(&replica.url(), "SELECT pg_wal_replay_pause()");
    put(&hq, 5, 8);
    assert_eq!(on_primary(&hq), 8);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(listed(&hq), 5, "listings are read on the replica");
    assert_eq!(hq.kiosks().expect("kiosks").len(), 1);
    sql(&replica.url(), "SELECT pg_wal_replay_resume()");
    wait_for(&hq, 8);

    // The replica refuses writes, so nothing but reads can have gone there.
    let mut r = hq.read_session().expect("read session");
    r.begin().expect("begin");
    assert!(
        r.put_records(&[record(99)]).is_err(),
        "a replica is read-only"
    );
}
