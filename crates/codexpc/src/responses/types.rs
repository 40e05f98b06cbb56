//! Wire types of the OpenAI Responses API, as far as Codex uses them.
//!
//! Foreign input: unknown fields are ignored everywhere (never `deny_unknown_fields`), unknown item,
//! content and tool types deserialize into `Other` variants (logged and skipped by the renderer),
//! and `input` / `content` / `output` accept both the string and the list forms.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /v1/responses` body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponsesRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub input: Input,
    #[serde(default)]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub reasoning: Option<ReasoningConfig>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Extension: sampling seed (not in the OpenAI API; handy for reproducible runs).
    #[serde(default)]
    pub seed: Option<u32>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
}

/// `reasoning` request field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReasoningConfig {
    /// `minimal` | `low` | `medium` | `high` (| `xhigh` on newer clients).
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

/// `input`: a plain string (one user message) or a list of items.
#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    Items(Vec<InputItem>),
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(items) => Ok(Self::Items(seq_with_index("input", items)?)),
            other => Err(serde::de::Error::custom(format!(
                "`input` must be a string or an array of items, got {}",
                json_kind(&other)
            ))),
        }
    }
}

/// Deserialize each element, naming the failing index (`input[3]: ...`) in the error.
fn seq_with_index<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    what: &str,
    items: Vec<Value>,
) -> Result<Vec<T>, E> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| T::deserialize(v).map_err(|e| E::custom(format!("{what}[{i}]: {e}"))))
        .collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Default for Input {
    fn default() -> Self {
        Self::Items(Vec::new())
    }
}

/// One input item. A message may omit `"type"` (the API's "easy input message").
#[derive(Debug, Clone)]
pub enum InputItem {
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    FunctionCallOutput(FunctionCallOutputItem),
    Reasoning(ReasoningItem),
    /// Any other item type (`custom_tool_call`, `local_shell_call`, `item_reference`, ...).
    Other {
        item_type: String,
        raw: Value,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedItem {
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    FunctionCallOutput(FunctionCallOutputItem),
    Reasoning(ReasoningItem),
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut raw = Value::deserialize(d)?;
        let Some(obj) = raw.as_object_mut() else {
            return Err(serde::de::Error::custom("input item must be an object"));
        };
        let item_type = match obj.get("type") {
            None if obj.contains_key("role") => {
                obj.insert("type".into(), Value::String("message".into()));
                "message".to_owned()
            }
            None => return Err(serde::de::Error::custom("input item has no `type`")),
            Some(Value::String(t)) => t.clone(),
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "input item `type` must be a string, got {other}"
                )));
            }
        };
        match item_type.as_str() {
            "message" | "function_call" | "function_call_output" | "reasoning" => {
                let tagged = TaggedItem::deserialize(raw)
                    .map_err(|e| serde::de::Error::custom(format!("{item_type} item: {e}")))?;
                Ok(match tagged {
                    TaggedItem::Message(m) => Self::Message(m),
                    TaggedItem::FunctionCall(f) => Self::FunctionCall(f),
                    TaggedItem::FunctionCallOutput(f) => Self::FunctionCallOutput(f),
                    TaggedItem::Reasoning(r) => Self::Reasoning(r),
                })
            }
            _ => Ok(Self::Other { item_type, raw }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageItem {
    /// `user` | `assistant` | `developer` | `system`.
    pub role: String,
    pub content: MessageContent,
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(parts) => Ok(Self::Parts(seq_with_index("content", parts)?)),
            other => Err(serde::de::Error::custom(format!(
                "`content` must be a string or an array of parts, got {}",
                json_kind(&other)
            ))),
        }
    }
}

/// A content part. Unknown part types are kept as `Other`.
#[derive(Debug, Clone)]
pub enum ContentPart {
    /// `input_text`, `output_text`, `text`, `summary_text`, `reasoning_text`.
    Text(String),
    /// `refusal`.
    Refusal(String),
    /// `input_image` (gpt-oss is text-only: rendered as a placeholder).
    Image,
    /// `input_file`, audio, ...: rendered as a placeholder naming the type.
    Other(String),
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let part_type = raw.get("type").and_then(Value::as_str).unwrap_or_default();
        let text_field = |field: &str| -> Result<String, D::Error> {
            match raw.get(field) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(serde::de::Error::custom(format!(
                    "{part_type} part: `{field}` must be a string, got {other}"
                ))),
                None => Err(serde::de::Error::custom(format!(
                    "{part_type} part: missing `{field}`"
                ))),
            }
        };
        Ok(match part_type {
            "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
                Self::Text(text_field("text")?)
            }
            "refusal" => Self::Refusal(text_field("refusal")?),
            "input_image" | "image" | "image_url" => Self::Image,
            "" => match raw {
                Value::String(s) => Self::Text(s),
                _ => return Err(serde::de::Error::custom("content part has no `type`")),
            },
            other => Self::Other(other.to_owned()),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionCallItem {
    pub name: String,
    /// JSON-encoded arguments.
    #[serde(default)]
    pub arguments: String,
    pub call_id: String,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionCallOutputItem {
    pub call_id: String,
    /// A string, or (newer API) a list of content parts.
    pub output: FunctionOutput,
}

#[derive(Debug, Clone)]
pub enum FunctionOutput {
    Text(String),
    Parts(Vec<ContentPart>),
    /// Anything else (an object, a number): rendered as its JSON text.
    Other(Value),
}

impl<'de> Deserialize<'de> for FunctionOutput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(parts) => Ok(Self::Parts(seq_with_index("output", parts)?)),
            other => Ok(Self::Other(other)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReasoningItem {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub summary: Vec<ContentPart>,
    #[serde(default)]
    pub content: Option<Vec<ContentPart>>,
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

/// A tool offered to the model. Only `function` tools reach gpt-oss.
#[derive(Debug, Clone)]
pub enum Tool {
    Function(FunctionTool),
    /// `web_search`, `local_shell`, `custom`, ...: ignored with a log line, never rejected.
    Other {
        tool_type: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let tool_type = raw
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if tool_type == "function" {
            let f = FunctionTool::deserialize(raw)
                .map_err(|e| serde::de::Error::custom(format!("function tool: {e}")))?;
            Ok(Self::Function(f))
        } else {
            Ok(Self::Other { tool_type })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output side.

/// Token usage as reported in `response.completed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

/// A finished output item (`response.output_item.done`, and `output[]` of the response object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        role: String,
        status: String,
        content: Vec<OutputContent>,
    },
    Reasoning {
        id: String,
        summary: Vec<OutputContent>,
        content: Vec<OutputContent>,
        /// Our own reasoning text, tagged, so it can be re-inserted as analysis when a client
        /// (Codex) sends back only the encrypted form.
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: String,
    },
}

/// Content of an output item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent {
    OutputText {
        text: String,
        annotations: Vec<Value>,
    },
    ReasoningText {
        text: String,
    },
    SummaryText {
        text: String,
    },
}

/// The response object (`stream:false` body; `response` in created/completed/failed events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    pub id: String,
    pub object: String,
    pub created_at: u64,
    /// `in_progress` | `completed` | `failed` | `incomplete`.
    pub status: String,
    pub model: String,
    pub output: Vec<OutputItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// `{code, message}` of a failed response / an HTTP error body's `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub message: String,
}

/// Prefix marking `encrypted_content` written by codexpc (plain text, not encrypted: we own both
/// ends of the conversation, and Codex only echoes it back).
pub const REASONING_MARKER: &str = "codexpc.v1:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_parsing_of_codex_shaped_request() {
        let body = serde_json::json!({
            "model": "gpt-oss-20b",
            "instructions": "be brief",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
                {"role": "user", "content": "plain"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "codexpc.v1:think"},
                {"type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": "c1"},
                {"type": "function_call_output", "call_id": "c1", "output": "hi\n"},
                {"type": "local_shell_call", "whatever": 1},
            ],
            "tools": [
                {"type": "function", "name": "exec_command", "parameters": {"type": "object"}, "strict": false},
                {"type": "web_search"},
                {"type": "custom", "name": "apply_patch", "format": {}}
            ],
            "tool_choice": "auto",
            "stream": true,
            "store": false,
            "include": ["reasoning.encrypted_content"],
            "reasoning": {"effort": "high", "summary": "auto"},
            "prompt_cache_key": "abc",
            "client_metadata": {"x": 1},
            "future_field": {"nested": true}
        });
        let req: ResponsesRequest = serde_json::from_value(body).expect("parses");
        let Input::Items(items) = &req.input else {
            panic!("items expected")
        };
        assert_eq!(items.len(), 7);
        assert!(matches!(&items[1], InputItem::Message(m) if m.role == "user"));
        assert!(
            matches!(&items[6], InputItem::Other { item_type, .. } if item_type == "local_shell_call")
        );
        assert!(matches!(&req.tools[0], Tool::Function(f) if f.name == "exec_command"));
        assert!(matches!(&req.tools[2], Tool::Other { tool_type } if tool_type == "custom"));
        assert!(req.stream);
    }

    #[test]
    fn string_input_and_wrong_types_give_clear_errors() {
        let req: ResponsesRequest =
            serde_json::from_value(serde_json::json!({"input": "hello"})).expect("string input");
        assert!(matches!(req.input, Input::Text(ref s) if s == "hello"));
        let err = serde_json::from_value::<ResponsesRequest>(serde_json::json!({
            "input": [{"type": "function_call", "name": 3, "call_id": "c"}]
        }))
        .expect_err("wrong type");
        assert!(
            err.to_string().contains("input[0]: function_call item"),
            "{err}"
        );
        let err = serde_json::from_value::<ResponsesRequest>(serde_json::json!({"input": 5}))
            .expect_err("number input");
        assert!(
            err.to_string()
                .contains("`input` must be a string or an array"),
            "{err}"
        );
    }
}
