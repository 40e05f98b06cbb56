//! What every test here needs: the pinned CLI, a loopback fake of the Messages API, an isolated
//! config dir and working dir, and an event reader that waits with a deadline and says what it
//! saw when it gives up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use claude_code::protocol::messages::ResultMessage;
use claude_code::protocol::{OutputMessage, SystemMessage};
use claude_code::{BinaryResolver, PermissionRequest, SessionBuilder, SessionEvent};
use test_support::ClaudeHome;
use tokio::sync::mpsc;

/// How long any single wait may take. Generous: the machine is shared and the CLI is a large
/// binary whose first start reads ~400 MB.
pub const WAIT: Duration = Duration::from_secs(90);

/// The pinned CLI: `$CLAUDE_BIN`, else the install under `<root>/tools/claude`.
pub fn claude_bin() -> PathBuf {
    BinaryResolver::new()
        .use_path(false)
        .managed_dir(test_support::workspace_root().join("tools/claude"))
        .locate()
        .unwrap_or_else(|e| panic!("{e}: run scripts/setup.sh to install the pinned Claude Code"))
}

/// A fake API, a temp config dir and a temp working dir (test-support's [`ClaudeHome`]).
pub struct Env(ClaudeHome);

impl std::ops::Deref for Env {
    type Target = ClaudeHome;
    fn deref(&self) -> &ClaudeHome {
        &self.0
    }
}

impl Env {
    pub fn new() -> Env {
        Env(ClaudeHome::new())
    }

    /// A session builder wired to the fake, fully offline and isolated.
    pub fn builder(&self) -> SessionBuilder {
        let mut b = SessionBuilder::new(claude_bin())
            .cwd(&self.cwd)
            .config_dir(&self.config)
            .home(&self.home)
            .anthropic_base_url(self.fake.base_url())
            .api_key("sk-ant-test-fake")
            .disable_nonessential_traffic();
        for var in test_support::CLAUDE_SCRUBBED_ENV {
            b = b.env_remove(*var);
        }
        b
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.cwd.join(name)
    }
}

/// Reads session events with a deadline, keeping a one-line summary of each for failures.
pub struct Events {
    rx: mpsc::Receiver<SessionEvent>,
    log: Vec<String>,
}

impl Events {
    pub fn new(rx: mpsc::Receiver<SessionEvent>) -> Events {
        Events {
            rx,
            log: Vec::new(),
        }
    }

    /// The next event; panics after [`WAIT`] or when the channel closed.
    pub async fn next(&mut self, waiting_for: &str) -> SessionEvent {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(e)) => {
                self.log.push(summary(&e));
                e
            }
            Ok(None) => panic!(
                "event channel closed while waiting for {waiting_for}; saw:\n{}",
                self.log.join("\n")
            ),
            Err(_) => panic!(
                "no event for {WAIT:?} while waiting for {waiting_for}; saw:\n{}",
                self.log.join("\n")
            ),
        }
    }

    /// Every event up to and including the first for which `stop` is true.
    pub async fn until(
        &mut self,
        waiting_for: &str,
        stop: impl Fn(&SessionEvent) -> bool,
    ) -> Vec<SessionEvent> {
        let mut seen = Vec::new();
        loop {
            let e = self.next(waiting_for).await;
            let done = stop(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
    }

    /// Events up to the next permission request, and that request.
    pub async fn permission(&mut self) -> (PermissionRequest, Vec<SessionEvent>) {
        let seen = self
            .until("a permission request", |e| {
                matches!(e, SessionEvent::PermissionRequest(_))
            })
            .await;
        match seen.last() {
            Some(SessionEvent::PermissionRequest(p)) => (p.clone(), seen),
            _ => unreachable!("until() stops on a permission request"),
        }
    }

    /// Events up to the end of the turn, and its result.
    pub async fn result(&mut self) -> (ResultMessage, Vec<SessionEvent>) {
        let seen = self
            .until("the turn's result", |e| {
                matches!(e, SessionEvent::Message(OutputMessage::Result(_)))
            })
            .await;
        match seen.last() {
            Some(SessionEvent::Message(OutputMessage::Result(r))) => (r.clone(), seen),
            _ => unreachable!("until() stops on a result"),
        }
    }

    /// Drains to `Exited`, asserting nothing comes after it.
    pub async fn exited(&mut self) -> Option<i32> {
        let seen = self
            .until("exit", |e| matches!(e, SessionEvent::Exited { .. }))
            .await;
        let Some(SessionEvent::Exited { status, .. }) = seen.last() else {
            unreachable!("until() stops on exit")
        };
        let status = *status;
        assert!(
            self.rx.recv().await.is_none(),
            "Exited must be the last event"
        );
        status
    }
}

fn summary(e: &SessionEvent) -> String {
    let text = match e {
        SessionEvent::Message(m) => match m {
            OutputMessage::System(SystemMessage::Init(i)) => {
                format!("system/init {}", i.session_id)
            }
            OutputMessage::Assistant(a) => format!("assistant {:?}", a.message.content),
            OutputMessage::User(u) => format!("user {:?}", u.message.content),
            OutputMessage::Result(r) => format!(
                "result {} is_error={} {:?}",
                r.subtype, r.is_error, r.result
            ),
            other => format!(
                "{:?} {}",
                other.tag(),
                serde_json::to_string(other).unwrap_or_default()
            ),
        },
        SessionEvent::PermissionRequest(p) => format!("permission {} {}", p.tool_name(), p.input()),
        other => format!("{other:?}"),
    };
    text.chars().take(300).collect()
}

/// Messages among the events.
pub fn messages(events: &[SessionEvent]) -> Vec<&OutputMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Pids of live processes whose command line contains `needle` (Linux).
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if cmdline.contains(needle) && !zombie {
            out.push(pid);
        }
    }
    out
}

/// Polls until `cond` holds; panics with `what` after [`WAIT`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The transcript file of a session under a config dir (`projects/<cwd-slug>/<id>.jsonl`).
pub fn transcript_path(config: &Path, session_id: &str) -> Option<PathBuf> {
    test_support::ClaudeHome::transcript_path(config, session_id)
}
