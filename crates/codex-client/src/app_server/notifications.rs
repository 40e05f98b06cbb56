//! Server->client notifications, typed for the ones a control plane needs.
//!
//! Every other method (and a typed method whose params no longer decode — logged as a warning)
//! becomes [`ServerNotification::Unknown`] with the raw params: drift never kills the stream.
//! The `notification_types!` table is the single source of truth for the typed methods.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::items::ThreadItem;
use super::server_requests::RequestId;
use super::thread::{RateLimitSnapshot, Thread, ThreadStatus, ThreadTokenUsage, Turn, TurnError};

/// `thread/started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartedNotification {
    pub thread: Thread,
}

/// `thread/status/changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStatusChangedNotification {
    pub thread_id: String,
    pub status: ThreadStatus,
}

/// `thread/name/updated` (`threadName` absent when the name was cleared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadNameUpdatedNotification {
    pub thread_id: String,
    #[serde(default)]
    pub thread_name: Option<String>,
}

/// `thread/tokenUsage/updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadTokenUsageUpdatedNotification {
    pub thread_id: String,
    #[serde(default)]
    pub turn_id: String,
    pub token_usage: ThreadTokenUsage,
}

/// `thread/compacted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadCompactedNotification {
    pub thread_id: String,
    #[serde(default)]
    pub turn_id: String,
}

/// `thread/archived`, `thread/unarchived`, `thread/closed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadIdNotification {
    pub thread_id: String,
}

/// `turn/started` and `turn/completed` (`turn.status` says completed / interrupted / failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnNotification {
    pub thread_id: String,
    pub turn: Turn,
}

/// `turn/diff/updated`: the turn's aggregated unified diff so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnDiffUpdatedNotification {
    pub thread_id: String,
    pub turn_id: String,
    #[serde(default)]
    pub diff: String,
}

/// One step of `turn/plan/updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnPlanStep {
    pub step: String,
    /// `pending` | `inProgress` | `completed`.
    pub status: String,
}

/// `turn/plan/updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnPlanUpdatedNotification {
    pub thread_id: String,
    pub turn_id: String,
    #[serde(default)]
    pub explanation: Option<String>,
    #[serde(default)]
    pub plan: Vec<TurnPlanStep>,
}

/// `item/started` and `item/completed` (the latter is authoritative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemNotification {
    pub item: ThreadItem,
    pub thread_id: String,
    pub turn_id: String,
}

/// Streaming text deltas: `item/agentMessage/delta`, `item/commandExecution/outputDelta`,
/// `item/fileChange/outputDelta`, `item/plan/delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaNotification {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    pub delta: String,
}

/// `item/reasoning/textDelta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningTextDeltaNotification {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    pub delta: String,
    #[serde(default)]
    pub content_index: i64,
}

/// `item/reasoning/summaryTextDelta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningSummaryTextDeltaNotification {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    pub delta: String,
    #[serde(default)]
    pub summary_index: i64,
}

/// `account/rateLimits/updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRateLimitsUpdatedNotification {
    pub rate_limits: RateLimitSnapshot,
}

/// `error`: a turn-level error; `willRetry` says whether Codex retries by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorNotification {
    pub error: TurnError,
    #[serde(default)]
    pub will_retry: bool,
    #[serde(default)]
    pub thread_id: String,
    #[serde(default)]
    pub turn_id: String,
}

/// `warning`: non-fatal (e.g. missing model metadata for a custom model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarningNotification {
    #[serde(default)]
    pub thread_id: Option<String>,
    pub message: String,
}

/// `configWarning`: a problem in `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigWarningNotification {
    pub summary: String,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

/// `serverRequest/resolved`: a server->client request is no longer pending (answered, or the
/// turn ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerRequestResolvedNotification {
    pub thread_id: String,
    pub request_id: RequestId,
}

/// `mcpServer/startupStatus/updated` (0.169's MCP startup status notification).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServerStartupStatusNotification {
    #[serde(default)]
    pub thread_id: Option<String>,
    pub name: String,
    /// `starting` | `ready` | `failed` | `cancelled`.
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<Value>,
}

/// `command/exec/outputDelta`: a chunk of a streamed `command/exec`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecOutputDeltaNotification {
    /// The `processId` the client chose.
    pub process_id: String,
    /// `stdout` | `stderr`.
    pub stream: String,
    pub delta_base64: String,
    #[serde(default)]
    pub cap_reached: bool,
}

/// `thread/goal/updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadGoalUpdatedNotification {
    pub thread_id: String,
    #[serde(default)]
    pub turn_id: Option<String>,
    pub goal: super::requests::ThreadGoal,
}

/// One typed notification, as listed in [`NOTIFICATIONS`].
#[derive(Debug, Clone, Copy)]
pub struct NotificationSpec {
    /// Wire method name.
    pub method: &'static str,
    /// The params type's name in the generated schema.
    pub params_schema: &'static str,
    /// Wire names of the fields our params type reads.
    pub params_fields: super::wire_fields::FieldsFn,
}

macro_rules! notification_types {
    ($( $(#[$doc:meta])* $variant:ident => $method:literal, $ty:ty as $schema:literal; )*) => {
        /// A server->client notification.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ServerNotification {
            $( $(#[$doc])* $variant($ty), )*
            /// A method this client does not type, or typed params that failed to decode.
            Unknown {
                method: String,
                params: Value,
            },
        }

        impl ServerNotification {
            /// Decode `params` for `method`; never fails (falls back to `Unknown`).
            pub fn decode(method: &str, params: Value) -> Self {
                match method {
                    $(
                        $method => match <$ty as Deserialize>::deserialize(&params) {
                            Ok(p) => ServerNotification::$variant(p),
                            Err(e) => {
                                tracing::warn!(method, error = %e, %params,
                                    "app-server notification did not decode; surfaced as Unknown");
                                ServerNotification::Unknown { method: method.to_owned(), params }
                            }
                        },
                    )*
                    _ => ServerNotification::Unknown { method: method.to_owned(), params },
                }
            }

            /// The wire method name.
            pub fn method(&self) -> &str {
                match self {
                    $( ServerNotification::$variant(_) => $method, )*
                    ServerNotification::Unknown { method, .. } => method,
                }
            }
        }

        /// Every typed notification: the source of truth for the drift check.
        pub const NOTIFICATIONS: &[NotificationSpec] = &[$(
            NotificationSpec {
                method: $method,
                params_schema: $schema,
                params_fields: || super::wire_fields::struct_fields::<$ty>(),
            },
        )*];
    };
}

notification_types! {
    ThreadStarted => "thread/started", ThreadStartedNotification as "ThreadStartedNotification";
    ThreadStatusChanged => "thread/status/changed", ThreadStatusChangedNotification as "ThreadStatusChangedNotification";
    ThreadNameUpdated => "thread/name/updated", ThreadNameUpdatedNotification as "ThreadNameUpdatedNotification";
    ThreadTokenUsageUpdated => "thread/tokenUsage/updated", ThreadTokenUsageUpdatedNotification as "ThreadTokenUsageUpdatedNotification";
    ThreadCompacted => "thread/compacted", ThreadCompactedNotification as "ContextCompactedNotification";
    ThreadArchived => "thread/archived", ThreadIdNotification as "ThreadArchivedNotification";
    ThreadUnarchived => "thread/unarchived", ThreadIdNotification as "ThreadUnarchivedNotification";
    ThreadClosed => "thread/closed", ThreadIdNotification as "ThreadClosedNotification";
    TurnStarted => "turn/started", TurnNotification as "TurnStartedNotification";
    TurnCompleted => "turn/completed", TurnNotification as "TurnCompletedNotification";
    TurnDiffUpdated => "turn/diff/updated", TurnDiffUpdatedNotification as "TurnDiffUpdatedNotification";
    TurnPlanUpdated => "turn/plan/updated", TurnPlanUpdatedNotification as "TurnPlanUpdatedNotification";
    ItemStarted => "item/started", ItemNotification as "ItemStartedNotification";
    ItemCompleted => "item/completed", ItemNotification as "ItemCompletedNotification";
    AgentMessageDelta => "item/agentMessage/delta", DeltaNotification as "AgentMessageDeltaNotification";
    CommandExecutionOutputDelta => "item/commandExecution/outputDelta", DeltaNotification as "CommandExecutionOutputDeltaNotification";
    FileChangeOutputDelta => "item/fileChange/outputDelta", DeltaNotification as "FileChangeOutputDeltaNotification";
    ReasoningTextDelta => "item/reasoning/textDelta", ReasoningTextDeltaNotification as "ReasoningTextDeltaNotification";
    ReasoningSummaryTextDelta => "item/reasoning/summaryTextDelta", ReasoningSummaryTextDeltaNotification as "ReasoningSummaryTextDeltaNotification";
    PlanDelta => "item/plan/delta", DeltaNotification as "PlanDeltaNotification";
    AccountRateLimitsUpdated => "account/rateLimits/updated", AccountRateLimitsUpdatedNotification as "AccountRateLimitsUpdatedNotification";
    Error => "error", ErrorNotification as "ErrorNotification";
    Warning => "warning", WarningNotification as "WarningNotification";
    ConfigWarning => "configWarning", ConfigWarningNotification as "ConfigWarningNotification";
    ServerRequestResolved => "serverRequest/resolved", ServerRequestResolvedNotification as "ServerRequestResolvedNotification";
    McpServerStartupStatus => "mcpServer/startupStatus/updated", McpServerStartupStatusNotification as "McpServerStatusUpdatedNotification";
    CommandExecOutputDelta => "command/exec/outputDelta", CommandExecOutputDeltaNotification as "CommandExecOutputDeltaNotification";
    ThreadGoalUpdated => "thread/goal/updated", ThreadGoalUpdatedNotification as "ThreadGoalUpdatedNotification";
    ThreadGoalCleared => "thread/goal/cleared", ThreadIdNotification as "ThreadGoalClearedNotification";
}

impl ServerNotification {
    /// The thread this notification is about, when it names one.
    pub fn thread_id(&self) -> Option<&str> {
        use ServerNotification as N;
        match self {
            N::ThreadStarted(n) => Some(&n.thread.id),
            N::ThreadStatusChanged(n) => Some(&n.thread_id),
            N::ThreadNameUpdated(n) => Some(&n.thread_id),
            N::ThreadTokenUsageUpdated(n) => Some(&n.thread_id),
            N::ThreadCompacted(n) => Some(&n.thread_id),
            N::ThreadArchived(n) | N::ThreadUnarchived(n) | N::ThreadClosed(n) => {
                Some(&n.thread_id)
            }
            N::TurnStarted(n) | N::TurnCompleted(n) => Some(&n.thread_id),
            N::TurnDiffUpdated(n) => Some(&n.thread_id),
            N::TurnPlanUpdated(n) => Some(&n.thread_id),
            N::ItemStarted(n) | N::ItemCompleted(n) => Some(&n.thread_id),
            N::AgentMessageDelta(n)
            | N::CommandExecutionOutputDelta(n)
            | N::FileChangeOutputDelta(n)
            | N::PlanDelta(n) => Some(&n.thread_id),
            N::ReasoningTextDelta(n) => Some(&n.thread_id),
            N::ReasoningSummaryTextDelta(n) => Some(&n.thread_id),
            N::Error(n) => Some(n.thread_id.as_str()).filter(|s| !s.is_empty()),
            N::Warning(n) => n.thread_id.as_deref(),
            N::ServerRequestResolved(n) => Some(&n.thread_id),
            N::McpServerStartupStatus(n) => n.thread_id.as_deref(),
            N::ThreadGoalUpdated(n) => Some(&n.thread_id),
            N::ThreadGoalCleared(n) => Some(&n.thread_id),
            N::AccountRateLimitsUpdated(_) | N::ConfigWarning(_) | N::CommandExecOutputDelta(_) => {
                None
            }
            N::Unknown { params, .. } => params.get("threadId").and_then(Value::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_method_decodes() {
        let n = ServerNotification::decode(
            "item/agentMessage/delta",
            json!({"threadId": "t", "turnId": "u", "itemId": "i", "delta": "hi", "extra": 1}),
        );
        assert_eq!(
            n,
            ServerNotification::AgentMessageDelta(DeltaNotification {
                thread_id: "t".into(),
                turn_id: "u".into(),
                item_id: "i".into(),
                delta: "hi".into(),
            })
        );
        assert_eq!(n.method(), "item/agentMessage/delta");
        assert_eq!(n.thread_id(), Some("t"));
    }

    #[test]
    fn unknown_method_and_undecodable_params_become_unknown() {
        let n = ServerNotification::decode("thread/brandNew", json!({"threadId": "t"}));
        assert_eq!(
            n,
            ServerNotification::Unknown {
                method: "thread/brandNew".into(),
                params: json!({"threadId": "t"})
            }
        );
        assert_eq!(n.thread_id(), Some("t"));
        // A typed method whose params lost a required field: kept, raw, not fatal.
        let n = ServerNotification::decode("turn/completed", json!({"threadId": "t"}));
        assert_eq!(
            n,
            ServerNotification::Unknown {
                method: "turn/completed".into(),
                params: json!({"threadId": "t"})
            }
        );
    }

    #[test]
    fn turn_completed_with_unknown_item_and_status() {
        let n = ServerNotification::decode(
            "turn/completed",
            json!({"threadId": "t", "turn": {"id": "u", "status": "paused", "items": [
                {"type": "hologram", "id": "x"},
                {"type": "commandExecution", "id": "c", "status": "declined", "command": "touch f"}
            ]}}),
        );
        let ServerNotification::TurnCompleted(t) = n else {
            panic!("expected TurnCompleted, got {n:?}");
        };
        assert_eq!(
            t.turn.status,
            crate::app_server::thread::TurnStatus::Unknown("paused".into())
        );
        assert_eq!(t.turn.items[0].kind(), "hologram");
        assert_eq!(t.turn.items[0].id(), Some("x"));
        assert!(matches!(
            &t.turn.items[1],
            ThreadItem::CommandExecution {
                status: crate::app_server::items::CommandExecutionStatus::Declined,
                ..
            }
        ));
    }
}
