//! Test harness: a real Azurite (from the project's pinned npm install) and the real `handler`
//! binary, started the way the Functions host starts it.

use acs_event_archive::config::Containers;
use acs_event_archive::storage::account_sas;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const AZURITE_VERSION: &str = "3.37.0";
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures_dir() -> PathBuf {
    project_root().join("tests/fixtures/events")
}

/// Every fixture file name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/events is missing")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "SOURCES.md")
        .collect();
    names.sort();
    names
}

pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The events of a fixture file: its array elements, or the one object.
pub fn fixture_events(name: &str) -> Vec<Value> {
    match serde_json::from_str(&fixture_text(name))
        .unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
    {
        Value::Array(items) => items,
        one => vec![one],
    }
}

/// The port in the handler's ready line (`... handler ready port=41234 ...`): handlers are started on
/// port 0 and say which port they were given, so no port is ever picked and then lost to a race.
pub fn port_from_ready_line(line: &str) -> Option<u16> {
    if !line.contains("handler ready") {
        return None;
    }
    let rest = &line[line.find("port=")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// An exclusive lock on `.tools/.{name}.lock`, held until dropped: two test runs at once in one
/// checkout install a tool once, the second waiting for the first.
pub struct ToolsLock {
    _file: std::fs::File,
}

impl ToolsLock {
    pub fn take(name: &str) -> ToolsLock {
        use std::os::fd::AsRawFd;
        let tools = project_root().join(".tools");
        std::fs::create_dir_all(&tools).unwrap();
        let path = tools.join(format!(".{name}.lock"));
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // SAFETY: flock on a descriptor this File owns; the lock goes with the descriptor on drop.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(
            locked,
            0,
            "flock {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        ToolsLock { _file: file }
    }
}

/// The packages of package.json's devDependencies (exact versions) that node_modules lacks or has
/// at another version, as `name@version`.
fn node_packages_missing(root: &Path) -> Vec<String> {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(root.join("package.json")).unwrap())
        .expect("package.json is not JSON");
    let pinned = manifest["devDependencies"]
        .as_object()
        .expect("package.json has no devDependencies");
    pinned
        .iter()
        .filter(|(name, version)| {
            let installed =
                std::fs::read_to_string(root.join("node_modules").join(name).join("package.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            installed.as_ref().map(|v| &v["version"]) != Some(*version)
        })
        .map(|(name, version)| format!("{name}@{}", version.as_str().unwrap_or("?")))
        .collect()
}

/// The project's node_modules with every pinned package (Azurite, playwright-core) in it, installed
/// with `npm ci` once if one is missing. Under a lock, since `npm ci` empties node_modules first.
pub fn node_modules() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let root = project_root();
        let _lock = ToolsLock::take("npm");
        let missing = node_packages_missing(root);
        if !missing.is_empty() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(root)
                .stdout(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("{} not installed and npm could not be run ({e}): install Node.js and npm, then run `npm ci` in {}", missing.join(", "), root.display()));
            assert!(status.success(), "`npm ci` failed in {}: the tests need {} from package-lock.json", root.display(), missing.join(", "));
        }
        let missing = node_packages_missing(root);
        assert!(missing.is_empty(), "{} still missing from node_modules after npm ci", missing.join(", "));
        root.join("node_modules")
    })
}

/// The pinned Azurite's blob entry point.
fn ensure_azurite_installed() -> PathBuf {
    let manifest = std::fs::read_to_string(node_modules().join("azurite/package.json")).unwrap();
    let version = serde_json::from_str::<Value>(&manifest).unwrap()["version"].clone();
    assert_eq!(
        version, AZURITE_VERSION,
        "package.json pins another Azurite than AZURITE_VERSION"
    );
    let bin = node_modules().join("azurite/dist/src/blob/main.js");
    assert!(
        bin.exists(),
        "Azurite's blob entry point {} is missing after npm ci",
        bin.display()
    );
    bin
}

/// A real Azurite blob service on a loopback port, killed on drop.
pub struct Azurite {
    child: Child,
    pub port: u16,
}

impl Azurite {
    /// Starts Azurite on a port of its own choosing in `folder`, and reads that port from its output.
    pub fn start(folder: &Path) -> Azurite {
        Self::start_on(0, folder)
    }

    /// Starts Azurite on `port` (0: any free one) and waits until it says where it listens.
    pub fn start_on(port: u16, folder: &Path) -> Azurite {
        let main_js = ensure_azurite_installed();
        let mut command = Command::new("node");
        command
            .arg(main_js)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--location",
            ])
            .arg(folder)
            .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Azurite must not outlive the test process, even when a test panics or is killed.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start Azurite with node: {e}"));
        // "Azurite Blob service successfully listens on http://127.0.0.1:46001"
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split_once("successfully listens on http://127.0.0.1:")
                    .and_then(|(_, p)| p.trim().parse::<u16>().ok())
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                }
                panic!("Azurite did not say where it listens within 60 s: {err}");
            }
        };
        wait_for_port(port, Duration::from_secs(30), &mut child, "Azurite");
        Azurite { child, port }
    }

    /// The node process, for benchmarks that measure its CPU time.
    #[allow(dead_code, reason = "used by the benches, which share this file")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops Azurite as Ctrl-C would: it writes its metadata database first. A killed Azurite
    /// loses the last seconds of writes from a folder that is used again (the benches' datasets).
    #[allow(dead_code, reason = "used by the benches, which share this file")]
    pub fn stop(mut self) {
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn blob_endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}/{DEV_ACCOUNT}")
}

/// An account-key connection string for an Azurite on `port`.
pub fn connection_string(port: u16) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint={}",
        blob_endpoint(port)
    )
}

/// One Azurite for the whole test binary; each test isolates itself with its own containers.
pub fn shared_azurite() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        // PR_SET_PDEATHSIG fires when the *thread* that spawned the child ends, and test threads end
        // with their test: spawn from a thread that lives as long as the process.
        std::thread::spawn(move || {
            // A folder of this process's own: two test runs at once in one checkout each start their
            // shared Azurite, and two Azurites in one folder overwrite each other's database.
            let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
            remove_folders_of_ended_runs(root);
            let folder = root.join(format!("azurite-shared-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&folder);
            std::fs::create_dir_all(&folder).unwrap();
            let azurite = Azurite::start(&folder);
            tx.send(azurite.port).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("Azurite did not start within 60 s")
    })
}

/// Shared-Azurite folders of test processes that have ended (`azurite-shared-{pid}`).
fn remove_folders_of_ended_runs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("azurite-shared-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn wait_for_port(port: u16, limit: Duration, child: &mut Child, what: &str) {
    let start = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            panic!("{what} exited with {status} before listening on {port}: {err}");
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not listen on port {port} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Distinct container names for one test.
pub fn unique_containers() -> Containers {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let prefix = format!("t{}-{n}", std::process::id());
    Containers {
        sms: format!("{prefix}-sms"),
        chat: format!("{prefix}-chat"),
        advanced_messaging: format!("{prefix}-am"),
        other: format!("{prefix}-other"),
        quarantine: format!("{prefix}-quarantine"),
        deadletter: format!("{prefix}-deadletter"),
        analytics: format!("{prefix}-analytics"),
    }
}

/// The real `handler` binary, started as the Functions host starts it.
pub struct TestApp {
    child: Child,
    pub base: String,
    pub storage_port: u16,
    pub containers: Containers,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
    /// How long the handler took to answer its first readiness ping.
    pub ready_after: Duration,
}

pub struct AppOptions {
    pub storage_port: u16,
    pub env: Vec<(String, String)>,
}

/// Spawns the handler against the shared Azurite.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions {
        storage_port: shared_azurite(),
        env: vec![],
    })
    .await
}

/// The `handler` binary with the settings of an app on Azurite at `storage_port` with `containers`,
/// and none of this shell's settings that the host would not pass.
pub fn handler_command(storage_port: u16, containers: &Containers) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_handler"));
    for inherited in [
        "ARCHIVE_STORAGE",
        "AzureWebJobsStorage",
        "ARCHIVE_BUDGET_MS",
        "ARCHIVE_LOG",
        "RUST_LOG",
    ] {
        command.env_remove(inherited);
    }
    command
        .env("ARCHIVE_STORAGE", connection_string(storage_port))
        .envs(container_env(containers));
    command
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let containers = unique_containers();
    let mut command = handler_command(options.storage_port, &containers);
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .env(
            "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
            "00000000-0000-0000-0000-000000000001",
        )
        .env("FUNCTIONS_APP_ROOT_PATH", project_root())
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("could not start the handler binary");
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let lines = stdout.clone();
    let out = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(port) = port_from_ready_line(&line) {
                if let Some(tx) = ready_tx.take() {
                    let _ = tx.send(port);
                }
            }
            lines.lock().unwrap().push(line);
        }
    });
    let port = loop {
        match ready_rx.recv_timeout(Duration::from_millis(25)) {
            Ok(port) => break port,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
                panic!("handler exited with {status} before it was ready: {err}");
            }
            Err(_) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "handler printed no ready line within 30 s"
            ),
        }
    };
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // The host's readiness check: GET / every 25 ms until any answer.
    loop {
        if http.get(format!("{base}/")).send().await.is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            panic!("handler exited with {status} before it was ready: {err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "handler not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ready_after = started.elapsed();
    TestApp {
        child,
        base,
        storage_port: options.storage_port,
        containers,
        stdout,
        http,
        ready_after,
    }
}

/// A host invocation's answer.
#[derive(Debug)]
pub struct Invoked {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub elapsed: Duration,
}

impl Invoked {
    pub fn logs(&self) -> Vec<String> {
        self.body["Logs"]
            .as_array()
            .map(|l| l.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }
}

/// The body the Functions host sends for an `eventGridTrigger` named `event`.
pub fn host_body(function: &str, event: &Value) -> Value {
    acs_event_archive::host::protocol::host_invocation(function, event)
}

/// The function whose Event Grid subscription would carry this event.
pub fn function_for(event: &Value) -> &'static str {
    acs_event_archive::host::functions::event_grid_function_for_event(event)
}

/// The settings that point a handler at `containers`.
pub fn container_env(containers: &Containers) -> Vec<(String, String)> {
    [
        ("ARCHIVE_CONTAINER_SMS", &containers.sms),
        ("ARCHIVE_CONTAINER_CHAT", &containers.chat),
        (
            "ARCHIVE_CONTAINER_ADVANCED_MESSAGING",
            &containers.advanced_messaging,
        ),
        ("ARCHIVE_CONTAINER_OTHER", &containers.other),
        ("ARCHIVE_CONTAINER_QUARANTINE", &containers.quarantine),
        ("ARCHIVE_CONTAINER_DEADLETTER", &containers.deadletter),
        ("ARCHIVE_CONTAINER_ANALYTICS", &containers.analytics),
    ]
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .to_vec()
}

impl TestApp {
    /// Invokes a function the way the host does.
    pub async fn invoke(&self, function: &str, event: &Value) -> Invoked {
        self.post(function, serde_json::to_vec(&host_body(function, event)).unwrap())
            .await
    }

    /// Posts any body to `/{path}` with the host's headers.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Invoked {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("X-Azure-Functions-HostVersion", "4.1037.0.0")
            .header(
                "X-Azure-Functions-InvocationId",
                "3f2c7b1e-5c1a-4f62-9a0e-8d1f4c2b9a77",
            )
            .header("User-Agent", "Azure-Functions-Host/4.1037.0.0")
            .body(body)
            .send()
            .await
            .expect("the handler did not answer");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Invoked {
            status,
            content_type,
            body,
            elapsed: started.elapsed(),
        }
    }

    pub fn storage(&self) -> Storage {
        Storage::new(self.storage_port, self.http.clone())
    }

    /// Every blob in every container of this app, by container.
    pub async fn all_blobs(&self) -> BTreeMap<String, Vec<StoredBlob>> {
        let storage = self.storage();
        let mut all = BTreeMap::new();
        for container in self.containers.all() {
            all.insert(container.to_owned(), storage.blobs(container).await);
        }
        all
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as the host does when it shuts a worker down.
    pub fn terminate(&self) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet waited for).
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "could not signal the handler");
    }

    /// Waits for the handler to exit, up to `limit`.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// Waits until the handler's stdout satisfies `done` (it is read by another thread, so a line
    /// written before an answer may arrive after it), and returns it; fails after `limit`.
    pub async fn wait_for_log(&self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.stdout_text();
            if done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < limit,
                "the log did not show what was expected within {limit:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blob as read back over plain HTTP.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    pub name: String,
    pub record: Value,
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// Reads what the handler wrote, straight from the Blob REST API (not through the handler's code).
pub struct Storage {
    port: u16,
    sas: String,
    http: reqwest::Client,
}

impl Storage {
    pub fn new(port: u16, http: reqwest::Client) -> Self {
        let key = base64_decode(DEV_KEY);
        Storage {
            port,
            sas: account_sas(DEV_ACCOUNT, &key, time::OffsetDateTime::now_utc(), true),
            http,
        }
    }

    /// Every blob name in the container, all pages of the listing; none if it does not exist.
    pub async fn blob_names(&self, container: &str) -> Vec<String> {
        let mut names = vec![];
        let mut marker = String::new();
        loop {
            let mut url = reqwest::Url::parse(&format!(
                "{}/{container}?restype=container&comp=list&maxresults=5000&{}",
                blob_endpoint(self.port),
                self.sas
            ))
            .unwrap();
            if !marker.is_empty() {
                url.query_pairs_mut().append_pair("marker", &marker);
            }
            let response = self.http.get(url).send().await.unwrap();
            if response.status() == 404 {
                return names;
            }
            let xml = response.text().await.unwrap();
            names.extend(xml_values(&xml, "Name"));
            match xml_values(&xml, "NextMarker").into_iter().next() {
                Some(next) if !next.is_empty() => marker = next,
                _ => return names,
            }
        }
    }

    /// A blob's ETag (without quotes), from a HEAD request.
    pub async fn etag(&self, container: &str, name: &str) -> String {
        let url = format!("{}/{container}/{name}?{}", blob_endpoint(self.port), self.sas);
        let response = self.http.head(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "HEAD {container}/{name}");
        response.headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .to_owned()
    }

    /// A blob's bytes only.
    pub async fn bytes(&self, container: &str, name: &str) -> Vec<u8> {
        let url = format!("{}/{container}/{name}?{}", blob_endpoint(self.port), self.sas);
        let response = self.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {container}/{name}");
        response.bytes().await.unwrap().to_vec()
    }

    pub async fn blobs(&self, container: &str) -> Vec<StoredBlob> {
        let mut out = vec![];
        for name in self.blob_names(container).await {
            out.push(self.blob(container, &name).await);
        }
        out
    }

    pub async fn blob(&self, container: &str, name: &str) -> StoredBlob {
        let url = format!("{}/{container}/{name}?{}", blob_endpoint(self.port), self.sas);
        let response = self.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {container}/{name}");
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let metadata = headers
            .iter()
            .filter_map(|(k, v)| {
                k.as_str()
                    .strip_prefix("x-ms-meta-")
                    .map(|k| (k.to_owned(), v.to_str().unwrap().to_owned()))
            })
            .collect();
        let tags_xml = self
            .http
            .get(format!(
                "{}/{container}/{name}?comp=tags&{}",
                blob_endpoint(self.port),
                self.sas
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let tags = xml_values(&tags_xml, "Key")
            .into_iter()
            .zip(xml_values(&tags_xml, "Value"))
            .collect();
        StoredBlob {
            name: name.to_owned(),
            record: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            bytes,
            content_type: headers
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            metadata,
            tags,
        }
    }
}

impl Storage {
    /// Creates the container if it does not exist yet.
    pub async fn create_container(&self, container: &str) {
        let url = format!(
            "{}/{container}?restype=container&{}",
            blob_endpoint(self.port),
            self.sas
        );
        let status = self.http.put(url).send().await.unwrap().status();
        assert!(
            status == 201 || status == 409,
            "PUT container {container}: {status}"
        );
    }

    /// Writes a blob as another writer would (Event Grid dead-lettering, an earlier version of the
    /// handler): overwriting, with exactly the metadata given.
    pub async fn put_blob(&self, container: &str, name: &str, bytes: &[u8], metadata: &[(&str, &str)]) {
        self.create_container(container).await;
        let url = format!("{}/{container}/{name}?{}", blob_endpoint(self.port), self.sas);
        let mut request = self
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-type", "application/json")
            .body(bytes.to_vec());
        for (key, value) in metadata {
            request = request.header(format!("x-ms-meta-{key}"), *value);
        }
        let status = request.send().await.unwrap().status();
        assert_eq!(status, 201, "PUT {container}/{name}");
    }
}

/// The text of every `<tag>…</tag>`, XML entities decoded (enough for listings and tag sets).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = vec![];
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let end = rest.find(&close).unwrap();
        out.push(
            rest[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[end..];
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// An SMS event with a fresh id, for tests that need many distinct events.
pub fn sms_event(id: &str, message: &str) -> Value {
    json!({
        "id": id,
        "topic": "/subscriptions/s/resourcegroups/rg/providers/microsoft.communication/communicationservices/acs",
        "subject": "/phonenumber/15555555555",
        "data": {"messageId": id, "from": "15555555555", "to": "15555555556", "message": message, "receivedTimestamp": "2024-05-01T12:00:00Z", "segmentCount": 1},
        "eventType": "Microsoft.Communication.SMSReceived",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": "2024-05-01T12:00:01.1234567Z"
    })
}
