//! Biometric blobs, content-addressed by SHA-256 and kept out of the database, in an object
//! store (`object_store`): `blobs/` under the data directory by default, S3-compatible storage
//! with `--blobs s3://bucket/prefix`. Keys are `<prefix>/<first two hex>/<sha256 hex>`.
//!
//! A blob arrives in chunks, possibly over several sessions: chunks are appended to a staging
//! file on local disk (never rewritten, so resuming costs only what is new); once the last byte
//! is in and the hash checks, the staging file is marked whole and put to the store in one
//! request (multipart when large). Only an object in the store counts as held, so a blob with a
//! wrong hash is never visible; a whole blob whose put failed is put again on its next use.
//!
//! Sessions are blocking threads: store calls run on the store's own small tokio runtime with
//! `Handle::block_on` (one runtime per `Blobs`, never one per call), as PostgreSQL's do.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{ClientConfigKey, ObjectStore, PutPayload, RetryConfig, WriteMultipart};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// No biometric the kiosk makes comes near this; anything larger is refused before it is kept.
pub const MAX_BLOB: u64 = 64 * 1024 * 1024;
const STRIPES: usize = 64;
/// Blobs above this go up in parts of this size, so a put holds at most a few parts in memory.
const PART: usize = 8 * 1024 * 1024;
/// Whole blobs remembered (never changed once whole): a hit saves a round trip to the store.
const KNOWN_MAX: usize = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob storage: cannot use {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("blob of {0} bytes is larger than HQ accepts / tệp quá lớn")]
    TooLarge(u64),
    #[error("blob storage `{0}` is not supported (s3://bucket/prefix) / không hỗ trợ kho tệp này")]
    Unsupported(String),
    #[error(
        "kho tệp sinh trắc học `{store}` không dùng được, thử lại sau / \
         blob storage `{store}` is unavailable, try again later: {source}"
    )]
    Store {
        store: String,
        source: object_store::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Staging on local disk, whole blobs in the object store.
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// How the store is named in messages (`s3://bucket/prefix` or the local directory).
    name: String,
    /// Key prefix, empty or ending in `/`.
    prefix: String,
    /// The local store's directory: written files are synced there before they count.
    local: Option<PathBuf>,
    staging: PathBuf,
    /// `Some` until dropped; shut down in the background so dropping never blocks a runtime.
    rt: Option<Runtime>,
    handle: Handle,
    /// Appends to one blob are serialised; different blobs proceed in parallel.
    stripes: Vec<Mutex<()>>,
    known: Mutex<HashMap<[u8; 32], u64>>,
}

impl Blobs {
    /// `blobs/` under the data directory, or `spec` (`s3://bucket/prefix`, configured by the
    /// usual `AWS_*` variables). Staging stays under the data directory either way.
    pub fn open(data_dir: &Path, spec: Option<&str>) -> Result<Self, BlobError> {
        match spec {
            None => {
                let dir = data_dir.join(crate::BLOB_DIR);
                fs::create_dir_all(&dir).map_err(io(&dir))?;
                let store =
                    LocalFileSystem::new_with_prefix(&dir).map_err(|source| BlobError::Store {
                        store: dir.display().to_string(),
                        source,
                    })?;
                let mut blobs =
                    Self::with_store(data_dir, Arc::new(store), dir.display().to_string(), "")?;
                blobs.local = Some(dir);
                Ok(blobs)
            }
            Some(url) => Self::open_s3(data_dir, url, AmazonS3Builder::from_env()),
        }
    }

    /// S3-compatible storage at `url` (`s3://bucket/prefix`) with the settings in `builder`.
    /// An `http://` endpoint is allowed only on loopback (a local test server).
    pub fn open_s3(
        data_dir: &Path,
        url: &str,
        builder: AmazonS3Builder,
    ) -> Result<Self, BlobError> {
        let Some((bucket, prefix)) = parse_s3(url) else {
            return Err(BlobError::Unsupported(url.to_owned()));
        };
        let loopback = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some_and(|e| is_loopback_http(&e));
        let store_err = |source| BlobError::Store {
            store: url.to_owned(),
            source,
        };
        // A session waits for the store at most about this long before it is refused.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        };
        let mut builder = builder
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5 seconds",
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                "120 seconds",
            );
        if loopback {
            builder = builder.with_allow_http(true);
        }
        let store = builder.build().map_err(store_err)?;
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Self::with_store(data_dir, Arc::new(store), url.to_owned(), &prefix)
    }

    fn with_store(
        data_dir: &Path,
        store: Arc<dyn ObjectStore>,
        name: String,
        prefix: &str,
    ) -> Result<Self, BlobError> {
        let staging = data_dir.join(crate::BLOB_DIR).join(".staging");
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hq-blobs")
            .enable_all()
            .build()
            .map_err(io(&staging))?;
        Ok(Blobs {
            store,
            name,
            prefix: prefix.to_owned(),
            local: None,
            staging,
            handle: rt.handle().clone(),
            rt: Some(rt),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            known: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self, sha: &[u8; 32]) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is `()`; the files and the store say how far a blob got.
        self.stripes[sha[0] as usize % STRIPES]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, sha: &[u8; 32]) -> Key {
        let h = hex::encode(sha);
        Key::from(format!("{}{}/{}", self.prefix, &h[..2], h))
    }

    fn part_path(&self, sha: &[u8; 32]) -> PathBuf {
        self.staging.join(format!("{}.part", hex::encode(sha)))
    }

    /// A staged blob that is whole and whose hash checked, waiting to be put.
    fn whole_path(&self, sha: &[u8; 32]) -> PathBuf {
        self.staging.join(format!("{}.whole", hex::encode(sha)))
    }

    fn store_err(&self, source: object_store::Error) -> BlobError {
        BlobError::Store {
            store: self.name.clone(),
            source,
        }
    }

    fn known(&self, sha: &[u8; 32]) -> Option<u64> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(sha).copied()
    }

    fn remember(&self, sha: &[u8; 32], len: u64) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= KNOWN_MAX {
            known.clear();
        }
        known.insert(*sha, len);
    }

    /// Bytes held and whether the blob is whole and checked.
    pub fn have(&self, sha: &[u8; 32]) -> Result<(u64, bool), BlobError> {
        if let Some(n) = self.known(sha) {
            return Ok((n, true));
        }
        let _g = self.lock(sha);
        self.state(sha)
    }

    /// As `have`; the caller holds the blob's stripe.
    fn state(&self, sha: &[u8; 32]) -> Result<(u64, bool), BlobError> {
        if let Some(n) = self.known(sha) {
            return Ok((n, true));
        }
        match self.handle.block_on(self.store.head(&self.key(sha))) {
            Ok(meta) => {
                self.remember(sha, meta.size);
                return Ok((meta.size, true));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.store_err(e)),
        }
        let whole = self.whole_path(sha);
        if whole.exists() {
            return self.publish(sha, &whole).map(|n| (n, true));
        }
        match fs::metadata(self.part_path(sha)) {
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
        let (have, complete) = self.state(sha)?;
        if complete || offset > have {
            return Ok(have);
        }
        let skip = (have - offset) as usize;
        if skip >= data.len() {
            return Ok(have);
        }
        let part = self.part_path(sha);
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
        if hash_file(&part)? != *sha {
            // Whatever went wrong, start over: a wrong blob is never visible.
            fs::remove_file(&part).map_err(io(&part))?;
            return Ok(0);
        }
        let whole = self.whole_path(sha);
        fs::rename(&part, &whole).map_err(io(&whole))?;
        self.publish(sha, &whole)
    }

    /// Puts a checked staging file into the store, then forgets the staging file.
    fn publish(&self, sha: &[u8; 32], whole: &Path) -> Result<u64, BlobError> {
        let len = fs::metadata(whole).map_err(io(whole))?.len();
        let key = self.key(sha);
        if len as usize <= PART {
            let bytes = fs::read(whole).map_err(io(whole))?;
            self.handle
                .block_on(self.store.put(&key, PutPayload::from(bytes)))
                .map_err(|e| self.store_err(e))?;
        } else {
            self.handle.block_on(self.put_parts(&key, whole))?;
        }
        if let Some(dir) = &self.local {
            // The local store renames a temporary file into place; make both durable.
            let path = dir.join(key.as_ref());
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
            let parent = path.parent().unwrap_or(dir);
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io(parent))?;
        }
        fs::remove_file(whole).map_err(io(whole))?;
        self.remember(sha, len);
        Ok(len)
    }

    async fn put_parts(&self, key: &Key, whole: &Path) -> Result<(), BlobError> {
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| self.store_err(e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut f = File::open(whole).map_err(io(whole))?;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    // The upload is abandoned; the staging file stays for the next try.
                    let _ = w.abort().await;
                    return Err(io(whole)(e));
                }
            };
            if let Err(e) = w.wait_for_capacity(2).await {
                let _ = w.abort().await;
                return Err(self.store_err(e));
            }
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(|e| self.store_err(e))?;
        Ok(())
    }

    /// A whole blob's bytes.
    pub fn get(&self, sha: &[u8; 32]) -> Result<Option<Vec<u8>>, BlobError> {
        let key = self.key(sha);
        let got = self
            .handle
            .block_on(async { self.store.get(&key).await?.bytes().await });
        match got {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_err(e)),
        }
    }
}

impl Drop for Blobs {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// `s3://bucket/prefix/` → (`bucket`, `prefix`).
fn parse_s3(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, prefix.trim_matches('/')))
}

/// Plain HTTP is only for a store on this machine (a test or a local gateway).
fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_and_loopback_endpoints() {
        assert_eq!(parse_s3("s3://b/p/q/"), Some(("b", "p/q")));
        assert_eq!(parse_s3("s3://b"), Some(("b", "")));
        assert_eq!(parse_s3("s3:///p"), None);
        assert_eq!(parse_s3("gs://b/p"), None);
        assert!(is_loopback_http("http://127.0.0.1:9000"));
        assert!(is_loopback_http("http://localhost:9000/"));
        assert!(is_loopback_http("http://[::1]:9000"));
        assert!(!is_loopback_http("http://10.0.0.5:9000"));
        assert!(!is_loopback_http("http://127.0.0.1.example.com"));
        assert!(!is_loopback_http("https://127.0.0.1:9000"));
    }
}
