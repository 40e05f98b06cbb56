//! The script file of the fake servers run as processes (`examples/fake_*_server.rs`): one JSON
//! object per non-empty line, each turned into one scripted reply. A bad file stops the process
//! with the file name and line, so a browser test fails at once with a readable reason instead of
//! a model that never answers.

use serde_json::Value;

/// Reads the script named by the first command-line argument and turns each line into a reply
/// with `parse`; prints `usage` (or the file and line at fault) and exits with status 2 on error.
pub fn script_from_args<T>(usage: &str, parse: impl Fn(&Value) -> Result<T, String>) -> Vec<T> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parsed = serde_json::from_str::<Value>(line)
            .map_err(|e| e.to_string())
            .and_then(|v| parse(&v));
        match parsed {
            Ok(r) => out.push(r),
            Err(e) => {
                eprintln!("{path}:{}: {e}", n + 1);
                std::process::exit(2);
            }
        }
    }
    out
}
