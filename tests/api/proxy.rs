//! A fault layer: a TCP proxy on a loopback port in front of a storage port, whose behaviour can be
//! switched while traffic flows through it.
//!
//! - `Pass` forwards bytes both ways.
//! - `Refuse` resets every new connection at once (a storage endpoint that is down).
//! - `Cut` lets each new connection carry a few bytes, then resets both sides. Connections take turns
//!   being cut inside the request (nothing, a few bytes, into the headers, into the body) or after the
//!   whole request went through but before (or while) the answer comes back, so storage may have done
//!   the work the client never hears about.
//! - `BlackHole` accepts and reads but never forwards nor answers.
//! - `Hold` accepts and reads requests but forwards nothing until the mode changes: requests are
//!   surely in flight, for as long as a test needs, and then go through (`Pass`) or fail.
//!
//! Switching to `Refuse` or `Cut` resets the live connections; switching to `BlackHole` makes them go
//! silent; leaving `BlackHole` resets the silenced ones (what they carried is lost).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Cut,
    BlackHole,
    Hold,
}

/// How many connections met each fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyStats {
    pub connections: u64,
    pub refused: u64,
    pub cut: u64,
    pub black_holed: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
    black_holed: AtomicU64,
    /// Connections holding request bytes right now (mode `Hold`).
    held: AtomicU64,
    /// Added before each chunk of a request is forwarded, in ms: storage that is far away.
    latency_ms: AtomicU64,
}

/// Where a connection accepted in `Cut` mode is cut: after this many request bytes, or after the
/// whole request and this many answer bytes.
#[derive(Debug, Clone, Copy)]
enum CutAt {
    Request(usize),
    Answer(usize),
}

const CUTS: [CutAt; 6] = [
    CutAt::Request(0),
    CutAt::Request(9),
    CutAt::Request(400),
    CutAt::Request(1500),
    CutAt::Answer(0),
    CutAt::Answer(20),
];

pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    counters: Arc<Counters>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:`upstream`, starting in `Pass`.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, _) = watch::channel(Mode::Pass);
        let counters = Arc::new(Counters::default());
        let accept = tokio::spawn({
            let mode = mode.clone();
            let counters = counters.clone();
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let n = counters.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve(client, upstream, mode.subscribe(), counters.clone(), n));
                }
            }
        });
        Proxy {
            port,
            mode,
            counters,
            accept,
        }
    }

    /// A storage endpoint that is down: every connection is reset at once.
    pub async fn refusing() -> Proxy {
        // The upstream is never dialled in `Refuse` mode.
        let proxy = Proxy::start(9).await;
        proxy.set(Mode::Refuse);
        proxy
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Every request chunk waits this long before it is forwarded (a request is one or two chunks).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.counters
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many connections hold a request that has not been forwarded yet.
    pub fn held(&self) -> u64 {
        self.counters.held.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests are held: they are then surely in flight.
    pub async fn wait_until_held(&self, n: u64, limit: std::time::Duration) {
        let started = std::time::Instant::now();
        while self.held() < n {
            assert!(
                started.elapsed() < limit,
                "only {} of {n} requests reached the proxy within {limit:?}",
                self.held()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            cut: c.cut.load(Ordering::Relaxed),
            black_holed: c.black_holed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    /// Stops accepting; live connections see the mode channel close and are reset.
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Closes with a TCP RST instead of a FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn serve(
    client: TcpStream,
    upstream: u16,
    mut mode: watch::Receiver<Mode>,
    counters: Arc<Counters>,
    n: u64,
) {
    let now = *mode.borrow_and_update();
    let cut = match now {
        Mode::Pass | Mode::Hold => None,
        Mode::Cut => Some(CUTS[n as usize % CUTS.len()]),
        Mode::Refuse => {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return reset(client);
        }
        Mode::BlackHole => return black_hole(client, mode, &counters).await,
    };
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return reset(client);
    };
    let _ = server.set_nodelay(true);
    forward(client, server, mode, cut, &counters).await;
}

async fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    mut mode: watch::Receiver<Mode>,
    cut: Option<CutAt>,
    counters: &Counters,
) {
    let (mut request_left, mut answer_left) = match cut {
        None => (usize::MAX, usize::MAX),
        Some(CutAt::Request(n)) => (n, usize::MAX),
        Some(CutAt::Answer(n)) => (usize::MAX, n),
    };
    let cut_both = |client: TcpStream, server: TcpStream| {
        counters.cut.fetch_add(1, Ordering::Relaxed);
        reset(client);
        reset(server);
    };
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    // Request bytes read while holding, forwarded when the hold ends.
    let mut pending: Vec<u8> = vec![];
    loop {
        tokio::select! {
            read = client.read(&mut up) => {
                let Ok(n @ 1..) = read else { return };
                if *mode.borrow() == Mode::Hold {
                    if pending.is_empty() {
                        counters.held.fetch_add(1, Ordering::SeqCst);
                    }
                    pending.extend_from_slice(&up[..n]);
                    continue;
                }
                let k = n.min(request_left);
                let latency = counters.latency_ms.load(Ordering::SeqCst);
                if latency > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
                }
                if server.write_all(&up[..k]).await.is_err() {
                    return;
                }
                request_left -= k;
                if request_left == 0 {
                    return cut_both(client, server);
                }
            }
            read = server.read(&mut down) => {
                let Ok(n @ 1..) = read else { return };
                let k = n.min(answer_left);
                if client.write_all(&down[..k]).await.is_err() {
                    return;
                }
                answer_left -= k;
                if answer_left == 0 {
                    return cut_both(client, server);
                }
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return cut_both(client, server);
                }
                let now = *mode.borrow_and_update();
                if now != Mode::Hold && !pending.is_empty() {
                    counters.held.fetch_sub(1, Ordering::SeqCst);
                    let held = std::mem::take(&mut pending);
                    if now == Mode::Pass && server.write_all(&held).await.is_err() {
                        return;
                    }
                }
                match now {
                    Mode::Pass | Mode::Hold => {}
                    Mode::Refuse | Mode::Cut => return cut_both(client, server),
                    Mode::BlackHole => {
                        drop(server);
                        return black_hole(client, mode, counters).await;
                    }
                }
            }
        }
    }
}

/// Reads and discards until the client gives up, or resets it once the black hole ends.
async fn black_hole(mut client: TcpStream, mut mode: watch::Receiver<Mode>, counters: &Counters) {
    counters.black_holed.fetch_add(1, Ordering::Relaxed);
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client.read(&mut sink) => {
                if !matches!(read, Ok(1..)) {
                    return;
                }
            }
            changed = mode.changed() => {
                let now = *mode.borrow_and_update();
                if changed.is_err() || now != Mode::BlackHole {
                    return reset(client);
                }
            }
        }
    }
}
