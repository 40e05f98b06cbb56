//! Finding a thread's rollout file in `CODEX_HOME` by thread id, so another process can resume
//! it (`codex exec resume <ID>`, `codex resume <ID>`, app-server `thread/resume`).
//!
//! Layout on the pinned 0.169: `sessions/YYYY/MM/DD/rollout-<YYYY-MM-DDTHH-MM-SS>-<thread
//! id>.jsonl` (archived threads under `archived_sessions/`). Thread ids are UUIDv7, whose first
//! 48 bits are the creation time in Unix milliseconds, so the lookup first checks the day
//! directories around that time (±1 day covers any local-time offset Codex uses for the
//! directory) and only then walks the whole tree.

use std::path::{Path, PathBuf};

/// Where a thread's rollout lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutLocation {
    /// The rollout file.
    pub path: PathBuf,
    /// Whether it is under `archived_sessions/`.
    pub archived: bool,
}

/// The rollout file of `thread_id` under `codex_home`, if there is one. A `thread_id` that is
/// not a UUID finds nothing (and is never used as a path).
pub fn find_rollout(codex_home: &Path, thread_id: &str) -> Option<RolloutLocation> {
    if !is_uuid(thread_id) {
        return None;
    }
    let suffix = format!("-{}.jsonl", thread_id.to_ascii_lowercase());
    for (root, archived) in [("sessions", false), ("archived_sessions", true)] {
        let root = codex_home.join(root);
        if let Some(ms) = uuid_v7_millis(thread_id) {
            for day in days_around(ms) {
                if let Some(path) = find_in_dir(&root.join(&day), &suffix) {
                    return Some(RolloutLocation { path, archived });
                }
            }
        }
        if let Some(path) = walk(&root, &suffix, 0) {
            return Some(RolloutLocation { path, archived });
        }
    }
    None
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Creation time of a UUIDv7 in Unix milliseconds (`None` for other versions).
fn uuid_v7_millis(id: &str) -> Option<i64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.as_bytes().get(12) != Some(&b'7') {
        return None;
    }
    i64::from_str_radix(hex.get(..12)?, 16).ok()
}

/// `YYYY/MM/DD` of the day of `ms` and the days before and after.
fn days_around(ms: i64) -> Vec<PathBuf> {
    [0i64, -1, 1]
        .iter()
        .map(|offset| {
            let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000) + offset);
            PathBuf::from(format!("{y:04}/{m:02}/{d:02}"))
        })
        .collect()
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian; Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn find_in_dir(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name();
        let name = name.to_str()?;
        (name.starts_with("rollout-") && name.to_ascii_lowercase().ends_with(suffix))
            .then(|| e.path())
    })
}

fn walk(dir: &Path, suffix: &str, depth: usize) -> Option<PathBuf> {
    // sessions/YYYY/MM/DD/file: nothing deeper is Codex's.
    if depth > 4 {
        return None;
    }
    if let Some(found) = find_in_dir(dir, suffix) {
        return Some(found);
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    // Newest first: recent threads are the likely ones.
    subdirs.sort_unstable_by(|a, b| b.cmp(a));
    subdirs.iter().find_map(|d| walk(d, suffix, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_time_and_days() {
        // 0x0190_0000_0000 ms = 2024-06-10T02:35:18Z.
        let id = "01900000-0000-7000-8000-000000000000";
        assert_eq!(uuid_v7_millis(id), Some(0x0190_0000_0000));
        assert_eq!(
            days_around(0x0190_0000_0000),
            vec![
                PathBuf::from("2024/06/10"),
                PathBuf::from("2024/06/09"),
                PathBuf::from("2024/06/11")
            ]
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(uuid_v7_millis("01900000-0000-4000-8000-000000000000"), None);
        assert!(!is_uuid("../../etc/passwd"));
    }

    #[test]
    fn finds_by_suffix_in_the_day_dir_or_by_walking() {
        let home = tempfile::tempdir().expect("tempdir");
        let id = "01900000-0000-7000-8000-0000000000ab";
        // Misplaced on purpose (not the id's day): only the walk finds it.
        let dir = home.path().join("sessions/2020/01/02");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join(format!("rollout-2020-01-02T00-00-00-{id}.jsonl"));
        std::fs::write(&file, "{}\n").expect("write");
        let found = find_rollout(home.path(), id).expect("found");
        assert_eq!(found.path, file);
        assert!(!found.archived);
        assert_eq!(
            find_rollout(home.path(), "01900000-0000-7000-8000-0000000000ac"),
            None
        );
    }
}
