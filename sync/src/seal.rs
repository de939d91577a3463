//! Sealing to a recipient's X25519 key: an ephemeral key per stream, HKDF-SHA256, then
//! ChaCha20-Poly1305 frames. Each frame's nonce holds its number and a "last" flag, so frames
//! cannot be dropped, reordered or cut off without the opener noticing.
//!
//! Stream: `MAGIC | ephemeral public (32) | { length u32 | ciphertext }*`.
//! Frame plaintext: `codec u8 (0 raw, 1 deflate) | data`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use sha2::Sha256;

use crate::deflate::{self, InflateError};

pub const MAGIC: &[u8; 8] = b"ENRSEAL1";
const INFO: &[u8] = b"enroll/seal/v1";
/// Frames larger than this are refused before decrypting (the sender writes at most ~1 MB).
pub const MAX_FRAME: usize = 8 << 20;
const TAG: usize = 16;
/// zlib-rs at 5 gives the bytes miniz_oxide's level 3 gave (286 per record sent; its own 3 gave
/// 294-296) for less of the kiosk's time (bench, 20 kiosks: 0.072-0.084 against 0.076-0.085
/// ms per record, alternating in one sitting).
const DEFLATE_LEVEL: u32 = 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("not a sealed enrollment stream (wrong header)")]
    NotSealed,
    #[error("the stream is cut short (no final frame); nothing in it was used")]
    Truncated,
    #[error("frame {0} is damaged or was altered (authentication failed)")]
    Damaged(u64),
    #[error("data follows the final frame")]
    TrailingData,
    #[error("a frame claims {0} bytes, more than allowed")]
    FrameTooLarge(usize),
    #[error("the recipient key is not usable")]
    BadKey,
    #[error("a frame's compressed data is damaged")]
    BadCompression,
}

/// An X25519 secret that streams are sealed to.
#[derive(Clone)]
pub struct SealSecret([u8; 32]);

impl SealSecret {
    pub fn generate() -> Self {
        SealSecret(rand::random())
    }
    pub fn from_bytes(b: [u8; 32]) -> Self {
        SealSecret(b)
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
    pub fn public(&self) -> [u8; 32] {
        MontgomeryPoint::mul_base_clamped(self.0).to_bytes()
    }
    fn shared(&self, other: &[u8; 32]) -> Result<[u8; 32], SealError> {
        let s = MontgomeryPoint(*other).mul_clamped(self.0).to_bytes();
        // A low-order peer key gives an all-zero secret: refuse it.
        if s == [0; 32] {
            return Err(SealError::BadKey);
        }
        Ok(s)
    }
}

fn cipher(shared: &[u8; 32], eph: &[u8; 32], recipient: &[u8; 32]) -> ChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph);
    salt[32..].copy_from_slice(recipient);
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    let _ = hk.expand(INFO, &mut key);
    ChaCha20Poly1305::new(Key::from_slice(&key))
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&counter.to_be_bytes());
    n[8] = u8::from(last);
    n
}

/// Writes a sealed stream, one frame at a time.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    counter: u64,
    header: Vec<u8>,
}

impl Sealer {
    pub fn new(recipient: &[u8; 32]) -> Result<Self, SealError> {
        let eph = SealSecret::generate();
        let eph_pub = eph.public();
        let shared = eph.shared(recipient)?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&eph_pub);
        Ok(Sealer {
            cipher: cipher(&shared, &eph_pub, recipient),
            counter: 0,
            header,
        })
    }

    /// The stream's header; write it before the first frame.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// One frame, length-prefixed, its plaintext compressed when that helps.
    pub fn frame(&mut self, plain: &[u8], last: bool) -> Vec<u8> {
        self.frame_with(plain, last, true)
    }

    /// As `frame`; `compress: false` for data already compressed (JPEG, PNG), to save the time.
    pub fn frame_with(&mut self, plain: &[u8], last: bool, compress: bool) -> Vec<u8> {
        let packed = if compress {
            pack(plain)
        } else {
            let mut v = Vec::with_capacity(plain.len() + 1);
            v.push(0);
            v.extend_from_slice(plain);
            v
        };
        let n = nonce(self.counter, last);
        self.counter += 1;
        let aad = self.header.as_slice();
        // Encryption with a valid key only fails for inputs over 256 GiB.
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&n), Payload { msg: &packed, aad })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ct.len() + 4);
        out.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        out.extend_from_slice(&ct);
        out
    }
}

fn pack(plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plain.len() + 1);
    out.push(1);
    // Deflate only where it saves bytes: the output has no room for more than `plain`.
    if !deflate::deflate_into(plain, DEFLATE_LEVEL, &mut out) || out.len() > plain.len() {
        out.clear();
        out.push(0);
        out.extend_from_slice(plain);
    }
    out
}

fn unpack(packed: &[u8], limit: usize) -> Result<Vec<u8>, SealError> {
    match packed.split_first() {
        Some((0, rest)) if rest.len() <= limit => Ok(rest.to_vec()),
        Some((0, rest)) => Err(SealError::FrameTooLarge(rest.len())),
        Some((1, rest)) => deflate::inflate(rest, limit).map_err(|e| match e {
            InflateError::TooLarge => SealError::FrameTooLarge(limit),
            InflateError::Damaged => SealError::BadCompression,
        }),
        _ => Err(SealError::BadCompression),
    }
}

/// Plaintext caps for an opener: the first frame (before the peer is known) and the others.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub first: usize,
    pub rest: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            first: MAX_FRAME * 4,
            rest: MAX_FRAME * 4,
        }
    }
}

/// Reads a sealed stream incrementally: feed bytes as they arrive, take whole frames out.
pub struct Opener {
    secret: SealSecret,
    buf: Vec<u8>,
    pos: usize,
    state: Option<(ChaCha20Poly1305, Vec<u8>)>,
    counter: u64,
    done: bool,
    limits: Limits,
}

impl Opener {
    pub fn new(secret: &SealSecret) -> Self {
        Self::with_limits(secret, Limits::default())
    }

    /// An opener that refuses frames whose plaintext (inflated) exceeds `limits`, checked on
    /// the length prefix before decrypting and while inflating.
    pub fn with_limits(secret: &SealSecret, limits: Limits) -> Self {
        Opener {
            secret: secret.clone(),
            buf: Vec::new(),
            pos: 0,
            state: None,
            counter: 0,
            done: false,
            limits,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's plaintext and whether it is the last, or `None` until more bytes come.
    pub fn next_frame(&mut self) -> Result<Option<(Vec<u8>, bool)>, SealError> {
        let avail = &self.buf[self.pos..];
        if self.done {
            return if avail.is_empty() {
                Ok(None)
            } else {
                Err(SealError::TrailingData)
            };
        }
        if self.state.is_none() {
            if avail.len() < 40 {
                if !MAGIC.starts_with(&avail[..avail.len().min(8)]) {
                    return Err(SealError::NotSealed);
                }
                return Ok(None);
            }
            if &avail[..8] != MAGIC {
                return Err(SealError::NotSealed);
            }
            let mut eph = [0u8; 32];
            eph.copy_from_slice(&avail[8..40]);
            let shared = self.secret.shared(&eph)?;
            let c = cipher(&shared, &eph, &self.secret.public());
            self.state = Some((c, avail[..40].to_vec()));
            self.pos += 40;
            return self.next_frame();
        }
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        let limit = if self.counter == 0 {
            self.limits.first
        } else {
            self.limits.rest
        };
        // Codec byte and tag on top of the plaintext; deflate never needs more than a little.
        let most = (limit + TAG + 64).min(MAX_FRAME + 64);
        if !(TAG..=most).contains(&len) {
            return Err(SealError::FrameTooLarge(len));
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let ct = &avail[4..4 + len];
        let Some((c, header)) = &self.state else {
            return Ok(None);
        };
        let counter = self.counter;
        let try_open = |last: bool| {
            c.decrypt(
                Nonce::from_slice(&nonce(counter, last)),
                Payload {
                    msg: ct,
                    aad: header,
                },
            )
        };
        let (packed, last) = match try_open(false) {
            Ok(p) => (p, false),
            Err(_) => (
                try_open(true).map_err(|_| SealError::Damaged(counter))?,
                true,
            ),
        };
        self.pos += 4 + len;
        self.counter += 1;
        self.done = last;
        Ok(Some((unpack(&packed, limit)?, last)))
    }

    /// The stream's header (magic and ephemeral key) once read: signatures bind to it.
    pub fn stream_header(&self) -> Option<&[u8]> {
        self.state.as_ref().map(|(_, h)| h.as_slice())
    }

    /// True once the final frame has been read.
    pub fn finished(&self) -> bool {
        self.done
    }
}

/// A whole message sealed as a one-frame stream.
pub fn seal_message(recipient: &[u8; 32], plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut s = Sealer::new(recipient)?;
    let mut out = s.header().to_vec();
    out.extend(s.frame(plain, true));
    Ok(out)
}

/// Opens a stream completely: every frame must verify and the last must be marked final.
pub fn open_all(secret: &SealSecret, bytes: &[u8]) -> Result<Vec<Vec<u8>>, SealError> {
    let mut o = Opener::new(secret);
    o.feed(bytes);
    let mut frames = Vec::new();
    while let Some((f, _)) = o.next_frame()? {
        frames.push(f);
    }
    if !o.finished() {
        return Err(SealError::Truncated);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let hq = SealSecret::generate();
        let mut s = Sealer::new(&hq.public()).expect("sealer");
        let mut bytes = s.header().to_vec();
        bytes.extend(s.frame(b"first frame", false));
        bytes.extend(s.frame(&vec![7u8; 100_000], true));
        let frames = open_all(&hq, &bytes).expect("opens");
        assert_eq!(frames[0], b"first frame");
        assert_eq!(frames[1].len(), 100_000);
        // Byte by byte feeding gives the same frames.
        let mut o = Opener::new(&hq);
        let mut n = 0;
        for b in &bytes {
            o.feed(&[*b]);
            while o.next_frame().expect("frame").is_some() {
                n += 1;
            }
        }
        assert_eq!(n, 2);
        assert!(o.finished());
        // Truncation anywhere, a flipped bit anywhere, the wrong key: refused.
        for cut in [0, 10, 40, 50, bytes.len() - 1] {
            assert!(open_all(&hq, &bytes[..cut]).is_err(), "cut {cut}");
        }
        for at in [3, 20, 45, 60, bytes.len() - 3] {
            let mut t = bytes.clone();
            t[at] ^= 1;
            assert!(open_all(&hq, &t).is_err(), "flip {at}");
        }
        assert!(open_all(&SealSecret::generate(), &bytes).is_err());
    }

    #[test]
    fn a_frame_deflates_only_when_smaller_and_inflates_only_within_the_limit() {
        let text = "Nguyễn Thị Hoa, xã Tân Phú. ".repeat(400);
        let packed = pack(text.as_bytes());
        assert_eq!(packed[0], 1);
        assert!(packed.len() < text.len() / 4);
        assert_eq!(
            unpack(&packed, text.len()).expect("within"),
            text.as_bytes()
        );
        assert_eq!(
            unpack(&packed, text.len() - 1),
            Err(SealError::FrameTooLarge(text.len() - 1))
        );
        let noise: Vec<u8> = (0..64u32)
            .flat_map(|i| <Sha256 as sha2::Digest>::digest(i.to_be_bytes()))
            .collect();
        assert_eq!(pack(&noise)[0], 0);
        assert_eq!(unpack(&pack(&noise), noise.len()).expect("raw"), noise);
        assert_eq!(
            unpack(&[1, 0xff, 0xfe, 0xfd], 1 << 20),
            Err(SealError::BadCompression)
        );
        assert_eq!(unpack(&[2, 0], 1 << 20), Err(SealError::BadCompression));

        // A sealed 32 MB of zeros is a few KB on the wire; the opener stops at its limit.
        let hq = SealSecret::generate();
        let mut s = Sealer::new(&hq.public()).expect("sealer");
        let mut bytes = s.header().to_vec();
        bytes.extend(s.frame(&vec![0u8; 32 << 20], true));
        assert!(bytes.len() < 64 << 10);
        let mut o = Opener::with_limits(
            &hq,
            Limits {
                first: 1 << 20,
                rest: 1 << 20,
            },
        );
        o.feed(&bytes);
        assert_eq!(o.next_frame(), Err(SealError::FrameTooLarge(1 << 20)));
    }
}
