//! What does the wrapper add to a `codex exec` run?
//!
//! Runs the bare CLI (`codex exec --json ...` via `std::process`, prompt on stdin, stdout read to
//! EOF) and the wrapper (`ExecBuilder` -> typed events -> `wait`) N times each, INTERLEAVED so both
//! see the same machine load, against a loopback FakeResponses, then prints median/p90 wall time
//! of each and the wrapper's added median. Goal: under 5 ms.
//!
//! `cargo bench -p codex-client --bench exec_overhead [-- N]` (default N = 20, or $EXEC_BENCH_N).

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use codex_client::exec::ExecBuilder;
use codex_client::{CodexBinary, CodexHome, CodexVersion};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, codex_bin};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| {
            std::env::var("EXEC_BENCH_N")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(20);
    let fake = FakeResponses::start();
    let temp = CodexHomeBuilder::new(&fake.base_url()).build();
    let home = CodexHome::new(temp.path());
    let bin = CodexBinary::with_version(codex_bin(), CodexVersion::pinned());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let bare_args = ["exec", "--json", "--skip-git-repo-check", "-"];
    let run_bare = || {
        fake.enqueue(ScriptedResponse::new().text("ok"));
        let start = Instant::now();
        let mut cmd = temp.command(&bare_args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn bare codex");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"say ok").expect("write prompt");
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        let status = child.wait().expect("wait");
        let took = start.elapsed();
        assert!(
            status.success() && out.contains("turn.completed"),
            "bare run failed: {out}"
        );
        took
    };
    let run_wrapped = || {
        fake.enqueue(ScriptedResponse::new().text("ok"));
        rt.block_on(async {
            let start = Instant::now();
            let run = ExecBuilder::new(&bin, &home)
                .envs(temp.env())
                .current_dir(temp.workdir())
                .skip_git_repo_check(true)
                .prompt("say ok")
                .spawn()
                .await;
            let spawn_took = start.elapsed();
            let mut run = run.expect("spawn wrapped codex");
            let mut events = 0usize;
            while let Some(ev) = run.next_event().await {
                ev.expect("event");
                events += 1;
            }
            let eof = Instant::now();
            let outcome = run.wait().await.expect("wrapped run failed");
            let took = start.elapsed();
            assert!(events >= 3 && outcome.usage.is_some());
            (took, spawn_took, eof.elapsed())
        })
    };

    // Warm-up (page cache, first-run files in CODEX_HOME).
    run_bare();
    let _ = run_wrapped();

    let mut bare = Vec::with_capacity(n);
    let mut wrapped = Vec::with_capacity(n);
    // The wrapper's own synchronous work, measured directly: building argv + spawning (incl.
    // the process-group set-up) and, after stdout EOF, reaping + stderr drain.
    let mut spawn_part = Vec::with_capacity(n);
    let mut tail_part = Vec::with_capacity(n);
    let mut push_wrapped = |(t, s, e): (Duration, Duration, Duration)| {
        wrapped.push(t);
        spawn_part.push(s);
        tail_part.push(e);
    };
    for i in 0..n {
        // Alternate which goes first so neither always follows the other.
        if i % 2 == 0 {
            bare.push(run_bare());
            push_wrapped(run_wrapped());
        } else {
            push_wrapped(run_wrapped());
            bare.push(run_bare());
        }
    }
    spawn_part.sort();
    tail_part.sort();
    let mut paired: Vec<f64> = bare
        .iter()
        .zip(&wrapped)
        .map(|(b, w)| ms(*w) - ms(*b))
        .collect();
    paired.sort_by(f64::total_cmp);
    bare.sort();
    wrapped.sort();
    let (bm, wm) = (percentile(&bare, 0.5), percentile(&wrapped, 0.5));
    println!(
        "codex exec overhead, N = {n} interleaved runs each (codex {})",
        bin.path.display()
    );
    println!(
        "  bare CLI : median {:8.2} ms   p90 {:8.2} ms",
        ms(bm),
        ms(percentile(&bare, 0.9))
    );
    println!(
        "  wrapper  : median {:8.2} ms   p90 {:8.2} ms",
        ms(wm),
        ms(percentile(&wrapped, 0.9))
    );
    println!(
        "  wrapper-only parts: spawn() median {:.3} ms, wait() after EOF median {:.3} ms",
        ms(percentile(&spawn_part, 0.5)),
        ms(percentile(&tail_part, 0.5))
    );
    println!(
        "  added    : median-of-medians {:+.2} ms, median of paired differences {:+.2} ms (ratio {:.3}); goal < 5 ms",
        ms(wm) - ms(bm),
        paired[paired.len() / 2],
        ms(wm) / ms(bm)
    );
}
