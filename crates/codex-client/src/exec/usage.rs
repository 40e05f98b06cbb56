//! Token usage: `turn.completed.usage` is CUMULATIVE over the whole thread, so the usage of one
//! turn is the difference between two cumulative figures. For a resumed thread the previous
//! figure is either passed in by the caller or read from the thread's rollout file (the last
//! `token_count` event's `info.total_token_usage`).

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// Token counts as `codex exec --json` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub cached_input_tokens: u64,
    #[serde(default)]
    pub cache_write_input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub reasoning_output_tokens: u64,
}

impl Usage {
    /// `input + output` (cached and reasoning tokens are subsets of those).
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// The usage accumulated since `earlier` (field-wise, saturating at zero so a reset counter
    /// never produces nonsense).
    pub fn delta_since(&self, earlier: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_sub(earlier.input_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_sub(earlier.cached_input_tokens),
            cache_write_input_tokens: self
                .cache_write_input_tokens
                .saturating_sub(earlier.cache_write_input_tokens),
            output_tokens: self.output_tokens.saturating_sub(earlier.output_tokens),
            reasoning_output_tokens: self
                .reasoning_output_tokens
                .saturating_sub(earlier.reasoning_output_tokens),
        }
    }
}

/// The cumulative usage recorded in a rollout file: the last `event_msg`/`token_count` with an
/// `info.total_token_usage`. `Ok(None)` if the file has none. Malformed or truncated lines are
/// skipped (a rollout being written concurrently may end mid-line).
pub fn cumulative_usage_from_rollout(path: &Path) -> Result<Option<Usage>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if !line.contains("token_count") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v.get("type").and_then(Value::as_str) != Some("event_msg") {
            continue;
        }
        let payload = &v["payload"];
        if payload.get("type").and_then(Value::as_str) != Some("token_count") {
            continue;
        }
        if let Some(total) = payload.pointer("/info/total_token_usage")
            && let Ok(u) = serde_json::from_value::<Usage>(total.clone())
        {
            last = Some(u);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_is_fieldwise_and_saturating() {
        let a = Usage {
            input_tokens: 100,
            cached_input_tokens: 10,
            cache_write_input_tokens: 0,
            output_tokens: 20,
            reasoning_output_tokens: 5,
        };
        let b = Usage {
            input_tokens: 250,
            cached_input_tokens: 90,
            cache_write_input_tokens: 3,
            output_tokens: 45,
            reasoning_output_tokens: 5,
        };
        assert_eq!(
            b.delta_since(&a),
            Usage {
                input_tokens: 150,
                cached_input_tokens: 80,
                cache_write_input_tokens: 3,
                output_tokens: 25,
                reasoning_output_tokens: 0
            }
        );
        assert_eq!(a.delta_since(&b), Usage::default());
        assert_eq!(b.total_tokens(), 295);
    }

    #[test]
    fn reads_last_total_from_rollout_skipping_garbage() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("rollout.jsonl");
        let lines = [
            r#"{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}"#,
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":null}}"#,
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5,"cached_input_tokens":1,"output_tokens":2,"reasoning_output_tokens":0,"total_tokens":7}}}}"#,
            r#"not json token_count"#,
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":9,"cached_input_tokens":1,"output_tokens":4,"reasoning_output_tokens":1,"total_tokens":13}}}}"#,
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"token_cou"#,
        ];
        std::fs::write(&p, lines.join("\n")).expect("write");
        assert_eq!(
            cumulative_usage_from_rollout(&p).expect("read"),
            Some(Usage {
                input_tokens: 9,
                cached_input_tokens: 1,
                cache_write_input_tokens: 0,
                output_tokens: 4,
                reasoning_output_tokens: 1
            })
        );
        std::fs::write(&p, lines[0]).expect("write");
        assert_eq!(cumulative_usage_from_rollout(&p).expect("read"), None);
        assert!(matches!(
            cumulative_usage_from_rollout(&tmp.path().join("missing")),
            Err(Error::Io { .. })
        ));
    }
}
