//! Delivery to the channels for people without Web Push: a generic webhook (the payload as JSON)
//! and ntfy-style topic URLs (the body as the message; title, tags and priority as headers, the
//! way ntfy reads them). Each delivery is retried with exponential backoff while the failure
//! may pass (network errors, 5xx, 408, 429); a refusal that will not (another 4xx) stops at once.
//! Only the final outcome is recorded on the channel.

use std::time::Duration;

use orbitdock_protocol::notify::{ChannelKind, NoticeKind, PushPayload};

use crate::store::channels::ChannelRow;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_delay: Duration::from_secs(1),
        }
    }
}

enum Failure {
    /// Worth another attempt.
    Transient(String),
    /// Will fail the same way again.
    Permanent(String),
}

async fn send_once(
    http: &reqwest::Client,
    channel: &ChannelRow,
    payload: &PushPayload,
) -> Result<(), Failure> {
    let req = match &channel.kind {
        ChannelKind::Webhook => http.post(&channel.url).json(payload),
        ChannelKind::Ntfy => {
            let urgent = matches!(payload.kind, NoticeKind::Approval | NoticeKind::Question);
            http.post(&channel.url)
                // ntfy reads header values as Latin-1; a title outside it is sent as RFC 2047.
                .header("Title", header_text(&payload.title))
                .header("Tags", payload.kind.as_str())
                .header("Priority", if urgent { "high" } else { "default" })
                .body(payload.body.clone())
        }
        ChannelKind::Unknown(k) => {
            return Err(Failure::Permanent(format!("unknown channel kind {k:?}")));
        }
    };
    let resp = req
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("cannot reach {}: {e}", channel.url)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let message = format!("answered {status}: {}", text.trim());
    let transient = status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    Err(if transient {
        Failure::Transient(message)
    } else {
        Failure::Permanent(message)
    })
}

/// A header value ntfy can read: ASCII as is, anything else as an RFC 2047 encoded word.
fn header_text(s: &str) -> String {
    use base64::Engine;
    if s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        s.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }
}

/// Delivers `payload` to `channel`, retrying per `retry`; the final error says how many
/// attempts were made.
pub async fn deliver(
    http: &reqwest::Client,
    channel: &ChannelRow,
    payload: &PushPayload,
    retry: Retry,
) -> Result<(), String> {
    let attempts = retry.attempts.max(1);
    let mut delay = retry.first_delay;
    let mut last = String::new();
    for attempt in 1..=attempts {
        match send_once(http, channel, payload).await {
            Ok(()) => return Ok(()),
            Err(Failure::Permanent(e)) => return Err(e),
            Err(Failure::Transient(e)) => {
                tracing::debug!(channel = %channel.name, attempt, error = %e, "channel delivery failed");
                last = e;
            }
        }
        if attempt < attempts {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    Err(format!("{last} (after {attempts} attempts)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_outside_ascii_are_encoded_words() {
        assert_eq!(header_text("Fix the build"), "Fix the build");
        assert_eq!(header_text("Café"), "=?UTF-8?B?Q2Fmw6k=?=");
    }
}
