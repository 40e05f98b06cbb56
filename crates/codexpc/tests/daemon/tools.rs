//! Tools for real over the socket: tools the client declares are executed by the client (the
//! daemon checks the model's arguments, hands over the call, waits for `tool_result`, appends it
//! and resumes), and in-daemon tools come from an MCP server (a real child process speaking MCP
//! over stdio, built with the same SDK) behind every gate.

use std::collections::BTreeMap;

use codexpc::client::client_tool_call;
use codexpc::tools::mcp::McpServerConfig;

use super::*;

fn exec_command_tool() -> Value {
    json!({
        "type": "function",
        "name": "exec_command",
        "description": "Run a shell command.",
        "parameters": {
            "type": "object",
            "properties": {"cmd": {"type": "string"}},
            "required": ["cmd"],
            "additionalProperties": false
        }
    })
}

fn with_tools(text: &str) -> Value {
    json!({
        "input": [{"type": "message", "role": "user", "content": text}],
        "tools": [exec_command_tool()]
    })
}

/// Read `id`'s messages until the first client tool call; returns them (the call last).
async fn until_client_call(c: &mut Client, id: &str) -> Result<Vec<Value>> {
    let mut msgs = Vec::new();
    loop {
        let m = c.recv_for(id).await?;
        let call = client_tool_call(&m).is_some();
        let terminal = codexpc::client::is_terminal(&m);
        msgs.push(m);
        if call {
            return Ok(msgs);
        }
        anyhow::ensure!(
            !terminal,
            "session ended without a client tool call: {msgs:?}"
        );
    }
}

#[tokio::test]
async fn client_executes_its_tool_and_the_result_reaches_the_next_prompt() -> Result<()> {
    let prompts = tempfile::tempdir()?;
    let d = start_with(
        vec![
            line(
                &sampled_call("exec_command", r#"{"cmd":"ls"}"#),
                Some("list"),
                None,
            ),
            line(
                &final_text("You have a.txt and b.txt."),
                Some("a.txt b.txt"),
                None,
            ),
        ],
        ToolExecutor::new(ToolRegistry::new(), ToolsConfig::default()),
        |_| {},
        Extras {
            dump_prompts: Some(prompts.path().to_owned()),
            ..Extras::default()
        },
    )
    .await?;
    let mut c = d.client().await?;
    let hs = c.handshake().await?;
    assert!(
        hs["features"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("client_tools"))),
        "{hs}"
    );
    let id = c.create(with_tools("list my files")).await?;
    let before = until_client_call(&mut c, &id).await?;
    assert_eq!(kinds(&before), ["created", "output_item.done(tool_call)"]);
    let call = &before[1]["item"];
    assert_eq!(call["name"], json!("exec_command"));
    assert_eq!(call["arguments"], json!(r#"{"cmd":"ls"}"#));
    assert_eq!(call["executor"], json!("client"));
    let call_id = call["call_id"].as_str().context("call_id")?.to_owned();

    // A result for another call is refused without disturbing the session...
    let wrong = c.tool_result(&id, "call_nope", "x", "completed").await?;
    assert_eq!(wrong["type"], json!("error"), "{wrong}");
    assert_eq!(wrong["code"], json!("not_found"));
    assert!(
        wrong["message"].as_str().unwrap_or("").contains(&call_id),
        "{wrong}"
    );
    // ...and the right one resumes it.
    let ok = c
        .tool_result(&id, &call_id, "a.txt b.txt", "completed")
        .await?;
    assert_eq!(ok["type"], json!("tool_result.ok"), "{ok}");
    assert_eq!(
        (ok["session"].as_str(), ok["call_id"].as_str()),
        (Some(id.as_str()), Some(call_id.as_str()))
    );

    let rest = c.collect(&id).await?;
    let k = kinds(&rest);
    assert_eq!(k[0], "output_item.done(tool_call.output)", "{k:?}");
    assert_eq!(&k[k.len() - 2..], ["metrics", "completed"], "{k:?}");
    let out = &rest[0]["item"];
    assert_eq!(
        (
            &out["status"],
            &out["output"],
            &out["executor"],
            &out["call_id"]
        ),
        (
            &json!("completed"),
            &json!("a.txt b.txt"),
            &json!("client"),
            &json!(call_id)
        )
    );
    assert_eq!(text_of(&rest), "You have a.txt and b.txt.");
    assert_eq!(rest[rest.len() - 2]["tool_calls"], json!(1));

    // The result is part of the conversation the model saw next: the second rendered prompt
    // holds the call and the tool message with the client's output.
    let second = std::fs::read_to_string(prompts.path().join("prompt-0002.txt"))?;
    assert!(
        second.contains("to=functions.exec_command")
            && second.contains(
                "<|start|>functions.exec_command to=assistant<|channel|>commentary<|message|>"
            )
            && second.contains("a.txt b.txt"),
        "{second}"
    );
    // A late duplicate is refused: the session is over.
    let late = c.tool_result(&id, &call_id, "again", "completed").await?;
    assert_eq!(late["code"], json!("not_found"), "{late}");
    assert!(
        d.daemon
            .prometheus()
            .contains("codexpc_client_tool_calls_total 1")
    );
    Ok(())
}

#[tokio::test]
async fn arguments_failing_the_declared_schema_are_answered_to_the_model_not_the_client()
-> Result<()> {
    let d = start(
        vec![
            line(
                &sampled_call("exec_command", r#"{"cmd":5}"#),
                Some("list"),
                None,
            ),
            line(
                &final_text("Sorry, retrying later."),
                Some("do not match"),
                None,
            ),
        ],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(with_tools("list my files")).await?;
    // The client never answers anything: the daemon settles the call itself.
    let msgs = c.collect(&id).await?;
    assert_eq!(
        kinds(&msgs),
        [
            "created",
            "output_item.done(tool_call)",
            "output_item.done(tool_call.output)",
            "output_text.delta",
            "metrics",
            "completed"
        ]
    );
    assert!(
        client_tool_call(&msgs[1]).is_none(),
        "not a call to execute"
    );
    assert_eq!(
        (&msgs[1]["item"]["status"], &msgs[1]["item"]["executor"]),
        (&json!("failed"), &json!("client"))
    );
    let out = &msgs[2]["item"];
    assert_eq!(
        (&out["status"], &out["executor"]),
        (&json!("failed"), &json!("daemon"))
    );
    let text = out["output"].as_str().unwrap_or("");
    assert!(
        text.contains("do not match its schema") && text.contains("at /cmd"),
        "{text}"
    );
    assert_eq!(text_of(&msgs), "Sorry, retrying later.");
    Ok(())
}

#[tokio::test]
async fn a_client_that_never_answers_times_out_and_the_model_is_told() -> Result<()> {
    let d = start(
        vec![
            line(
                &sampled_call("exec_command", r#"{"cmd":"ls"}"#),
                Some("list"),
                None,
            ),
            line(
                &final_text("The tool did not answer."),
                Some("did not return"),
                None,
            ),
        ],
        ToolsConfig::default(),
        |c| c.client_tool_timeout = Duration::from_millis(200),
    )
    .await?;
    let mut c = d.client().await?;
    let started = Instant::now();
    let id = c.create(with_tools("list my files")).await?;
    let before = until_client_call(&mut c, &id).await?;
    let call_id = before[1]["item"]["call_id"]
        .as_str()
        .context("call_id")?
        .to_owned();
    let rest = c.collect(&id).await?;
    assert!(started.elapsed() >= Duration::from_millis(200));
    let out = &rest[0]["item"];
    assert_eq!(
        (&out["type"], &out["status"], &out["executor"]),
        (
            &json!("tool_call.output"),
            &json!("failed"),
            &json!("daemon")
        )
    );
    assert!(
        out["output"]
            .as_str()
            .unwrap_or("")
            .contains("did not return its result within 200 ms"),
        "{out}"
    );
    assert_eq!(text_of(&rest), "The tool did not answer.");
    assert_eq!(rest.last().context("last")?["type"], json!("completed"));
    // Too late now.
    let late = c.tool_result(&id, &call_id, "a.txt", "completed").await?;
    assert_eq!(late["code"], json!("not_found"), "{late}");
    assert!(
        d.daemon
            .prometheus()
            .contains("codexpc_client_tool_timeouts_total 1")
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_client_result_and_cancel_while_waiting() -> Result<()> {
    let d = start(
        vec![
            line(
                &sampled_call("exec_command", r#"{"cmd":"rm -rf /"}"#),
                Some("wipe"),
                None,
            ),
            line(&final_text("The client refused."), Some("refused"), None),
            line(
                &sampled_call("exec_command", r#"{"cmd":"sleep 99"}"#),
                Some("wait"),
                None,
            ),
        ],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(with_tools("wipe the disk")).await?;
    let before = until_client_call(&mut c, &id).await?;
    let call_id = before[1]["item"]["call_id"]
        .as_str()
        .context("call_id")?
        .to_owned();
    let ok = c
        .tool_result(&id, &call_id, "refused by the user", "failed")
        .await?;
    assert_eq!(ok["type"], json!("tool_result.ok"));
    let rest = c.collect(&id).await?;
    let out = &rest[0]["item"];
    assert_eq!(
        (&out["status"], &out["output"], &out["executor"]),
        (
            &json!("failed"),
            &json!("refused by the user"),
            &json!("client")
        )
    );
    assert_eq!(text_of(&rest), "The client refused.");

    // Cancelling a session that waits for its client ends it at once.
    let id = c.create(with_tools("wait for me")).await?;
    until_client_call(&mut c, &id).await?;
    c.cancel(&id).await?;
    let end = c.collect(&id).await?;
    let last = end.last().context("last")?;
    assert_eq!(
        (&last["type"], &last["code"]),
        (&json!("error"), &json!("cancelled")),
        "{end:?}"
    );
    Ok(())
}

/// A daemon whose in-daemon tools are those of the test MCP server (`examples/mcp_test_server.rs`,
/// a real child process), with `allow` and a 300 ms timeout and 64-byte output cap.
async fn start_with_mcp(lines: Vec<ScriptLine>, allow: &[&str]) -> Result<Running> {
    let server = test_support::cargo_example("codexpc", "mcp_test_server");
    let config: BTreeMap<String, McpServerConfig> = [(
        "testmcp".to_owned(),
        McpServerConfig {
            command: server.to_string_lossy().into_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            startup_timeout_ms: 20_000,
            timeout_ms: None,
        },
    )]
    .into();
    let mcp = McpServers::start(&config).await?;
    let mut registry = ToolRegistry::new();
    for t in mcp.tools() {
        registry.register(t.clone())?;
    }
    let tools = ToolsConfig {
        max_output_bytes: 64,
        ..tools_on(allow)
    };
    start_with(
        lines,
        ToolExecutor::new(registry, tools),
        |_| {},
        Extras {
            mcp: Some(mcp),
            ..Extras::default()
        },
    )
    .await
}

/// Run one session whose scripted model calls `tool` with `args`, then answers whatever the
/// tool said; returns the `tool_call.output` item.
async fn one_call(d: &Running, prompt: &str) -> Result<Value> {
    let mut c = d.client().await?;
    let id = c.create(user(prompt)).await?;
    let msgs = c.collect(&id).await?;
    assert_eq!(
        msgs.last().context("last")?["type"],
        json!("completed"),
        "{msgs:?}"
    );
    let call = msgs
        .iter()
        .find(|m| m["item"]["type"] == json!("tool_call"))
        .context("tool_call")?;
    assert_eq!(call["item"]["executor"], json!("daemon"));
    Ok(msgs
        .iter()
        .find(|m| m["item"]["type"] == json!("tool_call.output"))
        .context("tool_call.output")?["item"]
        .clone())
}

#[tokio::test]
async fn mcp_server_tools_run_through_every_gate() -> Result<()> {
    let d = start_with_mcp(
        vec![
            line(
                &sampled_call("testmcp__add", r#"{"a":2,"b":40}"#),
                Some("add"),
                None,
            ),
            line(&final_text("It is 42."), Some("42"), None),
            line(
                &sampled_call("testmcp__shout", r#"{"text":"hi"}"#),
                Some("shout"),
                None,
            ),
            line(&final_text("not allowed"), Some("allowlist"), None),
            line(
                &sampled_call("testmcp__add", r#"{"a":"two","b":40}"#),
                Some("typo"),
                None,
            ),
            line(&final_text("bad args"), Some("do not match"), None),
            line(
                &sampled_call("testmcp__sleep", r#"{"ms":10000}"#),
                Some("nap"),
                None,
            ),
            line(&final_text("too slow"), Some("timed out"), None),
            line(
                &sampled_call("testmcp__fail", r#"{"text":"no"}"#),
                Some("break"),
                None,
            ),
            line(&final_text("it failed"), Some("refused: no"), None),
            line(
                &sampled_call("testmcp__repeat", r#"{"text":"ab","times":500}"#),
                Some("long"),
                None,
            ),
            line(&final_text("cut"), Some("abab"), None),
        ],
        &[
            "testmcp__add",
            "testmcp__sleep",
            "testmcp__fail",
            "testmcp__repeat",
        ],
    )
    .await?;
    let mut c = d.client().await?;
    let health = c.health().await?;
    let available = health["tools_available"]
        .as_array()
        .context("tools_available")?;
    for name in ["testmcp__add", "testmcp__shout", "testmcp__sleep"] {
        assert!(available.contains(&json!(name)), "{health}");
    }

    // Called on the server, result back to the model.
    let out = one_call(&d, "add them").await?;
    assert_eq!(
        (&out["status"], &out["output"]),
        (&json!("completed"), &json!("42")),
        "{out}"
    );
    // Registered but not allowlisted: refused before the server sees it.
    let out = one_call(&d, "shout it").await?;
    assert_eq!(out["status"], json!("failed"));
    assert!(
        out["output"]
            .as_str()
            .unwrap_or("")
            .contains("not in the allowlist"),
        "{out}"
    );
    // The server's inputSchema is enforced by the daemon.
    let out = one_call(&d, "typo").await?;
    assert_eq!(out["status"], json!("failed"));
    assert!(
        out["output"].as_str().unwrap_or("").contains("at /a"),
        "{out}"
    );
    // Timeout.
    let out = one_call(&d, "nap").await?;
    assert_eq!(out["status"], json!("failed"));
    assert!(
        out["output"]
            .as_str()
            .unwrap_or("")
            .contains("timed out after 300 ms"),
        "{out}"
    );
    // An MCP error result is a failed tool output with the server's message.
    let out = one_call(&d, "break").await?;
    assert_eq!(out["status"], json!("failed"));
    assert!(
        out["output"].as_str().unwrap_or("").contains("refused: no"),
        "{out}"
    );
    // Output cap.
    let out = one_call(&d, "long").await?;
    assert_eq!(
        (&out["status"], &out["output"]),
        (&json!("completed"), &json!("ab".repeat(32)))
    );

    // The server survived the timeout and still answers.
    let counters = c.health().await?["counters"].clone();
    assert_eq!(counters["tool_calls"], json!(6), "{counters}");
    assert_eq!(counters["tool_failures"], json!(4), "{counters}");
    Ok(())
}

#[tokio::test]
async fn an_mcp_server_that_cannot_start_is_a_clear_error() -> Result<()> {
    let config: BTreeMap<String, McpServerConfig> = [(
        "ghost".to_owned(),
        McpServerConfig {
            command: "/nonexistent/mcp-server".into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            startup_timeout_ms: 5_000,
            timeout_ms: None,
        },
    )]
    .into();
    let err = McpServers::start(&config)
        .await
        .expect_err("no such server");
    let msg = err.to_string();
    assert!(
        msg.contains("[tools.mcp.ghost]") && msg.contains("/nonexistent/mcp-server"),
        "{msg}"
    );
    Ok(())
}
