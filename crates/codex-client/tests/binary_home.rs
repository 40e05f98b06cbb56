//! Binary resolution and version probing against the real pinned install, and CODEX_HOME
//! creation.

use cli_locate::Failure;
use codex_client::binary::{BinaryResolver, CodexBinary, managed_binary_path, probe_version};
use codex_client::{CodexHome, Error, PINNED_VERSION};
use test_support::{codex_bin, workspace_root};

#[tokio::test]
async fn resolves_the_project_managed_pinned_install_and_probes_it() {
    let managed = workspace_root().join("tools/codex");
    // The managed layout is where set-up installs the CLI (unless CODEX_BIN points elsewhere).
    if std::env::var_os("CODEX_BIN").is_none() {
        assert_eq!(managed_binary_path(&managed), codex_bin());
    }
    let found = BinaryResolver::new()
        .use_env(false)
        .use_path(false)
        .explicit("/nonexistent/codex")
        .managed_dir(&managed)
        .resolve()
        .await
        .expect("resolve");
    assert_eq!(found.path, managed_binary_path(&managed));
    assert_eq!(found.version.to_string(), PINNED_VERSION);
    assert!(found.version.is_pinned());
    let pinned = found.clone().require_pinned().expect("pinned");
    assert_eq!(pinned, found);

    // Explicit wins over managed.
    let explicit = BinaryResolver::new()
        .use_env(false)
        .explicit(codex_bin())
        .managed_dir("/nonexistent")
        .resolve()
        .await
        .expect("resolve");
    assert_eq!(explicit.path, codex_bin());
    assert_eq!(
        probe_version(&codex_bin()).await.expect("probe"),
        explicit.version
    );
}

#[tokio::test]
async fn not_found_names_every_place_and_a_non_codex_binary_fails_the_probe() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = BinaryResolver::new()
        .use_env(false)
        .use_path(false)
        .explicit(tmp.path().join("codex"))
        .managed_dir(tmp.path())
        .resolve()
        .await
        .expect_err("nothing there");
    match &err {
        Error::Binary(Failure::NotFound { searched, .. }) => {
            assert_eq!(searched.len(), 2, "{searched:?}");
            assert!(searched[0].contains("explicit path"));
            assert!(searched[1].contains("managed install"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // `false` exits 1 on --version: a probe error naming the path.
    let err = CodexBinary::probe("/bin/false")
        .await
        .expect_err("not codex");
    assert!(
        matches!(err, Error::Binary(Failure::VersionProbe { ref path, .. }) if path.ends_with("false")),
        "{err:?}"
    );
    // `echo` prints its args: "--version" is not a version.
    assert!(matches!(
        CodexBinary::probe("/bin/echo").await,
        Err(Error::Binary(Failure::VersionProbe { .. }))
    ));
}

#[test]
fn app_scoped_home_is_created_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = CodexHome::app_scoped_in(tmp.path(), "orbitdock");
    assert_eq!(home.root(), tmp.path().join("orbitdock/codex"));
    home.create().expect("create");
    home.create().expect("idempotent");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.root())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }
    assert!(home.rollout_files().expect("none yet").is_empty());
}

#[tokio::test]
async fn install_is_idempotent_when_the_pinned_binary_is_already_there() {
    use codex_client::binary::install_version;
    // A managed layout whose binary is the real pinned CLI (symlinked): no npm must run, which
    // a bogus npm path proves.
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = managed_binary_path(tmp.path());
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(codex_bin(), &target).expect("symlink");
    let found = install_version(tmp.path(), PINNED_VERSION, "/nonexistent/npm")
        .await
        .expect("already installed");
    assert_eq!(found.path, target);
    assert!(found.version.is_pinned());

    // A different version requested: npm is needed, and a missing npm is a spawn error naming it.
    let err = install_version(tmp.path(), "0.1.0", "/nonexistent/npm")
        .await
        .expect_err("needs npm");
    assert!(
        matches!(err, Error::Binary(Failure::Spawn { ref program, .. }) if program.ends_with("npm")),
        "{err:?}"
    );
}
