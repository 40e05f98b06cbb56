//! `codexpc configure-codex`: point a Codex installation at codexpc, preserving the user's files.
//!
//! The editing itself is codex-client's ([`codex_client::config::ConfigFile`]: `toml_edit`,
//! atomic saves keeping the file mode, comments and unknown keys untouched); this module only
//! says what codexpc writes:
//! - `$CODEX_HOME/config.toml`: a `[model_providers.codexpc]` table (`name`, `base_url`,
//!   `wire_api = "responses"`, optionally `env_key`). Nothing else in the file is touched.
//! - `$CODEX_HOME/codexpc.config.toml`: the `codexpc` profile (`model`, `model_provider`), used as
//!   `codex -p codexpc` (on Codex 0.169 profiles are `<name>.config.toml` files; a legacy
//!   `[profiles.x]` table in config.toml makes `-p` fail, so we never write one).

use std::path::{Path, PathBuf};

use codex_client::CodexHome;
use codex_client::config::{ConfigFile, ModelProvider};

use crate::{Error, Result};

/// Provider id and profile name.
pub const PROVIDER_ID: &str = "codexpc";
/// Default model name Codex will send (Codex knows gpt-oss's family by this name).
pub const DEFAULT_MODEL: &str = "gpt-oss-20b";
/// The provider's display name in Codex.
pub const PROVIDER_NAME: &str = "codexpc (local gpt-oss)";

/// What to write.
#[derive(Debug, Clone)]
pub struct CodexConfigPlan {
    pub codex_home: PathBuf,
    /// e.g. `http://127.0.0.1:11435/v1`.
    pub base_url: String,
    pub model: String,
    /// Environment variable holding the bearer key, if codexpc serves with one.
    pub env_key: Option<String>,
}

/// Paths written by [`configure_codex`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub config: PathBuf,
    pub profile: PathBuf,
}

/// The default `CODEX_HOME`: `$CODEX_HOME`, else `~/.codex`.
pub fn default_codex_home() -> Option<PathBuf> {
    CodexHome::default_user()
        .ok()
        .map(|h| h.root().to_path_buf())
}

/// codexpc's provider entry for `base_url`.
pub fn provider(base_url: &str, env_key: Option<&str>) -> ModelProvider {
    ModelProvider {
        env_key: env_key.map(str::to_owned),
        ..ModelProvider::responses(PROVIDER_NAME, base_url)
    }
}

fn config_err(path: &Path, e: codex_client::Error) -> Error {
    let message = match e {
        codex_client::Error::Config { message, .. } => {
            format!("not valid TOML, left untouched: {message}")
        }
        other => other.to_string(),
    };
    Error::Config {
        path: path.to_owned(),
        message,
    }
}

/// Write the provider entry and the profile. Both files are parsed first; if either is not valid
/// TOML nothing is written.
pub fn configure_codex(plan: &CodexConfigPlan) -> Result<Written> {
    // A CODEX_HOME created here will hold credentials and transcripts: owner-only (0700).
    // An existing one keeps the mode its owner chose.
    if !plan.codex_home.is_dir() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&plan.codex_home)
            .map_err(|e| Error::io("creating CODEX_HOME", &plan.codex_home, e))?;
    }
    let home = CodexHome::new(&plan.codex_home);
    let config_path = home.config_toml();
    let profile_path = home.profile_toml(PROVIDER_ID);
    let mut config = ConfigFile::load_home(&home).map_err(|e| config_err(&config_path, e))?;
    let mut profile =
        ConfigFile::load_profile(&home, PROVIDER_ID).map_err(|e| config_err(&profile_path, e))?;

    // Keys of ours that the user added to the table (e.g. `stream_max_retries`) are kept.
    let mut entry = config.provider(PROVIDER_ID).unwrap_or_default();
    let ours = provider(&plan.base_url, plan.env_key.as_deref());
    entry.name = ours.name;
    entry.base_url = ours.base_url;
    entry.wire_api = ours.wire_api;
    entry.env_key = ours.env_key;
    config
        .set_provider(PROVIDER_ID, &entry)
        .map_err(|e| config_err(&config_path, e))?;
    profile
        .set_model(&plan.model)
        .and_then(|()| profile.set_model_provider(PROVIDER_ID))
        .map_err(|e| config_err(&profile_path, e))?;

    config.save().map_err(|e| config_err(&config_path, e))?;
    profile.save().map_err(|e| config_err(&profile_path, e))?;
    Ok(Written {
        config: config_path,
        profile: profile_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_CONFIG: &str = r#"# my codex settings
model = "o3" # the default model

[mcp_servers.docs]
command = "docs-server" # keep me

[model_providers.other]
name = "other"
base_url = "http://example.invalid/v1"
"#;

    #[test]
    fn writes_provider_and_profile_preserving_user_content() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("config.toml"), USER_CONFIG).expect("write");
        let plan = CodexConfigPlan {
            codex_home: dir.path().to_owned(),
            base_url: "http://127.0.0.1:9999/v1".into(),
            model: DEFAULT_MODEL.into(),
            env_key: None,
        };
        let written = configure_codex(&plan).expect("configure");
        let config = std::fs::read_to_string(&written.config).expect("read");
        assert!(
            config.starts_with(USER_CONFIG),
            "user content must stay verbatim:\n{config}"
        );
        assert!(config.ends_with(
            "\n[model_providers.codexpc]\nname = \"codexpc (local gpt-oss)\"\nbase_url = \"http://127.0.0.1:9999/v1\"\nwire_api = \"responses\"\n"
        ), "{config}");
        let profile = std::fs::read_to_string(&written.profile).expect("read");
        assert_eq!(
            profile,
            "model = \"gpt-oss-20b\"\nmodel_provider = \"codexpc\"\n"
        );
        assert_eq!(
            written.profile.file_name().and_then(|n| n.to_str()),
            Some("codexpc.config.toml")
        );

        // Re-running with a new URL and a key updates in place, keeping comments.
        std::fs::write(
            &written.config,
            config.replace(
                "base_url = \"http://127.0.0.1:9999/v1\"",
                "base_url = \"http://127.0.0.1:9999/v1\" # set by codexpc",
            ),
        )
        .expect("annotate");
        let plan = CodexConfigPlan {
            base_url: "http://127.0.0.1:1234/v1".into(),
            env_key: Some("CODEXPC_KEY".into()),
            ..plan
        };
        configure_codex(&plan).expect("again");
        let again = std::fs::read_to_string(&written.config).expect("read");
        assert!(again.starts_with(USER_CONFIG));
        assert!(
            again.contains("base_url = \"http://127.0.0.1:1234/v1\" # set by codexpc"),
            "{again}"
        );
        assert!(again.contains("env_key = \"CODEXPC_KEY\""), "{again}");
        assert_eq!(again.matches("[model_providers.codexpc]").count(), 1);
        let parsed = ConfigFile::parse(&written.config, &again).expect("valid toml");
        assert_eq!(parsed.model(), Some("o3"));
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_codex_home_is_created_private_and_an_existing_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let plan = CodexConfigPlan {
            codex_home: dir.path().join("fresh").join(".codex"),
            base_url: "http://127.0.0.1:1/v1".into(),
            model: DEFAULT_MODEL.into(),
            env_key: None,
        };
        let written = configure_codex(&plan).expect("configure");
        assert_eq!(mode(&plan.codex_home), 0o700);
        assert_eq!(mode(&written.config), 0o600);

        let existing = dir.path().join("existing");
        std::fs::create_dir(&existing).expect("mkdir");
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        configure_codex(&CodexConfigPlan {
            codex_home: existing.clone(),
            ..plan
        })
        .expect("configure existing");
        assert_eq!(mode(&existing), 0o750);
    }

    #[test]
    fn invalid_toml_is_left_untouched() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "model = [unclosed\n").expect("write");
        let plan = CodexConfigPlan {
            codex_home: dir.path().to_owned(),
            base_url: "http://127.0.0.1:1/v1".into(),
            model: DEFAULT_MODEL.into(),
            env_key: None,
        };
        let err = configure_codex(&plan).expect_err("invalid");
        assert!(err.to_string().contains("not valid TOML"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "model = [unclosed\n"
        );
        assert!(!dir.path().join("codexpc.config.toml").exists());
    }
}
