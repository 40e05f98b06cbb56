//! Config, auth, features, MCP and notify helpers against the REAL pinned Codex CLI, each in its
//! own temp `CODEX_HOME` (offline things only; exec runs go to the loopback FakeResponses).

use std::time::Duration;

use codex_client::config::{ConfigFile, CredentialStore, ModelProvider};
use codex_client::exec::ExecBuilder;
use codex_client::features::FeatureStage;
use codex_client::mcp::{McpServer, McpTransport};
use codex_client::notify::NotifyEvent;
use codex_client::{CodexBinary, CodexHome, CodexVersion, auth, features, mcp};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, codex_bin};

const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn binary() -> CodexBinary {
    CodexBinary::with_version(codex_bin(), CodexVersion::pinned())
}

fn empty_home() -> (tempfile::TempDir, CodexHome) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = CodexHome::new(tmp.path().join("codex"));
    home.create().expect("create");
    (tmp, home)
}

#[tokio::test]
async fn login_with_api_key_status_and_logout() {
    let (_tmp, home) = empty_home();
    let bin = binary();
    assert_eq!(
        auth::status(&bin, &home).await.expect("status"),
        auth::LoginStatus::LoggedOut
    );
    assert_eq!(auth::read_auth_file(&home).expect("read"), None);

    auth::login_with_api_key(&bin, &home, "sk-test-0123456789")
        .await
        .expect("login");
    let status = auth::status(&bin, &home).await.expect("status");
    assert_eq!(
        status,
        auth::LoginStatus::ApiKey {
            masked: Some("sk-test-***56789".into())
        }
    );
    let file = auth::read_auth_file(&home)
        .expect("read")
        .expect("auth.json");
    assert_eq!(file.auth_mode.as_deref(), Some("apikey"));
    assert!(file.has_api_key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.auth_json())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    // An app-scoped home gets the login by copying auth state.
    let (_tmp2, app) = empty_home();
    assert!(app.copy_auth_from(&home).expect("copy"));
    assert!(
        auth::status(&bin, &app)
            .await
            .expect("status")
            .is_logged_in()
    );

    auth::logout(&bin, &home).await.expect("logout");
    assert_eq!(
        auth::status(&bin, &home).await.expect("status"),
        auth::LoginStatus::LoggedOut
    );
    auth::logout(&bin, &home)
        .await
        .expect("logout twice is fine");
    assert!(
        auth::login_with_api_key(&bin, &home, "  \n").await.is_err(),
        "empty key refused"
    );

    // Credential store mode is a config key Codex accepts (strict config would reject typos).
    auth::set_credential_store(&home, CredentialStore::File).expect("store");
    assert_eq!(
        ConfigFile::load_home(&home)
            .expect("load")
            .credential_store(),
        Some(CredentialStore::File)
    );
    assert_eq!(
        auth::status(&bin, &home).await.expect("status"),
        auth::LoginStatus::LoggedOut
    );
}

#[tokio::test]
async fn features_list_enable_disable_and_config_agree() {
    let (_tmp, home) = empty_home();
    let bin = binary();
    let list = features::list(&bin, &home).await.expect("features list");
    assert!(list.len() > 20, "{list:?}");
    assert!(list.iter().any(|f| f.stage == FeatureStage::Stable));
    assert!(
        list.iter()
            .any(|f| f.stage == FeatureStage::UnderDevelopment)
    );
    let target = list
        .iter()
        .find(|f| f.stage == FeatureStage::Stable && f.enabled)
        .expect("a stable enabled feature")
        .name
        .clone();

    features::disable(&bin, &home, &target)
        .await
        .expect("disable");
    assert_eq!(
        ConfigFile::load_home(&home).expect("load").feature(&target),
        Some(false)
    );
    let after = features::list(&bin, &home).await.expect("list");
    assert!(
        !after
            .iter()
            .find(|f| f.name == target)
            .expect("still listed")
            .enabled
    );

    // Our own config edit is what the CLI reads back.
    let mut cfg = ConfigFile::load_home(&home).expect("load");
    cfg.set_feature(&target, true).expect("set");
    cfg.save().expect("save");
    let after = features::list(&bin, &home).await.expect("list");
    assert!(
        after
            .iter()
            .find(|f| f.name == target)
            .expect("listed")
            .enabled
    );

    match features::enable(&bin, &home, "no_such_feature_xyz").await {
        Err(codex_client::Error::Exited {
            status,
            stderr_tail,
        }) => {
            assert_eq!(status, Some(1));
            assert!(stderr_tail.contains("Unknown feature"), "{stderr_tail}");
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[tokio::test]
async fn mcp_cli_and_config_agree() {
    let (_tmp, home) = empty_home();
    let bin = binary();
    assert!(mcp::list(&bin, &home).await.expect("list").is_empty());

    let mut stdio = McpServer::stdio("/bin/echo", &["hi"]);
    if let McpTransport::Stdio { env, .. } = &mut stdio.transport {
        env.insert("A".into(), "B".into());
    }
    mcp::add(&bin, &home, "foo", &stdio)
        .await
        .expect("add stdio");
    let mut http = McpServer::http("http://127.0.0.1:9/mcp");
    if let McpTransport::Http {
        bearer_token_env_var,
        ..
    } = &mut http.transport
    {
        *bearer_token_env_var = Some("TOK".into());
    }
    mcp::add(&bin, &home, "web", &http).await.expect("add http");

    // What the CLI wrote, our config reader understands.
    let cfg = ConfigFile::load_home(&home).expect("load");
    assert_eq!(cfg.mcp_server("foo"), Some(stdio));
    assert_eq!(cfg.mcp_server("web"), Some(http));

    // What our config writer writes (timeouts, tool filters), the CLI reads.
    let mut cfg = cfg;
    let mut tuned = McpServer::stdio("/bin/cat", &[]);
    tuned.startup_timeout_sec = Some(7.0);
    tuned.enabled = Some(false);
    tuned.disabled_tools = Some(vec!["rm".into()]);
    cfg.set_mcp_server("tuned", &tuned).expect("set");
    cfg.save().expect("save");

    let list = mcp::list(&bin, &home).await.expect("list");
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["foo", "tuned", "web"]);
    let web = list.iter().find(|s| s.name == "web").expect("web");
    assert_eq!(web.transport_type(), "streamable_http");
    assert_eq!(web.transport["bearer_token_env_var"], "TOK");
    let t = mcp::get(&bin, &home, "tuned")
        .await
        .expect("get")
        .expect("exists");
    assert!(!t.enabled);
    assert_eq!(t.startup_timeout_sec, Some(7.0));
    assert_eq!(
        t.extra.get("disabled_tools"),
        Some(&serde_json::json!(["rm"]))
    );
    assert_eq!(mcp::get(&bin, &home, "nope").await.expect("get"), None);

    mcp::remove(&bin, &home, "foo").await.expect("remove");
    assert_eq!(
        ConfigFile::load_home(&home)
            .expect("load")
            .mcp_server("foo"),
        None
    );
    assert!(
        mcp::add(&bin, &home, "-x", &McpServer::http("http://x"))
            .await
            .is_err()
    );
}

/// A provider written by `ConfigFile` is what Codex uses, and the notify hook we configure
/// receives a payload `parse_notify_argv` understands.
#[tokio::test]
async fn configured_provider_and_notify_hook_work_end_to_end() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("notified"));
    // The test-support home has the offline settings; point it at a dead provider, then fix it
    // with our own config editing.
    let temp = CodexHomeBuilder::new("http://127.0.0.1:9/v1").build();
    let home = CodexHome::new(temp.path());
    let mut cfg = ConfigFile::load_home(&home).expect("load");
    let mut provider = ModelProvider::responses("mine", &fake.base_url());
    provider.request_max_retries = Some(0);
    provider.stream_max_retries = Some(0);
    cfg.set_provider("mine", &provider).expect("provider");
    cfg.set_model_provider("mine").expect("model_provider");
    let out = temp.workdir().join("notify-payload.json");
    // Codex appends the payload as the last argument: "$1" of the sh -c script.
    let script = format!("printf '%s' \"$1\" > '{}'", out.display());
    cfg.set_notify(&["/bin/sh", "-c", script.as_str(), "notify-hook"])
        .expect("notify");
    cfg.save().expect("save");

    let outcome = tokio::time::timeout(
        RUN_TIMEOUT,
        ExecBuilder::new(&binary(), &home)
            .envs(temp.env())
            .current_dir(temp.workdir())
            .prompt("ping")
            .strict_config(true)
            .spawn()
            .await
            .expect("spawn")
            .wait(),
    )
    .await
    .expect("in time")
    .expect("success");
    assert_eq!(outcome.last_agent_message.as_deref(), Some("notified"));
    assert_eq!(
        fake.responses_requests().len(),
        1,
        "our provider entry was used"
    );

    // The hook runs asynchronously after the turn: poll (bounded) for its output.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !out.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "notify hook never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut payload = String::new();
    while std::time::Instant::now() < deadline {
        payload = std::fs::read_to_string(&out).expect("read payload");
        if NotifyEvent::parse(&payload).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ev =
        codex_client::notify::parse_notify_argv(["notify-hook", payload.as_str()]).expect("parse");
    match ev {
        NotifyEvent::AgentTurnComplete(p) => {
            assert_eq!(Some(p.thread_id.as_str()), outcome.thread_id.as_deref());
            assert_eq!(p.input_messages, vec!["ping".to_owned()]);
            assert_eq!(p.last_assistant_message.as_deref(), Some("notified"));
        }
        other => panic!("unexpected payload {other:?}: {payload}"),
    }
}
