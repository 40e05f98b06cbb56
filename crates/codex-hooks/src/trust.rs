//! Hook trust, asked of and recorded through the pinned Codex itself.
//!
//! Codex 0.169 runs a user hook only when `config.toml` holds
//! `[hooks.state."<key>"] trusted_hash = "<hash>"` with the hash Codex computes for the hook's
//! current definition (`hooks/list` reports both as `key` and `currentHash`, and the verdict as
//! `trustStatus`: untrusted / trusted / modified / managed). Untrusted hooks are skipped
//! silently. When a person trusts hooks in the TUI (the start-up "Hooks need review" screen,
//! "Trust all and continue", or `/hooks`), the TUI sends `config/batchWrite` with
//! `{keyPath: "hooks.state", mergeStrategy: "upsert", value: {"<key>": {"trusted_hash": ...}}}`
//! — the exact record [`trust_our_hooks`] writes, through the same app-server call, for the
//! hooks `orbitdock hooks install codex` just installed at the user's request. Foreign hooks are
//! never trusted by us. The hash function is Codex's business: we never compute it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_client::app_server::requests::{
    ConfigBatchWrite, ConfigBatchWriteParams, ConfigEdit, HookMetadata, HookTrustStatus, HooksList,
    HooksListParams,
};
use codex_client::app_server::{AppServer, AppServerBuilder};

use crate::error::{Error, Result};
use crate::hooks_file::{CONFIG_TOML, HOOKS_JSON, is_our_command};

/// What a person must do once when we cannot record trust ourselves (no Codex binary at hand).
pub const MANUAL_TRUST_STEPS: &str = "start `codex` once in a terminal: at \"Hooks need review\" \
choose \"Trust all and continue\" (or \"Review hooks\" and trust the OrbitDock ones); `/hooks` in \
the TUI does the same later";

/// One of our hooks as Codex sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookTrust {
    /// The hook, from `hooks/list`.
    pub hook: HookMetadata,
}

impl HookTrust {
    /// Whether Codex will run it.
    pub fn runs(&self) -> bool {
        matches!(
            self.hook.trust_status,
            HookTrustStatus::Trusted | HookTrustStatus::Managed
        ) && self.hook.enabled
    }
}

/// `hooks/list` for `codex_home`, filtered to our hooks in its hooks.json / config.toml, plus
/// Codex's warnings (e.g. "loading hooks from both ...").
pub async fn trust_status(
    codex_bin: &Path,
    codex_home: &Path,
) -> Result<(Vec<HookTrust>, Vec<String>)> {
    let (server, _events) = spawn(codex_bin, codex_home).await?;
    let result = list_ours(&server, codex_home).await;
    let _ = server.shutdown().await;
    result
}

/// What [`trust_our_hooks`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustReport {
    /// Keys newly trusted (were untrusted or modified).
    pub trusted: Vec<String>,
    /// Our hooks after the write, as Codex sees them.
    pub hooks: Vec<HookTrust>,
    /// Codex's warnings about the hooks files.
    pub warnings: Vec<String>,
}

/// Records trust for every hook of ours in `codex_home` that Codex does not run yet, the way the
/// TUI does, then re-reads `hooks/list` and fails unless every hook of ours now runs.
pub async fn trust_our_hooks(codex_bin: &Path, codex_home: &Path) -> Result<TrustReport> {
    let (server, _events) = spawn(codex_bin, codex_home).await?;
    let result = trust_with(&server, codex_home).await;
    let _ = server.shutdown().await;
    result
}

async fn trust_with(server: &AppServer, codex_home: &Path) -> Result<TrustReport> {
    let (ours, _) = list_ours(server, codex_home).await?;
    if ours.is_empty() {
        return Err(Error::Trust(format!(
            "Codex lists no OrbitDock hook in {}; install them first",
            codex_home.display()
        )));
    }
    let mut value = serde_json::Map::new();
    let mut trusted = Vec::new();
    for h in ours.iter().filter(|h| !h.runs()) {
        value.insert(
            h.hook.key.clone(),
            serde_json::json!({ "trusted_hash": h.hook.current_hash }),
        );
        trusted.push(h.hook.key.clone());
    }
    if !value.is_empty() {
        server
            .call::<ConfigBatchWrite>(ConfigBatchWriteParams {
                edits: vec![ConfigEdit {
                    key_path: "hooks.state".to_owned(),
                    merge_strategy: "upsert".to_owned(),
                    value: serde_json::Value::Object(value),
                }],
                ..Default::default()
            })
            .await
            .map_err(|source| Error::AppServer {
                what: "config/batchWrite hooks.state",
                source,
            })?;
    }
    let (hooks, warnings) = list_ours(server, codex_home).await?;
    let not_running: Vec<String> = hooks
        .iter()
        .filter(|h| !h.runs())
        .map(|h| format!("{} ({:?})", h.hook.key, h.hook.trust_status))
        .collect();
    if !not_running.is_empty() {
        return Err(Error::Trust(format!(
            "Codex still does not run: {}",
            not_running.join(", ")
        )));
    }
    Ok(TrustReport {
        trusted,
        hooks,
        warnings,
    })
}

/// The server and its event receiver (kept open while the server is used: notifications such as
/// `remoteControl/status/changed` arrive unasked).
type Spawned = (
    AppServer,
    tokio::sync::mpsc::Receiver<codex_client::app_server::AppServerEvent>,
);

async fn spawn(codex_bin: &Path, codex_home: &Path) -> Result<Spawned> {
    AppServerBuilder::new(codex_bin, codex_home)
        .client_info("orbitdock-hooks", env!("CARGO_PKG_VERSION"))
        .current_dir(codex_home)
        .request_timeout(Duration::from_secs(30))
        .spawn()
        .await
        .map_err(|source| Error::AppServer {
            what: "spawn",
            source,
        })
}

async fn list_ours(server: &AppServer, codex_home: &Path) -> Result<(Vec<HookTrust>, Vec<String>)> {
    let listed = server
        .call::<HooksList>(HooksListParams {
            cwds: vec![codex_home.to_string_lossy().into_owned()],
            thread_id: None,
        })
        .await
        .map_err(|source| Error::AppServer {
            what: "hooks/list",
            source,
        })?;
    let files = [
        canonical(&codex_home.join(HOOKS_JSON)),
        canonical(&codex_home.join(CONFIG_TOML)),
    ];
    let mut ours = Vec::new();
    let mut warnings = Vec::new();
    for entry in listed.data {
        warnings.extend(entry.warnings);
        for hook in entry.hooks {
            let in_home = files.contains(&canonical(Path::new(&hook.source_path)));
            let is_ours = hook.command.as_deref().is_some_and(is_our_command);
            if in_home && is_ours && !ours.iter().any(|h: &HookTrust| h.hook.key == hook.key) {
                ours.push(HookTrust { hook });
            }
        }
    }
    warnings.dedup();
    Ok((ours, warnings))
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| {
        p.parent()
            .and_then(|d| d.canonicalize().ok())
            .and_then(|d| p.file_name().map(|n| d.join(n)))
            .unwrap_or_else(|| p.to_path_buf())
    })
}
