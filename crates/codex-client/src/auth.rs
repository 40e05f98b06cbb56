//! Login state: `codex login status`, API-key login (key on stdin, never on argv), logout, and
//! reading `auth.json` directly.
//!
//! `codex login status` prints to STDERR and answers with its exit code (0 logged in, 1 not), so
//! the status is taken from the exit code and the text is parsed only for detail. The key goes
//! through stdin so it never appears in `ps` output.

use std::time::Duration;

use serde::Deserialize;

use crate::binary::CodexBinary;
use crate::config::{ConfigFile, CredentialStore};
use crate::home::CodexHome;
use crate::{Error, Result};

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// What `codex login status` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStatus {
    /// Not logged in (exit 1).
    LoggedOut,
    /// An API key is configured; `masked` is Codex's masked rendering (`sk-test-***56789`).
    ApiKey { masked: Option<String> },
    /// Logged in with ChatGPT (or another mode); `detail` is Codex's line.
    ChatGpt { detail: String },
    /// Logged in, in a way this crate does not recognise; `detail` is Codex's text.
    Other { detail: String },
}

impl LoginStatus {
    pub fn is_logged_in(&self) -> bool {
        !matches!(self, LoginStatus::LoggedOut)
    }

    /// Interprets `login status`'s exit code and text (stderr, plus stdout in case that moves).
    /// `WARNING:` lines (e.g. about helper binaries in temp dirs) are ignored.
    pub fn parse(exit_code: Option<i32>, text: &str) -> Result<Self> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("WARNING:"))
            .collect();
        let find = |needle: &str| lines.iter().copied().find(|l| l.contains(needle));
        match exit_code {
            Some(1) if lines.is_empty() || find("Not logged in").is_some() => {
                Ok(LoginStatus::LoggedOut)
            }
            Some(0) => {
                if let Some(line) = find("API key configured") {
                    let rest = line.split_once("API key configured").map_or("", |(_, r)| r);
                    let masked = rest.trim_start_matches([' ', '-']).trim();
                    Ok(LoginStatus::ApiKey {
                        masked: (!masked.is_empty()).then(|| masked.to_owned()),
                    })
                } else if let Some(line) = find("ChatGPT") {
                    Ok(LoginStatus::ChatGpt {
                        detail: line.to_owned(),
                    })
                } else {
                    Ok(LoginStatus::Other {
                        detail: lines.join("\n"),
                    })
                }
            }
            _ => Err(Error::UnexpectedOutput {
                command: "login status".into(),
                message: format!("exit code {exit_code:?}: {}", lines.join("\n")),
            }),
        }
    }
}

/// `codex login status`.
pub async fn status(binary: &CodexBinary, home: &CodexHome) -> Result<LoginStatus> {
    let out = binary
        .run(home, &["login", "status"], None, CLI_TIMEOUT)
        .await?;
    let text = format!("{}\n{}", out.stderr, out.stdout);
    LoginStatus::parse(out.status.code(), &text)
}

/// `codex login --with-api-key`, the key written to stdin. Leaves `auth.json` 0600.
pub async fn login_with_api_key(
    binary: &CodexBinary,
    home: &CodexHome,
    api_key: &str,
) -> Result<()> {
    let key = api_key.trim();
    if key.is_empty() || key.contains(['\n', '\r']) {
        return Err(Error::InvalidInvocation(
            "the API key is empty or spans several lines".into(),
        ));
    }
    home.create()?;
    let input = format!("{key}\n");
    binary
        .run(
            home,
            &["login", "--with-api-key"],
            Some(input.as_bytes()),
            CLI_TIMEOUT,
        )
        .await?
        .success("login --with-api-key")?;
    Ok(())
}

/// `codex logout` (succeeds when already logged out).
pub async fn logout(binary: &CodexBinary, home: &CodexHome) -> Result<()> {
    binary
        .run(home, &["logout"], None, CLI_TIMEOUT)
        .await?
        .success("logout")?;
    Ok(())
}

/// Sets `cli_auth_credentials_store` in the home's config.toml.
pub fn set_credential_store(home: &CodexHome, store: CredentialStore) -> Result<()> {
    let mut cfg = ConfigFile::load_home(home)?;
    cfg.set_credential_store(store)?;
    cfg.save()
}

/// The parts of `auth.json` a hub needs (never the tokens themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    /// `apikey`, `chatgpt`, ... (`None` if the file does not say).
    pub auth_mode: Option<String>,
    pub has_api_key: bool,
    pub has_tokens: bool,
}

/// Reads `auth.json`; `Ok(None)` if there is none. A malformed file is an error naming it.
pub fn read_auth_file(home: &CodexHome) -> Result<Option<AuthFile>> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        auth_mode: Option<String>,
        #[serde(default, rename = "OPENAI_API_KEY")]
        api_key: Option<String>,
        #[serde(default)]
        tokens: Option<serde_json::Value>,
    }
    let path = home.auth_json();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|e| Error::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(Some(AuthFile {
        auth_mode: raw.auth_mode,
        has_api_key: raw.api_key.is_some_and(|k| !k.is_empty()),
        has_tokens: raw.tokens.is_some_and(|t| !t.is_null()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_texts_seen_on_0_169() {
        assert_eq!(
            LoginStatus::parse(Some(1), "Not logged in\n").expect("p"),
            LoginStatus::LoggedOut
        );
        assert_eq!(
            LoginStatus::parse(
                Some(0),
                "API key configured - sk-test-***56789\nAuthentication is checked when you send a request.\n"
            )
            .expect("p"),
            LoginStatus::ApiKey {
                masked: Some("sk-test-***56789".into())
            }
        );
        assert!(matches!(
            LoginStatus::parse(Some(0), "Logged in using ChatGPT\n").expect("p"),
            LoginStatus::ChatGpt { .. }
        ));
        assert!(matches!(
            LoginStatus::parse(Some(0), "something new").expect("p"),
            LoginStatus::Other { .. }
        ));
        assert!(LoginStatus::parse(Some(2), "error: unexpected argument").is_err());
        assert!(LoginStatus::parse(None, "").is_err(), "killed by a signal");
    }

    #[test]
    fn auth_file_reading() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = CodexHome::new(tmp.path());
        assert_eq!(read_auth_file(&home).expect("none"), None);
        std::fs::write(
            home.auth_json(),
            r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-x"}"#,
        )
        .expect("w");
        assert_eq!(
            read_auth_file(&home).expect("read"),
            Some(AuthFile {
                auth_mode: Some("apikey".into()),
                has_api_key: true,
                has_tokens: false
            })
        );
        std::fs::write(home.auth_json(), "{trunc").expect("w");
        assert!(matches!(read_auth_file(&home), Err(Error::Config { .. })));
    }
}
