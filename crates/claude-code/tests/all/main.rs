//! Integration tests: the REAL pinned Claude Code CLI against a loopback fake of the Anthropic
//! Messages API (test-support's `fake_anthropic`). One binary, one module per topic.

mod common;

mod account;
mod control;
mod file_edit;
mod interrupt;
mod lifecycle;
mod permissions;
mod resume;
mod streaming;
