//! Content blocks of assistant and user messages (the Anthropic Messages API shapes the CLI
//! passes through).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::open_enum;

/// `{"type":"text","text":...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    pub text: String,
}

/// `{"type":"thinking","thinking":...,"signature":...}`: the model's visible reasoning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    #[serde(default)]
    pub thinking: String,
    #[serde(default)]
    pub signature: String,
}

/// `{"type":"redacted_thinking","data":...}`: reasoning the API returned encrypted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedThinkingBlock {
    #[serde(default)]
    pub data: String,
}

/// `{"type":"tool_use","id","name","input"}`: the model asks to run a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlock {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub input: Value,
}

/// `{"type":"tool_result","tool_use_id","content","is_error"}`: what a tool produced (or the
/// refusal / error text when it did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    /// A string, or a list of content blocks (`text`, `image`); see [`Self::text`].
    #[serde(default)]
    pub content: Value,
    #[serde(default)]
    pub is_error: bool,
}

impl ToolResultBlock {
    /// The result's text: the string itself, or the `text` parts of a block list joined.
    pub fn text(&self) -> String {
        match &self.content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

open_enum! {
    /// One content block.
    pub enum ContentBlock tagged "type" {
        Text(TextBlock) = "text",
        Thinking(ThinkingBlock) = "thinking",
        RedactedThinking(RedactedThinkingBlock) = "redacted_thinking",
        ToolUse(ToolUseBlock) = "tool_use",
        ToolResult(ToolResultBlock) = "tool_result",
    }
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text(TextBlock { text: text.into() })
    }
}

/// The `content` of a user message: a plain string or a list of blocks (the CLI uses both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserContent {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

impl Default for UserContent {
    fn default() -> Self {
        UserContent::Blocks(Vec::new())
    }
}

impl UserContent {
    /// The blocks (a plain string is one text block).
    pub fn blocks(&self) -> Vec<ContentBlock> {
        match self {
            UserContent::Text(t) => vec![ContentBlock::text(t.clone())],
            UserContent::Blocks(b) => b.clone(),
        }
    }

    /// The text parts joined (tool results excluded).
    pub fn text(&self) -> String {
        match self {
            UserContent::Text(t) => t.clone(),
            UserContent::Blocks(b) => b
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::Text(t) => Some(t.text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_decode_and_round_trip() {
        let raw = json!([
            {"type": "text", "text": "hi"},
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            {"tool_use_id": "toolu_1", "type": "tool_result", "content": "out", "is_error": false},
            {"type": "image", "source": {"type": "base64"}},
            {"type": "text"},
        ]);
        let blocks: Vec<ContentBlock> = serde_json::from_value(raw.clone()).expect("decode");
        assert_eq!(blocks[0], ContentBlock::text("hi"));
        assert!(matches!(&blocks[1], ContentBlock::Thinking(t) if t.thinking == "hmm"));
        assert!(matches!(&blocks[2], ContentBlock::ToolUse(t) if t.name == "Bash"));
        assert!(matches!(&blocks[3], ContentBlock::ToolResult(t) if t.text() == "out"));
        // Unknown type and a known type missing a required field both stay raw.
        assert_eq!(blocks[4], ContentBlock::Unknown(raw[4].clone()));
        assert_eq!(blocks[5], ContentBlock::Unknown(raw[5].clone()));
        assert_eq!(blocks[4].tag(), Some("image"));
        let back = serde_json::to_value(&blocks).expect("encode");
        assert_eq!(back[0], json!({"type": "text", "text": "hi"}));
        assert_eq!(back[4], raw[4]);
    }

    #[test]
    fn tool_result_text_flattens_block_lists() {
        let r: ToolResultBlock = serde_json::from_value(json!({
            "tool_use_id": "t", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
        }))
        .expect("decode");
        assert_eq!(r.text(), "ab");
        assert!(!r.is_error);
    }

    #[test]
    fn user_content_is_string_or_blocks() {
        let s: UserContent = serde_json::from_value(json!("plain")).expect("string");
        assert_eq!(s.text(), "plain");
        let b: UserContent =
            serde_json::from_value(json!([{"type": "text", "text": "x"}])).expect("blocks");
        assert_eq!(b.text(), "x");
    }
}
