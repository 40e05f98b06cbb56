//! MCP management through the CLI: both transports with every config-only field, and an OAuth
//! login against the loopback authorisation server, then tokens moved to an isolated home.

use std::time::Duration;

use codex_client::CodexHome;
use codex_client::config::{ConfigFile, CredentialStore};
use codex_client::mcp::{
    self, McpAddOptions, McpLogin, McpLoginEvent, McpServer, McpTransport, OAuthRegistration,
};

use crate::fake_cloud::{FakeCloud, MCP_ACCESS_TOKEN};
use crate::{binary, empty_home, mode, offline_env};

const STEP: Duration = Duration::from_secs(60);

/// `auth_status` of a server as `mcp list --json` reports it (`mcp get --json` omits it).
async fn auth_status(
    bin: &codex_client::CodexBinary,
    home: &CodexHome,
    name: &str,
) -> Option<String> {
    mcp::list(bin, home)
        .await
        .expect("list")
        .into_iter()
        .find(|s| s.name == name)
        .and_then(|s| s.auth_status)
}

fn file_store(home: &CodexHome) {
    let mut cfg = ConfigFile::load_home(home).expect("load");
    cfg.set_mcp_oauth_credential_store(CredentialStore::File)
        .expect("store");
    cfg.save().expect("save");
}

#[tokio::test]
async fn add_list_get_remove_both_transports_with_every_field() {
    let (_tmp, home) = empty_home();
    let bin = binary();

    let mut stdio = McpServer::stdio("/bin/cat", &["-u"]);
    if let McpTransport::Stdio {
        env, env_vars, cwd, ..
    } = &mut stdio.transport
    {
        env.insert("MODE".into(), "test".into());
        env_vars.push("HOME".into());
        *cwd = Some("/tmp".into());
    }
    stdio.startup_timeout_sec = Some(12.0);
    stdio.tool_timeout_sec = Some(30.0);
    stdio.enabled_tools = Some(vec!["read".into(), "list".into()]);
    let added = mcp::add_with(&bin, &home, "files", &stdio, &McpAddOptions::default())
        .await
        .expect("add stdio");
    assert!(!added.oauth_detected);

    // No OAuth metadata at this address (nothing listens): a plain HTTP entry.
    let mut http = McpServer::http("http://127.0.0.1:9/mcp");
    if let McpTransport::Http {
        bearer_token_env_var,
        http_headers,
        env_http_headers,
        ..
    } = &mut http.transport
    {
        *bearer_token_env_var = Some("DOCS_TOKEN".into());
        http_headers.insert("X-Team".into(), "orbit".into());
        env_http_headers.insert("X-Api-Key".into(), "DOCS_KEY".into());
    }
    http.enabled = Some(false);
    http.disabled_tools = Some(vec!["delete".into()]);
    http.startup_timeout_sec = Some(5.0);
    mcp::add_with(&bin, &home, "docs", &http, &McpAddOptions::default())
        .await
        .expect("add http");

    // The config holds exactly what we asked for.
    let cfg = ConfigFile::load_home(&home).expect("load");
    assert_eq!(cfg.mcp_server("files"), Some(stdio.clone()));
    assert_eq!(cfg.mcp_server("docs"), Some(http.clone()));

    // And the CLI reads it back the same way.
    let list = mcp::list(&bin, &home).await.expect("list");
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["docs", "files"]);
    let files = mcp::get(&bin, &home, "files")
        .await
        .expect("get")
        .expect("files");
    assert!(files.enabled);
    assert_eq!(files.transport_type(), "stdio");
    assert_eq!(files.transport["command"], "/bin/cat");
    assert_eq!(files.transport["env"]["MODE"], "test");
    assert_eq!(files.transport["env_vars"], serde_json::json!(["HOME"]));
    assert_eq!(files.startup_timeout_sec, Some(12.0));
    assert_eq!(files.tool_timeout_sec, Some(30.0));
    assert_eq!(
        files.extra.get("enabled_tools"),
        Some(&serde_json::json!(["read", "list"]))
    );
    let docs = mcp::get(&bin, &home, "docs")
        .await
        .expect("get")
        .expect("docs");
    assert!(!docs.enabled);
    assert_eq!(docs.transport_type(), "streamable_http");
    assert_eq!(docs.transport["bearer_token_env_var"], "DOCS_TOKEN");
    assert_eq!(docs.transport["http_headers"]["X-Team"], "orbit");
    assert_eq!(docs.transport["env_http_headers"]["X-Api-Key"], "DOCS_KEY");
    assert_eq!(
        docs.extra.get("disabled_tools"),
        Some(&serde_json::json!(["delete"]))
    );

    // OAuth options are for HTTP servers only: refused before anything runs.
    let bad = McpAddOptions {
        oauth_client_id: Some("x".into()),
        ..Default::default()
    };
    assert!(matches!(
        mcp::add_with(&bin, &home, "bad", &stdio, &bad).await,
        Err(codex_client::Error::InvalidInvocation(_))
    ));

    mcp::remove(&bin, &home, "files").await.expect("remove");
    mcp::remove(&bin, &home, "docs").await.expect("remove");
    assert!(mcp::list(&bin, &home).await.expect("list").is_empty());
    assert_eq!(mcp::get(&bin, &home, "docs").await.expect("get"), None);
}

#[tokio::test]
async fn oauth_login_against_a_loopback_server_and_tokens_materialised_elsewhere() {
    let cloud = FakeCloud::start();
    let (_tmp, home) = empty_home();
    let bin = binary();
    file_store(&home);

    // `mcp add` notices OAuth and would wait for a browser; add_with stops that wait.
    let opts = McpAddOptions {
        oauth_client_registration: Some(OAuthRegistration::Dcr),
        ..Default::default()
    };
    let added = tokio::time::timeout(
        STEP,
        mcp::add_with(
            &bin,
            &home,
            "remote",
            &McpServer::http(&cloud.mcp_url()),
            &opts,
        ),
    )
    .await
    .expect("add returns without waiting for a browser")
    .expect("add");
    assert!(added.oauth_detected);
    assert!(
        added
            .authorization_url
            .as_deref()
            .is_some_and(|u| u.starts_with(&format!("{}/authorize?", cloud.base_url()))),
        "{added:?}"
    );
    assert!(
        mcp::get(&bin, &home, "remote")
            .await
            .expect("get")
            .is_some()
    );

    let mut flow = McpLogin::new(&bin, &home, "remote")
        .scopes(["mcp"])
        .envs(offline_env())
        .start()
        .expect("start login");
    let url = match tokio::time::timeout(STEP, flow.next_event())
        .await
        .expect("url in time")
    {
        Some(McpLoginEvent::AuthorizationUrl(url)) => url,
        other => panic!("expected the authorisation URL, got {other:?}"),
    };
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("scope=mcp"), "{url}");
    // The "browser": follow the authorisation server's redirect to Codex's callback listener.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let page = client.get(&url).send().await.expect("follow the redirect");
    assert!(page.status().is_success(), "{}", page.status());
    assert!(
        page.url().path().starts_with("/callback/"),
        "{}",
        page.url()
    );
    let done = tokio::time::timeout(STEP, flow.next_event())
        .await
        .expect("completion in time");
    assert_eq!(done, Some(McpLoginEvent::Completed));

    let paths = cloud.paths();
    for p in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/register",
        "/authorize",
        "/token",
    ] {
        assert!(paths.iter().any(|s| s == p), "{p} not requested: {paths:?}");
    }
    let token_req = cloud
        .seen()
        .into_iter()
        .find(|s| s.path == "/token")
        .expect("token request");
    assert!(
        token_req.body.contains("grant_type=authorization_code")
            && token_req.body.contains("code=mcp-authorization-code"),
        "{}",
        token_req.body
    );

    // Stored in the file store, 0600, typed with the tokens redacted.
    assert_eq!(mode(&home.credentials_json()), 0o600);
    let creds = mcp::credentials(&home).expect("credentials");
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].server_name, "remote");
    assert_eq!(
        creds[0].server_url.as_deref(),
        Some(cloud.mcp_url().as_str())
    );
    assert_eq!(creds[0].access_token.expose(), MCP_ACCESS_TOKEN);
    assert!(!format!("{:?}", creds[0]).contains(MCP_ACCESS_TOKEN));
    assert_eq!(
        auth_status(&bin, &home, "remote").await.as_deref(),
        Some("o_auth")
    );

    // An isolated home with the same server gets the login without a browser.
    let (_tmp2, isolated) = empty_home();
    file_store(&isolated);
    let mut cfg = ConfigFile::load_home(&isolated).expect("load");
    cfg.set_mcp_server("remote", &McpServer::http(&cloud.mcp_url()))
        .expect("set");
    cfg.save().expect("save");
    let before = auth_status(&bin, &isolated, "remote").await;
    assert!(
        before.is_some() && before.as_deref() != Some("o_auth"),
        "{before:?}"
    );
    assert_eq!(
        mcp::materialize_credentials(&home, &isolated, &["remote"]).expect("materialise"),
        1
    );
    assert_eq!(mode(&isolated.credentials_json()), 0o600);
    assert_eq!(
        auth_status(&bin, &isolated, "remote").await.as_deref(),
        Some("o_auth")
    );
    assert_eq!(
        mcp::materialize_credentials(&home, &isolated, &["nothing-by-that-name"]).expect("none"),
        0
    );

    // Logout deletes the tokens.
    mcp::logout(&bin, &home, "remote").await.expect("logout");
    assert!(mcp::credentials(&home).expect("credentials").is_empty());
    let out = auth_status(&bin, &home, "remote").await;
    assert!(out.is_some() && out.as_deref() != Some("o_auth"), "{out:?}");
}
