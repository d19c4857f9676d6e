//! Blob Storage behind the BlobStore port, over REST with Entra tokens: reads for scoring inputs,
//! streamed opens for contract checks (downloaded in chunks to a temporary file, never whole in
//! memory), the producer's `x-ms-meta-*` metadata, and block-blob writes for outputs, reports and
//! quarantined data.

use std::collections::BTreeMap;
use std::io::{Seek, Write};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::storage::{error_code, SendVia, Storage, BLOB_VERSION};
use crate::ports::{BlobError, BlobStore};

pub struct AzureBlobs {
    storage: Storage,
}

impl AzureBlobs {
    pub fn new(storage: Storage) -> Self {
        Self { storage }
    }

    fn url(&self, container: &str, path: &str) -> Result<String, BlobError> {
        let bad = || BlobError::BadPath(format!("{container}/{path}"));
        if container.is_empty() || path.is_empty() || path.split('/').any(|s| s == ".." || s == ".") || path.starts_with('/') {
            return Err(bad());
        }
        if !container.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(bad());
        }
        let encoded: Vec<String> = path.split('/').map(encode_segment).collect();
        Ok(format!("{}/{container}/{}", self.storage.endpoint, encoded.join("/")))
    }

    async fn send(&self, method: Method, url: &str) -> Result<reqwest::RequestBuilder, BlobError> {
        self.storage.request(method, url, BLOB_VERSION).await.map_err(|e| BlobError::Unavailable(format!("no storage token: {e}")))
    }

    fn failure(r: &reqwest::Response, what: String) -> BlobError {
        match r.status() {
            StatusCode::NOT_FOUND => BlobError::NotFound(what),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT => {
                BlobError::Unavailable(format!("{what}: {}", error_code(r)))
            }
            _ => BlobError::BadPath(format!("{what}: {}", error_code(r))),
        }
    }
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unavailable(e: impl std::fmt::Display) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

#[async_trait]
impl BlobStore for AzureBlobs {
    async fn read(&self, container: &str, path: &str) -> Result<Vec<u8>, BlobError> {
        let url = self.url(container, path)?;
        let r = self.send(Method::GET, &url).await?.sent(&self.storage).await.map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(Self::failure(&r, format!("{container}/{path}")));
        }
        Ok(r.bytes().await.map_err(unavailable)?.to_vec())
    }

    async fn open(&self, container: &str, path: &str) -> Result<Box<dyn std::io::Read + Send>, BlobError> {
        let url = self.url(container, path)?;
        let mut r = self.send(Method::GET, &url).await?.sent(&self.storage).await.map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(Self::failure(&r, format!("{container}/{path}")));
        }
        // Spooled to an anonymous temporary file chunk by chunk: the evaluator reads it once,
        // in bounded memory, however large the blob.
        let mut file = tempfile::tempfile().map_err(|e| unavailable(format!("no temporary file: {e}")))?;
        while let Some(chunk) = r.chunk().await.map_err(unavailable)? {
            file.write_all(&chunk).map_err(unavailable)?;
        }
        file.rewind().map_err(unavailable)?;
        Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, file)))
    }

    async fn metadata(&self, container: &str, path: &str) -> Result<BTreeMap<String, String>, BlobError> {
        let url = self.url(container, path)?;
        let r = self.send(Method::HEAD, &url).await?.sent(&self.storage).await.map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(Self::failure(&r, format!("{container}/{path}")));
        }
        Ok(r.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().strip_prefix("x-ms-meta-")?.to_string(), v.to_str().ok()?.to_string())))
            .collect())
    }

    async fn write(&self, container: &str, path: &str, content: &[u8]) -> Result<(), BlobError> {
        let url = self.url(container, path)?;
        let r = self
            .send(Method::PUT, &url)
            .await?
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-length", content.len().to_string())
            .body(content.to_vec())
            .sent(&self.storage)
            .await
            .map_err(unavailable)?;
        if r.status() == StatusCode::CREATED {
            Ok(())
        } else {
            Err(Self::failure(&r, format!("{container}/{path}")))
        }
    }
}
