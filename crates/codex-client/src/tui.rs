//! The interactive `codex` TUI in a pseudo-terminal: launch it with exec-like options, read its
//! output as bytes and as a parsed screen ([`vt100`]), type into it, resize it, end it.
//!
//! ```no_run
//! # async fn demo() -> codex_client::Result<()> {
//! use std::time::Duration;
//! use codex_client::tui::{Key, TuiBuilder};
//! let mut tui = TuiBuilder::new("/path/to/codex", "/path/to/codex-home")
//!     .cwd("/work/project")
//!     .trust_cwd(true)
//!     .spawn()
//!     .await?;
//! tui.wait_for_text("Ask Codex", Duration::from_secs(30)).await?;
//! tui.submit("hello").await?;
//! tui.wait_for_text("Hello back", Duration::from_secs(60)).await?;
//! tui.send_key(Key::CtrlC).await?;
//! tui.wait(Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! # What the pinned 0.169 TUI needs from a terminal (observed in a PTY)
//! - At start-up it writes `ESC[>7u` (push keyboard flags), then queries `ESC[?u` (keyboard
//!   enhancement), `ESC[c` (primary device attributes), `ESC[6n` (cursor position) and
//!   `OSC 10;?` / `OSC 11;?` (default colours). It WAITS for the cursor-position report, so the
//!   driver answers `ESC[row;colR` from the emulated cursor; it also answers `ESC[c` (a VT100
//!   with advanced video) and the colour queries (light grey on black), and leaves `ESC[?u`
//!   unanswered so the TUI stays with legacy key encoding (which [`Key`] produces).
//! - Start-up screens: a work dir inside a git repository that is not trusted shows "Folder
//!   access … Trust this folder?" (1. Trust and continue / 2. Back); a directory outside any
//!   repository shows no trust prompt. [`TuiBuilder::trust_cwd`] writes
//!   `[projects."<dir>"] trust_level = "trusted"` into `config.toml` so the prompt never
//!   appears. The first run also records `[tui] screen_reader_detection_done = true` in
//!   `config.toml` itself. Then the composer shows "Ask Codex to do anything".
//! - Without `--remote`, the TUI joins "the shared background server" (the managed app-server
//!   daemon of its `CODEX_HOME`) when one runs; this driver passes `--no-daemon` unless
//!   [`TuiBuilder::remote`] or [`TuiBuilder::allow_daemon`] says otherwise, so a test's TUI owns
//!   its session.
//! - Text typed quickly is treated as a paste burst (an Enter inside the burst inserts a
//!   newline instead of submitting); [`Tui::submit`] therefore sends the text as a bracketed
//!   paste when the TUI enabled bracketed paste, waits until it shows on the screen, and only
//!   then sends Enter.

use std::ffi::OsString;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::app_server::WsToken;
use crate::config::ConfigFile;
use crate::{Error, Result};

/// Environment variable the driver uses to hand a remote token to the TUI
/// (`--remote-auth-token-env`), so the token never appears on a command line.
pub const REMOTE_TOKEN_ENV: &str = "CODEX_CLIENT_REMOTE_TOKEN";

/// How much raw output is kept (the oldest bytes are dropped beyond this).
const RAW_OUTPUT_CAP: usize = 8 << 20;

/// Which session the TUI opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TuiSession {
    /// A new session (optionally with [`TuiBuilder::prompt`]).
    New,
    /// `codex resume <ID>`.
    Resume(String),
    /// `codex resume --last`.
    ResumeLast,
    /// `codex fork <ID>`.
    Fork(String),
}

/// A key (legacy xterm encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    CtrlC,
    CtrlD,
    /// Ctrl + a letter (`Ctrl('t')`).
    Ctrl(char),
    Char(char),
}

impl Key {
    /// The bytes a terminal sends for this key (`app_cursor`: DECCKM is on).
    pub fn bytes(self, app_cursor: bool) -> Vec<u8> {
        let arrow = |c: char| {
            if app_cursor {
                format!("\x1bO{c}").into_bytes()
            } else {
                format!("\x1b[{c}").into_bytes()
            }
        };
        match self {
            Key::Enter => b"\r".to_vec(),
            Key::Esc => b"\x1b".to_vec(),
            Key::Tab => b"\t".to_vec(),
            Key::BackTab => b"\x1b[Z".to_vec(),
            Key::Backspace => b"\x7f".to_vec(),
            Key::Up => arrow('A'),
            Key::Down => arrow('B'),
            Key::Right => arrow('C'),
            Key::Left => arrow('D'),
            Key::Home => arrow('H'),
            Key::End => arrow('F'),
            Key::PageUp => b"\x1b[5~".to_vec(),
            Key::PageDown => b"\x1b[6~".to_vec(),
            Key::CtrlC => vec![0x03],
            Key::CtrlD => vec![0x04],
            Key::Ctrl(c) => vec![(c.to_ascii_lowercase() as u8) & 0x1f],
            Key::Char(c) => c.to_string().into_bytes(),
        }
    }
}

/// Launches `codex` (the TUI) on a pseudo-terminal.
#[derive(Debug, Clone)]
pub struct TuiBuilder {
    program: PathBuf,
    codex_home: PathBuf,
    cwd: Option<PathBuf>,
    model: Option<String>,
    config: Vec<String>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    remote: Option<String>,
    remote_token: Option<WsToken>,
    session: TuiSession,
    prompt: Option<String>,
    rows: u16,
    cols: u16,
    alt_screen: bool,
    allow_daemon: bool,
    trust_cwd: bool,
}

impl TuiBuilder {
    /// `binary_path` is the `codex` executable; `codex_home` is passed as `CODEX_HOME`.
    pub fn new(binary_path: impl Into<PathBuf>, codex_home: impl Into<PathBuf>) -> Self {
        TuiBuilder {
            program: binary_path.into(),
            codex_home: codex_home.into(),
            cwd: None,
            model: None,
            config: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
            remote: None,
            remote_token: None,
            session: TuiSession::New,
            prompt: None,
            rows: 40,
            cols: 120,
            alt_screen: true,
            allow_daemon: false,
            trust_cwd: false,
        }
    }

    /// Working directory of the TUI (also passed as `-C`, the agent's working root).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// `-m MODEL`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// `-c key=value` (`value` is TOML, e.g. `"\"on-request\""` or `true`).
    pub fn config(mut self, key: &str, toml_value: &str) -> Self {
        self.config.push(format!("{key}={toml_value}"));
        self
    }

    /// Any other argument (placed before the session sub-command's positional arguments).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// An environment variable for the TUI.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Several environment variables for the TUI.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.envs
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// `--remote URL` (`unix://PATH` or `ws://HOST:PORT`): the TUI becomes a client of that
    /// app-server instead of running its own.
    pub fn remote(mut self, url: impl Into<String>) -> Self {
        self.remote = Some(url.into());
        self
    }

    /// Bearer token for a `ws://` remote, passed through [`REMOTE_TOKEN_ENV`] and
    /// `--remote-auth-token-env`.
    pub fn remote_auth_token(mut self, token: WsToken) -> Self {
        self.remote_token = Some(token);
        self
    }

    /// Resume or fork a session instead of starting a new one.
    pub fn session(mut self, session: TuiSession) -> Self {
        self.session = session;
        self
    }

    /// The first prompt (submitted by Codex at start-up).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Terminal size (default 40 rows x 120 columns).
    pub fn size(mut self, rows: u16, cols: u16) -> Self {
        self.rows = rows.max(2);
        self.cols = cols.max(2);
        self
    }

    /// `--no-alt-screen`: inline mode (output stays in the scrollback).
    pub fn no_alt_screen(mut self) -> Self {
        self.alt_screen = false;
        self
    }

    /// Let the TUI join a running managed daemon (no `--no-daemon`).
    pub fn allow_daemon(mut self, allow: bool) -> Self {
        self.allow_daemon = allow;
        self
    }

    /// Mark the working directory trusted in `CODEX_HOME/config.toml` before starting, so the
    /// "Trust this folder?" screen does not appear.
    pub fn trust_cwd(mut self, trust: bool) -> Self {
        self.trust_cwd = trust;
        self
    }

    /// The argument vector (without the program).
    pub fn command_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        match &self.session {
            TuiSession::New => {}
            TuiSession::Resume(_) | TuiSession::ResumeLast => a.push("resume".into()),
            TuiSession::Fork(_) => a.push("fork".into()),
        }
        for c in &self.config {
            a.push("-c".into());
            a.push(c.into());
        }
        if let Some(m) = &self.model {
            a.push("-m".into());
            a.push(m.into());
        }
        if let Some(dir) = &self.cwd {
            a.push("-C".into());
            a.push(dir.into());
        }
        match &self.remote {
            Some(url) => {
                a.push("--remote".into());
                a.push(url.into());
                if self.remote_token.is_some() {
                    a.push("--remote-auth-token-env".into());
                    a.push(REMOTE_TOKEN_ENV.into());
                }
            }
            None if !self.allow_daemon => a.push("--no-daemon".into()),
            None => {}
        }
        if !self.alt_screen {
            a.push("--no-alt-screen".into());
        }
        a.extend(self.args.iter().cloned());
        match &self.session {
            TuiSession::Resume(id) | TuiSession::Fork(id) => a.push(id.into()),
            TuiSession::ResumeLast => a.push("--last".into()),
            TuiSession::New => {}
        }
        if let Some(p) = &self.prompt {
            a.push(p.into());
        }
        a
    }

    /// Start the TUI.
    pub async fn spawn(self) -> Result<Tui> {
        if self.trust_cwd {
            let dir = match &self.cwd {
                Some(d) => d.clone(),
                None => std::env::current_dir().map_err(|e| Error::io(".", e))?,
            };
            trust_project(&self.codex_home, &dir)?;
        }
        let spawn_err = |e: pty_process::Error| Error::Spawn {
            program: self.program.clone(),
            source: std::io::Error::other(e),
        };
        let (pty, pts) = pty_process::open().map_err(spawn_err)?;
        pty.resize(pty_process::Size::new(self.rows, self.cols))
            .map_err(spawn_err)?;
        let mut cmd = pty_process::Command::new(&self.program)
            .args(self.command_args())
            .env("CODEX_HOME", &self.codex_home)
            .env("TERM", "xterm-256color")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        if let Some(token) = &self.remote_token {
            cmd = cmd.env(REMOTE_TOKEN_ENV, token.expose());
        }
        if let Some(dir) = &self.cwd {
            cmd = cmd.current_dir(dir);
        }
        let child = cmd.spawn(pts).map_err(spawn_err)?;
        let pid = child.id();
        let (read, write) = pty.into_split();
        let rows = NonZeroU16::new(self.rows).unwrap_or(NonZeroU16::MIN);
        let cols = NonZeroU16::new(self.cols).unwrap_or(NonZeroU16::MIN);
        let state = Arc::new(Mutex::new(TermState {
            parser: vt100::Parser::new_with_callbacks(rows, cols, 1000, Replies::default()),
            raw: Vec::new(),
            raw_dropped: 0,
            closed: false,
        }));
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let (changed_tx, changed_rx) = watch::channel(0u64);
        tokio::spawn(read_loop(read, state.clone(), writer.clone(), changed_tx));
        Ok(Tui {
            child,
            pid,
            state,
            writer,
            changed: changed_rx,
            status: None,
        })
    }
}

/// Mark `dir` trusted (`[projects."<dir>"] trust_level = "trusted"`) in `codex_home`'s config,
/// keeping everything else in the file.
pub fn trust_project(codex_home: &Path, dir: &Path) -> Result<()> {
    // Codex compares the canonical cwd with the keys.
    let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut cfg = ConfigFile::load(codex_home.join("config.toml"))?;
    let doc = cfg.document_mut();
    let projects = doc
        .entry("projects")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .ok_or_else(|| Error::Config {
            path: codex_home.join("config.toml"),
            message: "`projects` is not a table".into(),
        })?;
    projects.set_implicit(true);
    let key = dir.to_string_lossy().into_owned();
    let entry = projects
        .entry(&key)
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .ok_or_else(|| Error::Config {
            path: codex_home.join("config.toml"),
            message: format!("`projects.\"{key}\"` is not a table"),
        })?;
    entry["trust_level"] = toml_edit::value("trusted");
    cfg.save()
}

/// Answers to terminal queries found while parsing, in order.
#[derive(Debug, Default)]
struct Replies(Vec<Vec<u8>>);

impl vt100::Callbacks for Replies {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied();
        match (i1, c, first) {
            // DSR cursor position report (1-based).
            (None, 'n', Some(6)) => {
                let (row, col) = screen.cursor_position();
                self.0
                    .push(format!("\x1b[{};{}R", row + 1, col + 1).into_bytes());
            }
            // DSR status: "OK".
            (None, 'n', Some(5)) => self.0.push(b"\x1b[0n".to_vec()),
            // Primary device attributes: a VT100 with advanced video.
            (None, 'c', None | Some(0)) => self.0.push(b"\x1b[?1;2c".to_vec()),
            _ => {}
        }
    }

    fn unhandled_osc(&mut self, _screen: &mut vt100::Screen, params: &[&[u8]]) {
        // OSC 10/11 ;? : default foreground / background colour.
        if params.len() >= 2 && params[1] == b"?" {
            match params[0] {
                b"10" => self.0.push(b"\x1b]10;rgb:cccc/cccc/cccc\x1b\\".to_vec()),
                b"11" => self.0.push(b"\x1b]11;rgb:0000/0000/0000\x1b\\".to_vec()),
                _ => {}
            }
        }
    }
}

struct TermState {
    parser: vt100::Parser<Replies>,
    raw: Vec<u8>,
    raw_dropped: usize,
    closed: bool,
}

fn lock(m: &Mutex<TermState>) -> MutexGuard<'_, TermState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn read_loop(
    mut read: pty_process::OwnedReadPty,
    state: Arc<Mutex<TermState>>,
    writer: Arc<tokio::sync::Mutex<pty_process::OwnedWritePty>>,
    changed: watch::Sender<u64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seq = 0u64;
    loop {
        // EIO once the TUI (and everything holding the terminal) is gone.
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let replies = {
            let mut st = lock(&state);
            st.raw.extend_from_slice(&buf[..n]);
            if st.raw.len() > RAW_OUTPUT_CAP {
                let excess = st.raw.len() - RAW_OUTPUT_CAP;
                st.raw.drain(..excess);
                st.raw_dropped += excess;
            }
            st.parser.process(&buf[..n]);
            std::mem::take(&mut st.parser.callbacks_mut().0)
        };
        if !replies.is_empty() {
            let mut w = writer.lock().await;
            for r in replies {
                if w.write_all(&r).await.is_err() {
                    break;
                }
            }
            let _ = w.flush().await;
        }
        seq += 1;
        changed.send_replace(seq);
    }
    lock(&state).closed = true;
    seq += 1;
    changed.send_replace(seq);
}

/// A snapshot of the emulated screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// The visible rows, trailing spaces trimmed.
    pub rows: Vec<String>,
    /// Cursor (row, column), 0-based.
    pub cursor: (u16, u16),
    /// Whether the TUI is on the alternate screen.
    pub alternate: bool,
}

impl Screen {
    /// The visible text, one line per row.
    pub fn text(&self) -> String {
        self.rows.join("\n")
    }

    /// Whether `needle` appears on one row.
    pub fn contains(&self, needle: &str) -> bool {
        self.rows.iter().any(|r| r.contains(needle))
    }
}

/// A running TUI on a pseudo-terminal. Dropping it kills the TUI.
pub struct Tui {
    child: tokio::process::Child,
    pid: Option<u32>,
    state: Arc<Mutex<TermState>>,
    writer: Arc<tokio::sync::Mutex<pty_process::OwnedWritePty>>,
    changed: watch::Receiver<u64>,
    status: Option<ExitStatus>,
}

impl std::fmt::Debug for Tui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tui")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Tui {
    /// The TUI's pid (a session leader: its own session and process group).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The current screen.
    pub fn screen(&self) -> Screen {
        let st = lock(&self.state);
        let screen = st.parser.screen();
        let (_, cols) = screen.size();
        Screen {
            rows: screen
                .rows(0, cols.get())
                .map(|r| r.trim_end().to_owned())
                .collect(),
            cursor: screen.cursor_position(),
            alternate: screen.alternate_screen(),
        }
    }

    /// Everything the TUI wrote so far (bounded: the oldest bytes beyond 8 MiB are dropped;
    /// [`Tui::output_dropped`] says how many).
    pub fn output(&self) -> Vec<u8> {
        lock(&self.state).raw.clone()
    }

    /// How many of the oldest output bytes were dropped.
    pub fn output_dropped(&self) -> usize {
        lock(&self.state).raw_dropped
    }

    /// Write raw bytes to the terminal.
    pub async fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        let mut w = self.writer.lock().await;
        let io = |e| Error::io("pty", e);
        w.write_all(bytes).await.map_err(io)?;
        w.flush().await.map_err(io)
    }

    /// Press a key.
    pub async fn send_key(&self, key: Key) -> Result<()> {
        let app_cursor = lock(&self.state).parser.screen().application_cursor();
        self.send_bytes(&key.bytes(app_cursor)).await
    }

    /// Type text: as a bracketed paste when the TUI enabled bracketed paste (so a burst of
    /// characters is not mistaken for keys), else as plain characters.
    pub async fn send_text(&self, text: &str) -> Result<()> {
        let bracketed = lock(&self.state).parser.screen().bracketed_paste();
        if bracketed {
            let mut bytes = b"\x1b[200~".to_vec();
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(b"\x1b[201~");
            self.send_bytes(&bytes).await
        } else {
            self.send_bytes(text.as_bytes()).await
        }
    }

    /// Type `text` into the composer, wait until it shows, then press Enter.
    pub async fn submit(&self, text: &str) -> Result<()> {
        self.send_text(text).await?;
        // The composer may wrap a long text: look for its first line's start.
        let probe: String = text
            .lines()
            .next()
            .unwrap_or(text)
            .chars()
            .take(40)
            .collect();
        self.wait_for_text(&probe, Duration::from_secs(10)).await?;
        self.send_key(Key::Enter).await
    }

    /// Wait until `pred` holds for the screen (checked after every output chunk).
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Screen) -> bool,
    ) -> Result<Screen> {
        let deadline = Instant::now() + timeout;
        let mut changed = self.changed.clone();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return Ok(screen);
            }
            if lock(&self.state).closed {
                return Err(Error::Closed {
                    reason: format!(
                        "the TUI closed its terminal while waiting for {what}; last screen:\n{}",
                        screen.text()
                    ),
                });
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return Err(Error::Timeout {
                    method: format!("TUI screen: {what}; last screen:\n{}", screen.text()),
                    after: timeout,
                });
            }
        }
    }

    /// Wait until `needle` appears on a row of the screen.
    pub async fn wait_for_text(&self, needle: &str, timeout: Duration) -> Result<Screen> {
        self.wait_until(&format!("{needle:?}"), timeout, |s| s.contains(needle))
            .await
    }

    /// Resize the terminal (the TUI gets SIGWINCH).
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let (Some(r), Some(c)) = (NonZeroU16::new(rows), NonZeroU16::new(cols)) else {
            return Err(Error::InvalidInvocation(
                "terminal size must be non-zero".into(),
            ));
        };
        {
            let w = self.writer.lock().await;
            w.resize(pty_process::Size::new(rows, cols))
                .map_err(|e| Error::io("pty", std::io::Error::other(e)))?;
        }
        lock(&self.state).parser.set_size(r, c);
        Ok(())
    }

    /// Wait (bounded) for the TUI to exit by itself; on timeout it keeps running.
    pub async fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(s)) => {
                self.status = Some(s);
                Ok(s)
            }
            Ok(Err(e)) => Err(Error::io("codex tui", e)),
            Err(_) => Err(Error::Timeout {
                method: "TUI exit".into(),
                after: timeout,
            }),
        }
    }

    /// Quit the way a person does: Ctrl-C, which quits an idle TUI but first interrupts a
    /// running task (a turn, or the title the TUI asks the model for after a prompt), so it is
    /// repeated every 2 s until the TUI exits or `timeout` passes.
    pub async fn quit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            self.send_key(Key::CtrlC).await?;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait(left.min(Duration::from_secs(2))).await {
                Ok(status) => return Ok(status),
                Err(Error::Timeout { .. }) if Instant::now() < deadline => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Kill the TUI and every process it started (its session's tree): SIGTERM, SIGKILL after
    /// `grace`. Reaps it.
    pub async fn kill(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(pid) = self.pid
            && self.status.is_none()
        {
            crate::process::kill_tree(pid, grace).await;
        }
        self.wait(Duration::from_secs(10)).await
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        // Drop cannot await: SIGKILL the TUI's group (= session, it is a session leader);
        // `kill_on_drop` reaps the leader.
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
