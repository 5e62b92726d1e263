//! Micro-benchmarks of the per-event pure work, over the real sample events in
//! `tests/fixtures/events` (compacted, as the Functions host sends them).
//!
//! `cargo bench --bench micro` (all), or e.g. `cargo bench --bench micro -- typical/` for the headline
//! per-event figures. The `all_fixtures` groups report throughput per event over the whole corpus;
//! the `typical` group is one SMS received event (`docs__SMSReceived__1.json`) and one chat message
//! (`docs__ChatMessageReceivedInThread__1.json`).

use acs_event_archive::archive::envelope::Envelope;
use acs_event_archive::archive::events::{known_type, Fields};
use acs_event_archive::archive::{identity, layout, record};
use acs_event_archive::host::protocol;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::value::RawValue;
use serde_json::Value;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// One sample event, compact, with the name of the file it came from.
struct Sample {
    file: String,
    raw: Box<RawValue>,
}

/// Every event of every parseable fixture file (arrays are split), compacted.
fn samples() -> Vec<Sample> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/events is missing")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = vec![];
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let events = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items,
            Ok(one) => vec![one],
            Err(_) => continue,
        };
        for event in events {
            let raw = RawValue::from_string(event.to_string()).expect("serialised JSON is valid");
            out.push(Sample {
                file: file.clone(),
                raw,
            });
        }
    }
    assert!(
        out.len() > 50,
        "expected the full fixture corpus, found {}",
        out.len()
    );
    out
}

fn sample<'a>(all: &'a [Sample], file: &str) -> &'a RawValue {
    &all.iter()
        .find(|s| s.file == file)
        .unwrap_or_else(|| panic!("fixture {file} is missing"))
        .raw
}

/// Envelope + typed parse and normalisation + blob name: the work the 20 µs target covers.
fn parse_normalise_name(raw: &RawValue) -> (Fields, String) {
    let envelope = Envelope::parse(raw).expect("a valid event");
    let (kind, fields) = match known_type(&envelope.event_type) {
        Some(known) => (known.kind.to_owned(), Fields::project(known, envelope.data)),
        None => (
            layout::encode_segment(&envelope.event_type.to_ascii_lowercase()),
            Fields::Empty,
        ),
    };
    let name = layout::event_blob_name(&kind, envelope.time.as_deref(), &envelope.id);
    (fields, name)
}

/// The body the host POSTs for one event, as bytes.
fn host_body(raw: &RawValue) -> Vec<u8> {
    let event: Value = serde_json::from_str(raw.get()).expect("valid JSON");
    serde_json::to_vec(&acs_event_archive::host::protocol::host_invocation(
        "SmsEvents",
        &event,
    ))
    .expect("serialises")
}

fn typical(c: &mut Criterion) {
    let all = samples();
    let mut group = c.benchmark_group("typical");
    group.throughput(Throughput::Elements(1));
    for (label, file) in [
        ("sms", "docs__SMSReceived__1.json"),
        ("chat", "docs__ChatMessageReceivedInThread__1.json"),
    ] {
        let raw = sample(&all, file);
        let envelope = Envelope::parse(raw).expect("a valid event");
        let known = known_type(&envelope.event_type).expect("a modelled type");
        group.bench_function(BenchmarkId::new("envelope", label), |b| {
            b.iter(|| Envelope::parse(black_box(raw)))
        });
        group.bench_function(BenchmarkId::new("project", label), |b| {
            b.iter(|| Fields::project(known, black_box(envelope.data)))
        });
        group.bench_function(BenchmarkId::new("blob_name", label), |b| {
            b.iter(|| {
                layout::event_blob_name(
                    black_box(known.kind),
                    black_box(envelope.time.as_deref()),
                    black_box(&envelope.id),
                )
            })
        });
        group.bench_function(BenchmarkId::new("parse_normalise_name", label), |b| {
            b.iter(|| parse_normalise_name(black_box(raw)))
        });
        group.bench_function(BenchmarkId::new("record_prepare", label), |b| {
            b.iter(|| record::prepare(black_box(raw)))
        });
        // Part of record_prepare: what recognises the event in other bytes (dead-letter copies).
        group.bench_function(BenchmarkId::new("canonical_hash", label), |b| {
            b.iter(|| identity::canonical_sha256(black_box(raw.get())))
        });
        let body = host_body(raw);
        group.bench_function(BenchmarkId::new("prepare_invocation", label), |b| {
            b.iter(|| protocol::prepare_invocation(black_box(&body)))
        });
    }
    group.finish();
}

/// Per-event cost over the whole corpus: every fixture event once per iteration.
fn all_fixtures(c: &mut Criterion) {
    let all = samples();
    let raws: Vec<&RawValue> = all.iter().map(|s| &*s.raw).collect();
    let mut group = c.benchmark_group("all_fixtures");
    group.throughput(Throughput::Elements(raws.len() as u64));

    group.bench_function("envelope", |b| {
        b.iter(|| {
            for raw in &raws {
                let _ = black_box(Envelope::parse(black_box(raw)));
            }
        })
    });

    let envelopes: Vec<Envelope<'_>> = raws.iter().filter_map(|r| Envelope::parse(r).ok()).collect();
    let modelled: Vec<_> = envelopes
        .iter()
        .filter_map(|e| known_type(&e.event_type).map(|k| (k, e.data)))
        .collect();
    group.throughput(Throughput::Elements(modelled.len() as u64));
    group.bench_function("project", |b| {
        b.iter(|| {
            for (known, data) in &modelled {
                black_box(Fields::project(known, black_box(*data)));
            }
        })
    });

    let names: Vec<_> = envelopes
        .iter()
        .map(|e| {
            let kind = known_type(&e.event_type).map_or("other", |k| k.kind);
            (kind, e.time.as_deref(), e.id.as_str())
        })
        .collect();
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("blob_name", |b| {
        b.iter(|| {
            for (kind, time, id) in &names {
                black_box(layout::event_blob_name(kind, *time, id));
            }
        })
    });

    group.throughput(Throughput::Elements(raws.len() as u64));
    group.bench_function("record_prepare", |b| {
        b.iter(|| {
            for raw in &raws {
                black_box(record::prepare(black_box(raw)));
            }
        })
    });

    let bodies: Vec<Vec<u8>> = raws.iter().map(|r| host_body(r)).collect();
    group.bench_function("prepare_invocation", |b| {
        b.iter(|| {
            for body in &bodies {
                let _ = black_box(protocol::prepare_invocation(black_box(body)));
            }
        })
    });
    group.finish();
}

/// The parts of `record::prepare` after parsing, on the typical SMS event: serialisation and hashing
/// are proportional to the event size, so they are shown apart.
fn record_parts(c: &mut Criterion) {
    let all = samples();
    let raw = sample(&all, "docs__SMSReceived__1.json");
    let prepared = record::prepare(raw);
    let mut group = c.benchmark_group("record_parts");
    group.throughput(Throughput::Bytes(prepared.body.len() as u64));
    group.bench_function("sha256_hex/sms_record", |b| {
        b.iter(|| layout::sha256_hex(black_box(&prepared.body)))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("tags_header/sms", |b| {
        b.iter(|| {
            layout::tags_header(black_box(&[
                ("family", "sms"),
                ("kind", "smsReceived"),
                (
                    "messageId",
                    "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
                ),
            ]))
        })
    });
    group.bench_function("encode_segment/phone_like_id", |b| {
        b.iter(|| layout::encode_segment(black_box("15555555555")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = typical, all_fixtures, record_parts
}
criterion_main!(benches);
