//! Writes a generated Codex history (see `test_support::rollout_corpus::write_history`) into a
//! `CODEX_HOME`, for browser tests and benchmarks that need a server importing many rollouts.
//!
//! `write_rollouts --codex-home DIR --sessions N [--turns T] [--pad BYTES]`

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let mut home = None;
    let (mut n, mut turns, mut pad) = (100usize, 2usize, 200usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--codex-home" => home = Some(std::path::PathBuf::from(value()?)),
            "--sessions" => n = value()?.parse()?,
            "--turns" => turns = value()?.parse()?,
            "--pad" => pad = value()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let home = home.context("--codex-home is required")?;
    let bytes = test_support::rollout_corpus::write_history(&home, n, turns, pad)?;
    println!(
        "wrote {n} rollouts ({bytes} bytes) under {}",
        home.join("sessions").display()
    );
    Ok(())
}
