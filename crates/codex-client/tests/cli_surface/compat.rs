//! The compatibility report: what differs between the pinned Codex and the newest release,
//! generated from the two binaries and checked against the committed `COMPAT.md`.
//!
//! `UPDATE_COMPAT=1 cargo nextest run -p codex-client --test cli_surface compat` rewrites the
//! generated block; the prose around it (how this crate handles each difference) is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::binary;
use crate::capabilities::{caps_of, newest};

const BEGIN: &str = "<!-- BEGIN GENERATED: UPDATE_COMPAT=1 cargo nextest run -p codex-client --test cli_surface compat -->";
const END: &str = "<!-- END GENERATED -->";

/// Definition name -> property names (alternatives of unions included).
fn schema_types(bin: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(bin)
        .args(["app-server", "generate-json-schema", "--out"])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("generate-json-schema");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut defs: BTreeMap<String, Value> = BTreeMap::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            // The bundles repeat every definition; the per-type files are enough.
            if stem.starts_with("codex_app_server_protocol") {
                continue;
            }
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            for (k, def) in v["definitions"].as_object().into_iter().flatten() {
                defs.entry(k.clone()).or_insert_with(|| def.clone());
            }
            defs.entry(stem.to_owned()).or_insert(v);
        }
    }
    defs.iter()
        .map(|(name, def)| {
            let mut props: BTreeSet<String> = def["properties"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            for key in ["oneOf", "anyOf", "allOf"] {
                for alt in def[key].as_array().into_iter().flatten() {
                    if let Some(o) = alt["properties"].as_object() {
                        props.extend(o.keys().cloned());
                    }
                }
            }
            (name.clone(), props)
        })
        .collect()
}

async fn generated_block() -> String {
    let pinned_bin = binary();
    let newest_bin = newest().await;
    let old = caps_of(&pinned_bin).await;
    let new = caps_of(&newest_bin).await;
    let diff = old.diff(&new);
    let mut out = String::new();
    let _ = writeln!(out, "## {} -> {}\n", diff.from, diff.to);
    out.push_str(&diff.to_markdown());
    let a = schema_types(&pinned_bin.path);
    let b = schema_types(&newest_bin.path);
    let _ = writeln!(out, "\n### App-server schema types\n");
    let added: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    let removed: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let fmt = |v: &[&String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(out, "- types added: {}", fmt(&added));
    let _ = writeln!(out, "- types removed: {}", fmt(&removed));
    let _ = writeln!(out, "- fields changed:");
    let mut any = false;
    for (name, old_props) in &a {
        let Some(new_props) = b.get(name) else {
            continue;
        };
        let plus: Vec<&String> = new_props.difference(old_props).collect();
        let minus: Vec<&String> = old_props.difference(new_props).collect();
        if plus.is_empty() && minus.is_empty() {
            continue;
        }
        any = true;
        let mut line = format!("  - `{name}`:");
        if !plus.is_empty() {
            let _ = write!(line, " added {}", fmt(&plus));
        }
        if !minus.is_empty() {
            let _ = write!(
                line,
                "{} removed {}",
                if plus.is_empty() { "" } else { ";" },
                fmt(&minus)
            );
        }
        let _ = writeln!(out, "{line}");
    }
    if !any {
        let _ = writeln!(out, "  - none");
    }
    out
}

#[tokio::test]
async fn compat_report_matches_the_two_binaries() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("COMPAT.md");
    let block = generated_block().await;
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    let wanted_region = format!("{BEGIN}\n{block}{END}");
    let (start, end) = match (current.find(BEGIN), current.find(END)) {
        (Some(s), Some(e)) if e > s => (s, e + END.len()),
        _ => (current.len(), current.len()),
    };
    let existing_region = &current[start..end];
    if existing_region == wanted_region {
        return;
    }
    if std::env::var_os("UPDATE_COMPAT").is_some() {
        let mut updated = String::new();
        updated.push_str(&current[..start]);
        updated.push_str(&wanted_region);
        updated.push_str(&current[end..]);
        if !updated.ends_with('\n') {
            updated.push('\n');
        }
        std::fs::write(&path, updated).expect("write COMPAT.md");
        return;
    }
    panic!(
        "COMPAT.md is out of date with the installed binaries ({} vs {}); rerun with UPDATE_COMPAT=1 \
         and review the prose around the generated block.\n--- expected block ---\n{block}",
        test_support::PINNED_CODEX_VERSION,
        test_support::NEWEST_CODEX_VERSION
    );
}
