//! Property tests of Claude Code hook payload parsing: arbitrary bytes never panic; a generated
//! object (known or unknown event, typed fields with right or wrong JSON types, unknown fields)
//! is accepted exactly when its typed fields have acceptable types, keeps every unknown field in
//! `extra`, and round-trips through serialization unchanged.
//!
//! Case counts: `PROPTEST_CASES` (defaults below keep CI to a few seconds); the number of cases
//! run is printed.

use claude_hooks::{HookEvent, HookPayload};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use std::cell::Cell;

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

/// The JSON types a typed field accepts.
#[derive(Debug, Clone, Copy)]
enum Accepts {
    /// `String` (required).
    Str,
    /// `Option<String>`: a string or null.
    OptStr,
    /// `Option<bool>`: a bool or null.
    OptBool,
    /// `Option<Value>`: anything.
    Any,
}

const TYPED: &[(&str, Accepts)] = &[
    ("session_id", Accepts::Str),
    ("hook_event_name", Accepts::Str),
    ("transcript_path", Accepts::OptStr),
    ("cwd", Accepts::OptStr),
    ("permission_mode", Accepts::OptStr),
    ("prompt", Accepts::OptStr),
    ("tool_name", Accepts::OptStr),
    ("tool_input", Accepts::Any),
    ("tool_response", Accepts::Any),
    ("tool_use_id", Accepts::OptStr),
    ("message", Accepts::OptStr),
    ("notification_type", Accepts::OptStr),
    ("source", Accepts::OptStr),
    ("model", Accepts::Any),
    ("reason", Accepts::OptStr),
    ("trigger", Accepts::OptStr),
    ("custom_instructions", Accepts::OptStr),
    ("stop_hook_active", Accepts::OptBool),
];

fn accepted(kind: Accepts, v: &Value) -> bool {
    match kind {
        Accepts::Str => v.is_string(),
        Accepts::OptStr => v.is_string() || v.is_null(),
        Accepts::OptBool => v.is_boolean() || v.is_null(),
        Accepts::Any => true,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(HookEvent::ALL.to_vec()).prop_map(|e| json!(e.as_str())),
        2 => ".{0,16}".prop_map(Value::String),
        1 => json_value(),
    ]
}

/// A field value: mostly the right type, sometimes anything.
fn field_value(kind: Accepts) -> BoxedStrategy<Value> {
    let right: BoxedStrategy<Value> = match kind {
        Accepts::Str | Accepts::OptStr => ".{0,24}".prop_map(Value::String).boxed(),
        Accepts::OptBool => any::<bool>().prop_map(Value::Bool).boxed(),
        Accepts::Any => json_value().boxed(),
    };
    prop_oneof![6 => right, 1 => json_value()].boxed()
}

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    let typed: Vec<BoxedStrategy<Option<(String, Value)>>> = TYPED
        .iter()
        .map(|(name, kind)| {
            let name = (*name).to_owned();
            let value = if name == "hook_event_name" {
                event_name().boxed()
            } else {
                field_value(*kind)
            };
            // The two required fields are present most of the time, the others half the time.
            let p = if matches!(kind, Accepts::Str) {
                0.95
            } else {
                0.5
            };
            prop::option::weighted(p, value.prop_map(move |v| (name.clone(), v))).boxed()
        })
        .collect();
    let extra = prop::collection::btree_map("[a-z_]{1,10}|.{1,6}", json_value(), 0..4);
    (typed, extra).prop_map(|(typed, extra)| {
        let mut obj: Map<String, Value> = extra.into_iter().collect();
        for (k, v) in typed.into_iter().flatten() {
            obj.insert(k, v);
        }
        obj
    })
}

/// Equal JSON, except that floats may differ in their last bits: serde_json's default float
/// parsing is not correctly rounded (its `float_roundtrip` feature is off), so printing and
/// re-reading a float can move it by an ulp. Everything else must be identical.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => {
                    x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
                }
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn payloads_parse_exactly_when_typed_fields_fit_and_round_trip() {
    let mut runner = TestRunner::new(config(3_000));
    let (cases, parsed, unknown_events) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));
    runner
        .run(&payload(), |obj| {
            cases.set(cases.get() + 1);
            let bytes = serde_json::to_vec(&Value::Object(obj.clone()))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let should_parse = TYPED.iter().all(|(name, kind)| match obj.get(*name) {
                Some(v) => accepted(*kind, v),
                None => !matches!(kind, Accepts::Str),
            });
            let result = HookPayload::parse(&bytes);
            prop_assert_eq!(
                result.is_ok(),
                should_parse,
                "{} -> {:?}",
                Value::Object(obj.clone()),
                result
            );
            let Ok(p) = result else {
                let e = result.err().map(|e| e.to_string()).unwrap_or_default();
                prop_assert!(e.starts_with("invalid Claude hook payload: "), "{}", e);
                return Ok(());
            };
            parsed.set(parsed.get() + 1);
            let name = obj["hook_event_name"].as_str().unwrap_or_default();
            prop_assert_eq!(p.hook_event_name.as_str(), name);
            if matches!(p.hook_event_name, HookEvent::Other(_)) {
                unknown_events.set(unknown_events.get() + 1);
            }
            // Unknown fields are kept as sent. Compared with the sent JSON as serde_json reads
            // it: its default float parsing may differ from the generated f64 in the last bit.
            let sent: Map<String, Value> =
                serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (k, v) in &sent {
                if !TYPED.iter().any(|(n, _)| n == k) {
                    prop_assert_eq!(p.extra.get(k), Some(v), "extra field {} lost", k);
                }
            }
            let again = HookPayload::parse(
                &serde_json::to_vec(&p).map_err(|e| TestCaseError::fail(e.to_string()))?,
            )
            .map_err(|e| TestCaseError::fail(format!("re-parsing its own output: {e}")))?;
            let (a, b) = (
                serde_json::to_value(&again).map_err(|e| TestCaseError::fail(e.to_string()))?,
                serde_json::to_value(&p).map_err(|e| TestCaseError::fail(e.to_string()))?,
            );
            prop_assert!(same(&a, &b), "round trip changed {} into {}", b, a);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    let parsed = parsed.get();
    let unknown_events = unknown_events.get();
    println!(
        "claude hook payloads: {cases} cases, {parsed} parsed and round-tripped ({unknown_events} with an unknown event)"
    );
    assert!(parsed > 0, "the generator produced no valid payload");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut runner = TestRunner::new(config(3_000));
    let cases = Cell::new(0u64);
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        ".{0,80}"
            .prop_map(|s| format!("{{\"session_id\":\"s\",\"hook_event_name\":{s}").into_bytes()),
    ];
    runner
        .run(&strategy, |bytes| {
            cases.set(cases.get() + 1);
            let _ = HookPayload::parse(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = cases.get();
    println!("claude hook payload bytes: {cases} cases");
}
