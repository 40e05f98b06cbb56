//! Property tests of the rollout reader and line parser (real files in a temp dir).
//!
//! * However a file is written (appended in arbitrary pieces, polled in between with arbitrary
//!   read sizes and per-poll budgets, the reader sometimes restarted from its persisted state),
//!   the reader yields exactly the items of one read of the finished file: no line lost,
//!   repeated, split or merged.
//! * `parse_line` never panics on arbitrary text, and neither does the reader on arbitrary bytes.
//!
//! Case counts: `PROPTEST_CASES` (defaults below keep CI to a few seconds); the number of cases
//! run is printed.

use std::cell::Cell;
use std::io::Write as _;
use std::path::Path;

use codex_rollout::{ReadItem, ReaderConfig, ReaderState, RolloutReader, parse_line};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// What a reader delivered, owned and comparable. `TooLong` keeps only its offset: how many
/// bytes had been seen when the cap was hit depends on the read size, by design.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Line {
        offset: u64,
        number: u64,
        text: String,
        parsed: String,
    },
    InvalidUtf8 {
        offset: u64,
        number: u64,
        valid_up_to: usize,
    },
    TooLong {
        offset: u64,
    },
    Reset,
}

fn own(item: ReadItem<'_>) -> Item {
    match item {
        ReadItem::Line {
            offset,
            number,
            text,
        } => Item::Line {
            offset,
            number,
            text: text.to_owned(),
            parsed: format!("{:?}", parse_line(text)),
        },
        ReadItem::InvalidUtf8 {
            offset,
            number,
            valid_up_to,
        } => Item::InvalidUtf8 {
            offset,
            number,
            valid_up_to,
        },
        ReadItem::TooLong { offset, .. } => Item::TooLong { offset },
        ReadItem::Reset { .. } => Item::Reset,
    }
}

/// Lines shaped like Codex's, plus broken ones.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"t-1","cwd":"/w","cli_version":"0.169.0"}}"#.to_vec()),
        ".{0,40}".prop_map(|t| serde_json::json!({"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"user_message","message":t}}).to_string().into_bytes()),
        ".{0,40}".prop_map(|t| serde_json::json!({"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":t}]}}).to_string().into_bytes()),
        Just(br#"{"type":"event_msg","payload":{"type":"token_count","info":null}}"#.to_vec()),
        Just(br#"{"type":"turn_context","payload":{"cwd":"/w","model":"m"}}"#.to_vec()),
        Just(br#"{"type":"something_new","payload":{"x":1}}"#.to_vec()),
        Just(b"{\"type\":\"event_msg\",\"payload\":".to_vec()),
        // Multibyte characters, a CR before the newline, invalid UTF-8, NULs.
        Just("{\"type\":\"event_msg\",\"payload\":{\"type\":\"agent_message\",\"message\":\"h\u{e9}llo \u{1F680}\"}}\r".as_bytes().to_vec()),
        Just(vec![0xff, 0xfe, b'{', 0xc3]),
        Just(vec![0u8; 3]),
        // Longer than the cap used below.
        (300usize..700).prop_map(|n| vec![b'x'; n]),
        prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..80),
    ]
}

/// A file: lines joined by newlines, the last one maybe unterminated (still being written).
fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(line(), 0..12), any::<bool>()).prop_map(|(lines, terminated)| {
        let mut out = Vec::new();
        let n = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            out.extend_from_slice(&l);
            if i + 1 < n || terminated {
                out.push(b'\n');
            }
        }
        out
    })
}

const MAX_LINE: usize = 256;

fn reader_config(chunk_size: usize, budget: Option<u64>) -> ReaderConfig {
    ReaderConfig {
        chunk_size,
        max_line_bytes: MAX_LINE,
        max_bytes_per_poll: budget,
    }
}

/// Poll until the reader has consumed everything currently in the file.
fn drain(reader: &mut RolloutReader, out: &mut Vec<Item>) -> Result<(), TestCaseError> {
    for _ in 0..100_000 {
        let outcome = reader
            .poll(|item| out.push(own(item)))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if !outcome.more {
            return Ok(());
        }
    }
    Err(TestCaseError::fail("the reader never finished the file"))
}

fn append(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(data)
}

#[derive(Debug, Clone)]
struct Step {
    /// Bytes appended before this poll (a cut point as a fraction of what is left).
    cut: u16,
    chunk_size: usize,
    budget: Option<u64>,
    /// Persist the state and resume with a fresh reader before polling.
    restart: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        any::<u16>(),
        prop_oneof![1usize..8, 8usize..64, Just(256 * 1024)],
        prop::option::of(1u64..64),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(cut, chunk_size, budget, restart)| Step {
            cut,
            chunk_size,
            budget,
            restart,
        })
}

#[test]
fn any_chunking_yields_the_items_of_one_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runner = TestRunner::new(config(300));
    let cases = Cell::new(0u64);
    let items_checked = Cell::new(0u64);
    runner
        .run(
            &(file_bytes(), prop::collection::vec(step(), 1..10)),
            |(bytes, steps)| {
                cases.set(cases.get() + 1);
                let whole = dir.path().join(format!("whole-{}.jsonl", cases.get()));
                let pieces = dir.path().join(format!("pieces-{}.jsonl", cases.get()));
                std::fs::write(&whole, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut expected = Vec::new();
                drain(
                    &mut RolloutReader::new(&whole, reader_config(256 * 1024, None)),
                    &mut expected,
                )?;

                std::fs::write(&pieces, b"").map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut got = Vec::new();
                let mut written = 0usize;
                let mut state = ReaderState::default();
                let mut reader = RolloutReader::new(&pieces, reader_config(1, None));
                for (i, s) in steps.iter().enumerate() {
                    let left = bytes.len() - written;
                    let n = if i + 1 == steps.len() {
                        left
                    } else {
                        left * usize::from(s.cut) / usize::from(u16::MAX)
                    };
                    append(&pieces, &bytes[written..written + n])
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    written += n;
                    if s.restart || i == 0 {
                        // What a server persists and reloads after a restart.
                        let saved = serde_json::to_string(&state)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let loaded: ReaderState = serde_json::from_str(&saved)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        reader = RolloutReader::with_state(
                            &pieces,
                            loaded,
                            reader_config(s.chunk_size, s.budget),
                        );
                    }
                    // One poll only (maybe cut short by the budget): the next step goes on.
                    reader
                        .poll(|item| got.push(own(item)))
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    state = reader.state().clone();
                }
                drain(&mut reader, &mut got)?;
                let _ = std::fs::remove_file(&whole);
                let _ = std::fs::remove_file(&pieces);
                items_checked.set(items_checked.get() + expected.len() as u64);
                prop_assert_eq!(&got, &expected);
                prop_assert_eq!(reader.state().offset, bytes.len() as u64);
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    let items_checked = items_checked.get();
    println!("rollout reader chunking: {cases} cases, {items_checked} items compared");
}

#[test]
fn parse_line_never_panics() {
    let mut runner = TestRunner::new(config(3_000));
    let cases = Cell::new(0u64);
    let strategy = prop_oneof![
        ".{0,200}",
        // JSON-shaped: a known or unknown type with a random payload.
        (
            prop_oneof![
                Just("session_meta"),
                Just("turn_context"),
                Just("event_msg"),
                Just("response_item"),
                Just("compacted"),
                Just("world_state"),
                Just("token_usage_record"),
                Just("other"),
            ],
            prop_oneof![
                Just("message"),
                Just("user_message"),
                Just("agent_message"),
                Just("token_count"),
                Just("function_call"),
                Just("reasoning"),
                Just("task_complete"),
                Just("x"),
            ],
            ".{0,60}",
        )
            .prop_map(|(kind, inner, rest)| format!(
                "{{\"type\":\"{kind}\",\"timestamp\":1,\"payload\":{{\"type\":\"{inner}\",{rest}}}}}"
            )),
        (prop_oneof![Just("session_meta"), Just("event_msg"), Just("response_item"), Just("turn_context")], any::<i64>(), ".{0,20}")
            .prop_map(|(kind, n, s)| serde_json::json!({"type": kind, "payload": {"id": n, "type": s, "cwd": [n], "info": {"total_token_usage": s}}}).to_string()),
    ];
    runner
        .run(&strategy, |text| {
            cases.set(cases.get() + 1);
            let _ = parse_line(&text);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    println!("rollout parse_line: {cases} cases");
}

#[test]
fn reader_never_panics_on_arbitrary_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bytes.jsonl");
    let mut runner = TestRunner::new(config(300));
    let cases = Cell::new(0u64);
    runner
        .run(
            &(prop::collection::vec(any::<u8>(), 0..2048), 1usize..64),
            |(bytes, chunk)| {
                cases.set(cases.get() + 1);
                std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut items = Vec::new();
                drain(
                    &mut RolloutReader::new(&path, reader_config(chunk, None)),
                    &mut items,
                )?;
                let lines = bytes.iter().filter(|b| **b == b'\n').count();
                // Complete lines only: an over-long unterminated tail is reported too.
                let delivered = items
                    .iter()
                    .filter(|i| matches!(i, Item::Line { .. } | Item::InvalidUtf8 { .. }))
                    .count();
                prop_assert!(
                    delivered <= lines,
                    "{} items for {} lines",
                    delivered,
                    lines
                );
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    println!("rollout reader bytes: {cases} cases");
}
