//! Turns [`OutputEvent`]s into the Responses API's streaming events (and the final object).
//!
//! Exactly the events Codex 0.169 consumes, in the API's order:
//! `response.created`; per item `response.output_item.added`, for messages
//! `response.content_part.added` + `response.output_text.delta`* + `response.output_text.done` +
//! `response.content_part.done`, for reasoning `response.reasoning_text.delta`* (with
//! `content_index`) + `response.reasoning_text.done`, then `response.output_item.done` carrying the
//! authoritative item (a function call arrives only there, whole); finally `response.completed`
//! with `usage` (incl. `input_tokens_details.cached_tokens` from the engine) or `response.failed`.

use serde_json::{Value, json};

use super::types::{
    ErrorBody, InputTokensDetails, OutputContent, OutputItem, OutputTokensDetails,
    REASONING_MARKER, ResponseObject, Usage,
};
use crate::parse::{FailureKind, OutputEvent};

/// One SSE event: its `event:` name and `data:` JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: &'static str,
    pub data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenKind {
    Text,
    Reasoning,
}

#[derive(Debug)]
struct OpenItem {
    kind: OpenKind,
    id: String,
    output_index: usize,
}

/// Builds one response, event by event.
#[derive(Debug)]
pub struct ResponseBuilder {
    id: String,
    created_at: u64,
    model: String,
    sequence: u64,
    output: Vec<OutputItem>,
    open: Option<OpenItem>,
    usage: Option<Usage>,
    status: &'static str,
    error: Option<ErrorBody>,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl ResponseBuilder {
    pub fn new(model: impl Into<String>) -> Self {
        let created_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            id: new_id("resp"),
            created_at,
            model: model.into(),
            sequence: 0,
            output: Vec::new(),
            open: None,
            usage: None,
            status: "in_progress",
            error: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The response object as it stands.
    pub fn object(&self) -> ResponseObject {
        ResponseObject {
            id: self.id.clone(),
            object: "response".into(),
            created_at: self.created_at,
            status: self.status.into(),
            model: self.model.clone(),
            output: self.output.clone(),
            usage: self.usage,
            error: self.error.clone(),
        }
    }

    /// Whether the response reached `completed` or `failed`.
    pub fn is_finished(&self) -> bool {
        self.status != "in_progress"
    }

    /// The error, if the response failed.
    pub fn error(&self) -> Option<&ErrorBody> {
        self.error.as_ref()
    }

    fn event(&mut self, name: &'static str, fields: Value) -> SseEvent {
        let mut data = json!({"type": name, "sequence_number": self.sequence});
        self.sequence += 1;
        if let (Some(obj), Value::Object(extra)) = (data.as_object_mut(), fields) {
            obj.extend(extra);
        }
        SseEvent { name, data }
    }

    /// `response.created`: the first event.
    pub fn created(&mut self) -> SseEvent {
        let response = self.object();
        self.event("response.created", json!({"response": response}))
    }

    /// Events for one pipeline event.
    pub fn on(&mut self, event: OutputEvent) -> Vec<SseEvent> {
        let mut out = Vec::new();
        match event {
            OutputEvent::TextDelta(delta) => {
                self.ensure_open(OpenKind::Text, &mut out);
                let (id, index) = self.open_ids();
                out.push(self.event(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta}),
                ));
            }
            OutputEvent::ReasoningDelta(delta) => {
                self.ensure_open(OpenKind::Reasoning, &mut out);
                let (id, index) = self.open_ids();
                out.push(self.event(
                    "response.reasoning_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta}),
                ));
            }
            OutputEvent::TextDone(text) => {
                self.ensure_open(OpenKind::Text, &mut out);
                let (id, index) = self.open_ids();
                self.open = None;
                let part = OutputContent::OutputText {
                    text: text.clone(),
                    annotations: vec![],
                };
                out.push(self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                ));
                out.push(self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                ));
                let item = OutputItem::Message {
                    id,
                    role: "assistant".into(),
                    status: "completed".into(),
                    content: vec![part],
                };
                out.push(self.item_done(index, item));
            }
            OutputEvent::ReasoningDone(text) => {
                self.ensure_open(OpenKind::Reasoning, &mut out);
                let (id, index) = self.open_ids();
                self.open = None;
                out.push(self.event(
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                ));
                let item = OutputItem::Reasoning {
                    id,
                    summary: vec![],
                    encrypted_content: Some(format!("{REASONING_MARKER}{text}")),
                    content: vec![OutputContent::ReasoningText { text }],
                };
                out.push(self.item_done(index, item));
            }
            OutputEvent::FunctionCall(call) => {
                self.close_open(&mut out);
                let index = self.output.len();
                let id = new_id("fc");
                let added = json!({
                    "type": "function_call", "id": id, "call_id": call.call_id, "name": call.name,
                    "arguments": "", "status": "in_progress"
                });
                out.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": added}),
                ));
                let item = OutputItem::FunctionCall {
                    id,
                    call_id: call.call_id,
                    name: call.name,
                    arguments: call.arguments,
                    status: "completed".into(),
                };
                out.push(self.item_done(index, item));
            }
            OutputEvent::Completed {
                stats,
                reasoning_tokens,
                ..
            } => {
                self.close_open(&mut out);
                let usage = Usage {
                    input_tokens: stats.prompt_tokens as u64,
                    input_tokens_details: InputTokensDetails {
                        cached_tokens: stats.cached_tokens as u64,
                    },
                    output_tokens: stats.generated_tokens as u64,
                    output_tokens_details: OutputTokensDetails {
                        reasoning_tokens: reasoning_tokens as u64,
                    },
                    total_tokens: (stats.prompt_tokens + stats.generated_tokens) as u64,
                };
                self.usage = Some(usage);
                self.status = "completed";
                let response = self.object();
                out.push(self.event("response.completed", json!({"response": response})));
            }
            OutputEvent::Failed { kind, message } => {
                self.close_open(&mut out);
                self.fail(kind, message, &mut out);
            }
        }
        out
    }

    /// Fail the response (also used when the pipeline vanished without a final event).
    pub fn fail(&mut self, kind: FailureKind, message: String, out: &mut Vec<SseEvent>) {
        let code = match kind {
            FailureKind::Engine => "server_error",
            FailureKind::MalformedOutput => "malformed_model_output",
            FailureKind::Cancelled => "cancelled",
        };
        self.error = Some(ErrorBody {
            kind: "server_error".into(),
            code: code.into(),
            message,
        });
        self.status = "failed";
        let response = self.object();
        out.push(self.event("response.failed", json!({"response": response})));
    }

    fn open_ids(&self) -> (String, usize) {
        self.open
            .as_ref()
            .map(|o| (o.id.clone(), o.output_index))
            .unwrap_or_default()
    }

    fn item_done(&mut self, index: usize, item: OutputItem) -> SseEvent {
        self.output.push(item.clone());
        self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        )
    }

    fn ensure_open(&mut self, kind: OpenKind, out: &mut Vec<SseEvent>) {
        if self.open.as_ref().is_some_and(|o| o.kind == kind) {
            return;
        }
        self.close_open(out);
        let index = self.output.len();
        let (id, item, part) = match kind {
            OpenKind::Text => {
                let id = new_id("msg");
                let item = json!({"type": "message", "id": id, "role": "assistant", "status": "in_progress", "content": []});
                (
                    id,
                    item,
                    json!({"type": "output_text", "text": "", "annotations": []}),
                )
            }
            OpenKind::Reasoning => {
                let id = new_id("rs");
                let item = json!({"type": "reasoning", "id": id, "summary": [], "content": []});
                (id, item, json!({"type": "reasoning_text", "text": ""}))
            }
        };
        out.push(self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        ));
        out.push(self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
        ));
        self.open = Some(OpenItem {
            kind,
            id,
            output_index: index,
        });
    }

    /// An item still open when something else starts (the parser always sends Done first, so this
    /// only happens on failure): it is dropped from the output, not invented.
    fn close_open(&mut self, _out: &mut Vec<SseEvent>) {
        if let Some(open) = self.open.take() {
            tracing::debug!(item = %open.id, "output item left open; dropping it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{GenerationStats, StopReason};
    use crate::parse::FunctionCall;

    #[test]
    fn event_sequence_for_reasoning_text_and_call() {
        let mut b = ResponseBuilder::new("m");
        let mut events = vec![b.created()];
        for e in [
            OutputEvent::ReasoningDelta("th".into()),
            OutputEvent::ReasoningDone("th".into()),
            OutputEvent::TextDelta("Hi".into()),
            OutputEvent::TextDone("Hi".into()),
            OutputEvent::FunctionCall(FunctionCall {
                name: "exec_command".into(),
                call_id: "call_1".into(),
                arguments: "{}".into(),
            }),
            OutputEvent::Completed {
                stats: GenerationStats {
                    prompt_tokens: 10,
                    cached_tokens: 4,
                    prefilled_tokens: 6,
                    generated_tokens: 5,
                },
                stop: StopReason::StopToken(200012),
                reasoning_tokens: 1,
            },
        ] {
            events.extend(b.on(e));
        }
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            vec![
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.data["type"], e.name);
            assert_eq!(e.data["sequence_number"], i as u64);
        }
        assert_eq!(events[3].data["content_index"], 0);
        assert_eq!(events[8].data["output_index"], 1);
        let call = &events[13].data["item"];
        assert_eq!(call["type"], "function_call");
        assert_eq!(call["name"], "exec_command");
        assert_eq!(call["call_id"], "call_1");
        assert_eq!(call["arguments"], "{}");
        let done = &events[14].data["response"];
        assert_eq!(done["id"], b.id());
        assert_eq!(done["status"], "completed");
        assert_eq!(
            done["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                   "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 15})
        );
        assert_eq!(done["output"].as_array().map(Vec::len), Some(3));
        assert_eq!(done["output"][0]["encrypted_content"], "codexpc.v1:th");
    }

    #[test]
    fn failure_mid_item_drops_the_open_item() {
        let mut b = ResponseBuilder::new("m");
        let _ = b.created();
        let _ = b.on(OutputEvent::TextDelta("par".into()));
        let events = b.on(OutputEvent::Failed {
            kind: FailureKind::MalformedOutput,
            message: "bad".into(),
        });
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "response.failed");
        assert_eq!(
            events[0].data["response"]["error"]["code"],
            "malformed_model_output"
        );
        assert_eq!(events[0].data["response"]["error"]["message"], "bad");
        assert!(b.is_finished());
        assert!(b.object().output.is_empty());
    }
}
