//! Writing a settings file another program owns and a person may edit: Claude Code's
//! `settings.json` here, Codex's `hooks.json` and `config.toml` in `codex-hooks`, which uses
//! these same functions.
//!
//! A write replaces the file atomically (a synced temp file in the same folder, then a rename),
//! so the owner never reads half a file, and keeps the file's permissions. JSON is written with
//! the keys in the order the file had them (the callers carry objects as `RawValue`s, which keep
//! it), indented the way people write these files.

use std::path::{Path, PathBuf};

/// A failed [`atomic_write`] step.
#[derive(Debug)]
pub struct WriteError {
    /// The file the step was on (the temp file, the folder or the target).
    pub path: PathBuf,
    /// The step: `create_dir`, `create`, `write`, `fsync`, `chmod`, `rename`.
    pub op: &'static str,
    /// Why.
    pub source: std::io::Error,
}

fn step(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> WriteError + use<> {
    let path = path.to_path_buf();
    move |source| WriteError { path, op, source }
}

/// Writes `bytes` to `path` via a synced temp file in the same directory and a rename, keeping
/// the old file's permissions (`mode_if_new` for a new file). The temp file does not outlive a
/// failed write.
pub fn atomic_write(path: &Path, bytes: &[u8], mode_if_new: u32) -> Result<(), WriteError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(step(dir, "create_dir"))?;
    let mode = std::fs::metadata(path)
        .ok()
        .map_or(mode_if_new, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.orbitdock-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(step(&tmp, "create"))?;
        f.write_all(bytes).map_err(step(&tmp, "write"))?;
        f.sync_all().map_err(step(&tmp, "fsync"))?;
        drop(f);
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(step(&tmp, "chmod"))?;
        std::fs::rename(&tmp, path).map_err(step(path, "rename"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Indents compact JSON by two spaces without reordering anything (`serde_json`'s pretty
/// printer writes a `RawValue` as it is, unindented, and a `Value` would sort the keys).
pub fn indent_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let (mut in_str, mut esc) = (false, false);
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, d: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", d));
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_keeps_order_and_strings() {
        let s = indent_json(r#"{"z":1,"a":[1,{"b":"x, {y}: \"q\""}],"e":{},"f":[]}"#);
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid");
        assert_eq!(v["a"][1]["b"], "x, {y}: \"q\"");
        assert!(s.find("\"z\"") < s.find("\"a\""), "{s}");
        assert!(s.contains("\"e\": {},\n  \"f\": []"), "{s}");
    }

    #[test]
    fn a_write_keeps_the_files_mode_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/settings.json");
        atomic_write(&path, b"{}", 0o600).expect("new");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        atomic_write(&path, b"{\"a\":1}", 0o600).expect("again");
        assert_eq!(mode(&path), 0o640);
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"a\":1}");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("settings.json")]);
    }
}
