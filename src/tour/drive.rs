//! Driving the real UI the way an operator does: find a control by its accessible label,
//! press it, type into it, wait for the kiosk's own threads, take a screenshot.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use slint::platform::PointerEventButton;
use slint::{ComponentHandle, Model, PhysicalSize};

use super::report::Step;
use super::{io_at, TourError};
use crate::ui::{
    AppState, AppWindow, CaptureState, Kiosk, LockState, RecordsState, ResidentState, SyncState,
    WizardState,
};

/// Screenshots are taken at the kiosk's screen size.
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 800;
/// While driving, the window is tall: the element search skips what is scrolled out of view.
const TALL: u32 = 2400;

/// Lets the event loop run once (worker replies arrive through it).
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        let waker = cx.waker().clone();
        let posted = slint::invoke_from_event_loop(move || {
            std::thread::sleep(Duration::from_millis(2));
            waker.wake()
        });
        if posted.is_err() {
            // No event loop any more: nothing will wake us, so do not wait.
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

pub struct Driver {
    pub k: Rc<Kiosk>,
    out: PathBuf,
    pub steps: RefCell<Vec<Step>>,
    mark: Cell<Instant>,
}

type Result<T> = std::result::Result<T, TourError>;

impl Driver {
    pub fn new(k: Rc<Kiosk>, out: PathBuf) -> Driver {
        k.window.window().set_size(PhysicalSize::new(WIDTH, TALL));
        Driver {
            k,
            out,
            steps: RefCell::new(Vec::new()),
            mark: Cell::new(Instant::now()),
        }
    }

    pub fn app(&self) -> &AppWindow {
        &self.k.window
    }

    pub fn g(&self) -> AppState<'_> {
        self.app().global::<AppState>()
    }

    pub fn lock(&self) -> LockState<'_> {
        self.app().global::<LockState>()
    }

    pub fn wizard(&self) -> WizardState<'_> {
        self.app().global::<WizardState>()
    }

    pub fn capture(&self) -> CaptureState<'_> {
        self.app().global::<CaptureState>()
    }

    pub fn resident(&self) -> ResidentState<'_> {
        self.app().global::<ResidentState>()
    }

    pub fn records(&self) -> RecordsState<'_> {
        self.app().global::<RecordsState>()
    }

    pub fn sync(&self) -> SyncState<'_> {
        self.app().global::<SyncState>()
    }

    pub fn page(&self) -> String {
        self.g().get_page().to_string()
    }

    /// Waits until every store job has answered and the UI has caught up.
    pub async fn settle(&self) -> Result<()> {
        let end = Instant::now() + Duration::from_secs(120);
        while Instant::now() < end {
            if self.k.pending() == 0 {
                Yield(false).await;
                if self.k.pending() == 0 {
                    return Ok(());
                }
            }
            Yield(false).await;
        }
        Err(TourError::Timeout("kho dữ liệu / the store".into()))
    }

    /// Waits (up to `secs`) until `cond` holds.
    pub async fn wait(&self, what: &str, secs: u64, cond: impl Fn(&Self) -> bool) -> Result<()> {
        let end = Instant::now() + Duration::from_secs(secs);
        while !cond(self) {
            if Instant::now() > end {
                return Err(TourError::Timeout(what.into()));
            }
            Yield(false).await;
            std::thread::sleep(Duration::from_millis(5));
        }
        self.settle().await
    }

    fn all(&self, label: &str) -> Vec<ElementHandle> {
        ElementHandle::find_by_accessible_label(self.app(), label).collect()
    }

    /// The first element with this label, preferring a control over the text naming it.
    pub fn find(&self, label: &str) -> Result<ElementHandle> {
        let all = self.all(label);
        all.iter()
            .find(|e| e.accessible_role() != Some(AccessibleRole::Text))
            .or(all.first())
            .cloned()
            .ok_or_else(|| TourError::NoElement {
                label: label.into(),
                page: self.page(),
            })
    }

    pub fn has(&self, label: &str) -> bool {
        !self.all(label).is_empty()
    }

    /// A finger's tap: pointer down and up on the control's centre.
    pub async fn tap(&self, label: &str) -> Result<()> {
        // Real time: the mock-time click would move Slint's clock ahead of the platform's.
        self.find(label)?
            .single_click(PointerEventButton::Left)
            .await;
        self.settle().await
    }

    /// Activates a button (its accessible default action, as a touch does).
    pub async fn press(&self, label: &str) -> Result<()> {
        let e = self.find(label)?;
        if e.accessible_enabled() == Some(false) {
            return Err(TourError::Disabled(label.into()));
        }
        e.invoke_accessible_default_action();
        self.settle().await
    }

    /// Types into the field with this label.
    pub async fn fill(&self, label: &str, text: &str) -> Result<()> {
        self.find(label)?.set_accessible_value(text);
        self.settle().await
    }

    /// Opens a picker, searches, and chooses the first item; returns its name.
    pub async fn pick(&self, opener: &str, query: &str) -> Result<String> {
        self.press(opener).await?;
        if !self.wizard().get_picker_open() {
            return Err(TourError::Step(format!(
                "bộ chọn không mở / the picker did not open: {opener}"
            )));
        }
        self.fill("Tìm theo tên", query).await?;
        let item = self
            .wizard()
            .get_picker_items()
            .row_data(0)
            .ok_or_else(|| TourError::Step(format!("không có kết quả / nothing found: {query}")))?;
        // The overlay is drawn last: its row is the last control with this label.
        let row = self
            .all(&item.label)
            .into_iter()
            .filter(|e| e.accessible_role() != Some(AccessibleRole::Text))
            .last()
            .ok_or_else(|| TourError::NoElement {
                label: item.label.to_string(),
                page: self.page(),
            })?;
        row.invoke_accessible_default_action();
        self.settle().await?;
        Ok(item.label.to_string())
    }

    /// Renders the window at the kiosk's size, checks it is not blank, saves `NN-name.png`
    /// and records the step.
    pub async fn snap(
        &self,
        name: &str,
        seen_vi: impl Into<String>,
        seen_en: impl Into<String>,
    ) -> Result<()> {
        let window = self.app().window();
        window.set_size(PhysicalSize::new(WIDTH, HEIGHT));
        self.settle().await?;
        let shot = window.take_snapshot();
        window.set_size(PhysicalSize::new(WIDTH, TALL));
        let buf = shot.map_err(|e| TourError::Ui(e.to_string()))?;
        let img = image::RgbaImage::from_raw(buf.width(), buf.height(), buf.as_bytes().to_vec())
            .ok_or_else(|| TourError::Ui("ảnh chụp màn hình sai cỡ / bad snapshot size".into()))?;
        let first = *img.get_pixel(0, 0);
        if img.pixels().all(|p| *p == first) {
            return Err(TourError::Ui(format!(
                "màn hình trắng / blank screen: {name}"
            )));
        }
        let n = self.steps.borrow().len() + 1;
        let file = format!("{n:02}-{name}.png");
        let path = self.out.join(&file);
        img.save(&path)
            .map_err(|e| io_at(&path)(std::io::Error::other(e)))?;
        self.steps.borrow_mut().push(Step {
            name: name.into(),
            png: file,
            seen_vi: seen_vi.into(),
            seen_en: seen_en.into(),
            ms: self.mark.get().elapsed().as_millis(),
        });
        self.settle().await?;
        self.mark.set(Instant::now());
        Ok(())
    }
}
