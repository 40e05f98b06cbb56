//! Drift check: does each `codex` of the compatibility matrix (the pinned version and the newest
//! release, see `test_support::codex_matrix`) still speak the app-server protocol this crate
//! types?
//!
//! Runs `codex app-server generate-json-schema --out <tmp>` on the binary and checks,
//! against what it generates, every entry of our method tables (`REQUESTS`, `NOTIFICATIONS`,
//! `SERVER_REQUESTS`), every field our params/result types name, the nested structs in
//! `NESTED_TYPES`, the `ThreadItem` kinds we type and the enum values we send. All problems are
//! collected and reported together, each naming the method/type and the missing piece.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codex_client::app_server::notifications::NOTIFICATIONS;
use codex_client::app_server::requests::REQUESTS;
use codex_client::app_server::server_requests::SERVER_REQUESTS;
use codex_client::app_server::wire_fields::NESTED_TYPES;
use codex_client::app_server::{
    AskForApproval, CommandApprovalDecision, FileChangeApprovalDecision, SandboxMode,
};
use serde_json::Value;

/// Everything the generated bundle defines, by name, plus the method -> params-type maps.
struct Schema {
    defs: BTreeMap<String, Value>,
    client_requests: BTreeMap<String, Option<String>>,
    notifications: BTreeMap<String, Option<String>>,
    server_requests: BTreeMap<String, Option<String>>,
}

fn generate(bin: &Path, out: &Path) -> Result<()> {
    let mut child = Command::new(bin)
        .args(["app-server", "generate-json-schema", "--out"])
        .arg(out)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("spawn codex app-server generate-json-schema")?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err)?;
                }
                bail!("generate-json-schema failed with {status}: {err}");
            }
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!("generate-json-schema did not finish within 60 s");
        }
        // No event exists for "child exited" on a std Child; poll with a bound.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ref_name(v: &Value) -> Option<String> {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().map(str::to_owned);
    }
    // Nullable params: {"anyOf": [{"$ref": ...}, {"type": "null"}]}
    v.get("anyOf")
        .and_then(Value::as_array)
        .and_then(|alts| alts.iter().find_map(ref_name))
}

fn methods(root: &Value) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for variant in root["oneOf"].as_array().into_iter().flatten() {
        let props = &variant["properties"];
        let method = props["method"]["enum"][0]
            .as_str()
            .or_else(|| props["method"]["const"].as_str());
        if let Some(m) = method {
            out.insert(m.to_owned(), props.get("params").and_then(ref_name));
        }
    }
    out
}

fn load(dir: &Path) -> Result<Schema> {
    let mut defs = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("parse {}", path.display()))?;
            for (k, def) in v["definitions"].as_object().into_iter().flatten() {
                defs.entry(k.clone()).or_insert_with(|| def.clone());
            }
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                defs.entry(stem.to_owned()).or_insert(v);
            }
        }
    }
    let read = |name: &str| -> Result<Value> {
        Ok(serde_json::from_str(&std::fs::read_to_string(
            dir.join(name),
        )?)?)
    };
    Ok(Schema {
        client_requests: methods(&read("ClientRequest.json")?),
        notifications: methods(&read("ServerNotification.json")?),
        server_requests: methods(&read("ServerRequest.json")?),
        defs,
    })
}

impl Schema {
    /// Property names of a struct definition (following one `allOf`/`$ref` hop if needed).
    fn properties(&self, name: &str) -> Option<BTreeSet<String>> {
        let def = self.defs.get(name)?;
        let mut props: BTreeSet<String> = def["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        // Some params are unions of shapes sharing common fields (e.g. MCP elicitation modes):
        // a field counts as present if any alternative has it.
        for key in ["oneOf", "anyOf", "allOf"] {
            for alt in def[key].as_array().into_iter().flatten() {
                if let Some(o) = alt["properties"].as_object() {
                    props.extend(o.keys().cloned());
                }
                if let Some(r) = ref_name(alt)
                    && r != name
                {
                    props.extend(self.properties(&r).unwrap_or_default());
                }
            }
        }
        Some(props)
    }

    fn check_fields(
        &self,
        what: &str,
        type_name: &str,
        ours: Option<&[&str]>,
        problems: &mut Vec<String>,
    ) {
        let Some(ours) = ours else {
            problems.push(format!(
                "{what}: our type for `{type_name}` is not a plain struct; the check cannot see its fields"
            ));
            return;
        };
        let Some(theirs) = self.properties(type_name) else {
            problems.push(format!(
                "{what}: type `{type_name}` no longer exists in the schema"
            ));
            return;
        };
        for f in ours {
            if !theirs.contains(*f) {
                problems.push(format!(
                    "{what}: field `{f}` of `{type_name}` no longer exists (schema has: {})",
                    theirs.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }

    /// Variant tags (`"type"` enum values) of a tagged union definition.
    fn variant_tags(&self, name: &str, tag: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for alt in self
            .defs
            .get(name)
            .map(|d| &d["oneOf"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for v in alt["properties"][tag]["enum"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(s) = v.as_str() {
                    out.insert(s.to_owned());
                }
            }
        }
        out
    }

    fn variant_properties(&self, name: &str, tag_value: &str) -> BTreeSet<String> {
        for alt in self
            .defs
            .get(name)
            .map(|d| &d["oneOf"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if alt["properties"]["type"]["enum"][0].as_str() == Some(tag_value) {
                return alt["properties"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
            }
        }
        BTreeSet::new()
    }
}

fn check_params_ref(
    what: &str,
    method: &str,
    table: &BTreeMap<String, Option<String>>,
    ours: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    // Methods without params: our table says "null"; nothing to check field by field.
    if ours == "null" {
        match table.get(method) {
            None => problems.push(format!(
                "{what} `{method}` no longer exists in the pinned protocol"
            )),
            Some(Some(theirs)) => problems.push(format!(
                "{what} `{method}` now takes params `{theirs}`; our table sends none"
            )),
            Some(None) => {}
        }
        return None;
    }
    match table.get(method) {
        None => {
            problems.push(format!(
                "{what} `{method}` no longer exists in the pinned protocol"
            ));
            None
        }
        Some(Some(theirs)) => {
            if theirs != ours {
                problems.push(format!(
                    "{what} `{method}`: params type is now `{theirs}`, our table says `{ours}`"
                ));
            }
            Some(theirs.clone())
        }
        Some(None) => Some(ours.to_owned()),
    }
}

/// Everything in our tables that the schema no longer has.
fn find_problems(schema: &Schema) -> Result<Vec<String>> {
    let mut problems = Vec::new();

    for r in REQUESTS {
        let what = format!("request `{}`", r.method);
        if let Some(params) = check_params_ref(
            "request",
            r.method,
            &schema.client_requests,
            r.params_schema,
            &mut problems,
        ) {
            schema.check_fields(&what, &params, (r.params_fields)(), &mut problems);
        }
        schema.check_fields(
            &what,
            r.response_schema,
            (r.response_fields)(),
            &mut problems,
        );
    }
    for n in NOTIFICATIONS {
        let what = format!("notification `{}`", n.method);
        if let Some(params) = check_params_ref(
            "notification",
            n.method,
            &schema.notifications,
            n.params_schema,
            &mut problems,
        ) {
            schema.check_fields(&what, &params, (n.params_fields)(), &mut problems);
        }
    }
    for s in SERVER_REQUESTS {
        let what = format!("server request `{}`", s.method);
        if let Some(params) = check_params_ref(
            "server request",
            s.method,
            &schema.server_requests,
            s.params_schema,
            &mut problems,
        ) {
            schema.check_fields(&what, &params, (s.params_fields)(), &mut problems);
        }
    }
    for (name, fields) in NESTED_TYPES {
        schema.check_fields(&format!("type `{name}`"), name, fields(), &mut problems);
    }

    // ThreadItem kinds we type, and the fields we read from the important ones.
    let item_tags = schema.variant_tags("ThreadItem", "type");
    let items: &[(&str, &[&str])] = &[
        ("userMessage", &["id", "content"]),
        ("agentMessage", &["id", "text", "phase"]),
        ("reasoning", &["id", "summary", "content"]),
        (
            "commandExecution",
            &[
                "id",
                "command",
                "cwd",
                "processId",
                "status",
                "commandActions",
                "aggregatedOutput",
                "exitCode",
                "durationMs",
            ],
        ),
        ("fileChange", &["id", "changes", "status"]),
        (
            "mcpToolCall",
            &[
                "id",
                "server",
                "tool",
                "status",
                "arguments",
                "result",
                "error",
                "durationMs",
            ],
        ),
        (
            "dynamicToolCall",
            &[
                "id",
                "namespace",
                "tool",
                "arguments",
                "status",
                "contentItems",
                "success",
                "durationMs",
            ],
        ),
        ("webSearch", &[]),
        ("plan", &["id", "text"]),
        ("imageView", &["id", "path"]),
        ("enteredReviewMode", &["id", "review"]),
        ("exitedReviewMode", &["id", "review"]),
        ("contextCompaction", &["id"]),
    ];
    for (tag, fields) in items {
        if !item_tags.contains(*tag) {
            problems.push(format!(
                "ThreadItem kind `{tag}` no longer exists (schema has: {item_tags:?})"
            ));
            continue;
        }
        let props = schema.variant_properties("ThreadItem", tag);
        for f in *fields {
            if !props.contains(*f) {
                problems.push(format!("ThreadItem `{tag}`: field `{f}` no longer exists"));
            }
        }
    }

    // Enum values we send must still be accepted.
    let sent: Vec<(&str, Value)> = vec![
        (
            "CommandExecutionApprovalDecision",
            serde_json::to_value(CommandApprovalDecision::Accept)?,
        ),
        (
            "CommandExecutionApprovalDecision",
            serde_json::to_value(CommandApprovalDecision::AcceptForSession)?,
        ),
        (
            "CommandExecutionApprovalDecision",
            serde_json::to_value(CommandApprovalDecision::Decline)?,
        ),
        (
            "CommandExecutionApprovalDecision",
            serde_json::to_value(CommandApprovalDecision::Cancel)?,
        ),
        (
            "FileChangeApprovalDecision",
            serde_json::to_value(FileChangeApprovalDecision::Accept)?,
        ),
        (
            "FileChangeApprovalDecision",
            serde_json::to_value(FileChangeApprovalDecision::AcceptForSession)?,
        ),
        (
            "FileChangeApprovalDecision",
            serde_json::to_value(FileChangeApprovalDecision::Decline)?,
        ),
        (
            "FileChangeApprovalDecision",
            serde_json::to_value(FileChangeApprovalDecision::Cancel)?,
        ),
        (
            "AskForApproval",
            serde_json::to_value(AskForApproval::Untrusted)?,
        ),
        (
            "AskForApproval",
            serde_json::to_value(AskForApproval::OnRequest)?,
        ),
        (
            "AskForApproval",
            serde_json::to_value(AskForApproval::Never)?,
        ),
        ("SandboxMode", serde_json::to_value(SandboxMode::ReadOnly)?),
        (
            "SandboxMode",
            serde_json::to_value(SandboxMode::WorkspaceWrite)?,
        ),
        (
            "SandboxMode",
            serde_json::to_value(SandboxMode::DangerFullAccess)?,
        ),
    ];
    for (def, value) in sent {
        let text = schema
            .defs
            .get(def)
            .map(|d| d.to_string())
            .unwrap_or_default();
        if !text.contains(&value.to_string()) {
            problems.push(format!(
                "enum `{def}` no longer accepts {value} (which we send)"
            ));
        }
    }
    for tag in ["text", "image", "localImage", "skill", "mention"] {
        if !schema.variant_tags("UserInput", "type").contains(tag) {
            problems.push(format!("UserInput kind `{tag}` no longer exists"));
        }
    }
    for tag in ["dangerFullAccess", "readOnly", "workspaceWrite"] {
        if !schema.variant_tags("SandboxPolicy", "type").contains(tag) {
            problems.push(format!("SandboxPolicy kind `{tag}` no longer exists"));
        }
    }

    Ok(problems)
}

fn problems_of(bin: &Path) -> Result<(Schema, Vec<String>)> {
    let dir = tempfile::tempdir()?;
    generate(bin, dir.path())?;
    let schema = load(dir.path())?;
    let problems = find_problems(&schema)?;
    Ok((schema, problems))
}

#[test]
fn pinned_app_server_protocol_matches_our_method_tables() -> Result<()> {
    let (mut schema, problems) = problems_of(&test_support::codex_bin())?;
    assert!(
        problems.is_empty(),
        "the pinned codex app-server protocol drifted from codex-client's tables \
         ({} problem(s)):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );

    // The check itself must notice drift: remove a method we call and a field we send.
    schema.client_requests.remove("turn/interrupt");
    if let Some(props) = schema
        .defs
        .get_mut("TurnStartParams")
        .and_then(|d| d.get_mut("properties"))
        .and_then(Value::as_object_mut)
    {
        props.remove("threadId");
    }
    schema.notifications.remove("turn/completed");
    schema.client_requests.remove("account/logout");
    let seen = find_problems(&schema)?;
    for needle in [
        "request `turn/interrupt` no longer exists",
        "field `threadId` of `TurnStartParams` no longer exists",
        "notification `turn/completed` no longer exists",
        "request `account/logout` no longer exists",
    ] {
        assert!(
            seen.iter().any(|p| p.contains(needle)),
            "drift check missed: {needle}; it reported: {seen:#?}"
        );
    }
    Ok(())
}

/// The newest release of the matrix must speak everything we type as well (the differences
/// between the two are recorded in COMPAT.md, see `tests/cli_surface/compat.rs`).
#[test]
fn newest_app_server_protocol_matches_our_method_tables() -> Result<()> {
    let bin = test_support::codex_bin_newest();
    let (_, problems) = problems_of(&bin)?;
    assert!(
        problems.is_empty(),
        "codex {} ({}) app-server protocol drifted from codex-client's tables \
         ({} problem(s)):\n  - {}",
        test_support::NEWEST_CODEX_VERSION,
        bin.display(),
        problems.len(),
        problems.join("\n  - ")
    );
    Ok(())
}
