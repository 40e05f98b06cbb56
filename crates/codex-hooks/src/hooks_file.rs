//! Installing our command hooks into a `CODEX_HOME`, removing them, and reporting them.
//!
//! Codex 0.169 reads user hooks from BOTH `CODEX_HOME/hooks.json` and `[hooks]` in
//! `CODEX_HOME/config.toml` (when both hold hooks it loads both and warns "prefer a single
//! representation for this layer"). Shape in either: `<Event> = [ {matcher?, hooks = [ {type =
//! "command", command, timeout} ]} ]`; `timeout` is in seconds (default 600, 0 means 1;
//! SessionEnd and Interrupt are clamped to 3).
//!
//! **Which file.** We write where the user's hooks already are: `config.toml` when it holds
//! hooks and `hooks.json` holds none (so we never cause the two-files warning), else
//! `hooks.json`. Uninstall and status look at both.
//!
//! **Trust keys.** Codex records trust per hook in `config.toml` as
//! `[hooks.state."<file>:<event_snake>:<group>:<handler>"] trusted_hash = "sha256:..."`: the key
//! is the hook's POSITION. So we only ever append our groups after the user's (their keys do
//! not move), and when removing ours shifts a foreign hook that came after ours, its trust entry
//! is moved to its new key — the user never has to re-trust their own hooks because of us.
//! Trust entries of ours that no longer match a hook of ours are dropped.
//!
//! **Safety.** A file we cannot parse is an error and stays untouched; every write is atomic
//! (temp file + fsync + rename, permissions kept); TOML edits go through `toml_edit`, so the
//! user's comments and layout survive; JSON keeps key order (it is re-indented).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use claude_hooks::settings_file::{atomic_write, indent_json};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::error::{Error, Result};
use crate::hook_payload::HookEvent;

/// `CODEX_HOME/hooks.json`.
pub const HOOKS_JSON: &str = "hooks.json";
/// `CODEX_HOME/config.toml`.
pub const CONFIG_TOML: &str = "config.toml";

/// Timeout (s) of our non-blocking events: the runner is done in well under a second (50 ms
/// POST budget, else an fsync'd spool append); this only bounds a wedged process.
pub const EVENT_TIMEOUT_SECS: u64 = 10;
/// Timeout (s) of our PermissionRequest hook. The runner gives up well before it
/// ([`crate::runner::DEFAULT_PERMISSION_WAIT`]), so Codex never shows "hook timed out".
pub const PERMISSION_TIMEOUT_SECS: u64 = 300;

/// The timeout we install for `event`.
pub fn timeout_for(event: &HookEvent) -> u64 {
    match event {
        HookEvent::PermissionRequest => PERMISSION_TIMEOUT_SECS,
        e => e
            .codex_timeout_cap_secs()
            .map_or(EVENT_TIMEOUT_SECS, |cap| cap.min(EVENT_TIMEOUT_SECS)),
    }
}

/// Where hooks are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HooksFormat {
    /// `CODEX_HOME/hooks.json`.
    Json,
    /// `[hooks]` in `CODEX_HOME/config.toml`.
    Toml,
}

impl HooksFormat {
    /// The file in `codex_home`.
    pub fn path(self, codex_home: &Path) -> PathBuf {
        codex_home.join(match self {
            Self::Json => HOOKS_JSON,
            Self::Toml => CONFIG_TOML,
        })
    }
}

/// The hook command: `<binary> hook codex [--data-dir <dir>]`, shell-quoted (Codex runs it
/// through the shell).
pub fn hook_command(binary: &Path, data_dir: Option<&Path>) -> String {
    let mut cmd = format!("{} hook codex", shell_quote(&binary.to_string_lossy()));
    if let Some(d) = data_dir {
        cmd.push_str(" --data-dir ");
        cmd.push_str(&shell_quote(&d.to_string_lossy()));
    }
    cmd
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether a hook command is one of ours (any install location, any data dir): the program's
/// file name starts with `orbitdock` and the arguments start with `hook codex`.
pub fn is_our_command(cmd: &str) -> bool {
    let cmd = cmd.trim_start();
    let (prog, rest) = match cmd.strip_prefix('\'') {
        Some(quoted) => match quoted.find('\'') {
            Some(end) => (&quoted[..end], &quoted[end + 1..]),
            None => return false,
        },
        None => match cmd.split_once(char::is_whitespace) {
            Some((p, r)) => (p, r),
            None => (cmd, ""),
        },
    };
    let name = Path::new(prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut args = rest.split_whitespace();
    name.starts_with("orbitdock") && args.next() == Some("hook") && args.next() == Some("codex")
}

/// One command hook found in a hooks file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundHook {
    /// Which file.
    pub format: HooksFormat,
    /// The file's path (as built from the `codex_home` given).
    pub file: PathBuf,
    /// The event (PascalCase as in the file).
    pub event: String,
    /// Index of the matcher group in the event's list.
    pub group: usize,
    /// Index of the handler in the group's `hooks`.
    pub handler: usize,
    /// The command, if the handler has one.
    pub command: Option<String>,
    /// The configured timeout, if any.
    pub timeout: Option<u64>,
    /// Whether the command is ours ([`is_our_command`]).
    pub ours: bool,
}

impl FoundHook {
    /// The key Codex uses for this hook in `hooks/list` and `[hooks.state]`.
    pub fn key(&self) -> String {
        trust_key(&self.file, &self.event, self.group, self.handler)
    }
}

/// `<file>:<event_snake>:<group>:<handler>`.
pub fn trust_key(file: &Path, event: &str, group: usize, handler: usize) -> String {
    format!(
        "{}:{}:{group}:{handler}",
        file.display(),
        HookEvent::parse(event).snake_name()
    )
}

/// What an install or uninstall changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// Where our hooks are now (install), `None` after uninstall.
    pub format: Option<HooksFormat>,
    /// Hooks of ours removed (from either file).
    pub removed: usize,
    /// Hooks of ours added.
    pub added: usize,
    /// Foreign hooks whose trust entry moved with them to a new position.
    pub trust_moved: usize,
    /// Stale trust entries of ours dropped.
    pub trust_dropped: usize,
    /// Files rewritten (or removed: a hooks.json left empty).
    pub written: Vec<PathBuf>,
}

/// Adds our hook (running `command`) for every event in [`HookEvent::INSTALLED`], replacing any
/// previous hook of ours in either file. Idempotent: a second call with the same command
/// rewrites nothing.
pub fn install(codex_home: &Path, command: &str) -> Result<Change> {
    let mut home = Home::load(codex_home)?;
    let before = home.scan();
    let format = choose_format(&before);
    let removed = home.remove_ours();
    let target = home.doc_for(format)?;
    for ev in HookEvent::INSTALLED {
        target.append_group(ev.as_str(), command, timeout_for(&ev));
    }
    let after = home.scan();
    let (moved, dropped) = home.rekey_trust(&before, &after)?;
    let written = home.save()?;
    Ok(Change {
        format: Some(format),
        removed,
        added: HookEvent::INSTALLED.len(),
        trust_moved: moved,
        trust_dropped: dropped,
        written,
    })
}

/// Removes every hook of ours from both files (groups and events left empty by that go too;
/// a hooks.json left with nothing in it is deleted) and their trust entries.
pub fn uninstall(codex_home: &Path) -> Result<Change> {
    let mut home = Home::load(codex_home)?;
    let before = home.scan();
    let removed = home.remove_ours();
    let after = home.scan();
    let (moved, dropped) = home.rekey_trust(&before, &after)?;
    let written = home.save()?;
    Ok(Change {
        format: None,
        removed,
        added: 0,
        trust_moved: moved,
        trust_dropped: dropped,
        written,
    })
}

/// Every command hook in both files, ours and foreign, in file order.
pub fn scan(codex_home: &Path) -> Result<Vec<FoundHook>> {
    Ok(Home::load(codex_home)?.scan())
}

/// What `orbitdock hooks status codex` reports without asking Codex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// Our hooks, in file order.
    pub ours: Vec<FoundHook>,
    /// Installed events lacking a hook of ours.
    pub missing: Vec<HookEvent>,
    /// Events of ours with more than one hook of ours (a second install location).
    pub duplicated: Vec<String>,
    /// Keys of our hooks that have a trust entry in config.toml (whether its hash still
    /// matches only Codex can say: see [`crate::trust::trust_status`]).
    pub trust_recorded: Vec<String>,
    /// Both hooks.json and config.toml hold hooks: Codex loads both and warns.
    pub both_files_have_hooks: bool,
}

/// Reads both files and reports our hooks.
pub fn file_status(codex_home: &Path) -> Result<FileStatus> {
    let home = Home::load(codex_home)?;
    let found = home.scan();
    let ours: Vec<FoundHook> = found.iter().filter(|h| h.ours).cloned().collect();
    let mut per_event: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &ours {
        *per_event.entry(h.event.as_str()).or_default() += 1;
    }
    let missing = HookEvent::INSTALLED
        .iter()
        .filter(|e| !per_event.contains_key(e.as_str()))
        .cloned()
        .collect();
    let duplicated = per_event
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(e, _)| (*e).to_owned())
        .collect();
    let state_keys = home.state_keys();
    let trust_recorded = ours
        .iter()
        .filter(|h| state_keys.contains_key(&home.position_id(h)))
        .map(FoundHook::key)
        .collect();
    let both = found.iter().any(|h| h.format == HooksFormat::Json)
        && found.iter().any(|h| h.format == HooksFormat::Toml);
    Ok(FileStatus {
        ours,
        missing,
        duplicated,
        trust_recorded,
        both_files_have_hooks: both,
    })
}

/// config.toml when it holds foreign hooks and hooks.json holds none (or when ours already live
/// there and nobody else's anywhere); hooks.json otherwise.
fn choose_format(found: &[FoundHook]) -> HooksFormat {
    let foreign = |f| found.iter().any(|h| h.format == f && !h.ours);
    let ours = |f| found.iter().any(|h| h.format == f && h.ours);
    let (json_foreign, toml_foreign) = (foreign(HooksFormat::Json), foreign(HooksFormat::Toml));
    let only_ours_in_toml =
        !json_foreign && !toml_foreign && ours(HooksFormat::Toml) && !ours(HooksFormat::Json);
    if (toml_foreign && !json_foreign) || only_ours_in_toml {
        HooksFormat::Toml
    } else {
        HooksFormat::Json
    }
}

// ---------------------------------------------------------------------------------------------
// the two files of a home

/// A hook's position, with the file identified independently of how its path is spelled.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PositionId {
    format: HooksFormat,
    event_snake: String,
    group: usize,
    handler: usize,
}

struct Home {
    json_path: PathBuf,
    toml_path: PathBuf,
    json: Option<JsonHooks>,
    json_original: Option<String>,
    toml: Option<TomlHooks>,
    toml_original: Option<String>,
}

impl Home {
    fn load(codex_home: &Path) -> Result<Self> {
        let json_path = HooksFormat::Json.path(codex_home);
        let toml_path = HooksFormat::Toml.path(codex_home);
        let json_original = read_optional(&json_path)?;
        let toml_original = read_optional(&toml_path)?;
        let json = json_original
            .as_deref()
            .map(|t| JsonHooks::parse(t, &json_path))
            .transpose()?;
        let toml = toml_original
            .as_deref()
            .map(|t| TomlHooks::parse(t, &toml_path))
            .transpose()?;
        Ok(Self {
            json_path,
            toml_path,
            json,
            json_original,
            toml,
            toml_original,
        })
    }

    fn scan(&self) -> Vec<FoundHook> {
        let mut out = Vec::new();
        if let Some(j) = &self.json {
            j.scan(&self.json_path, &mut out);
        }
        if let Some(t) = &self.toml {
            t.scan(&self.toml_path, &mut out);
        }
        out
    }

    fn remove_ours(&mut self) -> usize {
        self.json.as_mut().map_or(0, JsonHooks::remove_ours)
            + self.toml.as_mut().map_or(0, TomlHooks::remove_ours)
    }

    fn doc_for(&mut self, format: HooksFormat) -> Result<&mut dyn HooksDoc> {
        Ok(match format {
            HooksFormat::Json => self.json.get_or_insert_with(JsonHooks::empty),
            HooksFormat::Toml => self.toml.get_or_insert_with(TomlHooks::empty),
        })
    }

    fn position_id(&self, h: &FoundHook) -> PositionId {
        PositionId {
            format: h.format,
            event_snake: HookEvent::parse(&h.event).snake_name(),
            group: h.group,
            handler: h.handler,
        }
    }

    /// Trust entries in config.toml that point at one of this home's hooks files, by position.
    fn state_keys(&self) -> HashMap<PositionId, String> {
        let Some(t) = &self.toml else {
            return HashMap::new();
        };
        let files = [
            (HooksFormat::Json, same_file_matcher(&self.json_path)),
            (HooksFormat::Toml, same_file_matcher(&self.toml_path)),
        ];
        let mut out = HashMap::new();
        for key in t.state_keys() {
            let mut parts = key.rsplitn(4, ':');
            let (Some(h), Some(g), Some(ev), Some(path)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(handler), Ok(group)) = (h.parse(), g.parse()) else {
                continue;
            };
            for (format, matches) in &files {
                if matches(path) {
                    out.insert(
                        PositionId {
                            format: *format,
                            event_snake: ev.to_owned(),
                            group,
                            handler,
                        },
                        key.clone(),
                    );
                }
            }
        }
        out
    }

    /// Moves the trust entries of foreign hooks whose position changed between `before` and
    /// `after`, and drops entries of ours whose position no hook of ours holds any more.
    fn rekey_trust(&mut self, before: &[FoundHook], after: &[FoundHook]) -> Result<(usize, usize)> {
        let keys = self.state_keys();
        if keys.is_empty() {
            return Ok((0, 0));
        }
        // Foreign hooks keep their relative order (we only remove and append ours), so the n-th
        // foreign hook of an event in a file before is the n-th after.
        type Slot = (HooksFormat, String);
        let foreign = |list: &[FoundHook]| {
            let mut m: BTreeMap<Slot, Vec<PositionId>> = BTreeMap::new();
            for h in list.iter().filter(|h| !h.ours) {
                let id = self.position_id(h);
                m.entry((h.format, id.event_snake.clone()))
                    .or_default()
                    .push(id);
            }
            m
        };
        let (fb, fa) = (foreign(before), foreign(after));
        let mut moves: Vec<(String, String)> = Vec::new(); // (old key, new key)
        for (slot, olds) in &fb {
            let news = fa.get(slot).map(Vec::as_slice).unwrap_or_default();
            for (old, new) in olds.iter().zip(news) {
                if old == new {
                    continue;
                }
                if let Some(old_key) = keys.get(old) {
                    moves.push((old_key.clone(), rekey(old_key, new)));
                }
            }
        }
        let ours_after: Vec<PositionId> = after
            .iter()
            .filter(|h| h.ours)
            .map(|h| self.position_id(h))
            .collect();
        let foreign_after: Vec<&PositionId> = fa.values().flatten().collect();
        let mut drops: Vec<String> = Vec::new();
        for h in before.iter().filter(|h| h.ours) {
            let id = self.position_id(h);
            if let Some(k) = keys.get(&id)
                && !ours_after.contains(&id)
                && !foreign_after.contains(&&id)
            {
                drops.push(k.clone());
            }
        }
        if moves.is_empty() && drops.is_empty() {
            return Ok((0, 0));
        }
        let Some(t) = self.toml.as_mut() else {
            return Ok((0, 0));
        };
        let moved = t.move_state(&moves, &drops);
        Ok((moved, drops.len()))
    }

    /// Writes what changed; returns the files written or removed.
    fn save(&self) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        if let Some(j) = &self.json {
            if j.is_empty() {
                if self.json_original.is_some() {
                    std::fs::remove_file(&self.json_path)
                        .map_err(|e| Error::io(&self.json_path, "remove", e))?;
                    written.push(self.json_path.clone());
                }
            } else {
                let text = j.render(&self.json_path)?;
                if self.json_original.as_deref() != Some(text.as_str()) {
                    atomic_write(&self.json_path, text.as_bytes(), 0o600)?;
                    written.push(self.json_path.clone());
                }
            }
        }
        if let Some(t) = &self.toml {
            let text = t.doc.to_string();
            let unchanged = match &self.toml_original {
                Some(orig) => *orig == text,
                None => t.doc.is_empty(),
            };
            if !unchanged {
                atomic_write(&self.toml_path, text.as_bytes(), 0o600)?;
                written.push(self.toml_path.clone());
            }
        }
        Ok(written)
    }
}

/// `old_key` with its position suffix replaced by `new`'s (the path is kept as Codex spelled it).
fn rekey(old_key: &str, new: &PositionId) -> String {
    let path = old_key.rsplitn(4, ':').nth(3).unwrap_or_default();
    format!("{path}:{}:{}:{}", new.event_snake, new.group, new.handler)
}

fn same_file_matcher(ours: &Path) -> impl Fn(&str) -> bool + use<> {
    let plain = ours.to_string_lossy().into_owned();
    let canonical = canonical_file(ours);
    move |other: &str| {
        other == plain || (canonical.is_some() && canonical_file(Path::new(other)) == canonical)
    }
}

/// The canonical path of a file that may not exist (its directory canonicalised).
fn canonical_file(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let dir = p.parent()?.canonicalize().ok()?;
    Some(dir.join(p.file_name()?))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, "read", e)),
    }
}

/// The edits both formats support.
trait HooksDoc {
    fn append_group(&mut self, event: &str, command: &str, timeout: u64);
}

// ---------------------------------------------------------------------------------------------
// hooks.json

type RawObject = IndexMap<String, Box<RawValue>>;

#[derive(Deserialize)]
struct HandlerProbe {
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    timeout: Option<u64>,
}

/// hooks.json: the root object (key order kept) with `hooks` split into events and groups.
struct JsonHooks {
    root: RawObject,
    events: IndexMap<String, Vec<Box<RawValue>>>,
}

impl JsonHooks {
    fn empty() -> Self {
        Self {
            root: RawObject::new(),
            events: IndexMap::new(),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::empty());
        }
        let root: RawObject = serde_json::from_str(text)
            .map_err(|e| Error::file(path, format!("not a JSON object, left unchanged: {e}")))?;
        let events = match root.get("hooks") {
            None => IndexMap::new(),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|e| {
                Error::file(
                    path,
                    format!("`hooks` is not an object of arrays, left unchanged: {e}"),
                )
            })?,
        };
        Ok(Self { root, events })
    }

    fn handlers(group: &RawValue) -> Option<(RawObject, Vec<Box<RawValue>>)> {
        let obj: RawObject = serde_json::from_str(group.get()).ok()?;
        let list = serde_json::from_str(obj.get("hooks")?.get()).ok()?;
        Some((obj, list))
    }

    fn scan(&self, path: &Path, out: &mut Vec<FoundHook>) {
        for (event, groups) in &self.events {
            for (gi, g) in groups.iter().enumerate() {
                let Some((_, handlers)) = Self::handlers(g) else {
                    continue;
                };
                for (hi, h) in handlers.iter().enumerate() {
                    let probe = serde_json::from_str::<HandlerProbe>(h.get()).ok();
                    let command = probe.as_ref().and_then(|p| p.command.clone());
                    out.push(FoundHook {
                        format: HooksFormat::Json,
                        file: path.to_path_buf(),
                        event: event.clone(),
                        group: gi,
                        handler: hi,
                        ours: command.as_deref().is_some_and(is_our_command),
                        timeout: probe.and_then(|p| p.timeout),
                        command,
                    });
                }
            }
        }
    }

    fn remove_ours(&mut self) -> usize {
        let mut removed = 0;
        for groups in self.events.values_mut() {
            let mut kept = Vec::with_capacity(groups.len());
            for g in groups.drain(..) {
                let Some((mut obj, list)) = Self::handlers(&g) else {
                    kept.push(g);
                    continue;
                };
                let before = list.len();
                let rest: Vec<Box<RawValue>> = list
                    .into_iter()
                    .filter(|h| {
                        !serde_json::from_str::<HandlerProbe>(h.get())
                            .ok()
                            .and_then(|p| p.command)
                            .is_some_and(|c| is_our_command(&c))
                    })
                    .collect();
                let n = before - rest.len();
                if n == 0 {
                    kept.push(g);
                    continue;
                }
                removed += n;
                if rest.is_empty() {
                    continue;
                }
                let Ok(raw) = to_raw(&rest) else {
                    kept.push(g);
                    continue;
                };
                obj.insert("hooks".to_owned(), raw);
                match to_raw(&obj) {
                    Ok(raw) => kept.push(raw),
                    Err(_) => kept.push(g),
                }
            }
            *groups = kept;
        }
        if removed > 0 {
            self.events.retain(|_, groups| !groups.is_empty());
        }
        removed
    }

    /// Nothing but (possibly empty) `hooks` left: the file can go.
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.root.keys().all(|k| k == "hooks")
    }

    fn render(&self, path: &Path) -> Result<String> {
        let mut root = self.root.clone();
        let hooks = to_raw(&self.events).map_err(|e| Error::file(path, e))?;
        match root.get_mut("hooks") {
            Some(slot) => *slot = hooks,
            None => {
                root.insert("hooks".to_owned(), hooks);
            }
        }
        let compact = serde_json::to_string(&root).map_err(|e| Error::file(path, e.to_string()))?;
        let mut text = indent_json(&compact);
        text.push('\n');
        Ok(text)
    }
}

impl HooksDoc for JsonHooks {
    fn append_group(&mut self, event: &str, command: &str, timeout: u64) {
        let group = serde_json::json!({
            "hooks": [{"type": "command", "command": command, "timeout": timeout}]
        });
        if let Ok(raw) = to_raw(&group) {
            self.events.entry(event.to_owned()).or_default().push(raw);
        }
    }
}

fn to_raw<T: serde::Serialize + ?Sized>(v: &T) -> std::result::Result<Box<RawValue>, String> {
    let s = serde_json::to_string(v).map_err(|e| e.to_string())?;
    RawValue::from_string(s).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// config.toml

/// config.toml as a `toml_edit` document (comments and layout kept).
struct TomlHooks {
    doc: DocumentMut,
}

/// A group in either TOML spelling: `[[hooks.E]]` tables or inline `{ hooks = [...] }`.
enum GroupRef<'a> {
    Table(&'a Table),
    Inline(&'a InlineTable),
}

impl TomlHooks {
    fn empty() -> Self {
        Self {
            doc: DocumentMut::new(),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<Self> {
        let doc: DocumentMut = text
            .parse()
            .map_err(|e| Error::file(path, format!("not valid TOML, left unchanged: {e}")))?;
        if let Some(h) = doc.get("hooks")
            && !h.is_table_like()
        {
            return Err(Error::file(path, "`hooks` is not a table, left unchanged"));
        }
        Ok(Self { doc })
    }

    fn hooks(&self) -> Option<&dyn toml_edit::TableLike> {
        self.doc.get("hooks")?.as_table_like()
    }

    /// Event names: keys of `[hooks]` holding arrays (`state` and other settings are tables).
    fn event_keys(&self) -> Vec<String> {
        let Some(h) = self.hooks() else {
            return Vec::new();
        };
        h.iter()
            .filter(|(_, item)| item.is_array_of_tables() || item.is_array())
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    fn groups<'a>(item: &'a Item) -> Vec<GroupRef<'a>> {
        match item {
            Item::ArrayOfTables(aot) => aot.iter().map(GroupRef::Table).collect(),
            Item::Value(Value::Array(arr)) => arr
                .iter()
                .filter_map(|v| v.as_inline_table().map(GroupRef::Inline))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `(command, timeout)` of every handler of a group.
    fn handlers(group: &GroupRef<'_>) -> Vec<(Option<String>, Option<u64>)> {
        fn of_table_like(t: &dyn toml_edit::TableLike) -> (Option<String>, Option<u64>) {
            (
                t.get("command").and_then(|c| c.as_str()).map(str::to_owned),
                t.get("timeout")
                    .and_then(|c| c.as_integer())
                    .and_then(|n| u64::try_from(n).ok()),
            )
        }
        let inline_list = |arr: &toml_edit::Array| -> Vec<(Option<String>, Option<u64>)> {
            arr.iter()
                .filter_map(|v| v.as_inline_table().map(|t| of_table_like(t)))
                .collect()
        };
        match group {
            GroupRef::Table(t) => match t.get("hooks") {
                Some(Item::ArrayOfTables(aot)) => aot.iter().map(|t| of_table_like(t)).collect(),
                Some(Item::Value(Value::Array(arr))) => inline_list(arr),
                _ => Vec::new(),
            },
            GroupRef::Inline(t) => t
                .get("hooks")
                .and_then(Value::as_array)
                .map(inline_list)
                .unwrap_or_default(),
        }
    }

    fn scan(&self, path: &Path, out: &mut Vec<FoundHook>) {
        let Some(h) = self.hooks() else {
            return;
        };
        for event in self.event_keys() {
            let Some(item) = h.get(&event) else {
                continue;
            };
            for (gi, g) in Self::groups(item).iter().enumerate() {
                for (hi, (command, timeout)) in Self::handlers(g).into_iter().enumerate() {
                    out.push(FoundHook {
                        format: HooksFormat::Toml,
                        file: path.to_path_buf(),
                        event: event.clone(),
                        group: gi,
                        handler: hi,
                        ours: command.as_deref().is_some_and(is_our_command),
                        command,
                        timeout,
                    });
                }
            }
        }
    }

    fn remove_ours(&mut self) -> usize {
        let events = self.event_keys();
        let Some(h) = self.doc.get_mut("hooks").and_then(Item::as_table_like_mut) else {
            return 0;
        };
        let mut removed = 0;
        for event in events {
            let Some(item) = h.get_mut(&event) else {
                continue;
            };
            let n = remove_ours_from_event(item);
            removed += n;
            let now_empty = match &*item {
                Item::ArrayOfTables(aot) => aot.is_empty(),
                Item::Value(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if n > 0 && now_empty {
                h.remove(&event);
            }
        }
        removed
    }

    fn state_keys(&self) -> Vec<String> {
        self.hooks()
            .and_then(|h| h.get("state"))
            .and_then(Item::as_table_like)
            .map(|s| s.iter().map(|(k, _)| k.to_owned()).collect())
            .unwrap_or_default()
    }

    /// Applies trust-entry moves (old key -> new key) and drops; returns how many moved.
    fn move_state(&mut self, moves: &[(String, String)], drops: &[String]) -> usize {
        let Some(state) = self
            .doc
            .get_mut("hooks")
            .and_then(Item::as_table_like_mut)
            .and_then(|h| h.get_mut("state"))
            .and_then(Item::as_table_like_mut)
        else {
            return 0;
        };
        let mut taken = Vec::new();
        for (old, new) in moves {
            if let Some(item) = state.remove(old) {
                taken.push((new.clone(), item));
            }
        }
        for k in drops {
            state.remove(k);
        }
        let moved = taken.len();
        for (new, mut item) in taken {
            // Taking over an entry's key also takes over its place and the comments above it:
            // they belong to the document layout, not to the hook that used to be there.
            if let (Some(Item::Table(old)), Item::Table(t)) = (state.get(&new), &mut item) {
                let (decor, position) = (old.decor().clone(), old.position());
                *t.decor_mut() = decor;
                if let Some(p) = position {
                    t.set_position(p);
                }
            }
            state.insert(&new, item);
        }
        moved
    }
}

fn is_ours_table_like(t: &dyn toml_edit::TableLike) -> bool {
    t.get("command")
        .and_then(|c| c.as_str())
        .is_some_and(is_our_command)
}

/// Removes our handlers (and groups left empty) from one event's item; returns how many.
fn remove_ours_from_event(item: &mut Item) -> usize {
    let mut removed = 0;
    match item {
        Item::ArrayOfTables(aot) => {
            let mut keep = ArrayOfTables::new();
            for mut t in std::mem::take(aot).into_iter() {
                let n = remove_ours_from_group_table(&mut t);
                removed += n;
                if n > 0 && group_table_is_empty(&t) {
                    continue;
                }
                keep.push(t);
            }
            *aot = keep;
        }
        Item::Value(Value::Array(arr)) => {
            let mut i = 0;
            while i < arr.len() {
                let (n, empty) = match arr.get_mut(i).and_then(Value::as_inline_table_mut) {
                    Some(g) => {
                        let n = remove_ours_from_inline_group(g);
                        (
                            n,
                            g.get("hooks")
                                .and_then(Value::as_array)
                                .is_some_and(|a| a.is_empty()),
                        )
                    }
                    None => (0, false),
                };
                removed += n;
                if n > 0 && empty {
                    arr.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        _ => {}
    }
    removed
}

fn remove_ours_from_group_table(t: &mut Table) -> usize {
    match t.get_mut("hooks") {
        Some(Item::ArrayOfTables(aot)) => {
            let before = aot.len();
            aot.retain(|h| !is_ours_table_like(h));
            before - aot.len()
        }
        Some(Item::Value(Value::Array(arr))) => {
            let before = arr.len();
            arr.retain(|v| !v.as_inline_table().is_some_and(|h| is_ours_table_like(h)));
            before - arr.len()
        }
        _ => 0,
    }
}

fn group_table_is_empty(t: &Table) -> bool {
    match t.get("hooks") {
        Some(Item::ArrayOfTables(aot)) => aot.is_empty(),
        Some(Item::Value(Value::Array(arr))) => arr.is_empty(),
        _ => false,
    }
}

fn remove_ours_from_inline_group(g: &mut InlineTable) -> usize {
    match g.get_mut("hooks").and_then(Value::as_array_mut) {
        Some(arr) => {
            let before = arr.len();
            arr.retain(|v| !v.as_inline_table().is_some_and(|h| is_ours_table_like(h)));
            before - arr.len()
        }
        None => 0,
    }
}

impl HooksDoc for TomlHooks {
    fn append_group(&mut self, event: &str, command: &str, timeout: u64) {
        let mut handler = InlineTable::new();
        handler.insert("type", "command".into());
        handler.insert("command", command.into());
        handler.insert("timeout", i64::try_from(timeout).unwrap_or(i64::MAX).into());
        let mut handlers = toml_edit::Array::new();
        handlers.push(handler);
        if !self.doc.contains_key("hooks") {
            let mut t = Table::new();
            t.set_implicit(true);
            self.doc.insert("hooks", Item::Table(t));
        }
        let Some(hooks) = self.doc.get_mut("hooks").and_then(Item::as_table_like_mut) else {
            return;
        };
        match hooks.get_mut(event) {
            Some(Item::Value(Value::Array(arr))) => {
                let mut group = InlineTable::new();
                group.insert("hooks", Value::Array(handlers));
                arr.push(group);
            }
            Some(Item::ArrayOfTables(aot)) => {
                let mut group = Table::new();
                group.insert("hooks", toml_edit::value(handlers));
                aot.push(group);
            }
            _ => {
                let mut group = Table::new();
                group.insert("hooks", toml_edit::value(handlers));
                let mut aot = ArrayOfTables::new();
                aot.push(group);
                hooks.insert(event, Item::ArrayOfTables(aot));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_commands_are_recognised() {
        let cmd = hook_command(Path::new("/opt/my apps/orbitdock"), Some(Path::new("/d")));
        assert_eq!(cmd, "'/opt/my apps/orbitdock' hook codex --data-dir /d");
        assert!(is_our_command(&cmd));
        assert!(is_our_command("/usr/bin/orbitdock hook codex"));
        assert!(is_our_command(
            "orbitdock-codex-hook hook codex --data-dir /x"
        ));
        assert!(!is_our_command("/usr/bin/orbitdock hook claude"));
        assert!(!is_our_command("/usr/bin/notify-send hook codex"));
        assert!(!is_our_command("echo orbitdock hook codex"));
    }

    #[test]
    fn timeouts_respect_codex_caps() {
        assert_eq!(timeout_for(&HookEvent::SessionEnd), 3);
        assert_eq!(timeout_for(&HookEvent::Interrupt), 3);
        assert_eq!(timeout_for(&HookEvent::Stop), EVENT_TIMEOUT_SECS);
        assert_eq!(
            timeout_for(&HookEvent::PermissionRequest),
            PERMISSION_TIMEOUT_SECS
        );
    }

    #[test]
    fn rekey_keeps_the_path_spelling() {
        let id = PositionId {
            format: HooksFormat::Json,
            event_snake: "stop".into(),
            group: 1,
            handler: 0,
        };
        assert_eq!(
            rekey("/a:b/hooks.json:stop:2:0", &id),
            "/a:b/hooks.json:stop:1:0"
        );
    }
}
