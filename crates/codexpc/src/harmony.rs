//! The Harmony gpt-oss encoding, loaded fully offline and shared by the whole process.
//!
//! `openai-harmony` needs the `o200k_base.tiktoken` vocabulary and, left alone, downloads it. We
//! never reach the network at run time: the same ranks ship inside the `tiktoken-rs` crate (MIT),
//! so on first use we rebuild the file byte-identically from `tiktoken_rs::o200k_base()` (one line
//! `base64(token bytes) SP rank LF` per rank 0..199998), check its SHA-256 against the value
//! Harmony itself pins, and write it once into a cache directory (atomically: temp file + rename,
//! because several processes may race to create it).
//!
//! Pointing Harmony at the file goes through the environment variable `TIKTOKEN_ENCODINGS_BASE`:
//! it is the crate's only local-file route (`tiktoken_ext::Encoding::load` reads it; there is no
//! constructor taking a path or bytes). Mutating the environment is unsound while other threads
//! read it, so it happens once (guarded by a `Once`), and binaries call [`init`] at the top of
//! `main`, before the async runtime starts threads. Loading takes ~250 ms, so the encoding is
//! loaded once per process ([`harmony`]) and shared.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};

use base64::Engine as _;
use openai_harmony::{HarmonyEncoding, HarmonyEncodingName, load_harmony_encoding};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// SHA-256 of `o200k_base.tiktoken` as pinned by `openai-harmony`.
pub const O200K_SHA256: &str = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d";
/// File name Harmony looks for under `TIKTOKEN_ENCODINGS_BASE`.
pub const VOCAB_FILE_NAME: &str = "o200k_base.tiktoken";
/// Number of ordinary (non-special) ranks in o200k.
const O200K_ORDINARY_RANKS: u32 = 199_998;
/// Environment variable overriding the cache directory (tests, packaging).
pub const CACHE_DIR_ENV: &str = "CODEXPC_CACHE_DIR";

/// Harmony special-token ids for gpt-oss (checked against the loaded encoding in tests).
pub mod tokens {
    pub const START_OF_TEXT: u32 = 199_998;
    pub const END_OF_TEXT: u32 = 199_999;
    pub const RETURN: u32 = 200_002;
    pub const CONSTRAIN: u32 = 200_003;
    pub const CHANNEL: u32 = 200_005;
    pub const START: u32 = 200_006;
    pub const END: u32 = 200_007;
    pub const MESSAGE: u32 = 200_008;
    pub const CALL: u32 = 200_012;
    /// Vocabulary size of gpt-oss models (o200k_harmony incl. reserved ids).
    pub const VOCAB_SIZE: usize = 201_088;
}

/// The loaded encoding plus the facts every caller needs.
#[derive(Debug)]
pub struct Harmony {
    encoding: HarmonyEncoding,
    assistant_stop_tokens: Vec<u32>,
}

impl Harmony {
    pub fn encoding(&self) -> &HarmonyEncoding {
        &self.encoding
    }

    /// Stop tokens that end an assistant action: `<|return|>` and `<|call|>` (sorted).
    pub fn assistant_stop_tokens(&self) -> &[u32] {
        &self.assistant_stop_tokens
    }

    /// Tokenize text, turning `<|...|>` markers into special tokens (as a model would emit them).
    pub fn encode_with_special_tokens(&self, text: &str) -> Vec<u32> {
        self.encoding.tokenizer().encode_with_special_tokens(text)
    }

    /// Tokenize text as plain text (special-token markers stay text).
    pub fn encode_ordinary(&self, text: &str) -> Vec<u32> {
        self.encoding.tokenizer().encode_ordinary(text)
    }

    /// Decode tokens for display; invalid UTF-8 becomes U+FFFD and unknown ids `<|id:N|>`.
    pub fn decode_lossy(&self, tokens: &[u32]) -> String {
        let tokenizer = self.encoding.tokenizer();
        match tokenizer.decode_bytes(tokens) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => {
                let mut out = Vec::new();
                for &t in tokens {
                    match tokenizer.decode_bytes([t]) {
                        Ok(b) => out.extend_from_slice(&b),
                        Err(_) => out.extend_from_slice(format!("<|id:{t}|>").as_bytes()),
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            }
        }
    }
}

static ENV_ONCE: Once = Once::new();
static HARMONY: OnceLock<Harmony> = OnceLock::new();
static LOAD_LOCK: Mutex<()> = Mutex::new(());

/// The directory the vocabulary is cached in: `$CODEXPC_CACHE_DIR`, else the user cache dir
/// (`~/.cache/codexpc`), else the system temp dir.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("codexpc")
}

/// Prepare the vocabulary file and point Harmony at it. Call at the top of `main`, before any
/// other thread exists; [`harmony`] calls it too (idempotent).
pub fn init() -> Result<PathBuf> {
    let dir = cache_dir().join("tiktoken");
    ensure_vocab_file(&dir)?;
    ENV_ONCE.call_once(|| set_encodings_base(&dir));
    Ok(dir)
}

#[allow(unsafe_code)]
fn set_encodings_base(dir: &Path) {
    if std::env::var_os("TIKTOKEN_ENCODINGS_BASE").as_deref() == Some(dir.as_os_str()) {
        return;
    }
    // SAFETY: `set_var` races with concurrent `getenv` in other threads. It runs once per process
    // (Once), binaries call `init()` before starting their runtime, and nothing in this process
    // reads the environment concurrently with the first Harmony load. This is the only way to
    // give `openai-harmony` a local vocabulary file (see the module docs).
    unsafe { std::env::set_var("TIKTOKEN_ENCODINGS_BASE", dir) };
}

/// The process-wide Harmony encoding (loaded on first use, ~250 ms).
pub fn harmony() -> Result<&'static Harmony> {
    if let Some(h) = HARMONY.get() {
        return Ok(h);
    }
    // Serialise loading so concurrent first callers do not each spend 250 ms.
    let _guard = LOAD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = HARMONY.get() {
        return Ok(h);
    }
    init()?;
    let encoding = load_harmony_encoding(HarmonyEncodingName::HarmonyGptOss)
        .map_err(|e| Error::HarmonyLoad(format!("{e:#}")))?;
    let mut assistant_stop_tokens: Vec<u32> = encoding
        .stop_tokens_for_assistant_actions()
        .map_err(|e| Error::HarmonyLoad(format!("{e:#}")))?
        .into_iter()
        .collect();
    assistant_stop_tokens.sort_unstable();
    Ok(HARMONY.get_or_init(|| Harmony {
        encoding,
        assistant_stop_tokens,
    }))
}

/// Rebuild `o200k_base.tiktoken` from the ranks embedded in `tiktoken-rs`.
pub fn rebuild_o200k_vocab() -> Result<Vec<u8>> {
    let bpe = tiktoken_rs::o200k_base()
        .map_err(|e| Error::HarmonyLoad(format!("tiktoken-rs o200k_base: {e:#}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(3_700_000);
    for rank in 0..O200K_ORDINARY_RANKS {
        let bytes = bpe.decode_bytes(&[rank]).map_err(|e| {
            Error::HarmonyLoad(format!("tiktoken-rs has no bytes for rank {rank}: {e}"))
        })?;
        out.extend_from_slice(b64.encode(&bytes).as_bytes());
        out.push(b' ');
        out.extend_from_slice(rank.to_string().as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Make sure `dir/o200k_base.tiktoken` exists with the pinned checksum; (re)create it otherwise.
pub fn ensure_vocab_file(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(VOCAB_FILE_NAME);
    if let Ok(existing) = std::fs::read(&path) {
        if sha256_hex(&existing) == O200K_SHA256 {
            return Ok(path);
        }
        tracing::warn!(path = %path.display(), "cached o200k vocabulary has a wrong checksum; rebuilding");
    }
    let bytes = rebuild_o200k_vocab()?;
    let actual = sha256_hex(&bytes);
    if actual != O200K_SHA256 {
        return Err(Error::VocabChecksum {
            path,
            expected: O200K_SHA256,
            actual,
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the vocab cache dir", dir, e))?;
    // Unique temp name per process and call, then an atomic rename: concurrent creators never see
    // a half-written file.
    let tmp = dir.join(format!(
        ".{VOCAB_FILE_NAME}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("writing the o200k vocabulary", &path, e));
    }
    tracing::info!(path = %path.display(), "wrote o200k vocabulary rebuilt from tiktoken-rs");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilt_vocab_has_pinned_checksum_and_is_written_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = ensure_vocab_file(dir.path()).expect("vocab");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 3_613_922);
        assert_eq!(sha256_hex(&bytes), O200K_SHA256);
        // A corrupted cache file is detected and replaced.
        std::fs::write(&path, b"garbage").expect("corrupt");
        ensure_vocab_file(dir.path()).expect("rebuild");
        assert_eq!(
            sha256_hex(&std::fs::read(&path).expect("read")),
            O200K_SHA256
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temp files left behind: {leftovers:?}"
        );
    }

    #[test]
    fn special_token_ids_match_the_notes() {
        let h = harmony().expect("harmony loads offline");
        let cases = [
            ("<|startoftext|>", tokens::START_OF_TEXT),
            ("<|endoftext|>", tokens::END_OF_TEXT),
            ("<|return|>", tokens::RETURN),
            ("<|constrain|>", tokens::CONSTRAIN),
            ("<|channel|>", tokens::CHANNEL),
            ("<|start|>", tokens::START),
            ("<|end|>", tokens::END),
            ("<|message|>", tokens::MESSAGE),
            ("<|call|>", tokens::CALL),
        ];
        for (text, id) in cases {
            assert_eq!(h.encode_with_special_tokens(text), vec![id], "{text}");
        }
        assert_eq!(h.assistant_stop_tokens(), &[tokens::RETURN, tokens::CALL]);
        assert_eq!(h.decode_lossy(&[tokens::START]), "<|start|>");
        // Ordinary text round-trips.
        let ids = h.encode_ordinary("hello world");
        assert_eq!(h.decode_lossy(&ids), "hello world");
    }
}
