//! Remote access against the real `orbitdock serve` binary:
//!
//! * a non-loopback `--bind` without a certificate or `--insecure-http` refuses to start, says
//!   why and how to fix it, and creates nothing;
//! * with `--self-signed`, an HTTPS client that trusts only the generated certificate reaches
//!   the server on one of the machine's own non-loopback addresses and completes the flow:
//!   health, login with the token → a `Secure` cookie, an authenticated API call, a `wss://`
//!   WebSocket; a wrong `Host` or `Origin` is refused with 403; a `--public-name` is accepted
//!   (the certificate names it); the printed fingerprint is the served certificate's; the
//!   certificate is reused by the next start; the local tools' plain loopback listener works.
//!
//! The client connects to an address of this machine (never another host). On a machine
//! without a non-loopback address the TLS test runs itself again inside a new network namespace
//! whose loopback device also carries 192.0.2.10 (`unshare --net --map-root-user`);
//! `ORBITDOCK_TEST_NETNS=1` takes that path on any machine. Where namespaces are not allowed
//! either, it is skipped with the reason printed.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use orbitdock_protocol::ServerMessage;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use test_support::{CodexHomeBuilder, FakeResponses};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Served, serve, target_bin};

/// SHA-256 of `der` as `AB:CD:...`, computed here rather than with the server's helper.
fn sha256_colon_hex(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = d.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[test]
fn non_loopback_bind_without_tls_refuses_to_start() -> Result<()> {
    let bin = target_bin("orbitdock")?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let out = std::process::Command::new(&bin)
        .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--data-dir"])
        .arg(&data)
        .stdin(std::process::Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "started: {stderr}");
    for needle in [
        "refusing to listen on 0.0.0.0 without TLS",
        "--tls-cert FILE --tls-key FILE",
        "--self-signed",
        "--insecure-http",
    ] {
        ensure!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    ensure!(
        !data.exists(),
        "the refused start created {}",
        data.display()
    );
    Ok(())
}

/// The first IPv4 address of this machine's interfaces that is not loopback.
fn own_non_loopback_v4() -> Option<IpAddr> {
    orbitdock_server::remote::reachable_addresses("0.0.0.0".parse().ok()?)
        .ok()?
        .into_iter()
        .find(IpAddr::is_ipv4)
}

/// Set in the copy of the test that runs inside the network namespace.
const IN_NETNS: &str = "ORBITDOCK_TEST_IN_NETNS";

/// How the namespaced copy of `test` ended; `Err` with the reason when namespaces cannot be
/// made here. The namespace's loopback device gets 192.0.2.10 (TEST-NET-1, routed nowhere),
/// which the copy finds as its non-loopback address.
fn run_in_network_namespace(test: &str) -> Result<std::result::Result<(), String>> {
    use std::process::{Command, Stdio};
    let setup = "ip link set lo up && ip addr add 192.0.2.10/32 dev lo";
    let probe = Command::new("unshare")
        .args(["--net", "--map-root-user", "sh", "-c", setup])
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Ok(Err(format!(
                "unshare --net --map-root-user failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        Err(e) => return Ok(Err(format!("cannot run unshare: {e}"))),
    }
    let status = Command::new("unshare")
        .args(["--net", "--map-root-user", "sh", "-c"])
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(std::env::current_exe()?)
        .args(["--exact", test, "--nocapture"])
        .env(IN_NETNS, "1")
        .stdin(Stdio::null())
        .status()?;
    ensure!(
        status.success(),
        "the run in a network namespace failed: {status}"
    );
    Ok(Ok(()))
}

/// The port of the `https://` URL the server printed it listens on.
fn tls_port(s: &Served) -> Result<u16> {
    let url = s
        .printed("OrbitDock is listening on ")
        .context("no listening line")?;
    let hostport = url.strip_prefix("https://").context("not https")?;
    Ok(hostport.parse::<SocketAddr>()?.port())
}

/// A client that trusts `cert` only, never follows redirects, and reports the peer's
/// certificate.
fn https_client(cert_pem: &[u8], resolve: Option<(&str, SocketAddr)>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem)?)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .timeout(std::time::Duration::from_secs(30));
    if let Some((name, addr)) = resolve {
        b = b.resolve(name, addr);
    }
    Ok(b.build()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_on_a_non_loopback_address_completes_the_flow() -> Result<()> {
    let in_netns = std::env::var_os(IN_NETNS).is_some();
    let forced = std::env::var_os("ORBITDOCK_TEST_NETNS").is_some();
    let ip = match own_non_loopback_v4() {
        Some(ip) if in_netns || !forced => ip,
        None if in_netns => anyhow::bail!("no non-loopback address inside the namespace"),
        _ => {
            let test = "remote_access::https_on_a_non_loopback_address_completes_the_flow";
            if let Err(why) = run_in_network_namespace(test)? {
                println!(
                    "SKIPPED: no non-loopback IPv4 address here and no network namespace \
                     ({why}); the refusal test still runs"
                );
            }
            return Ok(());
        }
    };
    let bin = target_bin("orbitdock")?;
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let args: Vec<std::ffi::OsString> = [
        "--bind",
        &ip.to_string(),
        "--self-signed",
        "--public-name",
        "orbit.test",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let mut s = serve(&bin, &data, &home, &args)?;
    let port = tls_port(&s)?;
    let addr = SocketAddr::new(ip, port);
    let origin = format!("https://{addr}");

    // The generated certificate: 0600 key, and the printed fingerprint is the file's.
    let tls_dir = data.join("tls");
    let key_mode = std::fs::metadata(tls_dir.join("self-signed.key"))?
        .permissions()
        .mode()
        & 0o777;
    ensure!(key_mode == 0o600, "key mode {key_mode:o}");
    let cert_pem = std::fs::read(tls_dir.join("self-signed.crt"))?;
    let cert_der = CertificateDer::from_pem_slice(&cert_pem)?;
    let printed = s
        .printed("TLS certificate SHA-256 fingerprint: ")
        .context("no fingerprint printed")?;
    ensure!(printed == sha256_colon_hex(cert_der.as_ref()), "{printed}");

    // Health, over TLS to the non-loopback address; the served certificate is the printed one.
    let c = https_client(&cert_pem, None)?;
    let r = c.get(format!("{origin}/health")).send().await?;
    ensure!(r.status().is_success(), "health: {}", r.status());
    let served = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .context("no peer certificate")?;
    ensure!(
        sha256_colon_hex(served) == printed,
        "served another certificate"
    );

    // Signing in with the token posted from the form: a Secure, HttpOnly cookie.
    let r = c
        .post(format!("{origin}/login"))
        .form(&[("token", &s.token)])
        .send()
        .await?;
    ensure!(r.status() == 303, "login: {}", r.status());
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .context("no cookie")?
        .to_str()?
        .to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        ensure!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
    }
    let cookie = set_cookie
        .split(';')
        .next()
        .context("cookie pair")?
        .to_owned();

    // An authenticated call with the cookie, from our own origin; without it, 401.
    let r = c
        .get(format!("{origin}/api/sessions"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .send()
        .await?;
    ensure!(r.status().is_success(), "sessions: {}", r.status());
    let _: serde_json::Value = r.json().await?;
    let r = c.get(format!("{origin}/api/sessions")).send().await?;
    ensure!(r.status() == 401, "no cookie: {}", r.status());

    // A wrong Host (DNS rebinding) and a foreign or plain-HTTP Origin are refused.
    for (name, value) in [
        ("host", "evil.example".to_owned()),
        ("host", format!("evil.example:{port}")),
        ("origin", "https://evil.example".to_owned()),
        ("origin", format!("http://{addr}")),
    ] {
        let r = c
            .get(format!("{origin}/api/sessions"))
            .header("cookie", &cookie)
            .header(name, &value)
            .send()
            .await?;
        ensure!(r.status() == 403, "{name}: {value} gave {}", r.status());
        let body: serde_json::Value = r.json().await?;
        ensure!(body["error"]["code"] == "forbidden", "{body}");
    }

    // The public name: the certificate names it and the checks accept it.
    let named = https_client(&cert_pem, Some(("orbit.test", addr)))?;
    let r = named
        .get(format!("https://orbit.test:{port}/api/sessions"))
        .header("cookie", &cookie)
        .header("origin", format!("https://orbit.test:{port}"))
        .send()
        .await?;
    ensure!(r.status().is_success(), "public name: {}", r.status());

    // A wss:// WebSocket with the cookie, as the browser opens it.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der.clone())?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let wss = |origin_header: String| {
        let connector = connector.clone();
        let cookie = cookie.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let stream = connector
                .connect(ServerName::IpAddress(ip.into()), tcp)
                .await?;
            let mut req = format!("wss://{addr}/ws").into_client_request()?;
            req.headers_mut().insert("cookie", cookie.parse()?);
            req.headers_mut().insert("origin", origin_header.parse()?);
            anyhow::Ok(tokio_tungstenite::client_async(req, stream).await)
        }
    };
    let (mut ws, _) = wss(origin.clone()).await?.context("wss handshake")?;
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
        .await
        .context("no WebSocket message")?
        .context("closed")??;
    let Message::Text(t) = first else {
        anyhow::bail!("not text: {first:?}")
    };
    let hello: ServerMessage = serde_json::from_str(t.as_str())?;
    ensure!(matches!(hello, ServerMessage::Hello { .. }), "{hello:?}");
    drop(ws);
    match wss("https://evil.example".into()).await? {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            ensure!(resp.status() == 403, "foreign origin ws: {}", resp.status())
        }
        other => anyhow::bail!("foreign-origin WebSocket was not refused: {other:?}"),
    }

    // Local tools keep plain HTTP on loopback (what server.json names).
    ensure!(s.base.starts_with("http://127.0.0.1:"), "{}", s.base);
    let _: serde_json::Value = s.rest().get("/api/sessions").await?;
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("server.json"))?)?;
    ensure!(info["url"] == s.base.as_str(), "{info}");

    // The next start serves the same certificate.
    s.terminate();
    let again = serve(&bin, &data, &home, &args)?;
    let printed_again = again
        .printed("TLS certificate SHA-256 fingerprint: ")
        .context("no fingerprint printed")?;
    ensure!(printed_again == printed, "certificate not reused");
    ensure!(
        again
            .printed("TLS certificate: ")
            .is_some_and(|l| l.contains("self-signed, for")),
        "{:?}",
        again.stdout.lock().unwrap()
    );
    Ok(())
}
