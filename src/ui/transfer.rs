//! The sync screen: send to HQ over the network, or write a sealed bundle for a USB stick.
//! Both run on the store's worker thread; progress comes back through the event loop.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono::Utc;

use super::{with_ctrl, AppState, Ctrl, SyncState};
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

/// A plain sentence for a failed transfer, with what the operator can do; saved records are
/// never touched by a failure.
fn failure(e: &SyncError) -> (String, String) {
    let (vi, en) = match e {
        SyncError::NotProvisioned => (
            "máy chưa được trung tâm cấp phép. Hãy báo giám sát viên để cấp phép máy",
            "HQ has not set this kiosk up yet. Ask your supervisor to have it set up",
        ),
        SyncError::Http(_) => (
            "không kết nối được trung tâm. Kiểm tra mạng rồi thử lại, hoặc xuất ra USB",
            "HQ could not be reached. Check the network and try again, or export to USB",
        ),
        SyncError::Io { .. } => (
            "không ghi được tệp. Kiểm tra USB đã cắm và còn chỗ trống, rồi thử lại",
            "the file could not be written. Check the USB stick is in and has room, then try again",
        ),
        SyncError::NotOurRequest => (
            "câu trả lời nhận được không phải của trung tâm cho lần gửi này, nên không ghi nhận gì. Hãy thử lại; nếu vẫn lỗi, báo giám sát viên",
            "the answer received was not HQ's answer to this request, so nothing was recorded. Try again; if it keeps failing, tell your supervisor",
        ),
        SyncError::Refused { .. } | SyncError::WrongKiosk { .. } | SyncError::WrongDevice(_) => (
            "trung tâm từ chối máy này. Hãy báo giám sát viên",
            "HQ refused this kiosk. Tell your supervisor",
        ),
        _ => (
            "có lỗi khi gửi. Hãy thử lại sau; nếu vẫn lỗi, báo giám sát viên",
            "something went wrong while sending. Try again later; if it keeps failing, tell your supervisor",
        ),
    };
    (
        format!("Chưa gửi được: {vi}. Hồ sơ vẫn an toàn trên máy."),
        format!("Not sent: {en}. The records are safe on the kiosk."),
    )
}

/// A byte count in words an operator reads at a glance.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{} KB", b >> 10),
        b => format!("{b} B"),
    }
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
                    app.global::<SyncState>().set_sync_progress(1.0);
                    {
                        let mut st = c.state.borrow_mut();
                        st.sync_facts.last_sync = Some(Utc::now());
                        st.sync_facts.provisioned = true;
                    }
                    c.home_texts();
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
        self.app().global::<AppState>().set_busy(true);
        self.transfer_status(
            "Đang ghi tệp ra USB… Đừng rút USB cho đến khi máy báo xong.",
            "Writing the file to the USB stick… Do not remove it until the kiosk says it is done.",
        );
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
                let (records, bytes) =
                    sync::export_with_progress(store, &key, &prov, &out, &mut show_progress)?;
                Ok::<_, SyncError>((out, records, bytes))
            })();
            Box::new(move |c: &Rc<Ctrl>| match result {
                Ok((out, records, bytes)) => {
                    c.app().global::<AppState>().set_busy(false);
                    c.app().global::<SyncState>().set_sync_progress(1.0);
                    let path = out.display();
                    let size = size_text(bytes);
                    c.transfer_status(
                        &format!("Đã xuất {records} hồ sơ ({size}) ra {path}. Có thể rút USB. Mang tệp này về trung tâm; biên nhận của trung tâm sẽ được nhập lại vào máy."),
                        &format!("Exported {records} records ({size}) to {path}. You can remove the USB stick. Take the file to HQ; HQ's receipt is imported back into the kiosk."),
                    );
                }
                Err(e) => {
                    c.app().global::<AppState>().set_busy(false);
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
        // The buttons stay on: provisioning may happen while the screen is open, and a
        // refused attempt says in words what to do.
        g.set_sync_available(true);
        g.set_sync_status(if self.state.borrow().sync_facts.provisioned {
            self.pick(
                "Gửi qua mạng khi có kết nối, hoặc xuất tệp ra USB rồi mang về trung tâm.",
                "Send over the network when connected, or export a file to a USB stick and take it to HQ.",
            )
        } else {
            self.pick(
                "Máy chưa được trung tâm cấp phép nên chưa gửi được. Hãy báo giám sát viên để cấp phép máy.",
                "HQ has not set this kiosk up yet, so nothing can be sent. Ask your supervisor to have it set up.",
            )
        });
    }
}
