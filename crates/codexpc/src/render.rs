//! A Responses request -> a Harmony conversation -> prompt token ids ending in `<|start|>assistant`.
//!
//! The mapping (gpt-oss was trained on exactly this layout, so deviations cost quality):
//! - A system message: model identity, knowledge cutoff, the conversation date, `Reasoning:
//!   <effort>` from `reasoning.effort`, the required channels.
//! - One developer message: `instructions`, then the text of the developer/system messages that
//!   lead the input (before the first user/assistant/tool item), then the `function` tools as the
//!   `functions` namespace. Non-function tools are skipped with a log line (never a 4xx). Later
//!   developer/system messages are rendered where they occur, as developer messages, so the
//!   prompt prefix stays stable and the engine's KV cache keeps serving it.
//! - `message` user -> user; assistant -> assistant `final`. `reasoning` -> assistant `analysis`.
//!   `function_call` -> assistant `commentary` to `functions.NAME`, `<|constrain|>json`, ending
//!   in `<|call|>`; `function_call_output` -> a tool message from `functions.NAME` (looked up by
//!   `call_id`) to the assistant on `commentary`. History ends messages with `<|end|>`, never
//!   `<|return|>`.
//! - Harmony's chain-of-thought rule: analysis is kept across tool calls within the current turn
//!   and dropped for every turn that already ended in a `final` answer.
//! - Image parts become a short placeholder: gpt-oss is text-only.

use std::collections::HashMap;

use openai_harmony::chat::{
    Author, Conversation, DeveloperContent, Message, ReasoningEffort, Role, SystemContent,
    ToolDescription,
};

use crate::harmony::Harmony;
use crate::responses::types::{
    ContentPart, FunctionOutput, Input, InputItem, MessageContent, REASONING_MARKER,
    ResponsesRequest, Tool,
};
use crate::{Error, Result};

/// Placeholder text for image content parts.
pub const IMAGE_PLACEHOLDER: &str = "[image omitted: this model reads text only]";

/// Rendering knobs that do not come from the request.
#[derive(Debug, Clone, Default)]
pub struct RenderConfig {
    /// `Current date:` in the system message (YYYY-MM-DD); `None` = today (UTC).
    pub conversation_date: Option<String>,
}

/// A rendered prompt.
#[derive(Debug, Clone)]
pub struct RenderedPrompt {
    /// Token ids ending in `<|start|>assistant`.
    pub tokens: Vec<u32>,
    /// Text of the last input item (what the scripted engine matches against).
    pub match_text: String,
    /// Things that were skipped, for logs (`tool type web_search`, `item type local_shell_call`).
    pub ignored: Vec<String>,
}

/// Render a request into prompt tokens.
pub fn render_request(
    harmony: &Harmony,
    req: &ResponsesRequest,
    config: &RenderConfig,
) -> Result<RenderedPrompt> {
    let (conversation, match_text, ignored) = build_conversation(req, config)?;
    for what in &ignored {
        tracing::info!(ignored = %what, "not rendered for gpt-oss");
    }
    // We apply Harmony's analysis-dropping rule ourselves (see `build_conversation`): the crate's
    // `auto_drop_analysis` only drops analysis before the FIRST final message. Passing no config
    // turns it off.
    let tokens = render_tokens(harmony, &conversation)?;
    Ok(RenderedPrompt {
        tokens,
        match_text,
        ignored,
    })
}

/// Render a conversation into prompt tokens ending in `<|start|>assistant`.
///
/// Like `render_conversation_for_completion`, except for assistant tool calls: the crate writes
/// them as `assistant to=functions.X<|channel|>commentary ...`, but gpt-oss emits (and the Harmony
/// guide shows in history) `assistant<|channel|>commentary to=functions.X ...`. Rendering the
/// call exactly as the model sampled it keeps the prompt a token-for-token extension of what the
/// engine's KV cache holds, so the next request of an agent loop prefills only the tool output
/// instead of re-decoding from the call onwards (long `apply_patch` arguments included).
pub fn render_tokens(harmony: &Harmony, conversation: &Conversation) -> Result<Vec<u32>> {
    use crate::harmony::tokens;
    let encoding = harmony.encoding();
    let err = |e: anyhow::Error| Error::Render(format!("{e:#}"));
    let messages = &conversation.messages;
    // System + developer through the conversation renderer: it knows whether function tools
    // exist (the system message then names the commentary channel for them).
    let head = messages
        .iter()
        .take_while(|m| matches!(m.author.role, Role::System | Role::Developer))
        .count();
    let mut out = encoding
        .render_conversation(messages[..head].iter(), None)
        .map_err(err)?;
    for message in &messages[head..] {
        let Some(recipient) = message
            .recipient
            .as_deref()
            .filter(|_| message.author.role == Role::Assistant)
        else {
            out.extend(encoding.render(message, None).map_err(err)?);
            continue;
        };
        let channel = message.channel.as_deref().unwrap_or("commentary");
        let mut header = format!("{channel} to={recipient}");
        let constrained =
            message
                .content_type
                .as_deref()
                .map(|ct| match ct.strip_prefix("<|constrain|>") {
                    Some(rest) => (true, rest.to_owned()),
                    None => (false, ct.to_owned()),
                });
        if let Some((is_constrained, ct)) = &constrained {
            if *is_constrained {
                header.push(' ');
            } else {
                header.push(' ');
                header.push_str(ct);
            }
        }
        out.push(tokens::START);
        out.extend(harmony.encode_ordinary("assistant"));
        out.push(tokens::CHANNEL);
        out.extend(harmony.encode_ordinary(&header));
        if let Some((true, ct)) = &constrained {
            out.push(tokens::CONSTRAIN);
            out.extend(harmony.encode_ordinary(ct));
        }
        out.push(tokens::MESSAGE);
        for content in &message.content {
            if let openai_harmony::chat::Content::Text(t) = content {
                out.extend(harmony.encode_ordinary(&t.text));
            }
        }
        out.push(tokens::CALL);
    }
    out.push(tokens::START);
    out.extend(harmony.encode_ordinary("assistant"));
    Ok(out)
}

/// Build the Harmony conversation for a request; also returns the match text and ignored parts.
pub fn build_conversation(
    req: &ResponsesRequest,
    config: &RenderConfig,
) -> Result<(Conversation, String, Vec<String>)> {
    let mut ignored = Vec::new();
    let items: Vec<InputItem> = match &req.input {
        Input::Text(text) => vec![InputItem::Message(crate::responses::types::MessageItem {
            role: "user".into(),
            content: MessageContent::Text(text.clone()),
        })],
        Input::Items(items) => items.clone(),
    };

    // --- system
    let date = config.conversation_date.clone().unwrap_or_else(today_utc);
    let mut system = SystemContent::new().with_conversation_start_date(date);
    if let Some(effort) = req.reasoning.as_ref().and_then(|r| r.effort.as_deref()) {
        system = system.with_reasoning_effort(map_effort(effort));
    }
    let mut messages = vec![Message::from_role_and_content(Role::System, system)];

    // --- developer: instructions + leading developer/system messages + function tools
    let mut instructions: Vec<String> = Vec::new();
    if let Some(text) = req.instructions.as_deref().filter(|t| !t.trim().is_empty()) {
        instructions.push(text.to_owned());
    }
    let mut first_conversational = 0;
    for item in &items {
        match item {
            InputItem::Message(m) if m.role == "developer" || m.role == "system" => {
                instructions.push(content_text(&m.content));
                first_conversational += 1;
            }
            _ => break,
        }
    }
    let mut tools = Vec::new();
    for tool in &req.tools {
        match tool {
            Tool::Function(f) => tools.push(ToolDescription::new(
                f.name.clone(),
                f.description.clone().unwrap_or_default(),
                f.parameters.clone(),
            )),
            Tool::Other { tool_type } => ignored.push(format!("tool type {tool_type:?}")),
        }
    }
    if !instructions.is_empty() || !tools.is_empty() {
        let mut dev = DeveloperContent::new();
        if !instructions.is_empty() {
            dev = dev.with_instructions(instructions.join("\n\n"));
        }
        if !tools.is_empty() {
            dev = dev.with_function_tools(tools);
        }
        messages.push(Message::from_role_and_content(Role::Developer, dev));
    }

    // --- the conversation
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for item in &items {
        if let InputItem::FunctionCall(f) = item {
            call_names.insert(f.call_id.as_str(), f.name.as_str());
        }
    }
    for (index, item) in items.iter().enumerate().skip(first_conversational) {
        match item {
            InputItem::Message(m) => {
                let text = content_text(&m.content);
                let msg = match m.role.as_str() {
                    "user" => Message::from_role_and_content(Role::User, text),
                    "assistant" => {
                        Message::from_role_and_content(Role::Assistant, text).with_channel("final")
                    }
                    "developer" | "system" => Message::from_role_and_content(Role::Developer, text),
                    other => {
                        return Err(Error::InvalidRequest(format!(
                            "input[{index}]: message role {other:?} is not one of user, assistant, developer, system"
                        )));
                    }
                };
                messages.push(msg);
            }
            InputItem::Reasoning(r) => {
                let text = reasoning_text(r);
                if text.is_empty() {
                    ignored.push(format!(
                        "input[{index}]: reasoning item without readable text"
                    ));
                    continue;
                }
                messages.push(
                    Message::from_role_and_content(Role::Assistant, text).with_channel("analysis"),
                );
            }
            InputItem::FunctionCall(f) => {
                messages.push(
                    Message::from_role_and_content(Role::Assistant, f.arguments.clone())
                        .with_channel("commentary")
                        .with_recipient(format!("functions.{}", f.name))
                        .with_content_type("<|constrain|>json"),
                );
            }
            InputItem::FunctionCallOutput(o) => {
                let name = call_names.get(o.call_id.as_str()).copied().unwrap_or_else(|| {
                    tracing::warn!(call_id = %o.call_id, "function_call_output without a matching function_call");
                    "unknown"
                });
                messages.push(
                    Message::from_author_and_content(
                        Author::new(Role::Tool, format!("functions.{name}")),
                        function_output_text(&o.output),
                    )
                    .with_recipient("assistant")
                    .with_channel("commentary"),
                );
            }
            InputItem::Other { item_type, .. } => {
                ignored.push(format!("input[{index}]: item type {item_type:?}"));
            }
        }
    }

    // Harmony: drop analysis of every turn that already ended in a final answer.
    if let Some(last_final) = messages
        .iter()
        .rposition(|m| m.author.role == Role::Assistant && m.channel.as_deref() == Some("final"))
    {
        let mut index = 0;
        messages.retain(|m| {
            let keep = index >= last_final
                || !(m.author.role == Role::Assistant && m.channel.as_deref() == Some("analysis"));
            index += 1;
            keep
        });
    }

    let match_text = items.last().map(item_text).unwrap_or_default();
    Ok((Conversation::from_messages(messages), match_text, ignored))
}

fn map_effort(effort: &str) -> ReasoningEffort {
    match effort {
        "minimal" | "low" | "none" => ReasoningEffort::Low,
        "high" | "xhigh" => ReasoningEffort::High,
        _ => ReasoningEffort::Medium,
    }
}

fn parts_text(parts: &[ContentPart]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            ContentPart::Text(t) | ContentPart::Refusal(t) => out.push(t.clone()),
            ContentPart::Image => out.push(IMAGE_PLACEHOLDER.to_owned()),
            ContentPart::Other(kind) => out.push(format!("[{kind} omitted]")),
        }
    }
    out.join("\n")
}

fn content_text(content: &MessageContent) -> String {
    match content {
        MessageContent::Text(t) => t.clone(),
        MessageContent::Parts(parts) => parts_text(parts),
    }
}

fn function_output_text(output: &FunctionOutput) -> String {
    match output {
        FunctionOutput::Text(t) => t.clone(),
        FunctionOutput::Parts(parts) => parts_text(parts),
        // Legacy shape `{"content": "...", "success": bool}`; anything else as its JSON text.
        FunctionOutput::Other(v) => match v.get("content").and_then(|c| c.as_str()) {
            Some(content) => content.to_owned(),
            None => v.to_string(),
        },
    }
}

fn reasoning_text(r: &crate::responses::types::ReasoningItem) -> String {
    if let Some(content) = r.content.as_ref().filter(|c| !c.is_empty()) {
        return parts_text(content);
    }
    if let Some(ours) = r
        .encrypted_content
        .as_deref()
        .and_then(|e| e.strip_prefix(REASONING_MARKER))
    {
        return ours.to_owned();
    }
    parts_text(&r.summary)
}

fn item_text(item: &InputItem) -> String {
    match item {
        InputItem::Message(m) => content_text(&m.content),
        InputItem::FunctionCall(f) => f.arguments.clone(),
        InputItem::FunctionCallOutput(o) => function_output_text(&o.output),
        InputItem::Reasoning(r) => reasoning_text(r),
        InputItem::Other { raw, .. } => raw.to_string(),
    }
}

/// Today's date (UTC) as YYYY-MM-DD, without a date crate (civil-from-days, H. Hinnant).
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harmony::harmony;

    fn render(body: serde_json::Value) -> (String, RenderedPrompt) {
        let h = harmony().expect("harmony");
        let req: ResponsesRequest = serde_json::from_value(body).expect("request");
        let cfg = RenderConfig {
            conversation_date: Some("2026-11-22".into()),
        };
        let rendered = render_request(h, &req, &cfg).expect("render");
        (h.decode_lossy(&rendered.tokens), rendered)
    }

    #[test]
    fn codex_shaped_request_renders_to_expected_harmony_text() {
        let (text, rendered) = render(serde_json::json!({
            "instructions": "You are Codex.",
            "reasoning": {"effort": "high"},
            "tools": [
                {"type": "function", "name": "exec_command", "description": "Run a command",
                 "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
                {"type": "web_search"}
            ],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: none."}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]},
                {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Run echo."}]},
                {"type": "function_call", "name": "exec_command", "arguments": "{\"cmd\":\"echo hi\"}", "call_id": "call_1"},
                {"type": "function_call_output", "call_id": "call_1", "output": "hi\n"}
            ]
        }));
        let expected = concat!(
            "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n",
            "Knowledge cutoff: 2024-06\nCurrent date: 2026-11-22\n\nReasoning: high\n\n",
            "# Valid channels: analysis, commentary, final. Channel must be included for every message.\n",
            "Calls to these tools must go to the commentary channel: 'functions'.<|end|>",
            "<|start|>developer<|message|># Instructions\n\nYou are Codex.\n\nSandbox: none.\n\n",
            "# Tools\n\n## functions\n\nnamespace functions {\n\n// Run a command\n",
            "type exec_command = (_: {\ncmd: string,\n}) => any;\n\n} // namespace functions<|end|>",
            "<|start|>user<|message|>say hi<|end|>",
            "<|start|>assistant<|channel|>analysis<|message|>Run echo.<|end|>",
            "<|start|>assistant<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>{\"cmd\":\"echo hi\"}<|call|>",
            "<|start|>functions.exec_command to=assistant<|channel|>commentary<|message|>hi\n<|end|>",
            "<|start|>assistant"
        );
        assert_eq!(text, expected);
        assert_eq!(rendered.match_text, "hi\n");
        assert_eq!(
            rendered.ignored,
            vec!["tool type \"web_search\"".to_owned()]
        );
    }

    #[test]
    fn analysis_dropped_after_final_kept_in_current_turn_and_images_become_text() {
        let (text, rendered) = render(serde_json::json!({
            "input": [
                {"role": "user", "content": "q1"},
                {"type": "reasoning", "summary": [], "encrypted_content": "codexpc.v1:old thought"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a1"}]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "what is this?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "new thought"}]},
                {"type": "local_shell_call", "action": {}}
            ]
        }));
        assert!(!text.contains("old thought"), "{text}");
        assert!(
            text.contains("<|start|>assistant<|channel|>final<|message|>a1<|end|>"),
            "{text}"
        );
        assert!(
            text.contains(&format!("what is this?\n{IMAGE_PLACEHOLDER}")),
            "{text}"
        );
        assert!(
            text.contains("<|channel|>analysis<|message|>new thought<|end|>"),
            "{text}"
        );
        assert!(!text.contains("<|return|>"));
        assert!(text.ends_with("<|start|>assistant"));
        // No instructions and no tools: no developer message at all.
        assert!(!text.contains("<|start|>developer"));
        assert_eq!(rendered.ignored.len(), 1);
    }

    #[test]
    fn string_input_and_bad_role() {
        let (text, rendered) = render(serde_json::json!({"input": "hello"}));
        assert!(text.ends_with("<|start|>user<|message|>hello<|end|><|start|>assistant"));
        assert_eq!(rendered.match_text, "hello");
        let h = harmony().expect("harmony");
        let req: ResponsesRequest = serde_json::from_value(
            serde_json::json!({"input": [{"role": "critic", "content": "x"}]}),
        )
        .expect("parses");
        let err = render_request(h, &req, &RenderConfig::default()).expect_err("bad role");
        assert!(
            err.to_string()
                .contains("input[0]: message role \"critic\""),
            "{err}"
        );
    }

    #[test]
    fn function_output_shapes() {
        let (text, _) = render(serde_json::json!({"input": [
            {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "a"},
            {"type": "function_call_output", "call_id": "a", "output": [{"type": "input_text", "text": "struc"}, {"type": "input_text", "text": "tured"}]},
            {"type": "function_call_output", "call_id": "a", "output": {"content": "legacy", "success": true}},
            {"type": "function_call_output", "call_id": "zzz", "output": 42}
        ]}));
        assert!(text.contains("<|start|>functions.f to=assistant<|channel|>commentary<|message|>struc\ntured<|end|>"), "{text}");
        assert!(text.contains("<|message|>legacy<|end|>"), "{text}");
        assert!(
            text.contains(
                "<|start|>functions.unknown to=assistant<|channel|>commentary<|message|>42<|end|>"
            ),
            "{text}"
        );
    }

    #[test]
    fn agent_loop_prompt_extends_prompt_plus_sampled_tokens_exactly() {
        let h = harmony().expect("harmony");
        let cfg = RenderConfig {
            conversation_date: Some("2026-11-22".into()),
        };
        let tools = serde_json::json!([{"type": "function", "name": "exec_command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]);
        let user = serde_json::json!({"role": "user", "content": "list files"});
        let req1: ResponsesRequest =
            serde_json::from_value(serde_json::json!({"tools": tools, "input": [user]}))
                .expect("req1");
        let p1 = render_request(h, &req1, &cfg).expect("render1").tokens;
        let sampled = h.encode_with_special_tokens(
            "<|channel|>analysis<|message|>Use ls.<|end|><|start|>assistant<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>{\"cmd\":\"ls -la\"}<|call|>",
        );
        let req2: ResponsesRequest = serde_json::from_value(serde_json::json!({"tools": tools, "input": [
            user,
            {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Use ls."}]},
            {"type": "function_call", "name": "exec_command", "arguments": "{\"cmd\":\"ls -la\"}", "call_id": "c1"},
            {"type": "function_call_output", "call_id": "c1", "output": "README.md\n"}
        ]}))
        .expect("req2");
        let p2 = render_request(h, &req2, &cfg).expect("render2").tokens;
        let mut kv = p1.clone();
        kv.extend(&sampled);
        assert!(
            p2.starts_with(&kv),
            "turn 2 must extend prompt 1 + sampled tokens:\n{}",
            h.decode_lossy(&p2)
        );
        assert_eq!(
            h.decode_lossy(&p2[kv.len()..]),
            "<|start|>functions.exec_command to=assistant<|channel|>commentary<|message|>README.md\n<|end|><|start|>assistant"
        );
    }

    #[test]
    fn today_is_a_date() {
        let d = today_utc();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }
}
