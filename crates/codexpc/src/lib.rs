//! codexpc: gpt-oss served locally, for Codex. (Design essay below once the pipeline lands.)

pub mod codex_config;
pub mod engine;
pub mod error;
pub mod harmony;
pub mod parse;
pub mod render;
pub mod responses;
pub mod server;
pub mod service;
pub mod sse_client;

pub use error::{Error, Result};
