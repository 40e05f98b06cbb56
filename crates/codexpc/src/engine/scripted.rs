//! A deterministic engine for tests and demos: it "generates" Harmony text from a script.
//!
//! The script is JSON Lines, one object per line:
//! `{"completion": "<Harmony text>", "match": "<optional substring>", "token_delay_ms": <optional>}`.
//! Each generation takes the first unused line whose `match` occurs in the request's last input
//! item (a line without `match` matches anything), tokenizes the completion WITH special tokens
//! (so `<|call|>` is the real stop token) and hands the tokens to the sink one at a time, exactly
//! like a model sampling them; everything downstream (parser, SSE) runs unchanged. When no line is
//! left, the generation fails with [`Error::ScriptExhausted`].
//!
//! It also keeps the accounting of a real single-sequence engine: `cached_tokens` is the longest
//! common prefix of the new prompt with what its "KV cache" holds (the previous prompt followed by
//! the tokens it generated), so prefix reuse is testable end to end without a model.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{
    CancelFlag, Engine, EngineInfo, GenerateRequest, Generation, GenerationStats, StopReason,
};
use crate::harmony::{Harmony, harmony};
use crate::{Error, Result};

/// Context size the scripted engine claims (gpt-oss's native 128k).
pub const SCRIPTED_CONTEXT: usize = 131_072;

/// One script line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScriptLine {
    /// Harmony text the model "generates" after `<|start|>assistant`.
    pub completion: String,
    /// Substring that must occur in the request's last input item.
    #[serde(default, rename = "match")]
    pub match_text: Option<String>,
    /// Delay before each token, to make streaming and cancellation observable.
    #[serde(default)]
    pub token_delay_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct ScriptState {
    used: Vec<bool>,
    /// What a KV cache would hold: the previous prompt plus the tokens generated after it.
    kv: Vec<u32>,
    /// Tokens handed to sinks over the engine's life.
    generated_total: u64,
}

/// The scripted engine. See the module docs.
#[derive(Debug)]
pub struct ScriptedEngine {
    name: String,
    source: PathBuf,
    lines: Vec<ScriptLine>,
    harmony: &'static Harmony,
    state: Mutex<ScriptState>,
}

impl ScriptedEngine {
    /// Load a JSONL script. Blank lines are skipped; a malformed line is an error naming it.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("reading the script", path, e))?;
        let mut lines = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: ScriptLine = serde_json::from_str(line).map_err(|e| Error::Script {
                path: path.to_owned(),
                line: index + 1,
                message: e.to_string(),
            })?;
            lines.push(parsed);
        }
        if lines.is_empty() {
            return Err(Error::Script {
                path: path.to_owned(),
                line: 0,
                message: "the script has no lines".into(),
            });
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::new(name, path.to_owned(), lines)
    }

    /// Build from lines in memory (`source` is only used in error messages).
    pub fn from_lines(name: impl Into<String>, lines: Vec<ScriptLine>) -> Result<Self> {
        let name = name.into();
        let source = PathBuf::from(format!("<{name}>"));
        Self::new(name, source, lines)
    }

    fn new(name: String, source: PathBuf, lines: Vec<ScriptLine>) -> Result<Self> {
        let state = ScriptState {
            used: vec![false; lines.len()],
            ..Default::default()
        };
        Ok(Self {
            name,
            source,
            lines,
            harmony: harmony()?,
            state: Mutex::new(state),
        })
    }

    /// Number of script lines not used yet.
    pub fn remaining(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.used.iter().filter(|u| !**u).count()
    }

    /// Tokens handed to sinks since the engine was created.
    pub fn generated_total(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generated_total
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Wait `delay`, waking early on cancel (checked every millisecond).
fn wait(delay: Duration, cancel: &CancelFlag) {
    let until = Instant::now() + delay;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(1)));
    }
}

impl Engine for ScriptedEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: "scripted".into(),
            model: self.name.clone(),
            context_size: SCRIPTED_CONTEXT,
        }
    }

    fn generate(
        &self,
        req: &GenerateRequest<'_>,
        cancel: &CancelFlag,
        sink: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) -> Result<Generation> {
        // One sequence: generations are serialised by holding the state for the whole run.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if req.prompt.len() > SCRIPTED_CONTEXT {
            return Err(Error::PromptTooLong {
                prompt_tokens: req.prompt.len(),
                context_size: SCRIPTED_CONTEXT,
            });
        }
        let match_text = req.match_text.unwrap_or("");
        let Some(index) = self.lines.iter().enumerate().position(|(i, line)| {
            !state.used[i]
                && line
                    .match_text
                    .as_deref()
                    .is_none_or(|m| match_text.contains(m))
        }) else {
            let used = state.used.iter().filter(|u| **u).count();
            let mut last_input: String = match_text.chars().take(200).collect();
            if match_text.chars().count() > 200 {
                last_input.push('…');
            }
            return Err(Error::ScriptExhausted {
                path: self.source.clone(),
                used,
                total: self.lines.len(),
                last_input,
            });
        };
        state.used[index] = true;
        let line = &self.lines[index];
        let completion = self.harmony.encode_with_special_tokens(&line.completion);
        let delay = Duration::from_millis(line.token_delay_ms.unwrap_or(0));

        let cached = common_prefix(&state.kv, req.prompt);
        let mut stats = GenerationStats {
            prompt_tokens: req.prompt.len(),
            cached_tokens: cached,
            prefilled_tokens: req.prompt.len() - cached,
            generated_tokens: 0,
        };
        state.kv.clear();
        state.kv.extend_from_slice(req.prompt);

        let max = req
            .sampling
            .max_tokens
            .map(|m| m as usize)
            .unwrap_or(usize::MAX);
        let mut stop = StopReason::EndOfOutput;
        for &token in &completion {
            if cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break;
            }
            if stats.generated_tokens >= max {
                stop = StopReason::MaxTokens;
                break;
            }
            if state.kv.len() >= SCRIPTED_CONTEXT {
                stop = StopReason::ContextFull;
                break;
            }
            if !delay.is_zero() {
                wait(delay, cancel);
                if cancel.is_cancelled() {
                    stop = StopReason::Cancelled;
                    break;
                }
            }
            stats.generated_tokens += 1;
            state.generated_total += 1;
            state.kv.push(token);
            let flow = sink(token);
            if req.stop_tokens.contains(&token) {
                stop = StopReason::StopToken(token);
                break;
            }
            if flow.is_break() {
                stop = StopReason::Sink;
                break;
            }
        }
        Ok(Generation { stop, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Sampling;

    fn run(
        engine: &ScriptedEngine,
        prompt: &[u32],
        match_text: &str,
        cancel: &CancelFlag,
    ) -> Result<(Vec<u32>, Generation)> {
        let h = harmony()?;
        let mut got = Vec::new();
        let req = GenerateRequest {
            prompt,
            sampling: Sampling::default(),
            stop_tokens: h.assistant_stop_tokens(),
            match_text: Some(match_text),
        };
        let generation = engine.generate(&req, cancel, &mut |t| {
            got.push(t);
            ControlFlow::Continue(())
        })?;
        Ok((got, generation))
    }

    #[test]
    fn picks_first_unused_matching_line_and_reports_prefix_reuse() {
        let h = harmony().expect("harmony");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.jsonl");
        std::fs::write(
            &path,
            concat!(
                "{\"completion\": \"<|channel|>final<|message|>second<|return|>\", \"match\": \"two\"}\n",
                "\n",
                "{\"completion\": \"<|channel|>final<|message|>first<|return|>\"}\n",
            ),
        )
        .expect("write");
        let engine = ScriptedEngine::from_path(&path).expect("load");
        assert_eq!(engine.info().engine, "scripted");
        assert_eq!(engine.info().model, "s");
        let cancel = CancelFlag::new();
        let prompt1 =
            h.encode_with_special_tokens("<|start|>user<|message|>one<|end|><|start|>assistant");
        let (tokens, g) = run(&engine, &prompt1, "one", &cancel).expect("gen 1");
        assert_eq!(
            h.decode_lossy(&tokens),
            "<|channel|>final<|message|>first<|return|>"
        );
        assert_eq!(
            g.stop,
            StopReason::StopToken(crate::harmony::tokens::RETURN)
        );
        assert_eq!(g.stats.cached_tokens, 0);
        assert_eq!(g.stats.generated_tokens, tokens.len());

        // Turn 2 extends turn 1 (prompt + its output + more): everything before is "cached".
        let mut prompt2 = prompt1.clone();
        prompt2.extend(&tokens[..tokens.len() - 1]);
        let shared = prompt2.len();
        prompt2.extend(h.encode_with_special_tokens(
            "<|end|><|start|>user<|message|>two<|end|><|start|>assistant",
        ));
        let (tokens2, g2) = run(&engine, &prompt2, "two", &cancel).expect("gen 2");
        assert_eq!(
            h.decode_lossy(&tokens2),
            "<|channel|>final<|message|>second<|return|>"
        );
        assert_eq!(g2.stats.cached_tokens, shared);
        assert_eq!(g2.stats.prefilled_tokens, prompt2.len() - shared);

        // No line left: a clear error.
        let err = run(&engine, &prompt2, "three", &cancel).expect_err("exhausted");
        let msg = err.to_string();
        assert!(
            msg.contains("no unused line matches") && msg.contains("2 of 2"),
            "{msg}"
        );
        assert!(msg.contains("three"), "{msg}");
    }

    #[test]
    fn malformed_script_names_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, "{\"completion\": \"ok\"}\n{\"completion\": 5}\n").expect("write");
        let err = ScriptedEngine::from_path(&path).expect_err("bad");
        assert!(err.to_string().contains("bad.jsonl:2:"), "{err}");
        std::fs::write(&path, "\n\n").expect("write");
        assert!(ScriptedEngine::from_path(&path).is_err());
        let err =
            ScriptedEngine::from_path(&dir.path().join("missing.jsonl")).expect_err("missing");
        assert!(err.to_string().contains("reading the script"), "{err}");
    }

    #[test]
    fn cancel_between_tokens_and_max_tokens() {
        let line = ScriptLine {
            completion: "<|channel|>final<|message|>a b c d e f g h i j k l m n o p<|return|>"
                .into(),
            match_text: None,
            token_delay_ms: Some(20),
        };
        let engine = ScriptedEngine::from_lines("t", vec![line.clone(), line]).expect("engine");
        let h = harmony().expect("harmony");
        // The consumer cancels after the third token (as the HTTP layer does on disconnect).
        let cancel = CancelFlag::new();
        let mut got = 0;
        let req = GenerateRequest {
            prompt: &[1, 2, 3],
            sampling: Sampling::default(),
            stop_tokens: h.assistant_stop_tokens(),
            match_text: None,
        };
        let started = Instant::now();
        let g = engine
            .generate(&req, &cancel, &mut |_| {
                got += 1;
                if got == 3 {
                    cancel.cancel();
                }
                ControlFlow::Continue(())
            })
            .expect("gen");
        assert_eq!(
            (g.stop, got, g.stats.generated_tokens),
            (StopReason::Cancelled, 3, 3)
        );
        // Cancel also interrupts a token delay: 3 tokens x 20 ms, far from the full 18 tokens.
        assert!(started.elapsed() < Duration::from_secs(2));

        let req = GenerateRequest {
            prompt: &[1, 2, 3],
            sampling: Sampling {
                max_tokens: Some(3),
                ..Sampling::default()
            },
            stop_tokens: h.assistant_stop_tokens(),
            match_text: None,
        };
        let mut n = 0;
        let g = engine
            .generate(&req, &CancelFlag::new(), &mut |_| {
                n += 1;
                ControlFlow::Continue(())
            })
            .expect("gen");
        assert_eq!(
            (g.stop, n, g.stats.generated_tokens),
            (StopReason::MaxTokens, 3, 3)
        );
        assert_eq!(g.stats.cached_tokens, 3, "same prompt as before");
    }
}
