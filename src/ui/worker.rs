//! The store lives on one worker thread: saving, drafts, searches and the duplicate check
//! never run on the UI thread. Replies come back through the Slint event loop, in order.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use crate::store::Store;

use super::Ctrl;

pub type Reply = Box<dyn FnOnce(&Rc<Ctrl>) + Send>;
type Job = Box<dyn FnOnce(&mut Store) -> Reply + Send>;

pub struct Worker {
    tx: mpsc::Sender<Job>,
    pending: Arc<AtomicUsize>,
}

impl Worker {
    /// Opens the store on a new thread; `on_open` reports the result on the UI thread.
    pub fn start(
        data_dir: PathBuf,
        on_open: impl FnOnce(&mut Store) -> Reply + Send + 'static,
    ) -> Worker {
        let (tx, rx) = mpsc::channel::<Job>();
        let pending = Arc::new(AtomicUsize::new(1));
        let count = pending.clone();
        std::thread::spawn(move || {
            let deliver = |reply: Reply, count: &Arc<AtomicUsize>| {
                let count = count.clone();
                let sent = slint::invoke_from_event_loop(move || {
                    super::with_ctrl(|c| reply(c));
                    count.fetch_sub(1, Ordering::SeqCst);
                });
                // Only fails once the event loop is gone, when nobody waits for the reply.
                drop(sent);
            };
            let mut store = match Store::open(&data_dir) {
                Ok(s) => s,
                Err(e) => {
                    let msg = e.to_string();
                    deliver(Box::new(move |c: &Rc<Ctrl>| c.store_failed(&msg)), &count);
                    return;
                }
            };
            deliver(on_open(&mut store), &count);
            while let Ok(job) = rx.recv() {
                let reply = job(&mut store);
                deliver(reply, &count);
            }
        });
        Worker { tx, pending }
    }

    pub fn post(&self, job: impl FnOnce(&mut Store) -> Reply + Send + 'static) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(Box::new(job)).is_err() {
            // The store thread ended (the store could not open): nothing will answer.
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Jobs posted whose replies have not run yet.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}
