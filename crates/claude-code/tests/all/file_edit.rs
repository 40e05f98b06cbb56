//! File edits: the Edit/Write tool_use input and the structured result are enough to render a
//! diff, both before (approval card) and after (transcript) the change.

use claude_code::protocol::OutputMessage;
use claude_code::protocol::tool_results::{FileChange, FileChangeKind, proposed_diff};
use serde_json::json;
use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{Env, Events, messages};

#[tokio::test]
async fn edit_and_write_render_as_diffs() -> anyhow::Result<()> {
    let env = Env::new();
    let notes = env.path("notes.txt");
    let fresh = env.path("fresh.txt");
    std::fs::write(&notes, "alpha\nbeta\ngamma\n")?;
    let notes_s = notes.display().to_string();
    let fresh_s = fresh.display().to_string();
    // The CLI refuses to edit a file the model has not read in this session.
    env.fake.enqueue(ScriptedMessage::new().tool_use(
        "toolu_read",
        "Read",
        json!({ "file_path": notes_s }),
    ));
    env.fake.enqueue(ScriptedMessage::new().tool_use(
        "toolu_edit",
        "Edit",
        json!({ "file_path": notes_s, "old_string": "beta", "new_string": "BETA" }),
    ));
    env.fake.enqueue(ScriptedMessage::new().tool_use(
        "toolu_write",
        "Write",
        json!({ "file_path": fresh_s, "content": "hello\nworld\n" }),
    ));
    env.fake.enqueue(ScriptedMessage::new().text("edited"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("edit the notes").await?;

    // Reading inside the working directory needs no permission; editing does.
    let (edit, _) = events.permission().await;
    assert_eq!(edit.tool_name(), "Edit");
    assert_eq!(edit.input()["old_string"], "beta");
    assert_eq!(edit.input()["new_string"], "BETA");
    let card = proposed_diff(edit.tool_name(), edit.input()).expect("an edit renders");
    assert!(card.contains("\n-beta\n+BETA\n"), "{card}");
    assert_eq!(std::fs::read_to_string(&notes)?, "alpha\nbeta\ngamma\n");
    edit.allow().await?;

    let (write, seen) = events.permission().await;
    assert_eq!(write.tool_name(), "Write");
    let edited: FileChange = messages(&seen)
        .iter()
        .find_map(|m| match m {
            OutputMessage::User(u)
                if u.tool_results()
                    .iter()
                    .any(|r| r.tool_use_id == "toolu_edit") =>
            {
                u.file_change()
            }
            _ => None,
        })
        .expect("a structured result for the edit");
    assert_eq!(edited.kind, FileChangeKind::Edit);
    assert_eq!(edited.original.as_deref(), Some("alpha\nbeta\ngamma\n"));
    let rel = notes_s.trim_start_matches('/');
    assert_eq!(
        edited.unified_diff(),
        format!("--- a/{rel}\n+++ b/{rel}\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n")
    );
    write.allow().await?;

    let (result, seen) = events.result().await;
    let created = messages(&seen)
        .iter()
        .find_map(|m| match m {
            OutputMessage::User(u) => u.file_change(),
            _ => None,
        })
        .expect("a structured result for the write");
    assert_eq!(created.kind, FileChangeKind::Create);
    let rel = fresh_s.trim_start_matches('/');
    assert_eq!(
        created.unified_diff(),
        format!("--- /dev/null\n+++ b/{rel}\n@@ -0,0 +1,2 @@\n+hello\n+world\n")
    );
    assert_eq!(result.result.as_deref(), Some("edited"));
    assert_eq!(std::fs::read_to_string(&notes)?, "alpha\nBETA\ngamma\n");
    assert_eq!(std::fs::read_to_string(&fresh)?, "hello\nworld\n");
    session.shutdown().await?;
    Ok(())
}
