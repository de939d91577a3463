//! A display-less platform: Slint's software renderer into a memory buffer, as the linuxkms
//! backend does minus the page flip. `KIOSK_HEADLESS=1` selects it; with
//! `KIOSK_EXIT_AFTER_FIRST_FRAME=1` the kiosk exits once the lock screen is rendered, which is
//! what `benches/startup.rs` times.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType, Rgb565Pixel};
use slint::platform::{EventLoopProxy, Platform, WindowAdapter};
use slint::{EventLoopError, PhysicalSize, PlatformError};

type Task = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    tasks: Mutex<VecDeque<Task>>,
    quit: AtomicBool,
}

struct Proxy(Arc<Queue>);

impl EventLoopProxy for Proxy {
    fn quit_event_loop(&self) -> Result<(), EventLoopError> {
        self.0.quit.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn invoke_from_event_loop(&self, event: Task) -> Result<(), EventLoopError> {
        self.0
            .tasks
            .lock()
            .map_err(|_| EventLoopError::EventLoopTerminated)?
            .push_back(event);
        Ok(())
    }
}

pub struct Headless {
    window: Rc<MinimalSoftwareWindow>,
    queue: Arc<Queue>,
    exit_after_first_frame: bool,
}

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 800;

impl Headless {
    pub fn new(exit_after_first_frame: bool) -> Self {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::ReusedBuffer);
        window.set_size(PhysicalSize::new(WIDTH, HEIGHT));
        Headless {
            window,
            queue: Arc::default(),
            exit_after_first_frame,
        }
    }
}

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        Ok(self.window.clone())
    }

    fn new_event_loop_proxy(&self) -> Option<Box<dyn EventLoopProxy>> {
        Some(Box::new(Proxy(self.queue.clone())))
    }

    fn run_event_loop(&self) -> Result<(), PlatformError> {
        let mut buffer = vec![Rgb565Pixel::default(); (WIDTH * HEIGHT) as usize];
        loop {
            slint::platform::update_timers_and_animations();
            let tasks: Vec<Task> = match self.queue.tasks.lock() {
                Ok(mut q) => q.drain(..).collect(),
                Err(_) => return Err(PlatformError::Other("event queue poisoned".into())),
            };
            for t in tasks {
                t();
            }
            if self.queue.quit.load(Ordering::SeqCst) {
                return Ok(());
            }
            let drawn = self.window.draw_if_needed(|renderer| {
                renderer.render(&mut buffer, WIDTH as usize);
            });
            if drawn && self.exit_after_first_frame {
                println!("first frame");
                return Ok(());
            }
            if !self.window.has_active_animations() {
                let wait = slint::platform::duration_until_next_timer_update()
                    .unwrap_or(Duration::from_millis(16))
                    .min(Duration::from_millis(16));
                std::thread::sleep(wait);
            }
        }
    }
}
