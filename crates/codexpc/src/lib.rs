//! codexpc: gpt-oss served locally, for Codex. (Design essay below once the pipeline lands.)

pub mod engine;
pub mod error;
pub mod harmony;
pub mod parse;
pub mod render;
pub mod responses;
pub mod service;

pub use error::{Error, Result};
