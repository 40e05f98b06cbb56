//! Modes of the files and directories this crate creates in a `CODEX_HOME`: the home itself is
//! 0700 however it comes to exist (`CodexHome::create`, or the first `ConfigFile::save`),
//! `auth.json` and a new `config.toml` are 0600 (a copied `auth.json` even when its source was
//! world-readable), and an existing config keeps the mode its owner chose.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context as _, Result, ensure};
use codex_client::CodexHome;
use codex_client::config::ConfigFile;

fn mode(p: &Path) -> Result<u32> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("stat {}", p.display()))?
        .permissions()
        .mode()
        & 0o777)
}

#[test]
fn homes_are_0700_and_credentials_0600() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // An app-scoped home created explicitly.
    let app = CodexHome::app_scoped_in(&dir.path().join("data"), "orbitdock");
    app.create()?;
    ensure!(
        mode(app.root())? == 0o700,
        "created home {:o}",
        mode(app.root())?
    );

    // auth.json copied from a user home whose file is world-readable.
    let user = CodexHome::new(dir.path().join("user-home"));
    user.create()?;
    std::fs::write(user.auth_json(), r#"{"OPENAI_API_KEY":"sk-test"}"#)?;
    std::fs::set_permissions(user.auth_json(), std::fs::Permissions::from_mode(0o644))?;
    let copy = CodexHome::app_scoped_in(&dir.path().join("data2"), "orbitdock");
    ensure!(copy.copy_auth_from(&user)?, "nothing copied");
    ensure!(mode(copy.root())? == 0o700, "home {:o}", mode(copy.root())?);
    ensure!(
        mode(&copy.auth_json())? == 0o600,
        "auth.json {:o}",
        mode(&copy.auth_json())?
    );

    // A home that first comes to exist through saving its config.
    let fresh = CodexHome::new(dir.path().join("fresh").join("codex-home"));
    let mut config = ConfigFile::load_home(&fresh)?;
    config.set_model("gpt-oss-20b")?;
    config.save()?;
    ensure!(
        mode(fresh.root())? == 0o700,
        "home created by ConfigFile::save is {:o}",
        mode(fresh.root())?
    );
    ensure!(
        mode(&fresh.config_toml())? == 0o600,
        "config.toml {:o}",
        mode(&fresh.config_toml())?
    );
    // The owner's choice is kept on rewrite.
    std::fs::set_permissions(fresh.config_toml(), std::fs::Permissions::from_mode(0o640))?;
    config.set_model("gpt-oss-120b")?;
    config.save()?;
    ensure!(mode(&fresh.config_toml())? == 0o640);
    println!(
        "codex-client file modes: homes 0700 (create, copy_auth_from, first config save), auth.json and new config.toml 0600, existing mode kept"
    );
    Ok(())
}
