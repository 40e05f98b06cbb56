//! Retention of command output with the REAL pinned Codex: a command printing more than the
//! server keeps is stored shortened (start and end, with what was left out counted), and its
//! whole output is read back from the thread's rollout file; once the rollout is gone, the
//! answer says so.

use anyhow::{Context, Result};
use orbitdock_protocol::{
    FullOutputResponse, ItemBody, ItemsPage, OmittedOutput, SendMessageResponse, SessionDelta,
    SessionState,
};
use orbitdock_server::retention::OutputLimits;
use serde_json::json;
use test_support::ScriptedResponse;

use crate::common::{Harness, direct_session};

/// `seq 1 N`'s output.
fn seq_output(n: usize) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_output_is_stored_shortened_and_read_back_whole_from_the_rollout() -> Result<()> {
    let h = Harness::start().await?;
    let limit = 4 * 1024;
    h.server
        .as_ref()
        .context("server")?
        .registry
        .store()
        .set_output_limits(OutputLimits {
            per_item: limit,
            per_session: 1 << 20,
        });
    // About 48 KiB: twelve times what is kept, well inside what Codex itself records.
    let n = 9_000;
    let full = seq_output(n);
    h.fake
        .enqueue(ScriptedResponse::new().exec_command(&format!("seq 1 {n}"), "call-long"));
    h.fake.enqueue(ScriptedResponse::new().text("counted"));
    let (id, mut ws) = direct_session(&h, "never", "read-only").await?;
    let thread = h
        .get::<SessionState>(&format!("/api/sessions/{id}"))
        .await?
        .summary
        .thread_id
        .context("thread id")?;
    let sent: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "count to nine thousand"}),
        )
        .await?;
    let turn = sent.turn_id.context("turn id")?;
    ws.wait_delta(
        "turn end",
        &id,
        |d| matches!(d, SessionDelta::TurnEnded { turn_id, .. } if *turn_id == turn),
    )
    .await?;

    // Stored: the start and the end, the middle counted.
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?limit=1000"))
        .await?;
    let item = page
        .items
        .iter()
        .find(|i| i.id == "call-long")
        .with_context(|| format!("no command item in {:#?}", page.items))?;
    let ItemBody::CommandExecution {
        output,
        output_omitted: Some(omitted),
        exit_code,
        ..
    } = &item.body
    else {
        panic!("not a shortened command: {:#?}", item.body);
    };
    assert_eq!(*exit_code, Some(0));
    assert!(output.len() <= limit, "{} bytes stored", output.len());
    let OmittedOutput {
        head_bytes,
        omitted_bytes,
    } = *omitted;
    assert_eq!(output.len() as u64 + omitted_bytes, full.len() as u64);
    let head = head_bytes as usize;
    assert!(full.starts_with(&output[..head]), "head is the start");
    assert!(full.ends_with(&output[head..]), "the rest is the end");
    assert!(output.ends_with(&format!("{n}\n")));

    // The whole output, every byte, from the thread's rollout file.
    let back: FullOutputResponse = h
        .get(&format!("/api/sessions/{id}/items/{}/output", item.seq))
        .await?;
    assert_eq!(back.seq, item.seq);
    assert_eq!(back.output.len(), full.len());
    assert!(back.output == full, "the full output differs from `seq`'s");
    let rollout = std::path::PathBuf::from(back.source.context("read from a file")?);
    assert!(
        rollout
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f.ends_with(&format!("{thread}.jsonl"))),
        "{}",
        rollout.display()
    );
    // A short output is answered from what is stored.
    let short = page
        .items
        .iter()
        .find(|i| matches!(i.body, ItemBody::AgentMessage { .. }))
        .context("agent message")?;
    let (status, body) = h
        .get_raw(&format!("/api/sessions/{id}/items/{}/output", short.seq))
        .await?;
    assert_eq!(status, 400, "{body}");
    let (status, _) = h
        .get_raw(&format!("/api/sessions/{id}/items/999999/output"))
        .await?;
    assert_eq!(status, 404);

    // The rollout deleted: a clear answer, nothing else lost.
    std::fs::remove_file(&rollout)?;
    let (status, body) = h
        .get_raw(&format!("/api/sessions/{id}/items/{}/output", item.seq))
        .await?;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "gone", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no longer") && message.contains("start and end"),
        "{message}"
    );
    let again: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?limit=1000"))
        .await?;
    assert!(again.items.iter().any(|i| i == item));
    Ok(())
}
