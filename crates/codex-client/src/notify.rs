//! The external `notify` hook: with `notify = ["prog", "arg", ...]` in config.toml, Codex runs
//! `prog arg ... <JSON>` when a turn completes, the JSON payload being the LAST argument.
//!
//! A hook program (e.g. `orbitdock hook notify`) calls [`parse_notify_argv`] on its own argv.
//! Payload types this crate does not know become [`NotifyEvent::Unknown`] (kept whole); only a
//! last argument that is not a JSON object is an error.

use std::ffi::OsString;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The `agent-turn-complete` payload (kebab-case keys on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AgentTurnComplete {
    pub thread_id: String,
    #[serde(default)]
    pub turn_id: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    /// Which client ran the turn (`codex_exec`, `codex-tui`, an app-server client name, ...).
    #[serde(default)]
    pub client: Option<String>,
    /// The user messages of the turn.
    #[serde(default)]
    pub input_messages: Vec<String>,
    #[serde(default)]
    pub last_assistant_message: Option<String>,
}

/// A notify payload.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifyEvent {
    AgentTurnComplete(AgentTurnComplete),
    /// Any other `type` (or a drifted shape), kept verbatim.
    Unknown(Value),
}

impl NotifyEvent {
    /// Parses the JSON payload.
    pub fn parse(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(|source| Error::Decode {
            line: json.to_owned(),
            source,
        })?;
        if !value.is_object() {
            return Err(Error::UnexpectedOutput {
                command: "notify".into(),
                message: format!("the payload is not a JSON object: {json}"),
            });
        }
        if value.get("type").and_then(Value::as_str) == Some("agent-turn-complete")
            && let Ok(p) = serde_json::from_value::<AgentTurnComplete>(value.clone())
        {
            return Ok(NotifyEvent::AgentTurnComplete(p));
        }
        Ok(NotifyEvent::Unknown(value))
    }

    /// The payload's `type`.
    pub fn kind(&self) -> &str {
        match self {
            NotifyEvent::AgentTurnComplete(_) => "agent-turn-complete",
            NotifyEvent::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

/// Parses a hook program's argv (as from `std::env::args_os()`): the payload is the last
/// element. Errors if there is no argument after the program name.
pub fn parse_notify_argv<I, S>(argv: I) -> Result<NotifyEvent>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    if args.len() < 2 {
        return Err(Error::InvalidInvocation(
            "notify hook called without a payload argument".into(),
        ));
    }
    let last = args[args.len() - 1].to_string_lossy().into_owned();
    NotifyEvent::parse(&last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_agent_turn_complete_from_argv() {
        let payload = json!({
            "type": "agent-turn-complete",
            "thread-id": "t-1",
            "turn-id": "u-2",
            "cwd": "/w",
            "client": "codex_exec",
            "input-messages": ["hello"],
            "last-assistant-message": "hi!"
        })
        .to_string();
        let ev =
            parse_notify_argv(["orbitdock", "hook", "notify", payload.as_str()]).expect("parse");
        assert_eq!(
            ev,
            NotifyEvent::AgentTurnComplete(AgentTurnComplete {
                thread_id: "t-1".into(),
                turn_id: Some("u-2".into()),
                cwd: Some("/w".into()),
                client: Some("codex_exec".into()),
                input_messages: vec!["hello".into()],
                last_assistant_message: Some("hi!".into()),
            })
        );
        assert_eq!(ev.kind(), "agent-turn-complete");
    }

    #[test]
    fn unknown_and_bad_payloads() {
        let ev = NotifyEvent::parse(r#"{"type":"approval-requested","x":1}"#).expect("parse");
        assert_eq!(ev.kind(), "approval-requested");
        assert!(matches!(ev, NotifyEvent::Unknown(_)));
        // Known type, drifted shape: kept, not lost.
        assert!(matches!(
            NotifyEvent::parse(r#"{"type":"agent-turn-complete"}"#).expect("parse"),
            NotifyEvent::Unknown(_)
        ));
        assert!(matches!(
            NotifyEvent::parse("{trunc"),
            Err(Error::Decode { .. })
        ));
        assert!(NotifyEvent::parse("[1]").is_err());
        assert!(parse_notify_argv(["prog"]).is_err());
    }
}
