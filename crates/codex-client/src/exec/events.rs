//! The typed `codex exec --json` JSONL stream: [`ThreadEvent`]s carrying [`ThreadItem`]s.
//!
//! Mirrors the wire format of Codex 0.169 (snake_case, `type` tags such as `thread.started`,
//! `item.completed`, `agent_message`). Parsing never fails on drift: an unknown event type, an
//! unknown item type, or a known type whose shape no longer matches becomes an `Unknown(Value)`
//! carrying the whole object, so nothing is lost. Only a line that is not JSON at all is an error
//! ([`crate::Error::Decode`], which carries the raw line).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::usage::Usage;

/// One line of `codex exec --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ThreadEvent {
    /// The first event; `thread_id` is what `resume`/`fork` take. Re-emitted (same id) on resume.
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: String },
    /// A turn (one prompt) started.
    #[serde(rename = "turn.started")]
    TurnStarted,
    /// The turn finished. `usage` is CUMULATIVE over the whole thread (see
    /// [`Usage::delta_since`] and `ExecRun::turn_usage`).
    #[serde(rename = "turn.completed")]
    TurnCompleted { usage: Usage },
    /// The turn failed (e.g. the provider returned an HTTP error).
    #[serde(rename = "turn.failed")]
    TurnFailed { error: ThreadError },
    #[serde(rename = "item.started")]
    ItemStarted { item: ThreadItem },
    #[serde(rename = "item.updated")]
    ItemUpdated { item: ThreadItem },
    /// The authoritative, final state of an item.
    #[serde(rename = "item.completed")]
    ItemCompleted { item: ThreadItem },
    /// A stream-level error (often followed by `turn.failed`).
    #[serde(rename = "error")]
    Error { message: String },
    /// Anything else, kept verbatim.
    #[serde(untagged)]
    Unknown(Value),
}

/// The error of a failed turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadError {
    pub message: String,
}

impl ThreadEvent {
    /// Parses one JSONL line. Errors only if the line is not JSON; see the module docs.
    pub fn parse_line(line: &str) -> crate::Result<ThreadEvent> {
        let value: Value = serde_json::from_str(line).map_err(|source| crate::Error::Decode {
            line: line.to_owned(),
            source,
        })?;
        Ok(ThreadEvent::from_value(value))
    }

    /// Types a JSON value; never fails (falls back to [`ThreadEvent::Unknown`]).
    pub fn from_value(value: Value) -> ThreadEvent {
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return ThreadEvent::Unknown(value);
        };
        let field = |name: &str| value.get(name).cloned();
        let typed = match kind {
            "thread.started" => field("thread_id")
                .and_then(|v| v.as_str().map(str::to_owned))
                .map(|thread_id| ThreadEvent::ThreadStarted { thread_id }),
            "turn.started" => Some(ThreadEvent::TurnStarted),
            "turn.completed" => {
                // A missing usage object is tolerated (zero); a malformed one is not typed.
                match field("usage") {
                    None | Some(Value::Null) => Some(ThreadEvent::TurnCompleted {
                        usage: Usage::default(),
                    }),
                    Some(v) => serde_json::from_value(v)
                        .ok()
                        .map(|usage| ThreadEvent::TurnCompleted { usage }),
                }
            }
            "turn.failed" => field("error")
                .and_then(|v| serde_json::from_value(v).ok())
                .map(|error| ThreadEvent::TurnFailed { error }),
            "item.started" | "item.updated" | "item.completed" => {
                field("item").filter(Value::is_object).map(|v| {
                    let item = ThreadItem::from_value(v);
                    match kind {
                        "item.started" => ThreadEvent::ItemStarted { item },
                        "item.updated" => ThreadEvent::ItemUpdated { item },
                        _ => ThreadEvent::ItemCompleted { item },
                    }
                })
            }
            "error" => field("message")
                .and_then(|v| v.as_str().map(str::to_owned))
                .map(|message| ThreadEvent::Error { message }),
            _ => None,
        };
        typed.unwrap_or(ThreadEvent::Unknown(value))
    }

    /// The wire `type` of this event (for `Unknown`, whatever the object said, if anything).
    pub fn kind(&self) -> &str {
        match self {
            ThreadEvent::ThreadStarted { .. } => "thread.started",
            ThreadEvent::TurnStarted => "turn.started",
            ThreadEvent::TurnCompleted { .. } => "turn.completed",
            ThreadEvent::TurnFailed { .. } => "turn.failed",
            ThreadEvent::ItemStarted { .. } => "item.started",
            ThreadEvent::ItemUpdated { .. } => "item.updated",
            ThreadEvent::ItemCompleted { .. } => "item.completed",
            ThreadEvent::Error { .. } => "error",
            ThreadEvent::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

impl<'de> Deserialize<'de> for ThreadEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(ThreadEvent::from_value)
    }
}

/// An item of a thread: `{id, type, ...}` on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadItem {
    /// `item_0`, `item_1`, ... (restarting at `item_0` on each resumed run).
    pub id: String,
    pub details: ThreadItemDetails,
}

impl ThreadItem {
    /// Types an item object; never fails.
    pub fn from_value(value: Value) -> ThreadItem {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        ThreadItem {
            id,
            details: ThreadItemDetails::from_value(value),
        }
    }

    /// The wire form (`{id, type, ...}`).
    pub fn to_value(&self) -> Value {
        let mut v = match serde_json::to_value(&self.details) {
            Ok(v) => v,
            Err(_) => Value::Null,
        };
        if let Value::Object(map) = &mut v {
            map.insert("id".into(), Value::String(self.id.clone()));
        }
        v
    }
}

impl Serialize for ThreadItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ThreadItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(ThreadItem::from_value)
    }
}

/// What an item is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One value per JSONL line, moved once to the caller: the size spread (only visible when a
// workspace build turns on serde_json's `preserve_order`) costs nothing worth a Box per item.
#[allow(clippy::large_enum_variant)]
pub enum ThreadItemDetails {
    /// The assistant's reply (not streamed as deltas in exec; arrives whole).
    AgentMessage { text: String },
    /// Reasoning (summary) text.
    Reasoning { text: String },
    /// A command Codex ran (`exec_command` tool).
    CommandExecution(CommandExecutionItem),
    /// A patch Codex applied.
    FileChange(FileChangeItem),
    /// A call to an MCP server tool.
    McpToolCall(McpToolCallItem),
    /// A web search.
    WebSearch {
        #[serde(default)]
        query: String,
    },
    /// The agent's to-do list.
    TodoList { items: Vec<TodoItem> },
    /// A NON-fatal error (e.g. a warning about model metadata).
    Error { message: String },
    /// Anything else (`collab_tool_call`, `plan`, future types), kept verbatim.
    #[serde(untagged)]
    Unknown(Value),
}

impl ThreadItemDetails {
    fn from_value(value: Value) -> ThreadItemDetails {
        #[derive(Deserialize)]
        struct Text {
            text: String,
        }
        #[derive(Deserialize)]
        struct Message {
            message: String,
        }
        #[derive(Deserialize)]
        struct Query {
            #[serde(default)]
            query: String,
        }
        #[derive(Deserialize)]
        struct Todo {
            items: Vec<TodoItem>,
        }
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        let v = || value.clone();
        let typed = match kind {
            "agent_message" => serde_json::from_value::<Text>(v())
                .ok()
                .map(|t| ThreadItemDetails::AgentMessage { text: t.text }),
            "reasoning" => serde_json::from_value::<Text>(v())
                .ok()
                .map(|t| ThreadItemDetails::Reasoning { text: t.text }),
            "command_execution" => serde_json::from_value(v())
                .ok()
                .map(ThreadItemDetails::CommandExecution),
            "file_change" => serde_json::from_value(v())
                .ok()
                .map(ThreadItemDetails::FileChange),
            "mcp_tool_call" => serde_json::from_value(v())
                .ok()
                .map(ThreadItemDetails::McpToolCall),
            "web_search" => serde_json::from_value::<Query>(v())
                .ok()
                .map(|q| ThreadItemDetails::WebSearch { query: q.query }),
            "todo_list" => serde_json::from_value::<Todo>(v())
                .ok()
                .map(|t| ThreadItemDetails::TodoList { items: t.items }),
            "error" => serde_json::from_value::<Message>(v())
                .ok()
                .map(|m| ThreadItemDetails::Error { message: m.message }),
            _ => None,
        };
        typed.unwrap_or(ThreadItemDetails::Unknown(value))
    }
}

/// Lifecycle status of a command, patch or tool call. Unknown strings are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    InProgress,
    Completed,
    Failed,
    Declined,
    Other(String),
}

impl ItemStatus {
    pub fn as_str(&self) -> &str {
        match self {
            ItemStatus::InProgress => "in_progress",
            ItemStatus::Completed => "completed",
            ItemStatus::Failed => "failed",
            ItemStatus::Declined => "declined",
            ItemStatus::Other(s) => s,
        }
    }
}

impl Serialize for ItemStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ItemStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "in_progress" => ItemStatus::InProgress,
            "completed" => ItemStatus::Completed,
            "failed" => ItemStatus::Failed,
            "declined" => ItemStatus::Declined,
            _ => ItemStatus::Other(s),
        })
    }
}

/// `command_execution`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandExecutionItem {
    pub command: String,
    /// stdout and stderr interleaved; empty while in progress.
    #[serde(default)]
    pub aggregated_output: String,
    /// `None` while running (or when the command never ran).
    #[serde(default)]
    pub exit_code: Option<i32>,
    pub status: ItemStatus,
}

/// `file_change`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChangeItem {
    pub changes: Vec<FileUpdateChange>,
    pub status: ItemStatus,
}

/// One file of a `file_change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUpdateChange {
    pub path: String,
    /// `add`, `delete` or `update` (kept as a string: new kinds must not break parsing).
    pub kind: String,
}

/// `mcp_tool_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpToolCallItem {
    pub server: String,
    pub tool: String,
    #[serde(default)]
    pub arguments: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    pub status: ItemStatus,
}

/// One entry of a `todo_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    pub text: String,
    #[serde(default)]
    pub completed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(line: &str) -> ThreadEvent {
        ThreadEvent::parse_line(line).expect("valid JSON")
    }

    #[test]
    fn parses_every_known_event() {
        assert_eq!(
            parse(r#"{"type":"thread.started","thread_id":"t-1"}"#),
            ThreadEvent::ThreadStarted {
                thread_id: "t-1".into()
            }
        );
        assert_eq!(
            parse(r#"{"type":"turn.started"}"#),
            ThreadEvent::TurnStarted
        );
        assert_eq!(
            parse(
                r#"{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":2,"cache_write_input_tokens":1,"output_tokens":5,"reasoning_output_tokens":3}}"#
            ),
            ThreadEvent::TurnCompleted {
                usage: Usage {
                    input_tokens: 10,
                    cached_input_tokens: 2,
                    cache_write_input_tokens: 1,
                    output_tokens: 5,
                    reasoning_output_tokens: 3,
                }
            }
        );
        assert_eq!(
            parse(r#"{"type":"turn.failed","error":{"message":"boom"}}"#),
            ThreadEvent::TurnFailed {
                error: ThreadError {
                    message: "boom".into()
                }
            }
        );
        assert_eq!(
            parse(r#"{"type":"error","message":"oops"}"#),
            ThreadEvent::Error {
                message: "oops".into()
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"hi"}}"#
            ),
            ThreadEvent::ItemCompleted {
                item: ThreadItem {
                    id: "item_0".into(),
                    details: ThreadItemDetails::AgentMessage { text: "hi".into() }
                }
            }
        );
    }

    #[test]
    fn parses_every_known_item() {
        let item = |v: Value| ThreadItem::from_value(v).details;
        assert_eq!(
            item(
                json!({"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"a\n","exit_code":0,"status":"completed"})
            ),
            ThreadItemDetails::CommandExecution(CommandExecutionItem {
                command: "bash -lc ls".into(),
                aggregated_output: "a\n".into(),
                exit_code: Some(0),
                status: ItemStatus::Completed,
            })
        );
        assert_eq!(
            item(
                json!({"id":"item_1","type":"command_execution","command":"x","aggregated_output":"","exit_code":null,"status":"in_progress"})
            ),
            ThreadItemDetails::CommandExecution(CommandExecutionItem {
                command: "x".into(),
                aggregated_output: String::new(),
                exit_code: None,
                status: ItemStatus::InProgress,
            })
        );
        assert_eq!(
            item(
                json!({"id":"i","type":"file_change","changes":[{"path":"a.rs","kind":"add"}],"status":"completed"})
            ),
            ThreadItemDetails::FileChange(FileChangeItem {
                changes: vec![FileUpdateChange {
                    path: "a.rs".into(),
                    kind: "add".into()
                }],
                status: ItemStatus::Completed,
            })
        );
        assert_eq!(
            item(
                json!({"id":"i","type":"mcp_tool_call","server":"s","tool":"t","arguments":{"a":1},"status":"weird_new_status"})
            ),
            ThreadItemDetails::McpToolCall(McpToolCallItem {
                server: "s".into(),
                tool: "t".into(),
                arguments: json!({"a":1}),
                result: None,
                error: None,
                status: ItemStatus::Other("weird_new_status".into()),
            })
        );
        assert_eq!(
            item(json!({"id":"i","type":"todo_list","items":[{"text":"a","completed":true}]})),
            ThreadItemDetails::TodoList {
                items: vec![TodoItem {
                    text: "a".into(),
                    completed: true
                }]
            }
        );
        assert_eq!(
            item(json!({"id":"i","type":"web_search","query":"rust"})),
            ThreadItemDetails::WebSearch {
                query: "rust".into()
            }
        );
        assert_eq!(
            item(json!({"id":"i","type":"error","message":"Model metadata not found"})),
            ThreadItemDetails::Error {
                message: "Model metadata not found".into()
            }
        );
        assert_eq!(
            item(json!({"id":"i","type":"reasoning","text":"hmm"})),
            ThreadItemDetails::Reasoning { text: "hmm".into() }
        );
    }

    #[test]
    fn unknown_and_drifted_shapes_fall_back_without_loss() {
        let unknown_event = json!({"type":"thread.compacted","extra":1});
        assert_eq!(
            parse(&unknown_event.to_string()),
            ThreadEvent::Unknown(unknown_event.clone())
        );
        // A known type with a drifted shape is kept verbatim too.
        let drifted = json!({"type":"thread.started","thread":{"id":"x"}});
        assert_eq!(parse(&drifted.to_string()), ThreadEvent::Unknown(drifted));
        // No type at all.
        assert_eq!(parse("[1,2]"), ThreadEvent::Unknown(json!([1, 2])));

        let new_item = json!({"id":"item_3","type":"collab_tool_call","tool":"spawn"});
        let ev = parse(&json!({"type":"item.started","item":new_item}).to_string());
        assert_eq!(
            ev,
            ThreadEvent::ItemStarted {
                item: ThreadItem {
                    id: "item_3".into(),
                    details: ThreadItemDetails::Unknown(new_item.clone())
                }
            }
        );
        // Round trip of an unknown item keeps every field.
        let ThreadEvent::ItemStarted { item } = ev else {
            unreachable!()
        };
        assert_eq!(item.to_value(), new_item);
        // turn.completed without usage is tolerated as zero usage.
        assert_eq!(
            parse(r#"{"type":"turn.completed"}"#),
            ThreadEvent::TurnCompleted {
                usage: Usage::default()
            }
        );
    }

    #[test]
    fn a_line_that_is_not_json_is_a_decode_error_with_the_raw_line() {
        let err = ThreadEvent::parse_line("Reading additional input from stdin...")
            .expect_err("not JSON");
        match err {
            crate::Error::Decode { line, .. } => {
                assert_eq!(line, "Reading additional input from stdin...")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            ThreadEvent::parse_line(r#"{"type":"turn.sta"#).is_err(),
            "truncated line"
        );
    }

    #[test]
    fn events_serialize_back_to_the_wire_shape() {
        for line in [
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"turn.failed","error":{"message":"m"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"hi"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"c","aggregated_output":"o","exit_code":1,"status":"failed"}}"#,
        ] {
            let v: Value = serde_json::from_str(line).expect("json");
            assert_eq!(serde_json::to_value(parse(line)).expect("ser"), v, "{line}");
        }
    }
}
