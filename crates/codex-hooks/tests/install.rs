//! hooks.json / config.toml install, idempotence, foreign hooks, trust-key moves, uninstall —
//! file level (the real-Codex view of the same files is in `real_codex`).

use std::path::Path;

use codex_hooks::hooks_file::{self, EVENT_TIMEOUT_SECS, PERMISSION_TIMEOUT_SECS};
use codex_hooks::{HookEvent, HooksFormat, hook_command, install, uninstall};
use serde_json::{Value, json};

fn cmd() -> String {
    hook_command(
        Path::new("/opt/orbit dock/orbitdock"),
        Some(Path::new("/data")),
    )
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

#[test]
fn fresh_home_gets_hooks_json_with_every_event_and_explicit_timeouts() {
    let home = tempfile::tempdir().expect("tempdir");
    let change = install(home.path(), &cmd()).expect("install");
    assert_eq!(change.format, Some(HooksFormat::Json));
    assert_eq!((change.added, change.removed), (12, 0));
    let v = read_json(&home.path().join("hooks.json"));
    let hooks = v["hooks"].as_object().expect("hooks object");
    assert_eq!(hooks.len(), 12);
    for ev in HookEvent::INSTALLED {
        let want_timeout = match ev {
            HookEvent::PermissionRequest => PERMISSION_TIMEOUT_SECS,
            HookEvent::SessionEnd | HookEvent::Interrupt => 3,
            _ => EVENT_TIMEOUT_SECS,
        };
        assert_eq!(
            hooks[ev.as_str()],
            json!([{"hooks": [{"type": "command", "command": cmd(), "timeout": want_timeout}]}]),
            "{ev}"
        );
    }
    // Not world-readable: the command names the data dir.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.path().join("hooks.json"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn install_is_idempotent_and_replaces_an_old_command() {
    let home = tempfile::tempdir().expect("tempdir");
    install(home.path(), "/old/orbitdock hook codex").expect("first");
    let second = install(home.path(), &cmd()).expect("second");
    assert_eq!((second.removed, second.added), (12, 12));
    let before = std::fs::read(home.path().join("hooks.json")).expect("read");
    let third = install(home.path(), &cmd()).expect("third");
    assert!(third.written.is_empty(), "{third:?}");
    assert_eq!(
        std::fs::read(home.path().join("hooks.json")).expect("read"),
        before
    );
    let ours = hooks_file::scan(home.path()).expect("scan");
    assert_eq!(ours.iter().filter(|h| h.ours).count(), 12);
    assert!(
        ours.iter()
            .all(|h| h.command.as_deref() == Some(cmd().as_str()))
    );
}

#[test]
fn foreign_hooks_and_keys_are_kept_and_uninstall_restores_the_content() {
    let home = tempfile::tempdir().expect("tempdir");
    let original_text = r#"{
  "hooks": {
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done", "timeout": 5}]}],
    "PreToolUse": [{"matcher": "Bash", "hooks": [
      {"type": "command", "command": "/usr/bin/audit"},
      {"type": "command", "command": "/usr/bin/audit2", "statusMessage": "x"}
    ]}],
    "CustomThing": [{"hooks": []}]
  },
  "description": "mine"
}"#;
    let original: Value = serde_json::from_str(original_text).expect("json");
    let path = home.path().join("hooks.json");
    std::fs::write(&path, original_text).expect("write");
    install(home.path(), &cmd()).expect("install");
    let v = read_json(&path);
    assert_eq!(v["description"], "mine");
    // Ours come AFTER the user's: their positions (= trust keys) do not move.
    assert_eq!(v["hooks"]["Stop"][0], original["hooks"]["Stop"][0]);
    assert_eq!(v["hooks"]["Stop"][1]["hooks"][0]["command"], cmd());
    assert_eq!(
        v["hooks"]["PreToolUse"][0],
        original["hooks"]["PreToolUse"][0]
    );
    assert_eq!(v["hooks"]["CustomThing"], original["hooks"]["CustomThing"]);
    // The user's events keep their order and come first (checked on the text: a JSON object's
    // key order is not part of its value).
    let text = std::fs::read_to_string(&path).expect("read");
    let at = |k: &str| text.find(&format!("\"{k}\"")).expect(k);
    assert!(at("Stop") < at("PreToolUse") && at("PreToolUse") < at("CustomThing"));
    assert!(at("CustomThing") < at("SessionStart"), "{text}");
    assert!(at("hooks") < at("description"), "{text}");

    let change = uninstall(home.path()).expect("uninstall");
    assert_eq!(change.removed, 12);
    assert_eq!(read_json(&path), original);
    let again = uninstall(home.path()).expect("second uninstall");
    assert_eq!((again.removed, again.written.len()), (0, 0));
}

#[test]
fn uninstall_removes_a_hooks_json_that_only_held_ours() {
    let home = tempfile::tempdir().expect("tempdir");
    install(home.path(), &cmd()).expect("install");
    uninstall(home.path()).expect("uninstall");
    assert!(!home.path().join("hooks.json").exists());
}

const USER_TOML: &str = r#"# my config
model = "gpt-oss-20b"   # keep this comment

[[hooks.Stop]]
# the user's own stop hook
hooks = [{ type = "command", command = "notify-send done", timeout = 5 }]

[hooks.state."HOME/config.toml:stop:0:0"]
trusted_hash = "sha256:aaaa"

[projects."/w"]
trust_level = "trusted"
"#;

#[test]
fn toml_hooks_get_ours_in_config_toml_with_comments_kept_and_uninstall_is_exact() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = home.path().join("config.toml");
    let text = USER_TOML.replace("HOME", &home.path().to_string_lossy());
    std::fs::write(&cfg, &text).expect("write");
    let change = install(home.path(), &cmd()).expect("install");
    assert_eq!(change.format, Some(HooksFormat::Toml));
    assert!(
        !home.path().join("hooks.json").exists(),
        "no second hooks file"
    );
    let after = std::fs::read_to_string(&cfg).expect("read");
    for kept in [
        "# my config",
        "# keep this comment",
        "# the user's own stop hook",
        "trust_level",
    ] {
        assert!(after.contains(kept), "{kept} lost:\n{after}");
    }
    let doc: toml_edit::DocumentMut = after.parse().expect("valid toml");
    let stop = doc["hooks"]["Stop"].as_array_of_tables().expect("aot");
    assert_eq!(stop.len(), 2, "{after}");
    let ours = hooks_file::scan(home.path()).expect("scan");
    assert_eq!(ours.iter().filter(|h| h.ours).count(), 12);
    assert!(ours.iter().all(|h| h.format == HooksFormat::Toml));
    assert_eq!(
        ours.iter().find(|h| !h.ours).map(|h| h.key()),
        Some(format!("{}:stop:0:0", cfg.display()))
    );
    // Idempotent.
    assert!(
        install(home.path(), &cmd())
            .expect("again")
            .written
            .is_empty()
    );
    uninstall(home.path()).expect("uninstall");
    assert_eq!(std::fs::read_to_string(&cfg).expect("read"), text);
}

#[test]
fn trust_entries_of_foreign_hooks_follow_them_when_ours_go() {
    let home = tempfile::tempdir().expect("tempdir");
    let hj = home.path().join("hooks.json");
    let cfg = home.path().join("config.toml");
    install(home.path(), &cmd()).expect("install");
    // The user adds a hook AFTER ours and trusts everything (Codex's key format).
    let mut v = read_json(&hj);
    v["hooks"]["Stop"]
        .as_array_mut()
        .expect("array")
        .push(json!({"hooks": [{"type": "command", "command": "/usr/bin/late"}]}));
    std::fs::write(&hj, v.to_string()).expect("write");
    let key = |g: usize| format!("{}:stop:{g}:0", hj.display());
    std::fs::write(
        &cfg,
        format!(
            "# keep me\n[hooks.state.\"{}\"]\ntrusted_hash = \"sha256:ours\"\n\n[hooks.state.\"{}\"]\ntrusted_hash = \"sha256:late\"\n",
            key(0),
            key(1)
        ),
    )
    .expect("write cfg");
    let change = uninstall(home.path()).expect("uninstall");
    assert_eq!(
        (change.trust_moved, change.trust_dropped),
        (1, 0),
        "{change:?}"
    );
    let doc: toml_edit::DocumentMut = std::fs::read_to_string(&cfg)
        .expect("read")
        .parse()
        .expect("toml");
    let state = doc["hooks"]["state"].as_table_like().expect("state");
    let keys: Vec<&str> = state.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec![key(0).as_str()],
        "the late hook is now at group 0"
    );
    assert_eq!(
        state
            .get(&key(0))
            .and_then(|t| t.get("trusted_hash"))
            .and_then(|h| h.as_str()),
        Some("sha256:late")
    );
    assert!(
        std::fs::read_to_string(&cfg)
            .expect("read")
            .starts_with("# keep me")
    );
}

#[test]
fn unreadable_files_are_errors_and_stay_untouched() {
    let home = tempfile::tempdir().expect("tempdir");
    let hj = home.path().join("hooks.json");
    std::fs::write(&hj, "{ not json").expect("write");
    let err = install(home.path(), &cmd()).expect_err("must refuse");
    assert!(err.to_string().contains("hooks.json"), "{err}");
    assert_eq!(std::fs::read_to_string(&hj).expect("read"), "{ not json");
    std::fs::write(&hj, r#"{"hooks": []}"#).expect("write");
    assert!(install(home.path(), &cmd()).is_err());
}

#[test]
fn status_reports_missing_duplicated_and_both_files() {
    let home = tempfile::tempdir().expect("tempdir");
    install(home.path(), &cmd()).expect("install");
    let s = hooks_file::file_status(home.path()).expect("status");
    assert!(s.missing.is_empty() && s.duplicated.is_empty() && !s.both_files_have_hooks);
    assert!(s.trust_recorded.is_empty());
    std::fs::write(
        home.path().join("config.toml"),
        "[[hooks.Stop]]\nhooks = [{ type = \"command\", command = \"/usr/bin/orbitdock hook codex\" }]\n",
    )
    .expect("write");
    let s = hooks_file::file_status(home.path()).expect("status");
    assert_eq!(s.duplicated, vec!["Stop".to_owned()]);
    assert!(s.both_files_have_hooks);
}
