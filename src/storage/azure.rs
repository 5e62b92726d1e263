//! Blob Storage through `azure_storage_blob` 1.x, Microsoft's supported successor of the frozen
//! `azure_storage_blobs` 0.21. It has no Shared Key signing, hence [`super::sas`].

use super::sas::{redact, AccountSasSigner};
use super::transport::HyperTransport;
use super::{cause_chain, event_hashes_of_record, BlobStore, NewBlob, PutOutcome, StorageError};
use super::{
    BlobSink, BlobSource, Claim, EventHashes, JobBlob, ListPage, ListedBlob, ReadBlob, WriteCondition,
    WriteOutcome,
};
use super::{META_ARCHIVED_AT, META_CONTENT_SHA256, META_EVENT_CANONICAL_SHA256, META_EVENT_SHA256};
use crate::config::StorageAuth;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode, Transport, Url,
};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use azure_storage_blob::models::{
    BlobClientAcquireLeaseOptions, BlobClientAcquireLeaseResultHeaders, BlobClientDownloadOptions,
    BlobClientGetPropertiesResultHeaders, BlobClientSetMetadataOptions, BlobContainerClientListBlobsOptions,
    BlockBlobClientCommitBlockListOptions, BlockBlobClientCommitBlockListResultHeaders,
    BlockBlobClientUploadOptions, BlockLookupList, ListBlobsIncludeItem, ListBlobsResponse,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Blob Storage through `azure_storage_blob`.
pub struct AzureBlobStore {
    containers: HashMap<String, BlobContainerClient>,
    index_tags: bool,
}

impl AzureBlobStore {
    /// The first page of a listing, `None` when the container does not exist (yet).
    async fn first_page(
        &self,
        container: &str,
        options: BlobContainerClientListBlobsOptions<'_>,
    ) -> Result<Option<ListBlobsResponse>, StorageError> {
        let mut pages = self
            .container(container)
            .list_blobs(Some(options))
            .map_err(from_azure)?
            .into_pages();
        match pages.next().await {
            None => Ok(None),
            Some(Err(e)) if error_code(&e) == Some("ContainerNotFound") => Ok(None),
            Some(page) => Ok(Some(page.map_err(from_azure)?.into_model().map_err(from_azure)?)),
        }
    }

    /// Builds one client per container, sharing one HTTP connection pool.
    /// `retry_within` bounds the SDK's own retries: they end inside the caller's budget, so the last
    /// attempt's error (connection refused, 403, ...) reaches the caller rather than a bare timeout.
    pub fn new(
        auth: &StorageAuth,
        containers: &[&str],
        index_tags: bool,
        retry_within: Duration,
    ) -> Result<Self, StorageError> {
        let retry_within = time::Duration::try_from(retry_within).unwrap_or(time::Duration::seconds(20));
        // Mozilla's roots, built in: the handler trusts the same CAs on every Functions image (and in
        // a root file system without ca-certificates), and start-up does not read the system bundle.
        let mut roots = rustls::RootCertStore::empty();
        for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            // A root this rustls cannot use is left out, as reqwest did.
            let _ = roots.add(der.clone());
        }
        let (credential, query, sas): (Option<Arc<dyn TokenCredential>>, Option<String>, _) = match auth {
            StorageAuth::Sas { sas, .. } => (None, Some(sas.clone()), None),
            StorageAuth::AccountKey {
                account,
                key,
                blob_endpoint,
            } => {
                let signer = AccountSasSigner::new(account, key, blob_endpoint.scheme() == "http");
                (None, None, Some(signer))
            }
            StorageAuth::ManagedIdentity { client_id, .. } => {
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    ..Default::default()
                };
                let credential = ManagedIdentityCredential::new(Some(options)).map_err(from_azure)?;
                (Some(credential as Arc<dyn TokenCredential>), None, None)
            }
        };
        let http = HyperTransport::new(
            roots,
            Duration::from_secs(2),
            // Per-try cap; the invocation budget bounds the whole operation, retries included.
            Duration::from_secs(8),
            Duration::from_secs(50),
            sas,
        )
        .map_err(|e| StorageError::Transport(redact(&cause_chain(&e))))?;
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http))),
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: time::Duration::milliseconds(100),
                    max_retries: 5,
                    max_delay: time::Duration::seconds(2).min(retry_within / 4),
                    max_total_elapsed: retry_within,
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut clients = HashMap::new();
        for &name in containers {
            let mut url: Url = auth.blob_endpoint().clone();
            url.path_segments_mut()
                .map_err(|_| StorageError::Transport("the blob endpoint cannot hold a path".into()))?
                .pop_if_empty()
                .push(name);
            url.set_query(query.as_deref());
            let client = BlobContainerClient::new(url, credential.clone(), Some(options.clone()))
                .map_err(from_azure)?;
            clients.insert(name.to_owned(), client);
        }
        Ok(AzureBlobStore {
            containers: clients,
            index_tags,
        })
    }

    fn container(&self, name: &str) -> &BlobContainerClient {
        self.containers
            .get(name)
            .expect("containers are fixed at start-up and only configured names are used")
    }

    /// Creates every container that does not exist yet.
    pub async fn ensure_containers(&self) -> Result<(), StorageError> {
        for name in self.containers.keys() {
            self.create_container(name).await?;
        }
        Ok(())
    }

    async fn create_container(&self, name: &str) -> Result<(), StorageError> {
        match self.container(name).create(None).await {
            Ok(_) => Ok(()),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
            Err(e) => Err(from_azure(e)),
        }
    }

    async fn put(&self, blob: &NewBlob<'_>) -> azure_core::Result<()> {
        let options = BlockBlobClientUploadOptions {
            // Records are one PUT each; without this the SDK asks the OS for its available
            // parallelism (several file reads) on every upload: 16 % of the handler's CPU per event.
            parallel: std::num::NonZeroUsize::new(1),
            if_none_match: Some("*".into()),
            blob_content_type: Some("application/json".into()),
            blob_tags_string: (self.index_tags && !blob.tags.is_empty()).then(|| blob.tags.to_owned()),
            metadata: Some(
                [
                    (META_CONTENT_SHA256, blob.content_sha256),
                    (META_EVENT_SHA256, blob.event_sha256),
                    (META_EVENT_CANONICAL_SHA256, blob.event_canonical_sha256),
                    (META_ARCHIVED_AT, blob.archived_at),
                ]
                .into_iter()
                .chain(blob.metadata.iter().map(|(k, v)| (*k, v.as_str())))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            ..Default::default()
        };
        self.container(blob.container)
            .blob_client(blob.name)
            .block_blob_client()
            .upload(RequestContent::from(blob.body.to_vec()), Some(options))
            .await
            .map(drop)
    }
}

impl BlobStore for AzureBlobStore {
    async fn create_if_absent(&self, blob: NewBlob<'_>) -> Result<PutOutcome, StorageError> {
        let mut created_container = false;
        loop {
            return match self.put(&blob).await {
                Ok(()) => Ok(PutOutcome::Created),
                // 409 BlobAlreadyExists, or 412 ConditionNotMet from some service versions.
                Err(e)
                    if matches!(
                        e.http_status(),
                        Some(StatusCode::Conflict | StatusCode::PreconditionFailed)
                    ) =>
                {
                    Ok(PutOutcome::AlreadyExists)
                }
                // Containers are created at start-up, but may not exist yet (storage was down then)
                // or may have been deleted since: create and try once more.
                Err(e) if !created_container && error_code(&e) == Some("ContainerNotFound") => {
                    self.create_container(blob.container).await?;
                    created_container = true;
                    continue;
                }
                Err(e) => Err(from_azure(e)),
            };
        }
    }

    async fn event_hashes(&self, container: &str, name: &str) -> Result<EventHashes, StorageError> {
        let blob = self.container(container).blob_client(name);
        let properties = blob.get_properties(None).await.map_err(from_azure)?;
        let metadata = properties.metadata().map_err(from_azure)?;
        if let Some(hashes) = EventHashes::from_metadata(&metadata) {
            return Ok(hashes);
        }
        self.read_event_hashes(container, name).await
    }

    async fn read_event_hashes(&self, container: &str, name: &str) -> Result<EventHashes, StorageError> {
        match self.read(container, name).await? {
            Some(blob) => Ok(event_hashes_of_record(&blob.bytes)),
            None => Err(StorageError::Service {
                status: 404,
                code: "BlobNotFound".into(),
            }),
        }
    }

    async fn listed_event_hashes(
        &self,
        container: &str,
        prefix: &str,
        max_pages: usize,
    ) -> Result<HashMap<String, EventHashes>, StorageError> {
        let options = BlobContainerClientListBlobsOptions {
            include: Some(vec![ListBlobsIncludeItem::Metadata]),
            prefix: Some(prefix.to_owned()),
            ..Default::default()
        };
        let mut pages = self
            .container(container)
            .list_blobs(Some(options))
            .map_err(from_azure)?
            .into_pages();
        let mut hashes = HashMap::new();
        for _ in 0..max_pages {
            let page = match pages.next().await {
                None => break,
                Some(Err(e)) if error_code(&e) == Some("ContainerNotFound") => break,
                Some(page) => page.map_err(from_azure)?.into_model().map_err(from_azure)?,
            };
            for blob in page.blob_items {
                let listed = blob
                    .metadata
                    .and_then(|m| m.values)
                    .and_then(|m| EventHashes::from_metadata(&m));
                if let (Some(name), Some(listed)) = (blob.name, listed) {
                    hashes.insert(name, listed);
                }
            }
        }
        Ok(hashes)
    }

    async fn try_lease(
        &self,
        container: &str,
        name: &str,
        etag: &str,
        seconds: u32,
    ) -> Result<Claim, StorageError> {
        let options = BlobClientAcquireLeaseOptions {
            if_match: Some(quoted_etag(etag).into()),
            ..Default::default()
        };
        let duration = seconds.clamp(15, 60) as i32;
        let blob = self.container(container).blob_client(name);
        match blob.acquire_lease(duration, Some(options)).await {
            Ok(response) => match response.lease_id().map_err(from_azure)? {
                Some(id) => Ok(Claim::Held(id)),
                None => Err(StorageError::Transport(
                    "storage granted a lease without saying its id".into(),
                )),
            },
            // 409 LeaseAlreadyPresent: another run holds it.
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(Claim::Busy),
            Err(e)
                if matches!(
                    e.http_status(),
                    Some(StatusCode::PreconditionFailed | StatusCode::NotFound)
                ) =>
            {
                Ok(Claim::Changed)
            }
            Err(e) => Err(from_azure(e)),
        }
    }

    async fn release_lease(&self, container: &str, name: &str, lease_id: &str) -> Result<(), StorageError> {
        let blob = self.container(container).blob_client(name);
        match blob.release_lease(lease_id.to_owned(), None).await {
            Ok(_) => Ok(()),
            // Expired and taken by another, or the blob is gone: it is not ours to release any more.
            Err(e) if matches!(e.http_status(), Some(StatusCode::Conflict | StatusCode::NotFound)) => Ok(()),
            Err(e) => Err(from_azure(e)),
        }
    }

    async fn set_metadata_if(
        &self,
        container: &str,
        name: &str,
        etag: &str,
        lease_id: Option<&str>,
        metadata: &HashMap<String, String>,
    ) -> Result<bool, StorageError> {
        let options = BlobClientSetMetadataOptions {
            if_match: Some(quoted_etag(etag).into()),
            lease_id: lease_id.map(str::to_owned),
            ..Default::default()
        };
        let blob = self.container(container).blob_client(name);
        match blob.set_metadata(metadata, Some(options)).await {
            Ok(_) => Ok(true),
            // 412: changed since `etag`; 409: leased by another (our lease expired); 404: gone.
            Err(e)
                if matches!(
                    e.http_status(),
                    Some(StatusCode::PreconditionFailed | StatusCode::Conflict | StatusCode::NotFound)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(from_azure(e)),
        }
    }
}

impl BlobSource for AzureBlobStore {
    async fn list_page(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Result<ListPage, StorageError> {
        let options = BlobContainerClientListBlobsOptions {
            include: Some(vec![ListBlobsIncludeItem::Metadata]),
            prefix: Some(prefix.to_owned()),
            marker: marker.map(str::to_owned),
            ..Default::default()
        };
        let Some(page) = self.first_page(container, options).await? else {
            return Ok(ListPage::default());
        };
        let blobs = page
            .blob_items
            .into_iter()
            .filter_map(|blob| {
                let properties = blob.properties.unwrap_or_default();
                Some(ListedBlob {
                    name: blob.name?,
                    etag: properties.etag.map(|e| bare_etag(e.as_ref())).unwrap_or_default(),
                    last_modified: properties.last_modified,
                    size: properties.content_length.unwrap_or_default(),
                    metadata: blob.metadata.and_then(|m| m.values).unwrap_or_default(),
                })
            })
            .collect();
        Ok(ListPage {
            blobs,
            next: page.next_marker.filter(|m| !m.is_empty()),
        })
    }

    async fn any_under(&self, container: &str, prefix: &str) -> Result<bool, StorageError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.to_owned()),
            maxresults: Some(1),
            ..Default::default()
        };
        Ok(self
            .first_page(container, options)
            .await?
            .is_some_and(|page| !page.blob_items.is_empty()))
    }

    async fn read(&self, container: &str, name: &str) -> Result<Option<ReadBlob>, StorageError> {
        let options = BlobClientDownloadOptions {
            // One request: without this the SDK asks the OS for its parallelism on every download.
            parallel: std::num::NonZeroUsize::new(1),
            ..Default::default()
        };
        let download = match self
            .container(container)
            .blob_client(name)
            .download(Some(options))
            .await
        {
            Ok(download) => download,
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => return Ok(None),
            Err(e) => return Err(from_azure(e)),
        };
        let etag = download
            .properties
            .etag
            .as_ref()
            .map(|e| bare_etag(e.as_ref()))
            .unwrap_or_default();
        let bytes = download.body.collect().await.map_err(from_azure)?.to_vec();
        Ok(Some(ReadBlob { bytes, etag }))
    }
}

impl BlobSink for AzureBlobStore {
    async fn put_whole(&self, blob: JobBlob<'_>, body: Vec<u8>) -> Result<WriteOutcome, StorageError> {
        let (if_match, if_none_match) = condition_headers(blob.condition);
        let options = BlockBlobClientUploadOptions {
            // One request; without this the SDK asks the OS for its parallelism on every upload.
            parallel: std::num::NonZeroUsize::new(1),
            if_match,
            if_none_match,
            blob_content_type: Some(blob.content_type.to_owned()),
            metadata: Some(blob.metadata.clone()),
            ..Default::default()
        };
        let body = azure_core::Bytes::from(body);
        let mut created_container = false;
        loop {
            let result = self
                .container(blob.container)
                .blob_client(blob.name)
                .block_blob_client()
                .upload(body.clone().into(), Some(options.clone()))
                .await;
            return match result {
                Ok(done) => Ok(WriteOutcome::Written {
                    etag: done.etag.map(|e| bare_etag(e.as_ref())).unwrap_or_default(),
                }),
                Err(e) if lost_the_race(&e) => Ok(WriteOutcome::ConditionFailed),
                Err(e) if !created_container && error_code(&e) == Some("ContainerNotFound") => {
                    self.create_container(blob.container).await?;
                    created_container = true;
                    continue;
                }
                Err(e) => Err(from_azure(e)),
            };
        }
    }

    async fn stage_block(
        &self,
        container: &str,
        name: &str,
        block_id: &str,
        body: Vec<u8>,
    ) -> Result<(), StorageError> {
        let client = self.container(container).blob_client(name).block_blob_client();
        let length = body.len() as u64;
        // Shared, not copied, when the request is sent again.
        let body = azure_core::Bytes::from(body);
        let mut created_container = false;
        loop {
            let content: RequestContent<azure_core::Bytes, azure_core::http::NoFormat> = body.clone().into();
            let result = client
                .stage_block(block_id.as_bytes(), length, content, None)
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if !created_container && error_code(&e) == Some("ContainerNotFound") => {
                    self.create_container(container).await?;
                    created_container = true;
                    continue;
                }
                Err(e) => Err(from_azure(e)),
            };
        }
    }

    async fn commit_blocks(
        &self,
        blob: JobBlob<'_>,
        block_ids: &[String],
    ) -> Result<WriteOutcome, StorageError> {
        let (if_match, if_none_match) = condition_headers(blob.condition);
        let options = BlockBlobClientCommitBlockListOptions {
            if_match,
            if_none_match,
            blob_content_type: Some(blob.content_type.to_owned()),
            metadata: Some(blob.metadata.clone()),
            ..Default::default()
        };
        let list = BlockLookupList {
            latest: Some(block_ids.iter().map(|id| id.as_bytes().to_vec()).collect()),
            ..Default::default()
        };
        let content = list.try_into().map_err(from_azure)?;
        match self
            .container(blob.container)
            .blob_client(blob.name)
            .block_blob_client()
            .commit_block_list(content, Some(options))
            .await
        {
            Ok(response) => Ok(WriteOutcome::Written {
                etag: response
                    .etag()
                    .ok()
                    .flatten()
                    .map(|e| bare_etag(e.as_ref()))
                    .unwrap_or_default(),
            }),
            Err(e) if lost_the_race(&e) || error_code(&e) == Some("InvalidBlockList") => {
                Ok(WriteOutcome::ConditionFailed)
            }
            Err(e) => Err(from_azure(e)),
        }
    }
}

/// `If-Match` and `If-None-Match` for a condition, ETags quoted as in HTTP headers.
fn condition_headers(
    condition: &WriteCondition,
) -> (Option<azure_core::http::Etag>, Option<azure_core::http::Etag>) {
    match condition {
        WriteCondition::Absent => (None, Some("*".into())),
        WriteCondition::Matches(etag) => (Some(format!("\"{}\"", bare_etag(etag)).into()), None),
    }
}

/// 412 (the ETag changed) or 409 (the blob appeared meanwhile): another writer was first.
fn lost_the_race(e: &azure_core::Error) -> bool {
    matches!(
        e.http_status(),
        Some(StatusCode::PreconditionFailed | StatusCode::Conflict)
    )
}

/// ETags without the quotes headers carry: listings give them bare, and one form compares equal.
fn bare_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// An ETag as `If-Match` carries it.
fn quoted_etag(etag: &str) -> String {
    format!("\"{}\"", bare_etag(etag))
}

fn error_code(e: &azure_core::Error) -> Option<&str> {
    match e.kind() {
        ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

fn from_azure(e: azure_core::Error) -> StorageError {
    match e.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => StorageError::Service {
            status: u16::from(*status),
            code: error_code.clone().unwrap_or_else(|| "no error code".into()),
        },
        _ => StorageError::Transport(redact(&cause_chain(&e))),
    }
}
