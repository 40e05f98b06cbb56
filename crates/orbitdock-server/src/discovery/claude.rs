//! Claude Code hook payloads -> passive Claude sessions in the registry.
//!
//! Each payload names Claude's `session_id`, which is the session's thread id here: the first
//! payload of an unknown id creates a passive Claude session, later ones feed it through
//! [`SessionHandle::ingest`] like any other agent's events. Mapping:
//! SessionStart -> waiting (+ model); UserPromptSubmit -> a user item, working; PreToolUse ->
//! an in-progress tool item (a command item for `Bash`), working; PostToolUse -> that item
//! completed with its output; Notification -> needs_approval for permission prompts, else
//! waiting; Stop -> waiting; SubagentStop / PreCompact -> a notice; SessionEnd -> ended.
//!
//! PreToolUse also counts the tool in the summary; the session's git branch is read from its
//! working directory when it is created.
//!
//! When the payload names a transcript where Claude Code keeps them and the server tails
//! transcripts ([`super::claude_transcript`]), the conversation's items (and the tool count)
//! come from the transcript instead, which has what hooks lack (answers, thinking, diffs); the
//! hook then only moves the status and triggers a read of the transcript.
//!
//! Payloads spooled by `orbitdock hook claude` while the server was down are applied by
//! [`drain_spool`] at start-up, and removed from the spool only once applied.

use std::path::Path;
use std::sync::Arc;

use claude_hooks::{HookEvent, HookPayload, Spool};
use orbitdock_protocol::{ItemBody, ItemStatus, Origin, Provider, SessionStatus};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::registry::{NewSession, Registry};
use crate::session::{SessionEvent, SessionHandle};

/// Applies one payload; returns the OrbitDock session id.
pub async fn apply_hook(registry: &Registry, p: HookPayload) -> Result<String> {
    let handle = session_for(registry, &p).await?;
    // A session OrbitDock drives reports everything through its own stream; the hooks a
    // person installed in the same config dir fire for it too and would duplicate it.
    if registry
        .list_hub()
        .get(handle.id())
        .is_some_and(|s| s.origin == Origin::Direct)
    {
        return Ok(handle.id().to_owned());
    }
    let transcripts = registry.claude_transcripts();
    let transcript = transcripts.and(transcript_of(&p));
    let mut events = events_for(&p);
    if transcript.is_some() {
        // The transcript renders the conversation (and counts the tools) in full; the hook
        // adds only what it knows first: status, model, notices.
        events.retain(|e| !matches!(e, SessionEvent::Item { .. } | SessionEvent::ToolUsed(_)));
    }
    if !events.is_empty() {
        // Committed before answering: the hook's caller (and tests) read the list next.
        handle.ingest_committed(events).await?;
    }
    if let (Some(t), Some(path)) = (transcripts, transcript) {
        t.touch(path, handle.id().to_owned());
    }
    Ok(handle.id().to_owned())
}

/// The transcript a payload names, when it is where Claude Code keeps transcripts
/// (`<config dir>/projects/<cwd slug>/<session id>.jsonl`).
fn transcript_of(p: &HookPayload) -> Option<std::path::PathBuf> {
    config_dir_of(p)?;
    p.transcript_path.as_deref().map(std::path::PathBuf::from)
}

async fn session_for(registry: &Registry, p: &HookPayload) -> Result<SessionHandle> {
    if p.session_id.trim().is_empty() {
        return Err(Error::BadRequest("hook payload without session_id".into()));
    }
    if let Some(id) = registry.session_for_provider(Provider::Claude, &p.session_id) {
        return registry.get(&id).await;
    }
    let handle = registry
        .create_session(NewSession {
            provider: Provider::Claude,
            origin: Origin::Passive,
            cwd: p.cwd.clone().unwrap_or_default(),
            thread_id: Some(p.session_id.clone()),
            model: p.model_name(),
            status: SessionStatus::Waiting,
            ..NewSession::default()
        })
        .await?;
    let mut first = Vec::new();
    if let Some(home) = config_dir_of(p) {
        first.push(SessionEvent::AgentHome(home));
    }
    // The branch until the transcript reports one (and for hooks without a transcript).
    if let Some(cwd) = p.cwd.clone().filter(|c| Path::new(c).is_dir()) {
        let git = tokio::task::spawn_blocking(move || {
            codex_rollout::passive_session::resolve_git(Path::new(&cwd))
        })
        .await
        .unwrap_or_default();
        if let Some(b) = git.branch {
            first.push(SessionEvent::GitBranch(b));
        }
    }
    if !first.is_empty() {
        handle.ingest_committed(first).await?;
    }
    Ok(handle)
}

/// The config dir a terminal session lives in: its transcript is
/// `<config dir>/projects/<cwd slug>/<session id>.jsonl`, and a takeover must resume it there.
fn config_dir_of(p: &HookPayload) -> Option<String> {
    let t = Path::new(p.transcript_path.as_deref()?);
    let projects = t.parent()?.parent()?;
    (projects.file_name()? == "projects")
        .then(|| projects.parent().map(|d| d.to_string_lossy().into_owned()))
        .flatten()
}

fn text_of(v: &Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => ["stdout", "output", "content", "result"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn tool_item(p: &HookPayload, status: ItemStatus) -> SessionEvent {
    let tool = p.tool_name.clone().unwrap_or_else(|| "tool".into());
    let item_id = p
        .tool_use_id
        .clone()
        .unwrap_or_else(|| format!("tool-{}", uuid::Uuid::new_v4()));
    let body = if tool == "Bash" {
        ItemBody::CommandExecution {
            command: p
                .tool_input
                .as_ref()
                .and_then(|i| i.get("command"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            cwd: p.cwd.clone(),
            output: text_of(&p.tool_response),
            exit_code: None,
            duration_ms: None,
            output_omitted: None,
        }
    } else {
        ItemBody::Other {
            original_type: format!("claude:{tool}"),
            raw: serde_json::json!({
                "tool_name": tool,
                "tool_input": p.tool_input,
                "tool_response": p.tool_response,
            }),
        }
    };
    SessionEvent::Item {
        turn_id: None,
        item_id,
        status,
        body,
    }
}

/// The session events a payload stands for.
pub fn events_for(p: &HookPayload) -> Vec<SessionEvent> {
    match &p.hook_event_name {
        HookEvent::SessionStart => {
            let mut v = vec![SessionEvent::Status(SessionStatus::Waiting)];
            if let Some(m) = p.model_name() {
                v.push(SessionEvent::Model(m));
            }
            v
        }
        HookEvent::UserPromptSubmit => vec![
            SessionEvent::Item {
                turn_id: None,
                item_id: format!("prompt-{}", uuid::Uuid::new_v4()),
                status: ItemStatus::Completed,
                body: ItemBody::UserMessage {
                    text: p.prompt.clone().unwrap_or_default(),
                },
            },
            SessionEvent::Status(SessionStatus::Working),
        ],
        HookEvent::PreToolUse => vec![
            tool_item(p, ItemStatus::InProgress),
            SessionEvent::ToolUsed(p.tool_name.clone().unwrap_or_else(|| "tool".into())),
            SessionEvent::Status(SessionStatus::Working),
        ],
        HookEvent::PostToolUse => vec![
            tool_item(p, ItemStatus::Completed),
            SessionEvent::Status(SessionStatus::Working),
        ],
        HookEvent::Notification => {
            let permission = p.notification_type.as_deref() == Some("permission_prompt")
                || p.message
                    .as_deref()
                    .is_some_and(|m| m.to_lowercase().contains("permission"));
            vec![SessionEvent::Status(if permission {
                SessionStatus::NeedsApproval
            } else {
                SessionStatus::Waiting
            })]
        }
        HookEvent::Stop => vec![SessionEvent::Status(SessionStatus::Waiting)],
        HookEvent::SubagentStop => vec![SessionEvent::Notice("Claude sub-agent finished".into())],
        HookEvent::PreCompact => vec![SessionEvent::Notice(format!(
            "Claude is compacting the context ({})",
            p.trigger.as_deref().unwrap_or("auto")
        ))],
        HookEvent::SessionEnd => vec![SessionEvent::Status(SessionStatus::Ended)],
        HookEvent::Other(name) => {
            tracing::debug!(event = %name, "unknown Claude hook event; ignored");
            Vec::new()
        }
    }
}

/// Applies every payload spooled in `data_dir`, in order, then removes them from the spool.
/// Malformed lines are logged with their offset and dropped; if applying fails, the spool is
/// kept whole for the next start.
pub async fn drain_spool(registry: Arc<Registry>, data_dir: &Path) -> Result<usize> {
    super::drain_spool(
        Spool::in_data_dir(data_dir),
        "claude",
        |b| HookPayload::parse(b).map_err(|e| e.to_string()),
        move |p: HookPayload| {
            let registry = registry.clone();
            async move { apply_hook(&registry, p).await.map(drop) }
        },
    )
    .await
}
