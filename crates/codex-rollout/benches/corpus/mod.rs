//! Generated rollout lines shaped like Codex 0.169's (the generator lives in test-support, shared
//! with codex-client's session-index benchmark) and memory probes. Shared by the benchmarks.

#![allow(dead_code)]

pub use test_support::rollout_corpus::{pad, write_thread};

/// Peak resident set size of this process (VmHWM) in KiB.
pub fn vm_hwm_kib() -> u64 {
    status_field("VmHWM:")
}

/// Current resident set size (VmRSS) in KiB.
pub fn vm_rss_kib() -> u64 {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
