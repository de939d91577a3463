//! The sync screen against a real HQ on a loopback port: a USB export that HQ imports, then a
//! network sync, both started from the screen and reported in plain words.

mod common;
mod ui_common;

use chrono::Utc;
use enroll_sync::record::Attribution;
use kiosk::demo::DemoGenerator;
use kiosk::enroll::{submit, Submission};
use kiosk::store::Store;
use std::path::Path;
use ui_common::*;

fn status(k: &kiosk::ui::Kiosk) -> String {
    sync_state(&k.window).get_sync_status().to_string()
}

#[test]
fn export_then_sync_from_the_screen() {
    init(false);
    let tmp = tempfile::tempdir().expect("tempdir");
    let hq_dir = tmp.path().join("hq");
    let data = tmp.path().join("kiosk");
    // The real `enroll-hq` (another package: the kiosk never links HQ's code).
    let server = common::HqServer::start(&hq_dir);
    let url = server.url.clone();
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
        common::provision_at_hq(&hq_dir, &data, "Xã Hoà Bình", &url);

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
        assert!(Path::new(path).is_file(), "bundle written");
        let out = common::enroll_hq(&hq_dir, &["import", path]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        assert!(
            common::stdout(&out).contains("5 hồ sơ đã nhận"),
            "{}",
            common::stdout(&out)
        );

        press(&k, "Gửi qua mạng").await;
        wait_until(&k, 60, |k| {
            status(k).contains("Đã gửi xong") || status(k).contains("Chưa gửi")
        })
        .await;
        let text = status(&k);
        assert!(text.contains("5 hồ sơ được trung tâm xác nhận"), "{text}");
        assert!(sync_state(&k.window).get_sync_progress() >= 1.0);

        // Settings show HQ's key fingerprint to compare; the address is a field for the
        // supervisor only.
        let prov: enroll_sync::provision::Provisioning = serde_json::from_slice(
            &std::fs::read(data.with_extension("prov.json")).expect("provisioning file"),
        )
        .expect("json");
        let hq_key = hex::decode(&prov.hq_sign_public).expect("hex");
        let fingerprint = enroll_sync::provision::spoken_fingerprint(&hq_key);
        let text_role = Some(i_slint_backend_testing::AccessibleRole::Text);
        // The waits above let the idle lock fall: the supervisor signs in again.
        state(&k.window).invoke_lock();
        settle(&k).await;
        press(&k, "Lê Văn Nam (giám sát)").await;
        sign_in(&k, SUPERVISOR_PIN).await;
        state(&k.window).invoke_navigate("settings".into());
        settle(&k).await;
        let g = settings_state(&k.window);
        assert_eq!(g.get_hq_fingerprint().to_string(), fingerprint);
        assert_eq!(g.get_hq_address().to_string(), url);
        assert!(
            state(&k.window).get_is_supervisor(),
            "signed in as the supervisor"
        );
        let field = find(&k.window, "Địa chỉ trung tâm (HQ)");
        assert_ne!(field.accessible_role(), text_role, "a supervisor edits it");
        // https:// needs HQ's certificate pinned by a provisioning file; this kiosk has none.
        g.invoke_set_hq("https://10.6.6.6:7443".into());
        settle(&k).await;
        assert_eq!(settings_state(&k.window).get_hq_address().to_string(), url);
        let banner = state(&k.window).get_banner().to_string();
        assert!(banner.contains("chứng chỉ"), "{banner}");
        state(&k.window).invoke_lock();
        settle(&k).await;
        press(&k, "Trần Thị Mai").await;
        sign_in(&k, OPERATOR_PIN).await;
        assert!(!state(&k.window).get_is_supervisor());
        assert_eq!(
            state(&k.window).get_operator_name().to_string(),
            "Trần Thị Mai"
        );
        state(&k.window).invoke_navigate("settings".into());
        settle(&k).await;
        let shown: Vec<_> = find_all(&k.window, "Địa chỉ trung tâm (HQ)")
            .into_iter()
            .filter(|e| e.accessible_role() != text_role)
            .collect();
        assert!(shown.is_empty(), "an operator cannot edit the HQ address");
        assert_eq!(
            settings_state(&k.window).get_hq_fingerprint().to_string(),
            fingerprint
        );
        // Even called directly, the operator's change is refused and nothing moves.
        settings_state(&k.window).invoke_set_hq("http://10.6.6.6:7070".into());
        settle(&k).await;
        assert_eq!(settings_state(&k.window).get_hq_address().to_string(), url);
    });
    let store = Store::open(&tmp.path().join("kiosk")).expect("store");
    assert!(
        store.unacknowledged().expect("pending").is_empty(),
        "everything acknowledged"
    );
}
