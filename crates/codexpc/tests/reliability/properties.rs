//! Property tests (stable Rust, proptest) of codexpc's two parsers of foreign input:
//!
//! * the session-protocol envelope parser ([`parse_request`]): any bytes never panic; for any
//!   JSON object, an error names the field it is about and echoes a readable `req_id`, and a
//!   success has the `type` it was asked for;
//! * the streaming Harmony parser: any token-id stream (special tokens, header words, arbitrary
//!   ids, mutated well-formed replies) never panics or hangs; driven through the real
//!   [`Service`] by an engine that "samples" exactly those ids, every generation ends with one
//!   terminal event (`Completed` or `Failed`) and nothing after it.
//!
//! Case counts: `PROPTEST_CASES` (defaults below keep CI to a few seconds); the number of cases
//! run is printed. The nightly cargo-fuzz target in `fuzz/` explores the envelope parser further.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codexpc::daemon::protocol::{ErrorCode, Request, parse_request};
use codexpc::engine::{
    CancelFlag, Engine, EngineInfo, GenerateRequest, Generation, GenerationStats, Sampling,
    StopReason,
};
use codexpc::harmony::{harmony, tokens};
use codexpc::parse::{HarmonyStreamParser, OutputEvent};
use codexpc::service::{GenerationInput, Service, ServiceConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

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

// ------------------------------------------------------------------ envelope parser

const FIELDS: &[&str] = &[
    "proto_version",
    "service",
    "req_id",
    "type",
    "input",
    "instructions",
    "tools",
    "reasoning",
    "sampling",
    "max_output_tokens",
    "prefill_tokens",
    "prime_final",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,10}".prop_map(Value::String),
        Just(json!(1)),
        Just(json!("codexpc")),
        Just(json!(200006)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field's value: plausible most of the time, anything otherwise.
fn field_value(field: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match field {
        "proto_version" => prop_oneof![4 => Just(json!(1)), 1 => Just(json!(2))].boxed(),
        "service" => Just(json!("codexpc")).boxed(),
        "req_id" => "[a-z0-9]{1,8}".prop_map(Value::String).boxed(),
        "type" => prop::sample::select(vec![
            "handshake",
            "health",
            "cancel",
            "create",
            "create_from_tokens",
            "nope",
        ])
        .prop_map(|s| json!(s))
        .boxed(),
        "input" => prop_oneof![
            Just(json!("hi")),
            Just(json!([{"type": "message", "role": "user", "content": "hi"}]))
        ]
        .boxed(),
        "prefill_tokens" => prop::collection::vec(0u32..201_088, 0..4)
            .prop_map(|v| json!(v))
            .boxed(),
        "sampling" => (prop::option::of(0.0f32..5.0), prop::option::of(0.0f32..1.5))
            .prop_map(|(t, p)| json!({"temperature": t, "top_p": p}))
            .boxed(),
        "max_output_tokens" => (0u32..100).prop_map(|n| json!(n)).boxed(),
        "prime_final" => any::<bool>().prop_map(Value::Bool).boxed(),
        _ => json_value().boxed(),
    };
    prop_oneof![4 => plausible, 1 => json_value()].boxed()
}

fn envelope_object() -> impl Strategy<Value = Map<String, Value>> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = FIELDS
        .iter()
        .map(|f| {
            let p = if FIELDS[..4].contains(f) { 0.9 } else { 0.4 };
            prop::option::weighted(p, field_value(f).prop_map(move |v| ((*f).to_owned(), v)))
                .boxed()
        })
        .collect();
    (
        fields,
        prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..2),
    )
        .prop_map(|(fields, extra)| {
            let mut obj: Map<String, Value> = extra.into_iter().collect();
            obj.extend(fields.into_iter().flatten());
            obj
        })
}

#[test]
fn envelope_errors_name_a_field_and_echo_the_req_id() {
    let mut runner = TestRunner::new(config(5_000));
    let (cases, accepted) = (Cell::new(0u64), Cell::new(0u64));
    runner
        .run(&envelope_object(), |obj| {
            cases.set(cases.get() + 1);
            let line = Value::Object(obj.clone()).to_string();
            let result = parse_request(line.as_bytes());
            // As the parser sees it (serde_json may read a float back differently in its last bit).
            let seen: Map<String, Value> =
                serde_json::from_str(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let readable_id = match seen.get("req_id") {
                Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            match result {
                Ok(env) => {
                    accepted.set(accepted.get() + 1);
                    let kind = obj["type"].as_str().unwrap_or_default();
                    let matches = matches!(
                        (&env.request, kind),
                        (Request::Handshake, "handshake")
                            | (Request::Health, "health")
                            | (Request::Cancel, "cancel")
                            | (Request::Create(_), "create")
                            | (Request::CreateFromTokens(_), "create_from_tokens")
                    );
                    prop_assert!(matches, "{} parsed as {:?}", line, env.request);
                    prop_assert_eq!(Some(env.req_id), readable_id);
                }
                Err(e) => {
                    prop_assert!(!e.message.is_empty());
                    let names_a_field = FIELDS.iter().any(|f| e.message.contains(f))
                        || obj.keys().any(|k| e.message.contains(&format!("`{k}`")));
                    prop_assert!(names_a_field, "{} -> {:?} names no field", line, e.message);
                    // req_id is read first: once readable, every error carries it.
                    prop_assert_eq!(e.req_id, readable_id, "{} -> {:?}", line, e.message);
                    if e.code == ErrorCode::UnsupportedProtocol {
                        prop_assert!(e.message.contains("proto_version"));
                    }
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let accepted = accepted.get();
    let cases = cases.get();
    println!("envelope parser (JSON objects): {cases} cases, {accepted} accepted");
}

#[test]
fn envelope_parser_never_panics_on_bytes() {
    let mut runner = TestRunner::new(config(5_000));
    let cases = Cell::new(0u64);
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        ".{0,80}".prop_map(|s| format!(
            "{{\"proto_version\":1,\"service\":\"codexpc\",\"req_id\":\"r\",{s}"
        )
        .into_bytes()),
    ];
    runner
        .run(&strategy, |bytes| {
            cases.set(cases.get() + 1);
            if let Err(e) = parse_request(&bytes) {
                prop_assert!(!e.message.is_empty());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    println!("envelope parser (bytes): {cases} cases");
}

// ------------------------------------------------------------------ Harmony streaming parser

/// Token ids that matter to the parser, plus arbitrary ones.
fn token() -> BoxedStrategy<u32> {
    let h = harmony().expect("harmony");
    let mut words: Vec<u32> = Vec::new();
    for w in [
        "assistant",
        "analysis",
        "final",
        "commentary",
        " to=functions.exec_command",
        " to=",
        "functions.x",
        "json",
        "user",
        "system",
        "developer",
        "hello",
        " ",
        "{\"cmd\":1}",
    ] {
        words.extend(h.encode_ordinary(w));
    }
    prop_oneof![
        4 => prop::sample::select(vec![
            tokens::START,
            tokens::END,
            tokens::MESSAGE,
            tokens::CHANNEL,
            tokens::CALL,
            tokens::RETURN,
            tokens::CONSTRAIN,
            tokens::START_OF_TEXT,
            tokens::END_OF_TEXT,
        ]),
        4 => prop::sample::select(words),
        1 => 0u32..(tokens::VOCAB_SIZE as u32),
        1 => any::<u32>(),
    ]
    .boxed()
}

/// Well-formed replies, cut, spliced and sprinkled with random tokens.
fn token_stream() -> impl Strategy<Value = Vec<u32>> {
    let h = harmony().expect("harmony");
    let replies: Vec<Vec<u32>> = [
        "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hi there.<|return|>",
        "<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>{\"cmd\":\"ls\"}<|call|>",
        "<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant<|channel|>final<|message|>Done<|return|>",
        "<|channel|>final<|message|>a<|end|><|start|>functions.x to=assistant<|channel|>commentary<|message|>fake<|end|>",
    ]
    .iter()
    .map(|t| h.encode_with_special_tokens(t))
    .collect();
    prop_oneof![
        prop::collection::vec(token(), 0..64),
        (
            prop::sample::select(replies),
            prop::collection::vec(
                (any::<prop::sample::Index>(), prop::option::of(token())),
                0..4
            ),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut reply, edits, cut)| {
                for (at, tok) in edits {
                    if reply.is_empty() {
                        break;
                    }
                    let i = at.index(reply.len());
                    match tok {
                        Some(t) => reply.insert(i, t),
                        None => {
                            reply.remove(i);
                        }
                    }
                }
                let keep = cut.index(reply.len() + 1);
                reply.truncate(keep.max(reply.len().saturating_sub(keep / 4)));
                reply
            }),
    ]
}

#[test]
fn harmony_parser_never_panics_on_token_streams() {
    let h = harmony().expect("harmony");
    let mut runner = TestRunner::new(config(2_000));
    let (cases, failed) = (Cell::new(0u64), Cell::new(0u64));
    runner
        .run(&(token_stream(), any::<bool>()), |(ids, final_only)| {
            cases.set(cases.get() + 1);
            let mut p =
                HarmonyStreamParser::new(h).map_err(|e| TestCaseError::fail(e.to_string()))?;
            p.set_final_only(final_only);
            let mut out = Vec::new();
            let mut ok = true;
            for &t in &ids {
                if p.push(t, &mut out).is_err() {
                    ok = false;
                    break;
                }
            }
            if ok && p.finish(&mut out).is_err() {
                ok = false;
            }
            if !ok {
                failed.set(failed.get() + 1);
            }
            // The parser never produces the service's terminal events itself.
            let terminal_from_parser = out.iter().any(|e| {
                matches!(
                    e,
                    OutputEvent::Completed { .. } | OutputEvent::Failed { .. }
                )
            });
            prop_assert!(
                !terminal_from_parser,
                "parser emitted a terminal event: {:?}",
                out
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    let failed = failed.get();
    println!("harmony parser: {cases} token streams, {failed} rejected as malformed, 0 panics");
}

/// An engine that "samples" a given id sequence: the boundary every real engine sits behind.
#[derive(Debug, Default)]
struct ReplayEngine {
    ids: Mutex<Vec<u32>>,
}

impl Engine for ReplayEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: "replay".into(),
            model: "replay".into(),
            context_size: 4096,
        }
    }

    fn generate(
        &self,
        req: &GenerateRequest<'_>,
        cancel: &CancelFlag,
        sink: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) -> codexpc::Result<Generation> {
        let ids = self.ids.lock().map(|g| g.clone()).unwrap_or_default();
        let mut stats = GenerationStats {
            prompt_tokens: req.prompt.len(),
            prefilled_tokens: req.prompt.len(),
            ..GenerationStats::default()
        };
        let mut stop = StopReason::EndOfOutput;
        for id in ids {
            if cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break;
            }
            if req
                .sampling
                .max_tokens
                .is_some_and(|m| stats.generated_tokens >= m as usize)
            {
                stop = StopReason::MaxTokens;
                break;
            }
            stats.generated_tokens += 1;
            if sink(id).is_break() {
                stop = StopReason::Sink;
                break;
            }
            if req.stop_tokens.contains(&id) {
                stop = StopReason::StopToken(id);
                break;
            }
        }
        Ok(Generation { stop, stats })
    }
}

#[test]
fn every_generation_ends_with_exactly_one_terminal_event() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Arc::new(ReplayEngine::default());
    let service = Service::new(engine.clone(), ServiceConfig::default()).expect("service");
    let mut runner = TestRunner::new(config(500));
    let (cases, completed, failed) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));
    runner
        .run(
            &(token_stream(), prop::option::of(0u32..40)),
            |(ids, max_tokens)| {
                cases.set(cases.get() + 1);
                if let Ok(mut g) = engine.ids.lock() {
                    *g = ids.clone();
                }
                let events = rt.block_on(async {
                    let mut rx = service
                        .generate(
                            GenerationInput {
                                prompt: vec![tokens::START, 1, 2],
                                match_text: None,
                                sampling: Sampling {
                                    max_tokens,
                                    ..Sampling::default()
                                },
                            },
                            CancelFlag::new(),
                        )
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let mut events = Vec::new();
                    // A generation that never ends would hang here: bounded instead.
                    loop {
                        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
                            Ok(Some(e)) => events.push(e),
                            Ok(None) => return Ok(events),
                            Err(_) => {
                                return Err(TestCaseError::fail(format!(
                                    "no event for 20 s (hang) after {events:?}"
                                )));
                            }
                        }
                    }
                })?;
                let terminal = |e: &OutputEvent| {
                    matches!(
                        e,
                        OutputEvent::Completed { .. } | OutputEvent::Failed { .. }
                    )
                };
                prop_assert_eq!(
                    events.iter().filter(|e| terminal(e)).count(),
                    1,
                    "{:?}",
                    events
                );
                prop_assert!(events.last().is_some_and(terminal), "{:?}", events);
                match events.last() {
                    Some(OutputEvent::Completed { .. }) => completed.set(completed.get() + 1),
                    _ => failed.set(failed.get() + 1),
                }
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (cases, completed, failed) = (cases.get(), completed.get(), failed.get());
    println!(
        "harmony through the service: {cases} generations, {completed} completed, {failed} failed, all with one terminal event"
    );
}
