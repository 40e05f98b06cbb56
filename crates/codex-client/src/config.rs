//! Editing Codex's TOML config (`config.toml` and `<name>.config.toml` profile files) without
//! losing what the user wrote.
//!
//! Codex's config is a user-owned file: comments, key order, formatting and keys this crate does
//! not know must all survive our edits. So edits go through `toml_edit` on the parsed document,
//! touch only the keys they are about, and saving is atomic (temp file + rename) keeping the
//! file's permissions. Typed helpers cover what a hub configures: the model and model providers,
//! the `notify` hook, `[mcp_servers.NAME]` entries (see [`crate::mcp::McpServer`]), `[features]`
//! and the credential store modes.
//!
//! Profiles on 0.169 are separate files (`$CODEX_HOME/<name>.config.toml`, used with `-p name`);
//! a legacy `[profiles.x]` table in config.toml makes `-p` fail, so [`ConfigFile::legacy_profiles`]
//! reports them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, Value};

use crate::home::CodexHome;
use crate::mcp::McpServer;
use crate::{Error, Result};

/// A parsed Codex config file, editable in place.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    doc: DocumentMut,
}

/// `cli_auth_credentials_store` / `mcp_oauth_credentials_store` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialStore {
    /// `auth.json` / `.credentials.json` in `CODEX_HOME` (Codex's default).
    File,
    /// The OS keyring.
    Keyring,
    /// Keyring when available, else file.
    Auto,
}

impl CredentialStore {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialStore::File => "file",
            CredentialStore::Keyring => "keyring",
            CredentialStore::Auto => "auto",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(CredentialStore::File),
            "keyring" => Some(CredentialStore::Keyring),
            "auto" => Some(CredentialStore::Auto),
            _ => None,
        }
    }
}

/// A `[model_providers.ID]` entry. `None` fields are absent from the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelProvider {
    pub name: Option<String>,
    pub base_url: Option<String>,
    /// `responses` (the only wire API on 0.169).
    pub wire_api: Option<String>,
    /// Name of the env var holding the API key.
    pub env_key: Option<String>,
    pub requires_openai_auth: Option<bool>,
    pub request_max_retries: Option<i64>,
    pub stream_max_retries: Option<i64>,
    pub stream_idle_timeout_ms: Option<i64>,
    pub query_params: BTreeMap<String, String>,
    pub http_headers: BTreeMap<String, String>,
    pub env_http_headers: BTreeMap<String, String>,
}

impl ModelProvider {
    /// A Responses-API provider at `base_url` (e.g. `http://127.0.0.1:8080/v1`).
    pub fn responses(name: &str, base_url: &str) -> Self {
        ModelProvider {
            name: Some(name.to_owned()),
            base_url: Some(base_url.to_owned()),
            wire_api: Some("responses".to_owned()),
            ..Default::default()
        }
    }
}

impl ConfigFile {
    /// Loads `path`; a missing file is an empty config (created on [`ConfigFile::save`]).
    pub fn load(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::parse(path, &text)
    }

    /// Parses `text` as the content of `path` (nothing is read).
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> Result<Self> {
        let path = path.into();
        let doc = text.parse::<DocumentMut>().map_err(|e| Error::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(ConfigFile { path, doc })
    }

    /// `$CODEX_HOME/config.toml`.
    pub fn load_home(home: &CodexHome) -> Result<Self> {
        Self::load(home.config_toml())
    }

    /// `$CODEX_HOME/<name>.config.toml`.
    pub fn load_profile(home: &CodexHome, name: &str) -> Result<Self> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::InvalidInvocation(format!(
                "bad profile name {name:?}"
            )));
        }
        Self::load(home.profile_toml(name))
    }

    /// The file this config is saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the document atomically, keeping the file's permissions (0600 if new).
    pub fn save(&self) -> Result<()> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            // A CODEX_HOME that first comes to exist here holds credentials and transcripts
            // later: private like `CodexHome::create` makes it. Existing dirs are left alone.
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| Error::io(dir, e))?;
        }
        crate::home::write_preserving_mode(&self.path, &self.doc.to_string())
    }

    /// The document as TOML text.
    pub fn to_toml(&self) -> String {
        self.doc.to_string()
    }

    /// The underlying document, for edits this API does not cover.
    pub fn document_mut(&mut self) -> &mut DocumentMut {
        &mut self.doc
    }

    // ------------------------------------------------------------------ generic dotted keys

    /// The item at a dotted path (`a.b.c`; segments are bare keys).
    pub fn get(&self, dotted: &str) -> Option<&Item> {
        let mut item = self.doc.as_item();
        for seg in dotted.split('.') {
            item = item.get(seg)?;
        }
        Some(item)
    }

    /// A string at a dotted path.
    pub fn get_str(&self, dotted: &str) -> Option<&str> {
        self.get(dotted).and_then(Item::as_str)
    }

    /// A bool at a dotted path.
    pub fn get_bool(&self, dotted: &str) -> Option<bool> {
        self.get(dotted).and_then(Item::as_bool)
    }

    /// Sets a value at a dotted path, creating tables as needed (existing decor is kept).
    pub fn set(&mut self, dotted: &str, value: impl Into<Value>) -> Result<()> {
        let (parents, last) = split_dotted(dotted)?;
        let table = self.table_mut(&parents)?;
        set_value(table, last, value.into());
        Ok(())
    }

    /// Removes a key at a dotted path; returns whether it existed.
    pub fn remove(&mut self, dotted: &str) -> Result<bool> {
        let (parents, last) = split_dotted(dotted)?;
        let mut table = self.doc.as_table_mut();
        for seg in parents {
            match table.get_mut(seg).and_then(Item::as_table_mut) {
                Some(t) => table = t,
                None => return Ok(false),
            }
        }
        Ok(table.remove(last).is_some())
    }

    /// The table at `path` (segments), created (as a standard `[a.b]` table) if missing.
    fn table_mut(&mut self, path: &[&str]) -> Result<&mut Table> {
        let file = self.path.clone();
        let mut table = self.doc.as_table_mut();
        let mut walked = Vec::new();
        for seg in path {
            walked.push(*seg);
            let entry = table.entry(seg).or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            });
            if let Item::Value(Value::InlineTable(_)) = entry {
                // Promote `x = { ... }` to a `[x]` table so we can edit it uniformly.
                let inline = std::mem::replace(entry, Item::None);
                if let Item::Value(Value::InlineTable(it)) = inline {
                    *entry = Item::Table(it.into_table());
                }
            }
            table = entry.as_table_mut().ok_or_else(|| Error::Config {
                path: file.clone(),
                message: format!("`{}` is not a table", walked.join(".")),
            })?;
        }
        Ok(table)
    }

    // ------------------------------------------------------------------ model + providers

    /// `model`.
    pub fn model(&self) -> Option<&str> {
        self.get_str("model")
    }
    pub fn set_model(&mut self, model: &str) -> Result<()> {
        self.set("model", model)
    }
    /// `model_provider` (the id of a `[model_providers.ID]` entry or a built-in).
    pub fn model_provider(&self) -> Option<&str> {
        self.get_str("model_provider")
    }
    pub fn set_model_provider(&mut self, id: &str) -> Result<()> {
        self.set("model_provider", id)
    }

    /// `[model_providers.ID]`, if present.
    pub fn provider(&self, id: &str) -> Option<ModelProvider> {
        let t = self.doc.get("model_providers")?.get(id)?;
        let s = |k: &str| t.get(k).and_then(Item::as_str).map(str::to_owned);
        let i = |k: &str| t.get(k).and_then(Item::as_integer);
        Some(ModelProvider {
            name: s("name"),
            base_url: s("base_url"),
            wire_api: s("wire_api"),
            env_key: s("env_key"),
            requires_openai_auth: t.get("requires_openai_auth").and_then(Item::as_bool),
            request_max_retries: i("request_max_retries"),
            stream_max_retries: i("stream_max_retries"),
            stream_idle_timeout_ms: i("stream_idle_timeout_ms"),
            query_params: string_map(t.get("query_params")),
            http_headers: string_map(t.get("http_headers")),
            env_http_headers: string_map(t.get("env_http_headers")),
        })
    }

    /// Ids of all `[model_providers.*]` entries.
    pub fn provider_ids(&self) -> Vec<String> {
        table_keys(self.doc.get("model_providers"))
    }

    /// Writes `[model_providers.ID]`: the known fields are set (or removed when `None`/empty);
    /// other keys already in the table, and comments, are kept.
    pub fn set_provider(&mut self, id: &str, p: &ModelProvider) -> Result<()> {
        check_key(id)?;
        let t = self.table_mut(&["model_providers", id])?;
        t.set_implicit(false);
        set_opt(t, "name", p.name.clone().map(Value::from));
        set_opt(t, "base_url", p.base_url.clone().map(Value::from));
        set_opt(t, "wire_api", p.wire_api.clone().map(Value::from));
        set_opt(t, "env_key", p.env_key.clone().map(Value::from));
        set_opt(
            t,
            "requires_openai_auth",
            p.requires_openai_auth.map(Value::from),
        );
        set_opt(
            t,
            "request_max_retries",
            p.request_max_retries.map(Value::from),
        );
        set_opt(
            t,
            "stream_max_retries",
            p.stream_max_retries.map(Value::from),
        );
        set_opt(
            t,
            "stream_idle_timeout_ms",
            p.stream_idle_timeout_ms.map(Value::from),
        );
        set_opt(t, "query_params", inline_map(&p.query_params));
        set_opt(t, "http_headers", inline_map(&p.http_headers));
        set_opt(t, "env_http_headers", inline_map(&p.env_http_headers));
        Ok(())
    }

    /// Removes `[model_providers.ID]`.
    pub fn remove_provider(&mut self, id: &str) -> bool {
        self.doc
            .get_mut("model_providers")
            .and_then(Item::as_table_like_mut)
            .is_some_and(|t| t.remove(id).is_some())
    }

    // ------------------------------------------------------------------ notify

    /// `notify = [program, args...]`: run on turn completion with the JSON payload appended as
    /// the last argument (see [`crate::notify`]).
    pub fn notify(&self) -> Option<Vec<String>> {
        let arr = self.get("notify")?.as_array()?;
        arr.iter().map(|v| v.as_str().map(str::to_owned)).collect()
    }
    pub fn set_notify<S: AsRef<str>>(&mut self, argv: &[S]) -> Result<()> {
        if argv.is_empty() {
            return Err(Error::InvalidInvocation(
                "notify needs at least a program".into(),
            ));
        }
        let arr: Array = argv.iter().map(|s| s.as_ref()).collect();
        self.set("notify", arr)
    }
    pub fn clear_notify(&mut self) -> bool {
        self.doc.remove("notify").is_some()
    }

    // ------------------------------------------------------------------ MCP servers

    /// `[mcp_servers.NAME]`, if present and well-formed.
    pub fn mcp_server(&self, name: &str) -> Option<McpServer> {
        McpServer::from_item(self.doc.get("mcp_servers")?.get(name)?)
    }

    /// All well-formed `[mcp_servers.*]` entries, by name.
    pub fn mcp_servers(&self) -> BTreeMap<String, McpServer> {
        table_keys(self.doc.get("mcp_servers"))
            .into_iter()
            .filter_map(|name| self.mcp_server(&name).map(|s| (name, s)))
            .collect()
    }

    /// Writes `[mcp_servers.NAME]`; switching transport removes the other transport's keys.
    pub fn set_mcp_server(&mut self, name: &str, server: &McpServer) -> Result<()> {
        check_key(name)?;
        let t = self.table_mut(&["mcp_servers", name])?;
        t.set_implicit(false);
        server.write_into(t);
        Ok(())
    }

    pub fn remove_mcp_server(&mut self, name: &str) -> bool {
        self.doc
            .get_mut("mcp_servers")
            .and_then(Item::as_table_like_mut)
            .is_some_and(|t| t.remove(name).is_some())
    }

    // ------------------------------------------------------------------ features

    /// `[features] NAME = bool`.
    pub fn feature(&self, name: &str) -> Option<bool> {
        self.doc.get("features")?.get(name)?.as_bool()
    }
    pub fn set_feature(&mut self, name: &str, enabled: bool) -> Result<()> {
        check_key(name)?;
        let t = self.table_mut(&["features"])?;
        t.set_implicit(false);
        set_value(t, name, Value::from(enabled));
        Ok(())
    }
    /// All `[features]` entries that are booleans.
    pub fn features(&self) -> BTreeMap<String, bool> {
        let Some(t) = self.doc.get("features").and_then(Item::as_table_like) else {
            return BTreeMap::new();
        };
        t.iter()
            .filter_map(|(k, v)| v.as_bool().map(|b| (k.to_owned(), b)))
            .collect()
    }

    // ------------------------------------------------------------------ credential stores

    /// `cli_auth_credentials_store`.
    pub fn credential_store(&self) -> Option<CredentialStore> {
        self.get_str("cli_auth_credentials_store")
            .and_then(CredentialStore::parse)
    }
    pub fn set_credential_store(&mut self, store: CredentialStore) -> Result<()> {
        self.set("cli_auth_credentials_store", store.as_str())
    }
    /// `mcp_oauth_credentials_store`.
    pub fn mcp_oauth_credential_store(&self) -> Option<CredentialStore> {
        self.get_str("mcp_oauth_credentials_store")
            .and_then(CredentialStore::parse)
    }
    pub fn set_mcp_oauth_credential_store(&mut self, store: CredentialStore) -> Result<()> {
        self.set("mcp_oauth_credentials_store", store.as_str())
    }

    // ------------------------------------------------------------------ profiles

    /// Names under a legacy `[profiles]` table. On 0.169 these make `-p` fail; move them to
    /// `<name>.config.toml` files.
    pub fn legacy_profiles(&self) -> Vec<String> {
        table_keys(self.doc.get("profiles"))
    }
}

fn split_dotted(dotted: &str) -> Result<(Vec<&str>, &str)> {
    let segs: Vec<&str> = dotted.split('.').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(Error::InvalidInvocation(format!(
            "bad config key {dotted:?}"
        )));
    }
    let (last, parents) = segs
        .split_last()
        .ok_or_else(|| Error::InvalidInvocation("empty config key".into()))?;
    Ok((parents.to_vec(), last))
}

fn check_key(k: &str) -> Result<()> {
    if k.is_empty() || k.contains('.') {
        return Err(Error::InvalidInvocation(format!("bad table name {k:?}")));
    }
    Ok(())
}

/// Sets `key = value`, keeping the existing value's decor (inline comments) if any.
pub(crate) fn set_value(table: &mut Table, key: &str, mut value: Value) {
    match table.get_mut(key) {
        // Replacing the item in place keeps the key, hence the comments written above it.
        Some(item) => {
            if let Item::Value(old) = item {
                *value.decor_mut() = old.decor().clone();
            }
            *item = Item::Value(value);
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

pub(crate) fn set_opt(table: &mut Table, key: &str, value: Option<Value>) {
    match value {
        Some(v) => set_value(table, key, v),
        None => {
            table.remove(key);
        }
    }
}

pub(crate) fn inline_map(map: &BTreeMap<String, String>) -> Option<Value> {
    if map.is_empty() {
        return None;
    }
    let mut t = toml_edit::InlineTable::new();
    for (k, v) in map {
        t.insert(k, Value::from(v.as_str()));
    }
    Some(Value::InlineTable(t))
}

pub(crate) fn string_map(item: Option<&Item>) -> BTreeMap<String, String> {
    let Some(t) = item.and_then(Item::as_table_like) else {
        return BTreeMap::new();
    };
    t.iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.to_owned(), s.to_owned())))
        .collect()
}

pub(crate) fn table_keys(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_table_like)
        .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"# my codex config — keep this comment
model = "o3" # inline comment stays
approval_policy = "on-request"

[model_providers.local]
# provider comment
name = "local"
base_url = "http://127.0.0.1:1/v1"
custom_key = "kept"

[projects."/home/me/x"]
trust_level = "trusted"
"#;

    fn cfg(text: &str) -> ConfigFile {
        ConfigFile::parse("/tmp/config.toml", text).expect("parse")
    }

    #[test]
    fn edits_keep_comments_unknown_keys_and_order() {
        let mut c = cfg(USER);
        c.set_model("gpt-oss-20b").expect("set");
        c.set_model_provider("local").expect("set");
        let mut p = c.provider("local").expect("provider");
        assert_eq!(p.base_url.as_deref(), Some("http://127.0.0.1:1/v1"));
        p.base_url = Some("http://127.0.0.1:9999/v1".into());
        p.wire_api = Some("responses".into());
        p.http_headers.insert("X-Test".into(), "1".into());
        c.set_provider("local", &p).expect("set provider");
        let text = c.to_toml();
        assert!(text.starts_with("# my codex config — keep this comment\nmodel = \"gpt-oss-20b\" # inline comment stays\n"), "{text}");
        assert!(text.contains("# provider comment"));
        assert!(text.contains("custom_key = \"kept\""));
        assert!(text.contains("[projects.\"/home/me/x\"]\ntrust_level = \"trusted\""));
        let c2 = cfg(&text);
        assert_eq!(c2.model(), Some("gpt-oss-20b"));
        assert_eq!(c2.model_provider(), Some("local"));
        assert_eq!(c2.provider("local"), Some(p));
        assert_eq!(c2.get_str("approval_policy"), Some("on-request"));
    }

    #[test]
    fn new_provider_notify_features_and_stores_round_trip() {
        let mut c = cfg("");
        let mut p = ModelProvider::responses("codexpc", "http://127.0.0.1:4000/v1");
        p.stream_max_retries = Some(0);
        c.set_provider("codexpc", &p).expect("provider");
        c.set_notify(&["/usr/bin/orbitdock", "hook", "notify"])
            .expect("notify");
        c.set_feature("unified_exec", true).expect("feature");
        c.set_feature("web_search", false).expect("feature");
        c.set_credential_store(CredentialStore::File)
            .expect("store");
        c.set_mcp_oauth_credential_store(CredentialStore::Keyring)
            .expect("store");
        c.set("shell_environment_policy.inherit", "core")
            .expect("dotted");
        let c = cfg(&c.to_toml());
        assert_eq!(c.provider("codexpc"), Some(p));
        assert_eq!(c.provider_ids(), vec!["codexpc".to_owned()]);
        assert_eq!(
            c.notify(),
            Some(vec![
                "/usr/bin/orbitdock".into(),
                "hook".into(),
                "notify".into()
            ])
        );
        assert_eq!(c.feature("unified_exec"), Some(true));
        assert_eq!(c.feature("web_search"), Some(false));
        assert_eq!(c.features().len(), 2);
        assert_eq!(c.credential_store(), Some(CredentialStore::File));
        assert_eq!(
            c.mcp_oauth_credential_store(),
            Some(CredentialStore::Keyring)
        );
        assert_eq!(c.get_str("shell_environment_policy.inherit"), Some("core"));
        // The written TOML is what Codex expects.
        let text = c.to_toml();
        assert!(text.contains("[model_providers.codexpc]"), "{text}");
        assert!(
            text.contains("notify = [\"/usr/bin/orbitdock\", \"hook\", \"notify\"]"),
            "{text}"
        );
        assert!(
            text.contains("[features]\nunified_exec = true\nweb_search = false"),
            "{text}"
        );
    }

    #[test]
    fn removals_and_bad_input() {
        let mut c = cfg(USER);
        assert!(c.remove_provider("local"));
        assert!(!c.remove_provider("local"));
        assert!(c.remove("approval_policy").expect("remove"));
        assert!(!c.remove("nope.deeper").expect("remove"));
        assert!(!c.clear_notify());
        assert!(
            c.set("model.sub", 1).is_err(),
            "`model` is a string, not a table"
        );
        assert!(c.set("a..b", 1).is_err());
        assert!(c.set_notify::<&str>(&[]).is_err());
        assert!(c.set_feature("a.b", true).is_err());
        match ConfigFile::parse("/x/config.toml", "model = ") {
            Err(Error::Config { path, message }) => {
                assert_eq!(path, Path::new("/x/config.toml"));
                assert!(!message.is_empty());
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn inline_tables_are_promoted_for_editing() {
        let mut c = cfg("features = { a = true }\n");
        c.set_feature("b", false).expect("set");
        let c = cfg(&c.to_toml());
        assert_eq!(c.feature("a"), Some(true));
        assert_eq!(c.feature("b"), Some(false));
    }

    #[test]
    fn legacy_profiles_are_reported() {
        assert_eq!(
            cfg("[profiles.fast]\nmodel = \"x\"\n").legacy_profiles(),
            vec!["fast".to_owned()]
        );
        assert!(cfg(USER).legacy_profiles().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn save_is_atomic_creates_0600_and_keeps_existing_mode() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = CodexHome::new(tmp.path().join("home"));
        let mut c = ConfigFile::load_home(&home).expect("missing is empty");
        assert_eq!(c.to_toml(), "");
        c.set_model("m").expect("set");
        c.save().expect("save");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&home.config_toml()), 0o600);
        std::fs::set_permissions(home.config_toml(), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        let mut c = ConfigFile::load_home(&home).expect("load");
        c.set_model("m2").expect("set");
        c.save().expect("save");
        assert_eq!(mode(&home.config_toml()), 0o640);
        assert_eq!(
            ConfigFile::load_home(&home).expect("load").model(),
            Some("m2")
        );
        let p = ConfigFile::load_profile(&home, "fast").expect("profile");
        assert_eq!(p.path(), home.profile_toml("fast"));
        assert!(ConfigFile::load_profile(&home, "../x").is_err());
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(home.root())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("config.toml")]);
    }
}
