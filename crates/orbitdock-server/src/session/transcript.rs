//! The transcript window and how events become items.
//!
//! Items are keyed by `(turn id, item id)`; the first sight of a key assigns the next `seq`, and
//! later updates replace the item under the same `seq` (streamed text the update leaves empty is
//! kept, see [`merge_body`]). The last [`super::RECENT_ITEMS`] items stay in memory for
//! snapshots; older ones are paged from SQLite. Streamed text ([`SessionEvent::ItemText`]) is
//! published as it arrives but persisted with the item's next upsert (its completion, or the end
//! of its turn), which is what keeps a fast-streaming agent cheap to persist.

use orbitdock_protocol::{
    ActionVia, ItemBody, ItemStatus, SessionDelta, SessionStatus, TextStream, TranscriptItem,
    TurnInfo, TurnStatus,
};

use super::actor::Actor;
use super::{RECENT_ITEMS, SessionEvent, now_ms};
use crate::store::PersistOp;

impl Actor {
    /// Applies one neutral event: the single ingest path for direct and passive sessions.
    pub(crate) fn ingest(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::Item {
                turn_id,
                item_id,
                status,
                body,
            } => {
                self.upsert_item(turn_id, item_id, status, body);
            }
            SessionEvent::ItemText {
                turn_id,
                item_id,
                stream,
                delta,
            } => self.item_text(turn_id, item_id, stream, delta),
            SessionEvent::TurnStarted { turn_id } => self.turn_started(turn_id),
            SessionEvent::TurnEnded {
                turn_id,
                status,
                error,
            } => self.turn_ended(turn_id, status, error),
            SessionEvent::TokenUsage(u) => {
                if self.summary.token_usage != u {
                    self.summary.token_usage = u;
                    self.out.summary_dirty = true;
                }
            }
            SessionEvent::Plan(p) => {
                self.extra.plan = Some(p.clone());
                self.out.row_dirty = true;
                self.delta(SessionDelta::Plan { plan: p });
            }
            SessionEvent::Diff(d) => {
                self.extra.diff = Some(d.clone());
                self.out.row_dirty = true;
                self.delta(SessionDelta::Diff { diff: d });
            }
            SessionEvent::Renamed(n) => {
                if self.summary.name != n {
                    self.summary.name = n;
                    self.out.summary_dirty = true;
                }
            }
            SessionEvent::Model(m) => {
                if self.summary.model.as_deref() != Some(m.as_str()) {
                    self.summary.model = Some(m);
                    self.out.summary_dirty = true;
                }
            }
            SessionEvent::Cost(c) => {
                if self.summary.cost_usd != Some(c) {
                    self.summary.cost_usd = Some(c);
                    self.out.summary_dirty = true;
                }
            }
            SessionEvent::ToolUsed(name) => {
                self.summary.tool_count += 1;
                self.summary.last_tool = Some(name);
                self.out.summary_dirty = true;
            }
            SessionEvent::GitBranch(b) => {
                if self.summary.git_branch.as_deref() != Some(b.as_str()) {
                    self.summary.git_branch = Some(b);
                    self.out.summary_dirty = true;
                }
            }
            SessionEvent::AgentHome(h) => {
                if self.extra.agent_home.as_deref() != Some(h.as_str()) {
                    self.extra.agent_home = Some(h);
                    self.out.row_dirty = true;
                }
            }
            SessionEvent::Status(s) => {
                if self.summary.status != s {
                    self.summary.status = s;
                    self.out.summary_dirty = true;
                }
                // A source reporting "working" must not hide a question still waiting for a
                // person; only the end of the session outranks it.
                if !self.pending.is_empty() && s != SessionStatus::Ended {
                    self.set_status();
                }
            }
            SessionEvent::ActivityAt(ms) => {
                if ms != self.summary.updated_at {
                    self.out.summary_dirty = true;
                }
                self.out.activity_at = Some(self.out.activity_at.map_or(ms, |a| a.max(ms)));
            }
            SessionEvent::Notice(m) => self.notice(m),
            SessionEvent::ActionRecord { message, via } => self.notice_via(message, Some(via)),
            SessionEvent::RateLimits(r) => {
                self.extra.rate_limits = Some(r.clone());
                self.out.row_dirty = true;
                self.delta(SessionDelta::RateLimits { rate_limits: r });
            }
            SessionEvent::ApprovalWithdrawn { request_id } => self.withdraw(&request_id),
            SessionEvent::Detached => {
                if self.attached_generation.take().is_some() {
                    self.delta(SessionDelta::Attached { attached: false });
                }
            }
        }
    }

    fn recent_mut(&mut self, seq: u64) -> Option<&mut TranscriptItem> {
        self.recent.iter_mut().rev().find(|i| i.seq == seq)
    }

    /// Inserts or replaces an item; returns its seq.
    pub(crate) fn upsert_item(
        &mut self,
        turn_id: Option<String>,
        item_id: String,
        status: ItemStatus,
        body: ItemBody,
    ) -> u64 {
        let key = (turn_id.clone().unwrap_or_default(), item_id.clone());
        let now = now_ms();
        // A compaction's first sight records how big the context was, so the transcript can
        // say what it freed (the agent's item does not carry it; later updates keep it).
        let body = match body {
            ItemBody::ContextCompaction {
                context_tokens_before: None,
            } if !self.item_seqs.contains_key(&key) => ItemBody::ContextCompaction {
                context_tokens_before: Some(self.summary.token_usage.last_input_tokens)
                    .filter(|t| *t > 0),
            },
            other => other,
        };
        let item = if let Some(&seq) = self.item_seqs.get(&key) {
            let existing = self.recent_mut(seq).cloned();
            let created_at = existing.as_ref().map(|e| e.created_at).unwrap_or(now);
            let body = merge_body(existing.map(|e| e.body), body);
            TranscriptItem {
                seq,
                id: item_id,
                turn_id,
                status,
                created_at,
                updated_at: now,
                body,
            }
        } else {
            self.extra.last_seq += 1;
            self.extra.item_count += 1;
            self.out.row_dirty = true;
            let seq = self.extra.last_seq;
            self.item_seqs.insert(key, seq);
            TranscriptItem {
                seq,
                id: item_id,
                turn_id,
                status,
                created_at: now,
                updated_at: now,
                body,
            }
        };
        let mut item = item;
        self.retain_output(&mut item.body, item.seq, false);
        if let ItemBody::UserMessage { text } = &item.body
            && self.summary.first_prompt.is_none()
            && !text.is_empty()
        {
            self.summary.first_prompt = Some(text.chars().take(500).collect());
            self.out.summary_dirty = true;
        }
        let seq = item.seq;
        match self.recent_mut(seq) {
            Some(slot) => *slot = item.clone(),
            None => {
                self.recent.push_back(item.clone());
                while self.recent.len() > RECENT_ITEMS {
                    if let Some(old) = self.recent.pop_front() {
                        self.item_seqs
                            .remove(&(old.turn_id.unwrap_or_default(), old.id));
                    }
                }
            }
        }
        self.out.ops.push(PersistOp::UpsertItem {
            session_id: self.summary.id.clone(),
            item: Box::new(item.clone()),
        });
        self.delta(SessionDelta::Item { item });
        seq
    }

    /// Shortens a command's output to what the retention limits keep (see
    /// [`crate::retention`]) and keeps the session's count of stored output bytes. `streaming`:
    /// the output is still growing; it is shortened only once well past the limit, so a
    /// command printing in small pieces is not cut again at every piece.
    fn retain_output(&mut self, body: &mut ItemBody, seq: u64, streaming: bool) {
        let ItemBody::CommandExecution { output, .. } = &*body else {
            return;
        };
        let before = self
            .recent
            .iter()
            .rev()
            .find(|i| i.seq == seq)
            .map_or(0, |i| crate::retention::output_len(&i.body)) as u64;
        let limits = self.shared.store.output_limits();
        let used_elsewhere = self.extra.output_bytes.saturating_sub(before);
        let limit = limits.item_limit(used_elsewhere);
        if !streaming || output.len() > limit + limit / 4 {
            crate::retention::clip_output(body, limit);
        }
        if !streaming {
            let now = used_elsewhere + crate::retention::output_len(body) as u64;
            if now != self.extra.output_bytes {
                self.extra.output_bytes = now;
                self.out.row_dirty = true;
            }
        }
    }

    /// Replaces the transcript with the agent's own history (after a revert, or for a fork).
    /// Items get new `seq`s above every one used so far (a `seq` is never reused); clients are
    /// told to drop what they hold, then get the rebuilt items as ordinary item deltas.
    pub(crate) fn rebuild_transcript(&mut self, history: Vec<crate::connector::HistoryTurn>) {
        self.out.ops.push(PersistOp::ResetTranscript {
            session_id: self.summary.id.clone(),
            keep_turns: history.iter().map(|t| t.turn_id.clone()).collect(),
        });
        self.recent.clear();
        self.item_seqs.clear();
        self.extra.item_count = 0;
        self.out.row_dirty = true;
        self.delta(SessionDelta::TranscriptReset {
            last_seq: self.extra.last_seq,
        });
        for turn in history {
            for (item_id, status, body) in turn.items {
                self.upsert_item(Some(turn.turn_id.clone()), item_id, status, body);
            }
        }
    }

    /// A notice from OrbitDock in the transcript.
    pub(crate) fn notice(&mut self, message: impl Into<String>) {
        self.notice_via(message, None);
    }

    /// A notice, attributed to what the action it records came through (`None`: OrbitDock's own).
    pub(crate) fn notice_via(&mut self, message: impl Into<String>, via: Option<ActionVia>) {
        let id = format!("orbitdock-{}", uuid::Uuid::new_v4());
        let turn = self.extra.current_turn.as_ref().map(|t| t.id.clone());
        self.upsert_item(
            turn,
            id,
            ItemStatus::Completed,
            ItemBody::Notice {
                message: message.into(),
                via,
            },
        );
    }

    fn item_text(
        &mut self,
        turn_id: Option<String>,
        item_id: String,
        stream: TextStream,
        delta: String,
    ) {
        let key = (turn_id.clone().unwrap_or_default(), item_id.clone());
        let seq = match self.item_seqs.get(&key) {
            Some(&s) => s,
            None => {
                // A delta before its item's start: create the item so the text has a home.
                let body = match stream {
                    TextStream::Output => ItemBody::CommandExecution {
                        command: String::new(),
                        cwd: None,
                        output: String::new(),
                        exit_code: None,
                        duration_ms: None,
                        output_omitted: None,
                    },
                    TextStream::Reasoning | TextStream::ReasoningSummary => ItemBody::Reasoning {
                        summary: String::new(),
                        text: String::new(),
                    },
                    _ => ItemBody::AgentMessage {
                        text: String::new(),
                    },
                };
                self.upsert_item(
                    turn_id.clone(),
                    item_id.clone(),
                    ItemStatus::InProgress,
                    body,
                )
            }
        };
        if let Some(item) = self.recent_mut(seq) {
            // A finished command's output is authoritative: an output delta that trails it
            // (delivered late) would add bytes the finished output does not have.
            if stream == TextStream::Output && item.status != ItemStatus::InProgress {
                return;
            }
            append_text(&mut item.body, stream, &delta);
            if stream == TextStream::Output {
                let mut body = std::mem::replace(&mut item.body, ItemBody::Unknown);
                self.retain_output(&mut body, seq, true);
                if let Some(item) = self.recent_mut(seq) {
                    item.body = body;
                }
            }
        }
        self.delta(SessionDelta::ItemText {
            seq,
            item_id,
            stream,
            delta,
        });
    }

    pub(crate) fn turn_started(&mut self, turn_id: String) {
        if self.extra.current_turn.as_ref().map(|t| &t.id) == Some(&turn_id)
            || self.ended_turns.contains(&turn_id)
        {
            return;
        }
        if let (Some(review), Some(current)) = (&self.review_turn, &self.extra.current_turn)
            && *review == current.id
        {
            tracing::debug!(session = %self.summary.id, %turn_id, "the review's own turn; kept the review's");
            return;
        }
        let turn = TurnInfo {
            id: turn_id.clone(),
            started_at: now_ms(),
        };
        self.extra.current_turn = Some(turn.clone());
        self.out.row_dirty = true;
        self.out.ops.push(PersistOp::UpsertTurn {
            session_id: self.summary.id.clone(),
            turn_id,
            status: TurnStatus::InProgress,
            started_at: turn.started_at,
            ended_at: None,
            error: None,
        });
        self.delta(SessionDelta::TurnStarted { turn });
        if self.summary.origin == orbitdock_protocol::Origin::Direct {
            self.set_status();
        } else if self.summary.status != SessionStatus::Working {
            self.summary.status = SessionStatus::Working;
            self.out.summary_dirty = true;
        }
    }

    pub(crate) fn turn_ended(
        &mut self,
        turn_id: String,
        status: TurnStatus,
        error: Option<String>,
    ) {
        let started_at = match &self.extra.current_turn {
            Some(t) if t.id == turn_id => t.started_at,
            Some(_) => {
                // The end of an older turn: remember it, keep the current one.
                tracing::debug!(session = %self.summary.id, %turn_id, "end of a turn that is not current");
                self.remember_ended(&turn_id);
                return;
            }
            None => now_ms(),
        };
        self.remember_ended(&turn_id);
        if self.review_turn.as_deref() == Some(turn_id.as_str()) {
            self.review_turn = None;
        }
        self.extra.current_turn = None;
        self.out.row_dirty = true;
        self.withdraw_turn(&turn_id);
        // Items the agent never completed (an interrupt, a failure) hold streamed text that so
        // far lives only in memory: persist them, marked interrupted, so a restart shows the
        // same transcript and no client shows them streaming forever.
        let open: Vec<TranscriptItem> = self
            .recent
            .iter()
            .filter(|i| {
                i.turn_id.as_deref() == Some(turn_id.as_str()) && i.status == ItemStatus::InProgress
            })
            .cloned()
            .collect();
        for item in open {
            self.upsert_item(item.turn_id, item.id, ItemStatus::Interrupted, item.body);
        }
        if let Some(e) = &error {
            let id = format!("turn-error-{turn_id}");
            self.upsert_item(
                Some(turn_id.clone()),
                id,
                ItemStatus::Completed,
                ItemBody::Error { message: e.clone() },
            );
        }
        self.out.ops.push(PersistOp::UpsertTurn {
            session_id: self.summary.id.clone(),
            turn_id: turn_id.clone(),
            status: status.clone(),
            started_at,
            ended_at: Some(now_ms()),
            error: error.clone(),
        });
        self.delta(SessionDelta::TurnEnded {
            turn_id,
            status,
            error,
        });
        if self.summary.origin == orbitdock_protocol::Origin::Direct {
            self.set_status();
        }
    }
}

/// Merges an update into an existing body: streamed text is kept when the update carries none
/// (an item start after deltas, or a completion without aggregated output).
pub(crate) fn merge_body(existing: Option<ItemBody>, new: ItemBody) -> ItemBody {
    match (existing, new) {
        (Some(ItemBody::AgentMessage { text: old }), ItemBody::AgentMessage { text })
            if text.is_empty() =>
        {
            ItemBody::AgentMessage { text: old }
        }
        (
            Some(ItemBody::CommandExecution {
                output: old,
                output_omitted: old_omitted,
                ..
            }),
            ItemBody::CommandExecution {
                command,
                cwd,
                output,
                exit_code,
                duration_ms,
                ..
            },
        ) if output.is_empty() => ItemBody::CommandExecution {
            command,
            cwd,
            output: old,
            exit_code,
            duration_ms,
            output_omitted: old_omitted,
        },
        (
            Some(ItemBody::Reasoning {
                summary: os,
                text: ot,
            }),
            ItemBody::Reasoning { summary, text },
        ) => ItemBody::Reasoning {
            summary: if summary.is_empty() { os } else { summary },
            text: if text.is_empty() { ot } else { text },
        },
        (
            Some(ItemBody::ContextCompaction {
                context_tokens_before: Some(before),
            }),
            ItemBody::ContextCompaction {
                context_tokens_before: None,
            },
        ) => ItemBody::ContextCompaction {
            context_tokens_before: Some(before),
        },
        (_, new) => new,
    }
}

pub(crate) fn append_text(body: &mut ItemBody, stream: TextStream, delta: &str) {
    match (body, stream) {
        (ItemBody::AgentMessage { text }, TextStream::Text)
        | (ItemBody::Plan { text }, TextStream::Text)
        | (ItemBody::Reasoning { text, .. }, TextStream::Reasoning)
        | (ItemBody::Reasoning { summary: text, .. }, TextStream::ReasoningSummary)
        | (ItemBody::CommandExecution { output: text, .. }, TextStream::Output) => {
            text.push_str(delta)
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_streamed_text() {
        let merged = merge_body(
            Some(ItemBody::AgentMessage {
                text: "hello".into(),
            }),
            ItemBody::AgentMessage {
                text: String::new(),
            },
        );
        assert_eq!(
            merged,
            ItemBody::AgentMessage {
                text: "hello".into()
            }
        );
        let mut b = ItemBody::CommandExecution {
            command: "ls".into(),
            cwd: None,
            output: "a".into(),
            exit_code: None,
            duration_ms: None,
            output_omitted: None,
        };
        append_text(&mut b, TextStream::Output, "b");
        assert!(matches!(b, ItemBody::CommandExecution { ref output, .. } if output == "ab"));
    }
}
