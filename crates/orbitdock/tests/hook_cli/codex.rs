//! Codex hooks end to end, with every part real: `orbitdock hooks install codex` (which also
//! records trust through the pinned Codex), the pinned `codex exec` / TUI running the installed
//! `orbitdock hook codex`, and an OrbitDock server on loopback taking the hooks.
//!
//! * exec with the rollout watcher OFF: the passive session appears and goes working -> waiting
//!   -> ended, with its command, from hooks alone;
//! * exec with the watcher ON: hooks and rollout feed ONE session (no duplicate command item);
//! * a direct session (the hub's own app-server thread runs the same hooks): no shadow session;
//! * the TUI (on-request approvals) asking for an escalated command: an approval card on the
//!   passive session; `orbitdock approve` runs it, `--decline` does not; with the server stopped
//!   the TUI's own prompt appears at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codex_client::tui::{Tui, TuiBuilder};
use orbitdock_protocol::{
    ItemBody, ItemStatus, Origin, Provider, SessionStatus, SessionSummary, TranscriptItem,
};
use orbitdock_server::data_dir::{self, ServerInfo};
use orbitdock_server::{DiscoveryOptions, RunningServer, ServerConfig};
use serde_json::Value;
use test_support::{
    CodexHomeBuilder, ESCALATION_CALL_ID, ESCALATION_JUSTIFICATION, FakeResponses,
    ScriptedResponse, TempCodexHome, codex_bin, escalation_home,
};

use super::orbitdock;

const WAIT: Duration = Duration::from_secs(60);
const TUI_PROMPT: &str = "Would you like to run the following command?";

/// A server on loopback whose data dir is where the installed hook (and every client
/// subcommand) looks for it.
pub(super) struct Hub {
    pub(super) server: Option<RunningServer>,
    pub(super) data: tempfile::TempDir,
    statuses: Arc<Mutex<Vec<(Instant, SessionSummary)>>>,
}

impl Hub {
    async fn start(home: &TempCodexHome, options: DiscoveryOptions) -> Result<Self> {
        Self::start_with_runtime(home, options, |_| orbitdock_server::CodexRuntime::Private).await
    }

    /// [`Hub::start`] with Codex run as `runtime` says (given the hub's data dir).
    pub(super) async fn start_with_runtime(
        home: &TempCodexHome,
        options: DiscoveryOptions,
        runtime: impl FnOnce(&Path) -> orbitdock_server::CodexRuntime,
    ) -> Result<Self> {
        let data = tempfile::tempdir()?;
        let runtime = runtime(data.path());
        let token = data_dir::load_or_create_token(data.path(), false)?;
        let server = orbitdock_server::start_with_runtime(
            ServerConfig {
                data_dir: data.path().to_owned(),
                codex_home: home.path().to_owned(),
                codex_bin: codex_bin(),
                bind: "127.0.0.1:0".parse::<SocketAddr>()?,
                token,
                codex_env: home.env_strings(),
                claude: None,
                output_limits: Default::default(),
            },
            options,
            runtime,
        )
        .await?;
        data_dir::write_server_info(
            data.path(),
            &ServerInfo {
                url: server.base_url(),
                pid: std::process::id(),
            },
        )?;
        // Every summary the list publishes, with when it arrived: the status history.
        let statuses: Arc<Mutex<Vec<(Instant, SessionSummary)>>> = Arc::default();
        let mut sub = server.registry.list_hub().subscribe(None);
        let log = statuses.clone();
        tokio::spawn(async move {
            while let Ok(p) = sub.receiver.recv().await {
                let Ok(v) = serde_json::from_str::<Value>(&p.frame) else {
                    continue;
                };
                let mut found = Vec::new();
                summaries_in(&v, &mut found);
                let now = Instant::now();
                if let Ok(mut l) = log.lock() {
                    l.extend(found.into_iter().map(|s| (now, s)));
                }
            }
        });
        Ok(Self {
            server: Some(server),
            data,
            statuses,
        })
    }

    pub(super) fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server running")
    }

    /// `orbitdock hooks install codex` for `home`, pointing the hooks at this hub's data dir.
    fn install_hooks(&self, home: &TempCodexHome, extra: &[&str]) -> Result<String> {
        let out = orbitdock()
            .arg("--data-dir")
            .arg(self.data.path())
            .args(["hooks", "install", "codex", "--codex-home"])
            .arg(home.path())
            .arg("--codex-bin")
            .arg(codex_bin())
            .args(extra)
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "hooks install failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            stdout.contains("Codex runs all 12 OrbitDock hooks"),
            "trust not recorded: {stdout}"
        );
        Ok(stdout)
    }

    fn sessions_for(&self, thread: &str) -> Vec<SessionSummary> {
        self.server()
            .registry
            .list()
            .1
            .into_iter()
            .filter(|s| s.thread_id.as_deref() == Some(thread))
            .collect()
    }

    /// Polls the list until a session satisfies `pred`.
    async fn wait_session(
        &self,
        what: &str,
        pred: impl Fn(&SessionSummary) -> bool,
    ) -> Result<SessionSummary> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.server().registry.list().1.into_iter().find(&pred) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!(
                    "no session {what} within {WAIT:?}: {:#?}",
                    self.server().registry.list().1
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn items(&self, id: &str) -> Result<Vec<TranscriptItem>> {
        Ok(self
            .server()
            .registry
            .items(id, None, None, Some(500))
            .await?
            .items)
    }

    /// The statuses the list published for a session, in order, deduplicated.
    fn status_history(&self, id: &str) -> Vec<SessionStatus> {
        let mut out: Vec<SessionStatus> = Vec::new();
        for (_, s) in self.statuses.lock().expect("lock").iter() {
            if s.id == id && out.last() != Some(&s.status) {
                out.push(s.status);
            }
        }
        out
    }

    async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

fn summaries_in(v: &Value, out: &mut Vec<SessionSummary>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("thread_id")
                && m.contains_key("status")
                && let Ok(s) = serde_json::from_value::<SessionSummary>(v.clone())
            {
                out.push(s);
                return;
            }
            m.values().for_each(|x| summaries_in(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| summaries_in(x, out)),
        _ => {}
    }
}

fn exec_home(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build()
}

/// A hub watching an exec home with our hooks installed, and a model whose next turn runs
/// `echo hooked`, then answers.
async fn exec_case(options: DiscoveryOptions) -> Result<(Hub, FakeResponses, TempCodexHome)> {
    let fake = FakeResponses::start();
    let home = exec_home(&fake);
    let hub = Hub::start(&home, options).await?;
    hub.install_hooks(&home, &[])?;
    fake.enqueue(ScriptedResponse::new().exec_command("echo hooked", "call_hooked"));
    fake.enqueue(ScriptedResponse::new().text("all done"));
    Ok((hub, fake, home))
}

async fn exec(home: &TempCodexHome, prompt: &str) -> Result<String> {
    home.exec_thread(&[prompt], WAIT)
        .await
        .map_err(anyhow::Error::msg)
}

fn commands(items: &[TranscriptItem]) -> Vec<&TranscriptItem> {
    items
        .iter()
        .filter(|i| matches!(i.body, ItemBody::CommandExecution { .. }))
        .collect()
}

fn spooled(data: &Path) -> usize {
    std::fs::read_to_string(data.join(codex_hooks::SPOOL_FILE))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_status_arrives_through_hooks_with_the_rollout_watcher_off() -> Result<()> {
    let (mut hub, _fake, home) = exec_case(DiscoveryOptions {
        watch_codex: false,
        ..DiscoveryOptions::default()
    })
    .await?;
    let thread = exec(&home, "run the echo").await?;
    let s = hub
        .wait_session("ended through SessionEnd", |s| {
            s.thread_id.as_deref() == Some(thread.as_str()) && s.status == SessionStatus::Ended
        })
        .await?;
    assert_eq!(s.provider, Provider::Codex);
    assert_eq!(s.origin, Origin::Passive);
    assert_eq!(s.model.as_deref(), Some("gpt-oss-20b"));
    assert_eq!(hub.sessions_for(&thread).len(), 1);
    // Only hooks can have said any of this: nothing reads the rollout.
    let history = hub.status_history(&s.id);
    let pos = |st| history.iter().position(|x| *x == st);
    let (w, wt, e) = (
        pos(SessionStatus::Working),
        history.iter().rposition(|x| *x == SessionStatus::Waiting),
        pos(SessionStatus::Ended),
    );
    assert!(
        w.is_some() && wt > w && e > wt,
        "expected working, then waiting, then ended: {history:?}"
    );
    let items = hub.items(&s.id).await?;
    let cmds = commands(&items);
    assert_eq!(cmds.len(), 1, "{items:#?}");
    assert_eq!(cmds[0].id, "call_hooked");
    assert_eq!(cmds[0].status, ItemStatus::Completed);
    match &cmds[0].body {
        ItemBody::CommandExecution {
            command, output, ..
        } => {
            assert!(command.contains("echo hooked"), "{command}");
            assert_eq!(output.trim(), "hooked");
        }
        other => bail!("not a command: {other:?}"),
    }
    assert_eq!(spooled(hub.data.path()), 0, "every hook was delivered live");
    assert!(hub.server().registry.codex_hooks().counts().applied >= 6);
    hub.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_and_the_rollout_watcher_feed_one_session() -> Result<()> {
    let (mut hub, _fake, home) = exec_case(DiscoveryOptions::default()).await?;
    let thread = exec(&home, "run the echo").await?;
    // The rollout brings the transcript of record (the agent's answer, usage, the name).
    let s = hub
        .wait_session("with the rollout's usage and name", |s| {
            s.thread_id.as_deref() == Some(thread.as_str())
                && s.token_usage.total_tokens > 0
                && s.name.is_some()
        })
        .await?;
    let deadline = Instant::now() + WAIT;
    let items = loop {
        let items = hub.items(&s.id).await?;
        if items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text } if text == "all done"))
            || Instant::now() > deadline
        {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hub.sessions_for(&thread).len(), 1, "one session per thread");
    assert_eq!(s.first_prompt.as_deref(), Some("run the echo"));
    let cmds = commands(&items);
    assert_eq!(
        cmds.len(),
        1,
        "the hook's and the rollout's command are one item: {items:#?}"
    );
    assert_eq!(cmds[0].status, ItemStatus::Completed);
    assert!(
        items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text } if text == "all done")),
        "{items:#?}"
    );
    hub.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hubs_own_sessions_make_no_shadow_session() -> Result<()> {
    let (mut hub, _fake, home) = exec_case(DiscoveryOptions::default()).await?;
    let created = orbitdock_server::dispatch(
        &hub.server().registry,
        orbitdock_server::SessionAction::Create(orbitdock_protocol::CreateSessionRequest {
            cwd: home.workdir().to_string_lossy().into_owned(),
            prompt: Some("run the echo".into()),
            ..Default::default()
        }),
    )
    .await?;
    let id = created.body["id"]
        .as_str()
        .context("created id")?
        .to_owned();
    hub.wait_session("direct, finished", |s| {
        s.id == id && s.status == SessionStatus::Waiting && s.token_usage.total_tokens > 0
    })
    .await?;
    // The hooks ran for the hub's thread (Codex runs user hooks in app-server threads too) ...
    let deadline = Instant::now() + WAIT;
    while hub.server().registry.codex_hooks().counts().direct < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counts = hub.server().registry.codex_hooks().counts();
    assert!(counts.direct >= 4, "{counts:?}");
    assert_eq!(counts.applied, 0, "{counts:?}");
    // ... and the list still holds the direct session only.
    let list = hub.server().registry.list().1;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0].origin, Origin::Direct);
    hub.stop().await;
    Ok(())
}

/// The TUI in a pseudo-terminal (on-request approvals) whose model asks to `touch` a marker
/// outside the workspace with escalation, hooks installed for `hub`.
struct TuiCase {
    fake: FakeResponses,
    home: TempCodexHome,
    marker: PathBuf,
    tui: Tui,
}

async fn start_tui(hub: &Hub, wait_ms: u64) -> Result<TuiCase> {
    let fake = FakeResponses::start();
    let (home, marker) = escalation_home(&fake);
    hub.install_hooks(&home, &["--permission-wait-ms", &wait_ms.to_string()])?;
    let tui = TuiBuilder::new(codex_bin(), home.path())
        .cwd(home.workdir())
        .envs(home.env())
        .size(50, 160)
        .prompt("touch the file")
        .spawn()
        .await?;
    Ok(TuiCase {
        fake,
        home,
        marker,
        tui,
    })
}

impl TuiCase {
    /// What the model was told about the escalated call.
    fn call_output(&self) -> String {
        self.fake
            .wait_for_responses_requests(3, WAIT)
            .iter()
            .find_map(|r| r.function_call_output(ESCALATION_CALL_ID))
            .unwrap_or_default()
    }
}

/// A hub watching a home of its own (the TUI's home is another one, reported through hooks).
async fn tui_hub() -> Result<(Hub, FakeResponses, TempCodexHome)> {
    let placeholder = FakeResponses::start();
    let home = exec_home(&placeholder);
    let hub = Hub::start(&home, DiscoveryOptions::default()).await?;
    Ok((hub, placeholder, home))
}

/// Waits for the approval card of a passive session; returns (session id, request id).
async fn approval_card(hub: &Hub, marker: &Path) -> Result<(String, String)> {
    let s = hub
        .wait_session("with a pending approval", |s| {
            s.origin == Origin::Passive && s.pending_approval_count == 1
        })
        .await?;
    assert_eq!(s.status, SessionStatus::NeedsApproval);
    let state = hub.server().registry.get(&s.id).await?.state().await?;
    let card = state
        .pending_approvals
        .first()
        .context("pending approval")?;
    assert_eq!(card.kind, orbitdock_protocol::ApprovalKind::Command);
    assert_eq!(
        card.command.as_deref(),
        Some(format!("touch {}", marker.display()).as_str())
    );
    assert_eq!(card.reason.as_deref(), Some(ESCALATION_JUSTIFICATION));
    Ok((s.id, card.request_id.clone()))
}

/// Waits until the card is gone; returns how it ended (the only approval of the session).
async fn card_resolution(hub: &Hub, sid: &str) -> Result<orbitdock_protocol::ApprovalRecord> {
    let s = hub
        .wait_session("without the card", |s| {
            s.id == sid && s.pending_approval_count == 0
        })
        .await?;
    assert_ne!(s.status, SessionStatus::NeedsApproval);
    let mut history = hub.server().registry.approval_history(sid).await?;
    assert_eq!(history.len(), 1, "{history:#?}");
    Ok(history.remove(0))
}

fn cli_approve(hub: &Hub, session: &str, request: &str, decline: bool) -> Result<()> {
    let mut cmd = orbitdock();
    cmd.arg("--data-dir")
        .arg(hub.data.path())
        .args(["approve", session, request]);
    if decline {
        cmd.arg("--decline");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "orbitdock approve failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_the_card_in_the_hub_runs_the_terminals_command() -> Result<()> {
    let (mut hub, _model, _hub_home) = tui_hub().await?;
    let mut case = start_tui(&hub, 60_000).await?;
    let (sid, rid) = approval_card(&hub, &case.marker).await?;
    assert!(!case.marker.exists(), "ran before anyone answered");
    cli_approve(&hub, &sid, &rid, false)?;
    assert!(
        test_support::wait_for_path(&case.marker, WAIT).await,
        "the accepted command did not run"
    );
    assert!(
        case.call_output().contains("Process exited with code 0"),
        "{}",
        case.call_output()
    );
    case.tui.wait_for_text("done", WAIT).await?;
    assert!(!case.tui.screen().contains(TUI_PROMPT));
    let record = card_resolution(&hub, &sid).await?;
    assert_eq!(
        record.resolution,
        orbitdock_protocol::ApprovalResolution::Decided
    );
    assert_eq!(
        record.decision,
        Some(orbitdock_protocol::ApprovalDecision::Accept)
    );
    let _ = &case.home;
    case.tui.kill(Duration::from_secs(5)).await?;
    hub.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_the_card_in_the_hub_keeps_the_command_from_running() -> Result<()> {
    let (mut hub, _model, _hub_home) = tui_hub().await?;
    let mut case = start_tui(&hub, 60_000).await?;
    let (sid, rid) = approval_card(&hub, &case.marker).await?;
    cli_approve(&hub, &sid, &rid, true)?;
    let output = case.call_output();
    assert!(
        output.contains(codex_hooks::permission::DEFAULT_DENY_MESSAGE),
        "{output}"
    );
    case.tui.wait_for_text("Blocked by hook", WAIT).await?;
    assert!(!case.marker.exists(), "a declined command ran");
    assert!(!case.tui.screen().contains(TUI_PROMPT));
    case.tui.kill(Duration::from_secs(5)).await?;
    hub.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_stopped_the_terminal_prompt_appears_at_once() -> Result<()> {
    let (mut hub, _model, _hub_home) = tui_hub().await?;
    // A long wait configured: a stopped server must not make the terminal sit through it.
    let mut case = start_tui(&hub, 120_000).await?;
    hub.stop().await;
    let t = Instant::now();
    case.tui.wait_for_text(TUI_PROMPT, WAIT).await?;
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(45),
        "the prompt took {took:?} (configured wait 120 s)"
    );
    let screen = case.tui.screen();
    assert!(!screen.contains("hook timed out"), "{}", screen.text());
    assert!(!case.marker.exists());
    // The request went to the spool (history for the hub's next start), nothing was decided.
    let spool = std::fs::read_to_string(hub.data.path().join(codex_hooks::SPOOL_FILE))?;
    assert!(spool.contains("PermissionRequest"), "{spool}");
    case.tui.kill(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_answering_within_the_wait_withdraws_the_card_and_the_terminal_asks() -> Result<()> {
    let (mut hub, _model, _hub_home) = tui_hub().await?;
    let mut case = start_tui(&hub, 3_000).await?;
    let (sid, _) = approval_card(&hub, &case.marker).await?;
    let t = Instant::now();
    case.tui.wait_for_text(TUI_PROMPT, WAIT).await?;
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "the prompt took {took:?} after the card appeared (wait 3 s)"
    );
    assert!(!case.tui.screen().contains("hook timed out"));
    let record = card_resolution(&hub, &sid).await?;
    assert_eq!(
        record.resolution,
        orbitdock_protocol::ApprovalResolution::Withdrawn,
        "{record:#?}"
    );
    assert!(!case.marker.exists());
    case.tui.kill(Duration::from_secs(5)).await?;
    hub.stop().await;
    Ok(())
}
