//! PermissionRequest end to end: the REAL TUI in a pseudo-terminal (`codex_client::tui`; approval policy
//! on-request), a loopback model asking for an escalated `exec_command`, our trusted hooks
//! running the runner, and the stand-in OrbitDock server deciding. Allow runs the command with no
//! prompt; deny does not run it and the model hears why; no decision within the wait gives the
//! TUI's own prompt (and no "hook timed out"), which then works as usual.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use codex_client::tui::{Key, Tui, TuiBuilder};
use codex_hooks::{hook_command, install, trust_our_hooks};
use serde_json::json;
use test_support::{
    ESCALATION_CALL_ID, ESCALATION_JUSTIFICATION, FakeResponses, TempCodexHome, codex_bin,
    escalation_home,
};

use crate::common::{FakeOrbitDock, PermissionReply, data_dir, runner_bin};

const PROMPT: &str = "Would you like to run the following command?";

struct Case {
    fake: FakeResponses,
    home: TempCodexHome,
    server: FakeOrbitDock,
    _data: tempfile::TempDir,
    marker: PathBuf,
    tui: Tui,
}

/// Installs and trusts our hooks (runner waiting `wait_ms`), starts the TUI on a prompt whose
/// model turn asks to `touch` a marker file outside the workspace with escalation.
async fn start(reply: PermissionReply, wait_ms: u64) -> Result<Case> {
    let fake = FakeResponses::start();
    let (home, marker) = escalation_home(&fake);
    let server = FakeOrbitDock::start(reply);
    let data = data_dir(Some(&server.url()));
    let command = format!(
        "{} --permission-wait-ms {wait_ms}",
        hook_command(&runner_bin(), Some(data.path()))
    );
    install(home.path(), &command)?;
    trust_our_hooks(&codex_bin(), home.path()).await?;
    let tui = TuiBuilder::new(codex_bin(), home.path())
        .cwd(home.workdir())
        .envs(home.env())
        .size(50, 160)
        .prompt("touch the file")
        .spawn()
        .await?;
    Ok(Case {
        fake,
        home,
        server,
        _data: data,
        marker,
        tui,
    })
}

impl Case {
    fn permission_asked(&self) -> serde_json::Value {
        let got = tokio::task::block_in_place(|| {
            self.server.wait_for(Duration::from_secs(60), |r| {
                r.iter().any(|x| x.route == codex_hooks::PERMISSION_ROUTE)
            })
        });
        got.into_iter()
            .find(|x| x.route == codex_hooks::PERMISSION_ROUTE)
            .map(|x| x.body)
            .unwrap_or_default()
    }

    /// The model's view of the call: the `function_call_output` of the follow-up request.
    fn call_output(&self) -> String {
        let reqs = self
            .fake
            .wait_for_responses_requests(3, Duration::from_secs(60));
        reqs.iter()
            .find_map(|r| r.function_call_output(ESCALATION_CALL_ID))
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_the_hub_runs_the_escalated_command_without_a_prompt() -> Result<()> {
    let mut case = start(PermissionReply::Json(json!({"decision": "allow"})), 30_000).await?;
    let asked = case.permission_asked();
    assert_eq!(asked["payload"]["hook_event_name"], "PermissionRequest");
    assert_eq!(asked["payload"]["tool_name"], "Bash");
    assert_eq!(
        asked["payload"]["tool_input"]["command"],
        format!("touch {}", case.marker.display())
    );
    assert_eq!(
        asked["payload"]["tool_input"]["description"],
        ESCALATION_JUSTIFICATION
    );
    assert_eq!(asked["wait_ms"], 30_000);
    assert!(
        test_support::wait_for_path(&case.marker, Duration::from_secs(60)).await,
        "the command did not run"
    );
    let output = case.call_output();
    assert!(output.contains("Process exited with code 0"), "{output}");
    case.tui
        .wait_for_text("done", Duration::from_secs(30))
        .await?;
    assert!(
        !case.tui.screen().contains(PROMPT),
        "the TUI asked although the hub allowed"
    );
    let _ = &case.home;
    case.tui.kill(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_from_the_hub_keeps_the_command_from_running() -> Result<()> {
    let mut case = start(
        PermissionReply::Json(json!({"decision": "deny", "message": "declined in the hub"})),
        30_000,
    )
    .await?;
    case.permission_asked();
    let output = case.call_output();
    assert!(output.contains("declined in the hub"), "{output}");
    assert!(output.contains("Rejected"), "{output}");
    case.tui
        .wait_for_text("declined in the hub", Duration::from_secs(30))
        .await?;
    assert!(
        case.tui.screen().contains("Blocked by hook"),
        "{}",
        case.tui.screen().text()
    );
    assert!(!case.marker.exists(), "a denied command ran");
    assert!(!case.tui.screen().contains(PROMPT));
    case.tui.kill(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_decision_within_the_wait_gives_the_terminal_prompt() -> Result<()> {
    let mut case = start(PermissionReply::Hold, 2_000).await?;
    case.permission_asked();
    case.tui
        .wait_for_text(PROMPT, Duration::from_secs(60))
        .await?;
    assert!(
        !case.tui.screen().contains("hook timed out"),
        "Codex killed the hook:\n{}",
        case.tui.screen().text()
    );
    assert!(
        !case.tui.screen().contains("Hook failed"),
        "{}",
        case.tui.screen().text()
    );
    assert!(!case.marker.exists(), "ran before anyone answered");
    // The person at the terminal accepts the highlighted "Yes, proceed": the fallback prompt is
    // a working approval, not a leftover screen. The TUI ignores keys for a moment after an
    // approval prompt appears (typed-ahead keys must not approve anything), so Enter is repeated
    // until the command has run.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ran = false;
    while !ran && Instant::now() < deadline {
        case.tui.send_key(Key::Enter).await?;
        ran = test_support::wait_for_path(&case.marker, Duration::from_millis(300)).await;
    }
    assert!(
        ran,
        "accepted command did not run:\n{}",
        case.tui.screen().text()
    );
    case.tui.kill(Duration::from_secs(5)).await?;
    Ok(())
}
