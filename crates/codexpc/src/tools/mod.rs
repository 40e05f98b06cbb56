//! The guarded in-daemon tool pipeline, and the
//! argument checks of client-executed tools.
//!
//! When a model running inside the daemon calls a tool (Harmony: a commentary message to
//! `functions.NAME` ending in `<|call|>`), the daemon may execute it itself and feed the result
//! back into the conversation. That is a capability with a blast radius, so every step is a
//! gate, in this order, and every refusal is an *answer* (a `failed` tool output the model and
//! the client can read), never a crash:
//!
//! 1. **Off by default.** Nothing runs unless the configuration file says `[tools] enabled = true`
//!    (or the `--enable-tools` flag): no ambient environment variables in production paths.
//! 2. **Allowlist.** Only names listed in `allow` run, even if registered.
//! 3. **Known tool.** The registry holds each tool with its JSON Schema.
//! 4. **Arguments.** Must be a JSON object that validates against the schema (the `jsonschema`
//!    crate; the message names the offending path).
//! 5. **Enforced execution.** A timeout (default 2000 ms) and an output cap (default 8192 bytes,
//!    cut on a UTF-8 boundary). Tools run as tokio tasks off the engine thread, so a slow tool
//!    never blocks another session.
//!
//! Where tools come from:
//! - **MCP servers** declared in the config (`[tools.mcp.NAME]`, see [`mcp`]): each server's
//!   tools, registered as `NAME__TOOL` with the server's input schema.
//! - **Demo tools**, only with `[tools] demo = true`: `echo` and `upper` (`{msg: string}`), and
//!   `sleep` (`{ms: integer}`), a demo of a slow tool used to test the timeout. They, too, must
//!   be allowlisted.
//!
//! Tools a session's client declares (`create.tools`) are not run here: the client runs them.
//! The daemon still checks the model's arguments against the declared schema first
//! ([`ClientTools`]), so the client only ever receives calls it can execute.

pub mod mcp;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Default output cap in bytes.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 8192;
/// Longest `sleep` the demo tool accepts.
const SLEEP_MAX_MS: u64 = 60_000;

/// `[tools]` section of the daemon's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Master switch; false unless the operator turns it on.
    pub enabled: bool,
    /// Names allowed to execute.
    pub allow: Vec<String>,
    pub timeout_ms: u64,
    /// Cap on a tool's output (in-daemon and client-executed alike), in bytes.
    pub max_output_bytes: usize,
    /// Register the demo tools (`echo`, `upper`, `sleep`).
    pub demo: bool,
    /// MCP servers whose tools the daemon may run, by name (`[tools.mcp.NAME]`).
    pub mcp: BTreeMap<String, mcp::McpServerConfig>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allow: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            demo: false,
            mcp: BTreeMap::new(),
        }
    }
}

/// A tool call forced at the start of every session instead of sampling the first message, so
/// integration tests are deterministic whatever the model.
/// Only a test constructor of the daemon takes one; no configuration file or flag can set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedToolCall {
    pub name: String,
    /// Arguments as the model would write them: a JSON string (possibly invalid, to test that
    /// path too).
    pub arguments: String,
}

/// Name, description and JSON Schema of a tool; what the model is told about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// Future returned by a tool: `Ok(output)` or `Err(message for the model)`.
pub type ToolFuture = Pin<Box<dyn Future<Output = std::result::Result<String, String>> + Send>>;

/// A tool the daemon can execute. Implementations must be cancel-safe: on timeout the future is
/// dropped.
pub trait Tool: Send + Sync + 'static {
    fn spec(&self) -> &ToolSpec;
    fn call(&self, args: Value) -> ToolFuture;
    /// This tool's own timeout, overriding `[tools] timeout_ms`.
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

struct Registered {
    tool: Arc<dyn Tool>,
    validator: jsonschema::Validator,
}

/// Tools known to the daemon, each with its compiled schema.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<Registered>>,
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolRegistry")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Errors registering a tool (a bad schema is a programming error, reported at start-up).
#[derive(Debug, thiserror::Error)]
#[error("tool {name}: invalid JSON Schema: {message}")]
pub struct RegisterError {
    pub name: String,
    pub message: String,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The demo tools: `echo`, `upper`, `sleep`.
    pub fn builtin() -> Self {
        let mut r = Self::new();
        for tool in [
            Arc::new(Echo::new()) as Arc<dyn Tool>,
            Arc::new(Upper::new()),
            Arc::new(Sleep::new()),
        ] {
            // The built-in schemas are constants checked by the unit tests.
            if let Err(e) = r.register(tool) {
                tracing::error!(error = %e, "built-in tool schema rejected");
            }
        }
        r
    }

    /// Add (or replace) a tool after compiling its schema.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> std::result::Result<(), RegisterError> {
        let spec = tool.spec();
        let validator = jsonschema::validator_for(&spec.parameters).map_err(|e| RegisterError {
            name: spec.name.clone(),
            message: e.to_string(),
        })?;
        self.tools
            .insert(spec.name.clone(), Arc::new(Registered { tool, validator }));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.get(name).map(|r| r.tool.spec())
    }

    /// Specs of all registered tools, sorted by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|r| r.tool.spec().clone()).collect()
    }
}

/// Outcome status of one execution, mirrored on the wire as `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Completed,
    Failed,
}

/// Why a call failed; part of the outcome for logs, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolFailure {
    Disabled,
    NotAllowed,
    UnknownTool,
    InvalidJson,
    SchemaViolation,
    Timeout,
    ToolError,
}

/// Result of [`ToolExecutor::execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub status: ToolStatus,
    /// The output the model reads: the tool's result, or an actionable failure message.
    pub output: String,
    pub failure: Option<ToolFailure>,
    /// True when the output was cut to the cap.
    pub truncated: bool,
    pub duration: Duration,
}

impl ToolOutcome {
    fn failed(kind: ToolFailure, output: String, started: Instant) -> Self {
        Self {
            status: ToolStatus::Failed,
            output,
            failure: Some(kind),
            truncated: false,
            duration: started.elapsed(),
        }
    }
}

/// Applies [`ToolsConfig`] to calls against a [`ToolRegistry`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ToolExecutor {
    registry: ToolRegistry,
    config: Arc<ToolsConfig>,
}

impl ToolExecutor {
    pub fn new(registry: ToolRegistry, config: ToolsConfig) -> Self {
        Self {
            registry,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ToolsConfig {
        &self.config
    }

    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// Tools the model may be told about: registered AND allowed AND tools enabled.
    pub fn exposed_specs(&self) -> Vec<ToolSpec> {
        if !self.config.enabled {
            return Vec::new();
        }
        self.registry
            .specs()
            .into_iter()
            .filter(|s| self.config.allow.iter().any(|a| a == &s.name))
            .collect()
    }

    /// Run one call through every gate. Never panics, never returns an error: failures are
    /// `ToolStatus::Failed` outcomes with a message the model can act on.
    pub async fn execute(&self, name: &str, raw_arguments: &str) -> ToolOutcome {
        let started = Instant::now();
        let cfg = &self.config;
        if !cfg.enabled {
            return ToolOutcome::failed(
                ToolFailure::Disabled,
                format!(
                    "tool `{name}` was not run: tool execution is disabled in this daemon \
                     (set `[tools] enabled = true` and list the tool in `allow` in its config file)"
                ),
                started,
            );
        }
        if !cfg.allow.iter().any(|a| a == name) {
            let allowed = if cfg.allow.is_empty() {
                "none".to_owned()
            } else {
                cfg.allow.join(", ")
            };
            return ToolOutcome::failed(
                ToolFailure::NotAllowed,
                format!("tool `{name}` is not in the allowlist (allowed: {allowed})"),
                started,
            );
        }
        let Some(reg) = self.registry.tools.get(name) else {
            let known: Vec<&str> = self.registry.tools.keys().map(String::as_str).collect();
            return ToolOutcome::failed(
                ToolFailure::UnknownTool,
                format!("unknown tool `{name}` (known tools: {})", known.join(", ")),
                started,
            );
        };
        let args = match check_arguments(
            name,
            raw_arguments,
            &reg.validator,
            &reg.tool.spec().parameters,
        ) {
            Ok(v) => v,
            Err((kind, message)) => return ToolOutcome::failed(kind, message, started),
        };
        let timeout = reg
            .tool
            .timeout()
            .unwrap_or(Duration::from_millis(cfg.timeout_ms));
        // A separate task: a tool that blocks its thread still cannot stall the caller's task.
        let fut = reg.tool.call(args);
        let handle = tokio::spawn(fut);
        let abort = handle.abort_handle();
        let result = tokio::time::timeout(timeout, handle).await;
        let outcome = match result {
            Err(_) => {
                abort.abort();
                ToolOutcome::failed(
                    ToolFailure::Timeout,
                    format!(
                        "tool `{name}` timed out after {} ms and was stopped; try smaller input",
                        timeout.as_millis()
                    ),
                    started,
                )
            }
            Ok(Err(join)) => ToolOutcome::failed(
                ToolFailure::ToolError,
                format!("tool `{name}` crashed: {join}"),
                started,
            ),
            Ok(Ok(Err(msg))) => ToolOutcome::failed(
                ToolFailure::ToolError,
                format!("tool `{name}` failed: {msg}"),
                started,
            ),
            Ok(Ok(Ok(out))) => {
                let (output, truncated) = cap_utf8(out, cfg.max_output_bytes);
                ToolOutcome {
                    status: ToolStatus::Completed,
                    output,
                    failure: None,
                    truncated,
                    duration: started.elapsed(),
                }
            }
        };
        tracing::info!(
            tool = name,
            status = ?outcome.status,
            failure = ?outcome.failure,
            truncated = outcome.truncated,
            duration_ms = outcome.duration.as_millis() as u64,
            "tool call"
        );
        outcome
    }
}

/// Parse the model's raw arguments and validate them against a tool's schema. The error is the
/// failure kind and a message the model can act on (it names the offending path).
pub fn check_arguments(
    name: &str,
    raw_arguments: &str,
    validator: &jsonschema::Validator,
    schema: &Value,
) -> std::result::Result<Value, (ToolFailure, String)> {
    let args: Value = serde_json::from_str(raw_arguments).map_err(|e| {
        (
            ToolFailure::InvalidJson,
            format!(
                "arguments for `{name}` are not valid JSON ({e}); send a JSON object \
                 matching the tool's schema, e.g. {}",
                example_for(schema)
            ),
        )
    })?;
    let violations: Vec<String> = validator
        .iter_errors(&args)
        .map(|e| {
            let path = e.instance_path.to_string();
            let at = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            format!("at {at}: {e}")
        })
        .collect();
    if !violations.is_empty() {
        return Err((
            ToolFailure::SchemaViolation,
            format!(
                "arguments for `{name}` do not match its schema: {}",
                violations.join("; ")
            ),
        ));
    }
    Ok(args)
}

/// Function tools a session's client declared (`create.tools`), with compiled schemas. Calls of
/// these are executed by the client; the daemon only checks their arguments.
#[derive(Default)]
pub struct ClientTools {
    tools: HashMap<String, (Value, jsonschema::Validator)>,
}

impl fmt::Debug for ClientTools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.tools.keys()).finish()
    }
}

impl ClientTools {
    /// Compile the schemas of the `function` tools in `tools` (Responses shape: `{type:
    /// "function", name, parameters}`); other tool types are skipped, as the renderer skips them.
    /// A schema that does not compile is an error naming the tool.
    pub fn from_declared(tools: &[Value]) -> std::result::Result<Self, RegisterError> {
        let mut out = HashMap::new();
        for t in tools {
            if t.get("type").and_then(Value::as_str) != Some("function") {
                continue;
            }
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            let schema = match t.get("parameters") {
                Some(Value::Null) | None => json!({"type": "object"}),
                Some(s) => s.clone(),
            };
            let validator = jsonschema::validator_for(&schema).map_err(|e| RegisterError {
                name: name.to_owned(),
                message: e.to_string(),
            })?;
            out.insert(name.to_owned(), (schema, validator));
        }
        Ok(Self { tools: out })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Check a call's arguments; `None` when `name` is not a client tool.
    pub fn check(
        &self,
        name: &str,
        raw_arguments: &str,
    ) -> Option<std::result::Result<Value, (ToolFailure, String)>> {
        let (schema, validator) = self.tools.get(name)?;
        Some(check_arguments(name, raw_arguments, validator, schema))
    }
}

/// Cut `s` to at most `max` bytes without splitting a UTF-8 character.
pub fn cap_utf8(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut cut = max;
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    (s, true)
}

/// A minimal example object for an error message, from a schema's required string/integer props.
fn example_for(schema: &Value) -> String {
    let mut obj = serde_json::Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let ex = match v.get("type").and_then(Value::as_str) {
                Some("integer") | Some("number") => json!(1),
                Some("boolean") => json!(true),
                _ => json!("..."),
            };
            obj.insert(k.clone(), ex);
        }
    }
    Value::Object(obj).to_string()
}

fn msg_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "msg": { "type": "string", "description": "The text." } },
        "required": ["msg"],
        "additionalProperties": false
    })
}

/// `echo {msg}` -> msg.
#[derive(Debug)]
pub struct Echo(ToolSpec);
impl Echo {
    pub fn new() -> Self {
        Self(ToolSpec {
            name: "echo".into(),
            description: "Return `msg` unchanged.".into(),
            parameters: msg_schema(),
        })
    }
}
impl Default for Echo {
    fn default() -> Self {
        Self::new()
    }
}
impl Tool for Echo {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }
    fn call(&self, args: Value) -> ToolFuture {
        let msg = args
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Box::pin(async move { Ok(msg) })
    }
}

/// `upper {msg}` -> MSG.
#[derive(Debug)]
pub struct Upper(ToolSpec);
impl Upper {
    pub fn new() -> Self {
        Self(ToolSpec {
            name: "upper".into(),
            description: "Return `msg` in upper case.".into(),
            parameters: msg_schema(),
        })
    }
}
impl Default for Upper {
    fn default() -> Self {
        Self::new()
    }
}
impl Tool for Upper {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }
    fn call(&self, args: Value) -> ToolFuture {
        let msg = args
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_uppercase();
        Box::pin(async move { Ok(msg) })
    }
}

/// `sleep {ms}`: waits, then answers "slept N ms". A demo of a slow tool (timeouts).
#[derive(Debug)]
pub struct Sleep(ToolSpec);
impl Sleep {
    pub fn new() -> Self {
        Self(ToolSpec {
            name: "sleep".into(),
            description: "Wait `ms` milliseconds, then report it (demo of a slow tool).".into(),
            parameters: json!({
                "type": "object",
                "properties": { "ms": { "type": "integer", "minimum": 0, "maximum": SLEEP_MAX_MS } },
                "required": ["ms"],
                "additionalProperties": false
            }),
        })
    }
}
impl Default for Sleep {
    fn default() -> Self {
        Self::new()
    }
}
impl Tool for Sleep {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }
    fn call(&self, args: Value) -> ToolFuture {
        let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(0);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(format!("slept {ms} ms"))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn exec(allow: &[&str]) -> ToolExecutor {
        ToolExecutor::new(
            ToolRegistry::builtin(),
            ToolsConfig {
                enabled: true,
                demo: true,
                allow: allow.iter().map(|s| s.to_string()).collect(),
                ..ToolsConfig::default()
            },
        )
    }

    #[test]
    fn builtin_schemas_compile() {
        let names: Vec<String> = ToolRegistry::builtin()
            .specs()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["echo", "sleep", "upper"]);
    }

    #[tokio::test]
    async fn disabled_by_default() {
        let ex = ToolExecutor::new(ToolRegistry::builtin(), ToolsConfig::default());
        let out = ex.execute("echo", r#"{"msg":"hi"}"#).await;
        assert_eq!(out.status, ToolStatus::Failed);
        assert_eq!(out.failure, Some(ToolFailure::Disabled));
        assert!(out.output.contains("enabled = true"), "{}", out.output);
        assert!(ex.exposed_specs().is_empty());
    }

    #[tokio::test]
    async fn completed_echo_and_upper() {
        let ex = exec(&["echo", "upper"]);
        let e = ex.execute("echo", r#"{"msg":"héllo"}"#).await;
        assert_eq!(
            (e.status, e.output.as_str()),
            (ToolStatus::Completed, "héllo")
        );
        let u = ex.execute("upper", r#"{"msg":"héllo"}"#).await;
        assert_eq!(
            (u.status, u.output.as_str()),
            (ToolStatus::Completed, "HÉLLO")
        );
        let names: Vec<String> = ex.exposed_specs().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["echo", "upper"]);
    }

    #[tokio::test]
    async fn allowlist_denies() {
        let out = exec(&["echo"]).execute("upper", r#"{"msg":"x"}"#).await;
        assert_eq!(out.failure, Some(ToolFailure::NotAllowed));
        assert_eq!(
            out.output,
            "tool `upper` is not in the allowlist (allowed: echo)"
        );
    }

    #[tokio::test]
    async fn unknown_tool() {
        let out = exec(&["rm"]).execute("rm", "{}").await;
        assert_eq!(out.failure, Some(ToolFailure::UnknownTool));
        assert!(
            out.output.contains("known tools: echo, sleep, upper"),
            "{}",
            out.output
        );
    }

    #[tokio::test]
    async fn invalid_json_and_schema_violation() {
        let ex = exec(&["echo"]);
        let bad = ex.execute("echo", "{msg: hi").await;
        assert_eq!(bad.failure, Some(ToolFailure::InvalidJson));
        assert!(
            bad.output.contains(r#"e.g. {"msg":"..."}"#),
            "{}",
            bad.output
        );
        let wrong = ex.execute("echo", r#"{"msg": 5}"#).await;
        assert_eq!(wrong.failure, Some(ToolFailure::SchemaViolation));
        assert!(wrong.output.contains("at /msg"), "{}", wrong.output);
        let missing = ex.execute("echo", r#"{}"#).await;
        assert_eq!(missing.failure, Some(ToolFailure::SchemaViolation));
        assert!(missing.output.contains("msg"), "{}", missing.output);
        let extra = ex.execute("echo", r#"{"msg":"a","x":1}"#).await;
        assert_eq!(extra.failure, Some(ToolFailure::SchemaViolation));
    }

    #[tokio::test]
    async fn timeout_stops_slow_tool() {
        let ex = ToolExecutor::new(
            ToolRegistry::builtin(),
            ToolsConfig {
                enabled: true,
                allow: vec!["sleep".into()],
                timeout_ms: 50,
                ..ToolsConfig::default()
            },
        );
        let out = ex.execute("sleep", r#"{"ms": 10000}"#).await;
        assert_eq!(out.failure, Some(ToolFailure::Timeout));
        assert!(
            out.output.contains("timed out after 50 ms"),
            "{}",
            out.output
        );
        let ok = ex.execute("sleep", r#"{"ms": 10}"#).await;
        assert_eq!(
            (ok.status, ok.output.as_str()),
            (ToolStatus::Completed, "slept 10 ms")
        );
    }

    #[tokio::test]
    async fn output_cap_respects_utf8() {
        let ex = ToolExecutor::new(
            ToolRegistry::builtin(),
            ToolsConfig {
                enabled: true,
                allow: vec!["echo".into()],
                max_output_bytes: 5,
                ..ToolsConfig::default()
            },
        );
        // "aé€" = 1 + 2 + 3 bytes; a 5-byte cap must not split the euro sign.
        let out = ex.execute("echo", r#"{"msg":"aé€"}"#).await;
        assert_eq!((out.output.as_str(), out.truncated), ("aé", true));
    }

    #[test]
    fn cap_utf8_edges() {
        assert_eq!(cap_utf8("abc".into(), 3), ("abc".to_owned(), false));
        assert_eq!(cap_utf8("€".into(), 2), (String::new(), true));
        assert_eq!(cap_utf8("ab€".into(), 0), (String::new(), true));
    }

    #[test]
    fn config_parses_from_toml_and_rejects_typos() {
        let cfg: ToolsConfig =
            toml::from_str("enabled = true\nallow = [\"echo\"]\ntimeout_ms = 10").unwrap();
        assert!(cfg.enabled);
        assert!(!cfg.demo, "demo tools are off unless asked for");
        assert_eq!(cfg.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES);
        let err = toml::from_str::<ToolsConfig>("enable = true").unwrap_err();
        assert!(err.to_string().contains("enable"), "{err}");
        // The test-only forced call is not configuration.
        let err =
            toml::from_str::<ToolsConfig>("[test_force_tool]\nname = \"echo\"\narguments = \"{}\"")
                .unwrap_err();
        assert!(err.to_string().contains("test_force_tool"), "{err}");
        let cfg: ToolsConfig = toml::from_str(
            "enabled = true\ndemo = true\n[mcp.files]\ncommand = \"files-mcp\"\nargs = [\"--root\", \"/srv\"]\ntimeout_ms = 500\n",
        )
        .unwrap();
        assert!(cfg.demo);
        let files = &cfg.mcp["files"];
        assert_eq!(files.command, "files-mcp");
        assert_eq!(files.args, ["--root", "/srv"]);
        assert_eq!(files.timeout_ms, Some(500));
        assert_eq!(files.startup_timeout_ms, 10_000);
        assert!(toml::from_str::<ToolsConfig>("[mcp.x]\ncomand = \"y\"").is_err());
    }

    #[test]
    fn client_tools_check_arguments_against_their_schema() {
        let tools = ClientTools::from_declared(&[
            json!({"type": "function", "name": "exec_command", "parameters": {
                "type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}),
            json!({"type": "web_search"}),
            json!({"type": "function", "name": "no_params"}),
        ])
        .unwrap();
        assert!(tools.contains("exec_command") && tools.contains("no_params"));
        assert!(!tools.contains("web_search"));
        assert_eq!(
            tools.check("exec_command", r#"{"cmd":"ls"}"#),
            Some(Ok(json!({"cmd": "ls"})))
        );
        let Some(Err((kind, msg))) = tools.check("exec_command", r#"{"cmd":5}"#) else {
            panic!("schema violation expected")
        };
        assert_eq!(kind, ToolFailure::SchemaViolation);
        assert!(msg.contains("at /cmd"), "{msg}");
        let Some(Err((kind, _))) = tools.check("exec_command", "{cmd") else {
            panic!("invalid JSON expected")
        };
        assert_eq!(kind, ToolFailure::InvalidJson);
        assert_eq!(tools.check("other", "{}"), None);
        let bad = ClientTools::from_declared(&[
            json!({"type": "function", "name": "x", "parameters": {"type": 7}}),
        ])
        .unwrap_err();
        assert_eq!(bad.name, "x");
    }
}
