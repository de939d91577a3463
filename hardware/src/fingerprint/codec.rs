//! Byte-level framing of the R30x protocol.
//!
//! A frame is `EF 01 | address (4) | packet id (1) | length (2) | payload | checksum (2)`, all
//! big-endian. `length` counts the payload plus the two checksum bytes (datasheet: "package
//! content plus the length of Checksum"), so a one-byte command has length 3. The checksum is
//! the 16-bit wrapping sum of the packet id, both length bytes and every payload byte.

use std::fmt;

/// The two start bytes of every frame.
pub const HEADER: [u8; 2] = [0xEF, 0x01];
/// Bytes around the payload: header 2 + address 4 + id 1 + length 2 + checksum 2.
pub const OVERHEAD: usize = 11;
/// Largest payload a frame may carry: a 256-byte data packet (acks are shorter).
pub const MAX_PAYLOAD: usize = 256;
/// The factory address of every module.
pub const DEFAULT_ADDRESS: u32 = 0xFFFF_FFFF;

/// What a frame carries (the datasheet's "package identifier").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketId {
    /// 0x01: a command from the host.
    Command,
    /// 0x02: a data packet with more to follow.
    Data,
    /// 0x07: the module's acknowledgement (confirmation code + results).
    Ack,
    /// 0x08: the last data packet of a transfer.
    EndData,
}

impl PacketId {
    pub fn to_u8(self) -> u8 {
        match self {
            PacketId::Command => 0x01,
            PacketId::Data => 0x02,
            PacketId::Ack => 0x07,
            PacketId::EndData => 0x08,
        }
    }

    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(PacketId::Command),
            0x02 => Some(PacketId::Data),
            0x07 => Some(PacketId::Ack),
            0x08 => Some(PacketId::EndData),
            _ => None,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub address: u32,
    pub id: PacketId,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn new(address: u32, id: PacketId, payload: Vec<u8>) -> Self {
        Packet {
            address,
            id,
            payload,
        }
    }

    /// The frame bytes. Panics never; a payload over [`MAX_PAYLOAD`] is the caller's bug and
    /// is rejected by [`encode`] instead.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        encode(self.address, self.id, &self.payload)
    }
}

/// Framing problems the reader reports; stray bytes are skipped silently (and counted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "checksum mismatch in a {id:?} frame: computed {computed:#06x}, received {received:#06x}"
    )]
    Checksum {
        id: PacketId,
        computed: u16,
        received: u16,
    },
    #[error("payload of {0} bytes exceeds the 256-byte frame limit")]
    TooLong(usize),
}

/// The 16-bit sum from the packet id to the end of the payload.
pub fn checksum(id: u8, length: u16, payload: &[u8]) -> u16 {
    let [hi, lo] = length.to_be_bytes();
    payload
        .iter()
        .fold(u16::from(id) + u16::from(hi) + u16::from(lo), |s, &b| {
            s.wrapping_add(u16::from(b))
        })
}

/// Encodes one frame.
pub fn encode(address: u32, id: PacketId, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::TooLong(payload.len()));
    }
    // Fits: MAX_PAYLOAD + 2 < u16::MAX.
    let length = (payload.len() + 2) as u16;
    let mut out = Vec::with_capacity(payload.len() + OVERHEAD);
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&address.to_be_bytes());
    out.push(id.to_u8());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&checksum(id.to_u8(), length, payload).to_be_bytes());
    Ok(out)
}

/// Streaming frame reader: push bytes as they arrive, pull frames out.
///
/// Resynchronises on `EF 01`: bytes before a header, and headers with an impossible packet id
/// or length, are skipped. A frame with a bad checksum is reported once, then only its header is
/// dropped, so a genuine frame hidden inside a false one is still found.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    skipped: u64,
}

enum Candidate {
    /// Not a plausible header: skip one byte.
    Invalid,
    /// Plausible but not all bytes are here yet.
    Incomplete,
    /// Complete frame of `len` bytes, checksum good or not.
    Complete {
        len: usize,
        result: Result<Packet, FrameError>,
    },
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Stray bytes skipped so far (not part of any frame).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes held waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Forgets everything buffered (after a timeout or a port reopen).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next frame, a framing error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Packet, FrameError>> {
        loop {
            let Some(start) = find_header(&self.buf, 0) else {
                let all = self.buf.len();
                self.drop_front(all);
                return None;
            };
            self.drop_front(start);
            match candidate(&self.buf) {
                Candidate::Invalid => self.drop_front(1),
                Candidate::Complete { len, result } => {
                    match &result {
                        Ok(_) => self.buf.drain(..len),
                        // Drop only the header: a real frame may start inside this one.
                        Err(_) => self.buf.drain(..2),
                    };
                    return Some(result);
                }
                Candidate::Incomplete => {
                    // A false header can claim more bytes than will ever come; if a complete,
                    // valid frame starts later in the buffer, the first header was noise.
                    let mut at = 1;
                    let mut later = None;
                    while let Some(next) = find_header(&self.buf, at) {
                        if let Candidate::Complete { result: Ok(_), .. } =
                            candidate(&self.buf[next..])
                        {
                            later = Some(next);
                            break;
                        }
                        at = next + 1;
                    }
                    match later {
                        Some(next) => self.drop_front(next),
                        None => return None,
                    }
                }
            }
        }
    }

    fn drop_front(&mut self, n: usize) {
        if n > 0 {
            self.skipped += n as u64;
            self.buf.drain(..n);
        }
    }
}

fn find_header(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == HEADER)
        .map(|p| p + from)
        .or_else(|| {
            // A lone trailing 0xEF may be the start of a header still in flight.
            (buf.len() > from && buf.last() == Some(&HEADER[0])).then(|| buf.len() - 1)
        })
}

fn candidate(buf: &[u8]) -> Candidate {
    if buf.len() < 9 {
        // A lone EF at the end, or a header without id/length yet.
        if buf.len() >= 2 && buf[..2] != HEADER {
            return Candidate::Invalid;
        }
        if buf.len() >= 7 && PacketId::from_u8(buf[6]).is_none() {
            return Candidate::Invalid;
        }
        return Candidate::Incomplete;
    }
    let Some(id) = PacketId::from_u8(buf[6]) else {
        return Candidate::Invalid;
    };
    let length = u16::from_be_bytes([buf[7], buf[8]]);
    if !(2..=(MAX_PAYLOAD as u16 + 2)).contains(&length) {
        return Candidate::Invalid;
    }
    let total = 9 + usize::from(length);
    if buf.len() < total {
        return Candidate::Incomplete;
    }
    let payload = &buf[9..total - 2];
    let received = u16::from_be_bytes([buf[total - 2], buf[total - 1]]);
    let computed = checksum(buf[6], length, payload);
    let result = if computed == received {
        Ok(Packet {
            address: u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]),
            id,
            payload: payload.to_vec(),
        })
    } else {
        Err(FrameError::Checksum {
            id,
            computed,
            received,
        })
    };
    Candidate::Complete { len: total, result }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} ({:#04x})", self.to_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn genimg_command_matches_datasheet() {
        let bytes = encode(DEFAULT_ADDRESS, PacketId::Command, &[0x01]).unwrap();
        assert_eq!(bytes, hex("EF 01 FF FF FF FF 01 00 03 01 00 05"));
    }

    #[test]
    fn datasheet_vectors_encode_and_decode() {
        // (payload, frame) pairs from the R503 manual: ReadSysPara, TemplateNum, Empty,
        // UpImage, the cyan breathing AuraLedConfig example and a plain OK ack.
        let cases: [(PacketId, &[u8], &str); 6] = [
            (
                PacketId::Command,
                &[0x0F],
                "EF 01 FF FF FF FF 01 00 03 0F 00 13",
            ),
            (
                PacketId::Command,
                &[0x1D],
                "EF 01 FF FF FF FF 01 00 03 1D 00 21",
            ),
            (
                PacketId::Command,
                &[0x0D],
                "EF 01 FF FF FF FF 01 00 03 0D 00 11",
            ),
            (
                PacketId::Command,
                &[0x0A],
                "EF 01 FF FF FF FF 01 00 03 0A 00 0E",
            ),
            (
                PacketId::Command,
                &[0x35, 0x01, 0x50, 0x06, 0x00],
                "EF 01 FF FF FF FF 01 00 07 35 01 50 06 00 00 94",
            ),
            (
                PacketId::Ack,
                &[0x00],
                "EF 01 FF FF FF FF 07 00 03 00 00 0A",
            ),
        ];
        for (id, payload, frame) in cases {
            let frame = hex(frame);
            assert_eq!(encode(DEFAULT_ADDRESS, id, payload).unwrap(), frame);
            let mut r = FrameReader::new();
            r.push(&frame);
            let p = r.next_frame().unwrap().unwrap();
            assert_eq!((p.id, p.payload.as_slice()), (id, payload));
            assert!(r.next_frame().is_none());
        }
    }

    #[test]
    fn skips_power_up_byte_and_reports_bad_checksum() {
        let mut r = FrameReader::new();
        let mut bad = hex("EF 01 FF FF FF FF 07 00 03 00 00 0B");
        r.push(&[0x55]);
        r.push(&bad);
        assert!(matches!(
            r.next_frame(),
            Some(Err(FrameError::Checksum {
                computed: 0x0A,
                received: 0x0B,
                ..
            }))
        ));
        bad[11] = 0x0A;
        r.push(&bad);
        assert_eq!(r.next_frame().unwrap().unwrap().payload, vec![0]);
        assert!(r.skipped() >= 1);
    }

    #[test]
    fn byte_at_a_time_delivery() {
        let frame = encode(0x1234_5678, PacketId::Data, &[7; 128]).unwrap();
        let mut r = FrameReader::new();
        for (i, b) in frame.iter().enumerate() {
            r.push(&[*b]);
            let got = r.next_frame();
            assert_eq!(got.is_some(), i == frame.len() - 1, "byte {i}");
        }
    }

    #[test]
    fn false_header_claiming_a_long_frame_does_not_hide_a_real_one() {
        let mut bytes = hex("EF 01 00 00 00 00 02 01 00");
        let real = encode(DEFAULT_ADDRESS, PacketId::Ack, &[0x02]).unwrap();
        bytes.extend_from_slice(&real);
        let mut r = FrameReader::new();
        r.push(&bytes);
        assert_eq!(r.next_frame().unwrap().unwrap().payload, vec![0x02]);
    }

    #[test]
    fn oversize_payload_is_refused() {
        assert_eq!(
            encode(1, PacketId::Data, &[0; 257]),
            Err(FrameError::TooLong(257))
        );
    }
}
#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the fuzzer: stray bytes can open a frame whose checksum the following real
    /// frame happens to complete. No reader can tell it from a real frame; what matters is
    /// that it is back in step afterwards.
    #[test]
    fn stray_prefix_completed_by_a_real_frame_then_back_in_step() {
        let mut stream = vec![0xEF, 0x01, 0xFF, 0xEF, 0x01, 0xEF, 0x01, 0x00, 0x0B, 0x01];
        let marker = Packet::new(DEFAULT_ADDRESS, PacketId::Ack, vec![0x00, 0xA5, 0x5A]);
        stream.extend(marker.encode().unwrap());
        stream.extend(marker.encode().unwrap());
        let mut r = FrameReader::new();
        r.push(&stream);
        let mut got = vec![];
        while let Some(f) = r.next_frame() {
            got.push(f);
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().id, PacketId::Command);
        assert_eq!(got[1], Ok(marker));
    }
}
