//! Codex hosts: app-servers on other machines (or under other `CODEX_HOME`s) that the hub can
//! reach over Codex's own transports — SSH (`ssh HOST codex app-server`), Codex's WebSocket
//! listener with a capability token, or a Unix socket — never a protocol of our own.
//!
//! The registry is `DATA_DIR/hosts.json` (0600), one entry per host name; a host's token is
//! copied to `DATA_DIR/hosts/NAME.token` (0600 in a 0700 directory) so the hub never depends
//! on where the user kept it, and is never printed, logged or served: [`HostEntry`] records only
//! whether there is one. Plain `ws://` to a non-loopback address is refused unless the entry
//! says `allow_insecure_ws`: the token (and every prompt) would cross the network in clear text;
//! SSH or a private network (Tailscale, WireGuard) is the recommended route.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_client::app_server::{
    CommandEndpoint, Endpoint, Framing, ReconnectPolicy, RemoteBuilder, WsToken,
};
use serde::{Deserialize, Serialize};

use crate::data_dir::write_private;
use crate::error::{Error, Result};

/// Where a host's app-server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostUrl {
    /// `ssh://[user@]host[:port]`: the hub runs `ssh … codex app-server` (JSON lines on the
    /// SSH channel's stdio), so nothing listens on the network on the other side.
    Ssh {
        /// Login name (`None`: ssh's default).
        user: Option<String>,
        /// Host name or address.
        host: String,
        /// Port (`None`: ssh's default).
        port: Option<u16>,
    },
    /// `ws://host:port`: Codex's own listener (`codex app-server --listen ws://… --ws-auth
    /// capability-token`).
    WebSocket {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// `unix:///path`: an app-server socket on this machine (another `CODEX_HOME`).
    Unix(PathBuf),
}

impl HostUrl {
    /// Parses the three forms `orbitdock hosts add` takes.
    pub fn parse(s: &str) -> Result<HostUrl> {
        let bad = |why: &str| {
            Error::BadRequest(format!(
                "{s:?} is not a host address ({why}); use ssh://[user@]host[:port], ws://host:port or unix:///path"
            ))
        };
        if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute"));
            }
            return Ok(HostUrl::Unix(PathBuf::from(path)));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("expected only a host and a port"));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u.to_owned()), h),
            Some(_) => return Err(bad("empty user name")),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("invalid port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        match scheme {
            "ssh" => Ok(HostUrl::Ssh { user, host, port }),
            "ws" => {
                if user.is_some() {
                    return Err(bad("ws:// takes no user name; the token authenticates"));
                }
                let port = port.ok_or_else(|| bad("ws:// needs a port"))?;
                Ok(HostUrl::WebSocket { host, port })
            }
            "wss" => Err(bad(
                "wss:// is not supported by Codex's listener; use ssh:// or a private network",
            )),
            _ => Err(bad("unknown scheme")),
        }
    }

    /// Whether the address is this machine (loopback name or address, or a Unix socket).
    pub fn is_local(&self) -> bool {
        match self {
            HostUrl::Unix(_) => true,
            HostUrl::Ssh { host, .. } | HostUrl::WebSocket { host, .. } => is_loopback(host),
        }
    }
}

impl fmt::Display for HostUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostUrl::Ssh { user, host, port } => {
                f.write_str("ssh://")?;
                if let Some(u) = user {
                    write!(f, "{u}@")?;
                }
                write!(f, "{}", bracket(host))?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
            HostUrl::WebSocket { host, port } => write!(f, "ws://{}:{port}", bracket(host)),
            HostUrl::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(v6) = s.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if rest.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), Some(p.parse().ok()?))),
        None => Some((s.to_owned(), None)),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One registered host, as stored in `hosts.json` (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    /// The name sessions and commands use.
    pub name: String,
    /// `ssh://…`, `ws://…` or `unix://…`.
    pub url: String,
    /// A capability token is stored for it (`DATA_DIR/hosts/NAME.token`).
    #[serde(default)]
    pub has_token: bool,
    /// The user allowed plain `ws://` to a non-loopback address.
    #[serde(default)]
    pub allow_insecure_ws: bool,
    /// The `codex` command on the host, for `ssh://` hosts (default `codex` on its PATH). The
    /// remote shell reads it, so `CODEX_HOME=/srv/codex /opt/codex/bin/codex` works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_codex: Option<String>,
    /// Extra `ssh -o` options for `ssh://` hosts (`IdentityFile=…`, `UserKnownHostsFile=…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_options: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct HostsFile {
    #[serde(default)]
    hosts: Vec<HostEntry>,
}

/// What `hosts add` takes.
#[derive(Debug, Clone, Default)]
pub struct NewHost {
    /// Name (letters, digits, `-`, `_`, `.`; at most 64).
    pub name: String,
    /// Address.
    pub url: String,
    /// A file holding the capability token (`ws://` hosts).
    pub token_file: Option<PathBuf>,
    /// Allow plain `ws://` to a non-loopback address.
    pub allow_insecure_ws: bool,
    /// The `codex` command on an `ssh://` host.
    pub remote_codex: Option<String>,
    /// Extra `ssh -o` options for an `ssh://` host.
    pub ssh_options: Vec<String>,
}

/// The host registry of one data directory.
#[derive(Debug, Clone)]
pub struct Hosts {
    data_dir: PathBuf,
}

impl Hosts {
    /// The registry under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Hosts {
            data_dir: data_dir.into(),
        }
    }

    /// `DATA_DIR/hosts.json`.
    pub fn file(&self) -> PathBuf {
        self.data_dir.join("hosts.json")
    }

    fn token_dir(&self) -> PathBuf {
        self.data_dir.join("hosts")
    }

    /// Where a host's token is kept.
    pub fn token_path(&self, name: &str) -> PathBuf {
        self.token_dir().join(format!("{name}.token"))
    }

    fn read(&self) -> Result<HostsFile> {
        let path = self.file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Decode {
                what: path.display().to_string(),
                source: e,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostsFile::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn write(&self, file: &HostsFile) -> Result<()> {
        crate::data_dir::ensure_dir(&self.data_dir)?;
        let text = serde_json::to_string_pretty(file).map_err(|e| Error::Decode {
            what: "hosts".into(),
            source: e,
        })?;
        write_private(&self.file(), &text)
    }

    /// Every host, in the order they were added.
    pub fn list(&self) -> Result<Vec<HostEntry>> {
        Ok(self.read()?.hosts)
    }

    /// One host.
    pub fn get(&self, name: &str) -> Result<HostEntry> {
        self.list()?
            .into_iter()
            .find(|h| h.name == name)
            .ok_or_else(|| Error::BadRequest(format!("no host named {name:?}")))
    }

    /// Registers a host. Refuses a taken name, an unparsable address, a token for a host that
    /// cannot use one, and plain `ws://` to a non-loopback address without `allow_insecure_ws`.
    pub fn add(&self, new: &NewHost) -> Result<HostEntry> {
        self.add_with_token(new, None)
    }

    /// [`Hosts::add`] with the token given as text (`POST /api/hosts`) rather than as
    /// `new.token_file`; it is written to the host's private token file like one read from a file.
    pub fn add_with_token(&self, new: &NewHost, token_text: Option<&str>) -> Result<HostEntry> {
        validate_name(&new.name)?;
        if new.token_file.is_some() && token_text.is_some() {
            return Err(Error::BadRequest(
                "give the token either as a file or as text, not both".into(),
            ));
        }
        let url = HostUrl::parse(&new.url)?;
        if let HostUrl::WebSocket { host, .. } = &url
            && !is_loopback(host)
            && !new.allow_insecure_ws
        {
            return Err(Error::BadRequest(format!(
                "refusing plain ws:// to {host}: the token and every prompt would cross the network unencrypted. \
                 Use ssh://{host} instead, or a private network (Tailscale, WireGuard) and pass --allow-insecure-ws"
            )));
        }
        if (new.remote_codex.is_some() || !new.ssh_options.is_empty())
            && !matches!(url, HostUrl::Ssh { .. })
        {
            return Err(Error::BadRequest(
                "--remote-codex and --ssh-option are for ssh:// hosts only".into(),
            ));
        }
        if (new.token_file.is_some() || token_text.is_some())
            && !matches!(url, HostUrl::WebSocket { .. })
        {
            return Err(Error::BadRequest(
                "a token is for ws:// hosts only (ssh:// uses your SSH keys)".into(),
            ));
        }
        let mut file = self.read()?;
        if file.hosts.iter().any(|h| h.name == new.name) {
            return Err(Error::Conflict(format!(
                "a host named {:?} exists; remove it first",
                new.name
            )));
        }
        let token = match (&new.token_file, token_text) {
            (None, Some(t)) => Some(WsToken::new(t.trim())).filter(|t| !t.expose().is_empty()),
            (None, None) => None,
            (Some(f), _) => {
                let t = WsToken::from_file(f)?;
                if t.expose().is_empty() {
                    return Err(Error::BadRequest(format!(
                        "the token file {} is empty",
                        f.display()
                    )));
                }
                Some(t)
            }
        };
        if let Some(t) = &token {
            let dir = self.token_dir();
            crate::data_dir::ensure_dir(&dir)?;
            write_private(&self.token_path(&new.name), t.expose())?;
        }
        let entry = HostEntry {
            name: new.name.clone(),
            url: url.to_string(),
            has_token: token.is_some(),
            allow_insecure_ws: new.allow_insecure_ws,
            remote_codex: new.remote_codex.clone(),
            ssh_options: new.ssh_options.clone(),
        };
        file.hosts.push(entry.clone());
        self.write(&file)?;
        Ok(entry)
    }

    /// Forgets a host and deletes its token.
    pub fn remove(&self, name: &str) -> Result<HostEntry> {
        let mut file = self.read()?;
        let at = file
            .hosts
            .iter()
            .position(|h| h.name == name)
            .ok_or_else(|| Error::BadRequest(format!("no host named {name:?}")))?;
        let entry = file.hosts.remove(at);
        self.write(&file)?;
        let token = self.token_path(name);
        match std::fs::remove_file(&token) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&token, e)),
        }
        Ok(entry)
    }

    /// How to reach a host's app-server.
    pub fn endpoint(&self, entry: &HostEntry) -> Result<Endpoint> {
        let token = if entry.has_token {
            Some(WsToken::from_file(self.token_path(&entry.name))?)
        } else {
            None
        };
        Ok(match HostUrl::parse(&entry.url)? {
            HostUrl::Unix(path) => Endpoint::unix(path),
            HostUrl::WebSocket { host, port } => {
                Endpoint::websocket(format!("ws://{}:{port}", bracket(&host)), token)
            }
            HostUrl::Ssh { user, host, port } => {
                let target = match user {
                    Some(u) => format!("{u}@{host}"),
                    None => host,
                };
                let mut ssh = CommandEndpoint::new("ssh", Framing::JsonLines)
                    // No password prompt can be answered (stdin is the JSON-RPC stream), and a
                    // remote shell must not get a terminal.
                    .args(["-T", "-o", "BatchMode=yes"]);
                for o in &entry.ssh_options {
                    ssh = ssh.arg("-o").arg(o);
                }
                if let Some(p) = port {
                    ssh = ssh.arg("-p").arg(p.to_string());
                }
                Endpoint::Command(
                    ssh.arg(target)
                        .arg("--")
                        .arg(entry.remote_codex.as_deref().unwrap_or("codex"))
                        .arg("app-server"),
                )
            }
        })
    }

    /// Connects once to a host's app-server and reports who answered.
    pub async fn probe(&self, entry: &HostEntry, timeout: Duration) -> Result<HostProbe> {
        let endpoint = self.endpoint(entry)?;
        let (server, _events) = RemoteBuilder::new(endpoint)
            .client_info("orbitdock", env!("CARGO_PKG_VERSION"))
            .reconnect(ReconnectPolicy::never())
            .allow_insecure_remote(entry.allow_insecure_ws)
            .connect_timeout(timeout)
            .initialize_timeout(timeout)
            .connect()
            .await?;
        let init = server.initialize_response().clone();
        let _ = server.shutdown().await;
        Ok(HostProbe {
            codex_version: codex_version(&init.user_agent),
            user_agent: init.user_agent,
            codex_home: init.codex_home,
        })
    }
}

/// What a host's app-server said when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostProbe {
    /// Its Codex version (`None` when its user agent does not say).
    pub codex_version: Option<String>,
    /// Its user agent.
    pub user_agent: String,
    /// Its `CODEX_HOME`.
    pub codex_home: String,
}

/// The version in an app-server user agent (`originator/VERSION (...)`).
pub fn codex_version(user_agent: &str) -> Option<String> {
    let first = user_agent.split_whitespace().next()?;
    let v = first.rsplit_once('/')?.1;
    (!v.is_empty() && v.starts_with(|c: char| c.is_ascii_digit())).then(|| v.to_owned())
}

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != orbitdock_protocol::LOCAL_HOST
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{name:?} is not a host name: use letters, digits, '-', '_' and '.' (at most 64; \"local\" is the hub's own machine)"
        )))
    }
}

/// Writes a fresh capability token (64 hex digits) to `path`, 0600, for `codex app-server
/// --ws-auth capability-token --ws-token-file PATH`.
pub fn write_new_token(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::data_dir::ensure_dir(dir)?;
    }
    write_private(path, &crate::data_dir::new_token())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_three_address_forms_parse_and_print_back() {
        for s in [
            "ssh://me@127.0.0.1:2222",
            "ssh://box",
            "ws://127.0.0.1:4500",
            "ws://[::1]:4500",
            "unix:///run/codex.sock",
        ] {
            assert_eq!(HostUrl::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            HostUrl::parse("ssh://me@box:22").unwrap(),
            HostUrl::Ssh {
                user: Some("me".into()),
                host: "box".into(),
                port: Some(22)
            }
        );
        for bad in [
            "box",
            "http://box",
            "ws://box",
            "ws://u@box:1",
            "ssh://box:x",
            "unix://rel",
            "wss://box:1",
            "ssh://@box",
        ] {
            let e = HostUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains("not a host address"), "{bad}: {e}");
        }
    }

    #[test]
    fn tokens_are_kept_private_and_insecure_ws_needs_consent() {
        let d = tempfile::tempdir().unwrap();
        let hosts = Hosts::new(d.path());
        let tf = d.path().join("given.token");
        std::fs::write(&tf, "s3cret\n").unwrap();
        let far = NewHost {
            name: "far".into(),
            url: "ws://10.1.2.3:4500".into(),
            token_file: Some(tf.clone()),
            ..Default::default()
        };
        let e = hosts.add(&far).unwrap_err().to_string();
        assert!(
            e.contains("ssh://10.1.2.3") && e.contains("--allow-insecure-ws"),
            "{e}"
        );
        let entry = hosts
            .add(&NewHost {
                allow_insecure_ws: true,
                ..far
            })
            .unwrap();
        assert!(entry.has_token);
        let json = std::fs::read_to_string(d.path().join("hosts.json")).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d.path().join("hosts.json")), 0o600);
        assert_eq!(mode(&hosts.token_path("far")), 0o600);
        assert_eq!(mode(&d.path().join("hosts")), 0o700);
        match hosts.endpoint(&entry).unwrap() {
            Endpoint::WebSocket { token, .. } => assert_eq!(token.unwrap().expose(), "s3cret"),
            other => panic!("{other:?}"),
        }
        let e = hosts
            .add(&NewHost {
                name: "far".into(),
                url: "ws://127.0.0.1:1".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        let e = hosts
            .add(&NewHost {
                name: "bad name".into(),
                url: "ws://127.0.0.1:1".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("not a host name"), "{e}");
        hosts.remove("far").unwrap();
        assert!(hosts.list().unwrap().is_empty());
        assert!(!hosts.token_path("far").exists());
    }

    #[test]
    fn versions_come_from_the_user_agent() {
        assert_eq!(
            codex_version("orbitdock/0.169.0 (Ubuntu; x86_64) xterm").as_deref(),
            Some("0.169.0")
        );
        assert_eq!(codex_version("weird"), None);
    }
}
