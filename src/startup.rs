//! Wiring: configuration → storage → archiver → HTTP server.

use crate::archive::Archiver;
use crate::config::{Config, MAX_REQUEST_BYTES};
use crate::server::{router, AppState};
use crate::storage::AzureBlobStore;
use anyhow::Context;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState<AzureBlobStore>>,
}

impl Application {
    /// Binds the port and prepares storage clients; no network call to storage happens here, so the
    /// handler answers the host's readiness ping at once even when storage is slow or down.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = AzureBlobStore::new(&config.storage, &config.containers.all(), config.index_tags)
            .context("could not set up the storage client")?;
        let state = Arc::new(AppState {
            archiver: Archiver::new(store, config.containers.clone()),
            budget: config.budget,
        });
        // The host only ever calls 127.0.0.1; nothing else should reach the handler.
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address}"))?;
        Ok(Application { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight invocations finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state.clone();
        // Containers are created lazily on first write too; doing it early just saves that round trip.
        tokio::spawn(async move {
            if let Err(e) = state.archiver.store().ensure_containers().await {
                tracing::warn!(error = %e, "could not create the containers yet; will create them on first write");
            }
        });
        let app = router(self.state, MAX_REQUEST_BYTES);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the HTTP server failed")
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight invocations");
}
