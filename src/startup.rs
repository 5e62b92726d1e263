//! Wiring: configuration → storage → archiver → HTTP server.

use crate::archive::Archiver;
use crate::config::{Config, MAX_REQUEST_BYTES};
use crate::server::{router, AppState};
use crate::storage::AzureBlobStore;
use anyhow::Context;
use std::future::IntoFuture;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState<AzureBlobStore>>,
    /// How long in-flight invocations may run on after SIGTERM.
    grace: Duration,
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
        // Every invocation ends within its storage budget; the margin covers reading slow bodies.
        let grace = config.budget + Duration::from_secs(2);
        Ok(Application {
            listener,
            state,
            grace,
        })
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
        let stopping = Arc::new(Notify::new());
        let stop = stopping.clone();
        // After SIGTERM the listener closes at once; in-flight invocations finish (and are acknowledged
        // only if stored) unless the grace period runs out, in which case their connections drop and
        // the host reports them failed, so Event Grid redelivers.
        let server = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.notify_one();
        });
        tokio::select! {
            served = server.into_future() => served.context("the HTTP server failed"),
            () = async { stopping.notified().await; tokio::time::sleep(self.grace).await } => {
                tracing::warn!(grace_ms = self.grace.as_millis() as u64, "grace period over with invocations in flight; exiting");
                Ok(())
            }
        }
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
    tracing::info!("shutting down: no new connections; finishing in-flight invocations");
}
