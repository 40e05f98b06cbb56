//! `orbitdock serve`'s listening options: the bind address, TLS, public names.
//!
//! The rule they encode (see `orbitdock_server::remote`): loopback is plain HTTP; any other
//! address speaks TLS with the user's certificate or a generated self-signed one, or plain HTTP
//! only when `--insecure-http` says so, and the server refuses to start otherwise.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use orbitdock_server::remote::{Exposure, TlsIdentity, TlsSource};

/// Default port of `orbitdock serve`.
pub const DEFAULT_PORT: u16 = 4821;

/// Where and how `serve` listens.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Port to listen on (0 picks a free one; default 4821). A port in `--bind` wins.
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind, `ADDR` or `ADDR:PORT` (`[v6]:PORT`). Loopback serves plain HTTP; any
    /// other address needs `--tls-cert`/`--tls-key`, `--self-signed` or `--insecure-http`.
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_bind)]
    bind: Bind,
    /// TLS certificate chain (PEM) for a non-loopback bind.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate generated once and kept in DATA_DIR/tls (key
    /// 0600); its SHA-256 fingerprint is printed at start, to compare on the device.
    #[arg(long, conflicts_with_all = ["tls_cert", "insecure_http"])]
    self_signed: bool,
    /// Serve plain HTTP on a non-loopback address: the token and every prompt travel
    /// unencrypted. Only for a network you trust completely.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_http: bool,
    /// A name the hub is reached by from elsewhere (repeatable): `NAME` or `NAME:PORT`, e.g. the
    /// Tailscale machine name or the name a reverse proxy serves. Host/Origin checks accept it on
    /// our port and at its HTTPS endpoint; a generated certificate names it.
    #[arg(long = "public-name", value_name = "NAME[:PORT]")]
    public_names: Vec<String>,
}

/// A parsed `--bind`.
#[derive(Debug, Clone, Copy)]
pub struct Bind {
    ip: IpAddr,
    port: Option<u16>,
}

fn parse_bind(s: &str) -> std::result::Result<Bind, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Bind {
            ip: sa.ip(),
            port: Some(sa.port()),
        });
    }
    let ip = s.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>()
        .map(|ip| Bind { ip, port: None })
        .map_err(|_| format!("{s:?} is not an IP address or ADDR:PORT"))
}

impl ListenArgs {
    /// The socket address to bind, refusing combinations that would expose the hub without the
    /// user saying so. Cheap: runs before anything starts.
    pub fn addr(&self) -> Result<SocketAddr> {
        let port = match (self.bind.port, self.port) {
            (Some(a), Some(b)) if a != b => {
                bail!("--bind names port {a} and --port says {b}: give the port once")
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => DEFAULT_PORT,
        };
        let ip = self.bind.ip;
        let has_cert = self.tls_cert.is_some() || self.self_signed;
        if ip.is_loopback() {
            if has_cert || self.insecure_http {
                bail!(
                    "--tls-cert, --self-signed and --insecure-http are for a non-loopback --bind; \
                     on loopback the hub speaks plain HTTP (to reach it from elsewhere, put \
                     Tailscale Serve, an SSH tunnel or a reverse proxy in front: see \
                     docs/remote-access.md)"
                );
            }
        } else if !has_cert && !self.insecure_http {
            bail!(
                "refusing to listen on {ip} without TLS: anyone on that network could read the \
                 API token and every prompt. Give a certificate (--tls-cert FILE --tls-key FILE), \
                 or --self-signed to generate one (its fingerprint is printed), or \
                 --insecure-http to serve plain HTTP anyway. To stay on loopback, drop --bind; \
                 see docs/remote-access.md"
            );
        }
        Ok(SocketAddr::new(ip, port))
    }

    /// What the server needs to expose itself: the certificate (loaded, or generated in
    /// `data_dir`) and the public names.
    pub fn exposure(&self, data_dir: &Path, addr: SocketAddr) -> Result<Exposure> {
        let mut exposure = Exposure::default().with_public_names(&self.public_names)?;
        if addr.ip().is_loopback() || self.insecure_http {
            return Ok(exposure);
        }
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                TlsIdentity::from_pem_files(cert, key).context("loading the TLS certificate")?
            }
            _ => TlsIdentity::self_signed(data_dir, addr.ip(), &self.public_names)
                .context("preparing the self-signed TLS certificate")?,
        };
        exposure.tls = Some(Arc::new(identity));
        Ok(exposure)
    }
}

/// What `serve` prints about remote access, before the sign-in link.
pub fn print_exposure(server: &orbitdock_server::RunningServer, exposure: &Exposure) {
    if server.addr.ip().is_loopback() {
        if !exposure.public_names.is_empty() {
            println!("Public names: {}", exposure.public_names.join(", "));
        }
        return;
    }
    if let Some(id) = &exposure.tls {
        let how = match id.source {
            TlsSource::UserProvided => "yours".to_owned(),
            TlsSource::Generated => format!("self-signed, generated for {}", id.names.join(", ")),
            TlsSource::Reused => format!("self-signed, for {}", id.names.join(", ")),
        };
        println!("TLS certificate: {} ({how})", id.cert_path.display());
        println!("TLS certificate SHA-256 fingerprint: {}", id.fingerprint());
    } else {
        println!(
            "WARNING: plain HTTP on {}: the token and every prompt cross the network unencrypted",
            server.addr.ip()
        );
    }
    let scheme = if server.tls { "https" } else { "http" };
    let port = server.addr.port();
    let mut hosts: Vec<String> = orbitdock_server::remote::reachable_addresses(server.addr.ip())
        .unwrap_or_default()
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port).to_string())
        .collect();
    hosts.extend(exposure.public_names.iter().map(|n| format!("{n}:{port}")));
    for h in hosts {
        println!("Remote: {scheme}://{h}");
    }
    if server.tls {
        println!(
            "Local tools use plain HTTP on loopback: {}",
            server.base_url()
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        listen: ListenArgs,
    }

    fn addr(args: &[&str]) -> Result<SocketAddr> {
        let mut all = vec!["x"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)?.listen.addr()
    }

    #[test]
    fn bind_forms() {
        assert_eq!(addr(&[]).unwrap(), "127.0.0.1:4821".parse().unwrap());
        assert_eq!(
            addr(&["--bind", "127.0.0.1:9000"]).unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(
            addr(&["--bind", "::1", "--port", "0"]).unwrap(),
            "[::1]:0".parse().unwrap()
        );
        assert_eq!(
            addr(&["--bind", "[::1]:7"]).unwrap(),
            "[::1]:7".parse().unwrap()
        );
        assert!(addr(&["--bind", "127.0.0.1:1", "--port", "2"]).is_err());
        assert!(addr(&["--bind", "localhost"]).is_err());
        assert_eq!(
            addr(&["--bind", "0.0.0.0:1", "--self-signed"]).unwrap(),
            "0.0.0.0:1".parse().unwrap()
        );
        assert!(addr(&["--bind", "0.0.0.0", "--insecure-http"]).is_ok());
        assert!(addr(&["--bind", "0.0.0.0", "--tls-cert", "c"]).is_err());
    }

    #[test]
    fn non_loopback_needs_tls_or_explicit_plain_http() {
        let e = addr(&["--bind", "0.0.0.0"]).unwrap_err().to_string();
        assert!(
            e.contains("refusing to listen on 0.0.0.0 without TLS"),
            "{e}"
        );
        assert!(e.contains("--insecure-http"), "{e}");
        let e = addr(&["--self-signed"]).unwrap_err().to_string();
        assert!(e.contains("non-loopback"), "{e}");
    }
}
