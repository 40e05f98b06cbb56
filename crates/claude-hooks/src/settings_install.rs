//! Merging our hook entries into Claude Code's `settings.json`, and removing them again.
//!
//! Claude's format: `{"hooks": {"<Event>": [{"matcher"?: "...", "hooks": [{"type": "command",
//! "command": "...", "timeout": <seconds>}]}]}}`. The file is the user's: every key, group and
//! hook that is not ours is kept byte for byte (values are carried as raw JSON, top-level and
//! `hooks` key order preserved), ours are recognised by their command (`<...>/orbitdock hook
//! claude ...`), install is idempotent (ours are replaced, not duplicated), uninstall removes only
//! ours, and the file is replaced atomically (temp file + fsync + rename).

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::hook_payload::HookEvent;

type RawObject = IndexMap<String, Box<RawValue>>;

/// Seconds Claude waits for our hook command (it exits in well under a second; this only
/// bounds a wedged process).
pub const HOOK_TIMEOUT_SECS: u64 = 10;

/// `~/.claude/settings.json`.
pub fn default_settings_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude/settings.json"))
}

/// The hook command: `<binary> hook claude --data-dir <dir>`, shell-quoted.
pub fn hook_command(binary: &Path, data_dir: &Path) -> String {
    format!(
        "{} hook claude --data-dir {}",
        shell_quote(&binary.to_string_lossy()),
        shell_quote(&data_dir.to_string_lossy())
    )
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

/// Whether a hook command is one of ours (any data dir, any install location).
pub fn is_our_command(cmd: &str) -> bool {
    let prog = match cmd.strip_prefix('\'') {
        Some(rest) => rest.split('\'').next().unwrap_or(""),
        None => cmd.split_whitespace().next().unwrap_or(""),
    };
    let name = Path::new(prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.starts_with("orbitdock") && cmd.contains(" hook claude")
}

#[derive(Deserialize)]
struct CommandProbe {
    #[serde(default)]
    command: Option<String>,
}

fn hook_is_ours(raw: &RawValue) -> bool {
    serde_json::from_str::<CommandProbe>(raw.get())
        .ok()
        .and_then(|p| p.command)
        .is_some_and(|c| is_our_command(&c))
}

/// What an install/uninstall did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Change {
    /// Hook entries of ours removed.
    pub removed: usize,
    /// Hook entries of ours added.
    pub added: usize,
    /// Whether the file was rewritten.
    pub written: bool,
}

#[derive(Serialize)]
struct OurGroup<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    matcher: Option<&'a str>,
    hooks: [OurHook<'a>; 1],
}

#[derive(Serialize)]
struct OurHook<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    command: &'a str,
    timeout: u64,
}

/// Adds our hook for every event in [`HookEvent::ALL`], replacing any previous entry of ours.
pub fn install(settings: &Path, command: &str) -> Result<Change> {
    let mut root = read_settings(settings)?;
    let mut hooks = take_hooks(&mut root, settings)?;
    let mut change = Change::default();
    for groups in hooks.values_mut() {
        change.removed += remove_ours(groups, settings)?;
    }
    for ev in HookEvent::ALL {
        let group = OurGroup {
            matcher: ev.has_tool_matcher().then_some("*"),
            hooks: [OurHook {
                kind: "command",
                command,
                timeout: HOOK_TIMEOUT_SECS,
            }],
        };
        let raw = to_raw(&group, settings)?;
        hooks.entry(ev.as_str().to_owned()).or_default().push(raw);
        change.added += 1;
    }
    put_hooks(&mut root, hooks, settings)?;
    write_settings(settings, &root)?;
    change.written = true;
    Ok(change)
}

/// Removes every hook entry of ours; groups and events left empty by that are removed too.
/// A missing settings file is left missing.
pub fn uninstall(settings: &Path) -> Result<Change> {
    if !settings.exists() {
        return Ok(Change::default());
    }
    let mut root = read_settings(settings)?;
    let mut hooks = take_hooks(&mut root, settings)?;
    let mut change = Change::default();
    for groups in hooks.values_mut() {
        change.removed += remove_ours(groups, settings)?;
    }
    if change.removed == 0 {
        return Ok(change);
    }
    hooks.retain(|_, groups| !groups.is_empty());
    if !hooks.is_empty() {
        put_hooks(&mut root, hooks, settings)?;
    }
    write_settings(settings, &root)?;
    change.written = true;
    Ok(change)
}

/// Events with at least one hook of ours (for `hooks status`).
pub fn installed_events(settings: &Path) -> Result<Vec<String>> {
    if !settings.exists() {
        return Ok(Vec::new());
    }
    let mut root = read_settings(settings)?;
    let hooks = take_hooks(&mut root, settings)?;
    let mut out = Vec::new();
    for (ev, groups) in &hooks {
        let ours = groups.iter().any(|g| {
            serde_json::from_str::<RawObject>(g.get())
                .ok()
                .and_then(|o| {
                    o.get("hooks")
                        .and_then(|h| serde_json::from_str::<Vec<Box<RawValue>>>(h.get()).ok())
                })
                .is_some_and(|hs| hs.iter().any(|h| hook_is_ours(h)))
        });
        if ours {
            out.push(ev.clone());
        }
    }
    Ok(out)
}

/// Removes our hooks from the groups of one event; returns how many.
fn remove_ours(groups: &mut Vec<Box<RawValue>>, settings: &Path) -> Result<usize> {
    let mut removed = 0;
    let mut kept = Vec::with_capacity(groups.len());
    for g in groups.drain(..) {
        let Ok(mut obj) = serde_json::from_str::<RawObject>(g.get()) else {
            kept.push(g); // not an object: not ours, keep as is
            continue;
        };
        let Some(list) = obj
            .get("hooks")
            .and_then(|h| serde_json::from_str::<Vec<Box<RawValue>>>(h.get()).ok())
        else {
            kept.push(g);
            continue;
        };
        let before = list.len();
        let rest: Vec<Box<RawValue>> = list.into_iter().filter(|h| !hook_is_ours(h)).collect();
        let n = before - rest.len();
        if n == 0 {
            kept.push(g); // untouched, byte for byte
            continue;
        }
        removed += n;
        if rest.is_empty() {
            continue; // the group only held ours
        }
        obj.insert("hooks".to_owned(), to_raw(&rest, settings)?);
        kept.push(to_raw(&obj, settings)?);
    }
    *groups = kept;
    Ok(removed)
}

fn to_raw<T: Serialize + ?Sized>(v: &T, settings: &Path) -> Result<Box<RawValue>> {
    let s = serde_json::to_string(v).map_err(|e| Error::Settings {
        path: settings.to_path_buf(),
        message: e.to_string(),
    })?;
    RawValue::from_string(s).map_err(|e| Error::Settings {
        path: settings.to_path_buf(),
        message: e.to_string(),
    })
}

fn read_settings(path: &Path) -> Result<RawObject> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RawObject::new()),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    if text.trim().is_empty() {
        return Ok(RawObject::new());
    }
    serde_json::from_str(&text).map_err(|e| Error::Settings {
        path: path.to_path_buf(),
        message: format!("not a JSON object, left unchanged: {e}"),
    })
}

fn take_hooks(root: &mut RawObject, path: &Path) -> Result<IndexMap<String, Vec<Box<RawValue>>>> {
    match root.get("hooks") {
        None => Ok(IndexMap::new()),
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| Error::Settings {
            path: path.to_path_buf(),
            message: format!("`hooks` is not an object of arrays, left unchanged: {e}"),
        }),
    }
}

fn put_hooks(
    root: &mut RawObject,
    hooks: IndexMap<String, Vec<Box<RawValue>>>,
    path: &Path,
) -> Result<()> {
    let raw = to_raw(&hooks, path)?;
    if let Some(slot) = root.get_mut("hooks") {
        *slot = raw; // keeps the key's position
    } else {
        root.insert("hooks".to_owned(), raw);
    }
    Ok(())
}

fn write_settings(path: &Path, root: &RawObject) -> Result<()> {
    // Pretty-print through a Value-free path: re-parse the compact text with the original key
    // order (RawValue keeps it) and indent it.
    let compact = serde_json::to_string(root).map_err(|e| Error::Settings {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut text = crate::settings_file::indent_json(&compact);
    text.push('\n');
    crate::settings_file::atomic_write(path, text.as_bytes(), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_commands_are_recognised() {
        assert!(is_our_command(
            "/usr/local/bin/orbitdock hook claude --data-dir /d"
        ));
        assert!(is_our_command("'/opt/my apps/orbitdock' hook claude"));
        assert!(!is_our_command("/usr/bin/notify-send hook claude"));
        assert!(!is_our_command("orbitdock serve"));
    }
}
