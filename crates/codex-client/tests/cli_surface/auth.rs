//! Login over the CLI (device code against a loopback issuer, offline behaviour) and over
//! app-server `account/*`.

use std::time::Duration;

use codex_client::app_server::AppServerBuilder;
use codex_client::app_server::requests::{
    Account, AccountLoginStart, AccountLoginStartParams, AccountLogout, AccountRateLimitsRead,
    AccountRateLimitsReadParams, AccountRead, AccountReadParams, AccountUsageRead,
    AccountUsageReadParams, LoginKind,
};
use codex_client::auth::{
    self, DeviceAuth, DeviceAuthEvent, DeviceAuthFlow, DeviceCode, LoginStatus, Secret,
};

use crate::fake_cloud::{FakeCloud, PENDING_POLLS, USER_CODE};
use crate::{binary, empty_home, mode, offline_env};

const STEP: Duration = Duration::from_secs(60);

/// The next event is the typed code with `issuer`'s verification URL.
async fn expect_code(flow: &mut DeviceAuthFlow, issuer: &str) {
    let first = tokio::time::timeout(STEP, flow.next_event())
        .await
        .expect("code in time");
    assert_eq!(
        first,
        Some(DeviceAuthEvent::Code(DeviceCode {
            verification_url: format!("{issuer}/codex/device"),
            user_code: USER_CODE.into(),
        }))
    );
}

/// The next and last event is a failure (exit 1) whose message names `url`.
async fn expect_failure(flow: &mut DeviceAuthFlow, url: &str) {
    let next = tokio::time::timeout(STEP, flow.next_event())
        .await
        .expect("failure in time");
    match next {
        Some(DeviceAuthEvent::Failed { message, exit_code }) => {
            assert_eq!(exit_code, Some(1));
            assert!(message.contains(url), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(flow.next_event().await, None);
}

#[tokio::test]
async fn device_auth_against_a_loopback_issuer_logs_in_with_chatgpt() {
    let cloud = FakeCloud::start();
    let (_tmp, home) = empty_home();
    let bin = binary();
    let mut flow = DeviceAuth::new(&bin, &home)
        .issuer(cloud.base_url())
        .client_id("app_test_client")
        .envs(offline_env())
        .start()
        .expect("start");
    expect_code(&mut flow, &cloud.base_url()).await;
    let done = tokio::time::timeout(STEP, flow.next_event())
        .await
        .expect("completion in time");
    assert_eq!(done, Some(DeviceAuthEvent::Completed));
    assert_eq!(flow.next_event().await, None);

    // What Codex asked the issuer, in order: the code, pending polls, the grant, the exchange.
    let seen = cloud.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    let mut expected = vec!["/api/accounts/deviceauth/usercode"];
    expected.extend(std::iter::repeat_n(
        "/api/accounts/deviceauth/token",
        PENDING_POLLS + 1,
    ));
    expected.push("/oauth/token");
    assert_eq!(paths, expected);
    assert!(
        seen[0].body.contains("\"client_id\":\"app_test_client\""),
        "{}",
        seen[0].body
    );
    let exchange = &seen[seen.len() - 1].body;
    assert!(
        exchange.contains("grant_type=authorization_code")
            && exchange.contains("code=device-authorization-code")
            && exchange.contains("code_verifier=verifier"),
        "{exchange}"
    );

    let status = auth::status(&bin, &home).await.expect("status");
    assert!(matches!(status, LoginStatus::ChatGpt { .. }), "{status:?}");
    let file = auth::read_auth_file(&home)
        .expect("read")
        .expect("auth.json");
    assert_eq!(file.auth_mode.as_deref(), Some("chatgpt"));
    assert!(file.has_tokens && !file.has_api_key);
    assert_eq!(mode(&home.auth_json()), 0o600);

    auth::logout(&bin, &home).await.expect("logout");
    assert_eq!(
        auth::status(&bin, &home).await.expect("status"),
        LoginStatus::LoggedOut
    );
}

/// An issuer that answers the user-code request once and then vanishes from the network (its
/// port closed): what a laptop going offline mid-login looks like to Codex. Returns its URL.
fn issuer_that_goes_offline_after_the_code() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind issuer");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        // Closing the listener with the first connection: later connects are refused.
        drop(listener);
        let mut reader = BufReader::new(stream);
        let mut length = 0usize;
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        let json = format!(
            r#"{{"device_auth_id":"dev-auth-1","user_code":"{USER_CODE}","interval":"0"}}"#
        );
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
            json.len()
        );
    });
    url
}

/// The typed code arrives, then the network goes away while Codex polls for the grant: the
/// next event is a clear failure, and nothing is written.
#[tokio::test]
async fn device_auth_yields_the_code_then_fails_clearly_when_the_network_goes() {
    let issuer = issuer_that_goes_offline_after_the_code();
    let (_tmp, home) = empty_home();
    let mut flow = DeviceAuth::new(&binary(), &home)
        .issuer(&issuer)
        .envs(offline_env())
        .start()
        .expect("start");
    expect_code(&mut flow, &issuer).await;
    expect_failure(
        &mut flow,
        &format!("{issuer}/api/accounts/deviceauth/token"),
    )
    .await;
    assert_eq!(auth::read_auth_file(&home).expect("read"), None);
}

/// Offline, 0.169 cannot even obtain a code: the first and only event is a clear failure
/// naming the request that failed.
#[tokio::test]
async fn device_auth_offline_fails_clearly_before_any_code() {
    let (_tmp, home) = empty_home();
    let mut flow = DeviceAuth::new(&binary(), &home)
        .envs(offline_env())
        .start()
        .expect("start");
    expect_failure(
        &mut flow,
        "https://auth.openai.com/api/accounts/deviceauth/usercode",
    )
    .await;
    assert_eq!(auth::read_auth_file(&home).expect("read"), None);
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let s = Secret::new("sk-live-very-secret");
    assert_eq!(format!("{s:?}"), "<redacted>");
    assert_eq!(format!("{s}"), "<redacted>");
    assert_eq!(s.expose(), "sk-live-very-secret");
    let p = AccountLoginStartParams::api_key(&s);
    assert!(!format!("{p:?}").contains("very-secret"));
}

/// The same round trip through a long-lived app-server: what a hub's account panel uses.
#[tokio::test]
async fn account_requests_over_app_server_round_trip_an_api_key_login() {
    let (_tmp, home) = empty_home();
    let bin = binary();
    let (server, _events) = AppServerBuilder::new(&bin.path, home.root())
        .envs(offline_env())
        .request_timeout(STEP)
        .spawn()
        .await
        .expect("spawn app-server");

    let before = server
        .call::<AccountRead>(AccountReadParams::default())
        .await
        .expect("account/read");
    assert_eq!(before.account_info(), None);
    assert!(before.requires_openai_auth);

    let key = Secret::new("sk-test-app-server-98765");
    let started = server
        .call::<AccountLoginStart>(AccountLoginStartParams::api_key(&key))
        .await
        .expect("account/login/start");
    assert_eq!(started.kind, LoginKind::ApiKey);
    let after = server
        .call::<AccountRead>(AccountReadParams::default())
        .await
        .expect("account/read");
    assert_eq!(after.account_info(), Some(Account::ApiKey));
    let file = auth::read_auth_file(&home)
        .expect("read")
        .expect("auth.json");
    assert_eq!(file.auth_mode.as_deref(), Some("apikey"));
    assert_eq!(mode(&home.auth_json()), 0o600);
    // The CLI sees the login the app-server wrote.
    assert!(matches!(
        auth::status(&bin, &home).await.expect("status"),
        LoginStatus::ApiKey { .. }
    ));

    // Rate limits and usage belong to ChatGPT accounts: an API-key account gets a typed error.
    for result in [
        server
            .call::<AccountRateLimitsRead>(AccountRateLimitsReadParams::default())
            .await
            .map(|_| ()),
        server
            .call::<AccountUsageRead>(AccountUsageReadParams::default())
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(codex_client::Error::Rpc {
                method, message, ..
            }) => {
                assert!(method.starts_with("account/"), "{method}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("expected an RPC error for an API-key account, got {other:?}"),
        }
    }

    // A device-code login needs the issuer; offline it fails as a typed RPC error.
    match server
        .call::<AccountLoginStart>(AccountLoginStartParams::device_code())
        .await
    {
        Err(codex_client::Error::Rpc { message, .. }) => assert!(!message.is_empty()),
        Ok(r) => panic!("device code login cannot start offline, got {r:?}"),
        Err(other) => panic!("expected an RPC error, got {other:?}"),
    }

    server
        .call::<AccountLogout>(())
        .await
        .expect("account/logout");
    let out = server
        .call::<AccountRead>(AccountReadParams::default())
        .await
        .expect("account/read");
    assert_eq!(out.account_info(), None);
    assert_eq!(auth::read_auth_file(&home).expect("read"), None);
    server.shutdown().await.expect("shutdown");
}
