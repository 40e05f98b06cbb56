//! Retention of command output with the REAL pinned Codex: a command printing more than the
//! server keeps is stored shortened (start and end, with what was left out counted), and its
//! whole output is read back from the thread's rollout file; once the rollout is gone, the
//! answer says so. An output longer than Codex itself keeps in its rollout (64 KiB on 0.169) is
//! answered with the most there is, labelled incomplete.

use anyhow::{Context, Result};
use orbitdock_protocol::{
    FullOutputResponse, ItemBody, ItemsPage, OmittedOutput, SendMessageResponse, SessionDelta,
    SessionState,
};
use orbitdock_server::full_output::CODEX_PERSISTENCE_MARKER;
use orbitdock_server::retention::OutputLimits;
use serde_json::json;
use test_support::ScriptedResponse;

use crate::common::{Harness, direct_session};

/// What one scripted `seq 1 N` turn left: the session, its thread and the command item.
struct Ran {
    id: String,
    thread: String,
    item: orbitdock_protocol::TranscriptItem,
    page: ItemsPage,
}

/// `seq 1 N`'s output.
fn seq_output(n: usize) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

/// Runs `seq 1 n` through the real Codex with at most `limit` bytes kept per output, and
/// returns the stored command item once the turn ended.
async fn run_seq(h: &Harness, n: usize, limit: usize) -> Result<Ran> {
    h.server
        .as_ref()
        .context("server")?
        .registry
        .store()
        .set_output_limits(OutputLimits {
            per_item: limit,
            per_session: 1 << 24,
            ..OutputLimits::default()
        });
    h.fake
        .enqueue(ScriptedResponse::new().exec_command(&format!("seq 1 {n}"), "call-long"));
    h.fake.enqueue(ScriptedResponse::new().text("counted"));
    let (id, mut ws) = direct_session(h, "never", "read-only").await?;
    let thread = h
        .get::<SessionState>(&format!("/api/sessions/{id}"))
        .await?
        .summary
        .thread_id
        .context("thread id")?;
    let sent: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "count"}),
        )
        .await?;
    let turn = sent.turn_id.context("turn id")?;
    ws.wait_delta(
        "turn end",
        &id,
        |d| matches!(d, SessionDelta::TurnEnded { turn_id, .. } if *turn_id == turn),
    )
    .await?;
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?limit=1000"))
        .await?;
    let item = page
        .items
        .iter()
        .find(|i| i.id == "call-long")
        .with_context(|| format!("no command item in {:#?}", page.items))?
        .clone();
    Ok(Ran {
        id,
        thread,
        item,
        page,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_output_is_stored_shortened_and_read_back_whole_from_the_rollout() -> Result<()> {
    let h = Harness::start().await?;
    let limit = 4 * 1024;
    // About 48 KiB: twelve times what is kept, well inside what Codex itself records.
    let n = 9_000;
    let full = seq_output(n);
    let Ran {
        id,
        thread,
        item,
        page,
    } = run_seq(&h, n, limit).await?;
    let item = &item;

    // Stored: the start and the end, the middle counted.
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
    assert_eq!(
        output.len() as u64 + omitted_bytes,
        full.len() as u64,
        "stored {:?} ... {:?}",
        &output[..200],
        &output[output.len() - 200..]
    );
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
    assert!(back.complete && back.note.is_none(), "{back:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_codex_itself_shortened_is_answered_with_the_most_there_is_and_labelled()
-> Result<()> {
    let h = Harness::start().await?;
    // About 2 MB: more than Codex hands over live (about 1 MiB) and far more than it writes
    // into its rollout (64 KiB).
    let n = 300_000;
    let full = seq_output(n);
    for (limit, record_is_longer) in [(16 * 1024, true), (256 * 1024, false)] {
        let Ran { id, item, .. } = run_seq(&h, n, limit).await?;
        let ItemBody::CommandExecution {
            output,
            output_omitted: Some(omitted),
            ..
        } = &item.body
        else {
            panic!("not a shortened command: {:#?}", item.body);
        };
        assert!(output.len() <= limit);
        // What the hub received is Codex's live cap, not all 2 MB.
        let received = output.len() as u64 + omitted.omitted_bytes;
        assert!(
            received < full.len() as u64 && received >= 1 << 20,
            "{received}"
        );
        let back: FullOutputResponse = h
            .get(&format!("/api/sessions/{id}/items/{}/output", item.seq))
            .await?;
        assert!(!back.complete, "{:?}", back.note);
        let note = back.note.as_deref().unwrap_or_default();
        assert!(note.contains("Codex kept only 64 KiB"), "{note}");
        let edge = |s: &str| {
            format!(
                "{} bytes: {:?} ... {:?}; stored {:?} ...",
                s.len(),
                &s[..s.len().min(80)],
                &s[s.len().saturating_sub(80)..],
                &output[..output.len().min(80)]
            )
        };
        assert!(
            back.output.starts_with("1\n2\n3\n"),
            "{}",
            edge(&back.output)
        );
        assert!(
            back.output.ends_with(&format!("{}\n{n}\n", n - 1)),
            "{}",
            edge(&back.output)
        );
        if record_is_longer {
            // The rollout's 64 KiB (start, Codex's marker, end) beat the hub's 16 KiB.
            assert!(back.output.len() > output.len() && back.output.len() <= 66 * 1024);
            assert!(back.output.contains(CODEX_PERSISTENCE_MARKER));
            assert!(note.contains("the middle is lost"), "{note}");
        } else {
            // The hub kept 256 KiB: its own copy is the answer.
            assert_eq!(&back.output, output);
            assert!(note.contains("the hub's own copy"), "{note}");
        }
    }
    Ok(())
}
