//! Reliability and security checks of codexpc, mostly against the real `codexpc serve --script`
//! binary: property tests of its parsers, a kill -9 crash loop over the socket and over HTTP
//! with the real Codex, a concurrent-streams soak, bad input on both surfaces, and file modes
//! and local-user isolation. Each test prints its figures (cases, kills, errors, 5xx seen).
//!
//! Knobs for longer local runs: `PROPTEST_CASES`, `CODEXPC_CRASH_KILLS`,
//! `CODEXPC_CRASH_HTTP_KILLS`; the timed soak is `cargo bench -p codexpc --bench soak_responses`.

mod bad_input;
mod crash_loop;
mod properties;
mod security;
mod soak;
mod soak_driver;
mod support;
