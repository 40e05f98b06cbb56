//! The account and the first run, against the REAL pinned Codex app-server: a CODEX_HOME whose
//! default provider is the OpenAI account (`openai_base_url` points it at the loopback fake, so
//! the request Codex makes with the key can be checked) and nobody logged in.
//!
//! A newcomer's session fails to start with one readable sentence (no model request is made, no
//! "Reconnecting..." in a transcript); an API-key login through `account/login/start` is stored
//! by Codex (auth.json 0600) and the retried session's model request carries the key as its
//! bearer token; logout removes it again.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use anyhow::{Result, ensure};
use orbitdock_protocol::{
    AccountStatus, ItemBody, ItemsPage, LoginResponse, ProviderState, ProvidersResponse,
    SessionState, SessionStatus,
};
use serde_json::json;
use test_support::ScriptedResponse;

use crate::common::{Harness, eventually};

const KEY: &str = "sk-orbitdock-test-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_is_logged_out_then_logs_in_with_an_api_key_and_out_again() -> Result<()> {
    let h = Harness::start_with_home(|b, url| {
        b.extra_toml(&format!(
            "model_provider = \"openai\"\nopenai_base_url = \"{url}\""
        ))
    })
    .await?;

    // The newcomer's state, read from Codex.
    let account: AccountStatus = h.get("/api/account").await?;
    ensure!(
        !account.logged_in && account.requires_openai_auth && account.error.is_none(),
        "{account:?}"
    );
    ensure!(account.codex_home == h.home.path().display().to_string());
    let providers: ProvidersResponse = h.get("/api/providers").await?;
    ensure!(providers.providers[0].id == "openai");
    ensure!(
        providers.providers[0].state == ProviderState::LoggedOut,
        "{providers:?}"
    );

    // A session on the account fails to start, saying why in one sentence.
    let r = h
        .http
        .post(format!("{}/api/sessions", h.base()))
        .bearer_auth(crate::common::TOKEN)
        .json(&json!({"cwd": h.workdir(), "prompt": "hello there"}))
        .send()
        .await?;
    ensure!(r.status().as_u16() == 409, "{}", r.status());
    let (_, list) = h.server.as_ref().unwrap().registry.list();
    let failed = list.first().cloned().unwrap();
    ensure!(failed.status == SessionStatus::Failed, "{failed:?}");
    let why = failed.failure.clone().unwrap_or_default();
    ensure!(
        why == "Nobody is logged in to OpenAI; log in (API key or ChatGPT) or choose the local model",
        "{why}"
    );
    let page: ItemsPage = h.get(&format!("/api/sessions/{}/items", failed.id)).await?;
    let texts: Vec<String> = page
        .items
        .iter()
        .map(|i| match &i.body {
            ItemBody::Notice { message, .. } | ItemBody::Error { message } => message.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    ensure!(
        texts == vec![format!("Failed to start: {why}")],
        "one readable notice, nothing else: {texts:?}"
    );
    ensure!(h.fake.requests().is_empty(), "no model request was made");
    // Codex runs without Rust backtraces, whatever the environment says: a failure is one
    // sentence, never a stack trace.
    let agent = h.agent_pid()?;
    let environ = std::fs::read(format!("/proc/{agent}/environ"))?;
    let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
    ensure!(
        vars.contains(&&b"RUST_BACKTRACE=0"[..]),
        "RUST_BACKTRACE=0 for Codex"
    );

    // API-key login: Codex stores the key (auth.json, owner-only).
    h.fake
        .enqueue(ScriptedResponse::new().text("Logged in and answering."));
    let login: LoginResponse = h
        .post(
            "/api/account/login",
            &json!({"method": "api_key", "api_key": KEY}),
        )
        .await?;
    ensure!(
        login.account.logged_in && login.account.kind.as_deref() == Some("api_key"),
        "{login:?}"
    );
    let auth = h.home.path().join("auth.json");
    ensure!(std::fs::metadata(&auth)?.permissions().mode() & 0o777 == 0o600);
    let providers: ProvidersResponse = h.get("/api/providers").await?;
    ensure!(
        providers.providers[0].state == ProviderState::Up,
        "{providers:?}"
    );

    // Retrying the failed session starts it with its first prompt; Codex sends the key.
    let st: SessionState = h
        .post(&format!("/api/sessions/{}/resume", failed.id), &json!({}))
        .await?;
    ensure!(st.summary.failure.is_none(), "{:?}", st.summary);
    let id = failed.id.clone();
    let reply = eventually("the agent's reply", || async {
        let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
        Ok(page.items.iter().find_map(|i| match &i.body {
            ItemBody::AgentMessage { text } if !text.is_empty() => Some(text.clone()),
            _ => None,
        }))
    })
    .await?;
    ensure!(reply == "Logged in and answering.", "{reply}");
    let turn = h.fake.responses_requests();
    ensure!(!turn.is_empty());
    ensure!(
        turn[0].header("authorization") == Some(&format!("Bearer {KEY}")),
        "the model request carries the key: {:?}",
        turn[0].header("authorization")
    );
    ensure!(turn[0].last_user_text().as_deref() == Some("hello there"));

    // Logout: Codex forgets the key.
    let after: AccountStatus = h.post("/api/account/logout", &json!({})).await?;
    ensure!(!after.logged_in, "{after:?}");
    ensure!(!auth.exists(), "auth.json removed");
    let account: AccountStatus = h.get("/api/account").await?;
    ensure!(!account.logged_in);
    h.shutdown().await;
    Ok(())
}

/// A fresh machine: the CODEX_HOME given does not exist yet. The hub creates it private (0700)
/// and Codex starts in it; the account reads as nobody logged in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_codex_home_is_created_private_and_reads_as_logged_out() -> Result<()> {
    let data = tempfile::tempdir()?;
    let machine = tempfile::TempDir::new_in(test_support::default_parent_dir())?;
    let home = machine.path().join("new").join(".codex");
    let env: Vec<(String, String)> = test_support::SCRUBBED_ENV
        .iter()
        .map(|k| ((*k).to_owned(), String::new()))
        .collect();
    let server = orbitdock_server::start(orbitdock_server::ServerConfig {
        data_dir: data.path().to_owned(),
        codex_home: home.clone(),
        codex_bin: test_support::codex_bin(),
        bind: "127.0.0.1:0".parse()?,
        token: crate::common::TOKEN.into(),
        codex_env: env,
        claude: None,
        output_limits: Default::default(),
    })
    .await?;
    ensure!(std::fs::metadata(&home)?.permissions().mode() & 0o777 == 0o700);
    let account: AccountStatus = crate::common::Rest::new(&server.base_url())
        .get("/api/account")
        .await?;
    ensure!(
        !account.logged_in && account.requires_openai_auth && account.error.is_none(),
        "{account:?}"
    );
    server.shutdown().await;
    Ok(())
}
