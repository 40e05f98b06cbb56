//! Reaching the hub from another machine: which listeners to open, TLS, and the names the
//! Host/Origin checks accept.
//!
//! The hub holds agent sessions that run commands, so exposure is explicit and narrow:
//!
//! - A **loopback** bind is what it always was: plain HTTP on 127.0.0.1 (or `[::1]`), `Host`
//!   and `Origin` must be loopback names or configured public names. Remote access through
//!   Tailscale Serve, an SSH tunnel or a reverse proxy keeps this bind: the front end terminates
//!   TLS and forwards to loopback, and `--public-name` tells the checks the name it serves.
//! - A **non-loopback** bind speaks TLS ([`TlsIdentity`]: the user's certificate, or a
//!   self-signed one generated once and kept in the data dir) unless plain HTTP is asked for
//!   explicitly. Accepted hosts are then the loopback names, the bind address (or, for a
//!   wildcard bind, the addresses of the machine's interfaces at start) and the public names.
//!   Next to the TLS listener a plain-HTTP listener on 127.0.0.1 (its own port) serves the local
//!   tools: the CLI and the agents' hooks find it in `server.json` and need no certificate.
//!
//! TLS runs on rustls with *ring* as the crypto provider (already in the tree through reqwest);
//! handshakes run in their own tasks ([`TlsListener`]), bounded in number and time, so a slow or
//! silent client cannot stall `accept` for everyone else.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_guard::{HostPolicy, Scheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::data_dir;
use crate::error::{Error, Result};

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; connections beyond are closed at once.
const MAX_HANDSHAKES: usize = 64;
/// A generated certificate is valid this long (825 days: the longest some phones accept for a
/// certificate a user trusts by hand).
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(825 * 24 * 3600);
/// A generated certificate this close to its end is replaced at start.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// How the hub is exposed beyond its loopback default.
#[derive(Debug, Clone, Default)]
pub struct Exposure {
    /// TLS for a non-loopback bind (`None`: plain HTTP, which a non-loopback bind gets only
    /// when the user asked for it explicitly).
    pub tls: Option<Arc<TlsIdentity>>,
    /// Names the hub is reached by from elsewhere (`NAME` or `NAME:PORT`, validated by
    /// [`Exposure::with_public_names`]).
    pub public_names: Vec<String>,
}

impl Exposure {
    /// Validates `names` (see [`HostPolicy::allow_public_name`]).
    pub fn with_public_names(mut self, names: &[String]) -> Result<Self> {
        let mut probe = HostPolicy::loopback(None);
        for n in names {
            probe = probe
                .allow_public_name(n)
                .map_err(|e| Error::BadRequest(format!("--public-name: {e}")))?;
        }
        self.public_names = names.to_vec();
        Ok(self)
    }

    /// The Host/Origin policy of a listener on `addr` speaking `scheme`: loopback names, the
    /// public names, and for a non-loopback listener the addresses it is reached at.
    pub(crate) fn policy(&self, addr: SocketAddr, scheme: Scheme) -> Result<HostPolicy> {
        let mut policy = HostPolicy::loopback(Some(addr.port())).with_scheme(scheme);
        if !addr.ip().is_loopback() {
            for ip in reachable_addresses(addr.ip())? {
                policy = policy
                    .allow_name(&ip.to_string())
                    .map_err(|e| Error::BadRequest(e.to_string()))?;
            }
        }
        for n in &self.public_names {
            policy = policy
                .allow_public_name(n)
                .map_err(|e| Error::BadRequest(format!("--public-name: {e}")))?;
        }
        Ok(policy)
    }
}

/// The addresses a listener bound to `ip` is reached at: `ip` itself, or for a wildcard bind
/// (`0.0.0.0`, `::`) every non-loopback address of the machine's interfaces, of that family
/// (both families for `::`, which Linux dual-stacks by default).
pub fn reachable_addresses(ip: IpAddr) -> Result<Vec<IpAddr>> {
    if !ip.is_unspecified() {
        return Ok(vec![ip]);
    }
    let addrs =
        nix::ifaddrs::getifaddrs().map_err(|e| Error::io("getifaddrs", std::io::Error::from(e)))?;
    let mut out = BTreeSet::new();
    for ifa in addrs {
        let Some(a) = ifa.address else { continue };
        let found = if let Some(v4) = a.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = a.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        // Link-local IPv6 needs a zone id in URLs, which Host checks refuse (see http-guard).
        let link_local_v6 =
            matches!(found, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        let family_ok = ip.is_ipv6() || found.is_ipv4();
        if !found.is_loopback() && !link_local_v6 && family_ok {
            out.insert(found);
        }
    }
    Ok(out.into_iter().collect())
}

/// The host part of a public name spec (`NAME`, `NAME:PORT`, `[v6]:PORT`, a bare IPv6
/// address), as a certificate names it.
fn public_name_host(spec: &str) -> String {
    let spec = spec.trim();
    if spec.parse::<std::net::Ipv6Addr>().is_ok() {
        return spec.to_owned();
    }
    let host = spec
        .parse::<http::uri::Authority>()
        .map(|a| a.host().to_owned())
        .unwrap_or_else(|_| spec.to_owned());
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Where a [`TlsIdentity`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSource {
    /// `--tls-cert` / `--tls-key`.
    UserProvided,
    /// Generated now (first start, new names, or the old one near its end).
    Generated,
    /// The one generated at an earlier start.
    Reused,
}

/// A certificate chain and its private key.
pub struct TlsIdentity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The certificate file (PEM).
    pub cert_path: PathBuf,
    /// Where it came from.
    pub source: TlsSource,
    /// The names a generated certificate carries (empty for a user's certificate).
    pub names: Vec<String>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_path", &self.cert_path)
            .field("source", &self.source)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// What the data dir remembers about the generated certificate.
#[derive(Debug, Serialize, Deserialize)]
struct SelfSignedMeta {
    names: Vec<String>,
    /// Unix seconds.
    not_after: i64,
}

/// `DATA_DIR/tls`, where the generated certificate lives.
pub fn tls_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

fn tls_error(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

impl TlsIdentity {
    /// A user's certificate chain and key, both PEM (the key PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| tls_error(cert.display(), e))?;
        if certs.is_empty() {
            return Err(tls_error(cert.display(), "no certificate in the file"));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key.display(), e))?;
        let id = TlsIdentity {
            certs,
            key: key_der,
            cert_path: cert.to_owned(),
            source: TlsSource::UserProvided,
            names: Vec::new(),
        };
        // Fails now, with the file names, if the key does not belong to the certificate.
        id.server_config()
            .map_err(|e| tls_error(format!("{} with {}", cert.display(), key.display()), e))?;
        Ok(id)
    }

    /// The self-signed certificate in `DATA_DIR/tls` for the names a listener on `bind` is
    /// reached by: localhost, 127.0.0.1, ::1, the bind address (or the interfaces' addresses
    /// for a wildcard bind) and `public_names`. Reused across restarts while it carries every
    /// one of those names and is not near its end; otherwise re-signed with the same key, so
    /// only the fingerprint of the certificate changes. The key file is 0600.
    pub fn self_signed(data_dir: &Path, bind: IpAddr, public_names: &[String]) -> Result<Self> {
        let mut wanted: BTreeSet<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        for ip in reachable_addresses(bind)? {
            wanted.insert(ip.to_string());
        }
        for n in public_names {
            wanted.insert(public_name_host(n));
        }
        let dir = tls_dir(data_dir);
        data_dir::ensure_private_subdir(&dir)?;
        let cert_path = dir.join("self-signed.crt");
        let key_path = dir.join("self-signed.key");
        let meta_path = dir.join("self-signed.json");
        let now = time::OffsetDateTime::now_utc();

        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => {
                data_dir::tighten(&key_path)?;
                Some(rcgen::KeyPair::from_pem(&pem).map_err(|e| tls_error(key_path.display(), e))?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&key_path, e)),
        };
        if let Some(key) = &key {
            let meta = std::fs::read(&meta_path)
                .ok()
                .and_then(|b| serde_json::from_slice::<SelfSignedMeta>(&b).ok());
            let fresh = meta.as_ref().is_some_and(|m| {
                let covers = wanted.iter().all(|n| m.names.contains(n));
                let renew_at = now.unix_timestamp() + RENEW_BEFORE.as_secs() as i64;
                covers && m.not_after > renew_at
            });
            if let (true, Some(meta)) = (fresh, meta) {
                let certs = CertificateDer::pem_file_iter(&cert_path)
                    .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                    .ok()
                    .filter(|c| !c.is_empty());
                if let Some(certs) = certs {
                    let id = TlsIdentity {
                        certs,
                        key: PrivateKeyDer::try_from(key.serialize_der())
                            .map_err(|e| tls_error(key_path.display(), e))?,
                        cert_path: cert_path.clone(),
                        source: TlsSource::Reused,
                        names: meta.names,
                    };
                    // A certificate that does not match the key (edited by hand) is replaced.
                    if id.server_config().is_ok() {
                        return Ok(id);
                    }
                }
            }
        }

        let key = match key {
            Some(k) => k,
            None => {
                let k = rcgen::KeyPair::generate().map_err(|e| tls_error("generating a key", e))?;
                data_dir::write_private(&key_path, &k.serialize_pem())?;
                k
            }
        };
        let names: Vec<String> = wanted.into_iter().collect();
        let mut params = rcgen::CertificateParams::new(names.clone())
            .map_err(|e| tls_error("certificate names", e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "OrbitDock hub");
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + SELF_SIGNED_VALIDITY;
        let cert = params
            .self_signed(&key)
            .map_err(|e| tls_error("signing the certificate", e))?;
        data_dir::write_private(&cert_path, &cert.pem())?;
        let meta = SelfSignedMeta {
            names: names.clone(),
            not_after: params.not_after.unix_timestamp(),
        };
        let meta_json = serde_json::to_string_pretty(&meta).map_err(|e| Error::Decode {
            what: "certificate metadata".into(),
            source: e,
        })?;
        data_dir::write_private(&meta_path, &meta_json)?;
        Ok(TlsIdentity {
            certs: vec![cert.der().clone()],
            key: PrivateKeyDer::try_from(key.serialize_der())
                .map_err(|e| tls_error(key_path.display(), e))?,
            cert_path,
            source: TlsSource::Generated,
            names,
        })
    }

    /// SHA-256 of the leaf certificate, as `AB:CD:...` (what browsers and `openssl x509
    /// -fingerprint -sha256` show).
    pub fn fingerprint(&self) -> String {
        self.certs
            .first()
            .map(|c| fingerprint(c.as_ref()))
            .unwrap_or_default()
    }

    /// The rustls configuration serving this identity (HTTP/1.1, which WebSockets need).
    pub fn server_config(&self) -> std::result::Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// SHA-256 of `der` as colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A TCP listener whose connections come out of a finished TLS handshake. Handshakes run in
/// tasks of their own (at most [`MAX_HANDSHAKES`] at once, each within [`HANDSHAKE_TIMEOUT`]);
/// failed ones are logged at debug level and dropped.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accept: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let accept = tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    // The server stopped and dropped the listener.
                    _ = tx.closed() => break,
                    r = tcp.accept() => match r {
                        Ok(c) => c,
                        Err(e) => {
                            // Out of file descriptors and the like: pause instead of spinning.
                            tracing::warn!(error = %e, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "too many TLS handshakes in progress; closing");
                    continue;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            accept,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended (only when it was aborted): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn public_name_hosts() {
        assert_eq!(public_name_host("Box.Example"), "box.example");
        assert_eq!(public_name_host("box.example:8443"), "box.example");
        assert_eq!(public_name_host("[fd00::2]:8443"), "fd00::2");
        assert_eq!(public_name_host("fd00::2"), "fd00::2");
        assert_eq!(public_name_host("192.0.2.7:443"), "192.0.2.7");
    }

    #[test]
    fn self_signed_is_private_reused_and_renamed() {
        let d = tempfile::tempdir().unwrap();
        let bind: IpAddr = "127.0.0.1".parse().unwrap();
        let a = TlsIdentity::self_signed(d.path(), bind, &["hub.example".into()]).unwrap();
        assert_eq!(a.source, TlsSource::Generated);
        assert!(a.names.contains(&"hub.example".to_owned()));
        assert!(a.names.contains(&"localhost".to_owned()));
        let key = tls_dir(d.path()).join("self-signed.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(tls_dir(d.path()))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        // Same names: the same certificate.
        let b = TlsIdentity::self_signed(d.path(), bind, &["hub.example".into()]).unwrap();
        assert_eq!(b.source, TlsSource::Reused);
        assert_eq!(a.fingerprint(), b.fingerprint());
        // Fewer names: still covered.
        let c = TlsIdentity::self_signed(d.path(), bind, &[]).unwrap();
        assert_eq!(
            (c.source, c.fingerprint()),
            (TlsSource::Reused, a.fingerprint())
        );
        // A new name: re-signed with the same key.
        let key_before = std::fs::read(&key).unwrap();
        let e = TlsIdentity::self_signed(d.path(), bind, &["other.example:8443".into()]).unwrap();
        assert_eq!(e.source, TlsSource::Generated);
        assert_ne!(e.fingerprint(), a.fingerprint());
        assert!(e.names.contains(&"other.example".to_owned()));
        assert_eq!(std::fs::read(&key).unwrap(), key_before);
        // The PEM on disk is what is served, and its fingerprint is the printed one.
        let on_disk = CertificateDer::pem_file_iter(&e.cert_path)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(fingerprint(on_disk.as_ref()), e.fingerprint());
        // A user's certificate loads from the same PEM files.
        let user = TlsIdentity::from_pem_files(&e.cert_path, &key).unwrap();
        assert_eq!(user.fingerprint(), e.fingerprint());
        // A key that does not belong to the certificate is refused, naming both files.
        let other = tempfile::tempdir().unwrap();
        let o = TlsIdentity::self_signed(other.path(), bind, &[]).unwrap();
        let other_key = tls_dir(other.path()).join("self-signed.key");
        let err = TlsIdentity::from_pem_files(&o.cert_path, &key).unwrap_err();
        assert!(err.to_string().contains("self-signed.key"), "{err}");
        let err = TlsIdentity::from_pem_files(&other_key, &other_key).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn fingerprints_are_colon_hex() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF"), "{f}");
    }
}
