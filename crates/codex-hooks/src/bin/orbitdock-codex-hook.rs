//! `orbitdock-codex-hook hook codex --data-dir DIR [--permission-wait-ms N] [--budget-ms N]`:
//! the runner of `orbitdock hook codex` as a standalone command (what the crate's tests point
//! real Codex hooks at). Always exits 0 and prints only a PermissionRequest decision.

use std::path::PathBuf;
use std::time::Duration;

use codex_hooks::{RunnerConfig, run_hook};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut data_dir: Option<PathBuf> = None;
    let mut wait = None;
    let mut budget = None;
    let mut positional = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data-dir" => data_dir = args.next().map(PathBuf::from),
            "--permission-wait-ms" => wait = args.next().and_then(|v| v.parse().ok()),
            "--budget-ms" => budget = args.next().and_then(|v| v.parse().ok()),
            _ => positional.push(a),
        }
    }
    if positional != ["hook", "codex"] {
        eprintln!(
            "usage: orbitdock-codex-hook hook codex --data-dir DIR [--permission-wait-ms N] [--budget-ms N]"
        );
        return;
    }
    let Some(data_dir) = data_dir else {
        eprintln!("orbitdock-codex-hook: --data-dir is required; payload ignored");
        return;
    };
    let mut cfg = RunnerConfig::new(data_dir);
    if let Some(ms) = wait {
        cfg.permission_wait = Duration::from_millis(ms);
    }
    if let Some(ms) = budget {
        cfg.forward_budget = Duration::from_millis(ms);
    }
    let mut out = std::io::stdout().lock();
    run_hook(&cfg, std::io::stdin().lock(), &mut out);
}
