//! Prints the path of a cached tiny gpt-oss GGUF, generating it first if needed, for callers
//! that are not Rust tests (the browser tests start `orbitdock serve --local-model` with it).
//!
//! `tiny_gguf [ids-only|full-vocab|final-channel-loop|final-channel-loop-32k]` (default: the
//! 32k-context final-channel loop, the one the real Codex CLI's first request fits in).

use test_support::gguf::{TinyVariant, tiny_gguf_path};

fn main() {
    let arg = std::env::args().nth(1);
    let variant = match arg.as_deref() {
        None | Some("final-channel-loop-32k") => TinyVariant::FinalChannelLoopLongContext,
        Some("final-channel-loop") => TinyVariant::FinalChannelLoop,
        Some("ids-only") => TinyVariant::IdsOnly,
        Some("full-vocab") => TinyVariant::FullVocab,
        Some(other) => {
            eprintln!(
                "tiny_gguf: unknown variant {other:?} (ids-only, full-vocab, final-channel-loop, final-channel-loop-32k)"
            );
            std::process::exit(2);
        }
    };
    println!("{}", tiny_gguf_path(variant).display());
}
