//! `orbitdock host serve` and `orbitdock hosts add|list|test|remove` as real processes: a
//! second "machine" on loopback (the REAL pinned `codex app-server --listen ws://` with a
//! generated capability token, in its own CODEX_HOME and data dir) is added to a hub's data
//! dir with the exact command `host serve` prints; `hosts test` reaches it and reports its
//! Codex version; a wrong token is refused with the server's own reason; plain ws:// to a
//! non-loopback address needs consent; a stopped host is reported unreachable; tokens stay
//! 0600 and are never printed. And an SSH host: our own `sshd` on loopback, `ssh://user@127.0.0.1:PORT`
//! added, tested, and a thread run through `ssh … codex app-server` on it.

use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, codex_bin};
use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(60);

fn hosts_cmd(data: &std::path::Path, args: &[&str]) -> Result<Output> {
    Ok(super::orbitdock()
        .arg("--data-dir")
        .arg(data)
        .arg("hosts")
        .args(args)
        .output()?)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_ws_host_is_added_tested_refused_with_a_wrong_token_and_reported_unreachable()
-> Result<()> {
    let fake = FakeResponses::start();
    let remote_home = CodexHomeBuilder::new(&fake.base_url()).build();
    let remote_data = tempfile::tempdir()?;
    let hub_data = tempfile::tempdir()?;

    // The other machine: `orbitdock host serve`.
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbitdock"))
        .arg("--data-dir")
        .arg(remote_data.path())
        .args(["host", "serve", "--listen", "127.0.0.1:0", "--name", "box"])
        .arg("--codex-home")
        .arg(remote_home.path())
        .arg("--codex-bin")
        .arg(codex_bin())
        .envs(remote_home.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(serve.stdout.take().context("stdout")?).lines();
    let add_line = tokio::time::timeout(WAIT, async {
        while let Some(l) = lines.next_line().await? {
            if let Some(cmd) = l.trim().strip_prefix("orbitdock hosts add ") {
                return Ok::<_, anyhow::Error>(cmd.to_owned());
            }
        }
        bail!("host serve ended without printing the hosts add command")
    })
    .await
    .context("host serve did not print the hosts add command in time")??;
    let args: Vec<&str> = add_line.split_whitespace().collect();
    assert_eq!(args[0], "box", "{add_line}");
    assert!(args[1].starts_with("ws://127.0.0.1:"), "{add_line}");
    assert_eq!(args[2], "--token-file", "{add_line}");
    let token_file = std::path::PathBuf::from(args[3]);
    let token = std::fs::read_to_string(&token_file)?;
    assert_eq!(
        std::fs::metadata(&token_file)?.permissions().mode() & 0o777,
        0o600
    );

    // The hub: the exact printed command.
    let added = hosts_cmd(
        hub_data.path(),
        &["add"]
            .into_iter()
            .chain(args.iter().copied())
            .collect::<Vec<_>>(),
    )?;
    assert!(added.status.success(), "{}", text(&added));
    let stored = hub_data.path().join("hosts").join("box.token");
    assert_eq!(std::fs::read_to_string(&stored)?, token.trim());
    assert_eq!(
        std::fs::metadata(&stored)?.permissions().mode() & 0o777,
        0o600
    );

    let listed = hosts_cmd(hub_data.path(), &["list", "--json"])?;
    assert!(listed.status.success(), "{}", text(&listed));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    assert_eq!(list[0]["name"], "box");
    assert_eq!(list[0]["url"], args[1]);
    assert_eq!(list[0]["has_token"], true);

    let tested = hosts_cmd(hub_data.path(), &["test", "box"])?;
    assert!(tested.status.success(), "{}", text(&tested));
    assert!(
        text(&tested).contains(&format!("Codex {}", codex_client::PINNED_VERSION)),
        "{}",
        text(&tested)
    );

    // A wrong token: refused before `initialize`, with the server's reason.
    let wrong = hub_data.path().join("wrong.token");
    std::fs::write(&wrong, "not-the-token\n")?;
    let added = hosts_cmd(
        hub_data.path(),
        &[
            "add",
            "bad",
            args[1],
            "--token-file",
            &wrong.display().to_string(),
        ],
    )?;
    assert!(added.status.success(), "{}", text(&added));
    let refused = hosts_cmd(hub_data.path(), &["test", "bad"])?;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("invalid websocket bearer token"),
        "{}",
        text(&refused)
    );

    // Plain ws:// off this machine needs consent.
    let far = hosts_cmd(
        hub_data.path(),
        &[
            "add",
            "far",
            "ws://10.1.2.3:4500",
            "--token-file",
            &wrong.display().to_string(),
        ],
    )?;
    assert!(!far.status.success());
    assert!(text(&far).contains("ssh://10.1.2.3"), "{}", text(&far));

    // No command printed a token.
    for o in [&tested, &refused, &listed] {
        assert!(!text(o).contains(token.trim()), "{}", text(o));
    }

    // The host stops: unreachable, said so.
    let pid = serve.id().context("serve pid")?;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(term.success());
    let status = tokio::time::timeout(WAIT, serve.wait()).await??;
    assert!(status.success(), "{status}");
    let gone = hosts_cmd(hub_data.path(), &["test", "box", "--timeout-secs", "5"])?;
    assert!(!gone.status.success());
    assert!(text(&gone).contains("cannot connect"), "{}", text(&gone));

    let removed = hosts_cmd(hub_data.path(), &["remove", "box"])?;
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(!stored.exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_host_runs_a_thread_through_codex_app_server_over_ssh() -> Result<()> {
    use codex_client::app_server::requests::{
        ThreadStart, ThreadStartParams, TurnStart, TurnStartParams,
    };
    use codex_client::app_server::{
        AppServerEvent, ReconnectPolicy, RemoteBuilder, ServerNotification, ThreadItem,
    };

    let fake = FakeResponses::start();
    let remote_home = CodexHomeBuilder::new(&fake.base_url()).build();
    let hub_data = tempfile::tempdir()?;
    let sshd = test_support::sshd::Sshd::start().await;
    let url = sshd.url();
    // What the remote shell runs: the pinned codex in the "remote" CODEX_HOME.
    let remote_codex = format!(
        "CODEX_HOME={} NO_PROXY=127.0.0.1 RUST_LOG=error {}",
        remote_home.path().display(),
        codex_bin().display()
    );
    let mut add: Vec<String> = ["add", "sshbox", &url, "--remote-codex", &remote_codex]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for o in sshd.options() {
        add.push("--ssh-option".into());
        add.push(o);
    }
    let added = hosts_cmd(
        hub_data.path(),
        &add.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    assert!(added.status.success(), "{}", text(&added));
    let tested = hosts_cmd(hub_data.path(), &["test", "sshbox"])?;
    assert!(tested.status.success(), "{}", text(&tested));
    assert!(
        text(&tested).contains(&format!("Codex {}", codex_client::PINNED_VERSION))
            && text(&tested).contains(&remote_home.path().display().to_string()),
        "{}",
        text(&tested)
    );

    // A thread and a turn through the same SSH route the hub uses.
    let hosts = orbitdock_server::hosts::Hosts::new(hub_data.path());
    let entry = hosts.get("sshbox")?;
    let (server, mut events) = RemoteBuilder::new(hosts.endpoint(&entry)?)
        .reconnect(ReconnectPolicy::never())
        .connect()
        .await?;
    fake.enqueue(ScriptedResponse::new().text("answered over ssh"));
    let thread = server
        .call::<ThreadStart>(ThreadStartParams {
            cwd: Some(remote_home.workdir().display().to_string()),
            ..Default::default()
        })
        .await?
        .thread
        .id;
    server
        .call::<TurnStart>(TurnStartParams::text(&thread, "hello over ssh"))
        .await?;
    let mut answer = String::new();
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.recv().await {
            match ev {
                AppServerEvent::Notification(ServerNotification::ItemCompleted(i))
                    if i.thread_id == thread =>
                {
                    if let ThreadItem::AgentMessage { text, .. } = &i.item {
                        answer = text.clone();
                    }
                }
                AppServerEvent::Notification(ServerNotification::TurnCompleted(c))
                    if c.thread_id == thread =>
                {
                    return Ok(());
                }
                AppServerEvent::Closed { reason } => bail!("closed: {reason}"),
                _ => {}
            }
        }
        bail!("events ended")
    })
    .await
    .context("the turn over ssh did not complete")??;
    assert_eq!(answer, "answered over ssh");
    assert_eq!(
        fake.responses_requests()
            .last()
            .and_then(|r| r.last_user_text())
            .as_deref(),
        Some("hello over ssh")
    );
    server.shutdown().await?;
    sshd.stop().await;
    Ok(())
}
