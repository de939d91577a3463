//! The kiosk's HTTP client for its one request (`POST /v1/sync`), on `ureq`.
//!
//! - The body streams with chunked encoding, so a large push never sits whole in memory.
//! - HQ's answer is bounded: its size ([`MAX_REPLY_BYTES`]), its headers
//!   ([`MAX_HEADER_BYTES`]) and time (connect, every read and write, the wait for the answer),
//!   so a hostile or stalled HQ ends the session with a plain error and nothing lost.
//! - `https://` HQs: rustls (ring), and the only certificate accepted is the one whose SHA-256
//!   is pinned in the provisioning file ([`Options::pin`]); no pin, no HTTPS (kiosks carry no
//!   CA store worth trusting). The payload is sealed end to end in either case.
//! - [`Traffic`] counts the bytes on the socket (under TLS, the TLS records).

use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use sha2::{Digest, Sha256};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};

/// The largest answer the kiosk reads. HQ's largest honest answer is a hello's: for a kiosk
/// with 10,000 waiting records, an acknowledgement or HQ heads per record (~60 bytes each),
/// up to 11 blobs each still wanted (40 bytes each, ~4.4 MB), and HQ's own changes, at most
/// 5,000 per answer (`DOWNLINK_MAX` in HQ's intake; status and duplicate notes of a few hundred
/// bytes each, ~5 MB): about 10 MB. 64 MiB leaves six times that.
pub const MAX_REPLY_BYTES: u64 = 64 << 20;
/// The answer's status line and headers together (HQ sends a few short ones).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Reaching HQ (TCP connect and, for https://, the TLS handshake).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a single read or write may wait: a link that moves nothing for this long is dead.
/// A large push over a slow link is fine as long as bytes keep moving.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// From the end of the body to the answer's headers (HQ applies the last frames, then answers).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// Reading the answer's body, at most (64 MiB at ~1 Mbit/s).
pub const REPLY_BODY_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("địa chỉ HQ `{0}` không phải dạng http://máy:cổng hay https://máy:cổng / HQ address `{0}` is not an http://host:port or https://host:port address")]
    BadUrl(String),
    #[error("không kết nối được HQ tại {addr}: {reason}; không mất dữ liệu gì, hãy thử lại / cannot reach HQ at {addr}: {reason}; nothing was lost, try again")]
    Connect { addr: String, reason: String },
    #[error("HQ ngừng trả lời ({phase}); không mất dữ liệu gì, hãy thử lại / HQ stopped answering ({phase}); nothing was lost, try again")]
    Timeout { phase: String },
    #[error("câu trả lời của HQ lớn hơn {limit} byte nên bị bỏ; không mất dữ liệu gì, hãy thử lại / HQ's answer was larger than {limit} bytes and was dropped; nothing was lost, try again")]
    ReplyTooLarge { limit: u64 },
    #[error("phần đầu câu trả lời của HQ dài quá {limit} byte nên bị bỏ; không mất dữ liệu gì, hãy thử lại / HQ's answer headers ran past {limit} bytes and were dropped; nothing was lost, try again")]
    HeadersTooLarge { limit: usize },
    #[error("HQ gửi câu trả lời HTTP hỏng ({0}); không mất dữ liệu gì, hãy thử lại / HQ sent a malformed HTTP answer ({0}); nothing was lost, try again")]
    BadResponse(String),
    #[error("kết nối tới HQ bị đứt ({0}); không mất dữ liệu gì, hãy thử lại / the connection to HQ broke ({0}); nothing was lost, try again")]
    Io(std::io::Error),
    #[error("chứng chỉ TLS của máy chủ không phải chứng chỉ HQ đã ghim trong tệp cấu hình (nhận {found}); không gửi gì / the server's TLS certificate is not the one pinned for HQ in the provisioning file (got {found}); nothing was sent")]
    PinMismatch { found: String },
    #[error("HQ dùng https:// nhưng tệp cấu hình không ghim chứng chỉ TLS của HQ; hãy xin HQ tệp cấu hình mới / HQ is https:// but the provisioning file pins no TLS certificate for HQ; ask HQ for a new provisioning file")]
    NoPin,
    #[error("bắt tay TLS với HQ không thành: {0} / the TLS handshake with HQ failed: {0}")]
    Tls(String),
}

/// Counts bytes written and read on the connection (for progress and the benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub sent: u64,
    pub received: u64,
}

/// How one request is made; [`Options::default`] is what a kiosk uses, plus its pin.
#[derive(Debug, Clone)]
pub struct Options {
    /// SHA-256 of HQ's TLS certificate (DER), from the provisioning file.
    pub pin: Option<[u8; 32]>,
    pub max_reply: u64,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub answer_timeout: Duration,
    pub reply_body_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pin: None,
            max_reply: MAX_REPLY_BYTES,
            connect_timeout: CONNECT_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            answer_timeout: ANSWER_TIMEOUT,
            reply_body_timeout: REPLY_BODY_TIMEOUT,
        }
    }
}

/// The pin of a certificate: SHA-256 of its DER bytes.
pub fn certificate_pin(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// POSTs `body` to `url` + `path` with the default options; returns the status and the body.
pub fn post(
    url: &str,
    path: &str,
    body: &mut dyn Read,
    traffic: &mut Traffic,
) -> Result<(u16, Vec<u8>), HttpError> {
    post_with(url, path, body, traffic, &Options::default())
}

/// POSTs `body` to `url` + `path`; returns the status and the response body.
pub fn post_with(
    url: &str,
    path: &str,
    body: &mut dyn Read,
    traffic: &mut Traffic,
    options: &Options,
) -> Result<(u16, Vec<u8>), HttpError> {
    let https = if url.starts_with("https://") {
        true
    } else if url.starts_with("http://") {
        false
    } else {
        return Err(HttpError::BadUrl(url.to_owned()));
    };
    let pin = match (https, options.pin) {
        (true, None) => return Err(HttpError::NoPin),
        (_, pin) => pin,
    };
    let target = format!("{}{path}", url.trim_end_matches('/'));
    let uri: ureq::http::Uri = target
        .parse()
        .map_err(|_| HttpError::BadUrl(url.to_owned()))?;
    let addr = uri.authority().map_or_else(String::new, |a| a.to_string());
    if addr.is_empty() {
        return Err(HttpError::BadUrl(url.to_owned()));
    }
    let counters = Arc::new(Counters::default());
    let mismatch = Arc::new(Mutex::new(None));
    let tls = match pin {
        Some(pin) => Some(Arc::new(pinned_config(pin, mismatch.clone())?)),
        None => None,
    };
    let connector =
        ().chain(TcpConnector::default())
            .chain(CountingConnector(counters.clone()))
            .chain(PinnedTlsConnector { config: tls });
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .https_only(false)
        .proxy(None)
        .max_redirects(0)
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .max_response_header_size(MAX_HEADER_BYTES)
        .max_idle_connections(0)
        .output_buffer_size(64 * 1024)
        .timeout_global(None)
        .timeout_connect(Some(options.connect_timeout))
        .timeout_per_read(Some(options.idle_timeout))
        .timeout_per_write(Some(options.idle_timeout))
        .timeout_recv_response(Some(options.answer_timeout))
        .timeout_recv_body(Some(options.reply_body_timeout))
        .build();
    let agent = ureq::Agent::with_parts(config, connector, DefaultResolver::default());
    let result = agent
        .post(uri)
        .header("Content-Type", "application/octet-stream")
        // One request per connection: HQ frees the connection (and its slot under the
        // per-address cap) as soon as it has answered.
        .header("Connection", "close")
        .send(ureq::SendBody::from_reader(body))
        .and_then(|mut response| {
            let status = response.status().as_u16();
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > options.max_reply) {
                return Err(ureq::Error::BodyExceedsLimit(options.max_reply));
            }
            let bytes = response
                .body_mut()
                .with_config()
                .limit(options.max_reply)
                .read_to_vec()?;
            Ok((status, bytes))
        });
    traffic.sent += counters.sent.load(Ordering::Relaxed);
    traffic.received += counters.received.load(Ordering::Relaxed);
    let found = mismatch.lock().ok().and_then(|m| m.clone());
    match (result, found) {
        (Ok(answer), _) => Ok(answer),
        (Err(_), Some(found)) => Err(HttpError::PinMismatch { found }),
        (Err(e), None) => Err(classify(e, &addr, options)),
    }
}

fn classify(e: ureq::Error, addr: &str, options: &Options) -> HttpError {
    use ureq::Error as U;
    match e {
        U::Timeout(t) => HttpError::Timeout {
            phase: phase(t).into(),
        },
        U::BodyExceedsLimit(_) => HttpError::ReplyTooLarge {
            limit: options.max_reply,
        },
        U::LargeResponseHeader(_, _) => HttpError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        },
        U::HostNotFound | U::ConnectionFailed => HttpError::Connect {
            addr: addr.to_owned(),
            reason: "no route".into(),
        },
        U::BadUri(_) => HttpError::BadUrl(addr.to_owned()),
        U::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => HttpError::Timeout {
                phase: "I/O".into(),
            },
            std::io::ErrorKind::ConnectionRefused => HttpError::Connect {
                addr: addr.to_owned(),
                reason: io.to_string(),
            },
            _ => HttpError::Io(io),
        },
        U::Protocol(p) => {
            let text = p.to_string();
            if text.to_ascii_lowercase().contains("header") {
                HttpError::HeadersTooLarge {
                    limit: MAX_HEADER_BYTES,
                }
            } else {
                HttpError::BadResponse(text)
            }
        }
        U::Tls(t) => HttpError::Tls(t.into()),
        U::Other(other) => match other.downcast::<HttpError>() {
            Ok(mine) => *mine,
            Err(other) => HttpError::BadResponse(other.to_string()),
        },
        U::BodyStalled => HttpError::Timeout {
            phase: "reading the answer".into(),
        },
        other => HttpError::BadResponse(other.to_string()),
    }
}

fn phase(t: ureq::Timeout) -> &'static str {
    use ureq::Timeout as T;
    match t {
        T::Resolve | T::Connect => "kết nối / connecting",
        T::SendRequest | T::SendBody | T::Await100 => "gửi / sending",
        T::RecvResponse => "chờ câu trả lời / waiting for the answer",
        T::RecvBody => "đọc câu trả lời / reading the answer",
        _ => "toàn phiên / the whole session",
    }
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
}

/// Wraps the TCP transport and counts the bytes that cross it.
#[derive(Debug)]
struct CountingConnector(Arc<Counters>);

impl<In: Transport> Connector<In> for CountingConnector {
    type Out = Counting<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| Counting {
            inner,
            counters: self.0.clone(),
        }))
    }
}

struct Counting<T> {
    inner: T,
    counters: Arc<Counters>,
}

impl<T: Transport> fmt::Debug for Counting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<T: Transport> Transport for Counting<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner.transmit_output(amount, timeout)?;
        self.counters
            .sent
            .fetch_add(amount as u64, Ordering::Relaxed);
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let before = self.inner.buffers().input().len();
        let more = self.inner.await_input(timeout)?;
        let after = self.inner.buffers().input().len();
        self.counters
            .received
            .fetch_add(after.saturating_sub(before) as u64, Ordering::Relaxed);
        Ok(more)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// TLS over the counted TCP transport when the address is `https://`, with the pinned verifier.
#[derive(Debug)]
struct PinnedTlsConnector {
    config: Option<Arc<ClientConfig>>,
}

impl<In: Transport> Connector<In> for PinnedTlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let Some(config) = &self.config else {
            return Err(ureq::Error::Other(Box::new(HttpError::NoPin)));
        };
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| ureq::Error::Other(Box::new(HttpError::Tls(e.to_string()))))?;
        let mut conn = ClientConnection::new(config.clone(), name)
            .map_err(|e| ureq::Error::Other(Box::new(HttpError::Tls(e.to_string()))))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                ureq::Error::Io(e)
            } else {
                ureq::Error::Other(Box::new(HttpError::Tls(e.to_string())))
            }
        })?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        use std::io::Write;
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        self.stream.flush()?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

fn pinned_config(
    pin: [u8; 32],
    mismatch: Arc<Mutex<Option<String>>>,
) -> Result<ClientConfig, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedVerifier {
        pin,
        mismatch,
        provider: provider.clone(),
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Accepts exactly the certificate whose SHA-256 is pinned; the handshake signature is still
/// checked against that certificate's key, so only the holder of HQ's private key passes.
#[derive(Debug)]
struct PinnedVerifier {
    pin: [u8; 32],
    mismatch: Arc<Mutex<Option<String>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let found = certificate_pin(end_entity.as_ref());
        if found == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        if let Ok(mut m) = self.mismatch.lock() {
            *m = Some(hex::encode(found));
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;
