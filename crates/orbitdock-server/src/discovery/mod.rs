//! Sessions started outside OrbitDock: Claude Code sessions reported through hooks
//! ([`claude`]) with their transcripts ([`claude_transcript`]), Codex sessions discovered from their rollout files ([`codex`]) and reported in
//! real time by Codex's hooks ([`codex_hooks`]), merged into one passive session per thread.

pub(crate) mod checkpoints;
pub mod claude;
pub mod claude_transcript;
pub mod codex;
pub mod codex_hooks;

use std::future::Future;

use claude_hooks::Spool;

use crate::error::{Error, Result};

/// Applies every line of a hook spool in order with `apply`, then removes them from the spool.
/// Lines `parse` rejects are logged with their offset and dropped; if `apply` fails, the spool
/// is kept whole for the next start. Returns how many lines were consumed.
pub(crate) async fn drain_spool<P, F, Fut>(
    spool: Spool,
    agent: &'static str,
    parse: fn(&[u8]) -> std::result::Result<P, String>,
    apply: F,
) -> Result<usize>
where
    P: Send + 'static,
    F: Fn(P) -> Fut + Send + 'static,
    Fut: Future<Output = Result<()>>,
{
    let rt = tokio::runtime::Handle::current();
    let path = spool.path().to_path_buf();
    let res = tokio::task::spawn_blocking(move || {
        spool.drain(|lines| -> std::result::Result<(), Error> {
            for l in lines {
                match parse(l.text.as_bytes()) {
                    Ok(p) => rt.block_on(apply(p))?,
                    Err(e) => tracing::warn!(
                        spool = %path.display(), offset = l.offset, error = %e, agent,
                        "malformed spooled hook payload; dropped"
                    ),
                }
            }
            Ok(())
        })
    })
    .await
    .map_err(|e| Error::Persist(format!("spool drain task: {e}")))?;
    match res {
        Ok(Ok(outcome)) => Ok(outcome.lines),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(Error::Persist(format!("spool: {e}"))),
    }
}
