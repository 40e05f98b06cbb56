//! `codex doctor --json`: Codex's own diagnosis of the installation, config, auth, network,
//! sandbox and state, as a typed report.
//!
//! Observed on 0.169: the JSON report (`schemaVersion` 1) is printed on stdout whatever the
//! outcome; the exit code is 1 when `overallStatus` is `fail`. Checks are keyed by id
//! (`auth.credentials`, `network.provider_reachability`, `updates.status`, ...). Doctor reaches
//! out to the network: the configured provider (`HEAD {base_url}/responses`, `GET
//! {base_url}/models`) and the latest-release probe (`api.github.com`, through the standard
//! `HTTPS_PROXY` if set) — an offline host sees those checks fail or warn, which is reported,
//! not an error here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CliCommand, CliOptions, CliOutput, cli_options};
use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

/// A check's (or the report's) status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warning,
    Fail,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// One check of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorCheck {
    pub id: String,
    #[serde(default)]
    pub category: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub summary: String,
    /// Free-form key -> string (or list) details, kept raw.
    #[serde(default)]
    pub details: Value,
    #[serde(default)]
    pub remediation: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// `codex doctor --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub schema_version: u32,
    #[serde(default)]
    pub generated_at: Option<String>,
    pub overall_status: CheckStatus,
    #[serde(default)]
    pub codex_version: Option<String>,
    /// Check id -> check.
    pub checks: BTreeMap<String, DoctorCheck>,
}

impl DoctorReport {
    /// The check with `id`.
    pub fn check(&self, id: &str) -> Option<&DoctorCheck> {
        self.checks.get(id)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &DoctorCheck> {
        self.checks
            .values()
            .filter(|c| c.status == CheckStatus::Fail)
    }
}

/// `codex doctor`.
#[derive(Debug, Clone)]
pub struct Doctor {
    binary: CodexBinary,
    home: CodexHome,
    network_only: bool,
    all: bool,
    options: CliOptions,
}

cli_options!(Doctor);

impl Doctor {
    /// A full diagnosis of `home`.
    pub fn new(binary: &CodexBinary, home: &CodexHome) -> Self {
        Doctor {
            binary: binary.clone(),
            home: home.clone(),
            network_only: false,
            all: false,
            options: CliOptions::default(),
        }
    }

    /// `--network-only`: config, network environment, provider and WebSocket checks only.
    pub fn network_only(mut self, yes: bool) -> Self {
        self.network_only = yes;
        self
    }

    /// `--all`: expand long lists.
    pub fn all(mut self, yes: bool) -> Self {
        self.all = yes;
        self
    }

    /// The invocation (always `--json`).
    pub fn command(&self) -> Result<CliCommand> {
        Ok(CliCommand::new(&self.binary, &self.home, &["doctor"])
            .with_options(self.options.clone())
            .flag("--json")
            .flag_if(self.network_only, "--network-only")
            .flag_if(self.all, "--all"))
    }

    /// Runs and captures the raw output.
    pub async fn output(self) -> Result<CliOutput> {
        self.command()?.output().await
    }

    /// Runs and parses the report (a failing diagnosis is still `Ok`: see
    /// [`DoctorReport::overall_status`]). Output that is not a report is
    /// [`Error::UnexpectedOutput`] (or [`Error::Exited`] when Codex failed before reporting).
    pub async fn run(self) -> Result<DoctorReport> {
        let out = self.output().await?;
        match serde_json::from_str::<DoctorReport>(&out.stdout) {
            Ok(report) => Ok(report),
            Err(e) if out.status.success() || !out.stdout.trim().is_empty() => {
                Err(Error::UnexpectedOutput {
                    command: "doctor --json".into(),
                    message: format!("{e}: {}", out.stdout),
                })
            }
            Err(_) => Err(out.check("doctor").err().unwrap_or(Error::Closed {
                reason: "doctor produced no report".into(),
            })),
        }
    }
}
