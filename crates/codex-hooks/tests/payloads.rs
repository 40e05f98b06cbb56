//! Every 0.169 event, as recorded from real runs (fixtures/payloads-0.169.jsonl), parses into
//! the typed payload with the ids the hub needs.

use codex_hooks::{HookEvent, HookPayload};
use serde_json::json;

fn fixtures() -> Vec<HookPayload> {
    include_str!("fixtures/payloads-0.169.jsonl")
        .lines()
        .map(|l| HookPayload::parse(l.as_bytes()).expect("fixture parses"))
        .collect()
}

#[test]
fn every_recorded_event_parses() {
    let got: Vec<HookEvent> = fixtures().into_iter().map(|p| p.hook_event_name).collect();
    let mut want = HookEvent::KNOWN.to_vec();
    want.push(HookEvent::UserPromptSubmit); // the sub-agent's prompt
    assert_eq!(got, want);
}

#[test]
fn ids_paths_and_tool_fields() {
    let p = fixtures();
    let root = "01a21d56-087f-76a1-a22b-347167aeec0f";
    let sub = "01a21d56-6e53-79f3-9aad-e982e2967738";
    for x in &p {
        assert_eq!(x.thread_id(), root, "{:?}", x.hook_event_name);
        assert_eq!(x.cwd.as_deref(), Some("/home/u/project"));
    }
    let perm = &p[3];
    assert_eq!(perm.tool_name.as_deref(), Some("Bash"));
    assert_eq!(perm.command(), Some("touch /outside/escalated-ran"));
    assert_eq!(perm.justification(), Some("need to write outside"));
    assert_eq!(perm.tool_use_id, None);
    let post = &p[4];
    assert_eq!(post.tool_response, Some(json!("hi\n")));
    assert_eq!(post.tool_use_id.as_deref(), Some("call_1"));
    let start = &p[9];
    assert_eq!(start.sub_agent_thread_id(), Some(sub));
    assert_eq!(start.acting_thread_id(), sub);
    assert_eq!(
        start.root_transcript_path(),
        None,
        "SubagentStart's path is the sub-agent's"
    );
    let stop = &p[10];
    assert!(
        stop.root_transcript_path()
            .is_some_and(|t| t.ends_with(&format!("{root}.jsonl")))
    );
    assert!(
        stop.agent_transcript_path
            .as_deref()
            .is_some_and(|t| t.ends_with(&format!("{sub}.jsonl")))
    );
    assert_eq!(p[14].acting_thread_id(), sub);
    assert_eq!(
        p[13]
            .token_usage
            .as_ref()
            .and_then(|u| u["total_tokens"].as_u64()),
        Some(15)
    );
}

#[test]
fn unknown_events_and_fields_are_kept() {
    let raw = json!({
        "session_id": "t1", "hook_event_name": "SomethingNew", "cwd": "/w",
        "new_field": {"x": 1}, "prompt": "p"
    });
    let p = HookPayload::parse(raw.to_string().as_bytes()).expect("parses");
    assert_eq!(p.hook_event_name, HookEvent::Unknown("SomethingNew".into()));
    assert_eq!(p.extra.get("new_field"), Some(&json!({"x": 1})));
    assert_eq!(serde_json::to_value(&p).expect("serialises"), raw);
}

#[test]
fn payloads_without_ids_are_rejected_with_a_reason() {
    let err = HookPayload::parse(br#"{"hook_event_name":"Stop"}"#).expect_err("no session_id");
    assert!(err.to_string().contains("session_id"), "{err}");
    assert!(HookPayload::parse(b"not json").is_err());
}
