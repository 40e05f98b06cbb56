//! The seam between session actors and agent processes, in OrbitDock's own terms.
//!
//! [`Connector`] is what a session needs from an agent: open/resume/fork a thread, start and
//! interrupt turns, rename, list models. Events flow the other way as [`ConnectorEvent`]s on one
//! channel, already translated into the session core's neutral vocabulary
//! ([`SessionEvent`], [`ApprovalRequest`]); the registry routes them to session actors by
//! `(connector, thread id)`.
//!
//! Agent wire types stop here: [`codex`] is the only module that knows Codex's app-server
//! protocol (`codex::translate` turns each notification and server request into the neutral
//! events), and [`claude`] the only one that knows Claude Code's stream-json protocol
//! (`claude::translate`). Both implement [`Connector`] and emit the same events.
//!
//! Tests and benchmarks implement the trait themselves (see [`crate::testing`]).

pub mod claude;
pub mod codex;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use orbitdock_protocol::{
    AccountStatus, AgentInfo, AgentThread, AgentThreadsQuery, ApprovalPolicy, ItemBody, ItemStatus,
    LoginRequest, LoginResponse, McpServerInfo, ModelInfo, PermissionMode, RateLimits,
    ReviewTarget, SandboxMode, SkillsResponse, ThreadGoal, TokenUsage, UsageResponse,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::session::{ApprovalRequest, SessionEvent};

/// Which connector an event or a session belongs to. Thread ids are only unique per connector
/// (the same id on two hosts is two threads), so routing keys on `(ConnectorKey, thread id)`.
///
/// The built-in connectors have static keys; a Codex host's key carries the host's name, shared
/// (`Arc<str>`) so that every event and routing entry of a host clones a pointer, not a string,
/// and a host added at run time costs no leaked allocation. A host named `codex` is a different
/// key from the local [`CODEX`]: the variants differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectorKey {
    /// A connector of the hub's own machine.
    Builtin(&'static str),
    /// The Codex app-server of a configured host, by host name.
    Host(Arc<str>),
}

impl ConnectorKey {
    /// The key of a host's connector.
    pub fn host(name: &str) -> Self {
        ConnectorKey::Host(Arc::from(name))
    }

    /// The host this key names, if it is a host's.
    pub fn host_name(&self) -> Option<&str> {
        match self {
            ConnectorKey::Host(h) => Some(h),
            ConnectorKey::Builtin(_) => None,
        }
    }
}

impl fmt::Display for ConnectorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectorKey::Builtin(k) => f.write_str(k),
            ConnectorKey::Host(h) => write!(f, "host:{h}"),
        }
    }
}

/// The key of the local Codex app-server.
pub const CODEX: ConnectorKey = ConnectorKey::Builtin("codex");

/// The key of the Claude Code connector.
pub const CLAUDE: ConnectorKey = ConnectorKey::Builtin("claude");

/// Something an agent process said, already in the core's vocabulary.
#[derive(Debug)]
pub enum ConnectorEvent {
    /// Changes to one thread.
    Thread {
        /// The connector.
        connector: ConnectorKey,
        /// The thread.
        thread_id: String,
        /// What happened, in order.
        events: Vec<SessionEvent>,
    },
    /// A request waiting for a person.
    Approval {
        /// The connector.
        connector: ConnectorKey,
        /// The thread it concerns (`None`: nobody can answer it; it is refused).
        thread_id: Option<String>,
        /// The request (boxed: it is much larger than the other events).
        request: Box<ApprovalRequest>,
    },
    /// Account-wide rate limits changed (every session on this connector shows them).
    RateLimits {
        /// The connector.
        connector: ConnectorKey,
        /// The figures.
        rate_limits: RateLimits,
    },
    /// The agent process went away (crash or shutdown); its threads are unloaded.
    Exited {
        /// The connector.
        connector: ConnectorKey,
        /// Exit status and stderr tail, for the transcript.
        detail: String,
    },
    /// A host's link dropped (or could not be opened): its sessions cannot be reached until
    /// [`ConnectorEvent::HostReachable`]; their pending requests and running turns are lost.
    HostUnreachable {
        /// The host's connector.
        connector: ConnectorKey,
        /// Why, in one sentence.
        detail: String,
    },
    /// A host's link is up again, its loaded threads resumed (`thread/resume`).
    HostReachable {
        /// The host's connector.
        connector: ConnectorKey,
        /// Threads that could not be resumed, with the reason.
        not_resumed: Vec<(String, String)>,
    },
}

/// The last `n` lines of an agent's stderr, for an exit notice.
pub fn stderr_tail_lines(stderr: &str, n: usize) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Where a connector delivers its events: straight into the registry's routing, on the
/// connector's own task (no hop through a separate demultiplexer task), once the registry exists.
/// Events before [`Router::attach`] or after [`Router::detach`] are dropped (nothing can use them:
/// the server is starting or stopping).
#[derive(Debug, Clone, Default)]
pub struct Router {
    target: Arc<parking_lot::RwLock<Target>>,
}

#[derive(Debug, Default)]
enum Target {
    #[default]
    None,
    Registry(Weak<crate::registry::Registry>),
    /// A plain channel: for code that drives a connector without a registry (tests, tools).
    Channel(tokio::sync::mpsc::Sender<ConnectorEvent>),
}

impl Router {
    /// A router with no target yet.
    pub fn new() -> Self {
        Router::default()
    }

    /// A router that hands every event to `tx` (waiting while it is full).
    pub fn to_channel(tx: tokio::sync::mpsc::Sender<ConnectorEvent>) -> Self {
        Router {
            target: Arc::new(parking_lot::RwLock::new(Target::Channel(tx))),
        }
    }

    /// Delivers to `registry` from now on.
    pub fn attach(&self, registry: &Arc<crate::registry::Registry>) {
        *self.target.write() = Target::Registry(Arc::downgrade(registry));
    }

    /// Stops delivering (a stopping server does not report its own agent's exit as a crash).
    pub fn detach(&self) {
        *self.target.write() = Target::None;
    }

    /// Routes one event to its session (bounded; see `Registry::route`).
    pub async fn route(&self, ev: ConnectorEvent) {
        enum To {
            Registry(Arc<crate::registry::Registry>),
            Channel(tokio::sync::mpsc::Sender<ConnectorEvent>),
            Nowhere,
        }
        let to = match &*self.target.read() {
            Target::Registry(w) => w.upgrade().map_or(To::Nowhere, To::Registry),
            Target::Channel(tx) => To::Channel(tx.clone()),
            Target::None => To::Nowhere,
        };
        match to {
            To::Registry(registry) => registry.route(ev).await,
            To::Channel(tx) => {
                let _ = tx.send(ev).await;
            }
            To::Nowhere => tracing::debug!(?ev, "connector event while not attached; dropped"),
        }
    }
}

/// How a terminal joins the app-server a connector's threads live in: `codex --remote REMOTE
/// resume THREAD` with `CODEX_HOME` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalAttach {
    /// `unix://PATH` (what `codex --remote` takes).
    pub remote: String,
    /// The `CODEX_HOME` of that app-server.
    pub codex_home: std::path::PathBuf,
    /// The `codex` binary the app-server runs (the TUI should be the same version).
    pub codex_bin: std::path::PathBuf,
}

/// Thread / turn settings, as OrbitDock names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadConfig {
    /// Working directory.
    pub cwd: String,
    /// Model.
    pub model: Option<String>,
    /// Reasoning effort.
    pub effort: Option<String>,
    /// Approval policy.
    pub approval_policy: Option<ApprovalPolicy>,
    /// Sandbox mode.
    pub sandbox_mode: Option<SandboxMode>,
    /// Permission mode (agents that have one).
    pub permission_mode: Option<PermissionMode>,
    /// Where the agent keeps this thread when it is not the connector's own place (the config
    /// dir of the terminal a taken-over session came from).
    pub agent_home: Option<String>,
    /// The session's usage so far (agents that report per-turn usage go on counting from it).
    pub usage: TokenUsage,
    /// The agent's model provider (`None`: the agent's default).
    pub model_provider: Option<String>,
    /// Collaboration mode for the turn being started (`plan`, `default`); never sticky.
    pub collaboration_mode: Option<orbitdock_protocol::CollaborationMode>,
}

/// A model provider to add to the agent's configuration (an OpenAI Responses endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEntry {
    /// The provider id sessions name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `http://HOST:PORT/v1`.
    pub base_url: String,
}

/// A thread the agent has loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenedThread {
    /// Its id.
    pub thread_id: String,
    /// The model the agent resolved.
    pub model: Option<String>,
    /// The effort the agent resolved.
    pub effort: Option<String>,
    /// The thread's name, when it has one.
    pub name: Option<String>,
}

/// One command to run outside any turn (see [`Connector::exec_command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The run's id, unique per connector (follow-up calls name it).
    pub id: String,
    /// argv.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Sandbox (`None`: the agent's default).
    pub sandbox_mode: Option<SandboxMode>,
    /// Timeout in milliseconds (`None`: the agent's default).
    pub timeout_ms: Option<u64>,
}

/// A chunk of a running command's output (stdout and stderr interleaved as they arrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecChunk {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text (invalid UTF-8 replaced).
    pub text: String,
}

/// A thread the agent knows, with its history in the core's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedThread {
    /// Its metadata.
    pub thread: AgentThread,
    /// Its model, when recorded.
    pub model: Option<String>,
    /// Its effort, when recorded.
    pub effort: Option<String>,
    /// Its turns' items, in order (`SessionEvent::Item`s).
    pub events: Vec<SessionEvent>,
}

/// One turn of a thread's history as the agent keeps it, oldest item first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryTurn {
    /// The turn id.
    pub turn_id: String,
    /// Its items: `(item id, status, body)`.
    pub items: Vec<(String, ItemStatus, ItemBody)>,
}

fn unsupported(what: &str) -> Error {
    Error::BadRequest(format!("this agent does not support {what}"))
}

fn no_account() -> crate::error::Error {
    crate::error::Error::BadRequest("this agent has no account to log in to".into())
}

/// What a session actor needs from an agent. Calls may take long (they are agent round trips):
/// the session core runs them off its actor loop and bounds each with a timeout.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug + 'static {
    /// This connector's key (see [`ConnectorKey`]).
    fn key(&self) -> ConnectorKey {
        CODEX
    }
    /// Bumped on every (re)start of the agent process; threads opened under an older
    /// generation must be resumed.
    fn generation(&self) -> u64;
    /// Starts a new thread.
    async fn start_thread(&self, cfg: &ThreadConfig) -> Result<OpenedThread>;
    /// Loads an existing thread (after a restart).
    async fn resume_thread(&self, thread_id: &str, cfg: &ThreadConfig) -> Result<OpenedThread>;
    /// Forks a thread into a new one; with `through_turn`, turns after it are not copied.
    async fn fork_thread(
        &self,
        thread_id: &str,
        through_turn: Option<&str>,
        cfg: &ThreadConfig,
    ) -> Result<OpenedThread>;
    /// The thread's history as the agent holds it, oldest turn first.
    async fn thread_history(&self, _thread_id: &str) -> Result<Vec<HistoryTurn>> {
        Err(unsupported("reading a thread's history"))
    }
    /// Drops `before_turn` and every later turn from the thread's history (what the model sees
    /// from now on). Files those turns changed stay as they are.
    async fn revert_thread(&self, _thread_id: &str, _before_turn: &str) -> Result<()> {
        Err(unsupported("reverting turns"))
    }
    /// Starts a review of `target` as a turn of the thread; returns the turn id.
    async fn start_review(&self, _thread_id: &str, _target: &ReviewTarget) -> Result<String> {
        Err(unsupported("reviews"))
    }
    /// Starts a turn with these settings; returns the turn id.
    async fn start_turn(&self, thread_id: &str, text: &str, cfg: &ThreadConfig) -> Result<String>;
    /// Adds `text` to the running turn `turn_id` (the agent reads it before its next model
    /// request of that turn); returns the turn id the agent accepted it for. The agent refuses
    /// when `turn_id` is not its active turn (it ended, or another one started): the caller
    /// then falls back to a new turn.
    async fn steer_turn(&self, thread_id: &str, turn_id: &str, text: &str) -> Result<String>;
    /// Interrupts a turn.
    async fn interrupt_turn(&self, thread_id: &str, turn_id: &str) -> Result<()>;
    /// Starts compacting the thread's history (it runs as a turn of its own: its start, its
    /// compaction item and its end arrive as events).
    async fn compact_thread(&self, thread_id: &str) -> Result<()>;
    /// Archives (`true`) or unarchives (`false`) the thread in the agent's own store.
    async fn set_thread_archived(&self, thread_id: &str, archived: bool) -> Result<()>;
    /// Names a thread.
    async fn set_thread_name(&self, thread_id: &str, name: &str) -> Result<()>;
    /// Lists models.
    async fn list_models(&self) -> Result<Vec<ModelInfo>>;
    /// The file where the agent keeps its own record of `thread_id` (a Codex rollout, a Claude
    /// transcript), searched in `agent_home` when the session names one; `None` when there is
    /// none (any more). What long command outputs are read back from (see
    /// [`crate::full_output`]).
    fn record_path(&self, _thread_id: &str, _agent_home: Option<&str>) -> Option<PathBuf> {
        None
    }
    /// Deletes the thread from the agent's own store (no undo).
    async fn delete_thread(&self, _thread_id: &str) -> Result<()> {
        Err(unsupported("thread/delete"))
    }
    /// The agent's MCP servers, as seen by `thread_id` when given (its live connections).
    async fn mcp_servers(&self, _thread_id: Option<&str>) -> Result<Vec<McpServerInfo>> {
        Err(unsupported("mcpServerStatus/list"))
    }
    /// One page of the threads the agent has stored.
    async fn list_threads(
        &self,
        _query: &AgentThreadsQuery,
    ) -> Result<(Vec<AgentThread>, Option<String>)> {
        Err(unsupported("thread/list"))
    }
    /// A stored thread with its history.
    async fn read_thread(&self, _thread_id: &str) -> Result<ImportedThread> {
        Err(unsupported("thread/read"))
    }
    /// The agent's effective config (as seen from `cwd`).
    async fn read_config(&self, _cwd: Option<&str>) -> Result<Value> {
        Err(unsupported("config/read"))
    }
    /// Sets one key of the agent's user config.
    async fn write_config(&self, _key_path: &str, _value: Value) -> Result<()> {
        Err(unsupported("config/value/write"))
    }
    /// Runs one command outside any turn, streaming its output to `output`; returns its exit
    /// code once it ends.
    async fn exec_command(&self, _spec: ExecSpec, _output: mpsc::Sender<ExecChunk>) -> Result<i32> {
        Err(unsupported("command/exec"))
    }
    /// Writes to a running command's stdin.
    async fn write_command_stdin(&self, _id: &str, _text: &str, _close: bool) -> Result<()> {
        Err(unsupported("command/exec/write"))
    }
    /// Stops a running command.
    async fn terminate_command(&self, _id: &str) -> Result<()> {
        Err(unsupported("command/exec/terminate"))
    }
    /// The account's rate limits and token usage.
    async fn usage(&self) -> Result<UsageResponse> {
        Err(unsupported("account/usage/read"))
    }
    /// The skills the agent would load in `cwd`.
    async fn skills(&self, _cwd: &str) -> Result<SkillsResponse> {
        Err(unsupported("skills/list"))
    }
    /// The thread's goal; `Ok(None)` when none is set, `Err` when goals are not supported.
    async fn goal(&self, _thread_id: &str) -> Result<Option<ThreadGoal>> {
        Err(unsupported("thread/goal/get"))
    }
    /// Sets (`Some`) or clears (`None`) the thread's goal.
    async fn set_goal(
        &self,
        _thread_id: &str,
        _objective: Option<&str>,
    ) -> Result<Option<ThreadGoal>> {
        Err(unsupported("thread/goal/set"))
    }
    /// The session no longer needs the thread loaded (it ended or was archived). Returns
    /// whether the agent let it go (the next turn must resume it); agents whose threads cost
    /// nothing while idle keep them.
    async fn release_thread(&self, _thread_id: &str) -> Result<bool> {
        Ok(false)
    }
    /// What people should know about this agent before starting a session with it (its
    /// version, whether it has credentials); `None` when there is nothing to report.
    async fn agent_info(&self) -> Option<AgentInfo> {
        None
    }
    /// Who the agent is logged in as (agents without an account refuse).
    async fn read_account(&self) -> Result<AccountStatus> {
        Err(no_account())
    }
    /// Logs the agent in.
    async fn login(&self, _request: &LoginRequest) -> Result<LoginResponse> {
        Err(no_account())
    }
    /// Logs the agent out; answers the account afterwards.
    async fn logout(&self) -> Result<AccountStatus> {
        Err(no_account())
    }
    /// Adds (or updates) a model provider in the agent's configuration, effective for threads
    /// started afterwards.
    async fn configure_provider(&self, _entry: &ProviderEntry) -> Result<()> {
        Err(crate::error::Error::BadRequest(
            "this agent has no configurable model providers".into(),
        ))
    }
    /// Stops the agent process.
    async fn shutdown(&self);
    /// Where a terminal can join this connector's threads live, when its agent runs as a
    /// shared runtime (`None`: only the hub can reach it).
    fn terminal_attach(&self) -> Option<TerminalAttach> {
        None
    }
    /// The agent process id, when one runs (diagnostics and crash tests).
    fn agent_pid(&self) -> Option<u32> {
        None
    }
}
