//! The store lives on one worker thread: saving, drafts, searches and the duplicate check
//! never run on the UI thread. Replies come back through the Slint event loop, in order.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::store::Store;

use super::Ctrl;

pub type Reply = Box<dyn FnOnce(&Rc<Ctrl>) + Send>;
type Job = Box<dyn FnOnce(&mut Store) -> Reply + Send>;

pub struct Worker {
    tx: RefCell<Option<mpsc::Sender<Job>>>,
    thread: RefCell<Option<JoinHandle<()>>>,
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
        let thread = std::thread::spawn(move || {
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
        Worker {
            tx: RefCell::new(Some(tx)),
            thread: RefCell::new(Some(thread)),
            pending,
        }
    }

    pub fn post(&self, job: impl FnOnce(&mut Store) -> Reply + Send + 'static) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let sent = match self.tx.borrow().as_ref() {
            Some(tx) => tx.send(Box::new(job)).is_ok(),
            None => false,
        };
        if !sent {
            // The store thread ended (the store could not open): nothing will answer.
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Finishes the jobs already posted, closes the store and waits for the thread. The
    /// database must be closed before the process exits: its cipher library tears itself down
    /// at exit, and a connection closing on another thread meanwhile crashed the process.
    pub fn stop(&self) {
        drop(self.tx.borrow_mut().take());
        if let Some(thread) = self.thread.borrow_mut().take() {
            // A job that panicked has already said so on stderr; nothing is left to close.
            drop(thread.join());
        }
    }

    /// Jobs posted whose replies have not run yet.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}
