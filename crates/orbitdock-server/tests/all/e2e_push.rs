//! Web Push end to end: the real pinned Codex behind the server, a loopback push service in
//! front of it (test-support's `FakePush`) and browser-side keys made in the test. Every push is
//! checked the way a push service and a browser would: the VAPID token's signature, audience and
//! expiry, then decryption with the subscription's private key and auth secret, then the
//! payload's content for its kind. Per-device kinds and quiet hours are honoured; a 410 removes
//! the subscription; an approval's notification token answers it once, without the API token.

#![allow(clippy::unwrap_used)]

use anyhow::{Context, Result, ensure};
use orbitdock_protocol::notify::{
    NoticeKind, NotifyChannel, NotifyChannelsResponse, PushDevice, PushDevicesResponse, PushPayload,
};
use orbitdock_protocol::{ApprovalResolution, SessionState};
use serde_json::{Value, json};
use test_support::ScriptedResponse;
use test_support::fake_push::{BrowserKeys, FakePush, PushRequest, verify_vapid};

use crate::common::{self, Harness, TOKEN, WAIT, is_turn_ended};

fn subscription(push: &FakePush, device: &str, keys: &BrowserKeys) -> Value {
    json!({"endpoint": push.endpoint(device), "keys": {"p256dh": keys.p256dh(), "auth": keys.auth()}})
}

/// Verifies the VAPID header and decrypts one push.
fn open(push: &FakePush, req: &PushRequest, keys: &BrowserKeys, key: &str) -> Result<PushPayload> {
    let claims = verify_vapid(req, key).map_err(anyhow::Error::msg)?;
    ensure!(claims.aud == push.origin(), "aud {}", claims.aud);
    let now = chrono::Utc::now().timestamp();
    ensure!(
        claims.exp > now && claims.exp <= now + 24 * 3600,
        "exp {} not within 24 h of {now}",
        claims.exp
    );
    ensure!(
        claims.sub.starts_with("mailto:") || claims.sub.starts_with("https:"),
        "sub {}",
        claims.sub
    );
    ensure!(
        req.header("content-encoding") == Some("aes128gcm"),
        "{req:?}"
    );
    ensure!(req.header("ttl").is_some_and(|t| t.parse::<u32>().is_ok()));
    let plain = keys.decrypt(&req.body).map_err(anyhow::Error::msg)?;
    let text = String::from_utf8(plain)?;
    ensure!(!text.contains(TOKEN), "the API token is in a push: {text}");
    serde_json::from_str(&text).with_context(|| text.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_signed_encrypted_filtered_per_device_and_expired_subscriptions_removed()
-> Result<()> {
    let h = Harness::start().await?;
    let push = FakePush::start().await;
    let devices: PushDevicesResponse = h.get("/api/push/subscriptions").await?;
    assert!(devices.devices.is_empty());
    let key = devices.public_key.clone();
    // The VAPID key is kept in the data dir, owner-only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.data.path().join("vapid_private_key.p8"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A phone that wants everything; a laptop that only wants "session ended" and whose
    // subscription the browser has dropped (410); a tablet in its quiet hours right now.
    let phone = BrowserKeys::new();
    let laptop = BrowserKeys::new();
    let tablet = BrowserKeys::new();
    let added: PushDevice = h
        .post(
            "/api/push/subscriptions",
            &json!({"name": "Phone", "subscription": subscription(&push, "phone", &phone)}),
        )
        .await?;
    assert_eq!(added.kinds, NoticeKind::KNOWN.to_vec());
    assert_eq!(added.service, push.origin());
    let laptop_dev: PushDevice = h
        .post(
            "/api/push/subscriptions",
            &json!({"name": "Laptop", "subscription": subscription(&push, "laptop", &laptop),
                    "kinds": ["session_ended"]}),
        )
        .await?;
    push.answer_with("laptop", 410);
    let now_minute = {
        use chrono::Timelike;
        let n = chrono::Utc::now();
        (n.hour() * 60 + n.minute()) as i64
    };
    let _: PushDevice = h
        .post(
            "/api/push/subscriptions",
            &json!({"name": "Tablet", "subscription": subscription(&push, "tablet", &tablet),
                    "quiet_hours": {"start_minute": (now_minute + 1440 - 120) % 1440,
                                    "end_minute": (now_minute + 120) % 1440,
                                    "utc_offset_minutes": 0}}),
        )
        .await?;
    // Bad subscriptions are refused with a clear message and nothing stored.
    let rest = common::Rest::new(&h.base());
    let (status, body) = rest
        .post_raw(
            "/api/push/subscriptions",
            &json!({"name": "x", "subscription": {"endpoint": "http://example.com/p",
                    "keys": {"p256dh": phone.p256dh(), "auth": phone.auth()}}}),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("https"));
    let (status, body) = rest
        .post_raw(
            "/api/push/subscriptions",
            &json!({"name": "x", "subscription": {"endpoint": push.endpoint("x"),
                    "keys": {"p256dh": "AAAA", "auth": phone.auth()}}}),
        )
        .await?;
    assert_eq!(status, 400, "{body}");

    // 1. A command approval: the phone is told, with a token that answers it.
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("printf pushed > pushed.txt", "call-push"));
    h.fake.enqueue(ScriptedResponse::new().text("done"));
    let (id, mut ws) = common::direct_session(&h, "untrusted", "workspace-write").await?;
    let _: SessionState = h
        .post(
            &format!("/api/sessions/{id}/name"),
            &json!({"name": "Fix the build"}),
        )
        .await?;
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "write the file"}),
        )
        .await?;
    let approval = ws.wait_approval("approval", &id).await?;
    let got = push.wait_for("phone", 1, WAIT).await;
    let p = open(&push, &got[0], &phone, &key)?;
    assert_eq!(p.kind, NoticeKind::Approval);
    assert_eq!(p.session_id, id);
    assert_eq!(p.title, "Fix the build");
    assert_eq!(p.body, "Approve running a command?");
    assert_eq!(p.url, format!("/#/s/{id}"));
    assert!(
        !serde_json::to_string(&p)?.contains("pushed.txt"),
        "no command text: {p:?}"
    );
    assert_eq!(got[0].header("urgency"), Some("high"));
    let action = p.action.clone().context("approval action")?;
    assert_eq!(action.request_id, approval.request_id);
    assert!(!h.home.workdir().join("pushed.txt").exists());

    // The notification's Accept: no API token, only the one-use token.
    let anon = reqwest::Client::new();
    let r = anon
        .post(format!("{}/api/approval-actions", h.base()))
        .json(&json!({"token": action.token, "decision": "accept"}))
        .send()
        .await?;
    assert_eq!(r.status(), 200, "{}", r.text().await?);
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    assert_eq!(
        std::fs::read_to_string(h.home.workdir().join("pushed.txt"))?,
        "pushed"
    );
    // Used once: a replay is refused.
    let r = anon
        .post(format!("{}/api/approval-actions", h.base()))
        .json(&json!({"token": action.token, "decision": "decline"}))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let history: orbitdock_protocol::ApprovalHistory = h
        .get(&format!("/api/sessions/{id}/approvals/history"))
        .await?;
    assert_eq!(history.approvals.len(), 1);
    assert_eq!(history.approvals[0].resolution, ApprovalResolution::Decided);

    // 2. The turn completed.
    let got = push.wait_for("phone", 2, WAIT).await;
    let p = open(&push, &got[1], &phone, &key)?;
    assert_eq!(
        (p.kind.clone(), p.body.as_str()),
        (NoticeKind::TurnCompleted, "Turn completed")
    );
    assert!(p.action.is_none());
    assert_eq!(got[1].header("urgency"), Some("normal"));

    // 3. A turn that fails (the model API refuses the request).
    h.fake.enqueue(ScriptedResponse::http_error(
        400,
        json!({"error": {"message": "bad request", "type": "invalid_request_error"}}),
    ));
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "again"}),
        )
        .await?;
    let got = push.wait_for("phone", 3, WAIT).await;
    let p = open(&push, &got[2], &phone, &key)?;
    assert_eq!(
        (p.kind.clone(), p.body.as_str()),
        (NoticeKind::TurnFailed, "Turn failed")
    );

    // 4. The session ends: the phone is told; the laptop's push service says 410 and the
    //    laptop's subscription is removed.
    let _: Value = h
        .post(&format!("/api/sessions/{id}/end"), &json!({}))
        .await?;
    let got = push.wait_for("phone", 4, WAIT).await;
    let p = open(&push, &got[3], &phone, &key)?;
    assert_eq!(p.kind, NoticeKind::SessionEnded);
    let gone = push.wait_for("laptop", 1, WAIT).await;
    assert_eq!(gone.len(), 1, "the laptop wants session ends only");
    assert_eq!(
        open(&push, &gone[0], &laptop, &key)?.kind,
        NoticeKind::SessionEnded
    );
    let list = common::eventually("laptop removed", || async {
        let l: PushDevicesResponse = h.get("/api/push/subscriptions").await?;
        Ok((!l.devices.iter().any(|d| d.id == laptop_dev.id)).then_some(l))
    })
    .await?;
    let phone_dev = list.devices.iter().find(|d| d.name == "Phone").unwrap();
    assert!(phone_dev.delivery.last_success_at.is_some() && phone_dev.delivery.failure_count == 0);
    // Quiet hours: the tablet got nothing at all.
    assert!(push.for_device("tablet").is_empty());
    ws.close().await;

    // A failing push service is counted and shown, and a test push reports it.
    push.answer_with("phone", 500);
    let (status, body) = rest
        .post_raw(
            &format!("/api/push/subscriptions/{}/test", phone_dev.id),
            &json!({}),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    let l: PushDevicesResponse = h.get("/api/push/subscriptions").await?;
    let d = l.devices.iter().find(|d| d.id == phone_dev.id).unwrap();
    assert_eq!(d.delivery.failure_count, 1);
    assert!(
        d.delivery.last_error.as_deref().unwrap().contains("500"),
        "{d:?}"
    );
    // Kinds switched off per device, then the device removed.
    let d: PushDevice = h
        .post(
            &format!("/api/push/subscriptions/{}", phone_dev.id),
            &json!({"kinds": ["approval"], "quiet_hours": null}),
        )
        .await?;
    assert_eq!(d.kinds, vec![NoticeKind::Approval]);
    let _: Value = h
        .post(
            &format!("/api/push/subscriptions/{}/delete", phone_dev.id),
            &json!({}),
        )
        .await?;
    let l: PushDevicesResponse = h.get("/api/push/subscriptions").await?;
    assert_eq!(l.devices.len(), 1, "{l:?}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_ntfy_topics_are_retried_with_backoff_and_their_failures_shown() -> Result<()>
{
    let h = Harness::start().await?;
    // Loopback receivers: a webhook that fails twice before accepting, an ntfy-style topic that
    // only wants completed turns, and a webhook that always fails.
    let rx = FakePush::start().await;
    rx.answer_sequence("hook", &[500, 503, 200]);
    rx.answer_with("broken", 500);
    let add = |kind: &str, name: &str, url: String, kinds: Option<Value>| {
        let mut b = json!({"kind": kind, "name": name, "url": url});
        if let Some(k) = kinds {
            b["kinds"] = k;
        }
        b
    };
    let hook: NotifyChannel = h
        .post(
            "/api/notify/channels",
            &add("webhook", "Team hook", rx.endpoint("hook"), None),
        )
        .await?;
    let topic: NotifyChannel = h
        .post(
            "/api/notify/channels",
            &add(
                "ntfy",
                "ntfy topic",
                rx.endpoint("topic"),
                Some(json!(["turn_completed"])),
            ),
        )
        .await?;
    let broken: NotifyChannel = h
        .post(
            "/api/notify/channels",
            &add("webhook", "Broken", rx.endpoint("broken"), None),
        )
        .await?;
    let rest = common::Rest::new(&h.base());
    let (status, body) = rest
        .post_raw(
            "/api/notify/channels",
            &add("webhook", "x", "http://example.com/hook".into(), None),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    let (status, body) = rest
        .post_raw(
            "/api/notify/channels",
            &add("carrier-pigeon", "x", rx.endpoint("x"), None),
        )
        .await?;
    assert_eq!(status, 400, "{body}");

    h.fake.enqueue(ScriptedResponse::new().text("all done"));
    let (id, mut ws) = common::direct_session(&h, "never", "read-only").await?;
    let _: SessionState = h
        .post(
            &format!("/api/sessions/{id}/name"),
            &json!({"name": "Nightly run"}),
        )
        .await?;
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "go"}),
        )
        .await?;
    ws.wait_delta("turn end", &id, is_turn_ended).await?;

    // The webhook: two failures, then the JSON payload accepted on the third attempt.
    let got = rx.wait_for("hook", 3, WAIT).await;
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        vec![500, 503, 200]
    );
    assert_eq!(got[2].header("content-type"), Some("application/json"));
    let p: PushPayload = serde_json::from_slice(&got[2].body)?;
    assert_eq!(
        (p.kind, p.title.as_str(), p.body.as_str(), p.url.clone()),
        (
            NoticeKind::TurnCompleted,
            "Nightly run",
            "Turn completed",
            format!("/#/s/{id}")
        )
    );
    assert!(p.action.is_none(), "no approval tokens outside Web Push");
    // The ntfy topic: the message as the body, the title and tags as headers.
    let got = rx.wait_for("topic", 1, WAIT).await;
    assert_eq!(String::from_utf8(got[0].body.clone())?, "Turn completed");
    assert_eq!(got[0].header("title"), Some("Nightly run"));
    assert_eq!(got[0].header("tags"), Some("turn_completed"));
    // The broken hook: four attempts, then the failure is recorded and shown.
    let got = rx.wait_for("broken", 4, WAIT).await;
    assert_eq!(got.len(), 4);
    let list = common::eventually("outcomes recorded", || async {
        let l: NotifyChannelsResponse = h.get("/api/notify/channels").await?;
        let done = l
            .channels
            .iter()
            .all(|c| c.delivery.last_success_at.is_some() || c.delivery.failure_count > 0);
        Ok(done.then_some(l))
    })
    .await?;
    let by_id = |id: &str| list.channels.iter().find(|c| c.id == id).unwrap().clone();
    assert!(
        by_id(&hook.id).delivery.last_success_at.is_some()
            && by_id(&hook.id).delivery.failure_count == 0
    );
    assert!(by_id(&topic.id).delivery.last_success_at.is_some());
    let b = by_id(&broken.id);
    assert_eq!(b.delivery.failure_count, 1);
    assert!(
        b.delivery
            .last_error
            .as_deref()
            .unwrap()
            .contains("after 4 attempts"),
        "{b:?}"
    );
    ws.close().await;
    let _: Value = h
        .post(
            &format!("/api/notify/channels/{}/delete", broken.id),
            &json!({}),
        )
        .await?;
    let l: NotifyChannelsResponse = h.get("/api/notify/channels").await?;
    assert_eq!(l.channels.len(), 2);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_question_is_pushed_without_its_text_or_an_action() -> Result<()> {
    let h = Harness::start().await?;
    let push = FakePush::start().await;
    let key = h
        .get::<PushDevicesResponse>("/api/push/subscriptions")
        .await?
        .public_key;
    let phone = BrowserKeys::new();
    let _: PushDevice = h
        .post(
            "/api/push/subscriptions",
            &json!({"name": "Phone", "subscription": subscription(&push, "phone", &phone),
                    "kinds": ["question"]}),
        )
        .await?;
    // Codex's request_user_input tool (plan mode): the agent asks the user a question.
    common::script_color_question(&h.fake);
    let (id, mut ws) = common::direct_session(&h, "on-request", "read-only").await?;
    let _: SessionState = h
        .post(
            &format!("/api/sessions/{id}/name"),
            &json!({"name": "Button plan"}),
        )
        .await?;
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "plan a button", "collaboration_mode": "plan"}),
        )
        .await?;
    let question = ws.wait_approval("question", &id).await?;
    assert_eq!(question.kind, orbitdock_protocol::ApprovalKind::Question);
    let got = push.wait_for("phone", 1, WAIT).await;
    let p = open(&push, &got[0], &phone, &key)?;
    assert_eq!(p.kind, NoticeKind::Question);
    assert_eq!(p.session_id, id);
    assert_eq!(p.title, "Button plan");
    assert_eq!(p.body, "The agent asks a question");
    assert_eq!(p.url, format!("/#/s/{id}"));
    assert_eq!(p.tag, format!("approval-{id}-{}", question.request_id));
    // A question is answered in the app, not with a notification button; and its text (which
    // may quote the user's code) stays on the hub.
    assert!(p.action.is_none(), "{p:?}");
    let text = String::from_utf8(phone.decrypt(&got[0].body).map_err(anyhow::Error::msg)?)?;
    assert!(!text.contains("Which color"), "{text}");
    assert_eq!(got[0].header("urgency"), Some("high"));
    // Answered over REST, the turn ends; the phone wanted questions only.
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", question.request_id),
            &json!({"decision": "accept", "answers": {"color": ["Blue"]}}),
        )
        .await?;
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    assert_eq!(push.for_device("phone").len(), 1);
    ws.close().await;
    h.shutdown().await;
    Ok(())
}
