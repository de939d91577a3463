//! The sync screen against a real HQ on a loopback port: a USB export that HQ imports, then a
//! network sync, both started from the screen and reported in plain words.

mod common;
mod ui_common;

use chrono::Utc;
use enroll_sync::hq::{server, Hq};
use enroll_sync::record::Attribution;
use kiosk::demo::DemoGenerator;
use kiosk::enroll::{submit, Submission};
use kiosk::store::Store;
use std::net::TcpListener;
use std::path::Path;
use ui_common::*;

fn provision(hq_dir: &Path, data: &Path, url: &str) {
    let req = data.with_extension("req.json");
    let out = common::kiosk(
        data,
        &["provision", "--request", req.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let key = common::stdout(&out).trim().to_owned();
    let mut hq = Hq::open(hq_dir).expect("hq");
    let entry = hq.add_kiosk("Xã Hoà Bình", &key, None).expect("add kiosk");
    let prov = data.with_extension("prov.json");
    std::fs::write(
        &prov,
        serde_json::to_string(&hq.provisioning(&entry, url)).expect("json"),
    )
    .expect("write");
    let out = common::kiosk(data, &["provision", prov.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

fn status(k: &kiosk::ui::Kiosk) -> String {
    sync_state(&k.window).get_sync_status().to_string()
}

#[test]
fn export_then_sync_from_the_screen() {
    init(false);
    let tmp = tempfile::tempdir().expect("tempdir");
    let hq_dir = tmp.path().join("hq");
    let data = tmp.path().join("kiosk");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let hq = Hq::open(&hq_dir).expect("open hq");
    std::thread::spawn(move || server::serve(listener, hq));
    seed_accounts(&data);
    {
        let mut store = Store::open(&data).expect("store");
        let mut g = DemoGenerator::new(11, Utc::now());
        let by = Attribution {
            person: "canbo".into(),
            device: "test".into(),
            at: Utc::now(),
        };
        for _ in 0..5 {
            let saved = submit(&mut store, g.record(), &by, false).expect("submit");
            assert!(matches!(saved, Submission::Saved { .. }));
        }
    }
    run(async move {
        let k = kiosk(&data);
        sign_in(&k, SUPERVISOR_PIN).await;
        state(&k.window).invoke_navigate("sync".into());
        settle(&k).await;

        // Before HQ has provisioned the kiosk nothing can be sent, and the screen says so.
        press(&k, "Gửi qua mạng").await;
        wait_until(&k, 60, |k| status(k).contains("Chưa gửi")).await;
        assert!(!kiosk::store::Store::open(&data)
            .expect("store")
            .unacknowledged()
            .expect("pending")
            .is_empty());
        provision(&hq_dir, &data, &url);

        press(&k, "Xuất ra USB").await;
        wait_until(&k, 60, |k| {
            status(k).contains("Đã xuất") || status(k).contains("Chưa gửi")
        })
        .await;
        let text = status(&k);
        assert!(text.contains("Đã xuất 5 hồ sơ"), "{text}");
        let path = text
            .split_whitespace()
            .find(|w| w.contains(".bundle"))
            .map(|w| w.trim_end_matches('.'))
            .expect("the status names the file");
        let bytes = std::fs::read(path).expect("bundle written");
        let (_, receipt) = Hq::open(&hq_dir)
            .expect("hq")
            .import_bundle(&bytes)
            .expect("HQ imports the bundle");
        assert_eq!(receipt.acks.len(), 5);

        press(&k, "Gửi qua mạng").await;
        wait_until(&k, 60, |k| {
            status(k).contains("Đã gửi xong") || status(k).contains("Chưa gửi")
        })
        .await;
        let text = status(&k);
        assert!(text.contains("5 hồ sơ được trung tâm xác nhận"), "{text}");
        assert!(sync_state(&k.window).get_sync_progress() >= 1.0);
    });
    let store = Store::open(&tmp.path().join("kiosk")).expect("store");
    assert!(
        store.unacknowledged().expect("pending").is_empty(),
        "everything acknowledged"
    );
}
