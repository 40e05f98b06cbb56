//! codexpc: gpt-oss served locally, for Codex. (Design essay below once the pipeline lands.)

pub mod engine;
pub mod error;

pub use error::{Error, Result};
