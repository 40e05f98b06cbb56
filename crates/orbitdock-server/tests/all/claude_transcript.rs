//! A Claude Code session seen through its hooks is rendered from its transcript: the REAL
//! pinned CLI runs a terminal session (thinking, text, Bash, Write, Edit) against the loopback
//! Anthropic fake in a git repository, and its transcript is fed to the server the way a
//! running session grows it — a prompt, then a half-written line, then the rest — while the
//! hooks (posted as Claude sends them) name it. The passive session shows prompt, thinking,
//! answer, the command with its output, both file changes as diffs and the final answer, with
//! tool count, last tool and branch in its summary. After a restart the lines written while
//! the server was down are read (bad ones counted and skipped, nothing repeated), and a
//! transcript rewritten under the reader is read again without copying its items.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use orbitdock_protocol::{
    FileChangeKind, ItemBody, ItemsPage, Origin, Provider, SessionStatus, TranscriptItem,
};
use orbitdock_server::discovery::claude_transcript::TranscriptCheckpoint;
use orbitdock_server::store::CheckpointSource;
use serde_json::{Value, json};
use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{self, Harness, eventually};

const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()?;
    ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn items(h: &Harness, id: &str) -> Result<Vec<TranscriptItem>> {
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?after=0&limit=1000"))
        .await?;
    Ok(page.items)
}

fn checkpoint(h: &Harness, path: &Path) -> Result<Option<TranscriptCheckpoint>> {
    h.checkpoints(CheckpointSource::ClaudeTranscript)?
        .iter()
        .find(|(p, _)| Path::new(p) == path)
        .map(|(_, cp)| serde_json::from_str(cp).context("checkpoint JSON"))
        .transpose()
}

fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)?;
    Ok(())
}

/// The transcript's conversation as (kind, text) pairs, for whole-list comparisons.
fn shape(items: &[TranscriptItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i.body {
            ItemBody::UserMessage { text } => format!("user: {text}"),
            ItemBody::AgentMessage { text } => format!("agent: {text}"),
            ItemBody::Reasoning { text, .. } => format!("thinking: {text}"),
            ItemBody::CommandExecution {
                command,
                output,
                exit_code,
                ..
            } => format!("command: {command} -> {output:?} ({exit_code:?})"),
            ItemBody::FileChange { changes } => format!(
                "change: {}",
                changes
                    .iter()
                    .map(|c| format!("{:?} {}", c.kind, c.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!("other: {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_claude_transcript_renders_incrementally_and_survives_restarts() -> Result<()> {
    let mut h = Harness::start_with_claude().await?;
    let home = h.claude();
    git(&home.cwd, &["init", "-q", "-b", "feature/transcripts"])?;
    git(&home.cwd, &["commit", "-q", "--allow-empty", "-m", "init"])?;
    let notes = home.cwd.join("notes.txt");
    let notes_s = notes.to_string_lossy().into_owned();
    home.fake.enqueue(
        ScriptedMessage::new()
            .thinking("Plan: run, write, edit.")
            .text("Running it now.")
            .bash("toolu_b1", "echo transcript-ok"),
    );
    home.fake.enqueue(ScriptedMessage::new().tool_use(
        "toolu_w1",
        "Write",
        json!({"file_path": notes_s, "content": "alpha\nbeta\n"}),
    ));
    home.fake.enqueue(ScriptedMessage::new().tool_use(
        "toolu_e1",
        "Edit",
        json!({"file_path": notes_s, "old_string": "beta", "new_string": "BETA"}),
    ));
    home.fake.enqueue(ScriptedMessage::new().text("All done ✓"));

    // A real terminal run of the pinned CLI in its own config dir.
    let terminal = home.root().join("terminal-config");
    std::fs::create_dir_all(&terminal)?;
    let sid = uuid::Uuid::new_v4().to_string();
    let mut cmd = tokio::process::Command::from(home.terminal_command(&terminal));
    cmd.args([
        "-p",
        "please do the three steps",
        "--session-id",
        &sid,
        "--allowedTools",
        "Bash,Write,Edit",
    ]);
    let out = tokio::time::timeout(RUN_TIMEOUT, cmd.output()).await??;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(std::fs::read_to_string(&notes)? == "alpha\nBETA\n");
    let real = ClaudeHomeTranscript::read(&terminal, &sid)?;

    // The same lines, appearing where the hooks say the transcript is.
    let feed: PathBuf = home
        .root()
        .join("feed-config/projects/-feed")
        .join(format!("{sid}.jsonl"));
    std::fs::create_dir_all(feed.parent().unwrap())?;
    let cwd = home.cwd.to_string_lossy().into_owned();
    let hook = |event: &str, extra: Value| {
        common::claude_hook(&sid, Some(feed.as_path()), &cwd, event, extra)
    };
    let prompt_at = real
        .lines
        .iter()
        .position(|l| l.contains("\"type\":\"user\""))
        .context("a prompt line")?;
    let (head, tail) = real.lines.split_at(prompt_at + 1);
    append(&feed, head.concat().as_bytes())?;
    let half = tail[0].len() / 2;
    append(&feed, &tail[0].as_bytes()[..half])?;
    let id = h
        .post_claude_start(&hook, "please do the three steps")
        .await?;
    let first = eventually("the prompt from the transcript", || async {
        let it = items(&h, &id).await?;
        Ok((!it.is_empty()).then_some(it))
    })
    .await?;
    assert_eq!(shape(&first), ["user: please do the three steps"]);

    // The rest of the half-written line and everything after it.
    append(&feed, &tail[0].as_bytes()[half..])?;
    append(&feed, tail[1..].concat().as_bytes())?;
    let _: Value = h
        .post("/api/hooks/claude", &hook("Stop", json!({})))
        .await?;
    let want = vec![
        "user: please do the three steps".to_owned(),
        "thinking: Plan: run, write, edit.".to_owned(),
        "agent: Running it now.".to_owned(),
        "command: echo transcript-ok -> \"transcript-ok\" (Some(0))".to_owned(),
        format!("change: Add {notes_s}"),
        format!("change: Update {notes_s}"),
        "agent: All done ✓".to_owned(),
    ];
    let all = eventually("the whole conversation", || async {
        let it = items(&h, &id).await?;
        Ok((shape(&it).len() >= want.len()).then_some(it))
    })
    .await?;
    assert_eq!(shape(&all), want, "{all:#?}");
    let edit = all
        .iter()
        .find(|i| i.id == "toolu_e1")
        .context("the edit item")?;
    let ItemBody::FileChange { changes } = &edit.body else {
        anyhow::bail!("not a diff: {edit:?}");
    };
    assert_eq!(changes[0].kind, FileChangeKind::Update);
    assert!(
        changes[0].diff.contains("-beta\n") && changes[0].diff.contains("+BETA\n"),
        "{}",
        changes[0].diff
    );
    let s = h.session_for_thread(&sid).await?.context("listed")?;
    assert_eq!(s.id, id);
    assert_eq!((s.provider, s.origin), (Provider::Claude, Origin::Passive));
    assert_eq!(s.status, SessionStatus::Waiting);
    assert_eq!(s.tool_count, 3);
    assert_eq!(s.last_tool.as_deref(), Some("Edit"));
    assert_eq!(s.git_branch.as_deref(), Some("feature/transcripts"));
    assert!(s.model.is_some(), "{s:?}");
    let cp = eventually("the checkpoint at the end of the file", || async {
        let len = std::fs::metadata(&feed)?.len();
        Ok(checkpoint(&h, &feed)?.filter(|c| c.reader.offset == len))
    })
    .await?;
    assert!(cp.open_tools.is_empty(), "{cp:?}");
    assert_eq!(cp.bad_lines.malformed, 0);

    // Written while the server was down: a bad line, a non-UTF-8 line and one more answer.
    if let Some(server) = h.server.take() {
        server.shutdown().await;
    }
    let extra = real
        .lines
        .iter()
        .rev()
        .find(|l| l.contains("All done"))
        .context("the final answer line")?
        .replace("All done ✓", "Also checked the branch.")
        .replace("\"uuid\":\"", "\"uuid\":\"x-");
    let extra = extra.replace("\"apiBlockIndex\":0", "\"apiBlockIndex\":1");
    append(&feed, b"{not json\n\xff\xfe\n")?;
    append(&feed, extra.as_bytes())?;
    h.restart().await?;
    let after = eventually("the lines written while the server was down", || async {
        let it = items(&h, &id).await?;
        Ok((it.len() > all.len()).then_some(it))
    })
    .await?;
    let mut want2 = want.clone();
    want2.push("agent: Also checked the branch.".to_owned());
    assert_eq!(shape(&after), want2, "{after:#?}");
    let cp = checkpoint(&h, &feed)?.context("checkpoint")?;
    assert_eq!((cp.bad_lines.malformed, cp.bad_lines.invalid_utf8), (1, 1));

    // Rewritten under the reader (a new file at the same path): read again, nothing copied.
    let rewritten = feed.with_extension("tmp");
    std::fs::write(&rewritten, std::fs::read(&feed)?)?;
    std::fs::rename(&rewritten, &feed)?;
    let ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&feed)?.ino()
    };
    let _: Value = h
        .post("/api/hooks/claude", &hook("Stop", json!({})))
        .await?;
    eventually("the rewritten transcript to be read", || async {
        Ok(checkpoint(&h, &feed)?.filter(|c| c.reader.identity.ino == ino))
    })
    .await?;
    // Everything before this barrier is committed.
    h.server
        .as_ref()
        .context("server")?
        .registry
        .store()
        .flush()
        .await?;
    let again = items(&h, &id).await?;
    assert_eq!(shape(&again), want2, "{again:#?}");
    let s = h.session_for_thread(&sid).await?.context("listed")?;
    assert_eq!(s.tool_count, 3, "a file read again counts its calls once");
    assert_eq!(s.last_tool.as_deref(), Some("Edit"));

    // Hooks of the same session without a transcript keep working (status only here).
    let _: Value = h
        .post(
            "/api/hooks/claude",
            &hook("SessionEnd", json!({"reason": "prompt_input_exit"})),
        )
        .await?;
    let s = h.session_for_thread(&sid).await?.context("listed")?;
    assert_eq!(s.status, SessionStatus::Ended);
    h.shutdown().await;
    Ok(())
}

/// The lines of a transcript the pinned CLI wrote, newline included.
struct ClaudeHomeTranscript {
    lines: Vec<String>,
}

impl ClaudeHomeTranscript {
    fn read(config: &Path, session: &str) -> Result<Self> {
        let path = test_support::ClaudeHome::transcript_path(config, session)
            .context("the CLI's transcript")?;
        let text = std::fs::read_to_string(path)?;
        Ok(Self {
            lines: text.split_inclusive('\n').map(str::to_owned).collect(),
        })
    }
}
