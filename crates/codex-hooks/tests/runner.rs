//! The hook runner against a loopback stand-in of the OrbitDock server: forward or spool, and
//! PermissionRequest decisions (allow, deny, none, garbage, no answer, no server).

use std::time::{Duration, Instant};

use claude_hooks::Delivery;
use codex_hooks::runner::{self, ask_permission, forward_event};
use codex_hooks::{Outcome, PermissionAnswer, PermissionOutcome, RunnerConfig, run_hook};
use serde_json::{Value, json};

use crate::common::{FakeOrbitDock, PermissionReply, TOKEN, data_dir, runner_bin, spooled};

fn stop_payload() -> Value {
    json!({"session_id": "t-1", "turn_id": "u-1", "cwd": "/w", "hook_event_name": "Stop",
           "transcript_path": "/h/sessions/r.jsonl", "stop_hook_active": false,
           "last_assistant_message": "done ✓"})
}

fn permission_payload() -> Value {
    json!({"session_id": "t-1", "turn_id": "u-1", "cwd": "/w", "hook_event_name": "PermissionRequest",
           "transcript_path": "/h/sessions/r.jsonl", "permission_mode": "default", "tool_name": "Bash",
           "tool_input": {"command": "touch /x", "description": "why"}})
}

fn run(cfg: &RunnerConfig, payload: &Value) -> (Outcome, String) {
    let mut out = Vec::new();
    let outcome = run_hook(cfg, payload.to_string().as_bytes(), &mut out);
    (outcome, String::from_utf8(out).expect("utf8"))
}

#[test]
fn events_are_forwarded_with_the_token_and_print_nothing() {
    let server = FakeOrbitDock::start(PermissionReply::Hold);
    let dir = data_dir(Some(&server.url()));
    let mut cfg = RunnerConfig::new(dir.path());
    // This test is about delivery, not the budget (a loaded test machine can miss 50 ms).
    cfg.forward_budget = Duration::from_secs(10);
    let (outcome, printed) = run(&cfg, &stop_payload());
    assert_eq!(outcome, Outcome::Event(Delivery::Delivered));
    assert_eq!(printed, "");
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].route, codex_hooks::EVENT_ROUTE);
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(got[0].body, stop_payload());
    assert!(spooled(dir.path()).is_empty());
}

#[test]
fn events_are_spooled_when_the_server_is_down_and_the_spool_drains_in_order() {
    // No server.json at all, then a server.json whose port refuses connections.
    let dir = data_dir(None);
    let cfg = RunnerConfig::new(dir.path());
    let (outcome, printed) = run(&cfg, &stop_payload());
    assert!(
        matches!(outcome, Outcome::Event(Delivery::Spooled(_))),
        "{outcome:?}"
    );
    assert_eq!(printed, "");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    crate::common::write_server_files(dir.path(), Some(&url));
    let mut second = stop_payload();
    second["turn_id"] = json!("u-2");
    assert!(matches!(
        forward_event(&cfg, second.to_string().as_bytes()),
        Delivery::Spooled(_)
    ));
    // Not JSON: kept, wrapped, so nothing is lost silently.
    assert!(matches!(
        forward_event(&cfg, b"{oops"),
        Delivery::Spooled(_)
    ));
    let lines = spooled(dir.path());
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], stop_payload());
    assert_eq!(lines[1], second);
    assert_eq!(lines[2]["orbitdock_invalid_payload"], "{oops");
    // The server side drains it with claude-hooks' spool (same design, separate file).
    let mut drained = Vec::new();
    let outcome = runner::spool(dir.path())
        .drain(|l| {
            drained = l;
            Ok::<(), ()>(())
        })
        .expect("drain")
        .expect("persisted");
    assert_eq!(outcome.lines, 3);
    assert_eq!(drained.len(), 3);
    assert!(spooled(dir.path()).is_empty());
}

#[test]
fn a_server_slower_than_the_budget_means_spool() {
    let server = FakeOrbitDock::start(PermissionReply::Hold);
    server.hold_events(true);
    let dir = data_dir(Some(&server.url()));
    let cfg = RunnerConfig::new(dir.path());
    let d = forward_event(&cfg, stop_payload().to_string().as_bytes());
    assert!(
        matches!(&d, Delivery::Spooled(why) if why.contains("no answer")),
        "{d:?}"
    );
    assert_eq!(spooled(dir.path()), vec![stop_payload()]);
    // The server did see the request: drained duplicates are the server's to drop.
    assert_eq!(server.received().len(), 1);
}

fn decided(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Permission(PermissionOutcome::Decided { printed, .. }) => Some(printed),
        _ => None,
    }
}

#[test]
fn permission_allow_and_deny_print_what_codex_reads() {
    let server = FakeOrbitDock::start(PermissionReply::Json(json!({"decision": "allow"})));
    let dir = data_dir(Some(&server.url()));
    let cfg = RunnerConfig::new(dir.path());
    let (outcome, printed) = run(&cfg, &permission_payload());
    let allow = r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}"#;
    assert_eq!(decided(&outcome), Some(allow));
    assert_eq!(printed, format!("{allow}\n"));
    let asked = server.received();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].route, codex_hooks::PERMISSION_ROUTE);
    assert_eq!(asked[0].body["payload"], permission_payload());
    assert_eq!(
        asked[0].body["wait_ms"],
        json!(runner::DEFAULT_PERMISSION_WAIT.as_millis() as u64)
    );
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    server.set_reply(PermissionReply::Json(
        json!({"decision": "deny", "message": "not on prod"}),
    ));
    let (_, printed) = run(&cfg, &permission_payload());
    let v: Value = serde_json::from_str(printed.trim()).expect("json");
    assert_eq!(
        v,
        json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
               "decision": {"behavior": "deny", "message": "not on prod"}}})
    );
    assert!(
        spooled(dir.path()).is_empty(),
        "the server had it: nothing to spool"
    );
}

#[test]
fn permission_without_a_decision_prints_nothing() {
    let server = FakeOrbitDock::start(PermissionReply::Json(
        serde_json::to_value(PermissionAnswer::none("not_watched")).expect("ser"),
    ));
    let dir = data_dir(Some(&server.url()));
    let mut cfg = RunnerConfig::new(dir.path());
    let (outcome, printed) = run(&cfg, &permission_payload());
    assert_eq!(
        outcome,
        Outcome::Permission(PermissionOutcome::NoDecision("not_watched".into()))
    );
    assert_eq!(printed, "");
    for reply in [
        PermissionReply::Json(json!({"decision": "maybe-later"})),
        PermissionReply::Raw(200, "<html>".into()),
        PermissionReply::Raw(500, r#"{"decision":"allow"}"#.into()),
        PermissionReply::Raw(401, "".into()),
    ] {
        server.set_reply(reply.clone());
        let (outcome, printed) = run(&cfg, &permission_payload());
        assert!(
            matches!(
                outcome,
                Outcome::Permission(PermissionOutcome::NoDecision(_))
            ),
            "{reply:?}: {outcome:?}"
        );
        assert_eq!(printed, "", "{reply:?}");
    }
    // Nobody decides: the runner gives up after its wait, silently.
    server.set_reply(PermissionReply::Hold);
    cfg.permission_wait = Duration::from_millis(700);
    let started = Instant::now();
    let (outcome, printed) = run(&cfg, &permission_payload());
    let took = started.elapsed();
    assert!(
        matches!(
            outcome,
            Outcome::Permission(PermissionOutcome::NoDecision(_))
        ),
        "{outcome:?}"
    );
    assert_eq!(printed, "");
    assert!(
        took >= Duration::from_millis(700),
        "gave up early: {took:?}"
    );
    assert!(spooled(dir.path()).is_empty());
}

#[test]
fn permission_with_the_server_down_spools_history_and_prints_nothing() {
    let dir = data_dir(None);
    let cfg = RunnerConfig::new(dir.path());
    let outcome = ask_permission(&cfg, permission_payload().to_string().as_bytes());
    assert!(
        matches!(
            outcome,
            PermissionOutcome::Unreachable(Delivery::Spooled(_))
        ),
        "{outcome:?}"
    );
    assert_eq!(spooled(dir.path()), vec![permission_payload()]);
}

#[test]
fn the_wait_stays_under_the_installed_timeout() {
    let mut cfg = RunnerConfig::new("/nowhere");
    cfg.permission_wait = Duration::from_secs(100_000);
    assert_eq!(
        cfg.effective_permission_wait(),
        Duration::from_secs(codex_hooks::hooks_file::PERMISSION_TIMEOUT_SECS)
            - runner::PERMISSION_WAIT_MARGIN
    );
    assert!(runner::DEFAULT_PERMISSION_WAIT < cfg.effective_permission_wait());
}

#[test]
fn the_runner_binary_prints_only_a_decision() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let server = FakeOrbitDock::start(PermissionReply::Json(json!({"decision": "allow"})));
    let dir = data_dir(Some(&server.url()));
    let run_bin = |payload: &Value| {
        let mut child = Command::new(runner_bin())
            .args(["hook", "codex", "--budget-ms", "10000", "--data-dir"])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runner");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(payload.to_string().as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert_eq!(run_bin(&stop_payload()), "");
    let printed = run_bin(&permission_payload());
    let v: Value = serde_json::from_str(printed.trim()).expect("json");
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "allow");
    assert_eq!(server.event_names(), vec!["Stop".to_owned()]);
}
