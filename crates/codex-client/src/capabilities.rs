//! What a given `codex` binary can do: its sub-commands and their flags, its feature flags and
//! its app-server methods, detected once per (binary path, version) and cached on disk.
//!
//! Codex ships weekly and renames things (`thread/rollback` became `thread/revert`, flags come
//! and go), so a wrapper that hard-codes one release breaks on the next. Instead every builder in
//! this crate can be handed a [`Capabilities`] and then refuses, before spawning anything, a
//! sub-command or flag the detected binary lacks — with an [`Error::Unsupported`] that names the
//! version and the missing piece — and app-server callers ask [`Capabilities::method_for`] which
//! spelling of a method this binary speaks.
//!
//! Detection runs only the binary itself, offline and side-effect free:
//! - `codex [SUB...] --help` for the root and every sub-command, recursively (clap's long help:
//!   a `Commands:` section, `Options:`-like sections, `Arguments:`);
//! - flags that clap hides from `--help` (e.g. `login --experimental_issuer`) are probed with
//!   `codex SUB --flag VALUE --help`: clap rejects an unknown flag with exit 2 before it prints
//!   help, and prints help (exit 0) when the flag exists;
//! - `codex features list` (in a private, empty `CODEX_HOME`, so the defaults are what is seen);
//! - `codex app-server generate-json-schema --out DIR`: the client request, notification and
//!   server request method names.
//!
//! All of it runs with `CODEX_HOME` pointing at a throwaway directory: some sub-commands create
//! files in their home before parsing arguments, and detection must not touch the user's.
//!
//! The cache ([`CapabilityCache`]) is one JSON file per (version, binary path) under a directory
//! of the caller's choosing (default: the platform cache dir). An entry whose binary changed
//! since (size or modification time) is detected again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::process::Command;

use crate::binary::{CodexBinary, CodexVersion};
use crate::{Error, Result};

/// Bumped whenever the cached JSON's shape changes; older cache files are re-detected.
const CACHE_FORMAT: u32 = 1;

/// How long one probe (`--help`, `features list`, schema generation) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many probes run at once (each is a short-lived `codex` process).
const PROBE_CONCURRENCY: usize = 4;

/// How deep sub-commands are followed (`codex app-server daemon start` is depth 3).
const MAX_DEPTH: usize = 3;

/// Flags clap hides from `--help` that this crate uses: (sub-command path, flag, a value to
/// probe with). They are probed one by one (see the module docs).
pub const HIDDEN_FLAGS: &[(&[&str], &str, Option<&str>)] = &[
    (
        &["login"],
        "--experimental_issuer",
        Some("http://127.0.0.1:9"),
    ),
    (&["login"], "--experimental_client-id", Some("probe")),
];

/// Methods known under several names across releases: (the name callers use, every spelling
/// in order of preference). [`Capabilities::method_for`] picks the first one the binary has.
pub const METHOD_ALIASES: &[(&str, &[&str])] = &[
    ("thread/rollback", &["thread/rollback", "thread/revert"]),
    ("thread/revert", &["thread/revert", "thread/rollback"]),
];

/// One sub-command's surface as its `--help` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSurface {
    /// Every flag spelling, long and short (`--json`, `-C`), including probed hidden flags.
    pub flags: BTreeSet<String>,
    /// Flags found only by probing (hidden from `--help`).
    #[serde(default)]
    pub hidden_flags: BTreeSet<String>,
    /// Direct sub-commands (without `help`).
    pub subcommands: BTreeSet<String>,
    /// Positional arguments as shown (`<TASK_ID>`, `[PROMPT]`, `[COMMAND]...`).
    pub arguments: Vec<String>,
}

/// App-server method names from the generated schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppServerMethods {
    /// Client -> server requests (`thread/start`, ...).
    pub requests: BTreeSet<String>,
    /// Server -> client notifications (`turn/completed`, ...).
    pub notifications: BTreeSet<String>,
    /// Server -> client requests (approvals, questions).
    pub server_requests: BTreeSet<String>,
}

/// A feature flag as `codex features list` shows it with default configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureInfo {
    /// `stable`, `experimental`, `under development`, ...
    pub stage: String,
    /// Whether it is on by default.
    pub enabled: bool,
}

/// Everything detected about one binary. Cheap to clone behind an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The binary this was detected from.
    pub binary: PathBuf,
    /// Its version (`codex --version`).
    pub version: String,
    /// Sub-command path joined by spaces (`""` = root, `"mcp add"`) -> its surface.
    pub commands: BTreeMap<String, CommandSurface>,
    /// Feature name -> stage and default.
    pub features: BTreeMap<String, FeatureInfo>,
    /// App-server methods.
    pub app_server: AppServerMethods,
}

impl Capabilities {
    /// Detects everything about `binary` (see the module docs). Takes a few seconds; prefer
    /// [`CapabilityCache::get`].
    pub async fn detect(binary: &CodexBinary) -> Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("codex-capabilities-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let home = scratch.path().join("home");
        std::fs::create_dir_all(&home).map_err(|e| Error::io(&home, e))?;
        let prober = Prober {
            binary: binary.path.clone(),
            home,
        };

        let commands = prober.command_tree().await?;
        let mut caps = Capabilities {
            binary: binary.path.clone(),
            version: binary.version.to_string(),
            commands,
            features: BTreeMap::new(),
            app_server: AppServerMethods::default(),
        };
        for (path, flag, value) in HIDDEN_FLAGS {
            let key = path.join(" ");
            if !caps.commands.contains_key(&key) {
                continue;
            }
            if prober.accepts_flag(path, flag, *value).await? {
                let surface = caps.commands.entry(key).or_default();
                surface.flags.insert((*flag).to_owned());
                surface.hidden_flags.insert((*flag).to_owned());
            }
        }
        if caps.has_command(&["features", "list"]) {
            caps.features = prober.features().await?;
        }
        if caps.has_command(&["app-server", "generate-json-schema"]) {
            let out = scratch.path().join("schema");
            caps.app_server = prober.app_server_methods(&out).await?;
        }
        Ok(caps)
    }

    /// The parsed version.
    pub fn codex_version(&self) -> Option<CodexVersion> {
        CodexVersion::parse(&self.version).ok()
    }

    /// The surface of `codex <path...>`, if that sub-command exists.
    pub fn command(&self, path: &[&str]) -> Option<&CommandSurface> {
        self.commands.get(&path.join(" "))
    }

    /// Whether `codex <path...>` exists.
    pub fn has_command(&self, path: &[&str]) -> bool {
        self.command(path).is_some()
    }

    /// Whether `codex <path...>` accepts `flag` (`--json`, `-C`).
    pub fn has_flag(&self, path: &[&str], flag: &str) -> bool {
        self.command(path).is_some_and(|c| c.flags.contains(flag))
    }

    /// Whether the feature flag `name` exists.
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.contains_key(name)
    }

    /// Whether the app-server answers the client request `method`.
    pub fn has_method(&self, method: &str) -> bool {
        self.app_server.requests.contains(method)
    }

    /// Whether the app-server can send the notification `method`.
    pub fn has_notification(&self, method: &str) -> bool {
        self.app_server.notifications.contains(method)
    }

    /// Errors with [`Error::Unsupported`] unless `codex <path...>` exists.
    pub fn require_command(&self, path: &[&str]) -> Result<()> {
        if self.has_command(path) {
            Ok(())
        } else {
            Err(self.unsupported(format!("the sub-command `codex {}`", path.join(" "))))
        }
    }

    /// Errors with [`Error::Unsupported`] unless `codex <path...>` exists and has every flag.
    pub fn require_flags(&self, path: &[&str], flags: &[&str]) -> Result<()> {
        self.require_command(path)?;
        let missing: Vec<&str> = flags
            .iter()
            .copied()
            .filter(|f| !self.has_flag(path, f))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let what = missing
            .iter()
            .map(|f| format!("`codex {} {f}`", path.join(" ")))
            .collect::<Vec<_>>()
            .join(", ");
        Err(self.unsupported(what))
    }

    /// Errors with [`Error::Unsupported`] unless the feature flag exists.
    pub fn require_feature(&self, name: &str) -> Result<()> {
        if self.has_feature(name) {
            Ok(())
        } else {
            Err(self.unsupported(format!("the feature `{name}`")))
        }
    }

    /// Whether some spelling of `method` (see [`METHOD_ALIASES`]) is served.
    pub fn supports(&self, method: &str) -> bool {
        self.method_for(method).is_ok()
    }

    /// The spelling of `method` this binary serves: `method_for("thread/rollback")` is
    /// `thread/revert` on 0.169. Methods without known aliases are returned as given when
    /// served. [`Error::Unsupported`] names the version and every spelling tried.
    pub fn method_for(&self, method: &str) -> Result<&str> {
        let spellings: Vec<&str> = METHOD_ALIASES
            .iter()
            .find(|(name, _)| *name == method)
            .map_or_else(|| vec![method], |(_, s)| s.to_vec());
        if let Some(found) = spellings
            .iter()
            .find_map(|m| self.app_server.requests.get(*m))
        {
            return Ok(found.as_str());
        }
        let what = if spellings.len() == 1 {
            format!("the app-server method `{method}`")
        } else {
            format!(
                "the app-server method `{method}` (tried {})",
                spellings
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(self.unsupported(what))
    }

    /// The error for something this binary lacks.
    pub fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            version: self.version.clone(),
            binary: self.binary.clone(),
            what: what.into(),
        }
    }

    /// What changed from `self` (older) to `newer`.
    pub fn diff(&self, newer: &Capabilities) -> CapabilityDiff {
        let mut d = CapabilityDiff {
            from: self.version.clone(),
            to: newer.version.clone(),
            ..Default::default()
        };
        let old_cmds: BTreeSet<&String> = self.commands.keys().collect();
        let new_cmds: BTreeSet<&String> = newer.commands.keys().collect();
        d.added_commands = new_cmds
            .difference(&old_cmds)
            .map(|s| (*s).clone())
            .collect();
        d.removed_commands = old_cmds
            .difference(&new_cmds)
            .map(|s| (*s).clone())
            .collect();
        for (name, old) in &self.commands {
            let Some(new) = newer.commands.get(name) else {
                continue;
            };
            let added: Vec<String> = new.flags.difference(&old.flags).cloned().collect();
            let removed: Vec<String> = old.flags.difference(&new.flags).cloned().collect();
            if !added.is_empty() || !removed.is_empty() {
                d.flags.insert(name.clone(), (added, removed));
            }
        }
        let set_diff = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
            (
                b.difference(a).cloned().collect::<Vec<_>>(),
                a.difference(b).cloned().collect::<Vec<_>>(),
            )
        };
        d.requests = set_diff(&self.app_server.requests, &newer.app_server.requests);
        d.notifications = set_diff(
            &self.app_server.notifications,
            &newer.app_server.notifications,
        );
        d.server_requests = set_diff(
            &self.app_server.server_requests,
            &newer.app_server.server_requests,
        );
        for (name, new) in &newer.features {
            match self.features.get(name) {
                None => d.added_features.push(name.clone()),
                Some(old) if old != new => d.changed_features.push(format!(
                    "{name}: {} {} -> {} {}",
                    old.stage, old.enabled, new.stage, new.enabled
                )),
                Some(_) => {}
            }
        }
        d.removed_features = self
            .features
            .keys()
            .filter(|k| !newer.features.contains_key(*k))
            .cloned()
            .collect();
        d
    }
}

/// What differs between two binaries' [`Capabilities`] (see [`Capabilities::diff`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityDiff {
    pub from: String,
    pub to: String,
    pub added_commands: Vec<String>,
    pub removed_commands: Vec<String>,
    /// Sub-command -> (flags added, flags removed).
    pub flags: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// App-server client requests (added, removed).
    pub requests: (Vec<String>, Vec<String>),
    /// Notifications (added, removed).
    pub notifications: (Vec<String>, Vec<String>),
    /// Server requests (added, removed).
    pub server_requests: (Vec<String>, Vec<String>),
    pub added_features: Vec<String>,
    pub removed_features: Vec<String>,
    /// `name: stage default -> stage default`.
    pub changed_features: Vec<String>,
}

impl CapabilityDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added_commands.is_empty()
            && self.removed_commands.is_empty()
            && self.flags.is_empty()
            && self.requests.0.is_empty()
            && self.requests.1.is_empty()
            && self.notifications.0.is_empty()
            && self.notifications.1.is_empty()
            && self.server_requests.0.is_empty()
            && self.server_requests.1.is_empty()
            && self.added_features.is_empty()
            && self.removed_features.is_empty()
            && self.changed_features.is_empty()
    }

    /// The diff as Markdown sections (stable order, for a committed report).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let list = |out: &mut String, title: &str, items: &[String]| {
            if items.is_empty() {
                let _ = writeln!(out, "- {title}: none");
            } else {
                let _ = writeln!(
                    out,
                    "- {title}: {}",
                    items
                        .iter()
                        .map(|i| format!("`{i}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        };
        let _ = writeln!(out, "### CLI sub-commands\n");
        list(&mut out, "added", &self.added_commands);
        list(&mut out, "removed", &self.removed_commands);
        let _ = writeln!(out, "\n### CLI flags\n");
        if self.flags.is_empty() {
            let _ = writeln!(out, "- none changed");
        }
        for (cmd, (added, removed)) in &self.flags {
            let name = if cmd.is_empty() {
                "codex".to_owned()
            } else {
                format!("codex {cmd}")
            };
            let _ = writeln!(out, "- `{name}`:");
            if !added.is_empty() {
                let _ = writeln!(
                    out,
                    "  - added {}",
                    added
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !removed.is_empty() {
                let _ = writeln!(
                    out,
                    "  - removed {}",
                    removed
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let _ = writeln!(out, "\n### App-server methods\n");
        list(&mut out, "client requests added", &self.requests.0);
        list(&mut out, "client requests removed", &self.requests.1);
        list(&mut out, "notifications added", &self.notifications.0);
        list(&mut out, "notifications removed", &self.notifications.1);
        list(&mut out, "server requests added", &self.server_requests.0);
        list(&mut out, "server requests removed", &self.server_requests.1);
        let _ = writeln!(out, "\n### Feature flags\n");
        list(&mut out, "added", &self.added_features);
        list(&mut out, "removed", &self.removed_features);
        list(&mut out, "stage/default changed", &self.changed_features);
        out
    }
}

/// An on-disk cache of [`Capabilities`], one JSON file per (version, binary path).
#[derive(Debug, Clone)]
pub struct CapabilityCache {
    dir: PathBuf,
}

/// What the cache file holds besides the capabilities: enough to notice a replaced binary.
#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    format: u32,
    binary_len: u64,
    binary_mtime_ns: u128,
    capabilities: Capabilities,
}

impl CapabilityCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CapabilityCache { dir: dir.into() }
    }

    /// `<platform cache dir>/codex-client/capabilities` (e.g. `~/.cache/...` on Linux).
    pub fn default_dir() -> Result<PathBuf> {
        let base = dirs::cache_dir().ok_or_else(|| Error::Config {
            path: PathBuf::from("$XDG_CACHE_HOME"),
            message: "cannot determine the platform cache directory".into(),
        })?;
        Ok(base.join("codex-client").join("capabilities"))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds (or would hold) `binary`'s entry: `<version>-<hash of path>.json`.
    pub fn entry_path(&self, binary: &CodexBinary) -> PathBuf {
        self.dir.join(format!(
            "{}-{:016x}.json",
            binary.version,
            fnv1a(binary.path.to_string_lossy().as_bytes())
        ))
    }

    /// The cached capabilities of `binary`, if present and still valid.
    pub fn load(&self, binary: &CodexBinary) -> Result<Option<Capabilities>> {
        let path = self.entry_path(binary);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        // A corrupt or outdated entry is a cache miss, not an error: it is rewritten.
        let Ok(entry) = serde_json::from_slice::<CacheEntry>(&bytes) else {
            return Ok(None);
        };
        let (len, mtime) = stamp(&binary.path)?;
        let valid = entry.format == CACHE_FORMAT
            && entry.binary_len == len
            && entry.binary_mtime_ns == mtime
            && entry.capabilities.version == binary.version.to_string()
            && entry.capabilities.binary == binary.path;
        Ok(valid.then_some(entry.capabilities))
    }

    /// Writes `caps` for `binary` (atomically: temp file + rename).
    pub fn store(&self, binary: &CodexBinary, caps: &Capabilities) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let (binary_len, binary_mtime_ns) = stamp(&binary.path)?;
        let entry = CacheEntry {
            format: CACHE_FORMAT,
            binary_len,
            binary_mtime_ns,
            capabilities: caps.clone(),
        };
        let json = serde_json::to_vec_pretty(&entry).map_err(|e| Error::Config {
            path: self.entry_path(binary),
            message: e.to_string(),
        })?;
        let path = self.entry_path(binary);
        let mut tmp =
            tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        std::io::Write::write_all(&mut tmp, &json).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }

    /// The cached entry, or a fresh detection that is then cached.
    pub async fn get(&self, binary: &CodexBinary) -> Result<Arc<Capabilities>> {
        if let Some(caps) = self.load(binary)? {
            return Ok(Arc::new(caps));
        }
        let caps = Capabilities::detect(binary).await?;
        self.store(binary, &caps)?;
        Ok(Arc::new(caps))
    }
}

/// (size, mtime in ns) of a file: what the cache compares to notice a replaced binary.
fn stamp(path: &Path) -> Result<(u64, u128)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((meta.len(), mtime))
}

/// FNV-1a: a stable (across Rust releases, unlike `DefaultHasher`) short hash for file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Runs the probes against one binary with a scratch `CODEX_HOME`.
struct Prober {
    binary: PathBuf,
    home: PathBuf,
}

/// What one probe run produced.
struct ProbeOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Prober {
    async fn run(&self, args: &[&str]) -> Result<ProbeOutput> {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .env("CODEX_HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(PROBE_TIMEOUT, cmd.output())
            .await
            .map_err(|_| Error::Timeout {
                method: format!("codex {}", args.join(" ")),
                after: PROBE_TIMEOUT,
            })?
            .map_err(|source| Error::Spawn {
                program: self.binary.clone(),
                source,
            })?;
        Ok(ProbeOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `--help` of the root and of every sub-command down to [`MAX_DEPTH`], breadth first,
    /// [`PROBE_CONCURRENCY`] at a time.
    async fn command_tree(&self) -> Result<BTreeMap<String, CommandSurface>> {
        let mut out = BTreeMap::new();
        let mut level: Vec<Vec<String>> = vec![Vec::new()];
        while !level.is_empty() {
            let mut next = Vec::new();
            for chunk in level.chunks(PROBE_CONCURRENCY) {
                let runs = chunk.iter().map(|path| async move {
                    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
                    args.push("--help");
                    (path, self.run(&args).await)
                });
                for (path, result) in futures::future::join_all(runs).await {
                    let probe = result?;
                    if probe.code != Some(0) {
                        // Some sub-commands (e.g. platform-specific sandboxes) cannot even
                        // print help here; they are simply not available.
                        tracing::debug!(?path, code = ?probe.code, stderr = %probe.stderr, "help probe failed");
                        continue;
                    }
                    let surface = parse_help(&probe.stdout);
                    if path.len() < MAX_DEPTH {
                        for sub in &surface.subcommands {
                            let mut p = path.clone();
                            p.push(sub.clone());
                            next.push(p);
                        }
                    }
                    out.insert(path.join(" "), surface);
                }
            }
            level = next;
        }
        if !out.contains_key("") {
            return Err(Error::UnexpectedOutput {
                command: "--help".into(),
                message: format!("{} did not print its help", self.binary.display()),
            });
        }
        Ok(out)
    }

    async fn accepts_flag(&self, path: &[&str], flag: &str, value: Option<&str>) -> Result<bool> {
        let mut args: Vec<&str> = path.to_vec();
        args.push(flag);
        args.extend(value);
        args.push("--help");
        Ok(self.run(&args).await?.code == Some(0))
    }

    async fn features(&self) -> Result<BTreeMap<String, FeatureInfo>> {
        let probe = self.run(&["features", "list"]).await?;
        if probe.code != Some(0) {
            return Err(Error::Exited {
                status: probe.code,
                stderr_tail: probe.stderr,
            });
        }
        Ok(crate::features::parse_features_list(&probe.stdout)?
            .into_iter()
            .map(|f| {
                (
                    f.name,
                    FeatureInfo {
                        stage: f.stage.as_str().to_owned(),
                        enabled: f.enabled,
                    },
                )
            })
            .collect())
    }

    async fn app_server_methods(&self, out: &Path) -> Result<AppServerMethods> {
        let dir = out.to_string_lossy().into_owned();
        let probe = self
            .run(&["app-server", "generate-json-schema", "--out", &dir])
            .await?;
        if probe.code != Some(0) {
            return Err(Error::Exited {
                status: probe.code,
                stderr_tail: probe.stderr,
            });
        }
        Ok(AppServerMethods {
            requests: schema_methods(&out.join("ClientRequest.json"))?,
            notifications: schema_methods(&out.join("ServerNotification.json"))?,
            server_requests: schema_methods(&out.join("ServerRequest.json"))?,
        })
    }
}

/// The `method` names of a generated `oneOf` message union (`ClientRequest.json`, ...).
pub fn schema_methods(path: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let root: Value = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut out = BTreeSet::new();
    for variant in root["oneOf"].as_array().into_iter().flatten() {
        let m = &variant["properties"]["method"];
        if let Some(name) = m["enum"][0].as_str().or_else(|| m["const"].as_str()) {
            out.insert(name.to_owned());
        }
    }
    if out.is_empty() {
        return Err(Error::Config {
            path: path.to_owned(),
            message: "no methods found (not a generated app-server message union?)".into(),
        });
    }
    Ok(out)
}

/// Parses clap's long `--help` output into a [`CommandSurface`].
///
/// Sections start with an unindented line ending in `:` (`Commands:`, `Options:`, `Arguments:`,
/// or a custom heading such as `Local server options (without --remote):`). Entries are
/// indented by two spaces (options with a short flag) or six (long-only options); descriptions
/// are indented further and ignored — a `- value: ...` line in a description never counts.
pub fn parse_help(text: &str) -> CommandSurface {
    #[derive(PartialEq)]
    enum Section {
        Other,
        Commands,
        Options,
        Arguments,
    }
    let mut surface = CommandSurface::default();
    let mut section = Section::Other;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            let head = line.trim_end();
            section = if !head.ends_with(':') {
                Section::Other
            } else if head == "Commands:" {
                Section::Commands
            } else if head == "Arguments:" {
                Section::Arguments
            } else if head.to_lowercase().contains("options") {
                Section::Options
            } else {
                Section::Other
            };
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        match section {
            Section::Commands if indent == 2 => {
                if let Some(name) = body.split_whitespace().next()
                    && name != "help"
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    surface.subcommands.insert(name.to_owned());
                }
            }
            Section::Options if indent <= 6 && body.starts_with('-') => {
                for part in body.split(", ") {
                    let token: String = part
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '=' && *c != '<' && *c != '[')
                        .collect();
                    if is_flag(&token) {
                        surface.flags.insert(token);
                    } else {
                        break;
                    }
                }
            }
            Section::Arguments if indent == 2 => {
                if let Some(arg) = body.split_whitespace().next()
                    && (arg.starts_with('<') || arg.starts_with('['))
                {
                    surface.arguments.push(arg.to_owned());
                }
            }
            _ => {}
        }
    }
    surface
}

fn is_flag(token: &str) -> bool {
    if let Some(long) = token.strip_prefix("--") {
        !long.is_empty()
            && long
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && long
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    } else if let Some(short) = token.strip_prefix('-') {
        short.len() == 1 && short.chars().all(|c| c.is_ascii_alphanumeric())
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_HELP: &str = "Codex CLI\n\nUsage: codex [OPTIONS] [PROMPT]\n\nCommands:\n  exec              Run Codex non-interactively [aliases: e]\n  apply             Apply the latest diff produced by Codex agent as a `git apply` to your local\n                    working tree [aliases: a]\n  help              Print this message\n\nArguments:\n  [PROMPT]\n          Optional user prompt to start the session\n\nOptions:\n  -c, --config <key=value>\n          Override a configuration value.\n          Examples: - `-c model=\"o3\"`\n      --enable <FEATURE>\n          Enable a feature\n  -a, --ask-for-approval <APPROVAL_POLICY>\n          Possible values:\n          - on-request: The model decides\n          - never:      Never ask\n  -h, --help\n          Print help\n\nLocal server options (without --remote):\n  -C, --cd <DIR>\n          Tell the agent to use the specified directory\n";

    #[test]
    fn parses_clap_long_help() {
        let s = parse_help(ROOT_HELP);
        assert_eq!(
            s.subcommands,
            ["apply", "exec"].into_iter().map(String::from).collect()
        );
        assert_eq!(
            s.flags,
            [
                "-c",
                "--config",
                "--enable",
                "-a",
                "--ask-for-approval",
                "-h",
                "--help",
                "-C",
                "--cd"
            ]
            .into_iter()
            .map(String::from)
            .collect()
        );
        assert_eq!(s.arguments, vec!["[PROMPT]".to_owned()]);
        assert!(s.hidden_flags.is_empty());
    }

    fn caps(methods: &[&str]) -> Capabilities {
        let mut commands = BTreeMap::new();
        commands.insert(String::new(), parse_help(ROOT_HELP));
        Capabilities {
            binary: PathBuf::from("/opt/codex"),
            version: "0.150.0".into(),
            commands,
            features: BTreeMap::new(),
            app_server: AppServerMethods {
                requests: methods.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn method_aliases_pick_the_spelling_the_binary_has() {
        let old = caps(&["thread/revert", "turn/start"]);
        assert_eq!(
            old.method_for("thread/rollback").expect("alias"),
            "thread/revert"
        );
        assert_eq!(
            old.method_for("thread/revert").expect("direct"),
            "thread/revert"
        );
        assert_eq!(old.method_for("turn/start").expect("plain"), "turn/start");
        let new = caps(&["thread/rollback"]);
        assert_eq!(
            new.method_for("thread/revert").expect("alias"),
            "thread/rollback"
        );
        let none = caps(&["turn/start"]);
        let err = none.method_for("thread/rollback").expect_err("missing");
        let msg = err.to_string();
        assert!(
            msg.contains("0.150.0") && msg.contains("thread/revert") && msg.contains("/opt/codex"),
            "{msg}"
        );
        assert!(!none.supports("nope/never"));
    }

    #[test]
    fn guards_name_the_version_and_the_missing_piece() {
        let c = caps(&[]);
        c.require_flags(&[], &["--cd", "-c"]).expect("present");
        let err = c
            .require_flags(&[], &["--cd", "--frobnicate"])
            .expect_err("missing");
        assert!(matches!(err, Error::Unsupported { ref version, .. } if version == "0.150.0"));
        assert!(
            err.to_string().contains("`codex  --frobnicate`")
                || err.to_string().contains("--frobnicate")
        );
        let err = c.require_command(&["review"]).expect_err("missing");
        assert!(err.to_string().contains("codex review"), "{err}");
        assert!(c.require_feature("x").is_err());
    }

    #[test]
    fn diff_lists_what_changed() {
        let a = caps(&["thread/revert"]);
        let mut b = caps(&["thread/revert", "thread/search"]);
        b.version = "0.151.0".into();
        b.commands
            .get_mut("")
            .expect("root")
            .flags
            .insert("--remote".into());
        b.commands
            .insert("review".into(), CommandSurface::default());
        let d = a.diff(&b);
        assert_eq!(d.added_commands, vec!["review".to_owned()]);
        assert_eq!(d.requests.0, vec!["thread/search".to_owned()]);
        assert_eq!(d.flags[""].0, vec!["--remote".to_owned()]);
        assert!(!d.is_empty());
        assert!(a.diff(&a).is_empty());
        let md = d.to_markdown();
        assert!(
            md.contains("`thread/search`") && md.contains("`codex`:"),
            "{md}"
        );
    }

    #[test]
    fn cache_round_trips_and_notices_a_replaced_binary() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bin_path = tmp.path().join("codex");
        std::fs::write(&bin_path, "v1").expect("write");
        let binary =
            CodexBinary::with_version(&bin_path, CodexVersion::parse("0.150.0").expect("version"));
        let cache = CapabilityCache::new(tmp.path().join("cache"));
        assert_eq!(cache.load(&binary).expect("load"), None);
        let mut c = caps(&["turn/start"]);
        c.binary = bin_path.clone();
        cache.store(&binary, &c).expect("store");
        assert_eq!(cache.load(&binary).expect("load"), Some(c.clone()));
        assert!(
            cache
                .entry_path(&binary)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("0.150.0-")),
        );
        // A different binary at the same path (size changes) is a miss.
        std::fs::write(&bin_path, "version two").expect("rewrite");
        assert_eq!(cache.load(&binary).expect("load"), None);
        // Garbage is a miss too, not an error.
        std::fs::write(cache.entry_path(&binary), "{not json").expect("garbage");
        assert_eq!(cache.load(&binary).expect("load"), None);
    }
}
