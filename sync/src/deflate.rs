//! Raw deflate (RFC 1951, no zlib header) through flate2's zlib-rs back-end, which automerge
//! already builds; the seal chooses its level (`seal::DEFLATE_LEVEL`).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Why a deflate stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates to more than the caller's limit.
    TooLarge,
    /// It is damaged, cut short or followed by other bytes.
    Damaged,
}

/// Appends `plain` deflated at `level` to `out` when it fits in `out`'s spare capacity; false
/// (and `out` as it was) otherwise, so a caller that reserves `plain.len()` gets compression
/// only where it saves bytes, without compressing twice.
pub(crate) fn deflate_into(plain: &[u8], level: u32, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut c = Compress::new(Compression::new(level), false);
    match c.compress_vec(plain, out, FlushCompress::Finish) {
        Ok(Status::StreamEnd) => true,
        _ => {
            out.truncate(start);
            false
        }
    }
}

/// `data` inflated, growing the output as it goes and never past `limit` bytes.
pub(crate) fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut d = Decompress::new(false);
    // One byte past the limit tells "exactly the limit" from "more".
    let cap = limit.saturating_add(1);
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).max(64).min(cap));
    loop {
        let (read, written) = (d.total_in(), d.total_out());
        // total_in never exceeds data.len(): zlib only counts what it was given.
        let rest = data.get(read as usize..).unwrap_or_default();
        let status = d
            .decompress_vec(rest, &mut out, FlushDecompress::Finish)
            .map_err(|_| InflateError::Damaged)?;
        if out.len() > limit {
            return Err(InflateError::TooLarge);
        }
        match status {
            Status::StreamEnd if d.total_in() as usize == data.len() => return Ok(out),
            Status::StreamEnd => return Err(InflateError::Damaged),
            _ if out.len() == out.capacity() => {
                let more = out.len().max(64).min(cap - out.len());
                out.reserve_exact(more);
            }
            // Room to write and nothing more came out: the input ended mid-stream.
            _ if d.total_in() == read && d.total_out() == written => {
                return Err(InflateError::Damaged);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflated(plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 64);
        assert!(deflate_into(plain, 3, &mut out));
        out
    }

    #[test]
    fn round_trips_and_reads_what_miniz_wrote() {
        let plain: Vec<u8> = (0..100_000u32)
            .map(|i| ((i % 251) ^ (i / 997)) as u8)
            .collect();
        assert_eq!(inflate(&deflated(&plain), plain.len()).unwrap(), plain);
        // Export files written before this module were deflated by miniz_oxide.
        let old = miniz_oxide::deflate::compress_to_vec(&plain, 3);
        assert_eq!(inflate(&old, plain.len()).unwrap(), plain);
        assert_eq!(inflate(&deflated(b""), 0).unwrap(), b"");
    }

    #[test]
    fn the_limit_is_exact() {
        let plain = vec![7u8; 10_000];
        let d = deflated(&plain);
        assert_eq!(inflate(&d, 10_000).unwrap().len(), 10_000);
        assert_eq!(inflate(&d, 9_999), Err(InflateError::TooLarge));
        // A bomb stops at the limit, not at its own size.
        let bomb = deflated(&vec![0u8; 50 << 20]);
        assert_eq!(inflate(&bomb, 1 << 20), Err(InflateError::TooLarge));
    }

    #[test]
    fn damaged_short_or_padded_streams_are_refused() {
        let plain: Vec<u8> = (0..5_000u32).map(|i| (i * 31 % 256) as u8).collect();
        let d = deflated(&plain);
        assert_eq!(
            inflate(&d[..d.len() - 3], 1 << 20),
            Err(InflateError::Damaged)
        );
        let mut padded = d.clone();
        padded.push(0);
        assert_eq!(inflate(&padded, 1 << 20), Err(InflateError::Damaged));
        assert_eq!(inflate(&[0xff; 32], 1 << 20), Err(InflateError::Damaged));
        assert_eq!(inflate(&[], 1 << 20), Err(InflateError::Damaged));
    }

    #[test]
    fn incompressible_input_is_left_alone() {
        use sha2::Digest;
        let noise: Vec<u8> = (0..128u32)
            .flat_map(|i| sha2::Sha256::digest(i.to_be_bytes()))
            .collect();
        let mut out = Vec::with_capacity(noise.len());
        out.push(1);
        assert!(!deflate_into(&noise, 3, &mut out));
        assert_eq!(out, [1]);
    }
}
