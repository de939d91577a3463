//! The sync screen: send to HQ over the network, or write a sealed bundle for a USB stick.
//! Both run on the store's worker thread; progress comes back through the event loop.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono::Utc;

use super::{s, with_ctrl, Ctrl, HomeState, SharedString, SyncState};
use crate::store::Store;
use crate::sync::{self, Progress, Provisioned, SyncError};
use slint::ComponentHandle;

/// Where a bundle goes: the first mounted removable drive, else `exports/` in the data dir.
fn export_dir(data_dir: &Path) -> PathBuf {
    let mounts = ["/media", "/run/media"]
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|users| users.flatten())
        .filter_map(|user| std::fs::read_dir(user.path()).ok())
        .flat_map(|drives| drives.flatten())
        .map(|d| d.path())
        .find(|p| p.is_dir());
    mounts.unwrap_or_else(|| data_dir.join("exports"))
}

fn show_progress(p: Progress) {
    let fraction = if p.bytes_total > 0 {
        p.bytes_done as f32 / p.bytes_total as f32
    } else if p.records_total > 0 {
        p.records_done as f32 / p.records_total as f32
    } else {
        1.0
    };
    // Fails only once the window is gone, when nobody is watching the bar.
    drop(slint::invoke_from_event_loop(move || {
        with_ctrl(|c| c.app().global::<SyncState>().set_sync_progress(fraction))
    }));
}

/// A plain sentence for a failed transfer; saved records are never touched by a failure.
fn failure(e: &SyncError) -> (String, String) {
    (
        format!("Chưa gửi được: {e}. Hồ sơ vẫn an toàn trên máy; hãy thử lại sau."),
        format!("Not sent: {e}. The records are safe on the kiosk; try again later."),
    )
}

impl Ctrl {
    fn transfer_status(&self, vi: &str, en: &str) {
        self.app()
            .global::<SyncState>()
            .set_sync_status(self.pick(vi, en));
    }

    pub(super) fn start_sync(self: &Rc<Self>) {
        let data_dir = self.data_dir.clone();
        self.app().global::<SyncState>().set_sync_progress(0.0);
        self.transfer_status("Đang gửi dữ liệu về trung tâm…", "Sending to HQ…");
        self.worker.post(move |store: &mut Store| {
            let result = (|| {
                let prov = Provisioned::load(store)?;
                let key = sync::device_key(&data_dir)?;
                sync::sync(store, &key, &prov, &prov.hq_url.clone(), &mut show_progress)
            })();
            Box::new(move |c: &Rc<Ctrl>| match result {
                Ok(report) => {
                    let app = c.app();
                    let _g = app.global::<super::AppState>();
                    app.global::<SyncState>().set_sync_progress(1.0);
                    app.global::<HomeState>().set_last_sync(s(Utc::now().format("%d/%m/%Y %H:%M").to_string()));
                    let refused = report.rejected.len();
                    c.transfer_status(
                        &format!(
                            "Đã gửi xong: {} hồ sơ được trung tâm xác nhận, {refused} bị từ chối.",
                            report.acknowledged
                        ),
                        &format!(
                            "Done: {} records acknowledged by HQ, {refused} refused.",
                            report.acknowledged
                        ),
                    );
                }
                Err(e) => {
                    let (vi, en) = failure(&e);
                    c.transfer_status(&vi, &en);
                }
            })
        });
    }

    pub(super) fn start_export(self: &Rc<Self>) {
        let data_dir = self.data_dir.clone();
        self.app().global::<SyncState>().set_sync_progress(0.0);
        self.transfer_status("Đang ghi tệp xuất…", "Writing the export file…");
        self.worker.post(move |store: &mut Store| {
            let result = (|| {
                let prov = Provisioned::load(store)?;
                let key = sync::device_key(&data_dir)?;
                let dir = export_dir(&data_dir);
                std::fs::create_dir_all(&dir).map_err(|source| SyncError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                let name = format!("{}-{}.bundle", prov.kiosk_id, Utc::now().format("%Y%m%d-%H%M%S"));
                let out = dir.join(name);
                let (records, bytes) = sync::export(store, &key, &prov, &out)?;
                Ok::<_, SyncError>((out, records, bytes))
            })();
            Box::new(move |c: &Rc<Ctrl>| match result {
                Ok((out, records, bytes)) => {
                    c.app().global::<SyncState>().set_sync_progress(1.0);
                    let path = out.display();
                    c.transfer_status(
                        &format!("Đã xuất {records} hồ sơ ({bytes} byte) ra {path}. Mang tệp này về trung tâm và nhập lại biên nhận."),
                        &format!("Exported {records} records ({bytes} bytes) to {path}. Take it to HQ and import the receipt back."),
                    );
                }
                Err(e) => {
                    let (vi, en) = failure(&e);
                    c.transfer_status(&vi, &en);
                }
            })
        });
    }

    pub(super) fn bind_sync(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<SyncState>();
        on!(self, g, on_start_sync, |c| c.start_sync());
        on!(self, g, on_start_export, |c| c.start_export());
    }

    pub(super) fn sync_texts(&self) {
        let app = self.app();
        let g = app.global::<SyncState>();
        g.set_sync_available(true);
        g.set_sync_status(self.pick(
            "Gửi qua mạng khi có kết nối, hoặc xuất tệp ra USB. Máy phải được trung tâm cấp phép trước (kiosk provision).",
            "Send over the network when connected, or export a file to a USB stick. HQ must have provisioned this kiosk first (kiosk provision).",
        ));
    }
}
