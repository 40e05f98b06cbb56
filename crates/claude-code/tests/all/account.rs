//! The pinned binary is where set-up put it, and the account state is reported by the CLI
//! itself (offline) and by the static check.

use claude_code::account::{AccountState, Credential, auth_status};
use claude_code::{BinaryResolver, PINNED_VERSION};

use crate::common::{Env, claude_bin};

#[tokio::test]
async fn the_managed_install_is_the_pinned_version() -> anyhow::Result<()> {
    let bin = BinaryResolver::new()
        .use_env(false)
        .use_path(false)
        .managed_dir(test_support::workspace_root().join("tools/claude"))
        .resolve()
        .await?
        .require_pinned()?;
    assert_eq!(bin.version.to_string(), PINNED_VERSION);
    Ok(())
}

#[tokio::test]
async fn auth_status_reports_an_api_key_or_nothing() -> anyhow::Result<()> {
    let env = Env::new();
    let config = env.config.display().to_string();
    let bin = claude_bin();
    let home = env.home.display().to_string();

    let without = auth_status(
        &bin,
        [
            ("CLAUDE_CONFIG_DIR", config.as_str()),
            ("HOME", home.as_str()),
            ("ANTHROPIC_API_KEY", ""),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ],
    )
    .await?;
    assert!(!without.logged_in, "{without:?}");
    assert_eq!(without.auth_method.as_deref(), Some("none"));
    assert_eq!(without.config_directory.as_deref(), Some(config.as_str()));

    let with = auth_status(
        &bin,
        [
            ("CLAUDE_CONFIG_DIR", config.as_str()),
            ("HOME", home.as_str()),
            ("ANTHROPIC_API_KEY", "sk-ant-test-fake"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ],
    )
    .await?;
    assert!(with.logged_in, "{with:?}");
    assert_eq!(with.auth_method.as_deref(), Some("api_key"));
    assert_eq!(with.api_key_source.as_deref(), Some("ANTHROPIC_API_KEY"));

    // The static check agrees.
    let state = AccountState::detect([
        ("CLAUDE_CONFIG_DIR", config.as_str()),
        ("ANTHROPIC_API_KEY", "sk-ant-test-fake"),
    ]);
    assert_eq!(
        state.credential,
        Credential::EnvVar("ANTHROPIC_API_KEY".into())
    );
    let state = AccountState::detect([("CLAUDE_CONFIG_DIR", config.as_str())]);
    assert!(!state.is_ready());
    Ok(())
}
