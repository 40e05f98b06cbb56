//! The `orbitdock hook codex` runner: one payload in on stdin, at most one decision out.
//!
//! * Every event but PermissionRequest: POST the payload to [`EVENT_ROUTE`] within
//!   [`DEFAULT_FORWARD_BUDGET`], else append it to the spool ([`SPOOL_FILE`] in the data dir, the
//!   same fsync'd, `flock`ed JSONL design as Claude's, in its own file); print nothing. Codex
//!   waits for sync hooks, so the budget is what a hook costs a turn.
//! * PermissionRequest: POST a [`PermissionAsk`] to [`PERMISSION_ROUTE`] and wait up to the
//!   configured wait (default [`DEFAULT_PERMISSION_WAIT`], always at least
//!   [`PERMISSION_WAIT_MARGIN`] under the installed timeout) for a person's decision; print the
//!   allow/deny JSON on a decision; print nothing (the terminal prompt takes over) when the server
//!   is down, answers `none`, answers garbage or does not answer in time. When the server could
//!   not be reached at all the payload is spooled (history only: by the time it is drained, the
//!   terminal has answered).
//!
//! The caller exits 0 in every case: a failing hook would show up in the user's terminal.
//! Server address and token come from the data dir exactly as for `orbitdock hook claude`
//! (`server.json`, `token`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use claude_hooks::forward::{read_payload, server_endpoint};
use claude_hooks::{Delivery, Spool};
use serde_json::value::RawValue;

use crate::hook_payload::{HookEvent, event_name_of};
use crate::hooks_file::PERMISSION_TIMEOUT_SECS;
use crate::http;
use crate::permission::{PERMISSION_ROUTE, PermissionAnswer, PermissionAsk};

/// The route hook events are POSTed to (body: the payload as Codex sent it; 2xx = persisted).
pub const EVENT_ROUTE: &str = "/api/hooks/codex";

/// The spool file inside the data dir (Claude's is `claude-hooks.spool.jsonl`).
pub const SPOOL_FILE: &str = "codex-hooks.spool.jsonl";

/// Time budget for forwarding one event when the server is up.
pub const DEFAULT_FORWARD_BUDGET: Duration = Duration::from_millis(50);

/// How long a PermissionRequest waits for a person by default: long enough to pick up a phone,
/// short enough that a terminal user is not left staring at "Running hook" for long (the TUI
/// shows no prompt while the hook runs).
pub const DEFAULT_PERMISSION_WAIT: Duration = Duration::from_secs(120);

/// Kept between the wait and the installed PermissionRequest timeout, so Codex never kills the
/// hook (which it reports as "hook timed out") before it gives up on its own.
pub const PERMISSION_WAIT_MARGIN: Duration = Duration::from_secs(10);

/// The spool of a data dir.
pub fn spool(data_dir: &Path) -> Spool {
    Spool::at(data_dir.join(SPOOL_FILE))
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// OrbitDock's data dir (`server.json`, `token`, the spool).
    pub data_dir: PathBuf,
    /// Budget for forwarding an event.
    pub forward_budget: Duration,
    /// How long a PermissionRequest waits for a decision (clamped, see
    /// [`RunnerConfig::effective_permission_wait`]).
    pub permission_wait: Duration,
}

impl RunnerConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            forward_budget: DEFAULT_FORWARD_BUDGET,
            permission_wait: DEFAULT_PERMISSION_WAIT,
        }
    }

    /// The wait actually used: at most the installed timeout minus [`PERMISSION_WAIT_MARGIN`].
    pub fn effective_permission_wait(&self) -> Duration {
        let cap =
            Duration::from_secs(PERMISSION_TIMEOUT_SECS).saturating_sub(PERMISSION_WAIT_MARGIN);
        self.permission_wait.min(cap)
    }
}

/// What became of a PermissionRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionOutcome {
    /// The server decided; `printed` is the line written to stdout.
    Decided {
        /// The server's answer.
        answer: PermissionAnswer,
        /// What the hook printed.
        printed: String,
    },
    /// No decision: nothing printed. Why (the server's reason, a timeout, an error).
    NoDecision(String),
    /// The server could not be reached: nothing printed, the payload went to the spool.
    Unreachable(Delivery),
}

/// What the runner did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A non-permission event (or an unreadable payload): where it went.
    Event(Delivery),
    /// A PermissionRequest.
    Permission(PermissionOutcome),
}

/// The whole `orbitdock hook codex` command: reads stdin, routes by event, writes a decision to
/// `stdout` when there is one. Never fails; problems worth a human's eye go to stderr.
pub fn run_hook(cfg: &RunnerConfig, input: impl Read, stdout: &mut impl Write) -> Outcome {
    let payload = match read_payload(input) {
        Ok(bytes) => bytes,
        Err(e) => {
            let line = serde_json::json!({"orbitdock_invalid_payload": "", "error": e}).to_string();
            return Outcome::Event(spool_line(&cfg.data_dir, &line, e));
        }
    };
    if event_name_of(&payload) == Some(HookEvent::PermissionRequest) {
        let outcome = ask_permission(cfg, &payload);
        if let PermissionOutcome::Decided { printed, .. } = &outcome {
            // Codex reads the decision from stdout; a failed write is just no decision.
            let _ = writeln!(stdout, "{printed}").and_then(|_| stdout.flush());
        }
        if let PermissionOutcome::Unreachable(Delivery::Dropped(why)) = &outcome {
            eprintln!("orbitdock hook codex: payload dropped: {why}");
        }
        return Outcome::Permission(outcome);
    }
    let d = forward_event(cfg, &payload);
    if let Delivery::Dropped(why) = &d {
        eprintln!("orbitdock hook codex: payload dropped: {why}");
    }
    Outcome::Event(d)
}

/// Forwards one event: POST within the budget, else spool. Invalid JSON is spooled too
/// (wrapped, so the line stays one JSON object) for the server to count and log.
pub fn forward_event(cfg: &RunnerConfig, payload: &[u8]) -> Delivery {
    let compact = match compact_json(payload) {
        Ok(c) => c,
        Err(e) => {
            let wrapped = serde_json::json!({
                "orbitdock_invalid_payload": String::from_utf8_lossy(payload),
                "error": e,
            });
            return spool_line(
                &cfg.data_dir,
                &wrapped.to_string(),
                "payload is not JSON".into(),
            );
        }
    };
    let reason = match server_endpoint(&cfg.data_dir) {
        Ok((addr, token)) => {
            let deadline = Instant::now() + cfg.forward_budget;
            match http::post(addr, EVENT_ROUTE, &token, compact.as_bytes(), deadline) {
                Ok(r) if (200..300).contains(&r.status) => return Delivery::Delivered,
                Ok(r) => format!("server answered {}", r.status),
                Err(e) => e.to_string(),
            }
        }
        Err(e) => e,
    };
    spool_line(&cfg.data_dir, &compact, reason)
}

/// Asks the server for a decision on a PermissionRequest payload and holds the request open for
/// at most [`RunnerConfig::effective_permission_wait`].
pub fn ask_permission(cfg: &RunnerConfig, payload: &[u8]) -> PermissionOutcome {
    let wait = cfg.effective_permission_wait();
    let compact = match compact_json(payload) {
        Ok(c) => c,
        Err(e) => return PermissionOutcome::NoDecision(format!("payload is not JSON: {e}")),
    };
    let (addr, token) = match server_endpoint(&cfg.data_dir) {
        Ok(x) => x,
        Err(e) => {
            return PermissionOutcome::Unreachable(spool_line(&cfg.data_dir, &compact, e));
        }
    };
    let ask = match RawValue::from_string(compact.clone()) {
        Ok(raw) => PermissionAsk {
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            payload: raw,
        },
        Err(e) => return PermissionOutcome::NoDecision(format!("payload is not JSON: {e}")),
    };
    let body = match serde_json::to_vec(&ask) {
        Ok(b) => b,
        Err(e) => return PermissionOutcome::NoDecision(e.to_string()),
    };
    let deadline = Instant::now() + wait;
    let response = match http::post(addr, PERMISSION_ROUTE, &token, &body, deadline) {
        Ok(r) => r,
        Err(http::PostError::NotSent(e)) => {
            return PermissionOutcome::Unreachable(spool_line(&cfg.data_dir, &compact, e));
        }
        Err(e) => return PermissionOutcome::NoDecision(e.to_string()),
    };
    if !(200..300).contains(&response.status) {
        return PermissionOutcome::NoDecision(format!("server answered {}", response.status));
    }
    let answer: PermissionAnswer = match serde_json::from_slice(&response.body) {
        Ok(a) => a,
        Err(e) => return PermissionOutcome::NoDecision(format!("bad answer: {e}")),
    };
    match answer.hook_output() {
        Some(out) => PermissionOutcome::Decided {
            printed: out.to_json(),
            answer,
        },
        None => PermissionOutcome::NoDecision(
            answer
                .reason
                .clone()
                .unwrap_or_else(|| format!("decision {}", answer.decision.as_str())),
        ),
    }
}

fn compact_json(payload: &[u8]) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    serde_json::to_string(&v).map_err(|e| e.to_string())
}

fn spool_line(data_dir: &Path, line: &str, reason: String) -> Delivery {
    match spool(data_dir).append(line.as_bytes()) {
        Ok(()) => Delivery::Spooled(reason),
        Err(e) => Delivery::Dropped(format!("{reason}; spool failed: {e}")),
    }
}
