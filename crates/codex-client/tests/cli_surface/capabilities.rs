//! Capability detection on the real binaries, the cache, and guards refusing what a version
//! lacks.

use std::sync::Arc;

use codex_client::binary::CodexBinary;
use codex_client::capabilities::{Capabilities, CapabilityCache};
use codex_client::commands::{CliCommand, PermissionProfile, Queue, Sandbox};
use codex_client::{Error, auth};

use crate::{binary, caps_cache_dir, empty_home};

pub async fn caps_of(bin: &CodexBinary) -> Arc<Capabilities> {
    CapabilityCache::new(caps_cache_dir())
        .get(bin)
        .await
        .expect("capabilities")
}

pub async fn newest() -> CodexBinary {
    CodexBinary::probe(test_support::codex_bin_newest())
        .await
        .expect("probe newest")
}

#[tokio::test]
async fn detects_the_pinned_binary_and_caches_it_per_version() {
    let bin = binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = CapabilityCache::new(dir.path());
    assert_eq!(cache.load(&bin).expect("load"), None);
    let caps = cache.get(&bin).await.expect("detect");
    assert_eq!(caps.version, test_support::PINNED_CODEX_VERSION);
    for path in [
        &["login", "status"][..],
        &["mcp", "login"],
        &["sandbox"],
        &["doctor"],
        &["queue"],
        &["archive"],
        &["app-server", "generate-json-schema"],
    ] {
        assert!(caps.has_command(path), "{path:?}");
    }
    assert!(caps.has_flag(&["doctor"], "--json"));
    assert!(
        caps.has_flag(&["sandbox"], "-P") && caps.has_flag(&["sandbox"], "--permission-profile")
    );
    assert!(caps.has_flag(&["mcp", "add"], "--oauth-client-registration"));
    // Hidden flags are found by probing.
    let login = caps.command(&["login"]).expect("login");
    assert!(
        login.hidden_flags.contains("--experimental_issuer"),
        "{login:?}"
    );
    assert!(login.flags.contains("--device-auth"));
    assert!(caps.has_feature("hooks"));
    assert!(caps.has_method("thread/revert") && !caps.has_method("thread/rollback"));
    assert_eq!(
        caps.method_for("thread/rollback").expect("alias"),
        "thread/revert"
    );
    assert!(caps.supports("account/login/start"));
    assert!(caps.has_notification("turn/completed"));

    // Cached on disk under the version; a second lookup reads the file.
    let file = cache.entry_path(&bin);
    assert!(file.exists());
    assert!(
        file.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("0.169.0-"))
    );
    assert_eq!(cache.load(&bin).expect("load").as_ref(), Some(&*caps));
}

#[tokio::test]
async fn guards_refuse_what_the_detected_version_lacks() {
    let pinned_bin = binary();
    let pinned = caps_of(&pinned_bin).await;
    let newest_bin = newest().await;
    let newest_caps = caps_of(&newest_bin).await;
    let (_tmp, home) = empty_home();

    // `sandbox --transparent-tcp` exists on 0.171 only.
    let err = Sandbox::new(&pinned_bin, &home, ["true"])
        .permission_profile(PermissionProfile::Workspace)
        .transparent_tcp(true)
        .capabilities(pinned.clone())
        .output()
        .await
        .expect_err("refused");
    match &err {
        Error::Unsupported { version, what, .. } => {
            assert_eq!(version, "0.169.0");
            assert!(what.contains("--transparent-tcp"), "{what}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(err.to_string().contains("codex 0.169.0"), "{err}");
    Sandbox::new(&newest_bin, &home, ["true"])
        .permission_profile(PermissionProfile::Workspace)
        .transparent_tcp(true)
        .capabilities(newest_caps.clone())
        .command()
        .expect("command")
        .check()
        .expect("0.171 has --transparent-tcp");

    // `exec --remote` arrived in 0.171.
    assert!(
        CliCommand::new(&pinned_bin, &home, &["exec"])
            .flag_value("--remote", "unix://")
            .capabilities(pinned.clone())
            .check()
            .is_err()
    );
    CliCommand::new(&newest_bin, &home, &["exec"])
        .flag_value("--remote", "unix://")
        .capabilities(newest_caps.clone())
        .check()
        .expect("0.171 has exec --remote");

    // An older binary without `codex queue` (a capability set as such a release would report).
    let mut older = (*pinned).clone();
    older.version = "0.150.0".into();
    older.commands.remove("queue");
    older
        .commands
        .get_mut("")
        .expect("root")
        .subcommands
        .remove("queue");
    let err = Queue::new(&pinned_bin, &home, "t", "m")
        .capabilities(Arc::new(older))
        .run()
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("codex 0.150.0") && err.to_string().contains("`codex queue`"),
        "{err}"
    );

    // A hidden flag the guard knows about: the device-auth issuer override.
    auth::DeviceAuth::new(&pinned_bin, &home)
        .issuer("http://127.0.0.1:9")
        .capabilities(pinned.clone())
        .command()
        .expect("command")
        .check()
        .expect("0.169 has --experimental_issuer");

    // Renamed methods: both versions answer the rollback under its 0.169 name.
    assert_eq!(
        pinned.method_for("thread/rollback").expect("169"),
        "thread/revert"
    );
    assert_eq!(
        newest_caps.method_for("thread/rollback").expect("171"),
        "thread/revert"
    );
    assert!(newest_caps.has_method("modelProvider/default/set"));
    assert!(matches!(
        pinned.method_for("modelProvider/default/set"),
        Err(Error::Unsupported { .. })
    ));
}
