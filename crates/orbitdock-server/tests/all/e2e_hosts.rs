//! Hub sessions on Codex hosts, end to end: a second "machine" on loopback (the REAL pinned
//! `codex app-server --listen ws://… --ws-auth capability-token` in its own CODEX_HOME) added
//! over REST; a session there streams, asks a command approval that the hub answers, and the
//! command runs on the host; a wrong token is refused with the host's reason; killing the host
//! marks it and its session unreachable (not ended) and restarting it brings the session back.
//! And an SSH host: our own sshd on loopback, `ssh://user@127.0.0.1:PORT`, a session through
//! `ssh … codex app-server` on it.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use codex_client::app_server::{AppServerListener, Endpoint, Listen, ListenerBuilder};
use common::{Harness, Ws, is_turn_ended};
use orbitdock_protocol::{
    HostInfo, HostKind, HostState, HostTestResponse, HostsResponse, ItemBody, ItemsPage,
    ServerMessage, SessionDelta, SessionState, SessionStatus, SessionsResponse, TextStream,
};
use serde_json::json;
use test_support::{CodexHomeBuilder, ScriptedResponse, TempCodexHome};

/// The other machine: a listener in its own CODEX_HOME, on a fixed port so it can come back
/// where the hub expects it.
async fn listen(home: &TempCodexHome, addr: &str, token_file: &Path) -> Result<AppServerListener> {
    Ok(ListenerBuilder::new(
        test_support::codex_bin(),
        home.path(),
        Listen::WebSocket {
            addr: addr.to_owned(),
            token_file: Some(token_file.to_owned()),
        },
    )
    .envs(home.env())
    .spawn()
    .await?)
}

fn write_token(dir: &Path, name: &str, token: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let f = dir.join(name);
    std::fs::write(&f, format!("{token}\n"))?;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Waits for a `host_changed` of `name` whose host passes `pred`.
async fn host_change(
    ws: &mut Ws,
    name: &str,
    what: &str,
    pred: impl Fn(&HostInfo) -> bool,
) -> Result<HostInfo> {
    match ws
        .wait_for(
            what,
            |m| matches!(m, ServerMessage::HostChanged { host } if host.name == name && pred(host)),
        )
        .await?
    {
        ServerMessage::HostChanged { host } => Ok(host),
        _ => unreachable!(),
    }
}

/// Asserts the session's transcript holds this agent message.
async fn assert_answered(h: &Harness, id: &str, answer: &str) -> Result<()> {
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?after=0&limit=200"))
        .await?;
    assert!(
        page.items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text } if text == answer)),
        "{answer:?} not in {:#?}",
        page.items
    );
    Ok(())
}

async fn status_of(h: &Harness, id: &str) -> Result<SessionStatus> {
    let s: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    Ok(s.summary.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_host_runs_a_session_with_an_approval_goes_unreachable_and_comes_back() -> Result<()> {
    let h = Harness::start().await?;
    let remote = CodexHomeBuilder::new(&h.fake.base_url()).build();
    let secrets = tempfile::tempdir()?;
    let token = "the-real-capability-token-42";
    let token_file = write_token(secrets.path(), "box.token", token)?;
    let listener = listen(&remote, "127.0.0.1:0", &token_file).await?;
    let url = match listener.endpoint() {
        Endpoint::WebSocket { url, .. } => url,
        other => bail!("unexpected endpoint {other:?}"),
    };
    let port = url.rsplit(':').next().context("port")?.to_owned();

    let mut ws = h.ws().await?;
    let added: HostInfo = h
        .post(
            "/api/hosts",
            &json!({"name": "box", "url": url, "token": token}),
        )
        .await?;
    assert_eq!(
        (added.name.as_str(), added.kind, added.state),
        ("box", HostKind::Ws, HostState::Connected),
        "{added:?}"
    );
    assert_eq!(
        added.codex_version.as_deref(),
        Some(codex_client::PINNED_VERSION)
    );
    host_change(&mut ws, "box", "box connected", |h| {
        h.state == HostState::Connected
    })
    .await?;
    let stored = h.data.path().join("hosts").join("box.token");
    assert_eq!(std::fs::read_to_string(&stored)?.trim(), token);

    // A wrong token: refused before `initialize`, said so in the host's state and on use.
    let bad: HostInfo = h
        .post(
            "/api/hosts",
            &json!({"name": "bad", "url": url, "token": "not-the-token"}),
        )
        .await?;
    assert_eq!(bad.state, HostState::Unreachable, "{bad:?}");
    let why = bad.last_error.clone().unwrap_or_default();
    assert!(
        why.contains("refused our token") && why.contains("invalid websocket bearer token"),
        "{why}"
    );
    let tested: HostTestResponse = h.post("/api/hosts/bad/test", &json!({})).await?;
    assert!(!tested.ok, "{tested:?}");
    assert!(
        tested
            .error
            .as_deref()
            .is_some_and(|e| e.contains("invalid websocket bearer token")),
        "{tested:?}"
    );
    let refused = h
        .http
        .post(format!("{}/api/sessions", h.base()))
        .bearer_auth(common::TOKEN)
        .json(&json!({"cwd": remote.workdir(), "host": "bad", "prompt": "hi"}))
        .send()
        .await?;
    let refused_text = refused.text().await?;
    assert!(
        refused_text.contains("invalid websocket bearer token"),
        "{refused_text}"
    );

    // The hosts list: both, with states, and no token anywhere in what the hub serves.
    let listed = h
        .http
        .get(format!("{}/api/hosts", h.base()))
        .bearer_auth(common::TOKEN)
        .send()
        .await?
        .text()
        .await?;
    assert!(
        !listed.contains(token) && !listed.contains("not-the-token"),
        "{listed}"
    );
    let hosts: HostsResponse = serde_json::from_str(&listed)?;
    let states: Vec<_> = hosts
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.state))
        .collect();
    assert_eq!(
        states,
        [
            ("box", HostState::Connected),
            ("bad", HostState::Unreachable)
        ]
    );

    // A session on the host: it streams, asks before running a command, the hub approves it,
    // and the command runs in the host's work dir.
    h.fake.enqueue(ScriptedResponse::new().exec_command(
        "printf remote > approved.txt && echo ran-on-host",
        "call-host",
    ));
    h.fake
        .enqueue(ScriptedResponse::new().text_deltas(&["done ", "on ", "the host"]));
    let created = h
        .create(json!({
            "cwd": remote.workdir(), "host": "box",
            "approval_policy": "untrusted", "sandbox_mode": "workspace-write",
        }))
        .await?;
    let id = created.summary.id.clone();
    assert_eq!(created.summary.host.as_deref(), Some("box"));
    let thread = created.summary.thread_id.clone().context("thread")?;
    ws.subscribe_snapshot(&id).await?;
    h.send_message(&id, "make the file on the host").await?;
    let approval = ws.wait_approval("approval from the host", &id).await?;
    assert!(
        approval
            .command
            .as_deref()
            .is_some_and(|c| c.contains("approved.txt")),
        "{approval:?}"
    );
    assert!(!remote.workdir().join("approved.txt").exists());
    // Answered on the hub's WebSocket, like a local session's.
    ws.send(
        json!({"type": "approve", "session_id": id, "request_id": approval.request_id,
                   "decision": "accept", "client_ref": "yes"}),
    )
    .await?;
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    assert_eq!(
        std::fs::read_to_string(remote.workdir().join("approved.txt"))?,
        "remote"
    );
    let streamed: String = ws
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMessage::SessionDelta {
                session_id,
                delta:
                    SessionDelta::ItemText {
                        stream: TextStream::Text,
                        delta,
                        ..
                    },
                ..
            } if *session_id == id => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "done on the host");
    // The thread lives on the host, not in the hub's CODEX_HOME.
    assert!(
        !test_support::rollout_files(remote.path()).is_empty()
            && test_support::rollout_files(h.home.path()).is_empty()
    );
    // The host filter of the list is the machine.
    let on_box: SessionsResponse = h.get("/api/sessions?host=box").await?;
    assert_eq!(
        on_box
            .sessions
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        [id.as_str()]
    );
    let local: SessionsResponse = h.get("/api/sessions?host=local").await?;
    assert!(local.sessions.iter().all(|s| s.id != id));

    // The host goes away: unreachable, and its session says so (it is not ended).
    let mut listener = listener;
    listener.kill().await?;
    host_change(&mut ws, "box", "box unreachable", |h| {
        h.state != HostState::Connected && h.last_error.is_some()
    })
    .await?;
    ws.wait_delta("session unreachable", &id, |d| {
        matches!(d, SessionDelta::Summary { summary } if summary.status == SessionStatus::HostUnreachable)
    })
    .await?;
    assert_eq!(status_of(&h, &id).await?, SessionStatus::HostUnreachable);
    let refused: (u16, serde_json::Value) = common::Rest::new(&h.base())
        .post_raw(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "are you there?"}),
        )
        .await?;
    assert_eq!(refused.0, 409, "{refused:?}");
    assert!(refused.1.to_string().contains("unreachable"), "{refused:?}");

    // It comes back on the same port with the same token: the link reconnects, the thread is
    // resumed, the session works again.
    let listener = listen(&remote, &format!("127.0.0.1:{port}"), &token_file).await?;
    host_change(&mut ws, "box", "box back", |h| {
        h.state == HostState::Connected
    })
    .await?;
    ws.wait_delta("session back", &id, |d| {
        matches!(d, SessionDelta::Summary { summary } if summary.status == SessionStatus::Waiting)
    })
    .await?;
    h.fake
        .enqueue(ScriptedResponse::new().text("still here after the restart"));
    h.send_message(&id, "and now?").await?;
    ws.wait_delta("second turn ended", &id, is_turn_ended)
        .await?;
    assert_answered(&h, &id, "still here after the restart").await?;
    let after: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(after.summary.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(after.summary.status, SessionStatus::Waiting);

    // Removing a host closes its link and deletes its token; its session stays listed.
    let _: HostInfo = h.post("/api/hosts/bad/remove", &json!({})).await?;
    ws.wait_for(
        "bad removed",
        |m| matches!(m, ServerMessage::HostRemoved { name } if name == "bad"),
    )
    .await?;
    assert!(!h.data.path().join("hosts").join("bad.token").exists());

    // A host registered by another process (what `orbitdock hosts add` does to the data dir
    // while the hub runs) is picked up and connected without a restart.
    orbitdock_server::hosts::Hosts::new(h.data.path()).add(&orbitdock_server::hosts::NewHost {
        name: "from-cli".into(),
        url: url.clone(),
        token_file: Some(token_file.clone()),
        ..Default::default()
    })?;
    host_change(
        &mut ws,
        "from-cli",
        "host added by the CLI connected",
        |h| h.state == HostState::Connected,
    )
    .await?;
    let listed: HostsResponse = h.get("/api/hosts").await?;
    assert!(listed.hosts.iter().any(|x| x.name == "from-cli"));
    // ... and one removed by another process is closed and reported gone.
    orbitdock_server::hosts::Hosts::new(h.data.path()).remove("from-cli")?;
    ws.wait_for(
        "host removed by the CLI",
        |m| matches!(m, ServerMessage::HostRemoved { name } if name == "from-cli"),
    )
    .await?;
    let listed: HostsResponse = h.get("/api/hosts").await?;
    assert!(!listed.hosts.iter().any(|x| x.name == "from-cli"));
    ws.close().await;

    // The hub restarts while the host is down: the session shows the host unreachable from the
    // start (not waiting, which would invite messages that cannot go anywhere) and comes back
    // when the host does.
    let mut listener = listener;
    listener.kill().await?;
    // In the host's place, a socket that takes connections and never answers: the hub's first
    // attempt hangs, so what the session shows right after the restart is what the hub assumed
    // at start-up, not the outcome of a refused connection.
    let silent = std::net::TcpListener::bind(format!("127.0.0.1:{port}"))?;
    let mut h = h;
    h.restart().await?;
    assert_eq!(status_of(&h, &id).await?, SessionStatus::HostUnreachable);
    let hosts: HostsResponse = h.get("/api/hosts").await?;
    assert!(
        hosts
            .hosts
            .iter()
            .any(|x| x.name == "box" && x.state != HostState::Connected),
        "{hosts:?}"
    );
    drop(silent);
    let listener = listen(&remote, &format!("127.0.0.1:{port}"), &token_file).await?;
    common::eventually("the session back after the hub's restart", || async {
        Ok((status_of(&h, &id).await? == SessionStatus::Waiting).then_some(()))
    })
    .await?;
    h.fake
        .enqueue(ScriptedResponse::new().text("answered after the hub restarted"));
    let mut ws = h.ws().await?;
    ws.subscribe_snapshot(&id).await?;
    h.send_message(&id, "still there?").await?;
    ws.wait_delta("turn after the hub restart ended", &id, is_turn_ended)
        .await?;
    assert_answered(&h, &id, "answered after the hub restarted").await?;

    drop(listener);
    ws.close().await;
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_host_runs_a_session_through_codex_app_server_over_ssh() -> Result<()> {
    let h = Harness::start().await?;
    let remote = CodexHomeBuilder::new(&h.fake.base_url()).build();
    let sshd = test_support::sshd::Sshd::start().await;
    // What the remote shell runs: the pinned codex in the "remote" CODEX_HOME (sshd gives the
    // session a clean environment, so the home and the no-proxy list are set on the line).
    let remote_codex = format!(
        "CODEX_HOME={} NO_PROXY=127.0.0.1 RUST_LOG=error {}",
        remote.path().display(),
        test_support::codex_bin().display()
    );
    let added: HostInfo = h
        .post(
            "/api/hosts",
            &json!({
                "name": "sshbox", "url": sshd.url(), "remote_codex": remote_codex,
                "ssh_options": sshd.options(),
            }),
        )
        .await?;
    assert_eq!(
        (added.kind, added.state, added.codex_version.as_deref()),
        (
            HostKind::Ssh,
            HostState::Connected,
            Some(codex_client::PINNED_VERSION)
        ),
        "{added:?}"
    );

    h.fake
        .enqueue(ScriptedResponse::new().text_deltas(&["answered ", "over ssh"]));
    let mut ws = h.ws().await?;
    let created = h
        .create(json!({"cwd": remote.workdir(), "host": "sshbox"}))
        .await?;
    let id = created.summary.id.clone();
    ws.subscribe_snapshot(&id).await?;
    h.send_message(&id, "hello over ssh").await?;
    ws.wait_delta("turn over ssh ended", &id, is_turn_ended)
        .await?;
    assert_answered(&h, &id, "answered over ssh").await?;
    assert!(!test_support::rollout_files(remote.path()).is_empty());
    assert_eq!(
        h.fake
            .responses_requests()
            .last()
            .and_then(|r| r.last_user_text())
            .as_deref(),
        Some("hello over ssh")
    );

    ws.close().await;
    h.shutdown().await;
    sshd.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_account_names_the_hosts_codex_home() -> Result<()> {
    use orbitdock_server::connector::Connector;
    use orbitdock_server::connector::codex::{AppServerConnector, RemoteTarget};

    let fake = test_support::FakeResponses::start();
    let remote = CodexHomeBuilder::new(&fake.base_url()).build();
    let secrets = tempfile::tempdir()?;
    let token_file = write_token(secrets.path(), "box.token", "account-host-token-0123")?;
    let mut listener = listen(&remote, "127.0.0.1:0", &token_file).await?;
    let connector = AppServerConnector::for_host(
        RemoteTarget {
            name: "box".into(),
            endpoint: listener.endpoint(),
            allow_insecure_ws: false,
            reconnect: Default::default(),
            connect_timeout: std::time::Duration::from_secs(20),
        },
        std::time::Duration::from_secs(20),
        orbitdock_server::connector::Router::new(),
    );
    // The hub has no CODEX_HOME of its own for a host: the account must name the host's.
    let account = connector.read_account().await?;
    assert_eq!(
        std::path::Path::new(&account.codex_home),
        remote.path(),
        "{account:?}"
    );
    connector.shutdown().await;
    listener.stop().await?;
    Ok(())
}
