//! The charts, drawn by plotters' SVG backend, and the tagging of their data marks.
//!
//! The page's tests (and any reader's script) find each drawn value as an element with
//! `class="mark"` and `data-row` naming its table row. Plotters writes no attributes of ours, so the
//! marks are recognised afterwards by their colour: data marks, and only they, are filled with a
//! colour of [`PALETTE`] (axes, grid and labels are greys, and there is no plotters legend), and
//! plotters writes elements in the order they were drawn, so the n-th palette-filled `<rect>` or
//! `<circle>` is the n-th mark drawn, whose row was recorded when it was drawn.

use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordu64, RangedCoordusize};
use plotters::prelude::*;

/// Okabe and Ito's colour-blind-safe palette, without its black (text is near-black).
pub const PALETTE: [RGBColor; 7] = [BLUE, ORANGE, GREEN, SKY, VERMILLION, PURPLE, YELLOW];
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
pub const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);

const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);
const AXIS: RGBColor = RGBColor(0x76, 0x76, 0x76);
const GRID: RGBColor = RGBColor(0xE3, 0xE3, 0xE3);
const FONT: &str = "sans-serif";

const WIDTH: u32 = 640;
const DAYS_HEIGHT: u32 = 280;
const BAR_PITCH: u32 = 26;
/// Category labels longer than this are cut in the chart; the table beside it has them whole.
const LABEL_CHARS: usize = 28;

/// One named series of values, one value per row.
pub struct Series {
    pub name: String,
    pub colour: RGBColor,
    pub values: Vec<u64>,
}

pub enum Chart {
    /// One horizontal bar per row, labelled on the left, in the rows' order from the top.
    Bars {
        labels: Vec<String>,
        values: Vec<u64>,
        colours: Vec<RGBColor>,
    },
    /// One column per day (row), its series stacked in their order from the axis up.
    StackedDays { days: Vec<String>, series: Vec<Series> },
    /// One line per series with a point per day (row).
    LineDays { days: Vec<String>, series: Vec<Series> },
}

impl Chart {
    pub fn rows(&self) -> usize {
        match self {
            Chart::Bars { labels, .. } => labels.len(),
            Chart::StackedDays { days, .. } | Chart::LineDays { days, .. } => days.len(),
        }
    }
}

type Drawn = Result<Vec<usize>, Box<dyn std::error::Error>>;

/// The chart as an `<svg>` element with its marks tagged, or why it could not be drawn.
pub fn svg(chart: &Chart) -> Result<String, String> {
    if chart.rows() == 0 {
        return Err("no rows to draw".to_owned());
    }
    let mut out = String::new();
    let drawn = match chart {
        Chart::Bars {
            labels,
            values,
            colours,
        } => draw_bars(&mut out, labels, values, colours),
        Chart::StackedDays { days, series } => draw_stacked_days(&mut out, days, series),
        Chart::LineDays { days, series } => draw_line_days(&mut out, days, series),
    };
    let rows = drawn.map_err(|e| e.to_string())?;
    tag_marks(&out, &rows)
}

fn label_style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&TEXT)
}

/// The top of a value axis: room above the highest value, and never an empty range.
fn axis_top(max: u64) -> u64 {
    (max + max / 10 + 1).max(2)
}

/// A label cut to [`LABEL_CHARS`] characters (plotters escapes what it writes).
fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_owned();
    }
    let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
    format!("{cut}…")
}

/// `MM-DD` of a `YYYY-MM-DD` day: the year is in the table and the header.
fn short_day(day: &str) -> String {
    day.get(5..).unwrap_or(day).to_owned()
}

/// Pixels to leave between neighbouring bars of a band `band` pixels wide: none when bars are too
/// thin to spare any (a negative width would be an invalid SVG rect).
fn gap(band: f64) -> u32 {
    (band / 6.0).floor() as u32
}

/// The last value of an axis of `n` segments. One segment gets an axis of two: plotters maps a
/// one-value axis to no length, which would draw the only bar with no width (its last segment is
/// then left empty, and the bar reaches into it through [`far_edge`]).
fn last_index(n: usize) -> usize {
    n.max(2) - 1
}

/// The far edge of segment `i` of `n`: the next segment's start, or for the last one the axis end
/// (`Exact(n)` lies outside the axis, and with one segment the axis has no length to map it on).
fn far_edge(i: usize, n: usize) -> SegmentValue<usize> {
    if i + 1 >= n {
        SegmentValue::Last
    } else {
        SegmentValue::Exact(i + 1)
    }
}

fn draw_bars(out: &mut String, labels: &[String], values: &[u64], colours: &[RGBColor]) -> Drawn {
    let n = labels.len();
    let height = 40 + BAR_PITCH * n as u32;
    let longest = labels.iter().map(|l| short(l).chars().count()).max().unwrap_or(1);
    let root = SVGBackend::with_string(out, (WIDTH, height)).into_drawing_area();
    let top = axis_top(values.iter().copied().max().unwrap_or(0));
    // Row 0 at the top: the y axis counts upwards, so row i is segment n - 1 - i.
    let segment_of = |row: usize| n - 1 - row;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .margin_right(24)
        .x_label_area_size(28)
        .y_label_area_size((longest as u32 * 7 + 16).min(WIDTH / 2))
        .build_cartesian_2d(0u64..top, (0..last_index(n)).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(s) if *s < n => short(&labels[segment_of(*s)]),
            _ => String::new(),
        })
        .x_labels(6)
        .axis_style(AXIS)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .label_style(label_style(13))
        .draw()?;
    let band = chart.plotting_area().dim_in_pixel().1 as f64 / n as f64;
    let margin = gap(band);
    chart.draw_series((0..n).map(|row| {
        let s = segment_of(row);
        let mut bar = Rectangle::new(
            [(0, SegmentValue::Exact(s)), (values[row], far_edge(s, n))],
            colours[row].filled(),
        );
        bar.set_margin(margin, margin, 0, 0);
        bar
    }))?;
    root.present()?;
    Ok((0..n).collect())
}

type DayCoord = Cartesian2d<SegmentedCoord<RangedCoordusize>, RangedCoordu64>;

/// A per-day chart of values up to `max` on `root`, its axes drawn: a label for at most a dozen
/// days, so a month stays legible.
fn day_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    days: &[String],
    max: u64,
) -> Result<ChartContext<'a, SVGBackend<'b>, DayCoord>, DrawingAreaErrorKind<std::io::Error>> {
    let n = days.len();
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .margin_right(16)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d((0..last_index(n)).into_segmented(), 0u64..axis_top(max))?;
    let formatter = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(d) if *d < n => short_day(&days[*d]),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(12))
        .x_label_formatter(&formatter)
        .y_labels(6)
        .axis_style(AXIS)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .label_style(label_style(13))
        .draw()?;
    Ok(chart)
}

fn draw_stacked_days(out: &mut String, days: &[String], series: &[Series]) -> Drawn {
    let n = days.len();
    let totals: Vec<u64> = (0..n).map(|d| series.iter().map(|s| s.values[d]).sum()).collect();
    let root = SVGBackend::with_string(out, (WIDTH, DAYS_HEIGHT)).into_drawing_area();
    let mut chart = day_chart(&root, days, totals.iter().copied().max().unwrap_or(0))?;
    let margin = gap(chart.plotting_area().dim_in_pixel().0 as f64 / n as f64);
    let mut segments = Vec::new();
    let mut rows = Vec::new();
    for (day, total) in totals.iter().enumerate() {
        let mut base = 0;
        for s in series.iter().filter(|s| s.values[day] > 0) {
            segments.push((day, base, base + s.values[day], s.colour));
            base += s.values[day];
        }
        // A day of no reports still gets its (flat) mark: every table row has one.
        if *total == 0 {
            segments.push((day, 0, 0, series[0].colour));
        }
    }
    chart.draw_series(segments.iter().map(|&(day, from, to, colour)| {
        rows.push(day);
        let mut bar = Rectangle::new(
            [(SegmentValue::Exact(day), from), (far_edge(day, n), to)],
            colour.filled(),
        );
        bar.set_margin(0, 0, margin, margin);
        bar
    }))?;
    root.present()?;
    Ok(rows)
}

fn draw_line_days(out: &mut String, days: &[String], series: &[Series]) -> Drawn {
    let n = days.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let root = SVGBackend::with_string(out, (WIDTH, DAYS_HEIGHT)).into_drawing_area();
    let mut chart = day_chart(&root, days, max)?;
    let mut rows = Vec::new();
    for s in series {
        let points: Vec<_> = (0..n).map(|d| (SegmentValue::CenterOf(d), s.values[d])).collect();
        chart.draw_series(std::iter::once(PathElement::new(
            points,
            s.colour.stroke_width(2),
        )))?;
        chart.draw_series((0..n).map(|d| {
            rows.push(d);
            Circle::new((SegmentValue::CenterOf(d), s.values[d]), 3, s.colour.filled())
        }))?;
    }
    root.present()?;
    Ok(rows)
}

fn hex(colour: &RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
}

/// Tags the palette-filled `<rect>` and `<circle>` elements of plotters' output, in order, with the
/// rows recorded while drawing them; and gives the SVG its role for screen readers.
fn tag_marks(svg: &str, rows: &[usize]) -> Result<String, String> {
    let fills: Vec<String> = PALETTE.iter().map(|c| format!("fill=\"{}\"", hex(c))).collect();
    let mut out = String::with_capacity(svg.len() + rows.len() * 32);
    let mut next = rows.iter();
    for line in svg.lines() {
        // Plotters writes one element per line, and escapes every text it writes.
        let is_shape = line.starts_with("<rect ") || line.starts_with("<circle ");
        if is_shape && fills.iter().any(|f| line.contains(f.as_str())) {
            let row = next.next().ok_or("more palette-filled shapes than marks drawn")?;
            let (tag, rest) = line.split_once(' ').ok_or("an element without attributes")?;
            out.push_str(&format!("{tag} class=\"mark\" data-row=\"{row}\" {rest}\n"));
        } else if let Some(rest) = line.strip_prefix("<svg ") {
            out.push_str("<svg role=\"img\" ");
            out.push_str(rest);
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if next.next().is_some() {
        return Err("fewer palette-filled shapes than marks drawn".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("2024-05-{d:02}")).collect()
    }

    fn marks(svg: &str) -> Vec<usize> {
        svg.split("data-row=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect()
    }

    #[test]
    fn every_bar_is_a_mark_of_its_row() {
        let chart = Chart::Bars {
            labels: vec!["a".into(), "b".into(), "c".into()],
            values: vec![5, 0, 2],
            colours: vec![BLUE; 3],
        };
        assert_eq!(marks(&svg(&chart).unwrap()), vec![0, 1, 2]);
    }

    #[test]
    fn the_segments_of_a_stacked_day_share_its_row_and_an_empty_day_keeps_a_mark() {
        let chart = Chart::StackedDays {
            days: days(3),
            series: vec![
                Series {
                    name: "Delivered".into(),
                    colour: GREEN,
                    values: vec![4, 0, 1],
                },
                Series {
                    name: "Failed".into(),
                    colour: VERMILLION,
                    values: vec![1, 0, 0],
                },
            ],
        };
        assert_eq!(marks(&svg(&chart).unwrap()), vec![0, 0, 1, 2]);
    }

    #[test]
    fn every_point_of_every_line_is_a_mark_of_its_day() {
        let chart = Chart::LineDays {
            days: days(2),
            series: vec![
                Series {
                    name: "in".into(),
                    colour: ORANGE,
                    values: vec![1, 2],
                },
                Series {
                    name: "out".into(),
                    colour: BLUE,
                    values: vec![0, 3],
                },
            ],
        };
        assert_eq!(marks(&svg(&chart).unwrap()), vec![0, 1, 0, 1]);
    }

    #[test]
    fn one_day_or_one_bar_fills_its_band() {
        let day = Chart::StackedDays {
            days: days(1),
            series: vec![Series {
                name: "Delivered".into(),
                colour: GREEN,
                values: vec![3],
            }],
        };
        let bars = Chart::Bars {
            labels: vec!["only".into()],
            values: vec![5],
            colours: vec![GREEN],
        };
        for chart in [day, bars] {
            let svg = svg(&chart).unwrap();
            assert!(!svg.contains("width=\"-") && !svg.contains("height=\"-"), "{svg}");
            let mark = svg.lines().find(|l| l.contains("class=\"mark\"")).unwrap();
            assert!(
                !mark.contains("width=\"0\"") && !mark.contains("height=\"0\""),
                "{mark}"
            );
        }
    }

    #[test]
    fn a_year_of_days_draws_no_negative_widths() {
        let n = 366;
        let chart = Chart::StackedDays {
            days: (0..n)
                .map(|d| format!("2024-{:02}-{:02}", d / 31 + 1, d % 31 + 1))
                .collect(),
            series: vec![Series {
                name: "Delivered".into(),
                colour: GREEN,
                values: vec![3; n],
            }],
        };
        let svg = svg(&chart).unwrap();
        assert!(!svg.contains("width=\"-"), "{svg}");
        assert_eq!(marks(&svg).len(), n);
    }

    #[test]
    fn a_chart_of_no_rows_or_of_marks_that_do_not_match_is_an_error_not_a_panic() {
        let chart = Chart::Bars {
            labels: vec![],
            values: vec![],
            colours: vec![],
        };
        assert!(svg(&chart).is_err());
        let drawn = "<svg x=\"1\">\n<rect x=\"0\" fill=\"#0072B2\"/>\n</svg>\n";
        assert!(tag_marks(drawn, &[]).is_err());
        assert!(tag_marks(drawn, &[0, 1]).is_err());
        assert!(tag_marks(drawn, &[0])
            .unwrap()
            .contains("<rect class=\"mark\" data-row=\"0\" x="));
    }

    #[test]
    fn long_labels_are_cut_in_the_chart() {
        assert_eq!(short("short"), "short");
        let cut = short(&"x".repeat(40));
        assert_eq!(cut.chars().count(), LABEL_CHARS);
        assert!(cut.ends_with('…'));
    }
}
