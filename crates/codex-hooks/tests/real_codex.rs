//! The pinned Codex with our hooks installed: untrusted hooks do not run; after
//! `trust_our_hooks` (the TUI's own trust record, written through app-server) `codex exec` —
//! WITHOUT `--dangerously-bypass-hook-trust` — delivers its events to the (stand-in) server
//! through the runner; Codex's `hooks/list` sees exactly what we installed, in either file, and
//! foreign hooks stay trusted across our install and uninstall.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use codex_client::app_server::AppServerBuilder;
use codex_client::app_server::requests::{
    ConfigBatchWrite, ConfigBatchWriteParams, ConfigEdit, HookMetadata, HookTrustStatus, HooksList,
    HooksListParams,
};
use codex_hooks::hooks_file::{self, EVENT_TIMEOUT_SECS, PERMISSION_TIMEOUT_SECS};
use codex_hooks::{HooksFormat, hook_command, install, trust_our_hooks, trust_status, uninstall};
use serde_json::{Value, json};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome, codex_bin};

use crate::common::{FakeOrbitDock, PermissionReply, data_dir, runner_bin, spooled};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `codex exec --json` (no hook-trust bypass); returns the thread id.
fn exec(home: &TempCodexHome, prompt: &str) -> Result<String> {
    let out = home
        .command(&["exec", "--json", "--skip-git-repo-check", prompt])
        .output()
        .context("run codex exec")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "exec failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "thread.started")
        .and_then(|v| v["thread_id"].as_str().map(str::to_owned))
        .context("no thread.started")
}

fn script_echo(fake: &FakeResponses) {
    fake.enqueue(ScriptedResponse::new().exec_command("echo hi", "call_1"));
    fake.enqueue(ScriptedResponse::new().text("done"));
}

/// Every hook Codex lists for this home (user layer).
async fn listed(home: &Path) -> Result<(Vec<HookMetadata>, Vec<String>)> {
    let (server, _events) = AppServerBuilder::new(codex_bin(), home)
        .current_dir(home)
        .spawn()
        .await?;
    let r = server
        .call::<HooksList>(HooksListParams {
            cwds: vec![home.to_string_lossy().into_owned()],
            thread_id: None,
        })
        .await?;
    let _ = server.shutdown().await;
    let entry = r.data.into_iter().next().context("no entry")?;
    Ok((entry.hooks, entry.warnings))
}

/// Trusts every hook of the home as a person would in the TUI (foreign ones included).
async fn trust_everything(home: &Path) -> Result<()> {
    let (hooks, _) = listed(home).await?;
    let mut value = serde_json::Map::new();
    for h in hooks {
        value.insert(h.key, json!({ "trusted_hash": h.current_hash }));
    }
    let (server, _events) = AppServerBuilder::new(codex_bin(), home)
        .current_dir(home)
        .spawn()
        .await?;
    server
        .call::<ConfigBatchWrite>(ConfigBatchWriteParams {
            edits: vec![ConfigEdit {
                key_path: "hooks.state".into(),
                merge_strategy: "upsert".into(),
                value: Value::Object(value),
            }],
            ..Default::default()
        })
        .await?;
    let _ = server.shutdown().await;
    Ok(())
}

#[test]
fn exec_events_reach_the_server_through_our_trusted_hooks() -> Result<()> {
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("workspace-write")
        .build();
    let server = FakeOrbitDock::start(PermissionReply::Hold);
    let dir = data_dir(Some(&server.url()));
    // A generous budget: this test is about what Codex sends through the hooks, and a loaded
    // test machine can miss the default 50 ms (the payload would then be in the spool instead).
    let command = format!(
        "{} --budget-ms 10000",
        hook_command(&runner_bin(), Some(dir.path()))
    );
    install(home.path(), &command)?;
    let rt = rt();

    // Installed but not trusted: Codex skips our hooks silently.
    let (ours, _) = rt.block_on(trust_status(&codex_bin(), home.path()))?;
    assert_eq!(ours.len(), 12);
    assert!(
        ours.iter()
            .all(|h| h.hook.trust_status == HookTrustStatus::Untrusted)
    );
    script_echo(&fake);
    exec(&home, "say hi")?;
    assert!(server.received().is_empty(), "{:?}", server.received());

    let report = rt.block_on(trust_our_hooks(&codex_bin(), home.path()))?;
    assert_eq!(report.trusted.len(), 12);
    assert!(report.hooks.iter().all(|h| h.runs()));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        hooks_file::file_status(home.path())?.trust_recorded.len(),
        12
    );

    script_echo(&fake);
    let thread = exec(&home, "say hi")?;
    let want = [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "SessionEnd",
    ];
    let got = server.wait_for(Duration::from_secs(10), |r| r.len() >= want.len());
    let names: Vec<&str> = got
        .iter()
        .filter_map(|r| r.body["hook_event_name"].as_str())
        .collect();
    assert_eq!(names, want);
    for r in &got {
        assert_eq!(r.route, codex_hooks::EVENT_ROUTE);
        assert_eq!(r.body["session_id"], thread.as_str(), "{}", r.body);
        assert_eq!(
            r.body["cwd"].as_str().map(Path::new),
            Some(home.workdir()),
            "{}",
            r.body
        );
        let transcript = r.body["transcript_path"].as_str().unwrap_or_default();
        assert!(
            transcript.ends_with(&format!("{thread}.jsonl")),
            "{transcript}"
        );
    }
    assert_eq!(got[1].body["prompt"], "say hi");
    assert_eq!(got[2].body["tool_name"], "Bash");
    assert_eq!(got[2].body["tool_input"]["command"], "echo hi");
    assert_eq!(got[3].body["tool_response"], "hi\n");
    assert_eq!(got[4].body["last_assistant_message"], "done");
    assert!(spooled(dir.path()).is_empty());

    // Re-installing the same command changes nothing, so the trust holds.
    assert!(install(home.path(), &command)?.written.is_empty());
    let (ours, _) = rt.block_on(trust_status(&codex_bin(), home.path()))?;
    assert!(ours.iter().all(|h| h.runs()));
    Ok(())
}

#[test]
fn codex_loads_our_toml_hooks_with_our_timeouts_and_no_warning() -> Result<()> {
    let home = CodexHomeBuilder::new("http://127.0.0.1:9/v1")
        .extra_toml("[[hooks.Stop]]\nhooks = [{ type = \"command\", command = \"true\" }]\n")
        .build();
    let command = hook_command(&runner_bin(), Some(Path::new("/nonexistent-data")));
    let change = install(home.path(), &command)?;
    assert_eq!(change.format, Some(HooksFormat::Toml));
    let (hooks, warnings) = rt().block_on(listed(home.path()))?;
    assert!(warnings.is_empty(), "{warnings:?}");
    let ours: Vec<&HookMetadata> = hooks
        .iter()
        .filter(|h| h.command.as_deref() == Some(command.as_str()))
        .collect();
    assert_eq!(ours.len(), 12);
    for h in &ours {
        assert!(h.source_path.ends_with("config.toml"), "{}", h.source_path);
        let want = match h.event_name.as_str() {
            "permissionRequest" => PERMISSION_TIMEOUT_SECS,
            "sessionEnd" | "interrupt" => 3,
            _ => EVENT_TIMEOUT_SECS,
        };
        assert_eq!(h.timeout_sec, want, "{}", h.event_name);
    }
    // Our keys are the ones our scan computes.
    let mut scanned: Vec<String> = hooks_file::scan(home.path())?
        .into_iter()
        .filter(|h| h.ours)
        .map(|h| h.key())
        .collect();
    let mut theirs: Vec<String> = ours.iter().map(|h| h.key.clone()).collect();
    scanned.sort();
    theirs.sort();
    assert_eq!(scanned, theirs);
    Ok(())
}

#[test]
fn foreign_hooks_stay_trusted_across_our_install_and_uninstall() -> Result<()> {
    let home = CodexHomeBuilder::new("http://127.0.0.1:9/v1").build();
    let hj = home.path().join("hooks.json");
    std::fs::write(
        &hj,
        r#"{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"echo first"}]}]}}"#,
    )?;
    let command = hook_command(&runner_bin(), Some(Path::new("/nonexistent-data")));
    install(home.path(), &command)?;
    // The user then adds a hook after ours and trusts everything.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&hj)?)?;
    v["hooks"]["Stop"]
        .as_array_mut()
        .context("Stop")?
        .push(json!({"hooks": [{"type": "command", "command": "echo later"}]}));
    std::fs::write(&hj, v.to_string())?;
    let rt = rt();
    rt.block_on(trust_everything(home.path()))?;
    let trusted = |hooks: &[HookMetadata], cmd: &str| {
        hooks
            .iter()
            .find(|h| h.command.as_deref() == Some(cmd))
            .map(|h| h.trust_status.clone())
    };
    let (hooks, _) = rt.block_on(listed(home.path()))?;
    assert_eq!(hooks.len(), 14);
    assert!(
        hooks
            .iter()
            .all(|h| h.trust_status == HookTrustStatus::Trusted)
    );

    let change = uninstall(home.path())?;
    assert_eq!(
        (change.removed, change.trust_moved, change.trust_dropped),
        (12, 1, 11)
    );
    let (hooks, _) = rt.block_on(listed(home.path()))?;
    assert_eq!(hooks.len(), 2);
    assert_eq!(
        trusted(&hooks, "echo first"),
        Some(HookTrustStatus::Trusted)
    );
    assert_eq!(
        trusted(&hooks, "echo later"),
        Some(HookTrustStatus::Trusted),
        "moved with it"
    );

    install(home.path(), &command)?;
    let (hooks, _) = rt.block_on(listed(home.path()))?;
    assert_eq!(
        trusted(&hooks, "echo first"),
        Some(HookTrustStatus::Trusted)
    );
    assert_eq!(
        trusted(&hooks, "echo later"),
        Some(HookTrustStatus::Trusted)
    );
    assert_eq!(trusted(&hooks, &command), Some(HookTrustStatus::Untrusted));
    rt.block_on(trust_our_hooks(&codex_bin(), home.path()))?;
    let (hooks, _) = rt.block_on(listed(home.path()))?;
    assert!(
        hooks
            .iter()
            .all(|h| h.trust_status == HookTrustStatus::Trusted)
    );
    Ok(())
}
