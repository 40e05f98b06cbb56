//! Security checks against the real `orbitdock serve` binary (real app-server, real files):
//!
//! * the token never appears in what `orbitdock serve` prints (a one-time sign-in link instead),
//!   in its logs (stderr and `logs/server.log`, at debug level), in the URL a browser lands on
//!   after `POST /login`, or in any error body or WebSocket error, whatever was sent (wrong
//!   tokens, the token in a query where it is not accepted, `/login?token=`, junk);
//! * the login cookie is `HttpOnly; SameSite=Strict; Path=/`;
//! * every directory the hub creates in its data dir is 0700 and every file and socket 0600
//!   (database with its WAL files, token, `server.json`, logs, the hook spool);
//! * a second local user (created with `useradd` when running as root; skipped with the reason
//!   printed otherwise) cannot read the token, cannot connect to any Unix socket under the data
//!   dir or `CODEX_HOME`, and gets 401 from the loopback port.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use futures::{SinkExt, StreamExt};
use orbitdock_protocol::SessionState;
use serde_json::json;
use test_support::{CodexHomeBuilder, FakeResponses, TempCodexHome};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{ServeOptions, Served, serve, serve_with, target_bin};

/// Every path under `root` with its type and permission bits.
fn walk(root: &Path) -> Result<Vec<(PathBuf, std::fs::FileType, u32)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let meta = std::fs::symlink_metadata(e.path())?;
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), ft, meta.permissions().mode() & 0o777));
        }
    }
    Ok(out)
}

/// A real `orbitdock serve` logging at debug level into `stderr`, so a test can search
/// everything it wrote for secrets. The fields keep the fake model, the homes and the temp dir
/// alive as long as the server.
struct DebugServer {
    _fake: FakeResponses,
    home: TempCodexHome,
    _tmp: tempfile::TempDir,
    data: PathBuf,
    stderr: PathBuf,
    s: Served,
}

fn serve_at_debug(bin: &Path) -> Result<DebugServer> {
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let stderr = tmp.path().join("stderr.log");
    let s = serve_with(
        bin,
        &data,
        &home,
        &ServeOptions {
            stderr: Some(stderr.clone()),
            env: vec![("ORBITDOCK_LOG".into(), "debug".into())],
            ..Default::default()
        },
    )?;
    Ok(DebugServer {
        _fake: fake,
        home,
        _tmp: tmp,
        data,
        stderr,
        s,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_stays_out_of_logs_urls_and_errors_and_every_file_is_private() -> Result<()> {
    let bin = target_bin("orbitdock")?;
    let DebugServer {
        _fake,
        home,
        _tmp,
        data,
        stderr,
        mut s,
    } = serve_at_debug(&bin)?;
    let token = s.token.clone();
    let base = s.base.clone();
    let port: u16 = base.rsplit(':').next().unwrap().parse()?;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Everything the server answered that a page, a proxy or a log collector could see.
    let mut seen: Vec<String> = Vec::new();
    let mut record = |what: &str, r: &reqwest::Response| {
        let mut headers = String::new();
        for (k, v) in r.headers() {
            // The cookie carries the token by design; its flags are checked below.
            if k != reqwest::header::SET_COOKIE {
                headers.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or_default()));
            }
        }
        seen.push(format!("{what} {} {headers}", r.status()));
    };

    // What `orbitdock serve` printed: a one-time link, never the token.
    let printed = s.stdout.lock().unwrap().join("\n");
    ensure!(
        !printed.contains(&token),
        "serve printed the token: {printed}"
    );
    ensure!(
        s.sign_in_link.starts_with(&format!("{base}/pair#")),
        "the sign-in link: {}",
        s.sign_in_link
    );

    // The token in a sign-in URL, the old way: refused, no cookie, and (checked with the logs
    // below) never logged.
    let r = c
        .get(format!("{base}/login?token={token}"))
        .header("accept", "text/html")
        .send()
        .await?;
    ensure!(r.status() == 400, "token in the login URL: {}", r.status());
    ensure!(
        !r.headers().contains_key("set-cookie"),
        "a cookie for a token in a URL"
    );
    record("token in the login URL", &r);
    let page = r.text().await?;
    ensure!(
        page.contains("no longer accepted") && page.contains("<form"),
        "{page}"
    );

    // Login: the token posted from the form; a redirect to a URL without the token, and a
    // cookie with the right flags.
    let r = c
        .post(format!("{base}/login"))
        .form(&[("token", &token)])
        .send()
        .await?;
    ensure!(r.status() == 303, "login: {}", r.status());
    let location = r.headers()["location"].to_str()?.to_owned();
    let cookie = r.headers()["set-cookie"].to_str()?.to_owned();
    record("login", &r);
    let flags: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
    for want in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        ensure!(flags.contains(&want), "cookie flags {flags:?} lack {want}");
    }
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();

    // Error answers, each read whole.
    let mut bodies = Vec::new();
    let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "wrong login",
            c.post(format!("{base}/login"))
                .form(&[("token", format!("wrong{token}"))]),
        ),
        (
            "the token in the login URL, as an API client",
            c.get(format!("{base}/login?token={token}")),
        ),
        (
            "wrong bearer",
            c.get(format!("{base}/api/sessions"))
                .bearer_auth(format!("{token}x")),
        ),
        (
            "wrong cookie",
            c.get(format!("{base}/api/sessions"))
                .header("cookie", "orbitdock_token=nope"),
        ),
        ("no token", c.get(format!("{base}/api/sessions"))),
        (
            "token in a query where it is refused",
            c.get(format!("{base}/api/sessions?token={token}")),
        ),
        (
            "foreign Host",
            c.get(format!("{base}/api/sessions"))
                .bearer_auth(&token)
                .header("host", format!("evil.example:{port}")),
        ),
        (
            "foreign Origin",
            c.post(format!("{base}/api/sessions"))
                .header("cookie", &cookie_pair)
                .header("origin", "http://evil.example")
                .json(&json!({"cwd": home.workdir()})),
        ),
        (
            "malformed JSON",
            c.post(format!("{base}/api/sessions"))
                .header("cookie", &cookie_pair)
                .header("content-type", "application/json")
                .body("{\"cwd\": \"/tm"),
        ),
        (
            "unknown session",
            c.get(format!("{base}/api/sessions/no-such-session"))
                .header("cookie", &cookie_pair),
        ),
        (
            "wrong method",
            c.delete(format!("{base}/api/sessions"))
                .header("cookie", &cookie_pair),
        ),
    ];
    for (what, req) in requests {
        let r = req.send().await?;
        ensure!(
            r.status().is_client_error(),
            "{what}: {} (expected a 4xx)",
            r.status()
        );
        record(what, &r);
        bodies.push((what, r.text().await?));
    }
    // A real session through the cookie, so the app-server and the database are in use.
    let r = c
        .post(format!("{base}/api/sessions"))
        .header("cookie", &cookie_pair)
        .json(&json!({"cwd": home.workdir(), "name": "security"}))
        .send()
        .await?;
    ensure!(r.status().is_success(), "create: {}", r.status());
    let st: SessionState = r.json().await?;
    // WebSocket errors.
    let (mut ws, _) = tokio_tungstenite::connect_async(
        test_support::hub_ws_request(&base, &token).map_err(anyhow::Error::msg)?,
    )
    .await?;
    for m in [
        "not json".to_owned(),
        json!({"type": "subscribe_session", "session_id": "no-such-session"}).to_string(),
        json!({"type": "send_message", "session_id": st.summary.id, "text": 5}).to_string(),
    ] {
        ws.send(Message::Text(m.into())).await?;
    }
    let mut ws_errors = 0;
    while ws_errors < 3 {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
            .await
            .context("no WebSocket error")?
            .context("closed")??;
        if let Message::Text(t) = m
            && t.as_str().contains("\"error\"")
        {
            ws_errors += 1;
            bodies.push(("websocket error", t.as_str().to_owned()));
        }
    }
    drop(ws);
    // A graceful stop flushes the logs; then a hook with the server down is spooled.
    s.terminate();
    let mut hook = Command::new(&bin)
        .args(["--data-dir"])
        .arg(&data)
        .args(["hook", "claude"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    hook.stdin.take().unwrap().write_all(
        json!({"session_id": "sec-1", "hook_event_name": "SessionStart", "cwd": home.workdir()})
            .to_string()
            .as_bytes(),
    )?;
    ensure!(hook.wait()?.success(), "orbitdock hook claude failed");

    let mut logs = String::new();
    std::fs::File::open(&stderr)?.read_to_string(&mut logs)?;
    let server_log = data.join("logs").join("server.log");
    logs.push_str(&std::fs::read_to_string(&server_log)?);
    let log_lines = logs.lines().count();
    ensure!(log_lines > 10, "suspiciously few log lines: {logs}");
    ensure!(!logs.contains(&token), "the token is in the logs");
    ensure!(
        !location.contains(&token),
        "the post-login URL has the token: {location}"
    );
    for (what, b) in &bodies {
        ensure!(
            !b.contains(&token),
            "{what}: the token is in the answer: {b}"
        );
    }
    for h in &seen {
        ensure!(!h.contains(&token), "the token is in a header: {h}");
    }

    // File modes.
    let entries = walk(&data)?;
    let mut wrong = Vec::new();
    let mut listed = Vec::new();
    let data_mode = std::fs::metadata(&data)?.permissions().mode() & 0o777;
    if data_mode != 0o700 {
        wrong.push(format!("{} {data_mode:o}", data.display()));
    }
    for (p, ft, mode) in &entries {
        let rel = p.strip_prefix(&data).unwrap().display().to_string();
        let want = if ft.is_dir() { 0o700 } else { 0o600 };
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_socket() {
            "socket"
        } else {
            "file"
        };
        listed.push(format!("{rel} ({kind}) {mode:o}"));
        if ft.is_symlink() {
            continue;
        }
        if *mode != want {
            wrong.push(format!("{rel} ({kind}) {mode:o}, want {want:o}"));
        }
    }
    println!(
        "security: token absent from {log_lines} log lines (stderr + server.log at debug), {} error answers, {} response header sets and the post-login URL {location:?}; cookie flags {flags:?}",
        bodies.len(),
        seen.len()
    );
    println!("security: data dir 700; {}", listed.join(", "));
    ensure!(wrong.is_empty(), "not private: {wrong:?}");
    ensure!(
        entries
            .iter()
            .any(|(p, _, _)| p.ends_with("orbitdock.sqlite")),
        "no database in {listed:?}"
    );
    Ok(())
}

const PROBE_USER: &str = "orbitdock-probe";

/// Not a test: the entry point `a_second_local_user_is_refused` runs in this same binary as the
/// second user (ignored, so normal runs skip it). `ORBITDOCK_PROBE` is `read:PATH`,
/// `socket:PATH` or `http:HOST:PORT`; prints one `PROBE <target> ok|refused <error>|status
/// <code>` line.
#[test]
#[ignore = "the second user's probe, started by a_second_local_user_is_refused"]
fn probe_as_another_user() {
    let Ok(what) = std::env::var("ORBITDOCK_PROBE") else {
        return;
    };
    let result = if let Some(p) = what.strip_prefix("read:") {
        match std::fs::read(p) {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("refused {e}"),
        }
    } else if let Some(p) = what.strip_prefix("socket:") {
        match std::os::unix::net::UnixStream::connect(p) {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("refused {e}"),
        }
    } else if let Some(addr) = what.strip_prefix("http:") {
        match std::net::TcpStream::connect(addr) {
            Ok(mut s) => {
                let _ = write!(
                    s,
                    "GET /api/sessions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                );
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                format!("status {}", out.split_whitespace().nth(1).unwrap_or("none"))
            }
            Err(e) => format!("refused {e}"),
        }
    } else {
        "unknown probe".to_owned()
    };
    println!("PROBE {what} {result}");
}

/// Runs [`probe_as_another_user`] in this test binary as `uid`/`gid`.
fn probe(uid: u32, gid: u32, what: &str) -> Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "--ignored",
            "security::probe_as_another_user",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("ORBITDOCK_PROBE", what)
        .uid(uid)
        .gid(gid)
        .current_dir("/")
        .output()
        .context("running the probe as the second user")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        // libtest prints `test NAME ... ` before the test's own output, on the same line.
        .find_map(|l| l.split_once(&format!("PROBE {what} ")).map(|(_, r)| r))
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "the probe printed nothing: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_local_user_is_refused() -> Result<()> {
    let (uid, gid) = match test_support::second_local_user(PROBE_USER) {
        Ok(ids) => ids,
        Err(reason) => {
            println!("SKIPPED second-user checks: {reason}");
            return Ok(());
        }
    };
    let bin = target_bin("orbitdock")?;
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let tmp = tempfile::tempdir()?;
    // Directories the other user may enter, so only the hub's own modes stand in the way.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let data = tmp.path().join("data");
    let mut s = serve(&bin, &data, &home, &[])?;
    // A session, so the app-server (and whatever sockets it opens) is running.
    let _: SessionState = s
        .rest()
        .post("/api/sessions", &json!({"cwd": home.workdir()}))
        .await?;
    // Can the other user run this binary at all? Otherwise the checks below prove nothing.
    let reachable = probe(uid, gid, "read:/etc/hostname");
    if let Err(e) = &reachable {
        s.terminate();
        println!("SKIPPED second-user checks: the test binary cannot run as uid {uid}: {e}");
        return Ok(());
    }
    let mut sockets = Vec::new();
    for root in [data.as_path(), home.path()] {
        for (p, ft, _) in walk(root)? {
            if ft.is_socket() {
                sockets.push(p);
            }
        }
    }
    let token_file = data.join("token");
    let token_read = probe(uid, gid, &format!("read:{}", token_file.display()))?;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let http = probe(uid, gid, &format!("http:{addr}"))?;
    let mut socket_results = Vec::new();
    for p in &sockets {
        socket_results.push((
            p.clone(),
            probe(uid, gid, &format!("socket:{}", p.display()))?,
        ));
    }
    s.terminate();
    println!(
        "security: second local user (uid {uid}): token file: {token_read}; loopback port without the token: {http}; Unix sockets under the data dir and CODEX_HOME: {}",
        if socket_results.is_empty() {
            "none created".to_owned()
        } else {
            socket_results
                .iter()
                .map(|(p, r)| format!("{} {r}", p.display()))
                .collect::<Vec<_>>()
                .join("; ")
        }
    );
    ensure!(
        token_read.starts_with("refused"),
        "the other user read the token"
    );
    ensure!(http == "status 401", "the other user got {http}");
    for (p, r) in &socket_results {
        ensure!(
            r.starts_with("refused"),
            "the other user connected to {}",
            p.display()
        );
    }
    Ok(())
}

/// Runs `orbitdock ARGS --data-dir DATA` to completion; its stdout.
fn cli(bin: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "orbitdock {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_keeps_the_token_and_device_secrets_out_of_urls_and_logs() -> Result<()> {
    let bin = target_bin("orbitdock")?;
    let DebugServer {
        _fake,
        home: _home,
        _tmp,
        data,
        stderr,
        mut s,
    } = serve_at_debug(&bin)?;
    let token = s.token.clone();
    let base = s.base.clone();

    // `orbitdock pair`: a QR code and the link, which names the server and carries the code in
    // its fragment only.
    let shown = cli(&bin, &data, &["pair", "--name", "Phone"])?;
    let url = shown
        .lines()
        .rev()
        .find(|l| l.starts_with("http"))
        .context("no link printed")?
        .trim()
        .to_owned();
    ensure!(
        shown.contains('█') || shown.contains('▀'),
        "no QR code: {shown}"
    );
    ensure!(!shown.contains(&token), "the token is in the pair output");
    let (page, code) = url.split_once('#').context("no fragment")?;
    ensure!(page == format!("{base}/pair"), "{url}");
    // `--url` names the address the phone reaches, and `--json` prints the link alone.
    let other: serde_json::Value = serde_json::from_str(&cli(
        &bin,
        &data,
        &[
            "pair",
            "--url",
            "https://hub.example.ts.net/",
            "--ttl",
            "60",
            "--json",
        ],
    )?)?;
    let other_url = other["url"].as_str().context("url")?;
    ensure!(
        other_url.starts_with("https://hub.example.ts.net/pair#"),
        "{other}"
    );

    // The phone: opens the page, posts the code, then uses its cookie for REST and the socket.
    let c = reqwest::Client::new();
    ensure!(c.get(page).send().await?.status() == 200);
    let r = c
        .post(format!("{base}/api/pair"))
        .json(&json!({ "code": code }))
        .send()
        .await?;
    ensure!(r.status() == 200, "pair: {}", r.status());
    let set_cookie = r.headers()["set-cookie"].to_str()?.to_owned();
    let device_cookie = set_cookie.split(';').next().unwrap().to_owned();
    let secret = device_cookie
        .strip_prefix("orbitdock_device=")
        .context("cookie name")?
        .to_owned();
    let device: orbitdock_protocol::pairing::PairedDevice = r.json().await?;
    let r = c
        .get(format!("{base}/api/sessions"))
        .header("cookie", &device_cookie)
        .send()
        .await?;
    ensure!(
        r.status() == 200,
        "sessions with the device cookie: {}",
        r.status()
    );
    let mut ws = crate::common::Ws::connect_with_cookie(&base, &device_cookie).await?;
    let listed = cli(&bin, &data, &["devices"])?;
    ensure!(
        listed.contains(&device.id) && listed.contains("Phone"),
        "{listed}"
    );
    // Revoked from the terminal: the socket closes, the cookie stops working.
    cli(&bin, &data, &["devices", "--revoke", &device.id])?;
    ensure!(ws.wait_closed().await? == Some(4401));
    let r = c
        .get(format!("{base}/api/sessions"))
        .header("cookie", &device_cookie)
        .send()
        .await?;
    ensure!(r.status() == 401, "revoked: {}", r.status());

    // The link `orbitdock serve` printed signs this machine's browser in once, as a device of
    // its own; used again, it is refused.
    let redeem = |code: String| {
        let c = c.clone();
        let base = base.clone();
        async move {
            let r = c
                .post(format!("{base}/api/pair"))
                .json(&json!({ "code": code }))
                .send()
                .await?;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await?;
            anyhow::Ok((status, body))
        }
    };
    let (_, serve_code) = s
        .sign_in_link
        .split_once('#')
        .context("no fragment in the sign-in link")?;
    let serve_code = serve_code.to_owned();
    let (status, local) = redeem(serve_code.clone()).await?;
    ensure!(status == 200, "the printed link: {status} {local}");
    ensure!(local["name"] == "Browser on this machine", "{local}");
    let (status, again) = redeem(serve_code.clone()).await?;
    ensure!(status == 401, "the printed link twice: {status} {again}");

    // `orbitdock open` mints a fresh one; without a desktop opener it prints the link and says
    // to open it by hand.
    let out = Command::new(&bin)
        .arg("--data-dir")
        .arg(&data)
        .arg("open")
        .env("PATH", "")
        .stdin(Stdio::null())
        .output()?;
    let (shown, said) = (
        String::from_utf8(out.stdout)?,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    ensure!(out.status.success(), "orbitdock open: {said}");
    ensure!(said.contains("open the link above"), "{said}");
    ensure!(!shown.contains(&token), "the token is in the open output");
    let open_url = shown
        .lines()
        .find(|l| l.starts_with("http"))
        .context("no link printed by open")?
        .trim()
        .to_owned();
    let (open_page, open_code) = open_url.split_once('#').context("no fragment")?;
    ensure!(open_page == format!("{base}/pair"), "{open_url}");
    let open_code = open_code.to_owned();
    let (status, opened) = redeem(open_code.clone()).await?;
    ensure!(status == 200, "the open link: {status} {opened}");
    ensure!(opened["name"] == "Browser on this machine", "{opened}");
    ensure!(redeem(open_code.clone()).await?.0 == 401);
    // `--print` only prints.
    let printed = cli(&bin, &data, &["open", "--print"])?;
    ensure!(printed.contains(&format!("{base}/pair#")), "{printed}");
    // Both browsers are listed, and revoked like any device.
    let listed = cli(&bin, &data, &["devices"])?;
    ensure!(
        listed.matches("Browser on this machine").count() == 2,
        "{listed}"
    );
    let local_id = local["id"].as_str().context("device id")?;
    cli(&bin, &data, &["devices", "--revoke", local_id])?;

    s.terminate();
    let mut logs = String::new();
    std::fs::File::open(&stderr)?.read_to_string(&mut logs)?;
    logs.push_str(&std::fs::read_to_string(
        data.join("logs").join("server.log"),
    )?);
    ensure!(
        logs.contains("device paired") && logs.contains("device revoked"),
        "the pairing is not in the logs: {logs}"
    );
    for (what, secret) in [
        ("API token", token.as_str()),
        ("device secret", secret.as_str()),
        ("pairing code", code),
        ("printed sign-in code", serve_code.as_str()),
        ("`orbitdock open` code", open_code.as_str()),
    ] {
        ensure!(!logs.contains(secret), "the {what} is in the logs");
        ensure!(!url.contains(&token), "the {what} is in the pairing link");
    }
    Ok(())
}
