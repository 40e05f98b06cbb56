//! How much command output the hub keeps, and how it shortens what is longer.
//!
//! A command that prints megabytes (a build log, `cat` of a data file) would otherwise be
//! stored whole, in the database and in every session snapshot, for as long as the session is
//! kept; a history of a year holds thousands of them. The agent keeps its own record anyway
//! (Codex's rollout file, Claude's transcript), so the hub keeps the start and the end of a long
//! output, which is what a person reads, notes how much it left out
//! ([`OmittedOutput`]), and reads the whole output back from the agent's record on request
//! (`GET /api/sessions/{id}/items/{seq}/output`, see [`crate::full_output`]).
//!
//! Three limits, all set for the whole server ([`OutputLimits`], `orbitdock serve
//! --max-item-output-kib / --max-session-output-mib / --max-total-output-mib`): at most
//! [`OutputLimits::per_item`] bytes of one output (half from its start, half from its end), at
//! most [`OutputLimits::per_session`] bytes of command output in one session (once a session
//! has used its budget, each further output keeps [`AFTER_BUDGET`] bytes: its first and last
//! lines are still worth seeing), and at most [`OutputLimits::total`] bytes across all sessions.
//! The first two are applied as output arrives; the total cannot be (a new output must not be
//! cut because old sessions are large), so maintenance (see [`crate::maintenance`]) brings the
//! total back under it by cutting the outputs of the oldest sessions to [`AFTER_BUDGET`] each,
//! oldest first: old sessions lose their middles before recent ones lose anything.
//! Output is shortened in the session actor, before the item is published or stored, so the
//! live view, the database and a restart all show the same thing; streamed output is shortened
//! as it grows, so a command printing without end does not grow the actor's memory either.

use orbitdock_protocol::{ItemBody, OmittedOutput};

/// What one output keeps once its session used its budget (when less than the item limit).
pub const AFTER_BUDGET: usize = 4 * 1024;

/// The server's limits for stored command output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Most bytes kept of one command's output (half from its start, half from its end).
    pub per_item: usize,
    /// Most bytes of command output kept in one session.
    pub per_session: u64,
    /// Most bytes of command output kept across all sessions (enforced by maintenance).
    pub total: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            per_item: 256 * 1024,
            per_session: 16 * 1024 * 1024,
            total: 1024 * 1024 * 1024,
        }
    }
}

impl OutputLimits {
    /// The limit for one output of a session whose other outputs keep `used` bytes.
    pub fn item_limit(&self, used: u64) -> usize {
        let left = usize::try_from(self.per_session.saturating_sub(used)).unwrap_or(usize::MAX);
        self.per_item.min(left.max(AFTER_BUDGET))
    }
}

/// An output read from a rollout by the history import, which keeps the first 16 KiB of a
/// long output followed by `… [N bytes cut]`: the marker becomes an [`OmittedOutput`] (all
/// start, no end), so the transcript says what is missing and "Show full output" reads the
/// rest back from the rollout, exactly as for outputs the hub shortened itself.
pub fn imported_output(output: String) -> (String, Option<OmittedOutput>) {
    let parsed = output
        .strip_suffix(" bytes cut]")
        .and_then(|rest| rest.rsplit_once("… ["))
        .and_then(|(head, n)| Some((head.len(), n.parse::<u64>().ok()?)));
    match parsed {
        Some((head_len, omitted)) if omitted > 0 => {
            let mut head = output;
            head.truncate(head_len);
            let omitted = OmittedOutput {
                head_bytes: head_len as u64,
                omitted_bytes: omitted,
            };
            (head, Some(omitted))
        }
        _ => (output, None),
    }
}

/// The stored length of a body's command output (0 for other items).
pub fn output_len(body: &ItemBody) -> usize {
    match body {
        ItemBody::CommandExecution { output, .. } => output.len(),
        _ => 0,
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Shortens a command's output to at most `limit` bytes (give or take a character), keeping
/// its start and its end and recording what was left out; other bodies and outputs within the
/// limit are left alone. Returns whether the body changed.
///
/// An output shortened before (it kept growing while streaming, or a limit shrank) keeps its
/// start as it was and its newest end; the bytes in between add to what was left out.
pub fn clip_output(body: &mut ItemBody, limit: usize) -> bool {
    let ItemBody::CommandExecution {
        output,
        output_omitted,
        ..
    } = body
    else {
        return false;
    };
    if output.len() <= limit {
        return false;
    }
    let half = limit / 2;
    let (head_region, omitted_before) = match output_omitted {
        Some(o) if o.omitted_bytes > 0 => (
            floor_boundary(output, usize::try_from(o.head_bytes).unwrap_or(usize::MAX)),
            o.omitted_bytes,
        ),
        // Never shortened: start and end are one piece.
        _ => (output.len(), 0),
    };
    let head = floor_boundary(output, head_region.min(half));
    let tail_keep = limit - head;
    let tail_floor = if omitted_before > 0 {
        head_region
    } else {
        head
    };
    let tail_start = ceil_boundary(output, output.len().saturating_sub(tail_keep)).max(tail_floor);
    let dropped = (tail_start - head) as u64;
    let mut kept = String::with_capacity(head + output.len() - tail_start);
    kept.push_str(&output[..head]);
    kept.push_str(&output[tail_start..]);
    *output = kept;
    *output_omitted = Some(OmittedOutput {
        head_bytes: head as u64,
        omitted_bytes: omitted_before + dropped,
    });
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cmd(output: &str) -> ItemBody {
        ItemBody::CommandExecution {
            command: "x".into(),
            cwd: None,
            output: output.into(),
            exit_code: None,
            duration_ms: None,
            output_omitted: None,
        }
    }

    fn parts(b: &ItemBody) -> (String, Option<OmittedOutput>) {
        match b {
            ItemBody::CommandExecution {
                output,
                output_omitted,
                ..
            } => (output.clone(), *output_omitted),
            _ => unreachable!(),
        }
    }

    #[test]
    fn keeps_start_and_end_and_counts_the_middle() {
        let full: String = (0..1000).map(|i| format!("{i:04}\n")).collect();
        let mut b = cmd(&full);
        assert!(clip_output(&mut b, 100));
        let (out, om) = parts(&b);
        let om = om.unwrap();
        assert_eq!(out.len(), 100);
        assert_eq!(om.head_bytes, 50);
        assert_eq!(om.omitted_bytes as usize, full.len() - 100);
        assert!(full.starts_with(&out[..50]) && full.ends_with(&out[50..]));
        // Within the limit: untouched.
        assert!(!clip_output(&mut b, 100));
        let mut short = cmd("ok\n");
        assert!(!clip_output(&mut short, 100));
        assert_eq!(parts(&short).1, None);
    }

    #[test]
    fn growing_output_keeps_its_start_and_newest_end() {
        let mut b = cmd(&"a".repeat(300));
        clip_output(&mut b, 100);
        if let ItemBody::CommandExecution { output, .. } = &mut b {
            output.push_str(&"b".repeat(80));
        }
        assert!(clip_output(&mut b, 100));
        let (out, om) = parts(&b);
        assert_eq!(out, format!("{}{}", "a".repeat(50), "b".repeat(50)));
        // 380 real bytes, 100 kept.
        assert_eq!(
            om,
            Some(OmittedOutput {
                head_bytes: 50,
                omitted_bytes: 280
            })
        );
        // A tail shorter than what the limit allows never reaches back into the head.
        let mut b = cmd(&"a".repeat(300));
        clip_output(&mut b, 100);
        assert!(clip_output(&mut b, 60));
        let (out, om) = parts(&b);
        assert_eq!(out.len(), 60);
        assert_eq!(om.unwrap().head_bytes, 30);
        assert_eq!(om.unwrap().omitted_bytes, 240);
    }

    #[test]
    fn an_imported_cut_becomes_an_omission() {
        let (out, om) = imported_output(format!("{}… [300 bytes cut]", "x".repeat(10)));
        assert_eq!(out, "x".repeat(10));
        assert_eq!(
            om,
            Some(OmittedOutput {
                head_bytes: 10,
                omitted_bytes: 300
            })
        );
        for whole in ["ok\n", "… [x bytes cut]", "a … [0 bytes cut]", ""] {
            assert_eq!(imported_output(whole.into()), (whole.to_owned(), None));
        }
        // A head-only output cut further keeps a shorter start and no end.
        let mut b = cmd("");
        if let ItemBody::CommandExecution {
            output,
            output_omitted,
            ..
        } = &mut b
        {
            (*output, *output_omitted) =
                imported_output(format!("{}… [50 bytes cut]", "y".repeat(200)));
        }
        assert!(clip_output(&mut b, 100));
        let (out, om) = parts(&b);
        assert_eq!(out, "y".repeat(50));
        assert_eq!(
            om,
            Some(OmittedOutput {
                head_bytes: 50,
                omitted_bytes: 200
            })
        );
    }

    #[test]
    fn cuts_on_character_boundaries() {
        let mut b = cmd(&"é".repeat(500));
        clip_output(&mut b, 101);
        let (out, om) = parts(&b);
        assert!(out.chars().all(|c| c == 'é'));
        let om = om.unwrap();
        assert_eq!(out.len() as u64 + om.omitted_bytes, 1000);
    }

    #[test]
    fn a_spent_session_budget_still_keeps_some_of_each_output() {
        let l = OutputLimits {
            per_item: 1000,
            per_session: 10_000,
            ..OutputLimits::default()
        };
        assert_eq!(l.item_limit(0), 1000);
        assert_eq!(l.item_limit(9_500), 1000.min(AFTER_BUDGET.max(500)));
        assert_eq!(l.item_limit(50_000), 1000.min(AFTER_BUDGET));
        let big = OutputLimits {
            per_item: 1 << 20,
            per_session: 1 << 22,
            ..OutputLimits::default()
        };
        assert_eq!(big.item_limit((1 << 22) - 10), AFTER_BUDGET);
    }
}
