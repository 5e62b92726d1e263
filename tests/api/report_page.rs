//! The report page in a real browser (Chromium, offline): it loads with no error and no request,
//! every chart has a mark for each row of the table beside it, and a report of nothing says "no
//! events" instead of drawing empty axes.

use crate::browser::check_page;
use crate::helpers::project_root;
use acs_event_archive::report::page::render;
use acs_event_archive::report::summary::{
    AdvancedMessaging, Chat, Identifiers, Sms, Summary, Window, REPORT_VERSION,
};
use std::path::{Path, PathBuf};

fn fixture_summary() -> Summary {
    let path = project_root().join("tests/fixtures/report/summary.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not a Summary: {e}", path.display()))
}

fn empty_summary() -> Summary {
    Summary {
        report_version: REPORT_VERSION,
        window: Window {
            from: "2024-06-01T00:00:00Z".into(),
            to: "2024-06-02T00:00:00Z".into(),
        },
        generated_at: "2024-06-02T00:10:00Z".into(),
        identifiers: Identifiers::Hashed,
        sources: vec![],
        sms: Sms::default(),
        advanced_messaging: AdvancedMessaging::default(),
        chat: Chat::default(),
    }
}

/// The width and height in a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn no_strings() -> Vec<String> {
    Vec::new()
}

#[test]
fn report_page_loads_offline_with_a_mark_for_every_table_row() {
    let summary = fixture_summary();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    std::fs::write(&html, render(&summary)).unwrap();
    // `REPORT_SCREENSHOT=docs/report.png` keeps the screenshot that README shows.
    let screenshot = std::env::var_os("REPORT_SCREENSHOT")
        .map(|p| project_root().join(PathBuf::from(p)))
        .unwrap_or_else(|| dir.path().join("report.png"));

    let check = check_page(&html, &screenshot);

    assert_eq!(check.console_errors, no_strings());
    assert_eq!(check.requests, no_strings());
    assert!(
        check.charts.len() >= 10,
        "{} charts: {:?}",
        check.charts.len(),
        check.charts
    );
    for chart in &check.charts {
        assert!(chart.rows > 0, "{}: an empty table", chart.id);
        assert_eq!(chart.svgs, 1, "{}", chart.id);
        assert_eq!(
            chart.marks,
            (0..chart.rows).collect::<Vec<_>>(),
            "{}: rows with a mark",
            chart.id
        );
        assert!(chart.mark_elements >= chart.rows, "{}", chart.id);
    }
    for text in [&summary.window.from, &summary.window.to] {
        assert!(
            check.title.contains(text.as_str()),
            "title {:?} lacks {text}",
            check.title
        );
    }
    for text in [&summary.window.from, &summary.window.to, &summary.generated_at] {
        assert!(
            check.text.contains(text.as_str()),
            "the page does not show {text}"
        );
    }
    // A key phrase with markup in it (customers type anything) shows as text.
    assert!(check.text.contains("<script>alert(1)</script>"));
    let (width, height) = png_size(&screenshot);
    assert!(width == 1280 && height > 900, "screenshot {width}x{height}");
}

#[test]
fn an_empty_report_page_says_no_events_in_every_section_and_draws_no_chart() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    std::fs::write(&html, render(&empty_summary())).unwrap();

    let check = check_page(&html, &dir.path().join("report.png"));

    assert_eq!(check.console_errors, no_strings());
    assert_eq!(check.requests, no_strings());
    let ids: Vec<&str> = check.sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["sms", "advanced-messaging", "chat"]);
    for section in &check.sections {
        assert!(
            section.text.contains("no events"),
            "{}: {:?}",
            section.id,
            section.text
        );
    }
    assert_eq!(check.svgs, 0);
    assert!(check.charts.is_empty(), "{:?}", check.charts);
}
