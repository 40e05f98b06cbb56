//! Typed views of the structured `tool_use_result` the CLI attaches to tool-result `user`
//! messages, for the tools whose results a UI renders specially.
//!
//! File edits (verified with 2.1.332): the `Edit` tool_use input is
//! `{file_path, old_string, new_string, replace_all}`; its `tool_use_result` is
//! `{filePath, oldString, newString, originalFile, structuredPatch, userModified, replaceAll}`
//! where `structuredPatch` is a list of hunks `{oldStart, oldLines, newStart, newLines, lines}`
//! and each line starts with `' '`, `'-'` or `'+'` (a unified diff without headers). `Write`
//! gives `{type: "create"|"update", filePath, content, structuredPatch, originalFile}`; a
//! create has an empty `structuredPatch` and `originalFile: null`. So a diff can be rendered
//! from the result alone ([`FileChange::unified_diff`]), and a proposed change can be rendered
//! from the tool_use input before it runs ([`proposed_diff`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One hunk of `structuredPatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchHunk {
    #[serde(rename = "oldStart")]
    pub old_start: u64,
    #[serde(rename = "oldLines")]
    pub old_lines: u64,
    #[serde(rename = "newStart")]
    pub new_start: u64,
    #[serde(rename = "newLines")]
    pub new_lines: u64,
    /// Lines prefixed with `' '`, `'-'` or `'+'`.
    #[serde(default)]
    pub lines: Vec<String>,
}

/// What kind of change a file tool made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChangeKind {
    /// `Write` of a file that did not exist.
    Create,
    /// `Write` over an existing file.
    Overwrite,
    /// `Edit` / `MultiEdit` (string replacement).
    Edit,
}

/// A file change as reported in `tool_use_result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub kind: FileChangeKind,
    pub hunks: Vec<PatchHunk>,
    /// The file before the change (`None` for a create).
    pub original: Option<String>,
    /// The written content (Write only).
    pub content: Option<String>,
}

impl FileChange {
    /// Interprets a `tool_use_result`; `None` when it is not a file change.
    pub fn from_tool_use_result(v: &Value) -> Option<FileChange> {
        let path = v.get("filePath")?.as_str()?.to_owned();
        let hunks: Vec<PatchHunk> = v
            .get("structuredPatch")
            .and_then(|p| serde_json::from_value(p.clone()).ok())?;
        let original = v
            .get("originalFile")
            .or_else(|| v.get("originalFileContents"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let content = v.get("content").and_then(Value::as_str).map(str::to_owned);
        let kind = match v.get("type").and_then(Value::as_str) {
            Some("create") => FileChangeKind::Create,
            Some("update") => FileChangeKind::Overwrite,
            _ => FileChangeKind::Edit,
        };
        Some(FileChange {
            path,
            kind,
            hunks,
            original,
            content,
        })
    }

    /// A unified diff (`---`/`+++` headers and `@@` hunks). A create, whose patch the CLI
    /// leaves empty, becomes one all-added hunk from `content`.
    pub fn unified_diff(&self) -> String {
        let mut out = String::new();
        if self.kind == FileChangeKind::Create {
            out.push_str("--- /dev/null\n");
            out.push_str(&format!("+++ b/{}\n", display_path(&self.path)));
            if self.hunks.is_empty() {
                let content = self.content.as_deref().unwrap_or("");
                out.push_str(&added_hunk(content));
                return out;
            }
        } else {
            out.push_str(&format!("--- a/{}\n", display_path(&self.path)));
            out.push_str(&format!("+++ b/{}\n", display_path(&self.path)));
        }
        for h in &self.hunks {
            out.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_lines, h.new_start, h.new_lines
            ));
            for line in &h.lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

fn display_path(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

fn added_hunk(content: &str) -> String {
    let lines: Vec<&str> = content.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!("@@ -0,0 +1,{} @@\n", lines.len());
    for l in lines {
        out.push('+');
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// A diff-like rendering of a file tool call BEFORE it runs (for an approval card): `Edit`
/// shows `old_string` removed and `new_string` added, `Write` shows the content added.
/// Line numbers are unknown at that point, so hunks carry no ranges. `None` for other tools.
pub fn proposed_diff(tool_name: &str, input: &Value) -> Option<String> {
    let path = input.get("file_path")?.as_str()?;
    let mut out = format!("--- a/{0}\n+++ b/{0}\n", display_path(path));
    let mut push_edit = |old: &str, new: &str| {
        out.push_str("@@\n");
        for l in old.lines() {
            out.push('-');
            out.push_str(l);
            out.push('\n');
        }
        for l in new.lines() {
            out.push('+');
            out.push_str(l);
            out.push('\n');
        }
    };
    match tool_name {
        "Edit" => push_edit(
            input.get("old_string")?.as_str()?,
            input.get("new_string")?.as_str()?,
        ),
        "MultiEdit" => {
            for e in input.get("edits")?.as_array()? {
                push_edit(
                    e.get("old_string")?.as_str()?,
                    e.get("new_string")?.as_str()?,
                );
            }
        }
        "Write" => push_edit("", input.get("content")?.as_str()?),
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edit_result_renders_as_unified_diff() {
        let v = json!({"filePath":"/w/edit.txt","oldString":"beta","newString":"BETA",
            "originalFile":"alpha\nbeta\ngamma\n",
            "structuredPatch":[{"oldStart":1,"oldLines":3,"newStart":1,"newLines":3,"lines":[" alpha","-beta","+BETA"," gamma"]}],
            "userModified":false,"replaceAll":false});
        let c = FileChange::from_tool_use_result(&v).expect("file change");
        assert_eq!(c.kind, FileChangeKind::Edit);
        assert_eq!(c.original.as_deref(), Some("alpha\nbeta\ngamma\n"));
        assert_eq!(
            c.unified_diff(),
            "--- a/w/edit.txt\n+++ b/w/edit.txt\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n"
        );
    }

    #[test]
    fn write_create_renders_as_all_added() {
        let v = json!({"type":"create","filePath":"/w/new.txt","content":"hello\nworld\n",
            "structuredPatch":[],"originalFile":null,"userModified":false});
        let c = FileChange::from_tool_use_result(&v).expect("file change");
        assert_eq!(c.kind, FileChangeKind::Create);
        assert_eq!(
            c.unified_diff(),
            "--- /dev/null\n+++ b/w/new.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
        );
    }

    #[test]
    fn non_file_results_are_not_file_changes() {
        assert_eq!(
            FileChange::from_tool_use_result(&json!({"stdout": "x", "stderr": ""})),
            None
        );
        assert_eq!(
            FileChange::from_tool_use_result(&json!("Error: denied")),
            None
        );
    }

    #[test]
    fn proposed_diffs_from_tool_inputs() {
        let d = proposed_diff(
            "Edit",
            &json!({"file_path": "/w/a.txt", "old_string": "x", "new_string": "y"}),
        )
        .expect("edit");
        assert_eq!(d, "--- a/w/a.txt\n+++ b/w/a.txt\n@@\n-x\n+y\n");
        assert!(proposed_diff("Bash", &json!({"command": "ls"})).is_none());
    }
}
