//! A stdio MCP server (official Rust SDK, `rmcp`) with one tool, `ask_name`, that asks its client
//! for a name through an MCP elicitation before answering. The end-to-end tests register it in
//! Codex's `mcp_servers`, so an elicitation travels Codex → OrbitDock's approval card → back to
//! this process; what comes back (the action and the content) is appended as one JSON line to the
//! file named by `ELICIT_LOG` and is also the tool's result, so a test can check both ends.
//!
//! Run by hand: `ELICIT_LOG=/tmp/e.log cargo run -p orbitdock-server --example elicit_mcp_server`.

use std::io::Write;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, ContentBlock, ElicitRequestParams, ElicitationSchema, ServerCapabilities,
    ServerConfig,
};
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler, ServiceExt, schemars, tool, tool_handler,
    tool_router,
};

/// The form the client is asked to fill in.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct NameForm {
    /// The name to greet.
    name: String,
}

#[derive(Debug, Clone)]
struct ElicitServer {
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ElicitServer {
    #[tool(description = "Ask the user for a name, then greet it.")]
    async fn ask_name(&self, peer: Peer<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let mut schema = ElicitationSchema::from_type::<NameForm>()
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        // Codex 0.169 parses `requestedSchema` strictly: a top-level key other than `$schema`,
        // `type`, `properties` and `required` (schemars adds `title`) makes it log "failed to
        // parse typed MCP elicitation schema" and answer `cancel` itself, without asking its
        // client.
        schema.title = None;
        schema.description = None;
        let answer = peer
            .create_elicitation(ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: "Which name should I greet?".to_owned(),
                requested_schema: schema,
            })
            .await
            .map_err(|e| ErrorData::internal_error(format!("elicitation failed: {e}"), None))?;
        let line =
            serde_json::json!({ "action": answer.action, "content": answer.content }).to_string();
        if let Some(path) = std::env::var_os("ELICIT_LOG") {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            writeln!(f, "{line}").map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "elicitation answered: {line}"
        ))]))
    }
}

#[tool_handler]
impl ServerHandler for ElicitServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = ElicitServer {
        tool_router: ElicitServer::tool_router(),
    }
    .serve(rmcp::transport::stdio())
    .await?;
    server.waiting().await?;
    Ok(())
}
