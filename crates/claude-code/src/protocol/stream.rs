//! Anthropic streaming events, as the CLI re-emits them inside `stream_event` messages when
//! started with `--include-partial-messages`.
//!
//! Observed order for one model response (2.1.332): `message_start`, then per block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta`
//! (stop reason, output usage) and `message_stop`. The CLI writes the complete `assistant`
//! message for a block right after that block's last delta — before its `content_block_stop` —
//! so a UI can append deltas and then replace them with the authoritative message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::ContentBlock;
use super::open_enum;

/// `message_start`: the response's id, model and input usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStart {
    #[serde(default)]
    pub message: Value,
}

/// `content_block_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockStart {
    pub index: u32,
    pub content_block: ContentBlock,
}

/// `content_block_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockDelta {
    pub index: u32,
    pub delta: Delta,
}

/// `content_block_stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockStop {
    pub index: u32,
}

/// `message_delta`: `delta.stop_reason` and the output usage. The CLI sends `stop_reason: null`
/// here for a response cut short by an interrupt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDelta {
    #[serde(default)]
    pub delta: Value,
    #[serde(default)]
    pub usage: Option<Value>,
}

impl MessageDelta {
    /// `delta.stop_reason` (`end_turn`, `tool_use`, `max_tokens`, ...).
    pub fn stop_reason(&self) -> Option<&str> {
        self.delta.get("stop_reason").and_then(Value::as_str)
    }
}

/// An event without a payload of interest (`message_stop`, `ping`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmptyEvent {}

/// `error`: a mid-stream API error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default)]
    pub error: Value,
}

open_enum! {
    /// One streaming event.
    pub enum StreamEvent tagged "type" {
        MessageStart(MessageStart) = "message_start",
        ContentBlockStart(ContentBlockStart) = "content_block_start",
        ContentBlockDelta(ContentBlockDelta) = "content_block_delta",
        ContentBlockStop(ContentBlockStop) = "content_block_stop",
        MessageDelta(MessageDelta) = "message_delta",
        MessageStop(EmptyEvent) = "message_stop",
        Ping(EmptyEvent) = "ping",
        Error(ErrorEvent) = "error",
    }
}

/// `text_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDelta {
    pub text: String,
}

/// `input_json_delta`: a fragment of a tool call's JSON input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputJsonDelta {
    pub partial_json: String,
}

/// `thinking_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingDelta {
    pub thinking: String,
}

/// `signature_delta`: the signature that closes a thinking block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureDelta {
    pub signature: String,
}

open_enum! {
    /// The `delta` of a `content_block_delta`.
    pub enum Delta tagged "type" {
        Text(TextDelta) = "text_delta",
        InputJson(InputJsonDelta) = "input_json_delta",
        Thinking(ThinkingDelta) = "thinking_delta",
        Signature(SignatureDelta) = "signature_delta",
    }
}

impl StreamEvent {
    /// The text of a `text_delta`, if this is one.
    pub fn text_delta(&self) -> Option<&str> {
        match self {
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                delta: Delta::Text(t),
                ..
            }) => Some(&t.text),
            _ => None,
        }
    }

    /// The text of a `thinking_delta`, if this is one.
    pub fn thinking_delta(&self) -> Option<&str> {
        match self {
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                delta: Delta::Thinking(t),
                ..
            }) => Some(&t.thinking),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_as_the_cli_writes_them_decode() {
        let e: StreamEvent = serde_json::from_value(json!(
            {"index":0,"delta":{"type":"text_delta","text":"Hello "},"type":"content_block_delta"}
        ))
        .expect("decode");
        assert_eq!(e.text_delta(), Some("Hello "));
        let e: StreamEvent = serde_json::from_value(json!(
            {"index":0,"content_block":{"type":"thinking","thinking":"","signature":""},"type":"content_block_start"}
        ))
        .expect("decode");
        assert!(matches!(
            e,
            StreamEvent::ContentBlockStart(ContentBlockStart {
                content_block: ContentBlock::Thinking(_),
                ..
            })
        ));
        let e: StreamEvent = serde_json::from_value(json!(
            {"delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5},"type":"message_delta"}
        ))
        .expect("decode");
        assert!(matches!(&e, StreamEvent::MessageDelta(d) if d.stop_reason() == Some("end_turn")));
        let e: StreamEvent =
            serde_json::from_value(json!({"type": "message_stop"})).expect("decode");
        assert_eq!(e, StreamEvent::MessageStop(EmptyEvent {}));
        let raw = json!({"type": "citations_delta", "index": 0});
        let e: StreamEvent = serde_json::from_value(raw.clone()).expect("decode");
        assert_eq!(e, StreamEvent::Unknown(raw));
        let d: Delta = serde_json::from_value(json!({"type": "future_delta", "x": 1})).expect("d");
        assert!(matches!(d, Delta::Unknown(_)));
    }
}
