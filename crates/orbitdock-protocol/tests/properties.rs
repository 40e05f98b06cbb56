//! Property tests of `ClientMessage` decoding: whatever a WebSocket client sends, decoding never
//! panics, and whatever decodes re-encodes to something that decodes to the same message.
//!
//! The variant names and each variant's required fields are discovered at run time from serde's
//! own error messages (`unknown variant ..., expected one of ...`, `missing field ...`), so the
//! generator follows the protocol as it changes instead of a hand-kept copy of it.
//!
//! Case counts: `PROPTEST_CASES` (default below, small enough for CI); the number of cases run
//! is printed.

use std::cell::Cell;
use std::collections::BTreeSet;

use orbitdock_protocol::ClientMessage;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 2_000;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Names inside backticks in a serde error message.
fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn variant_names() -> Vec<String> {
    let err = serde_json::from_value::<ClientMessage>(json!({"type": "\u{1}no such type"}))
        .expect_err("an unknown type must not decode");
    let message = err.to_string();
    let (_, expected) = message
        .split_once("expected one of")
        .unwrap_or_else(|| panic!("unexpected serde message: {message}"));
    backticked(expected)
}

/// Placeholder values tried, in order, for a required field until the message decodes or
/// serde complains about another field.
fn placeholders() -> Vec<Value> {
    vec![
        json!("s-1"),
        json!(1),
        json!(true),
        json!([]),
        json!({}),
        json!("approved"),
    ]
}

/// A minimal decodable object for `variant`, found by filling in each field serde reports missing
/// (or mistyped) with the first placeholder it accepts. `None` when no combination decodes.
fn minimal_message(variant: &str) -> Option<Value> {
    let mut obj = Map::new();
    obj.insert("type".into(), json!(variant));
    for _ in 0..16 {
        let err = match serde_json::from_value::<ClientMessage>(Value::Object(obj.clone())) {
            Ok(_) => return Some(Value::Object(obj)),
            Err(e) => e.to_string(),
        };
        let field = if err.starts_with("missing field") {
            backticked(&err).into_iter().next()?
        } else {
            return None;
        };
        let mut candidates = placeholders();
        let mut accepted = None;
        let mut i = 0;
        while i < candidates.len() && accepted.is_none() {
            let mut trial = obj.clone();
            trial.insert(field.clone(), candidates[i].clone());
            match serde_json::from_value::<ClientMessage>(Value::Object(trial)) {
                Ok(_) => accepted = Some(candidates[i].clone()),
                Err(e) => {
                    let e = e.to_string();
                    // Accepted if serde moved on to another field.
                    if e.starts_with("missing field") && !backticked(&e).contains(&field) {
                        accepted = Some(candidates[i].clone());
                    } else if let Some((_, expected)) = e.split_once("expected one of") {
                        // An enum: try its first value too.
                        if let Some(first) = backticked(expected).into_iter().next()
                            && !candidates.contains(&json!(first))
                        {
                            candidates.push(json!(first));
                        }
                    }
                }
            }
            i += 1;
        }
        obj.insert(field, accepted?);
    }
    None
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("")),
        Just(json!("approved")),
        Just(json!("never")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names seen in the protocol plus a few it does not have.
fn field_names(minimal: &[Value]) -> Vec<String> {
    let mut names: BTreeSet<String> = minimal
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().cloned())
        .collect();
    for n in [
        "client_ref",
        "since_revision",
        "session_id",
        "request_id",
        "decision",
        "answers",
        "text",
        "name",
        "cwd",
        "model",
        "effort",
        "approval_policy",
        "sandbox_mode",
        "images",
        "unknown_field",
    ] {
        names.insert(n.to_owned());
    }
    names.into_iter().collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, Value),
    Remove(usize),
    SetType(Value),
}

#[test]
fn client_messages_decode_without_panicking_and_round_trip() {
    let variants = variant_names();
    assert!(!variants.is_empty(), "no ClientMessage variants discovered");
    let minimal: Vec<(String, Value)> = variants
        .iter()
        .filter_map(|v| minimal_message(v).map(|m| (v.clone(), m)))
        .collect();
    let undiscovered: Vec<&String> = variants
        .iter()
        .filter(|v| !minimal.iter().any(|(name, _)| name == *v))
        .collect();
    println!(
        "ClientMessage: {} variants, minimal valid message found for {}{}",
        variants.len(),
        minimal.len(),
        if undiscovered.is_empty() {
            String::new()
        } else {
            format!(" (not for {undiscovered:?}: they are still fuzzed with random fields)")
        }
    );
    let names = field_names(&minimal.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let bases: Vec<Value> = variants
        .iter()
        .map(|v| {
            minimal
                .iter()
                .find(|(name, _)| name == v)
                .map_or_else(|| json!({"type": v}), |(_, m)| m.clone())
        })
        .collect();

    let mutation = prop_oneof![
        (0..names.len(), json_value()).prop_map(|(i, v)| Mutation::Set(i, v)),
        (0..names.len()).prop_map(Mutation::Remove),
        json_value().prop_map(Mutation::SetType),
    ];
    let strategy = (
        0..bases.len(),
        prop::collection::vec(mutation, 0..4),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(config());
    let cases = Cell::new(0u64);
    let decoded = Cell::new(0u64);
    runner
        .run(&strategy, |(base, mutations, as_text)| {
            cases.set(cases.get() + 1);
            let mut msg = bases[base].clone();
            if let Value::Object(obj) = &mut msg {
                for m in mutations {
                    match m {
                        Mutation::Set(i, v) => {
                            obj.insert(names[i].clone(), v);
                        }
                        Mutation::Remove(i) => {
                            obj.remove(&names[i]);
                        }
                        Mutation::SetType(v) => {
                            obj.insert("type".into(), v);
                        }
                    }
                }
            }
            // Both paths a server may use: from text (the WebSocket frame) and from a Value.
            let result = if as_text {
                serde_json::from_str::<ClientMessage>(&msg.to_string())
            } else {
                serde_json::from_value::<ClientMessage>(msg.clone())
            };
            let Ok(first) = result else {
                return Ok(());
            };
            decoded.set(decoded.get() + 1);
            let encoded = serde_json::to_value(&first)
                .map_err(|e| TestCaseError::fail(format!("re-encoding {msg}: {e}")))?;
            let second: ClientMessage = serde_json::from_value(encoded.clone()).map_err(|e| {
                TestCaseError::fail(format!(
                    "{msg} decoded, but its encoding {encoded} does not: {e}"
                ))
            })?;
            prop_assert_eq!(&first, &second, "round trip changed {}", msg);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    let decoded = decoded.get();
    println!("ClientMessage structured: {cases} cases, {decoded} decoded and round-tripped");
    assert!(
        decoded > 0,
        "no generated message decoded: the generator is broken"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut runner = TestRunner::new(config());
    let cases = Cell::new(0u64);
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Near-JSON: objects with a type and junk.
        (".{0,40}", ".{0,40}")
            .prop_map(|(t, rest)| format!("{{\"type\":\"{t}\",{rest}").into_bytes()),
    ];
    runner
        .run(&strategy, |bytes| {
            cases.set(cases.get() + 1);
            let _ = serde_json::from_slice::<ClientMessage>(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    // Deep nesting must be refused by the recursion limit, not overflow the stack.
    let deep = format!(
        "{{\"type\":\"ping\",\"client_ref\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(serde_json::from_str::<ClientMessage>(&deep).is_err());
    println!("ClientMessage bytes: {cases} cases");
}
