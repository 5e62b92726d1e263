//! A real browser for pages the project writes: Debian's Chromium, driven by the pinned
//! playwright-core (tests/browser/check-page.mjs), with the flags of a closed network and a fresh
//! profile each time. Chromium is installed with apt-get when it is missing.

use crate::helpers::{node_modules, project_root, ToolsLock};
use serde::Deserialize;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

const CHROMIUM: &str = "/usr/bin/chromium";

/// What Chromium did with a page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageCheck {
    /// Console messages of type error, and uncaught exceptions.
    pub console_errors: Vec<String>,
    /// Every request other than the page's own file URL (refused, never sent).
    pub requests: Vec<String>,
    /// Each `figure.chart`, in page order.
    pub charts: Vec<ChartCheck>,
    /// Each `<section>` (by id) and its visible text.
    pub sections: Vec<SectionCheck>,
    /// `<svg>` elements anywhere in the page.
    pub svgs: usize,
    pub title: String,
    /// The page's visible text.
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartCheck {
    /// `data-chart`.
    pub id: String,
    pub svgs: usize,
    /// The distinct `data-row` values of the `.mark` elements in its svg, ascending.
    pub marks: Vec<usize>,
    /// How many `.mark` elements (a stacked bar has one per segment).
    pub mark_elements: usize,
    /// Rows of its table's body.
    pub rows: usize,
}

#[derive(Debug, Deserialize)]
pub struct SectionCheck {
    pub id: String,
    pub text: String,
}

/// Opens `html` in Chromium, waits for it to load, and writes a full-page screenshot (1280 pixels
/// wide) to `screenshot`.
pub fn check_page(html: &Path, screenshot: &Path) -> PageCheck {
    let chromium = ensure_chromium();
    node_modules();
    let profile = tempfile::tempdir().unwrap();
    let script = project_root().join("tests/browser/check-page.mjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(html)
        .arg(screenshot)
        .arg(chromium)
        .arg(profile.path())
        .output()
        .unwrap_or_else(|e| panic!("node could not be run ({e}): install Node.js"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stderr}",
        script.display(),
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no page check ({e}):\n{}\n{stderr}",
            script.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Debian's Chromium, installed with apt-get if it is missing (once per checkout at a time: two test
/// runs must not both run apt).
fn ensure_chromium() -> &'static Path {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if Path::new(CHROMIUM).exists() {
            return;
        }
        let _lock = ToolsLock::take("chromium");
        if Path::new(CHROMIUM).exists() {
            return;
        }
        // An install that fails for a missing or old package list is tried again after an update.
        // DejaVu, so that the page's text has a font even on a machine without any.
        let script = r#"set -u
if [ "$(id -u)" != 0 ]; then
  echo "not root: install it with 'apt-get install chromium' as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
install() { apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium fonts-dejavu-core; }
install || { apt-get -o DPkg::Lock::Timeout=300 update && install; }"#;
        let output = Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap_or_else(|e| panic!("bash could not be run to install Chromium: {e}"));
        assert!(
            output.status.success() && Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing and Debian's chromium package could not be installed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
    Path::new(CHROMIUM)
}
