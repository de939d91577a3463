//! Biometric blobs, content-addressed by SHA-256 and kept out of the database. A blob arrives
//! in chunks, possibly over several sessions: chunks are appended to a staging file (never
//! rewritten, so resuming costs only what is new); once the last byte is in and the hash
//! checks, the blob is published to the store in one step and only then counts as held.

use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// No biometric the kiosk makes comes near this; anything larger is refused before it is kept.
pub const MAX_BLOB: u64 = 64 * 1024 * 1024;
const STRIPES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob storage: cannot use {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("blob of {0} bytes is larger than HQ accepts / tệp quá lớn")]
    TooLarge(u64),
    #[error("blob storage `{0}` is not supported / không hỗ trợ kho tệp này")]
    Unsupported(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Staging on local disk, published blobs in the store.
pub struct Blobs {
    staging: PathBuf,
    store: PathBuf,
    /// Appends to one blob are serialised; different blobs proceed in parallel.
    stripes: Vec<Mutex<()>>,
}

impl Blobs {
    /// `blobs/` under the data directory (`spec` names another store).
    pub fn open(data_dir: &Path, spec: Option<&str>) -> Result<Self, BlobError> {
        if let Some(spec) = spec {
            return Err(BlobError::Unsupported(spec.to_owned()));
        }
        let store = data_dir.join(crate::BLOB_DIR);
        let staging = store.join(".staging");
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(Blobs {
            staging,
            store,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    fn lock(&self, sha: &[u8; 32]) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is `()`; the files themselves say how far a blob got.
        self.stripes[sha[0] as usize % STRIPES]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn final_path(&self, sha: &[u8; 32]) -> PathBuf {
        let h = hex::encode(sha);
        self.store.join(&h[..2]).join(&h)
    }

    fn staging_path(&self, sha: &[u8; 32]) -> PathBuf {
        self.staging.join(format!("{}.part", hex::encode(sha)))
    }

    /// Bytes held and whether the blob is whole and checked.
    pub fn have(&self, sha: &[u8; 32]) -> Result<(u64, bool), BlobError> {
        let done = self.final_path(sha);
        if let Ok(m) = fs::metadata(&done) {
            return Ok((m.len(), true));
        }
        match fs::metadata(self.staging_path(sha)) {
            Ok(m) => Ok((m.len(), false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, false)),
            Err(e) => Err(io(&self.staging)(e)),
        }
    }

    /// Takes the chunk at `offset` of a blob of `total` bytes; returns the bytes now held.
    /// Chunks past a gap are ignored (the kiosk resumes from what `have` says).
    pub fn append(
        &self,
        sha: &[u8; 32],
        total: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<u64, BlobError> {
        if total > MAX_BLOB {
            return Err(BlobError::TooLarge(total));
        }
        let _g = self.lock(sha);
        let (have, complete) = self.have(sha)?;
        if complete || offset > have {
            return Ok(have);
        }
        let skip = (have - offset) as usize;
        if skip >= data.len() {
            return Ok(have);
        }
        let part = self.staging_path(sha);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .map_err(io(&part))?;
        let take = &data[skip..data.len().min(skip + (total - have) as usize)];
        f.write_all(take).map_err(io(&part))?;
        let now = have + take.len() as u64;
        if now < total {
            return Ok(now);
        }
        drop(f);
        if hash_file(&part)? == *sha {
            self.publish(sha, &part)?;
            Ok(now)
        } else {
            // Whatever went wrong, start over: a wrong blob is never visible.
            fs::remove_file(&part).map_err(io(&part))?;
            Ok(0)
        }
    }

    fn publish(&self, sha: &[u8; 32], part: &Path) -> Result<(), BlobError> {
        let done = self.final_path(sha);
        let dir = done.parent().unwrap_or(&self.store).to_owned();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        File::open(part)
            .and_then(|f| f.sync_all())
            .map_err(io(part))?;
        fs::rename(part, &done).map_err(io(&done))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))?;
        Ok(())
    }

    /// A whole blob's bytes.
    pub fn get(&self, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, BlobError> {
        let done = self.final_path(sha);
        match fs::read(&done) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&done)(e)),
        }
    }
}

fn hash_file(path: &Path) -> Result<[u8; 32], BlobError> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}
