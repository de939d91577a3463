//! Connections before HTTP: a cap on open connections per peer address and overall (a peer
//! over the cap gets a fixed 503 and is closed), and an idle timeout on every read and write,
//! so a peer that stalls mid-request or never reads its answer is dropped. With TLS
//! ([`Guarded::with_tls`]) the handshake runs on the connection's own task, on first use, over
//! the same idle-watched stream and within one idle period overall, so a stalled or slow
//! handshake is closed like any silent peer and never holds up the accept loop.

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
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

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
    tls: Option<TlsAcceptor>,
}

impl Guarded {
    pub fn new(inner: TcpListener, limits: ConnLimits) -> Self {
        Guarded {
            inner,
            limits,
            counts: Arc::default(),
            tls: None,
        }
    }

    /// The same listener serving TLS with `config` on every connection.
    pub fn with_tls(inner: TcpListener, limits: ConnLimits, config: Arc<ServerConfig>) -> Self {
        Guarded {
            tls: Some(TlsAcceptor::from(config)),
            ..Guarded::new(inner, limits)
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
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
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
            let watched = Watched::new(stream, self.limits.idle, slot);
            let conn = match &self.tls {
                None => Conn::Plain(watched),
                Some(acceptor) => Conn::Tls(Box::new(TlsState::Handshake {
                    accept: acceptor.accept(watched),
                    deadline: Box::pin(tokio::time::sleep(self.limits.idle)),
                })),
            };
            return (conn, addr);
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

/// An accepted connection: plain, or TLS whose handshake runs on first use.
pub enum Conn {
    Plain(Watched),
    Tls(Box<TlsState>),
}

pub enum TlsState {
    Handshake {
        accept: tokio_rustls::Accept<Watched>,
        /// The whole handshake must finish within one idle period.
        deadline: Pin<Box<Sleep>>,
    },
    Ready(tokio_rustls::server::TlsStream<Watched>),
    Failed,
}

impl TlsState {
    /// Drives the handshake; ready when the TLS stream can be used.
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<Watched>>> {
        if let TlsState::Handshake { accept, deadline } = self {
            match Pin::new(accept).poll(cx) {
                Poll::Ready(Ok(stream)) => *self = TlsState::Ready(stream),
                Poll::Ready(Err(e)) => {
                    *self = TlsState::Failed;
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        *self = TlsState::Failed;
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake too slow",
                        )));
                    }
                    return Poll::Pending;
                }
            }
        }
        match self {
            TlsState::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS handshake failed",
            ))),
        }
    }
}

macro_rules! ready_tls {
    ($state:expr, $cx:expr) => {
        match $state.poll_ready($cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(w) => Pin::new(w).poll_read(cx, buf),
            Conn::Tls(t) => ready_tls!(t, cx).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(w) => Pin::new(w).poll_write(cx, b),
            Conn::Tls(t) => ready_tls!(t, cx).poll_write(cx, b),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            Conn::Tls(t) => ready_tls!(t, cx).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(w) => w.is_write_vectored(),
            Conn::Tls(t) => match t.as_ref() {
                TlsState::Ready(s) => s.is_write_vectored(),
                _ => false,
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(w) => Pin::new(w).poll_flush(cx),
            Conn::Tls(t) => ready_tls!(t, cx).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(w) => Pin::new(w).poll_shutdown(cx),
            Conn::Tls(t) => match t.as_mut() {
                TlsState::Ready(s) => Pin::new(s).poll_shutdown(cx),
                _ => Poll::Ready(Ok(())),
            },
        }
    }
}
