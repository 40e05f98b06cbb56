//! An incremental, restartable reader of one append-only JSONL file.
//!
//! The reader owns a [`ReaderState`]: the byte offset up to which the file has been consumed and
//! the bytes of an unfinished last line (written by Codex in more than one `write`, or cut by a
//! read boundary). Both are persisted together, so a restart resumes exactly where the previous
//! process stopped: a line is delivered once, never lost and never repeated.
//!
//! Reading streams in chunks of [`ReaderConfig::chunk_size`] bytes; memory is bounded by one
//! chunk plus one line, and a line longer than [`ReaderConfig::max_line_bytes`] is reported and
//! skipped up to the next newline instead of growing without bound. Lines are split on the byte
//! `b'\n'` and decoded only once complete, so a multibyte UTF-8 character split across two reads
//! is reassembled intact (decoding per read, as some readers do with `from_utf8_lossy`, garbles it).
//!
//! Before each poll the file is checked against the identity recorded in the state: a file
//! shorter than the offset was truncated, a different (device, inode) or a changed fingerprint
//! of its first bytes means it was replaced. Either way the reader restarts from offset 0 and
//! says so in [`PollOutcome::reset`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How many leading bytes of a file form its fingerprint.
pub const FINGERPRINT_BYTES: usize = 256;

/// Tuning of a [`RolloutReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderConfig {
    /// Bytes read per `read` call (default 256 KiB).
    pub chunk_size: usize,
    /// Longest line accepted, newline excluded (default 32 MiB); longer lines are skipped.
    pub max_line_bytes: usize,
    /// Stop a poll after this many bytes so one huge file cannot starve the others
    /// (default: unlimited). The next poll continues where this one stopped.
    pub max_bytes_per_poll: Option<u64>,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            chunk_size: 256 * 1024,
            max_line_bytes: 32 * 1024 * 1024,
            max_bytes_per_poll: None,
        }
    }
}

/// What identifies the file a [`ReaderState`] belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// `st_dev` of the file (0 where unknown).
    pub dev: u64,
    /// `st_ino` of the file (0 where unknown).
    pub ino: u64,
    /// Number of leading bytes hashed into `fingerprint` (at most [`FINGERPRINT_BYTES`]).
    pub fingerprint_len: u32,
    /// FNV-1a 64 of the first `fingerprint_len` bytes.
    pub fingerprint: u64,
}

/// Everything needed to resume reading a file: persist it after each poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderState {
    /// Bytes of the file consumed so far (complete lines plus `pending`).
    pub offset: u64,
    /// The unfinished last line: bytes after the last newline, base64 in JSON.
    #[serde(with = "base64_bytes", default)]
    pub pending: Vec<u8>,
    /// True while skipping the rest of an over-long line.
    #[serde(default)]
    pub skipping: bool,
    /// Complete lines delivered so far (1-based number of the next line minus one).
    #[serde(default)]
    pub lines: u64,
    /// The file these offsets belong to.
    #[serde(default)]
    pub identity: FileIdentity,
}

impl ReaderState {
    /// Byte offset in the file where the pending (unfinished) line starts.
    pub fn pending_start(&self) -> u64 {
        self.offset - self.pending.len() as u64
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Why a reader started over from offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// The file is shorter than the recorded offset.
    Truncated,
    /// Device/inode changed: another file now lives at this path.
    Replaced,
    /// Same inode but the first bytes differ: rewritten in place.
    Rewritten,
}

/// One event produced while reading.
#[derive(Debug)]
pub enum ReadItem<'a> {
    /// The file was truncated or replaced: everything delivered before is void and reading
    /// restarts at offset 0. Always delivered before the lines of the new content.
    Reset {
        /// Why.
        reason: ResetReason,
    },
    /// A complete line (newline and a trailing `\r` stripped), valid UTF-8.
    Line {
        /// Byte offset of the line's first byte in the file.
        offset: u64,
        /// 1-based line number (counting every newline-terminated line, bad ones included).
        number: u64,
        /// The text.
        text: &'a str,
    },
    /// A complete line that is not valid UTF-8; skipped.
    InvalidUtf8 {
        /// Byte offset of the line's first byte.
        offset: u64,
        /// 1-based line number.
        number: u64,
        /// Where decoding failed, relative to the line start.
        valid_up_to: usize,
    },
    /// A line longer than the configured maximum; skipped up to its newline.
    TooLong {
        /// Byte offset of the line's first byte.
        offset: u64,
        /// Bytes seen when the cap was hit.
        seen: usize,
        /// The cap.
        max: usize,
    },
}

/// Summary of one [`RolloutReader::poll`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Set when the file was truncated or replaced and reading restarted at 0.
    pub reset: Option<ResetReason>,
    /// Bytes read from the file in this poll.
    pub bytes_read: u64,
    /// Complete lines delivered (good or bad).
    pub lines: u64,
    /// True when the poll stopped at `max_bytes_per_poll` with more data left.
    pub more: bool,
}

/// Incremental reader of one file. See the module docs.
#[derive(Debug)]
pub struct RolloutReader {
    path: PathBuf,
    config: ReaderConfig,
    state: ReaderState,
    buf: Vec<u8>,
}

impl RolloutReader {
    /// A reader starting at the beginning of `path`.
    pub fn new(path: impl Into<PathBuf>, config: ReaderConfig) -> Self {
        Self::with_state(path, ReaderState::default(), config)
    }

    /// A reader resuming from a persisted state.
    pub fn with_state(path: impl Into<PathBuf>, state: ReaderState, config: ReaderConfig) -> Self {
        let config = ReaderConfig {
            chunk_size: config.chunk_size.max(1),
            ..config
        };
        Self {
            path: path.into(),
            config,
            state,
            buf: Vec::new(),
        }
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current state; persist it after a poll to resume exactly there.
    pub fn state(&self) -> &ReaderState {
        &self.state
    }

    /// Reads everything appended since the last poll, calling `on_item` for each complete line
    /// (and each skipped bad line). The state is advanced past every delivered item when this
    /// returns; on an I/O error it reflects the items delivered before the error.
    pub fn poll(&mut self, mut on_item: impl FnMut(ReadItem<'_>)) -> Result<PollOutcome> {
        let mut file = File::open(&self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            op: "open",
            source,
        })?;
        let meta = file.metadata().map_err(|source| Error::Io {
            path: self.path.clone(),
            op: "stat",
            source,
        })?;
        let (dev, ino) = dev_ino(&meta);
        let len = meta.len();
        let mut outcome = PollOutcome::default();

        // Identity checks: truncated, replaced, rewritten.
        let known = &self.state.identity;
        let reset = if self.state.offset == 0 && self.state.pending.is_empty() {
            None
        } else if (known.dev, known.ino) != (0, 0) && (known.dev, known.ino) != (dev, ino) {
            Some(ResetReason::Replaced)
        } else if len < self.state.offset {
            Some(ResetReason::Truncated)
        } else if known.fingerprint_len > 0
            && fingerprint(&mut file, &self.path, known.fingerprint_len as usize)?
                != Some(known.fingerprint)
        {
            Some(ResetReason::Rewritten)
        } else {
            None
        };
        if let Some(reason) = reset {
            tracing::info!(path = %self.path.display(), ?reason, offset = self.state.offset, len,
                "rollout file changed under the reader; reading it again from the start");
            self.state = ReaderState::default();
            outcome.reset = Some(reason);
            on_item(ReadItem::Reset { reason });
        }
        self.state.identity.dev = dev;
        self.state.identity.ino = ino;
        // Grow the fingerprint until it covers FINGERPRINT_BYTES (the old prefix matched).
        if (self.state.identity.fingerprint_len as usize) < FINGERPRINT_BYTES
            && len > u64::from(self.state.identity.fingerprint_len)
        {
            let n = (len as usize).min(FINGERPRINT_BYTES);
            if let Some(fp) = fingerprint(&mut file, &self.path, n)? {
                self.state.identity.fingerprint_len = n as u32;
                self.state.identity.fingerprint = fp;
            }
        }

        if len <= self.state.offset {
            return Ok(outcome);
        }
        file.seek(SeekFrom::Start(self.state.offset))
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                op: "seek",
                source,
            })?;
        let budget = self.config.max_bytes_per_poll.unwrap_or(u64::MAX);
        self.buf.resize(self.config.chunk_size, 0);
        loop {
            if outcome.bytes_read >= budget {
                outcome.more = true;
                break;
            }
            let n = match file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Io {
                        path: self.path.clone(),
                        op: "read",
                        source,
                    });
                }
            };
            outcome.bytes_read += n as u64;
            let chunk = std::mem::take(&mut self.buf);
            self.consume(&chunk[..n], &mut outcome, &mut on_item);
            self.buf = chunk;
        }
        // Don't keep a large chunk buffer alive between polls of thousands of readers.
        self.buf = Vec::new();
        Ok(outcome)
    }

    fn consume(
        &mut self,
        mut data: &[u8],
        outcome: &mut PollOutcome,
        on_item: &mut impl FnMut(ReadItem<'_>),
    ) {
        let max = self.config.max_line_bytes;
        while !data.is_empty() {
            let line_start = self.state.pending_start();
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    let (head, rest) = (&data[..i], &data[i + 1..]);
                    data = rest;
                    let was_skipping = std::mem::replace(&mut self.state.skipping, false);
                    self.state.lines += 1;
                    outcome.lines += 1;
                    let number = self.state.lines;
                    if was_skipping {
                        // The tail of an over-long line, already reported.
                        self.state.offset += i as u64 + 1;
                        continue;
                    }
                    if self.state.pending.len() + head.len() > max {
                        on_item(ReadItem::TooLong {
                            offset: line_start,
                            seen: self.state.pending.len() + head.len(),
                            max,
                        });
                        self.state.pending.clear();
                        self.state.offset += i as u64 + 1;
                        continue;
                    }
                    let line: &[u8] = if self.state.pending.is_empty() {
                        head
                    } else {
                        self.state.pending.extend_from_slice(head);
                        &self.state.pending
                    };
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    match std::str::from_utf8(line) {
                        Ok(text) => on_item(ReadItem::Line {
                            offset: line_start,
                            number,
                            text,
                        }),
                        Err(e) => on_item(ReadItem::InvalidUtf8 {
                            offset: line_start,
                            number,
                            valid_up_to: e.valid_up_to(),
                        }),
                    }
                    self.state.pending.clear();
                    self.state.offset += i as u64 + 1;
                }
                None => {
                    let n = data.len() as u64;
                    if !self.state.skipping {
                        if self.state.pending.len() + data.len() > max {
                            on_item(ReadItem::TooLong {
                                offset: line_start,
                                seen: self.state.pending.len() + data.len(),
                                max,
                            });
                            self.state.pending = Vec::new();
                            self.state.skipping = true;
                        } else {
                            self.state.pending.extend_from_slice(data);
                        }
                    }
                    self.state.offset += n;
                    data = &[];
                }
            }
        }
    }
}

#[cfg(unix)]
pub(crate) fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub(crate) fn dev_ino(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// FNV-1a 64 of the first `n` bytes, or `None` when the file is shorter than `n`.
fn fingerprint(file: &mut File, path: &Path, n: usize) -> Result<Option<u64>> {
    let io = |op, source| Error::Io {
        path: path.to_path_buf(),
        op,
        source,
    };
    file.seek(SeekFrom::Start(0)).map_err(|e| io("seek", e))?;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match file.read(&mut buf[got..]) {
            Ok(0) => return Ok(None),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("read", e)),
        }
    }
    Ok(Some(fnv1a64(&buf)))
}

/// FNV-1a, 64 bit: a stable hash (unlike `DefaultHasher`) for persisted fingerprints and slugs.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Encodes bytes the way [`ReaderState::pending`] is persisted (for stores that keep columns).
pub fn encode_pending(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(reader: &mut RolloutReader) -> (Vec<String>, PollOutcome) {
        let mut lines = Vec::new();
        let out = reader
            .poll(|item| match item {
                ReadItem::Line { text, .. } => lines.push(text.to_owned()),
                ReadItem::Reset { .. } => {}
                other => lines.push(format!("BAD {other:?}")),
            })
            .expect("poll");
        (lines, out)
    }

    fn append(path: &Path, data: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        f.write_all(data).expect("write");
    }

    #[test]
    fn line_in_two_writes_is_delivered_once_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        append(&p, b"{\"a\":1}\n{\"b\":");
        let mut r = RolloutReader::new(&p, ReaderConfig::default());
        assert_eq!(collect(&mut r).0, vec!["{\"a\":1}"]);
        assert_eq!(r.state().pending, b"{\"b\":");
        append(&p, b"2}\n");
        assert_eq!(collect(&mut r).0, vec!["{\"b\":2}"]);
        assert!(r.state().pending.is_empty());
        assert_eq!(r.state().offset, 16);
        assert_eq!(collect(&mut r).0, Vec::<String>::new());
    }

    #[test]
    fn multibyte_split_at_every_boundary_survives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        let text = "{\"t\":\"naïve ✓ 𝄞 日本\"}\n{\"t\":\"é\"}\n";
        append(&p, text.as_bytes());
        for chunk in 1..8 {
            let cfg = ReaderConfig {
                chunk_size: chunk,
                ..ReaderConfig::default()
            };
            let mut r = RolloutReader::new(&p, cfg);
            let (lines, _) = collect(&mut r);
            assert_eq!(lines, vec!["{\"t\":\"naïve ✓ 𝄞 日本\"}", "{\"t\":\"é\"}"]);
        }
    }

    #[test]
    fn state_round_trips_through_json_with_a_split_character() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        let bytes = "{\"t\":\"✓\"}\n".as_bytes();
        // Write up to the middle of the 3-byte check mark.
        append(&p, &bytes[..8]);
        let mut r = RolloutReader::new(&p, ReaderConfig::default());
        assert!(collect(&mut r).0.is_empty());
        let saved = serde_json::to_string(r.state()).expect("ser");
        append(&p, &bytes[8..]);
        let state: ReaderState = serde_json::from_str(&saved).expect("de");
        let mut r2 = RolloutReader::with_state(&p, state, ReaderConfig::default());
        assert_eq!(collect(&mut r2).0, vec!["{\"t\":\"✓\"}"]);
    }

    #[test]
    fn truncation_and_replacement_restart_from_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        append(&p, b"one\ntwo\n");
        let mut r = RolloutReader::new(&p, ReaderConfig::default());
        assert_eq!(collect(&mut r).0, vec!["one", "two"]);
        std::fs::write(&p, b"x\n").expect("truncate");
        let (lines, out) = collect(&mut r);
        // Same inode, shorter than the offset.
        assert_eq!(out.reset, Some(ResetReason::Truncated));
        assert_eq!(lines, vec!["x"]);

        // Replace by rename: a new inode.
        let q = dir.path().join("b.tmp");
        std::fs::write(&q, b"new1\nnew2\nnew3\n").expect("write");
        std::fs::rename(&q, &p).expect("rename");
        let (lines, out) = collect(&mut r);
        assert_eq!(out.reset, Some(ResetReason::Replaced));
        assert_eq!(lines, vec!["new1", "new2", "new3"]);

        // Rewritten in place with the same length or longer: fingerprint differs.
        std::fs::write(&p, b"NEW1\nnew2\nnew3\nnew4\n").expect("rewrite");
        let (lines, out) = collect(&mut r);
        assert_eq!(out.reset, Some(ResetReason::Rewritten));
        assert_eq!(lines, vec!["NEW1", "new2", "new3", "new4"]);
    }

    #[test]
    fn over_long_line_is_reported_and_skipped_to_the_next_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        let cfg = ReaderConfig {
            chunk_size: 4,
            max_line_bytes: 10,
            max_bytes_per_poll: None,
        };
        append(&p, b"ok\n0123456789abcdef");
        let mut r = RolloutReader::new(&p, cfg);
        let (lines, _) = collect(&mut r);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], "ok");
        assert!(lines[1].starts_with("BAD TooLong { offset: 3"), "{lines:?}");
        assert!(r.state().skipping);
        assert!(r.state().pending.is_empty(), "memory stays bounded");
        append(&p, b"ghij\nafter\n");
        assert_eq!(collect(&mut r).0, vec!["after"]);
        assert_eq!(r.state().lines, 3);
    }

    #[test]
    fn invalid_utf8_line_is_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        append(&p, b"a\n\xff\xfe\nb\r\n");
        let mut r = RolloutReader::new(&p, ReaderConfig::default());
        let (lines, _) = collect(&mut r);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "a");
        assert!(
            lines[1].starts_with("BAD InvalidUtf8 { offset: 2, number: 2"),
            "{lines:?}"
        );
        assert_eq!(lines[2], "b");
    }

    #[test]
    fn poll_budget_splits_work_without_losing_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.jsonl");
        let mut expected = Vec::new();
        for i in 0..100 {
            append(&p, format!("line-{i}\n").as_bytes());
            expected.push(format!("line-{i}"));
        }
        let cfg = ReaderConfig {
            chunk_size: 16,
            max_line_bytes: 1024,
            max_bytes_per_poll: Some(64),
        };
        let mut r = RolloutReader::new(&p, cfg);
        let mut all = Vec::new();
        for _ in 0..1000 {
            let (lines, out) = collect(&mut r);
            all.extend(lines);
            if !out.more {
                break;
            }
        }
        assert_eq!(all, expected);
    }
}
