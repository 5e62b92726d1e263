//! The report as one self-contained HTML page: a header with the window, then a section per family
//! (SMS, WhatsApp, chat), each figure an SVG chart with the table of its numbers beside it.
//!
//! Self-contained so that it opens offline and can be mailed: the CSS is inline, and there is no
//! script, font, image or link to anywhere else. Every text from the summary is escaped, since
//! failure details, error messages, key phrases and intents come from customers and channels. The
//! page adds no identifier of its own: it shows what the summary holds (hashed unless identifiers
//! were asked for). A section or chart with nothing counted says "no events" instead of drawing
//! empty axes.

mod chart;
mod html;

use super::summary::{
    AdvancedMessaging, Analysis, Chat, Identifiers, MessagingDay, Sms, SourceKind, Summary,
};
use chart::{Chart, Series, BLUE, GREEN, ORANGE, PALETTE, PURPLE, SKY, VERMILLION};
use html::{count, decimal, esc, percent, share};
use plotters::style::RGBColor;
use std::fmt::Write as _;

const STYLE: &str = include_str!("page/page.css");
const TITLE: &str = "ACS event archive report";

/// The whole page.
pub fn render(summary: &Summary) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let window = format!("{} to {}", summary.window.from, summary.window.to);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(TITLE),
        esc(&window)
    );
    header(&mut page, summary);
    sms(&mut page, &summary.sms);
    advanced_messaging(&mut page, &summary.advanced_messaging);
    chat(&mut page, &summary.chat);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn header(page: &mut String, summary: &Summary) {
    let identifiers = match summary.identifiers {
        Identifiers::Hashed => "hashed: threads are shown by a hash, numbers in texts as [number]",
        Identifiers::Shown => "shown (--show-identifiers): this page holds real identifiers",
    };
    let _ = write!(
        page,
        "<header>\n<h1>{}</h1>\n<dl class=\"facts\">\n\
         <dt>Window</dt><dd><time>{}</time> to <time>{}</time> <span class=\"note\">(UTC, the end excluded)</span></dd>\n\
         <dt>Generated</dt><dd><time>{}</time></dd>\n<dt>Identifiers</dt><dd>{}</dd>\n</dl>\n",
        esc(TITLE),
        esc(&summary.window.from),
        esc(&summary.window.to),
        esc(&summary.generated_at),
        esc(identifiers)
    );
    if summary.identifiers == Identifiers::Shown {
        page.push_str("<p class=\"warning\">Identifiers are shown: do not forward this page.</p>\n");
    }
    page.push_str("<h2 class=\"sources\">Where the hours were read from</h2>\n");
    if summary.sources.is_empty() {
        page.push_str("<p class=\"empty\">no hours read</p>\n");
    } else {
        let rows = summary
            .sources
            .iter()
            .map(|s| {
                let read = match s.read {
                    SourceKind::Parquet => "Parquet files already there",
                    SourceKind::Compacted => "compacted by this report, then its Parquet",
                    SourceKind::Records => "the open hour's records",
                };
                vec![
                    Cell::text(&s.from),
                    Cell::text(&s.to),
                    Cell::text(read),
                    Cell::num(s.rows),
                ]
            })
            .collect();
        let table = Table {
            head: vec![col("From"), col("To"), col("Read from"), num_col("Rows")],
            rows,
        };
        page.push_str("<div class=\"sources\">");
        table.write(page);
        page.push_str("</div>\n");
    }
    page.push_str("</header>\n");
}

/// A table column's heading; numbers are right-aligned.
struct Col {
    name: String,
    numeric: bool,
}

fn col(name: &str) -> Col {
    Col {
        name: name.to_owned(),
        numeric: false,
    }
}

fn num_col(name: &str) -> Col {
    Col {
        name: name.to_owned(),
        numeric: true,
    }
}

enum Cell {
    Text(String),
    Num(String),
}

impl Cell {
    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    fn num(n: u64) -> Cell {
        Cell::Num(count(n))
    }
}

struct Table {
    head: Vec<Col>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    fn write(&self, page: &mut String) {
        page.push_str("<table>\n<thead><tr>");
        for col in &self.head {
            let class = if col.numeric { " class=\"n\"" } else { "" };
            let _ = write!(page, "<th{class}>{}</th>", esc(&col.name));
        }
        page.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            page.push_str("<tr>");
            for cell in row {
                let _ = match cell {
                    Cell::Text(t) => write!(page, "<td>{}</td>", esc(t)),
                    Cell::Num(n) => write!(page, "<td class=\"n\">{}</td>", esc(n)),
                };
            }
            page.push_str("</tr>\n");
        }
        page.push_str("</tbody>\n</table>\n");
    }
}

/// A chart and its table, one table row per row of the chart.
struct Figure {
    /// Stable: `data-chart`, for tests and scripts.
    id: &'static str,
    title: &'static str,
    chart: Chart,
    table: Table,
}

impl Figure {
    fn write(&self, page: &mut String) {
        debug_assert_eq!(self.chart.rows(), self.table.rows.len(), "chart {}", self.id);
        if self.chart.rows() == 0 {
            let _ = write!(
                page,
                "<div class=\"chart-empty\" data-chart=\"{}\">\n<h3>{}</h3>\n<p class=\"empty\">no events</p>\n</div>\n",
                self.id,
                esc(self.title)
            );
            return;
        }
        let _ = write!(
            page,
            "<figure class=\"chart\" data-chart=\"{}\">\n<figcaption>{}</figcaption>\n<div class=\"pair\">\n<div class=\"plot\">\n",
            self.id,
            esc(self.title)
        );
        match chart::svg(&self.chart) {
            Ok(svg) => page.push_str(&svg),
            Err(e) => {
                let _ = writeln!(
                    page,
                    "<p class=\"warning\">The chart could not be drawn ({}): its table has the figures</p>",
                    esc(&e)
                );
            }
        }
        legend(page, &self.chart);
        page.push_str("</div>\n<div class=\"data\">\n");
        self.table.write(page);
        page.push_str("</div>\n</div>\n</figure>\n");
    }
}

/// The series' names and colours, for charts of more than one series.
fn legend(page: &mut String, chart: &Chart) {
    let series = match chart {
        Chart::StackedDays { series, .. } | Chart::LineDays { series, .. } if series.len() > 1 => series,
        _ => return,
    };
    page.push_str("<ul class=\"legend\">");
    for s in series {
        let RGBColor(r, g, b) = s.colour;
        let _ = write!(
            page,
            "<li><i style=\"background:#{r:02X}{g:02X}{b:02X}\"></i>{}</li>",
            esc(&s.name)
        );
    }
    page.push_str("</ul>\n");
}

fn section_start(page: &mut String, id: &str, title: &str) {
    let _ = writeln!(page, "<section id=\"{id}\">\n<h2>{}</h2>", esc(title));
}

fn no_events(page: &mut String) {
    page.push_str("<p class=\"empty\">no events</p>\n</section>\n");
}

fn totals(page: &mut String, items: &[(&str, String)]) {
    page.push_str("<ul class=\"totals\">\n");
    for (name, value) in items {
        let _ = writeln!(
            page,
            "<li><span class=\"v\">{}</span><span class=\"k\">{}</span></li>",
            esc(value),
            esc(name)
        );
    }
    page.push_str("</ul>\n");
}

/// The colour of a delivery status, the same in every chart: delivered green, failed vermillion,
/// the others in the palette's order.
fn status_colour(status: &str, others: &mut usize) -> RGBColor {
    const OTHERS: [RGBColor; 5] = [BLUE, ORANGE, PURPLE, SKY, PALETTE[6]];
    match status.to_ascii_lowercase().as_str() {
        "delivered" => GREEN,
        "failed" => VERMILLION,
        _ => {
            *others += 1;
            OTHERS[(*others - 1) % OTHERS.len()]
        }
    }
}

/// Counts by name, most first, then by name.
fn by_count<'a>(counts: impl IntoIterator<Item = (&'a String, &'a u64)>) -> Vec<(&'a str, u64)> {
    let mut out: Vec<(&str, u64)> = counts.into_iter().map(|(k, v)| (k.as_str(), *v)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out
}

/// A one-colour bar chart of texts and counts, with its two-column table.
fn counted(id: &'static str, title: &'static str, head: &str, unit: &str, rows: &[(String, u64)]) -> Figure {
    Figure {
        id,
        title,
        chart: Chart::Bars {
            labels: rows.iter().map(|r| r.0.clone()).collect(),
            values: rows.iter().map(|r| r.1).collect(),
            colours: vec![BLUE; rows.len()],
        },
        table: Table {
            head: vec![col(head), num_col(unit)],
            rows: rows
                .iter()
                .map(|(t, n)| vec![Cell::text(t), Cell::num(*n)])
                .collect(),
        },
    }
}

/// A per-day chart of several series, and its table: the day, then a column per series.
fn days_figure(
    id: &'static str,
    title: &'static str,
    days: Vec<String>,
    series: Vec<Series>,
    stacked: bool,
) -> Figure {
    let mut head = vec![col("Day")];
    head.extend(series.iter().map(|s| num_col(&s.name)));
    let rows = days
        .iter()
        .enumerate()
        .map(|(d, day)| {
            let mut row = vec![Cell::text(day)];
            row.extend(series.iter().map(|s| Cell::num(s.values[d])));
            row
        })
        .collect();
    let chart = if stacked {
        Chart::StackedDays { days, series }
    } else {
        Chart::LineDays { days, series }
    };
    Figure {
        id,
        title,
        chart,
        table: Table { head, rows },
    }
}

fn sms(page: &mut String, sms: &Sms) {
    section_start(page, "sms", "SMS");
    if *sms == Sms::default() {
        return no_events(page);
    }
    totals(
        page,
        &[
            ("received", count(sms.received)),
            ("delivery reports", count(sms.delivery_reports)),
            ("messages reported on", count(sms.messages)),
            ("delivered", percent(sms.delivery_rate)),
        ],
    );

    let statuses = by_count(&sms.by_status);
    let mut others = 0;
    let colours: Vec<RGBColor> = statuses
        .iter()
        .map(|(s, _)| status_colour(s, &mut others))
        .collect();
    Figure {
        id: "sms-status",
        title: "Messages by the status of their latest report",
        chart: Chart::Bars {
            labels: statuses.iter().map(|s| s.0.to_owned()).collect(),
            values: statuses.iter().map(|s| s.1).collect(),
            colours,
        },
        table: Table {
            head: vec![col("Status"), num_col("Messages"), num_col("Share")],
            rows: statuses
                .iter()
                .map(|(s, n)| vec![Cell::text(s), Cell::num(*n), Cell::Num(share(*n, sms.messages))])
                .collect(),
        },
    }
    .write(page);

    let failures: Vec<(String, u64)> = sms
        .failure_details
        .iter()
        .map(|c| (c.text.clone(), c.count))
        .collect();
    counted(
        "sms-failures",
        "Failed messages by failure detail",
        "Detail",
        "Messages",
        &failures,
    )
    .write(page);

    // A series per status, in the status chart's order and colours; then any status seen only in
    // reports that are not the latest of their message.
    let mut names: Vec<&str> = statuses.iter().map(|s| s.0).collect();
    for day in &sms.per_day {
        for status in day.by_status.keys() {
            if !names.contains(&status.as_str()) {
                names.push(status);
            }
        }
    }
    let mut others = 0;
    let series = names
        .iter()
        .map(|name| Series {
            name: (*name).to_owned(),
            colour: status_colour(name, &mut others),
            values: sms
                .per_day
                .iter()
                .map(|d| d.by_status.get(*name).copied().unwrap_or(0))
                .collect(),
        })
        .collect();
    let days = sms.per_day.iter().map(|d| d.date.clone()).collect();
    days_figure(
        "sms-per-day",
        "Delivery reports per day, by status",
        days,
        series,
        true,
    )
    .write(page);
    page.push_str("</section>\n");
}

fn advanced_messaging(page: &mut String, am: &AdvancedMessaging) {
    section_start(page, "advanced-messaging", "WhatsApp (advanced messaging)");
    if *am == AdvancedMessaging::default() {
        return no_events(page);
    }
    totals(
        page,
        &[
            ("inbound messages", count(am.received)),
            ("outbound messages", count(am.outbound)),
            ("delivered", share(am.reached.delivered, am.outbound)),
            ("read", share(am.reached.read, am.outbound)),
            ("failed", count(am.failed)),
            ("analysed", count(am.analysis.analysed)),
        ],
    );

    let types: Vec<(String, u64)> = by_count(&am.received_by_type)
        .into_iter()
        .map(|(t, n)| (t.to_owned(), n))
        .collect();
    counted(
        "am-received-types",
        "Inbound messages by type",
        "Type",
        "Messages",
        &types,
    )
    .write(page);

    let funnel = [
        ("sent", am.reached.sent, BLUE),
        ("delivered", am.reached.delivered, GREEN),
        ("read", am.reached.read, SKY),
        ("failed", am.failed, VERMILLION),
    ];
    let funnel = if am.outbound == 0 {
        &funnel[..0]
    } else {
        &funnel[..]
    };
    Figure {
        id: "am-funnel",
        title: "Outbound messages: how far they got",
        chart: Chart::Bars {
            labels: funnel.iter().map(|f| f.0.to_owned()).collect(),
            values: funnel.iter().map(|f| f.1).collect(),
            colours: funnel.iter().map(|f| f.2).collect(),
        },
        table: Table {
            head: vec![col("Reached"), num_col("Messages"), num_col("Of outbound")],
            rows: funnel
                .iter()
                .map(|(name, n, _)| vec![Cell::text(name), Cell::num(*n), Cell::Num(share(*n, am.outbound))])
                .collect(),
        },
    }
    .write(page);

    let no_code = "(no code)";
    Figure {
        id: "am-errors",
        title: "Failed messages by channel error",
        chart: Chart::Bars {
            labels: am
                .errors
                .iter()
                .map(|e| e.channel_code.as_deref().unwrap_or(no_code).to_owned())
                .collect(),
            values: am.errors.iter().map(|e| e.messages).collect(),
            colours: vec![VERMILLION; am.errors.len()],
        },
        table: Table {
            head: vec![col("Channel code"), col("Channel message"), num_col("Messages")],
            rows: am
                .errors
                .iter()
                .map(|e| {
                    vec![
                        Cell::text(e.channel_code.as_deref().unwrap_or(no_code)),
                        Cell::text(e.channel_message.as_deref().unwrap_or("—")),
                        Cell::num(e.messages),
                    ]
                })
                .collect(),
        },
    }
    .write(page);

    let day_series = |name: &str, colour, value: fn(&MessagingDay) -> u64| Series {
        name: name.to_owned(),
        colour,
        values: am.per_day.iter().map(value).collect(),
    };
    let series = vec![
        day_series("inbound", ORANGE, |d| d.inbound),
        day_series("sent", BLUE, |d| d.sent),
        day_series("delivered", GREEN, |d| d.delivered),
        day_series("read", SKY, |d| d.read),
        day_series("failed", VERMILLION, |d| d.failed),
    ];
    let days = am.per_day.iter().map(|d| d.date.clone()).collect();
    days_figure(
        "am-per-day",
        "Inbound messages and outbound funnel per day",
        days,
        series,
        false,
    )
    .write(page);

    analysis(page, &am.analysis);
    page.push_str("</section>\n");
}

fn analysis(page: &mut String, analysis: &Analysis) {
    page.push_str("<h3 class=\"sub\">Analysis of inbound messages</h3>\n");
    if *analysis == Analysis::default() {
        page.push_str("<p class=\"empty\">no events</p>\n");
        return;
    }
    let languages = &analysis.languages;
    Figure {
        id: "am-languages",
        title: "Detected languages",
        chart: Chart::Bars {
            labels: languages.iter().map(|l| l.language.clone()).collect(),
            values: languages.iter().map(|l| l.events).collect(),
            colours: vec![PURPLE; languages.len()],
        },
        table: Table {
            head: vec![col("Language"), num_col("Events"), num_col("Mean confidence")],
            rows: languages
                .iter()
                .map(|l| {
                    vec![
                        Cell::text(&l.language),
                        Cell::num(l.events),
                        Cell::Num(decimal(l.mean_confidence)),
                    ]
                })
                .collect(),
        },
    }
    .write(page);

    let phrases: Vec<(String, u64)> = analysis
        .key_phrases
        .iter()
        .map(|c| (c.text.clone(), c.count))
        .collect();
    counted("am-key-phrases", "Key phrases", "Key phrase", "Events", &phrases).write(page);
    let intents: Vec<(String, u64)> = analysis
        .intents
        .iter()
        .map(|c| (c.text.clone(), c.count))
        .collect();
    counted("am-intents", "Intents", "Intent", "Events", &intents).write(page);

    let sentiment = &analysis.sentiment;
    Figure {
        id: "am-sentiment",
        title: "Sentiment",
        chart: Chart::Bars {
            labels: sentiment.iter().map(|s| s.description.clone()).collect(),
            values: sentiment.iter().map(|s| s.events).collect(),
            colours: vec![SKY; sentiment.len()],
        },
        table: Table {
            head: vec![col("Sentiment"), num_col("Events"), num_col("Mean score")],
            rows: sentiment
                .iter()
                .map(|s| {
                    vec![
                        Cell::text(&s.description),
                        Cell::num(s.events),
                        Cell::Num(decimal(s.mean_score)),
                    ]
                })
                .collect(),
        },
    }
    .write(page);
}

fn chat(page: &mut String, chat: &Chat) {
    section_start(page, "chat", "Chat");
    if *chat == Chat::default() {
        return no_events(page);
    }
    totals(
        page,
        &[
            ("messages", count(chat.messages)),
            ("threads", count(chat.threads)),
            ("edited", count(chat.edited)),
            ("deleted", count(chat.deleted)),
            ("participants added", count(chat.participants_added)),
            ("participants removed", count(chat.participants_removed)),
        ],
    );
    let series = vec![Series {
        name: "Messages".to_owned(),
        colour: BLUE,
        values: chat.per_day.iter().map(|d| d.messages).collect(),
    }];
    let days = chat.per_day.iter().map(|d| d.date.clone()).collect();
    days_figure("chat-per-day", "Messages per day", days, series, true).write(page);
    let threads: Vec<(String, u64)> = chat
        .busiest_threads
        .iter()
        .map(|t| (t.thread.clone(), t.messages))
        .collect();
    counted("chat-threads", "Busiest threads", "Thread", "Messages", &threads).write(page);
    page.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{Counted, SmsDay, Window, REPORT_VERSION};
    use std::collections::BTreeSet;

    fn fixture() -> Summary {
        serde_json::from_str(include_str!("../../tests/fixtures/report/summary.json")).unwrap()
    }

    fn empty() -> Summary {
        Summary {
            report_version: REPORT_VERSION,
            window: Window {
                from: "2024-05-01T00:00:00Z".into(),
                to: "2024-05-02T00:00:00Z".into(),
            },
            generated_at: "2024-05-02T00:05:00Z".into(),
            identifiers: Identifiers::Hashed,
            sources: vec![],
            sms: Sms::default(),
            advanced_messaging: AdvancedMessaging::default(),
            chat: Chat::default(),
        }
    }

    /// The text between `start` and the next `end`, for each `start`.
    fn pieces<'a>(page: &'a str, start: &str, end: &str) -> Vec<&'a str> {
        page.split(start)
            .skip(1)
            .map(|rest| &rest[..rest.find(end).unwrap()])
            .collect()
    }

    /// Each chart's id, the distinct rows of its marks, its mark elements and its table rows.
    fn charts(page: &str) -> Vec<(String, BTreeSet<usize>, usize, usize)> {
        pieces(page, "<figure class=\"chart\" data-chart=\"", "</figure>")
            .into_iter()
            .map(|figure| {
                let id = figure[..figure.find('"').unwrap()].to_owned();
                let svg = pieces(figure, "<svg", "</svg>").concat();
                let marks: Vec<usize> = pieces(&svg, "class=\"mark\" data-row=\"", "\"")
                    .iter()
                    .map(|r| r.parse().unwrap())
                    .collect();
                let rows = pieces(figure, "<tbody>", "</tbody>")
                    .concat()
                    .matches("<tr>")
                    .count();
                (id, marks.iter().copied().collect(), marks.len(), rows)
            })
            .collect()
    }

    #[test]
    fn the_fixture_is_a_summary_with_every_section_filled() {
        let summary = fixture();
        assert!(summary.sms.per_day.len() > 7);
        assert!(!summary.sms.failure_details.is_empty());
        assert!(!summary.advanced_messaging.errors.is_empty());
        assert!(!summary.advanced_messaging.analysis.languages.is_empty());
        assert!(!summary.chat.busiest_threads.is_empty());
    }

    #[test]
    fn every_chart_has_a_mark_for_each_table_row_and_no_other() {
        let charts = charts(&render(&fixture()));
        assert!(charts.len() >= 10, "{} charts", charts.len());
        for (id, marks, elements, rows) in charts {
            assert!(rows > 0, "{id}");
            assert_eq!(marks, (0..rows).collect(), "{id}: the rows of its marks");
            assert!(elements >= rows, "{id}");
        }
    }

    #[test]
    fn texts_from_the_summary_are_escaped() {
        let mut summary = fixture();
        summary.advanced_messaging.analysis.key_phrases = vec![Counted {
            text: "<script>alert(\"x\")</script>".into(),
            count: 3,
        }];
        summary.sms.failure_details = vec![Counted {
            text: "a & b <img src=x>".into(),
            count: 1,
        }];
        let page = render(&summary);
        assert!(!page.contains("<script"), "a script tag got through");
        assert!(!page.contains("<img"), "an img tag got through");
        assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
        assert!(page.contains("a &amp; b &lt;img src=x&gt;"));
    }

    #[test]
    fn an_empty_summary_says_no_events_in_every_section_and_draws_no_chart() {
        let page = render(&empty());
        for id in ["sms", "advanced-messaging", "chat"] {
            let section = pieces(&page, &format!("<section id=\"{id}\">"), "</section>").concat();
            assert!(section.contains("no events"), "{id}: {section}");
        }
        assert!(!page.contains("<svg"));
        assert!(!page.contains("<figure"));
    }

    #[test]
    fn an_empty_chart_in_a_filled_section_says_no_events() {
        let mut summary = fixture();
        summary.sms.failure_details.clear();
        let page = render(&summary);
        let empty = pieces(
            &page,
            "<div class=\"chart-empty\" data-chart=\"sms-failures\">",
            "</div>",
        )
        .concat();
        assert!(empty.contains("no events"), "{page}");
        assert!(!charts(&page).iter().any(|c| c.0 == "sms-failures"));
    }

    #[test]
    fn the_page_refers_to_nothing_outside_itself() {
        let page = render(&fixture());
        for reference in [
            "src=", "href=", "url(", "@import", "<script", "<link", "<img", "<iframe",
        ] {
            assert!(!page.contains(reference), "{reference}");
        }
        // The SVG namespace is a name, not a request.
        let without_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_namespace.contains("http://") && !without_namespace.contains("https://"));
        assert!(!without_namespace.contains("//www."));
    }

    #[test]
    fn the_header_has_the_window_the_generation_time_and_the_sources() {
        let page = render(&fixture());
        let header = pieces(&page, "<header>", "</header>").concat();
        for text in [
            "2024-05-01T00:00:00Z",
            "2024-05-15T00:00:00Z",
            "2024-05-14T16:42:07Z",
            "hashed",
            "the open hour",
        ] {
            assert!(header.contains(text), "{text}");
        }
    }

    #[test]
    fn a_month_of_data_stays_a_few_hundred_kilobytes() {
        let mut summary = fixture();
        let day = summary.sms.per_day[0].clone();
        summary.sms.per_day = (1..=31)
            .map(|d| SmsDay {
                date: format!("2024-05-{d:02}"),
                ..day.clone()
            })
            .collect();
        let am_day = summary.advanced_messaging.per_day[0].clone();
        summary.advanced_messaging.per_day = (1..=31)
            .map(|d| MessagingDay {
                date: format!("2024-05-{d:02}"),
                ..am_day.clone()
            })
            .collect();
        let page = render(&summary);
        assert!(page.len() < 300_000, "{} bytes", page.len());
    }
}
