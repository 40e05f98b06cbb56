//! A command's whole output, read back from the agent's own record of the session.
//!
//! The hub stores long outputs shortened (see [`crate::retention`]); the agent keeps its own
//! record, and that is where the whole output is read from, on request, never copied ahead of
//! time:
//!
//! * Codex (sessions the hub drives and passive ones alike): the thread's rollout file,
//!   `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl` (or `archived_sessions/`
//!   once archived), whose `item_completed` line for the command carries its aggregated output
//!   (`exec_command_end` in releases before 0.169). Lines are parsed by `codex-rollout`, the one
//!   place that knows the rollout format.
//! * Claude Code: the session's transcript, `<config dir>/projects/<project>/<session>.jsonl`,
//!   whose `tool_result` for the command's tool use carries what the tool printed.
//!
//! When the record is gone (deleted, rotated away) or no longer has the command, the answer is
//! a clear "gone" error naming the file, and the shortened output stays what the hub shows.
//!
//! The record is not always whole either: Codex 0.169 writes at most 64 KiB of a command's
//! output into its rollout (the start and the end around a line
//! [`CODEX_PERSISTENCE_MARKER`]), while the app-server hands the hub up to about 1 MiB live.
//! An answer read from such a record says so (`complete: false` and a note), and when the
//! record keeps less than the hub stored, the hub's own copy is the answer: it is the most
//! there is.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use orbitdock_protocol::{FullOutputResponse, ItemBody, Provider};
use serde_json::Value;

use crate::error::{Error, Result};

/// The line Codex puts in place of the middle of a long output when it writes the output into
/// its rollout (observed on 0.169 with a 2 MB output: 32 KiB kept on either side).
pub const CODEX_PERSISTENCE_MARKER: &str = "... command output truncated for persistence ...";

/// Finds a Codex thread's rollout file under `codex_home` (live or archived).
pub fn find_rollout(codex_home: &Path, thread_id: &str) -> Option<PathBuf> {
    let suffix = format!("-{thread_id}.jsonl");
    for dir in ["sessions", "archived_sessions"] {
        let root = codex_home.join(dir);
        if let Some(p) = find_file(&root, &|name: &str| {
            name.starts_with("rollout-") && name.ends_with(&suffix)
        }) {
            return Some(p);
        }
    }
    None
}

/// Finds a Claude session's transcript under a config dir (`projects/*/<session>.jsonl`).
pub fn find_claude_transcript(config_dir: &Path, session_id: &str) -> Option<PathBuf> {
    let name = format!("{session_id}.jsonl");
    let projects = config_dir.join("projects");
    let dirs = std::fs::read_dir(&projects).ok()?;
    dirs.flatten()
        .map(|e| e.path().join(&name))
        .find(|p| p.is_file())
}

/// A depth-first search for a file whose name satisfies `matches` (rollouts sit three
/// directories down; the tree is small: one directory per day).
fn find_file(dir: &Path, matches: &dyn Fn(&str) -> bool) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            subdirs.push(path);
        } else if e.file_name().to_str().is_some_and(matches) {
            return Some(path);
        }
    }
    // Newest first: date directories sort by name.
    subdirs.sort();
    subdirs
        .into_iter()
        .rev()
        .find_map(|d| find_file(&d, matches))
}

/// The output of command `call_id` as recorded in the rollout at `path`; `None` when the file
/// has no output for it.
pub fn codex_output(path: &Path, call_id: &str) -> Result<Option<String>> {
    use codex_rollout::{RolloutLine, rollout_line::EventMsg, rollout_line::TurnItem};
    let mut found = None;
    for_each_line(path, |line| {
        // A cheap test first: most lines are not about this call.
        if !line.contains(call_id) {
            return;
        }
        let Ok(parsed) = codex_rollout::parse_line(line) else {
            return;
        };
        match parsed.line {
            RolloutLine::EventMsg(EventMsg::ItemCompleted {
                item:
                    TurnItem::CommandExecution {
                        id,
                        aggregated_output: Some(out),
                        ..
                    },
                ..
            }) if id == call_id => found = Some(out),
            RolloutLine::EventMsg(EventMsg::ExecCommandEnd {
                call_id: Some(id),
                aggregated_output: Some(out),
                ..
            }) if id == call_id => found = Some(out),
            _ => {}
        }
    })?;
    Ok(found)
}

/// The output of tool use `tool_use_id` in the Claude transcript at `path`: the tool's own
/// stdout and stderr when the transcript records them, else the tool result's text.
pub fn claude_output(path: &Path, tool_use_id: &str) -> Result<Option<String>> {
    let mut found = None;
    for_each_line(path, |line| {
        if !line.contains(tool_use_id) {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let Some(content) = v.pointer("/message/content").and_then(Value::as_array) else {
            return;
        };
        for c in content {
            if c.get("type").and_then(Value::as_str) != Some("tool_result")
                || c.get("tool_use_id").and_then(Value::as_str) != Some(tool_use_id)
            {
                continue;
            }
            let own = v.get("toolUseResult").and_then(|r| {
                let out = r.get("stdout").and_then(Value::as_str)?;
                let err = r.get("stderr").and_then(Value::as_str).unwrap_or_default();
                Some(if err.is_empty() {
                    out.to_owned()
                } else {
                    format!("{out}\n{err}")
                })
            });
            found = own.or_else(|| match c.get("content") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(parts)) => Some(
                    parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                _ => None,
            });
        }
    })?;
    Ok(found)
}

/// Calls `f` with each line of `path`, read in a bounded buffer (a rollout can be large; only
/// one line is held at a time). Lines that are not UTF-8 are skipped.
fn for_each_line(path: &Path, mut f: impl FnMut(&str)) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => gone(path),
        _ => Error::io(path, e),
    })?;
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        if let Ok(line) = std::str::from_utf8(&buf) {
            f(line.trim_end());
        }
    }
}

fn gone(path: &Path) -> Error {
    Error::Gone(format!(
        "the agent's record {} no longer exists, so the full output cannot be read back; the transcript keeps its start and end",
        path.display()
    ))
}

/// Reads the whole output of a command item: from the stored item when it was never
/// shortened, else from the agent's record (`record`: where that is, if known).
pub(crate) fn read(
    provider: &Provider,
    seq: u64,
    item_id: &str,
    body: &ItemBody,
    record: Option<PathBuf>,
) -> Result<FullOutputResponse> {
    let ItemBody::CommandExecution {
        output,
        output_omitted,
        ..
    } = body
    else {
        return Err(Error::BadRequest(format!(
            "item {seq} is not a command; only command output is shortened"
        )));
    };
    if output_omitted.is_none() {
        return Ok(FullOutputResponse {
            seq,
            output: output.clone(),
            source: None,
            complete: true,
            note: None,
        });
    }
    let Some(path) = record else {
        return Err(Error::Gone(
            "the agent's record of this session (its rollout or transcript file) no longer exists, so the full output cannot be read back; the transcript keeps its start and end"
                .into(),
        ));
    };
    let full = match provider {
        Provider::Claude => claude_output(&path, item_id)?,
        _ => codex_output(&path, item_id)?,
    };
    match full {
        Some(full) if full.contains(CODEX_PERSISTENCE_MARKER) => {
            let kept = full.len();
            let printed = output.len() as u64 + output_omitted.map_or(0, |o| o.omitted_bytes);
            let record_is_longer = kept > output.len();
            let note = format!(
                "Codex kept only {} of this output ({} as the hub received it) in {}; {}",
                human_bytes(kept as u64),
                human_bytes(printed),
                path.display(),
                if record_is_longer {
                    "its start and end are shown, the middle is lost"
                } else {
                    "the hub's own copy (its start and end) is the most there is"
                }
            );
            Ok(FullOutputResponse {
                seq,
                output: if record_is_longer {
                    full
                } else {
                    output.clone()
                },
                source: Some(path.display().to_string()),
                complete: false,
                note: Some(note),
            })
        }
        Some(output) => Ok(FullOutputResponse {
            seq,
            output,
            source: Some(path.display().to_string()),
            complete: true,
            note: None,
        }),
        None => Err(Error::Gone(format!(
            "{} no longer records the output of this command; the transcript keeps its start and end",
            path.display()
        ))),
    }
}

/// "64 KiB", "1.0 MiB".
fn human_bytes(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{} KiB", n / 1024),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

impl crate::Registry {
    /// The whole output of command item `seq` of session `id` (see the module docs).
    pub async fn full_output(&self, id: &str, seq: u64) -> Result<FullOutputResponse> {
        let Some(summary) = self.list_hub().get(id) else {
            return Err(Error::SessionNotFound(id.to_owned()));
        };
        // What the actor produced so far is in the database.
        self.store().flush().await?;
        let store = self.store().clone();
        let sid = id.to_owned();
        let (item, stored) = tokio::task::spawn_blocking(move || -> Result<_> {
            Ok((store.item(&sid, seq)?, store.load_session(&sid)?))
        })
        .await
        .map_err(|e| Error::Closed(format!("read task: {e}")))??;
        let Some(item) = item else {
            return Err(Error::ItemNotFound {
                session: id.to_owned(),
                seq,
            });
        };
        let agent_home = stored.and_then(|s| s.extra.agent_home);
        let connector = self.connectors().for_summary(&summary);
        let thread = summary.thread_id.clone();
        let provider = summary.provider;
        tokio::task::spawn_blocking(move || {
            let record = thread.and_then(|t| connector.record_path(&t, agent_home.as_deref()));
            read(&provider, seq, &item.id, &item.body, record)
        })
        .await
        .map_err(|e| Error::Closed(format!("read task: {e}")))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_command_from_a_rollout_and_says_when_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("sessions/2026/01/02");
        std::fs::create_dir_all(&day).unwrap();
        let path = day.join("rollout-2026-01-02T10-00-00-th1.jsonl");
        let lines = [
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"item_completed","thread_id":"th1","turn_id":"u","item":{"type":"CommandExecution","id":"call_9","command":["bash","-lc","seq 3"],"status":"completed","aggregated_output":"1\n2\n3\n","exit_code":0}}}"#,
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"exec_command_end","call_id":"call_old","command":["ls"],"exit_code":0,"aggregated_output":"legacy\n"}}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        assert_eq!(
            find_rollout(dir.path(), "th1").as_deref(),
            Some(path.as_path())
        );
        assert_eq!(find_rollout(dir.path(), "h1"), None);
        assert_eq!(
            codex_output(&path, "call_9").unwrap().as_deref(),
            Some("1\n2\n3\n")
        );
        assert_eq!(
            codex_output(&path, "call_old").unwrap().as_deref(),
            Some("legacy\n")
        );
        assert_eq!(codex_output(&path, "call_x").unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(codex_output(&path, "call_9"), Err(Error::Gone(_))));
    }

    #[test]
    fn reads_a_bash_result_from_a_claude_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("projects/-w-app");
        std::fs::create_dir_all(&proj).unwrap();
        let path = proj.join("s1.jsonl");
        std::fs::write(
            &path,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"short"}]},"toolUseResult":{"stdout":"long out","stderr":"warn","interrupted":false}}"#,
        )
        .unwrap();
        assert_eq!(
            find_claude_transcript(dir.path(), "s1").as_deref(),
            Some(path.as_path())
        );
        assert_eq!(
            claude_output(&path, "toolu_1").unwrap().as_deref(),
            Some("long out\nwarn")
        );
        assert_eq!(claude_output(&path, "toolu_2").unwrap(), None);
    }
}
