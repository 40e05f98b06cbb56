//! List and search the threads of a `CODEX_HOME` from a persistent index, and resume one.
//!
//! ```text
//! cargo run -p codex-client --example session_index -- [CODEX_HOME] [WORDS...]
//! RESUME_PROMPT="carry on" cargo run -p codex-client --example session_index -- ~/.codex heron
//! ```
//!
//! The index lives in `$TMPDIR/codex-session-index-<hash of the home>.sqlite`, so a second run
//! only reads what Codex appended since the first. Without words it lists the newest threads; with words it searches
//! their prompts and agent messages. With `RESUME_PROMPT` set, the newest hit is continued by a
//! new `codex exec resume` process (this calls the configured model provider).

use codex_client::exec::ExecBuilder;
use codex_client::session_index::{SessionIndex, SessionQuery};
use codex_client::{BinaryResolver, CodexHome};

#[tokio::main(flavor = "current_thread")]
async fn main() -> codex_client::Result<()> {
    let mut args = std::env::args().skip(1);
    let home = match args.next() {
        Some(dir) => CodexHome::new(dir),
        None => CodexHome::default_user()?,
    };
    let words: Vec<String> = args.collect();
    // One index per home: an index opened over another home drops what it no longer sees.
    let key = codex_rollout::rollout_reader::fnv1a64(home.root().as_os_str().as_encoded_bytes());
    let db = std::env::temp_dir().join(format!("codex-session-index-{key:016x}.sqlite"));
    let mut index = SessionIndex::open(home.root(), &db)?;
    let stats = index.refresh()?;
    println!(
        "{} sessions ({} files read, {} bad lines) in {:.0?}; index at {}",
        stats.sessions,
        stats.files_read,
        stats.bad_lines,
        stats.elapsed,
        db.display()
    );
    let page = index.list(&SessionQuery {
        text: (!words.is_empty()).then(|| words.join(" ")),
        limit: 20,
        ..SessionQuery::default()
    })?;
    for s in &page.sessions {
        println!(
            "{}  {:<24} {:<16} {}",
            s.thread_id,
            s.cwd.as_deref().unwrap_or("-"),
            s.model.as_deref().unwrap_or("-"),
            s.name
                .as_deref()
                .or(s.first_prompt.as_deref())
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        );
    }
    if let (Ok(prompt), Some(newest)) = (std::env::var("RESUME_PROMPT"), page.sessions.first()) {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let binary = BinaryResolver::new()
            .managed_dir(root.join("tools/codex"))
            .resolve()
            .await?;
        let mut run = ExecBuilder::new(&binary, &home)
            .prompt(prompt)
            .resume(&newest.thread_id);
        if let Some(cwd) = &newest.cwd {
            run = run.current_dir(cwd);
        }
        let outcome = run.spawn().await?.wait().await?;
        println!("{}", outcome.last_agent_message.unwrap_or_default());
    }
    Ok(())
}
