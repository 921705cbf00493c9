//! Checkpoints in an object store — S3 (and S3-compatible servers), Google
//! Cloud Storage, Azure Blob Storage — through the `object_store` crate, so
//! that they outlive the machine and any member of a group can read them.
//!
//! A PUT is atomic in every one of these stores, so a checkpoint appears
//! whole or not at all without the temporary file and rename that a local
//! directory needs. Credentials come from the usual environment variables
//! (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`,
//! …) or from the pipeline's `storage` settings; neither is ever shown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryFutureExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload, RetryConfig,
};

use super::files::CheckpointFiles;
use super::CheckpointError;

/// A connection gets this long; a stalled store must not hold the sink
/// thread (and so the whole pipeline) forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request, and one operation with its retries.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(180);

/// A builder of one store's kind: the environment's settings, the URL,
/// weir's timeouts, then the pipeline's settings (which win).
macro_rules! configured {
    ($builder:ty, $url:expr, $client:expr, $retry:expr, $options:expr) => {{
        let mut builder = <$builder>::from_env()
            .with_url($url.as_str())
            .with_client_options($client)
            .with_retry($retry);
        for (key, value) in $options {
            let parsed = key
                .parse()
                .map_err(|e: object_store::Error| format!("setting `{key}`: {e}"))?;
            builder = builder.with_config(parsed, value);
        }
        builder
    }};
}

/// An object store location from the pipeline: `s3://bucket/prefix` and
/// the store's settings (`object_store`'s keys, e.g. `aws_endpoint`).
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    pub url: String,
    pub options: Vec<(String, String)>,
}

/// Settings are named, never shown: any of them may be a credential.
impl std::fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("RemoteSpec")
            .field("url", &self.url)
            .field("settings", &keys)
            .finish()
    }
}

/// The schemes taken as object stores; anything else in `dir` is a path.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// Whether `dir` names an object store rather than a local directory.
pub fn is_object_store_url(dir: &str) -> bool {
    dir.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme))
}

impl RemoteSpec {
    /// Checks the URL and every setting; contacts no server.
    pub fn check(&self) -> Result<(), String> {
        self.client().map(drop)
    }

    /// Builds the client, checking the URL and every setting; contacts no
    /// server.
    fn client(&self) -> Result<(Arc<dyn ObjectStore>, ObjectPath), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("not a URL: {e}"))?;
        let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| e.to_string())?;
        let client = ClientOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        let retry = RetryConfig {
            max_retries: 5,
            retry_timeout: OPERATION_TIMEOUT,
            ..RetryConfig::default()
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::AmazonS3 => {
                let mut builder = configured!(AmazonS3Builder, &url, client, retry, &self.options);
                // An endpoint the user wrote as http:// is one they mean to use.
                if self.endpoint().is_some_and(|e| e.starts_with("http://")) {
                    builder = builder.with_allow_http(true);
                }
                Arc::new(builder.build().map_err(|e| e.to_string())?)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let builder = configured!(
                    GoogleCloudStorageBuilder,
                    &url,
                    client,
                    retry,
                    &self.options
                );
                Arc::new(builder.build().map_err(|e| e.to_string())?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let builder =
                    configured!(MicrosoftAzureBuilder, &url, client, retry, &self.options);
                Arc::new(builder.build().map_err(|e| e.to_string())?)
            }
            other => {
                return Err(format!(
                    "{other:?} is not a store weir keeps checkpoints in"
                ))
            }
        };
        Ok((store, prefix))
    }

    fn endpoint(&self) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| {
                matches!(
                    k.to_ascii_lowercase().as_str(),
                    "aws_endpoint" | "aws_endpoint_url" | "endpoint" | "endpoint_url"
                )
            })
            .map(|(_, v)| v.as_str())
    }
}

/// Checkpoint files as objects under a prefix.
pub struct ObjectStoreFiles {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// `object_store` is async; checkpoints are written from the sink's
    /// thread, which waits for each operation here.
    runtime: tokio::runtime::Runtime,
}

impl ObjectStoreFiles {
    pub fn open(spec: &RemoteSpec) -> Result<Self, CheckpointError> {
        let storage_error = |error: String| CheckpointError::Storage {
            at: spec.url.clone(),
            error,
        };
        let (store, prefix) = spec.client().map_err(storage_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weir-checkpoint-store")
            .enable_all()
            .build()
            .map_err(|e| storage_error(format!("cannot start its client: {e}")))?;
        Ok(Self {
            url: spec.url.clone(),
            store,
            prefix,
            runtime,
        })
    }

    fn path(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    fn shown(&self, name: &str) -> String {
        format!("{}/{name}", self.url.trim_end_matches('/'))
    }

    /// Runs one operation to its end or [`OPERATION_TIMEOUT`].
    fn wait<T>(
        &self,
        operation: impl Future<Output = Result<T, object_store::Error>>,
    ) -> Result<T, String> {
        self.runtime.block_on(async {
            match tokio::time::timeout(OPERATION_TIMEOUT, operation).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!(
                    "no answer within {} s",
                    OPERATION_TIMEOUT.as_secs()
                )),
            }
        })
    }
}

impl CheckpointFiles for ObjectStoreFiles {
    fn names(&self) -> Result<Vec<String>, CheckpointError> {
        let listed = self
            .wait(self.store.list_with_delimiter(Some(&self.prefix)))
            .map_err(|error| CheckpointError::Storage {
                at: self.url.clone(),
                error,
            })?;
        Ok(listed
            .objects
            .iter()
            .filter_map(|object| object.location.filename().map(str::to_string))
            .collect())
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let path = self.path(name);
        let store = &self.store;
        self.wait(store.get(&path).and_then(|got| got.bytes()))
            .map(|bytes| bytes.to_vec())
            .map_err(|e| CheckpointError::Invalid {
                path: self.shown(name),
                reason: format!("cannot read: {e}"),
            })
    }

    fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        let path = self.path(name);
        self.wait(self.store.put(&path, PutPayload::from(bytes)))
            .map(drop)
            .map_err(|error| CheckpointError::Write {
                path: self.shown(name),
                error,
            })
    }

    fn remove(&self, name: &str) -> Result<(), CheckpointError> {
        let path = self.path(name);
        self.wait(self.store.delete(&path))
            .map_err(|error| CheckpointError::Write {
                path: self.shown(name),
                error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str, options: &[(&str, &str)]) -> RemoteSpec {
        RemoteSpec {
            url: url.into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn object_store_urls_are_told_from_paths() {
        assert!(is_object_store_url("s3://bucket/a/b"));
        assert!(is_object_store_url("gs://bucket"));
        assert!(is_object_store_url(
            "abfss://c@account.dfs.core.windows.net/p"
        ));
        assert!(!is_object_store_url(".weir/checkpoints"));
        assert!(!is_object_store_url("/var/lib/weir"));
        assert!(!is_object_store_url("file:///var/lib/weir"));
        assert!(!is_object_store_url("ftp://host/x"));
    }

    #[test]
    fn an_unknown_setting_is_named() {
        let err = spec("s3://bucket/p", &[("aws_endpoitn", "http://127.0.0.1:1")])
            .client()
            .err()
            .unwrap();
        assert!(err.contains("aws_endpoitn"), "{err}");
    }

    #[test]
    fn a_bucketless_url_is_refused() {
        assert!(spec("s3:///p", &[]).client().is_err());
    }
}
