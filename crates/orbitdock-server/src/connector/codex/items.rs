//! Translation of Codex app-server items and requests into OrbitDock's wire types.
//!
//! Kept apart from the actor so the mapping (the part that drifts with Codex versions) can be
//! read and tested on its own. Unknown item kinds are kept raw (`ItemBody::Other`), never dropped.

use codex_client::app_server::ThreadItem;
use codex_client::app_server::items::{
    CommandExecutionStatus, FileUpdateChange, PatchApplyStatus, ToolCallStatus,
};
use codex_client::app_server::thread::UserInput;
use orbitdock_protocol::{FileChange, FileChangeKind, ItemBody, ItemStatus};
use serde_json::Value;

/// `(item id, status, body)` of a Codex item.
pub fn convert_item(item: &ThreadItem, completed: bool) -> (String, ItemStatus, ItemBody) {
    let id = item.id().unwrap_or_default().to_owned();
    let done = if completed {
        ItemStatus::Completed
    } else {
        ItemStatus::InProgress
    };
    let (status, body) = match item {
        ThreadItem::UserMessage { content, .. } => (
            ItemStatus::Completed,
            ItemBody::UserMessage {
                text: content
                    .iter()
                    .filter_map(|c| match c {
                        UserInput::Text { text, .. } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
        ),
        ThreadItem::AgentMessage { text, .. } => {
            (done, ItemBody::AgentMessage { text: text.clone() })
        }
        ThreadItem::Reasoning {
            summary, content, ..
        } => (
            done,
            ItemBody::Reasoning {
                summary: summary.join("\n"),
                text: content.join("\n"),
            },
        ),
        ThreadItem::CommandExecution {
            command,
            cwd,
            status,
            aggregated_output,
            exit_code,
            duration_ms,
            ..
        } => (
            match status {
                CommandExecutionStatus::InProgress => ItemStatus::InProgress,
                CommandExecutionStatus::Completed => ItemStatus::Completed,
                CommandExecutionStatus::Failed => ItemStatus::Failed,
                CommandExecutionStatus::Declined => ItemStatus::Declined,
                CommandExecutionStatus::Unknown(_) => done,
            },
            ItemBody::CommandExecution {
                command: command.clone(),
                cwd: Some(cwd.clone()).filter(|c| !c.is_empty()),
                output: aggregated_output.clone().unwrap_or_default(),
                exit_code: *exit_code,
                duration_ms: duration_ms.map(|d| d.max(0) as u64),
                output_omitted: None,
            },
        ),
        ThreadItem::FileChange {
            changes, status, ..
        } => (
            match status {
                PatchApplyStatus::InProgress => ItemStatus::InProgress,
                PatchApplyStatus::Completed => ItemStatus::Completed,
                PatchApplyStatus::Failed => ItemStatus::Failed,
                PatchApplyStatus::Declined => ItemStatus::Declined,
                PatchApplyStatus::Unknown(_) => done,
            },
            ItemBody::FileChange {
                changes: changes.iter().map(convert_change).collect(),
            },
        ),
        ThreadItem::McpToolCall {
            server,
            tool,
            status,
            arguments,
            result,
            error,
            ..
        } => (
            tool_status(status, done),
            ItemBody::McpToolCall {
                server: server.clone(),
                tool: tool.clone(),
                arguments: arguments.clone(),
                result: result.clone(),
                error: error.as_ref().map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| other.to_string()),
                }),
            },
        ),
        ThreadItem::DynamicToolCall {
            tool,
            arguments,
            status,
            namespace,
            ..
        } => (
            tool_status(status, done),
            ItemBody::McpToolCall {
                server: namespace.clone().unwrap_or_else(|| "dynamic".into()),
                tool: tool.clone(),
                arguments: arguments.clone(),
                result: None,
                error: None,
            },
        ),
        ThreadItem::WebSearch { query, .. } => (
            done,
            ItemBody::WebSearch {
                query: query.clone(),
            },
        ),
        ThreadItem::Plan { text, .. } => (done, ItemBody::Plan { text: text.clone() }),
        // Codex's item carries only its id; the session core adds the context size it had.
        ThreadItem::ContextCompaction { .. } => (
            done,
            ItemBody::ContextCompaction {
                context_tokens_before: None,
            },
        ),
        // Markers: done as soon as they are seen (leaving carries the findings).
        ThreadItem::EnteredReviewMode { review, .. } => (
            ItemStatus::Completed,
            ItemBody::ReviewMode {
                entered: true,
                review: review.clone(),
            },
        ),
        ThreadItem::ExitedReviewMode { review, .. } => (
            ItemStatus::Completed,
            ItemBody::ReviewMode {
                entered: false,
                review: review.clone(),
            },
        ),
        other => (
            done,
            ItemBody::Other {
                original_type: other.kind().to_owned(),
                raw: serde_json::to_value(other).unwrap_or(Value::Null),
            },
        ),
    };
    (id, status, body)
}

fn tool_status(s: &ToolCallStatus, done: ItemStatus) -> ItemStatus {
    match s {
        ToolCallStatus::InProgress => ItemStatus::InProgress,
        ToolCallStatus::Completed => ItemStatus::Completed,
        ToolCallStatus::Failed => ItemStatus::Failed,
        ToolCallStatus::Unknown(_) => done,
    }
}

/// A Codex file change as ours. `kind` is `{"type": "add"|"delete"|"update", "move_path"?}`.
pub fn convert_change(c: &FileUpdateChange) -> FileChange {
    let kind_str = c
        .kind
        .get("type")
        .and_then(Value::as_str)
        .or_else(|| c.kind.as_str())
        .unwrap_or("update");
    FileChange {
        path: c.path.clone(),
        kind: match kind_str {
            "add" => FileChangeKind::Add,
            "delete" => FileChangeKind::Delete,
            "update" => FileChangeKind::Update,
            _ => FileChangeKind::Unknown,
        },
        move_path: c
            .kind
            .get("move_path")
            .or_else(|| c.kind.get("movePath"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        diff: c.diff.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_command_and_file_change_items() {
        let item: ThreadItem = serde_json::from_value(json!({
            "type": "commandExecution", "id": "c1", "command": "echo hi", "cwd": "/w",
            "processId": null, "source": "agent", "status": "completed", "commandActions": [],
            "aggregatedOutput": "hi\n", "exitCode": 0, "durationMs": 12
        }))
        .unwrap();
        let (id, status, body) = convert_item(&item, true);
        assert_eq!(id, "c1");
        assert_eq!(status, ItemStatus::Completed);
        assert_eq!(
            body,
            ItemBody::CommandExecution {
                command: "echo hi".into(),
                cwd: Some("/w".into()),
                output: "hi\n".into(),
                exit_code: Some(0),
                duration_ms: Some(12),
                output_omitted: None,
            }
        );
        let item: ThreadItem = serde_json::from_value(json!({
            "type": "fileChange", "id": "f1", "status": "inProgress",
            "changes": [{"path": "a.txt", "kind": {"type": "add"}, "diff": "+x\n"},
                        {"path": "b.txt", "kind": {"type": "update", "move_path": "c.txt"}, "diff": "-a\n+b\n"}]
        }))
        .unwrap();
        let (_, status, body) = convert_item(&item, false);
        assert_eq!(status, ItemStatus::InProgress);
        let ItemBody::FileChange { changes } = body else {
            panic!("not a file change: {body:?}");
        };
        assert_eq!(changes[0].kind, FileChangeKind::Add);
        assert_eq!(changes[1].move_path.as_deref(), Some("c.txt"));
    }

    #[test]
    fn a_compaction_item_becomes_a_transcript_item_of_its_own() {
        let item: ThreadItem =
            serde_json::from_value(json!({"type": "contextCompaction", "id": "cc1"})).unwrap();
        assert_eq!(
            convert_item(&item, true),
            (
                "cc1".to_owned(),
                ItemStatus::Completed,
                ItemBody::ContextCompaction {
                    context_tokens_before: None
                }
            )
        );
    }

    #[test]
    fn unknown_items_are_kept_raw() {
        let item: ThreadItem =
            serde_json::from_value(json!({"type": "hologram", "id": "h1", "x": 1})).unwrap();
        let (id, _, body) = convert_item(&item, true);
        assert_eq!(id, "h1");
        let ItemBody::Other { original_type, raw } = body else {
            panic!("expected Other");
        };
        assert_eq!(original_type, "hologram");
        assert_eq!(raw["x"], 1);
    }
}
