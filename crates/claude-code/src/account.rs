//! Account state: can the CLI talk to a model, and if not, what should the user do?
//!
//! Two views:
//! - [`AccountState::detect`] looks, without running anything, at the environment the CLI would
//!   get (an API key or token variable, a third-party provider switch) and at the config dir
//!   (`$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`) for a login's `.credentials.json` (where the
//!   CLI keeps it on Linux; on macOS a login lives in the keychain, which this cannot see).
//! - [`auth_status`] asks the CLI itself: `claude auth status` prints JSON
//!   (`loggedIn`, `authMethod`, `apiKeySource`, `configDirectory`, ...) and exits 0 when logged
//!   in, 1 when not (verified with 2.1.332, also offline).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

use crate::{Error, Result};

/// Environment variables that carry a credential, in the CLI's order of precedence.
pub const CREDENTIAL_ENV_VARS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
];

/// Environment switches that route the CLI to a cloud provider with its own credentials.
pub const PROVIDER_ENV_VARS: &[&str] = &[
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
];

const AUTH_STATUS_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the CLI's credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A key or token in this environment variable.
    EnvVar(String),
    /// A cloud provider switch (its credentials are the provider's business).
    Provider(String),
    /// A login stored in this file (`claude auth login` / `/login`).
    Login(PathBuf),
    /// Nothing found.
    None,
}

/// What [`AccountState::detect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub credential: Credential,
    /// The config dir that was looked at.
    pub config_dir: PathBuf,
}

impl AccountState {
    /// Looks at `env` (the variables the CLI would get; pass `std::env::vars_os()` plus the
    /// session's additions) and the config dir they imply.
    pub fn detect<I, K, V>(env: I) -> AccountState
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| {
                (
                    k.into().to_string_lossy().into_owned(),
                    v.into().to_string_lossy().into_owned(),
                )
            })
            .collect();
        let get = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let config_dir = match (get("CLAUDE_CONFIG_DIR"), get("HOME")) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(home)) => Path::new(&home).join(".claude"),
            (None, None) => PathBuf::from(".claude"),
        };
        let credential = if let Some(var) = CREDENTIAL_ENV_VARS.iter().find(|v| get(v).is_some()) {
            Credential::EnvVar((*var).to_owned())
        } else if let Some(var) = PROVIDER_ENV_VARS
            .iter()
            .find(|v| get(v).is_some_and(|x| x != "0" && x != "false"))
        {
            Credential::Provider((*var).to_owned())
        } else {
            let file = config_dir.join(".credentials.json");
            if file.is_file() {
                Credential::Login(file)
            } else {
                Credential::None
            }
        };
        AccountState {
            credential,
            config_dir,
        }
    }

    /// Whether the CLI has something to authenticate with.
    pub fn is_ready(&self) -> bool {
        self.credential != Credential::None
    }

    /// One line for a human: what was found, or what to do.
    pub fn summary(&self) -> String {
        match &self.credential {
            Credential::EnvVar(var) => format!("Using the key in ${var}."),
            Credential::Provider(var) => {
                format!("Using a cloud provider (${var}); its own credentials apply.")
            }
            Credential::Login(file) => format!("Logged in ({}).", file.display()),
            Credential::None => format!(
                "Claude Code has no credentials: set ANTHROPIC_API_KEY in the hub's environment, \
                 or log in once with `CLAUDE_CONFIG_DIR={} claude auth login` (or `claude` then \
                 /login).",
                self.config_dir.display()
            ),
        }
    }
}

/// `claude auth status` as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthStatus {
    #[serde(rename = "loggedIn")]
    pub logged_in: bool,
    /// `none`, `api_key`, `claude.ai`, ...
    #[serde(rename = "authMethod", default)]
    pub auth_method: Option<String>,
    #[serde(rename = "apiKeySource", default)]
    pub api_key_source: Option<String>,
    #[serde(rename = "apiProvider", default)]
    pub api_provider: Option<String>,
    #[serde(rename = "configDirectory", default)]
    pub config_directory: Option<String>,
}

/// Runs `claude auth status` with these extra environment variables (e.g. the session's
/// `CLAUDE_CONFIG_DIR`, `ANTHROPIC_API_KEY`), bounded by a timeout.
pub async fn auth_status<I, K, V>(program: &Path, envs: I) -> Result<AuthStatus>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    let mut cmd = Command::new(program);
    cmd.args(["auth", "status"])
        .envs(envs.into_iter().map(|(k, v)| (k.into(), v.into())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(AUTH_STATUS_TIMEOUT, cmd.output())
        .await
        .map_err(|_| Error::Timeout {
            subtype: "auth status".into(),
            after: AUTH_STATUS_TIMEOUT,
        })?
        .map_err(|source| Error::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Exit 1 means "not logged in" and still prints the JSON; only a non-JSON answer is an error.
    serde_json::from_str(stdout.trim()).map_err(|e| Error::UnexpectedOutput {
        command: "auth status".into(),
        message: format!(
            "{e}; exit {:?}; stdout {:?}; stderr {:?}",
            output.status.code(),
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_key_wins_then_login_file_then_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = tmp.path().join("cfg");
        std::fs::create_dir_all(&cfg).expect("mkdir");
        let base = [("CLAUDE_CONFIG_DIR", cfg.to_string_lossy().into_owned())];

        let none = AccountState::detect(base.clone());
        assert_eq!(none.credential, Credential::None);
        assert!(!none.is_ready());
        assert!(
            none.summary().contains("ANTHROPIC_API_KEY"),
            "{}",
            none.summary()
        );
        assert!(none.summary().contains(&cfg.display().to_string()));

        std::fs::write(cfg.join(".credentials.json"), "{}").expect("write");
        let login = AccountState::detect(base.clone());
        assert_eq!(
            login.credential,
            Credential::Login(cfg.join(".credentials.json"))
        );

        let mut with_key = base.to_vec();
        with_key.push(("ANTHROPIC_API_KEY", "sk-x".into()));
        assert_eq!(
            AccountState::detect(with_key).credential,
            Credential::EnvVar("ANTHROPIC_API_KEY".into())
        );

        let empty_key = [
            ("HOME", tmp.path().to_string_lossy().into_owned()),
            ("ANTHROPIC_API_KEY", String::new()),
        ];
        let s = AccountState::detect(empty_key);
        assert_eq!(s.credential, Credential::None);
        assert_eq!(s.config_dir, tmp.path().join(".claude"));
    }
}
