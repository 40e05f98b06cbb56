//! codexpc: gpt-oss served locally, for Codex.
//!
//! # What it is for
//!
//! Codex talks to models through "model providers": an HTTP endpoint speaking the OpenAI
//! Responses API. codexpc is such a provider for gpt-oss running on this machine: it turns each
//! Responses request into a Harmony prompt, runs it on llama.cpp (or on a deterministic scripted
//! engine in tests), parses the sampled Harmony tokens as they arrive and streams back exactly the
//! server-sent events Codex consumes. `codexpc configure-codex` points a Codex home at it.
//!
//! # Why it is shaped so
//!
//! The pipeline is a chain of small, separately tested stages, each owning one format:
//!
//! ```text
//! HTTP JSON ──types──▶ ResponsesRequest ──render──▶ Harmony tokens ──Service──▶ Engine (token ids)
//!                                                                      │
//!        SSE ◀──responses::sse── OutputEvent ◀──parse (streaming Harmony)◀─┘
//! ```
//!
//! - **Engines work in token ids only** ([`engine::Engine`]): prefill, sample, stop, cancel, reuse
//!   the KV cache by longest common prefix. They know nothing of Harmony or HTTP, so the scripted
//!   engine (a JSONL file of Harmony text, tokenized and "sampled" token by token) drives the very
//!   same parser, service and SSE code as llama.cpp. Every end-to-end test with the real Codex
//!   therefore exercises the production path except the matrix multiplications.
//! - **Harmony is loaded offline** ([`harmony`]): the o200k vocabulary is rebuilt from the ranks
//!   the `tiktoken-rs` crate embeds, checked against Harmony's pinned SHA-256 and cached; nothing
//!   is downloaded at run time.
//! - **Rendering follows gpt-oss's training layout** ([`render`]): one system message (date,
//!   reasoning effort, channels), one developer message (instructions + function tools), history
//!   stored with `<|end|>`, tool calls and outputs in the commentary channel, chain of thought kept
//!   across tool calls and dropped once a turn has a final answer. Unknown tool and item types are
//!   skipped with a log line, never rejected: Codex adds new ones often.
//! - **Parsing is streaming and forgiving** ([`parse`]): non-strict Harmony parsing with a
//!   little recovery; what cannot be recovered ends the response with `response.failed`, because
//!   a provider that hangs stalls Codex for minutes.
//! - **One transport-independent [`service::Service`]** owns admission (a bounded queue that
//!   refuses at once when full), the engine's slots, cancellation and counters. The HTTP
//!   front end ([`responses`]) and the Unix-socket session protocol reuse it unchanged.
//! - **Cancellation is structural**: dropping the SSE body (client gone) sets the generation's
//!   [`engine::CancelFlag`]; engines check it between tokens.
//! - **Safe by default**: loopback bind, Host/Origin checks against DNS rebinding, an optional
//!   bearer key (Codex's provider `env_key`) on everything but `/health`.
//!
//! - **A native session protocol** ([`daemon`], spec in `PROTOCOL.md`, client in [`client`]): a
//!   0600 Unix socket next to HTTP, line-delimited JSON, final-channel-only text, and in-daemon
//!   tool execution behind every gate ([`tools`]: off by default, allowlist, JSON Schema,
//!   timeout, output cap), reusing the same [`service::Service`].
//!
//! Errors are one [`Error`] enum; the HTTP layer maps them to statuses in one place.

pub mod client;
pub mod codex_config;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod harmony;
pub mod parse;
pub mod render;
pub mod responses;
pub mod server;
pub mod service;
pub mod service_install;
pub mod sse_client;
pub mod tools;

pub use error::{Error, Result};
