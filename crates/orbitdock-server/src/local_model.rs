//! The local model provider: codexpc (local gpt-oss behind an OpenAI Responses endpoint) as a
//! model provider of the hub's Codex.
//!
//! [`LocalModel`] runs one supervisor task that, in a loop:
//! 1. asks codexpc's session socket for its health (through `codexpc health`, so the socket
//!    protocol and codexpc's default socket path stay codexpc's): a codexpc someone already runs
//!    there is used as it is (its `health` reply names its Responses endpoint), never stopped by
//!    us;
//! 2. otherwise, when a GGUF model is configured, starts `codexpc serve --model FILE` as a child
//!    (own process group, killed with the hub; stdout and stderr appended to
//!    `DATA_DIR/logs/codexpc.log`), on the HTTP port it had before so Codex's configuration stays
//!    valid across restarts;
//! 3. writes the provider into the hub's Codex configuration through the connector (Codex's own
//!    config writer, never a hand-edited TOML) whenever its URL changes;
//! 4. polls `/health`, `/v1/models` and `/metrics` every second for the live state the UI shows
//!    (model, context size, tokens/s, generations in flight). A child that exits, or a daemon that
//!    stops answering, makes the provider `down`; a child is restarted with exponential backoff
//!    (1 s doubling to 30 s, reset after a minute of health).
//!
//! Codex sessions on this provider are ordinary Codex sessions with `model_provider = codexpc`;
//! nothing else in the hub knows codexpc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use orbitdock_protocol::{ProviderState, ProviderStatus};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::connector::{Connector, ProviderEntry};

/// The provider id sessions on the local model use in Codex.
pub const PROVIDER_ID: &str = "codexpc";
/// Display name.
pub const PROVIDER_NAME: &str = "Local gpt-oss (codexpc)";

const POLL: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Healthy this long after a (re)start: the next crash starts the backoff from the beginning.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a starting child may take to print its address (loading a 20B model from disk).
const START_TIMEOUT: Duration = Duration::from_secs(300);
const HTTP_TIMEOUT: Duration = Duration::from_secs(3);

/// How to run the local model.
#[derive(Debug, Clone)]
pub struct LocalModelConfig {
    /// The `codexpc` binary.
    pub codexpc_bin: PathBuf,
    /// The GGUF model to serve; `None`: only use a codexpc already running on `socket`.
    pub model_path: Option<PathBuf>,
    /// codexpc's session socket (where a running daemon is looked for, and where ours listens);
    /// `None`: codexpc's own default (where a `codexpc serve` started by hand listens).
    pub socket: Option<PathBuf>,
    /// Where `codexpc.log` is written.
    pub log_dir: PathBuf,
    /// More `codexpc serve` arguments (e.g. `--ctx`, `--slots`, `--max-output-tokens`).
    pub extra_args: Vec<String>,
}

/// The local model provider (see the module docs).
#[derive(Debug)]
pub struct LocalModel {
    config: Mutex<LocalModelConfig>,
    status: Mutex<Live>,
    child_pid: AtomicU32,
    /// Wakes the supervisor early (the model path changed).
    kick: Notify,
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the supervisor last saw.
#[derive(Debug, Clone)]
struct Live {
    state: ProviderState,
    detail: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    context_size: Option<u64>,
    tokens_per_second: Option<f64>,
    busy: Option<u64>,
    /// Last `codexpc_tokens_out_total` and when it was read.
    tokens_out: Option<(u64, Instant)>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            state: ProviderState::Starting,
            detail: None,
            base_url: None,
            model: None,
            context_size: None,
            tokens_per_second: None,
            busy: None,
            tokens_out: None,
        }
    }
}

impl LocalModel {
    /// Starts supervising; the provider is written into the agent's configuration through
    /// `connector` once codexpc answers.
    pub fn start(config: LocalModelConfig, connector: Arc<dyn Connector>) -> Arc<LocalModel> {
        let me = Arc::new(LocalModel {
            config: Mutex::new(config),
            status: Mutex::new(Live::default()),
            child_pid: AtomicU32::new(0),
            kick: Notify::new(),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(supervise(me.clone(), connector));
        *me.task.lock() = Some(task);
        me
    }

    /// The provider id sessions name.
    pub fn provider_id(&self) -> &'static str {
        PROVIDER_ID
    }

    /// The model the daemon serves, once known.
    pub fn model_name(&self) -> Option<String> {
        self.status.lock().model.clone()
    }

    /// The child's process id while the hub runs one (crash tests kill it).
    pub fn child_pid(&self) -> Option<u32> {
        Some(self.child_pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    /// Serves another GGUF file from now on (the running child, if any, is replaced).
    pub fn set_model_path(&self, path: PathBuf) -> crate::Result<()> {
        if !path.is_absolute() || !path.is_file() {
            return Err(crate::Error::BadRequest(format!(
                "{} is not an existing absolute file path",
                path.display()
            )));
        }
        self.config.lock().model_path = Some(path);
        {
            let mut s = self.status.lock();
            s.state = ProviderState::Starting;
            s.detail = Some("Loading the model ...".into());
        }
        self.kick.notify_one();
        Ok(())
    }

    /// The provider's state for `GET /api/providers` (`sessions` is filled by the caller).
    pub fn status(&self) -> ProviderStatus {
        let s = self.status.lock().clone();
        ProviderStatus {
            id: PROVIDER_ID.into(),
            name: PROVIDER_NAME.into(),
            state: s.state,
            detail: s.detail,
            model: s.model,
            context_size: s.context_size,
            tokens_per_second: s.tokens_per_second,
            busy: s.busy,
            sessions: 0,
        }
    }

    /// Stops supervising and stops the child (a daemon we did not start is left running).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().take();
        if let Some(t) = task
            && tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .is_err()
        {
            tracing::warn!("the local model supervisor did not stop in time");
        }
    }

    fn set(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.status.lock());
    }
}

/// A codexpc we started.
struct OwnedChild {
    child: tokio::process::Child,
    started: Instant,
}

impl OwnedChild {
    /// Stops the child: SIGTERM to its group, then SIGKILL after 5 s.
    async fn stop(mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            // The child leads its own process group: a graceful stop reaches everything it runs.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

async fn supervise(me: Arc<LocalModel>, connector: Arc<dyn Connector>) {
    let mut child: Option<OwnedChild> = None;
    let mut port: Option<u16> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut configured_url: Option<String> = None;
    let mut served_path: Option<PathBuf> = None;
    let http = match reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            me.set(|s| {
                s.state = ProviderState::Down;
                s.detail = Some(format!("cannot make an HTTP client: {e}"));
            });
            return;
        }
    };
    loop {
        if me.stop.is_cancelled() {
            break;
        }
        let config = me.config.lock().clone();
        // A changed model path replaces our child.
        if child.is_some() && served_path != config.model_path {
            if let Some(c) = child.take() {
                c.stop().await;
            }
            me.child_pid.store(0, Ordering::SeqCst);
        }
        // Our child died?
        if let Some(c) = child.as_mut()
            && let Ok(Some(status)) = c.child.try_wait()
        {
            let stable = c.started.elapsed() >= STABLE_AFTER;
            child = None;
            me.child_pid.store(0, Ordering::SeqCst);
            if stable {
                backoff = FIRST_BACKOFF;
            }
            tracing::warn!(%status, "codexpc exited; restarting in {backoff:?}");
            me.set(|s| {
                s.state = ProviderState::Down;
                s.detail = Some(format!(
                    "codexpc exited ({status}); restarting in {} s",
                    backoff.as_secs()
                ));
                s.busy = None;
            });
            if wait_or_stop(&me, backoff).await {
                break;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        let base_url = if child.is_some() {
            me.status.lock().base_url.clone()
        } else if let Some(url) = socket_base_url(&config).await {
            // Someone else's codexpc: use it as it is.
            Some(url)
        } else if let Some(model) = &config.model_path {
            me.set(|s| {
                s.state = ProviderState::Starting;
                s.detail = Some(format!("Loading {} ...", model.display()));
            });
            match spawn_child(&config, model, port).await {
                Ok((c, url, bound)) => {
                    me.child_pid
                        .store(c.child.id().unwrap_or(0), Ordering::SeqCst);
                    port = Some(bound);
                    served_path = Some(model.clone());
                    child = Some(c);
                    Some(url)
                }
                Err(e) => {
                    // The old port may have been taken meanwhile: the next try picks a free one
                    // (and the provider's new URL is written into Codex's config).
                    port = None;
                    tracing::warn!(error = %e, "could not start codexpc; retrying in {backoff:?}");
                    me.set(|s| {
                        s.state = ProviderState::Down;
                        s.detail = Some(format!("{e}; retrying in {} s", backoff.as_secs()));
                    });
                    if wait_or_stop(&me, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        } else {
            me.set(|s| {
                s.state = ProviderState::Down;
                s.detail = Some(
                    "No local model: start the server with --local-model FILE.gguf, choose a GGUF file in the settings, or run codexpc serve".into(),
                );
                s.base_url = None;
            });
            if wait_or_stop(&me, POLL * 2).await {
                break;
            }
            continue;
        };
        let Some(base_url) = base_url else {
            if wait_or_stop(&me, POLL).await {
                break;
            }
            continue;
        };
        me.set(|s| s.base_url = Some(base_url.clone()));
        match poll(&http, &base_url).await {
            Ok(p) => {
                if configured_url.as_deref() != Some(base_url.as_str()) {
                    let entry = ProviderEntry {
                        id: PROVIDER_ID.into(),
                        name: PROVIDER_NAME.into(),
                        base_url: base_url.clone(),
                    };
                    match connector.configure_provider(&entry).await {
                        Ok(()) => {
                            tracing::info!(%base_url, "local model provider written into the Codex config");
                            configured_url = Some(base_url.clone());
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not write the local provider into the Codex config")
                        }
                    }
                }
                me.set(|s| {
                    let now = Instant::now();
                    if let Some((before, at)) = s.tokens_out
                        && p.tokens_out > before
                    {
                        let dt = now.duration_since(at).as_secs_f64();
                        if dt > 0.0 {
                            s.tokens_per_second = Some((p.tokens_out - before) as f64 / dt);
                        }
                    }
                    s.tokens_out = Some((p.tokens_out, now));
                    s.state = if configured_url.is_some() {
                        ProviderState::Up
                    } else {
                        ProviderState::Starting
                    };
                    s.detail = Some(format!("{} engine at {base_url}", p.engine));
                    s.model = Some(p.model);
                    s.context_size = p.context_size;
                    s.busy = Some(p.in_flight);
                });
            }
            Err(e) => {
                me.set(|s| {
                    s.state = ProviderState::Down;
                    s.detail = Some(format!("codexpc does not answer at {base_url}: {e}"));
                    s.busy = None;
                });
            }
        }
        if wait_or_stop(&me, POLL).await {
            break;
        }
    }
    if let Some(c) = child.take() {
        c.stop().await;
    }
    me.child_pid.store(0, Ordering::SeqCst);
}

/// Sleeps `d` (or until kicked); true when the supervisor must stop.
async fn wait_or_stop(me: &LocalModel, d: Duration) -> bool {
    tokio::select! {
        _ = me.stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
        _ = me.kick.notified() => false,
    }
}

/// The Responses endpoint of a codexpc answering on the socket, if one does. Asked through
/// `codexpc health` (codexpc's own client, and its own default socket path).
async fn socket_base_url(config: &LocalModelConfig) -> Option<String> {
    let mut cmd = tokio::process::Command::new(&config.codexpc_bin);
    cmd.arg("health").arg("--timeout-secs").arg("2");
    if let Some(socket) = &config.socket {
        cmd.arg("--socket").arg(socket);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(HTTP_TIMEOUT, cmd.output())
        .await
        .ok()?
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let health: Value = serde_json::from_slice(&out.stdout).ok()?;
    health
        .get("base_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Starts `codexpc serve` and waits for the address it prints.
async fn spawn_child(
    config: &LocalModelConfig,
    model: &Path,
    port: Option<u16>,
) -> std::result::Result<(OwnedChild, String, u16), String> {
    std::fs::create_dir_all(&config.log_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.log_dir.display()))?;
    let log_path = config.log_dir.join("codexpc.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let stderr = log
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let mut cmd = tokio::process::Command::new(&config.codexpc_bin);
    cmd.arg("serve")
        .arg("--model")
        .arg(model)
        .arg("--http")
        .arg(format!("127.0.0.1:{}", port.unwrap_or(0)));
    if let Some(socket) = &config.socket {
        cmd.arg("--socket").arg(socket);
    }
    cmd.args(&config.extra_args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    // Tied to this process: a hub killed outright must not leave a daemon holding the model
    // and its port (the group of its own, for a graceful stop, keeps it out of our signals).
    let mut child = codex_client::parent_death::spawn_child(cmd, "codexpc")
        .await
        .map_err(|e| {
            format!(
                "cannot run {} ({e}); pass --codexpc-bin",
                config.codexpc_bin.display()
            )
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "codexpc has no stdout".to_owned())?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(START_TIMEOUT, lines.next_line()).await;
    let url = match first {
        Ok(Ok(Some(line))) => line
            .trim()
            .strip_prefix("codexpc listening on ")
            .map(str::to_owned),
        _ => None,
    };
    let Some(url) = url else {
        let _ = child.kill().await;
        return Err(format!(
            "codexpc did not start (see {})",
            log_path.display()
        ));
    };
    // The rest of stdout goes to the log too.
    let mut log = tokio::fs::File::from_std(log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log.write_all(format!("{line}\n").as_bytes()).await;
        }
    });
    let bound = url
        .trim_end_matches("/v1")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("codexpc printed an address without a port: {url}"))?;
    tracing::info!(pid = child.id(), %url, model = %model.display(), "codexpc started");
    Ok((
        OwnedChild {
            child,
            started: Instant::now(),
        },
        url,
        bound,
    ))
}

/// What one poll of a running codexpc says.
#[derive(Debug)]
struct Polled {
    engine: String,
    model: String,
    context_size: Option<u64>,
    tokens_out: u64,
    in_flight: u64,
}

async fn poll(http: &reqwest::Client, base_url: &str) -> std::result::Result<Polled, String> {
    let root = base_url.trim_end_matches('/').trim_end_matches("/v1");
    let get_json = |path: String| {
        let http = http.clone();
        async move {
            http.get(&path)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| e.to_string())?
                .json::<Value>()
                .await
                .map_err(|e| e.to_string())
        }
    };
    let health = get_json(format!("{root}/health")).await?;
    let models = get_json(format!("{root}/v1/models")).await?;
    let metrics = http
        .get(format!("{root}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Polled {
        engine: health
            .get("engine")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        model: health
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("gpt-oss")
            .to_owned(),
        context_size: models
            .pointer("/data/0/context_window")
            .and_then(Value::as_u64),
        tokens_out: metric(&metrics, "codexpc_tokens_out_total").unwrap_or(0),
        in_flight: metric(&metrics, "codexpc_generations_in_flight").unwrap_or(0),
    })
}

/// One sample of a Prometheus text exposition (`name value` lines).
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next()? == name).then(|| parts.next())?
        })
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prometheus_samples() {
        let text = "# HELP codexpc_tokens_out_total Generated tokens.\n# TYPE codexpc_tokens_out_total counter\ncodexpc_tokens_out_total 1234\ncodexpc_generations_in_flight 2\n";
        assert_eq!(metric(text, "codexpc_tokens_out_total"), Some(1234));
        assert_eq!(metric(text, "codexpc_generations_in_flight"), Some(2));
        assert_eq!(metric(text, "codexpc_missing"), None);
    }
}
