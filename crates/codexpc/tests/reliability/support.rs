//! A real `codexpc serve --script` child process for the reliability tests: started on
//! 127.0.0.1:0 and a socket path of the test's choosing, killed with SIGKILL on demand (and on
//! drop, so a failing test leaks no server).

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde_json::Value;

pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of one `codexpc serve` run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub script: PathBuf,
    /// `--socket PATH`; `None` = `--no-socket`.
    pub socket: Option<PathBuf>,
    pub max_queue: Option<usize>,
    /// `--config FILE` (`[daemon]` / `[tools]`).
    pub config: Option<PathBuf>,
    /// `--api-key-env VAR` with `VAR=value` in the child's environment.
    pub api_key: Option<String>,
    /// Extra environment (e.g. `XDG_DATA_HOME` for the default socket path).
    pub env: Vec<(String, String)>,
}

impl ServeOptions {
    pub fn new(script: &Path) -> Self {
        Self {
            script: script.to_owned(),
            socket: None,
            max_queue: None,
            config: None,
            api_key: None,
            env: Vec::new(),
        }
    }
}

/// A running `codexpc serve`.
#[derive(Debug)]
pub struct Serve {
    child: Option<Child>,
    pub base_url: String,
    pub pid: u32,
    stderr: Arc<Mutex<String>>,
}

pub const API_KEY_VAR: &str = "CODEXPC_RELIABILITY_KEY";

impl Serve {
    pub fn start(opts: &ServeOptions) -> Result<Self> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_codexpc"));
        cmd.args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--conversation-date",
            "2026-11-22",
        ])
        .arg("--script")
        .arg(&opts.script);
        match &opts.socket {
            Some(s) => cmd.arg("--socket").arg(s),
            None => cmd.arg("--no-socket"),
        };
        if let Some(q) = opts.max_queue {
            cmd.arg("--max-queue").arg(q.to_string());
        }
        if let Some(c) = &opts.config {
            cmd.arg("--config").arg(c);
        }
        if let Some(key) = &opts.api_key {
            cmd.args(["--api-key-env", API_KEY_VAR])
                .env(API_KEY_VAR, key);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawn codexpc serve")?;
        let pid = child.id();
        let stdout = child.stdout.take().context("stdout")?;
        let mut stderr_pipe = child.stderr.take().context("stderr")?;
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr_pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            // Keep draining so the child never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let mut me = Self {
            child: Some(child),
            base_url: String::new(),
            pid,
            stderr,
        };
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) => l,
            Err(_) => anyhow::bail!(
                "codexpc serve printed no URL within {START_TIMEOUT:?}; stderr: {}",
                me.stderr()
            ),
        };
        me.base_url = first
            .trim()
            .strip_prefix("codexpc listening on ")
            .with_context(|| format!("unexpected first line {first:?}; stderr: {}", me.stderr()))?
            .trim_end_matches("/v1")
            .to_owned();
        ensure!(
            me.base_url.starts_with("http://127.0.0.1:"),
            "{}",
            me.base_url
        );
        Ok(me)
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// SIGKILL (no chance to clean up: the socket file stays behind) and reap.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("kill -9 codexpc")?;
            child.wait().context("reap codexpc")?;
        }
        Ok(())
    }

    /// Resident set size of the server, from /proc (KiB).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

/// Write a JSONL script of `lines` into `dir`.
pub fn write_script(dir: &Path, name: &str, lines: &[Value]) -> Result<PathBuf> {
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text)?;
    Ok(path)
}

/// A final-channel answer of `words` words (one token or so each).
pub fn final_answer(words: usize) -> String {
    let body: Vec<String> = (0..words).map(|i| format!("word{i}")).collect();
    format!(
        "<|channel|>analysis<|message|>Thinking.<|end|><|start|>assistant<|channel|>final<|message|>{}<|return|>",
        body.join(" ")
    )
}
