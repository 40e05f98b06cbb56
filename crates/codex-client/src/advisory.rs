//! Update advisory: is a newer Codex CLI published than the one installed (and the one pinned)?
//!
//! The newest version comes from the npm registry — `GET {registry}/-/package/@openai/codex/dist-tags`
//! (a few hundred bytes: `{"latest": "0.171.0", "alpha": ...}`) — or from a URL the host
//! supplies (answering dist-tags JSON, `{"version": "..."}` or a bare version string), always
//! with a short timeout. The result is advice only: nothing is ever installed; a host that
//! wants to update runs [`crate::binary::install_version`] (or its own installer) itself.
//!
//! Codex's own update check (the TUI's `check_for_update_on_startup`, `codex doctor`'s
//! `updates.status`) asks GitHub instead and keeps `$CODEX_HOME/version.json`; this module does
//! not touch that file.

use std::time::Duration;

use serde_json::Value;

use crate::binary::{CodexVersion, NPM_PACKAGE, PINNED_VERSION};
use crate::{Error, Result};

/// The public npm registry.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// Default bound on the whole request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the newest published version is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseSource {
    /// An npm registry (base URL, e.g. [`NPM_REGISTRY`] or a mirror) and a dist-tag (`latest`).
    Npm { registry: String, tag: String },
    /// A host-supplied URL answering dist-tags JSON, `{"version": ...}` or a bare version.
    Url(String),
}

impl Default for ReleaseSource {
    fn default() -> Self {
        ReleaseSource::Npm {
            registry: NPM_REGISTRY.to_owned(),
            tag: "latest".to_owned(),
        }
    }
}

impl ReleaseSource {
    /// The npm registry at `registry` (`latest` tag).
    pub fn npm(registry: impl Into<String>) -> Self {
        ReleaseSource::Npm {
            registry: registry.into(),
            tag: "latest".to_owned(),
        }
    }

    /// The URL requested.
    pub fn url(&self) -> String {
        match self {
            ReleaseSource::Npm { registry, .. } => format!(
                "{}/-/package/{NPM_PACKAGE}/dist-tags",
                registry.trim_end_matches('/')
            ),
            ReleaseSource::Url(u) => u.clone(),
        }
    }

    fn tag(&self) -> &str {
        match self {
            ReleaseSource::Npm { tag, .. } => tag,
            ReleaseSource::Url(_) => "latest",
        }
    }
}

/// How the installed version compares with the newest published one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateStatus {
    /// Installed == newest.
    UpToDate,
    /// A newer version is published.
    UpdateAvailable,
    /// The installed version is newer than what the source calls newest (a pre-release, a
    /// lagging mirror).
    Ahead,
}

/// The advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAdvisory {
    /// The newest published version.
    pub latest: CodexVersion,
    /// The version that runs.
    pub installed: CodexVersion,
    /// The version this crate is tested against.
    pub pinned: CodexVersion,
    pub status: UpdateStatus,
    /// Whether the newest published version is newer than the pinned one (so this crate has not
    /// been checked against it).
    pub newer_than_pinned: bool,
}

impl UpdateAdvisory {
    /// Compares `installed` (and the pinned version) with `latest`.
    pub fn compare(latest: CodexVersion, installed: CodexVersion) -> Self {
        let status = match installed.cmp(&latest) {
            std::cmp::Ordering::Less => UpdateStatus::UpdateAvailable,
            std::cmp::Ordering::Equal => UpdateStatus::UpToDate,
            std::cmp::Ordering::Greater => UpdateStatus::Ahead,
        };
        let pinned = CodexVersion::pinned();
        UpdateAdvisory {
            newer_than_pinned: latest > pinned,
            latest,
            installed,
            pinned,
            status,
        }
    }

    /// A one-line message for a human.
    pub fn message(&self) -> String {
        let base = match self.status {
            UpdateStatus::UpToDate => format!("Codex {} is the newest release", self.installed),
            UpdateStatus::UpdateAvailable => format!(
                "Codex {} is available (installed: {}); update with `npm install -g {NPM_PACKAGE}@{}`",
                self.latest, self.installed, self.latest
            ),
            UpdateStatus::Ahead => format!(
                "installed Codex {} is newer than the newest published ({})",
                self.installed, self.latest
            ),
        };
        if self.newer_than_pinned {
            format!("{base}; this integration is tested with {PINNED_VERSION}")
        } else {
            base
        }
    }
}

/// Asks `source` for the newest version (bounded by `timeout`) and compares it with
/// `installed`. Never installs anything.
pub async fn check(
    source: &ReleaseSource,
    installed: &CodexVersion,
    timeout: Duration,
) -> Result<UpdateAdvisory> {
    let latest = latest_version(source, timeout).await?;
    Ok(UpdateAdvisory::compare(latest, installed.clone()))
}

/// The newest version `source` reports.
pub async fn latest_version(source: &ReleaseSource, timeout: Duration) -> Result<CodexVersion> {
    let url = source.url();
    let fail = |message: String| Error::UnexpectedOutput {
        command: format!("GET {url}"),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("codex-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let response = client
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                Error::Timeout {
                    method: format!("GET {url}"),
                    after: timeout,
                }
            } else {
                fail(e.to_string())
            }
        })?;
    let status = response.status();
    // Release metadata is small; anything large is not what we asked for.
    let body = response.text().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}: {}", truncate(&body, 200))));
    }
    parse_latest(&body, source.tag()).map_err(fail)
}

/// Extracts a version from dist-tags JSON (`{"latest": ...}`), a package document
/// (`{"version": ...}` or `{"dist-tags": {...}}`) or a bare version string.
pub fn parse_latest(body: &str, tag: &str) -> std::result::Result<CodexVersion, String> {
    let trimmed = body.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        let found = v
            .get(tag)
            .or_else(|| v.get("dist-tags").and_then(|d| d.get(tag)))
            .or_else(|| v.get("version"))
            .and_then(Value::as_str)
            .or_else(|| v.as_str());
        return match found {
            Some(s) => CodexVersion::parse(s),
            None => Err(format!(
                "no `{tag}` or `version` in the answer: {}",
                truncate(trimmed, 200)
            )),
        };
    }
    CodexVersion::parse(trimmed)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> CodexVersion {
        CodexVersion::parse(s).expect("version")
    }

    #[test]
    fn parses_every_answer_shape() {
        assert_eq!(
            parse_latest(
                r#"{"latest":"0.171.0","alpha":"0.172.0-alpha.1"}"#,
                "latest"
            ),
            Ok(v("0.171.0"))
        );
        assert_eq!(
            parse_latest(r#"{"latest":"0.171.0","alpha":"0.172.0-alpha.1"}"#, "alpha"),
            Ok(v("0.172.0-alpha.1"))
        );
        assert_eq!(
            parse_latest(r#"{"name":"@openai/codex","version":"0.170.0"}"#, "latest"),
            Ok(v("0.170.0"))
        );
        assert_eq!(
            parse_latest(r#"{"dist-tags":{"latest":"0.171.0"}}"#, "latest"),
            Ok(v("0.171.0"))
        );
        assert_eq!(parse_latest("0.171.0\n", "latest"), Ok(v("0.171.0")));
        assert!(parse_latest(r#"{"nope":1}"#, "latest").is_err());
        assert!(parse_latest("<html>", "latest").is_err());
    }

    #[test]
    fn compares_installed_pinned_and_latest() {
        let a = UpdateAdvisory::compare(v("0.171.0"), CodexVersion::pinned());
        assert_eq!(a.status, UpdateStatus::UpdateAvailable);
        assert!(a.newer_than_pinned);
        assert!(a.message().contains("0.171.0") && a.message().contains(PINNED_VERSION));
        let same = UpdateAdvisory::compare(CodexVersion::pinned(), CodexVersion::pinned());
        assert_eq!(same.status, UpdateStatus::UpToDate);
        assert!(!same.newer_than_pinned);
        assert_eq!(
            UpdateAdvisory::compare(v("0.100.0"), CodexVersion::pinned()).status,
            UpdateStatus::Ahead
        );
        assert_eq!(
            ReleaseSource::npm("http://127.0.0.1:1/").url(),
            "http://127.0.0.1:1/-/package/@openai/codex/dist-tags"
        );
    }
}
