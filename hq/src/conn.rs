//! Connections before HTTP: a cap on open connections per peer address and overall (a peer
//! over the cap gets a fixed 503 and is closed), and an idle timeout on every read and write,
//! so a peer that stalls mid-request or never reads its answer is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// How many connections HQ keeps and how long it waits on a silent one.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub per_address: usize,
    pub total: usize,
    /// Waiting this long for a peer to send or take bytes closes its connection.
    pub idle: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        // Kiosks behind one carrier NAT share an address: the per-address cap stays generous.
        ConnLimits {
            per_address: 32,
            total: 256,
            idle: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One accepted connection's place in the counts, given back when it closes.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.ip);
            }
        }
    }
}

/// A listener that counts connections and hands out idle-watched streams.
pub struct Guarded {
    inner: TcpListener,
    limits: ConnLimits,
    counts: Arc<Mutex<Counts>>,
}

impl Guarded {
    pub fn new(inner: TcpListener, limits: ConnLimits) -> Self {
        Guarded {
            inner,
            limits,
            counts: Arc::default(),
        }
    }

    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let here = c.by_address.get(&ip).copied().unwrap_or(0);
        if c.total >= self.limits.total || here >= self.limits.per_address {
            return None;
        }
        c.total += 1;
        *c.by_address.entry(ip).or_insert(0) += 1;
        Some(Slot {
            counts: self.counts.clone(),
            ip,
        })
    }
}

fn busy() -> String {
    let body = crate::limits::body("busy");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl axum::serve::Listener for Guarded {
    type Io = Watched;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Watched, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(x) => x,
                Err(_) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = self.admit(addr.ip()) else {
                // Best effort, never waits: the refused peer may not be reading.
                let _ = stream.try_write(busy().as_bytes());
                continue;
            };
            let _ = stream.set_nodelay(true);
            return (Watched::new(stream, self.limits.idle, slot), addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A TCP stream whose reads and writes fail with `TimedOut` after waiting `idle` for the peer.
pub struct Watched {
    io: TcpStream,
    idle: Duration,
    read_wait: Option<Pin<Box<Sleep>>>,
    write_wait: Option<Pin<Box<Sleep>>>,
    _slot: Slot,
}

impl Watched {
    fn new(io: TcpStream, idle: Duration, slot: Slot) -> Self {
        Watched {
            io,
            idle,
            read_wait: None,
            write_wait: None,
            _slot: slot,
        }
    }
}

/// The timer starts when waiting starts (not at the last progress), so time HQ itself spends
/// between reads is never counted against the peer.
fn watch<T>(
    wait: &mut Option<Pin<Box<Sleep>>>,
    idle: Duration,
    cx: &mut Context<'_>,
    r: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match r {
        Poll::Ready(r) => {
            *wait = None;
            Poll::Ready(r)
        }
        Poll::Pending => {
            let timer = wait.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
            if timer.as_mut().poll(cx).is_ready() {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "peer idle")))
            } else {
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        watch(&mut this.read_wait, this.idle, cx, r)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, b);
        watch(&mut this.write_wait, this.idle, cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        watch(&mut this.write_wait, this.idle, cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        watch(&mut this.write_wait, this.idle, cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
