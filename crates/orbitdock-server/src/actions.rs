//! Every thing a client can ask a session to do, as one type ([`SessionAction`]) applied by one
//! function ([`dispatch`]). REST handlers and WebSocket messages both build a `SessionAction` and
//! call `dispatch`; neither knows how an action is carried out, so an action added here exists on
//! both transports at once (and in the CLI and the MCP bridge, which use them).

use std::collections::BTreeMap;

use orbitdock_protocol::{
    ActionVia, AgentThreadsQuery, ApprovalDecision, ClientMessage, CommandStdin, ConfigPatch,
    ConfigValueWrite, CreateSessionRequest, ForkRequest, ImportThreadRequest, OkResponse,
    RevertRequest, ReviewRequest, RunCommandRequest, SendMessageRequest,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::session::SessionEvent;

/// One action on a session (or creating one).
#[derive(Debug, Clone, PartialEq)]
pub enum SessionAction {
    /// Create a direct session (and send its first prompt, if any).
    Create(CreateSessionRequest),
    /// Send a message (starting a turn).
    Send {
        /// The session.
        session_id: String,
        /// The message and per-turn overrides.
        request: SendMessageRequest,
    },
    /// Interrupt the running turn.
    Interrupt {
        /// The session.
        session_id: String,
    },
    /// End the session.
    End {
        /// The session.
        session_id: String,
    },
    /// Resume an ended or detached session.
    Resume {
        /// The session.
        session_id: String,
    },
    /// Take over an idle passive session.
    Takeover {
        /// The session.
        session_id: String,
    },
    /// Rename.
    Rename {
        /// The session.
        session_id: String,
        /// The new name (empty clears it).
        name: String,
    },
    /// Compact the thread's history.
    Compact {
        /// The session.
        session_id: String,
    },
    /// Drop turns from the thread's history.
    Revert {
        /// The session.
        session_id: String,
        /// What to drop.
        request: RevertRequest,
    },
    /// Fork into a new session.
    Fork {
        /// The session.
        session_id: String,
        /// Where and how.
        request: ForkRequest,
    },
    /// Start a review.
    Review {
        /// The session.
        session_id: String,
        /// What and where.
        request: ReviewRequest,
    },
    /// Archive or unarchive.
    SetArchived {
        /// The session.
        session_id: String,
        /// The new value.
        archived: bool,
    },
    /// Change config for the next turns.
    Configure {
        /// The session.
        session_id: String,
        /// The change.
        patch: ConfigPatch,
    },
    /// Delete a session and its agent thread.
    Delete {
        /// The session.
        session_id: String,
    },
    /// List the MCP servers of a session's agent.
    McpServers {
        /// The session.
        session_id: String,
    },
    /// List the threads the agent has stored.
    AgentThreads(AgentThreadsQuery),
    /// Import a stored agent thread as a session.
    ImportThread(ImportThreadRequest),
    /// Read the agent's config.
    ReadAgentConfig,
    /// Set one value of the agent's config.
    WriteAgentConfig(ConfigValueWrite),
    /// Run a one-off command.
    RunCommand {
        /// The session.
        session_id: String,
        /// The command.
        request: RunCommandRequest,
    },
    /// Stop a one-off command.
    TerminateCommand {
        /// The session.
        session_id: String,
        /// The run.
        command_id: String,
    },
    /// Write to a one-off command's stdin.
    CommandStdin {
        /// The session.
        session_id: String,
        /// The run.
        command_id: String,
        /// The text.
        stdin: CommandStdin,
    },
    /// Account rate limits and usage.
    Usage,
    /// A session's skills.
    Skills {
        /// The session.
        session_id: String,
    },
    /// Read (`objective: None`) or set a session's goal (empty clears it).
    Goal {
        /// The session.
        session_id: String,
        /// The new objective.
        objective: Option<String>,
    },
    /// Answer an approval or question.
    Approve {
        /// The session.
        session_id: String,
        /// The request.
        request_id: String,
        /// The decision.
        decision: ApprovalDecision,
        /// Answers to questions.
        answers: Option<BTreeMap<String, Vec<String>>>,
        /// With a refusal: what to tell the agent.
        message: Option<String>,
    },
}

impl SessionAction {
    /// The session the action concerns (`None` for create).
    pub fn session_id(&self) -> Option<&str> {
        match self {
            SessionAction::Create(_)
            | SessionAction::AgentThreads(_)
            | SessionAction::ImportThread(_)
            | SessionAction::ReadAgentConfig
            | SessionAction::WriteAgentConfig(_)
            | SessionAction::Usage => None,
            SessionAction::Send { session_id, .. }
            | SessionAction::Interrupt { session_id }
            | SessionAction::End { session_id }
            | SessionAction::Resume { session_id }
            | SessionAction::Takeover { session_id }
            | SessionAction::Rename { session_id, .. }
            | SessionAction::SetArchived { session_id, .. }
            | SessionAction::Compact { session_id }
            | SessionAction::Revert { session_id, .. }
            | SessionAction::Fork { session_id, .. }
            | SessionAction::Review { session_id, .. }
            | SessionAction::Configure { session_id, .. }
            | SessionAction::Approve { session_id, .. }
            | SessionAction::Delete { session_id }
            | SessionAction::McpServers { session_id }
            | SessionAction::RunCommand { session_id, .. }
            | SessionAction::TerminateCommand { session_id, .. }
            | SessionAction::CommandStdin { session_id, .. }
            | SessionAction::Skills { session_id }
            | SessionAction::Goal { session_id, .. } => Some(session_id),
        }
    }

    /// The action a WebSocket message asks for, with its `client_ref`; `Err` gives back
    /// messages that are not actions (subscriptions, pings).
    pub fn from_client_message(
        msg: ClientMessage,
    ) -> std::result::Result<(SessionAction, Option<String>), Box<ClientMessage>> {
        Ok(match msg {
            ClientMessage::CreateSession {
                request,
                client_ref,
            } => (SessionAction::Create(request), client_ref),
            ClientMessage::SendMessage {
                session_id,
                request,
                client_ref,
            } => (
                SessionAction::Send {
                    session_id,
                    request,
                },
                client_ref,
            ),
            ClientMessage::Interrupt {
                session_id,
                client_ref,
            } => (SessionAction::Interrupt { session_id }, client_ref),
            ClientMessage::EndSession {
                session_id,
                client_ref,
            } => (SessionAction::End { session_id }, client_ref),
            ClientMessage::ResumeSession {
                session_id,
                client_ref,
            } => (SessionAction::Resume { session_id }, client_ref),
            ClientMessage::TakeoverSession {
                session_id,
                client_ref,
            } => (SessionAction::Takeover { session_id }, client_ref),
            ClientMessage::RenameSession {
                session_id,
                name,
                client_ref,
            } => (SessionAction::Rename { session_id, name }, client_ref),
            ClientMessage::CompactSession {
                session_id,
                client_ref,
            } => (SessionAction::Compact { session_id }, client_ref),
            ClientMessage::RevertSession {
                session_id,
                request,
                client_ref,
            } => (
                SessionAction::Revert {
                    session_id,
                    request,
                },
                client_ref,
            ),
            ClientMessage::ForkSession {
                session_id,
                request,
                client_ref,
            } => (
                SessionAction::Fork {
                    session_id,
                    request,
                },
                client_ref,
            ),
            ClientMessage::StartReview {
                session_id,
                request,
                client_ref,
            } => (
                SessionAction::Review {
                    session_id,
                    request,
                },
                client_ref,
            ),
            ClientMessage::SetArchived {
                session_id,
                archived,
                client_ref,
            } => (
                SessionAction::SetArchived {
                    session_id,
                    archived,
                },
                client_ref,
            ),
            ClientMessage::UpdateConfig {
                session_id,
                patch,
                client_ref,
            } => (SessionAction::Configure { session_id, patch }, client_ref),
            ClientMessage::Approve {
                session_id,
                request_id,
                decision,
                answers,
                message,
                client_ref,
            } => (
                SessionAction::Approve {
                    session_id,
                    request_id,
                    decision,
                    answers,
                    message,
                },
                client_ref,
            ),
            ClientMessage::DeleteSession {
                session_id,
                client_ref,
            } => (SessionAction::Delete { session_id }, client_ref),
            ClientMessage::ListMcpServers {
                session_id,
                client_ref,
            } => (SessionAction::McpServers { session_id }, client_ref),
            ClientMessage::ListAgentThreads { query, client_ref } => {
                (SessionAction::AgentThreads(query), client_ref)
            }
            ClientMessage::ImportThread {
                request,
                client_ref,
            } => (SessionAction::ImportThread(request), client_ref),
            ClientMessage::ReadAgentConfig { client_ref } => {
                (SessionAction::ReadAgentConfig, client_ref)
            }
            ClientMessage::WriteAgentConfig { write, client_ref } => {
                (SessionAction::WriteAgentConfig(write), client_ref)
            }
            ClientMessage::RunCommand {
                session_id,
                request,
                client_ref,
            } => (
                SessionAction::RunCommand {
                    session_id,
                    request,
                },
                client_ref,
            ),
            ClientMessage::TerminateCommand {
                session_id,
                command_id,
                client_ref,
            } => (
                SessionAction::TerminateCommand {
                    session_id,
                    command_id,
                },
                client_ref,
            ),
            ClientMessage::WriteCommandStdin {
                session_id,
                command_id,
                stdin,
                client_ref,
            } => (
                SessionAction::CommandStdin {
                    session_id,
                    command_id,
                    stdin,
                },
                client_ref,
            ),
            ClientMessage::ReadUsage { client_ref } => (SessionAction::Usage, client_ref),
            ClientMessage::ListSkills {
                session_id,
                client_ref,
            } => (SessionAction::Skills { session_id }, client_ref),
            ClientMessage::GetGoal {
                session_id,
                client_ref,
            } => (
                SessionAction::Goal {
                    session_id,
                    objective: None,
                },
                client_ref,
            ),
            ClientMessage::SetGoal {
                session_id,
                request,
                client_ref,
            } => (
                SessionAction::Goal {
                    session_id,
                    objective: Some(request.objective),
                },
                client_ref,
            ),
            other => return Err(Box::new(other)),
        })
    }
}

/// What an action produced: the JSON a client gets (REST body / WebSocket `ack.result`) and
/// whether it created something (REST answers 201).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    /// The result body.
    pub body: Value,
    /// A resource was created.
    pub created: bool,
}

fn json<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Decode {
        what: "action result".into(),
        source: e,
    })
}

/// Applies one action a person took in a client. The one place that knows how each action is
/// carried out.
pub async fn dispatch(registry: &Registry, action: SessionAction) -> Result<ActionOutcome> {
    dispatch_via(registry, action, None).await
}

/// Applies one action that came through `via` (`None`: a person's client). An action that came
/// through something else (an agent via MCP) and succeeded is recorded in the session's
/// transcript as a notice carrying `via`, so whoever reads the session sees who did what. The
/// record is written after the action so it only ever states what happened; the action itself
/// stands even if the record cannot be written (it is logged instead).
pub async fn dispatch_via(
    registry: &Registry,
    action: SessionAction,
    via: Option<ActionVia>,
) -> Result<ActionOutcome> {
    let Some(via) = via else {
        return apply(registry, action).await;
    };
    let record = describe(&action);
    let target = action.session_id().map(str::to_owned);
    let outcome = apply(registry, action).await?;
    let session_id = target.or_else(|| {
        outcome
            .body
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if let Some(id) = session_id {
        let message = match via {
            // A person pressed a notification's button; no agent was involved.
            ActionVia::Notification => format!("From a notification: {record}"),
            _ => format!("An agent via {}: {record}", via_label(&via)),
        };
        let written = match registry.get(&id).await {
            Ok(h) => {
                h.ingest_committed(vec![SessionEvent::ActionRecord { message, via }])
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::warn!(session = %id, error = %e, "could not record an attributed action");
        }
    }
    Ok(outcome)
}

/// How a `via` value reads in a sentence ("via MCP").
fn via_label(via: &ActionVia) -> String {
    match via {
        ActionVia::Mcp => "MCP".into(),
        ActionVia::Notification => "a notification".into(),
        ActionVia::Unknown(other) => other.clone(),
    }
}

/// What an action did, for its transcript record (texts quoted and shortened).
fn describe(action: &SessionAction) -> String {
    fn quote(text: &str) -> String {
        const MAX: usize = 200;
        let mut q: String = text.chars().take(MAX).collect();
        if text.chars().count() > MAX {
            q.push('…');
        }
        format!("“{q}”")
    }
    match action {
        SessionAction::Create(r) => match &r.prompt {
            Some(p) => format!("created this session with the prompt {}", quote(p)),
            None => "created this session".into(),
        },
        SessionAction::Send { request, .. } => {
            let mut s = format!("sent the message {}", quote(&request.text));
            let overrides: Vec<String> = [
                request.model.as_ref().map(|m| format!("model {m}")),
                request.effort.as_ref().map(|e| format!("effort {e}")),
                request
                    .approval_policy
                    .as_ref()
                    .map(|p| format!("approvals {p}")),
                request
                    .sandbox_mode
                    .as_ref()
                    .map(|m| format!("sandbox {m}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !overrides.is_empty() {
                s.push_str(&format!(" ({})", overrides.join(", ")));
            }
            s
        }
        SessionAction::Interrupt { .. } => "interrupted the turn".into(),
        SessionAction::End { .. } => "ended the session".into(),
        SessionAction::Resume { .. } => "resumed the session".into(),
        SessionAction::Takeover { .. } => "took over the session".into(),
        SessionAction::Rename { name, .. } => format!("renamed the session to {}", quote(name)),
        SessionAction::Compact { .. } => "started compacting the thread".into(),
        SessionAction::Revert { .. } => "reverted turns of the thread".into(),
        SessionAction::Fork { .. } => "forked the session".into(),
        SessionAction::Review { .. } => "started a review".into(),
        SessionAction::SetArchived { archived: true, .. } => "archived the session".into(),
        SessionAction::SetArchived {
            archived: false, ..
        } => "unarchived the session".into(),
        SessionAction::Configure { .. } => "changed the session's settings".into(),
        SessionAction::Approve {
            request_id,
            decision,
            answers,
            ..
        } => {
            let d = match decision {
                ApprovalDecision::Accept => "accepted",
                ApprovalDecision::AcceptForSession => "accepted for the session",
                ApprovalDecision::Decline => "declined",
                ApprovalDecision::Cancel => "cancelled",
            };
            match answers {
                Some(a) if !a.is_empty() => format!("answered request {request_id} ({d})"),
                _ => format!("{d} request {request_id}"),
            }
        }
        // Other actions are named by their kind only: their arguments (commands, config
        // values) are not echoed into a transcript.
        other => {
            let debug = format!("{other:?}");
            let kind = debug
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or_default();
            format!("took the action {kind}")
        }
    }
}

async fn apply(registry: &Registry, action: SessionAction) -> Result<ActionOutcome> {
    let done = |body: Value| ActionOutcome {
        body,
        created: false,
    };
    let ok = || json(OkResponse { ok: true });
    match action {
        SessionAction::Create(request) => Ok(ActionOutcome {
            body: json(registry.create(request).await?)?,
            created: true,
        }),
        SessionAction::Send {
            session_id,
            request,
        } => {
            let h = registry.get(&session_id).await?;
            Ok(done(json(h.send(request).await?)?))
        }
        SessionAction::Interrupt { session_id } => {
            registry.get(&session_id).await?.interrupt().await?;
            Ok(done(ok()?))
        }
        SessionAction::End { session_id } => {
            Ok(done(json(registry.get(&session_id).await?.end().await?)?))
        }
        SessionAction::Resume { session_id } => Ok(done(json(
            registry.get(&session_id).await?.resume().await?,
        )?)),
        SessionAction::Takeover { session_id } => Ok(done(json(
            registry.get(&session_id).await?.takeover().await?,
        )?)),
        SessionAction::Rename { session_id, name } => Ok(done(json(
            registry.get(&session_id).await?.rename(name).await?,
        )?)),
        SessionAction::Compact { session_id } => Ok(done(json(
            registry.get(&session_id).await?.compact().await?,
        )?)),
        SessionAction::Revert {
            session_id,
            request,
        } => Ok(done(json(
            registry.get(&session_id).await?.revert(request).await?,
        )?)),
        SessionAction::Fork {
            session_id,
            request,
        } => Ok(ActionOutcome {
            body: json(registry.fork(&session_id, request).await?)?,
            created: true,
        }),
        SessionAction::Review {
            session_id,
            request,
        } => {
            let (state, created) = registry.review(&session_id, request).await?;
            Ok(ActionOutcome {
                body: json(state)?,
                created,
            })
        }
        SessionAction::SetArchived {
            session_id,
            archived,
        } => Ok(done(json(
            registry
                .get(&session_id)
                .await?
                .set_archived(archived)
                .await?,
        )?)),
        SessionAction::Configure { session_id, patch } => Ok(done(json(
            registry.get(&session_id).await?.configure(patch).await?,
        )?)),
        SessionAction::Delete { session_id } => {
            registry.delete(&session_id).await?;
            Ok(done(ok()?))
        }
        SessionAction::McpServers { session_id } => {
            Ok(done(json(registry.mcp_servers(&session_id).await?)?))
        }
        SessionAction::AgentThreads(q) => Ok(done(json(registry.agent_threads(&q).await?)?)),
        SessionAction::ImportThread(req) => Ok(ActionOutcome {
            body: json(registry.import_thread(&req).await?)?,
            created: true,
        }),
        SessionAction::ReadAgentConfig => Ok(done(json(registry.agent_config().await?)?)),
        SessionAction::WriteAgentConfig(w) => Ok(done(json(
            registry.write_agent_config(&w.key_path, w.value).await?,
        )?)),
        SessionAction::RunCommand {
            session_id,
            request,
        } => Ok(ActionOutcome {
            body: json(registry.run_command(&session_id, request).await?)?,
            created: true,
        }),
        SessionAction::TerminateCommand {
            session_id,
            command_id,
        } => {
            registry.terminate_command(&session_id, &command_id).await?;
            Ok(done(ok()?))
        }
        SessionAction::CommandStdin {
            session_id,
            command_id,
            stdin,
        } => {
            registry
                .command_stdin(&session_id, &command_id, &stdin.text, stdin.close)
                .await?;
            Ok(done(ok()?))
        }
        SessionAction::Usage => Ok(done(json(registry.usage().await?)?)),
        SessionAction::Skills { session_id } => {
            Ok(done(json(registry.skills(&session_id).await?)?))
        }
        SessionAction::Goal {
            session_id,
            objective,
        } => Ok(done(json(
            registry.goal(&session_id, objective.as_deref()).await?,
        )?)),
        SessionAction::Approve {
            session_id,
            request_id,
            decision,
            answers,
            message,
        } => {
            registry
                .get(&session_id)
                .await?
                .approve(request_id, decision, answers, message)
                .await?;
            Ok(done(ok()?))
        }
    }
}
