//! `codexpc configure-codex`: point a Codex installation at codexpc, preserving the user's files.
//!
//! Writes (with `toml_edit`, so existing keys, comments and layout survive):
//! - `$CODEX_HOME/config.toml`: a `[model_providers.codexpc]` table (`name`, `base_url`,
//!   `wire_api = "responses"`, optionally `env_key`). Nothing else in the file is touched.
//! - `$CODEX_HOME/codexpc.config.toml`: the `codexpc` profile (`model`, `model_provider`), used as
//!   `codex -p codexpc` (on Codex 0.169 profiles are `<name>.config.toml` files; a legacy
//!   `[profiles.x]` table in config.toml makes `-p` fail, so we never write one).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, value};

use crate::{Error, Result};

/// Provider id and profile name.
pub const PROVIDER_ID: &str = "codexpc";
/// Default model name Codex will send (Codex knows gpt-oss's family by this name).
pub const DEFAULT_MODEL: &str = "gpt-oss-20b";

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
    std::env::var_os("CODEX_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".codex")))
}

fn load(path: &Path) -> Result<DocumentMut> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<DocumentMut>().map_err(|e| Error::Config {
            path: path.to_owned(),
            message: format!("not valid TOML, left untouched: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DocumentMut::new()),
        Err(e) => Err(Error::io("reading the Codex config", path, e)),
    }
}

fn save(path: &Path, doc: &DocumentMut) -> Result<()> {
    let tmp = path.with_extension(format!("toml.{}.tmp", std::process::id()));
    std::fs::write(&tmp, doc.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io("writing the Codex config", path, e)
        })
}

/// Set `key = v` in `table`, keeping the existing key's decoration (comments) if present.
fn set(table: &mut Table, key: &str, v: &str) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(existing) => {
            let decor = existing.decor().clone();
            *existing = v.into();
            *existing.decor_mut() = decor;
        }
        None => {
            table.insert(key, value(v));
        }
    }
}

/// Write the provider entry and the profile. Both files are parsed first; if either is not valid
/// TOML nothing is written.
pub fn configure_codex(plan: &CodexConfigPlan) -> Result<Written> {
    std::fs::create_dir_all(&plan.codex_home)
        .map_err(|e| Error::io("creating CODEX_HOME", &plan.codex_home, e))?;
    let config_path = plan.codex_home.join("config.toml");
    let profile_path = plan.codex_home.join(format!("{PROVIDER_ID}.config.toml"));
    let mut config = load(&config_path)?;
    let mut profile = load(&profile_path)?;

    let providers = config
        .entry("model_providers")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| Error::Config {
            path: config_path.clone(),
            message: "`model_providers` is not a table".into(),
        })?;
    let entry = providers
        .entry(PROVIDER_ID)
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or_else(|| Error::Config {
            path: config_path.clone(),
            message: format!("`model_providers.{PROVIDER_ID}` is not a table"),
        })?;
    set(entry, "name", "codexpc (local gpt-oss)");
    set(entry, "base_url", &plan.base_url);
    set(entry, "wire_api", "responses");
    match &plan.env_key {
        Some(k) => set(entry, "env_key", k),
        None => {
            entry.remove("env_key");
        }
    }

    set(profile.as_table_mut(), "model", &plan.model);
    set(profile.as_table_mut(), "model_provider", PROVIDER_ID);

    save(&config_path, &config)?;
    save(&profile_path, &profile)?;
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
        let parsed: DocumentMut = again.parse().expect("valid toml");
        assert_eq!(parsed["model"].as_str(), Some("o3"));
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
