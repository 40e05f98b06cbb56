//! Wire types of the native session protocol (see `crates/codexpc/PROTOCOL.md`).
//!
//! One JSON object per line in each direction. Every message carries the envelope
//! `{"proto_version": 1, "service": "codexpc", "req_id": "...", "type": "..."}`. The parser is a
//! pure function ([`parse_request`]) so the fuzz target and the tests exercise exactly what the
//! socket server runs; it never panics and names the offending field in its errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only protocol version this daemon speaks.
pub const PROTO_VERSION: u64 = 1;
/// The `service` field every message carries.
pub const SERVICE: &str = "codexpc";
/// Default cap on one message (one line), in bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Error codes sent in `error{code}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnsupportedProtocol,
    TooLarge,
    Busy,
    NotFound,
    Cancelled,
    Engine,
    MalformedOutput,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnsupportedProtocol => "unsupported_protocol",
            Self::TooLarge => "too_large",
            Self::Busy => "busy",
            Self::NotFound => "not_found",
            Self::Cancelled => "cancelled",
            Self::Engine => "engine",
            Self::MalformedOutput => "malformed_output",
            Self::Internal => "internal",
        }
    }
}

/// A request the parser rejected; becomes an `error` message. `req_id` is echoed when it could
/// be read, so the client can match the error to its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub req_id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl WireError {
    fn bad(req_id: &Option<String>, message: impl Into<String>) -> Self {
        Self {
            req_id: req_id.clone(),
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }
}

/// Sampling settings of a `create`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingParams {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<u32>,
}

/// `create`: a conversation in the Responses input shape (so the same renderer serves both front
/// ends). `input`/`tools` are kept as JSON and validated by the renderer's types.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateParams {
    pub instructions: Option<String>,
    pub input: Value,
    pub tools: Vec<Value>,
    pub reasoning: Option<Value>,
    pub sampling: SamplingParams,
    pub max_output_tokens: Option<u32>,
}

/// `create_from_tokens`: a prompt already rendered to Harmony token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFromTokensParams {
    pub prefill_tokens: Vec<u32>,
    /// Append `<|channel|>final<|message|>` so the model answers on the final channel at once.
    pub prime_final: bool,
    pub max_output_tokens: Option<u32>,
    pub sampling: SamplingParamsOwned,
}

/// Like [`SamplingParams`] but `Eq` (no floats compared in tests of token requests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamplingParamsOwned {
    pub temperature_milli: Option<u32>,
    pub top_p_milli: Option<u32>,
    pub seed: Option<u32>,
}

/// How a client-executed tool call went (`tool_result.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolResultStatus {
    Completed,
    Failed,
}

impl ToolResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// `tool_result`: the output of a tool call the daemon asked the client to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResultParams {
    /// `req_id` of the session that made the call.
    pub session: String,
    pub call_id: String,
    /// What the model reads (the tool's output, or why it failed).
    pub output: String,
    pub status: ToolResultStatus,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Handshake,
    Health,
    Create(Box<CreateParams>),
    CreateFromTokens(CreateFromTokensParams),
    /// Cancel the session started by the request with this `req_id`.
    Cancel,
    /// The result of a client-executed tool call.
    ToolResult(ToolResultParams),
}

/// A request with its envelope's `req_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub req_id: String,
    pub request: Request,
}

const ENVELOPE_FIELDS: [&str; 4] = ["proto_version", "service", "req_id", "type"];

/// Parse one line (without its newline). Never panics.
pub fn parse_request(line: &[u8]) -> Result<Envelope, WireError> {
    let none = None;
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| WireError::bad(&none, format!("message is not valid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(WireError::bad(&none, "message must be a JSON object"));
    };
    // req_id first, so every later error can carry it.
    let req_id = match obj.remove("req_id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s),
        Some(Value::String(_)) => {
            return Err(WireError::bad(
                &none,
                "field `req_id` must be a non-empty string of at most 256 bytes",
            ));
        }
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(WireError::bad(&none, "field `req_id` must be a string")),
        None => return Err(WireError::bad(&none, "missing field `req_id`")),
    };
    match obj.remove("proto_version") {
        Some(Value::Number(n)) if n.as_u64() == Some(PROTO_VERSION) => {}
        Some(other) => {
            return Err(WireError {
                req_id,
                code: ErrorCode::UnsupportedProtocol,
                message: format!(
                    "unsupported proto_version {other}; this daemon speaks {PROTO_VERSION}"
                ),
            });
        }
        None => return Err(WireError::bad(&req_id, "missing field `proto_version`")),
    }
    match obj.remove("service") {
        Some(Value::String(s)) if s == SERVICE => {}
        Some(other) => {
            return Err(WireError::bad(
                &req_id,
                format!("field `service` must be \"{SERVICE}\", got {other}"),
            ));
        }
        None => return Err(WireError::bad(&req_id, "missing field `service`")),
    }
    let kind = match obj.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(WireError::bad(&req_id, "field `type` must be a string")),
        None => return Err(WireError::bad(&req_id, "missing field `type`")),
    };
    let request = match kind.as_str() {
        "handshake" => no_fields(&req_id, &kind, obj).map(|()| Request::Handshake)?,
        "health" => no_fields(&req_id, &kind, obj).map(|()| Request::Health)?,
        "cancel" => no_fields(&req_id, &kind, obj).map(|()| Request::Cancel)?,
        "create" => Request::Create(Box::new(parse_create(&req_id, obj)?)),
        "create_from_tokens" => Request::CreateFromTokens(parse_from_tokens(&req_id, obj)?),
        "tool_result" => Request::ToolResult(parse_tool_result(&req_id, obj)?),
        other => {
            return Err(WireError::bad(
                &req_id,
                format!(
                    "unknown `type` {other:?}; expected one of handshake, health, create, create_from_tokens, cancel, tool_result"
                ),
            ));
        }
    };
    Ok(Envelope {
        req_id: req_id.unwrap_or_default(),
        request,
    })
}

fn no_fields(
    req_id: &Option<String>,
    kind: &str,
    obj: Map<String, Value>,
) -> Result<(), WireError> {
    match obj.keys().next() {
        None => Ok(()),
        Some(k) => Err(WireError::bad(
            req_id,
            format!("unknown field `{k}` for `{kind}`"),
        )),
    }
}

fn opt_u32(
    req_id: &Option<String>,
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<u32>, WireError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| {
                WireError::bad(
                    req_id,
                    format!("field `{field}` must be an integer in 0..=4294967295"),
                )
            }),
        Some(_) => Err(WireError::bad(
            req_id,
            format!("field `{field}` must be an integer"),
        )),
    }
}

fn parse_sampling(
    req_id: &Option<String>,
    obj: &mut Map<String, Value>,
) -> Result<SamplingParams, WireError> {
    let sampling = match obj.remove("sampling") {
        None | Some(Value::Null) => SamplingParams::default(),
        Some(v @ Value::Object(_)) => serde_json::from_value::<SamplingParams>(v)
            .map_err(|e| WireError::bad(req_id, format!("field `sampling`: {e}")))?,
        Some(_) => return Err(WireError::bad(req_id, "field `sampling` must be an object")),
    };
    if let Some(t) = sampling.temperature
        && !(0.0..=4.0).contains(&t)
    {
        return Err(WireError::bad(
            req_id,
            "field `sampling.temperature` must be within 0..=4",
        ));
    }
    if let Some(p) = sampling.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(WireError::bad(
            req_id,
            "field `sampling.top_p` must be within (0, 1]",
        ));
    }
    Ok(sampling)
}

fn parse_create(
    req_id: &Option<String>,
    mut obj: Map<String, Value>,
) -> Result<CreateParams, WireError> {
    let instructions = match obj.remove("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(WireError::bad(
                req_id,
                "field `instructions` must be a string",
            ));
        }
    };
    let input = match obj.remove("input") {
        Some(v @ (Value::Array(_) | Value::String(_))) => v,
        Some(_) => {
            return Err(WireError::bad(
                req_id,
                "field `input` must be an array of items or a string",
            ));
        }
        None => return Err(WireError::bad(req_id, "missing field `input`")),
    };
    let tools = match obj.remove("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(t)) => t,
        Some(_) => return Err(WireError::bad(req_id, "field `tools` must be an array")),
    };
    let reasoning = match obj.remove("reasoning") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => {
            return Err(WireError::bad(
                req_id,
                "field `reasoning` must be an object like {\"effort\":\"low\"}",
            ));
        }
    };
    let sampling = parse_sampling(req_id, &mut obj)?;
    let max_output_tokens = opt_u32(req_id, &mut obj, "max_output_tokens")?;
    if let Some(k) = obj.keys().next() {
        return Err(WireError::bad(
            req_id,
            format!("unknown field `{k}` for `create`"),
        ));
    }
    Ok(CreateParams {
        instructions,
        input,
        tools,
        reasoning,
        sampling,
        max_output_tokens,
    })
}

fn parse_from_tokens(
    req_id: &Option<String>,
    mut obj: Map<String, Value>,
) -> Result<CreateFromTokensParams, WireError> {
    let prefill_tokens = match obj.remove("prefill_tokens") {
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                let id = v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        WireError::bad(
                            req_id,
                            format!(
                                "field `prefill_tokens[{i}]` must be a token id (unsigned integer)"
                            ),
                        )
                    })?;
                out.push(id);
            }
            if out.is_empty() {
                return Err(WireError::bad(
                    req_id,
                    "field `prefill_tokens` must not be empty",
                ));
            }
            out
        }
        Some(_) => {
            return Err(WireError::bad(
                req_id,
                "field `prefill_tokens` must be an array of token ids",
            ));
        }
        None => return Err(WireError::bad(req_id, "missing field `prefill_tokens`")),
    };
    let prime_final = match obj.remove("prime_final") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(WireError::bad(
                req_id,
                "field `prime_final` must be a boolean",
            ));
        }
    };
    let s = parse_sampling(req_id, &mut obj)?;
    let max_output_tokens = opt_u32(req_id, &mut obj, "max_output_tokens")?;
    if let Some(k) = obj.keys().next() {
        return Err(WireError::bad(
            req_id,
            format!("unknown field `{k}` for `create_from_tokens`"),
        ));
    }
    Ok(CreateFromTokensParams {
        prefill_tokens,
        prime_final,
        max_output_tokens,
        sampling: SamplingParamsOwned {
            temperature_milli: s.temperature.map(|t| (t * 1000.0).round() as u32),
            top_p_milli: s.top_p.map(|p| (p * 1000.0).round() as u32),
            seed: s.seed,
        },
    })
}

fn required_string(
    req_id: &Option<String>,
    obj: &mut Map<String, Value>,
    field: &str,
    non_empty: bool,
) -> Result<String, WireError> {
    match obj.remove(field) {
        Some(Value::String(s)) if !(non_empty && s.is_empty()) => Ok(s),
        Some(Value::String(_)) => Err(WireError::bad(
            req_id,
            format!("field `{field}` must not be empty"),
        )),
        Some(_) => Err(WireError::bad(
            req_id,
            format!("field `{field}` must be a string"),
        )),
        None => Err(WireError::bad(req_id, format!("missing field `{field}`"))),
    }
}

fn parse_tool_result(
    req_id: &Option<String>,
    mut obj: Map<String, Value>,
) -> Result<ToolResultParams, WireError> {
    let session = required_string(req_id, &mut obj, "session", true)?;
    let call_id = required_string(req_id, &mut obj, "call_id", true)?;
    let output = required_string(req_id, &mut obj, "output", false)?;
    let status = match obj.remove("status") {
        None | Some(Value::Null) => ToolResultStatus::Completed,
        Some(Value::String(s)) if s == "completed" => ToolResultStatus::Completed,
        Some(Value::String(s)) if s == "failed" => ToolResultStatus::Failed,
        Some(_) => {
            return Err(WireError::bad(
                req_id,
                "field `status` must be \"completed\" or \"failed\"",
            ));
        }
    };
    if let Some(k) = obj.keys().next() {
        return Err(WireError::bad(
            req_id,
            format!("unknown field `{k}` for `tool_result`"),
        ));
    }
    Ok(ToolResultParams {
        session,
        call_id,
        output,
        status,
    })
}

/// Build an outgoing message: the envelope plus `fields`.
pub fn message(req_id: Option<&str>, kind: &str, fields: Value) -> String {
    let mut obj = Map::new();
    obj.insert("proto_version".into(), Value::from(PROTO_VERSION));
    obj.insert("service".into(), Value::from(SERVICE));
    obj.insert("req_id".into(), req_id.map_or(Value::Null, Value::from));
    obj.insert("type".into(), Value::from(kind));
    if let Value::Object(f) = fields {
        for (k, v) in f {
            if !ENVELOPE_FIELDS.contains(&k.as_str()) {
                obj.insert(k, v);
            }
        }
    }
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    line
}

/// An `error` message.
pub fn error_message(req_id: Option<&str>, code: ErrorCode, text: &str) -> String {
    message(
        req_id,
        "error",
        serde_json::json!({ "code": code.as_str(), "message": text }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(rest: &str) -> String {
        format!(r#"{{"proto_version":1,"service":"codexpc","req_id":"r1",{rest}}}"#)
    }

    #[test]
    fn parses_each_request_type() {
        assert_eq!(
            parse_request(env(r#""type":"handshake""#).as_bytes())
                .unwrap()
                .request,
            Request::Handshake
        );
        assert_eq!(
            parse_request(env(r#""type":"health""#).as_bytes())
                .unwrap()
                .request,
            Request::Health
        );
        assert_eq!(
            parse_request(env(r#""type":"cancel""#).as_bytes())
                .unwrap()
                .request,
            Request::Cancel
        );
        let c = parse_request(
            env(r#""type":"create","instructions":"be brief","input":[{"role":"user","content":"hi"}],"tools":[],"reasoning":{"effort":"low"},"sampling":{"temperature":0.5,"top_p":0.9,"seed":7},"max_output_tokens":64"#)
                .as_bytes(),
        )
        .unwrap();
        let Request::Create(p) = c.request else {
            panic!()
        };
        assert_eq!(p.instructions.as_deref(), Some("be brief"));
        assert_eq!(
            p.sampling,
            SamplingParams {
                temperature: Some(0.5),
                top_p: Some(0.9),
                seed: Some(7)
            }
        );
        assert_eq!(p.max_output_tokens, Some(64));
        let t = parse_request(
            env(r#""type":"create_from_tokens","prefill_tokens":[200006,1,2],"prime_final":true"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            t.request,
            Request::CreateFromTokens(CreateFromTokensParams {
                prefill_tokens: vec![200006, 1, 2],
                prime_final: true,
                max_output_tokens: None,
                sampling: SamplingParamsOwned::default(),
            })
        );
        let r = parse_request(
            env(r#""type":"tool_result","session":"s1","call_id":"call_1","output":"","status":"failed""#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            r.request,
            Request::ToolResult(ToolResultParams {
                session: "s1".into(),
                call_id: "call_1".into(),
                output: String::new(),
                status: ToolResultStatus::Failed,
            })
        );
    }

    #[test]
    fn errors_name_the_field_and_keep_req_id() {
        let cases = [
            (
                r#"not json"#.to_owned(),
                None,
                ErrorCode::BadRequest,
                "not valid JSON",
            ),
            (
                r#"[1]"#.to_owned(),
                None,
                ErrorCode::BadRequest,
                "JSON object",
            ),
            (
                r#"{"proto_version":1}"#.to_owned(),
                None,
                ErrorCode::BadRequest,
                "missing field `req_id`",
            ),
            (
                r#"{"req_id":"a","proto_version":2,"service":"codexpc","type":"health"}"#
                    .to_owned(),
                Some("a"),
                ErrorCode::UnsupportedProtocol,
                "unsupported proto_version 2",
            ),
            (
                r#"{"req_id":"a","service":"codexpc","type":"health"}"#.to_owned(),
                Some("a"),
                ErrorCode::BadRequest,
                "missing field `proto_version`",
            ),
            (
                r#"{"req_id":"a","proto_version":1,"service":"x","type":"health"}"#.to_owned(),
                Some("a"),
                ErrorCode::BadRequest,
                "field `service`",
            ),
            (
                env(r#""type":"nope""#),
                Some("r1"),
                ErrorCode::BadRequest,
                "unknown `type` \"nope\"",
            ),
            (
                env(r#""type":"health","extra":1"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "unknown field `extra` for `health`",
            ),
            (
                env(r#""type":"create""#),
                Some("r1"),
                ErrorCode::BadRequest,
                "missing field `input`",
            ),
            (
                env(r#""type":"create","input":5"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "field `input`",
            ),
            (
                env(r#""type":"create","input":[],"sampling":{"temperature":"hot"}"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "field `sampling`",
            ),
            (
                env(r#""type":"create","input":[],"sampling":{"top_p":0}"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "sampling.top_p",
            ),
            (
                env(r#""type":"create","input":[],"max_output_tokens":-1"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "max_output_tokens",
            ),
            (
                env(r#""type":"create_from_tokens","prefill_tokens":[1,"x"]"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "prefill_tokens[1]",
            ),
            (
                env(r#""type":"create_from_tokens","prefill_tokens":[]"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "must not be empty",
            ),
            (
                env(r#""type":"tool_result","call_id":"c","output":"x""#),
                Some("r1"),
                ErrorCode::BadRequest,
                "missing field `session`",
            ),
            (
                env(r#""type":"tool_result","session":"s","call_id":"c","output":5"#),
                Some("r1"),
                ErrorCode::BadRequest,
                "field `output` must be a string",
            ),
            (
                env(
                    r#""type":"tool_result","session":"s","call_id":"c","output":"x","status":"ok""#,
                ),
                Some("r1"),
                ErrorCode::BadRequest,
                "field `status`",
            ),
        ];
        for (line, req_id, code, needle) in cases {
            let e = parse_request(line.as_bytes()).unwrap_err();
            assert_eq!(e.req_id.as_deref(), req_id, "{line}");
            assert_eq!(e.code, code, "{line}: {}", e.message);
            assert!(
                e.message.contains(needle),
                "{line}: {:?} lacks {needle:?}",
                e.message
            );
        }
    }

    #[test]
    fn message_has_envelope_first_and_cannot_be_overridden() {
        let m = message(
            Some("r"),
            "health.ok",
            serde_json::json!({"type": "evil", "engine": "scripted"}),
        );
        let v: Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["type"], "health.ok");
        assert_eq!(v["proto_version"], 1);
        assert_eq!(v["engine"], "scripted");
        assert!(m.ends_with('\n') && m.matches('\n').count() == 1);
    }

    #[test]
    fn random_bytes_never_panic() {
        // Deterministic xorshift: the fuzz target explores further; this keeps CI honest.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = br#"{}[]":,0123456789.-eE truefalsnul\"proto_versionservicecodexpcreq_idtypehandshakecreateinput"#;
        for _ in 0..20_000 {
            let len = (next() % 120) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 5 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 16) as usize % alphabet.len()]
                    }
                })
                .collect();
            let _ = parse_request(&line);
        }
    }
}
