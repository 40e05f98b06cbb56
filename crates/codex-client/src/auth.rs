//! Login state: `codex login status`, API-key and access-token login (secret on stdin, never on
//! argv), the ChatGPT device-code flow as a typed event stream, logout, and reading `auth.json`
//! directly. The same operations over a long-lived app-server are the typed `account/*`
//! requests in [`crate::app_server::requests`] ([`AccountRead`](crate::app_server::requests::AccountRead),
//! [`AccountLoginStart`](crate::app_server::requests::AccountLoginStart), ...).
//!
//! `codex login status` prints to STDERR and answers with its exit code (0 logged in, 1 not), so
//! the status is taken from the exit code and the text is parsed only for detail. Secrets go
//! through stdin so they never appear in `ps` output, and every type holding one redacts it in
//! `Debug`.
//!
//! Device auth on 0.169 (`codex login --device-auth`), checked against a loopback issuer:
//! 1. `POST {issuer}/api/accounts/deviceauth/usercode {"client_id"}` -> `{device_auth_id,
//!    user_code, interval}`; Codex prints the verification URL (`{issuer}/codex/device`) and the
//!    code on stdout -> [`DeviceAuthEvent::Code`];
//! 2. polls `POST {issuer}/api/accounts/deviceauth/token` (403/404 = pending) every `interval`
//!    seconds, up to 15 minutes;
//! 3. exchanges the code at `POST {issuer}/oauth/token`, writes `auth.json` (0600,
//!    `auth_mode: "chatgpt"`), prints "Successfully logged in" on stderr and exits 0 ->
//!    [`DeviceAuthEvent::Completed`].
//!
//! Offline, step 1 already fails: Codex prints NO code and exits 1 with
//! `Error logging in: error sending request for url (https://auth.openai.com/api/accounts/deviceauth/usercode)`
//! -> [`DeviceAuthEvent::Failed`] with that message (and no `Code` event before it).
//! The issuer and OAuth client id can be overridden with the hidden flags
//! `--experimental_issuer URL` / `--experimental_client-id ID` ([`DeviceAuth::issuer`],
//! [`DeviceAuth::client_id`]; the capability guard probes for them).

use std::time::Duration;

use serde::Deserialize;

use crate::binary::CodexBinary;
use crate::commands::{CliCommand, CliOptions, CliProcess, cli_options};
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

/// `codex login --with-access-token`, the token written to stdin.
pub async fn login_with_access_token(
    binary: &CodexBinary,
    home: &CodexHome,
    access_token: &Secret,
) -> Result<()> {
    let token = access_token.expose().trim();
    if token.is_empty() || token.contains(['\n', '\r']) {
        return Err(Error::InvalidInvocation(
            "the access token is empty or spans several lines".into(),
        ));
    }
    home.create()?;
    CliCommand::new(binary, home, &["login"])
        .flag("--with-access-token")
        .stdin(format!("{token}\n"))
        .timeout(CLI_TIMEOUT)
        .output()
        .await?
        .check("login --with-access-token")?;
    Ok(())
}

/// A secret string (API key, token, client secret): `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself (for the one place that must send it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(redacted(&self.0))
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(redacted(&self.0))
    }
}

/// How a secret is shown: never its content, only whether there is one.
pub(crate) fn redacted(s: &str) -> &'static str {
    if s.is_empty() {
        "<empty>"
    } else {
        "<redacted>"
    }
}

/// The ChatGPT device-code login (`codex login --device-auth`) as a builder; see the module
/// docs for the protocol and what happens offline.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    binary: CodexBinary,
    home: CodexHome,
    issuer: Option<String>,
    client_id: Option<String>,
    options: CliOptions,
}

cli_options!(DeviceAuth);

/// What the user must do to finish a device login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    /// Where to sign in (`{issuer}/codex/device`).
    pub verification_url: String,
    /// The one-time code to enter there (expires after 15 minutes).
    pub user_code: String,
}

/// One step of a device login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAuthEvent {
    /// Show this to the user; Codex now polls until they confirm.
    Code(DeviceCode),
    /// Logged in: `auth.json` holds ChatGPT tokens.
    Completed,
    /// The login failed; `message` is Codex's (e.g. the request error when offline).
    Failed {
        message: String,
        exit_code: Option<i32>,
    },
}

impl DeviceAuth {
    /// A device login into `home`.
    pub fn new(binary: &CodexBinary, home: &CodexHome) -> Self {
        DeviceAuth {
            binary: binary.clone(),
            home: home.clone(),
            issuer: None,
            client_id: None,
            options: CliOptions::default(),
        }
    }

    /// `--experimental_issuer URL`: another OAuth issuer than `https://auth.openai.com`.
    pub fn issuer(mut self, url: impl Into<String>) -> Self {
        self.issuer = Some(url.into());
        self
    }

    /// `--experimental_client-id ID`: another OAuth client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The invocation.
    pub fn command(&self) -> Result<CliCommand> {
        Ok(CliCommand::new(&self.binary, &self.home, &["login"])
            .with_options(self.options.clone())
            .flag("--device-auth")
            .flag_opt("--experimental_issuer", self.issuer.clone())
            .flag_opt("--experimental_client-id", self.client_id.clone()))
    }

    /// Starts the login; read its progress with [`DeviceAuthFlow::next_event`].
    pub fn start(self) -> Result<DeviceAuthFlow> {
        self.home.create()?;
        let process = self.command()?.spawn()?;
        Ok(DeviceAuthFlow {
            process,
            pending_url: None,
            expect: Expect::Nothing,
            code_sent: false,
            done: false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    Url,
    Code,
}

/// A running device login. Dropping it kills the `codex login` process.
#[derive(Debug)]
pub struct DeviceAuthFlow {
    process: CliProcess,
    pending_url: Option<String>,
    expect: Expect,
    code_sent: bool,
    done: bool,
}

impl DeviceAuthFlow {
    /// The next event; `None` after `Completed` or `Failed`. Waiting for `Completed` lasts as
    /// long as the user takes (Codex gives up after 15 minutes): bound it with a timeout or
    /// [`DeviceAuthFlow::cancel`] as the host sees fit.
    pub async fn next_event(&mut self) -> Option<DeviceAuthEvent> {
        if self.done {
            return None;
        }
        while let Some(line) = self.process.next_line().await {
            let Ok(line) = line else { continue };
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            if text.contains("Open this link") {
                self.expect = Expect::Url;
                continue;
            }
            if text.contains("Enter this one-time code") {
                self.expect = Expect::Code;
                continue;
            }
            match self.expect {
                Expect::Url => {
                    self.pending_url = Some(text.to_owned());
                    self.expect = Expect::Nothing;
                }
                Expect::Code if !self.code_sent => {
                    self.expect = Expect::Nothing;
                    if let Some(url) = self.pending_url.take() {
                        self.code_sent = true;
                        return Some(DeviceAuthEvent::Code(DeviceCode {
                            verification_url: url,
                            user_code: text.to_owned(),
                        }));
                    }
                }
                _ => {}
            }
        }
        self.done = true;
        let status = match self.process.wait().await {
            Ok(s) => s,
            Err(e) => {
                return Some(DeviceAuthEvent::Failed {
                    message: e.to_string(),
                    exit_code: None,
                });
            }
        };
        if status.success() {
            return Some(DeviceAuthEvent::Completed);
        }
        let stderr = self.process.stderr_tail();
        let message = stderr
            .lines()
            .map(str::trim)
            .find_map(|l| {
                l.strip_prefix("Error logging in: ")
                    .or_else(|| l.strip_prefix("Error: "))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| stderr.trim().to_owned());
        Some(DeviceAuthEvent::Failed {
            message,
            exit_code: status.code(),
        })
    }

    /// Stops the login (kills `codex login`); nothing is written.
    pub async fn cancel(&mut self) -> Result<()> {
        self.done = true;
        self.process.kill().await.map(|_| ())
    }
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
