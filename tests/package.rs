//! `scripts/package.sh` makes a zip the Functions host can run: exactly the app's files, an executable
//! `handler`, and a binary that loads on the glibc of the Functions images. The script installs its own
//! tools; the first run builds the release binary (a few minutes on 2 cores), later runs reuse it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Package {
    zip: PathBuf,
    /// Entry name → unix mode.
    entries: BTreeMap<String, u32>,
    /// `handler` as unpacked from the zip, with the zip's mode.
    handler: PathBuf,
}

/// Runs the script once for all tests of this file, into a folder of its own under cargo's target dir
/// so that `dist/` is left as the developer had it.
fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        // One folder per test process: two `cargo test` runs at once must not share it.
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("package-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let zip = out.join("acs-event-archive.zip");
        let run = Command::new("bash")
            .arg(repo().join("scripts/package.sh"))
            .env("PACKAGE_OUT", &zip)
            .output()
            .expect("bash runs");
        assert!(
            run.status.success(),
            "scripts/package.sh failed ({}):\n{}\n{}",
            run.status,
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );

        // Unpacked with Python's zipfile, an independent reader, setting each file's mode as stored.
        let unpacked = out.join("unpacked");
        let listing = python(&[
            "import json, os, sys, zipfile\n\
             entries = {}\n\
             with zipfile.ZipFile(sys.argv[1]) as z:\n\
             \x20   for info in z.infolist():\n\
             \x20       mode = (info.external_attr >> 16) & 0o7777\n\
             \x20       entries[info.filename] = mode\n\
             \x20       os.chmod(z.extract(info, sys.argv[2]), mode)\n\
             print(json.dumps(entries))",
            zip.to_str().unwrap(),
            unpacked.to_str().unwrap(),
        ]);
        let entries: BTreeMap<String, u32> = serde_json::from_str(&listing).expect("the listing is JSON");
        Package {
            zip,
            entries,
            handler: unpacked.join("handler"),
        }
    })
}

fn python(args: &[&str]) -> String {
    let run = Command::new("python3")
        .arg("-c")
        .args(args)
        .output()
        .expect("python3 is installed (scripts/package.sh needs it too)");
    assert!(
        run.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap()
}

/// The dynamic symbol table, from objdump or else readelf (both binutils).
fn dynamic_symbols(binary: &Path) -> String {
    for (tool, args) in [
        ("objdump", &["-T"][..]),
        ("readelf", &["--dyn-syms", "--wide"][..]),
    ] {
        if let Ok(run) = Command::new(tool).args(args).arg(binary).output() {
            assert!(
                run.status.success(),
                "{tool}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            return String::from_utf8(run.stdout).unwrap();
        }
    }
    panic!("neither objdump nor readelf is installed: install binutils (Debian: apt-get install binutils)")
}

/// The `GLIBC_x.y[.z]` versions the symbols need, as numbers.
fn glibc_versions(symbols: &str) -> Vec<Vec<u32>> {
    symbols
        .match_indices("GLIBC_")
        .filter_map(|(at, _)| {
            let version = symbols[at + "GLIBC_".len()..]
                .split(|c: char| !c.is_ascii_digit() && c != '.')
                .next()?
                .trim_end_matches('.');
            // GLIBC_PRIVATE and the like are no version.
            version
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<u32>>>()
        })
        .collect()
}

#[test]
fn packaged_zip_holds_only_the_app_and_an_executable_handler() {
    let package = package();
    let mut expected = BTreeMap::from([("host.json".to_owned(), 0o644), ("handler".to_owned(), 0o755)]);
    for entry in std::fs::read_dir(repo()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("function.json").is_file() {
            let name = dir.file_name().unwrap().to_str().unwrap();
            expected.insert(format!("{name}/function.json"), 0o644);
        }
    }
    assert!(
        expected.len() >= 5,
        "the repository has its function folders: {expected:?}"
    );
    assert_eq!(package.entries, expected, "{}", package.zip.display());

    // The app files are the repository's, byte for byte.
    for name in expected.keys().filter(|n| n.ends_with(".json")) {
        let packed = std::fs::read(package.handler.with_file_name(name)).unwrap();
        assert_eq!(packed, std::fs::read(repo().join(name)).unwrap(), "{name}");
    }
}

#[test]
fn packaged_handler_is_an_x86_64_linux_binary_that_needs_no_glibc_newer_than_2_28() {
    let handler = &package().handler;
    let header = Command::new("readelf")
        .arg("-h")
        .arg(handler)
        .output()
        .map(|o| o.stdout);
    if let Ok(header) = header {
        let header = String::from_utf8(header).unwrap();
        assert!(header.contains("Advanced Micro Devices X86-64"), "{header}");
        assert!(
            header.contains("UNIX - System V") || header.contains("UNIX - GNU"),
            "{header}"
        );
    }
    let versions = glibc_versions(&dynamic_symbols(handler));
    let highest = versions
        .iter()
        .max()
        .expect("the handler links glibc dynamically");
    assert!(
        highest <= &vec![2, 28],
        "the packaged handler needs GLIBC_{}: the Functions images are only held to 2.28",
        highest.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
    );
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn packaged_handler_starts_from_the_unpacked_zip_and_answers_the_host_s_readiness_probe() {
    let handler = &package().handler;
    // Port 0: the handler takes a free port and names it in its ready line.
    let child = Command::new(handler)
        .current_dir(handler.parent().unwrap())
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        // Start-up does no storage I/O, so nothing needs to listen here.
        .env("ARCHIVE_STORAGE", "UseDevelopmentStorage=true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the unpacked handler is executable");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.contains("handler ready"));
    let Some(ready) = ready else {
        let mut stderr = String::new();
        let _ = running.0.stderr.take().unwrap().read_to_string(&mut stderr);
        panic!("the packaged handler exited before it was ready: {stderr}");
    };
    let port: u16 = ready
        .split("port=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in the ready line: {ready}"));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the ready handler listens");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
