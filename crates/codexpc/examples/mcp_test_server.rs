//! A small MCP server over stdio, written with the official Rust SDK (`rmcp`), that codexpc's
//! tests configure as `[tools.mcp.NAME] command = "<this binary>"` to exercise the daemon's MCP
//! client and every tool gate: `add` (a plain result), `shout` (for the allowlist), `sleep` (for
//! the timeout), `fail` (an MCP error result) and `repeat` (for the output cap).
//!
//! Run by hand: `cargo run -p codexpc --example mcp_test_server` and type MCP JSON-RPC lines.

use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    /// First addend.
    a: i64,
    /// Second addend.
    b: i64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct TextArgs {
    text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    ms: u64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct RepeatArgs {
    text: String,
    times: usize,
}

#[derive(Debug, Clone)]
struct TestServer {
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl TestServer {
    #[tool(description = "Add two integers.")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "Upper-case a text.")]
    fn shout(&self, Parameters(TextArgs { text }): Parameters<TextArgs>) -> String {
        text.to_uppercase()
    }

    #[tool(description = "Wait, then say so.")]
    async fn sleep(&self, Parameters(SleepArgs { ms }): Parameters<SleepArgs>) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        format!("slept {ms} ms")
    }

    #[tool(description = "Always fails.")]
    fn fail(
        &self,
        Parameters(TextArgs { text }): Parameters<TextArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(format!(
            "refused: {text}"
        ))]))
    }

    #[tool(description = "Repeat a text.")]
    fn repeat(&self, Parameters(RepeatArgs { text, times }): Parameters<RepeatArgs>) -> String {
        text.repeat(times.min(100_000))
    }
}

#[tool_handler]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    eprintln!("mcp_test_server: ready on stdio");
    let server = TestServer {
        tool_router: TestServer::tool_router(),
    }
    .serve(rmcp::transport::stdio())
    .await?;
    server.waiting().await?;
    Ok(())
}
