//! Bodies of the notification surfaces: Web Push subscriptions (one per browser/phone, with the
//! kinds it wants and its quiet hours), the push payload the service worker reads, and the
//! approval action a notification button posts.
//!
//! The push payload is deliberately small and carries no secret of the hub: the session's
//! display name, what is needed, and a deep link. An approval notification also carries a
//! one-use action token that can answer exactly that approval, once, for a few minutes; never
//! the API token.

use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// What a notification is about; each kind can be switched off per device.
    pub enum NoticeKind {
        /// A command / file-change / permission approval is waiting.
        Approval = "approval",
        /// The agent asked a question.
        Question = "question",
        /// A turn completed.
        TurnCompleted = "turn_completed",
        /// A turn failed.
        TurnFailed = "turn_failed",
        /// The session ended.
        SessionEnded = "session_ended",
    }
}

/// The keys of a browser's push subscription (`PushSubscription.toJSON().keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushKeys {
    /// The browser's P-256 public key (uncompressed point, base64url).
    pub p256dh: String,
    /// The 16-byte authentication secret (base64url).
    pub auth: String,
}

/// A browser's push subscription as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSubscription {
    /// The push service URL to POST to.
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

/// Quiet hours in the device's local time: nothing is pushed from `start` (inclusive) to `end`
/// (exclusive), minutes after local midnight; `start > end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// Start, minutes after midnight (0..1440).
    pub start_minute: u16,
    /// End, minutes after midnight (0..1440).
    pub end_minute: u16,
    /// The device's offset from UTC in minutes (east positive: UTC+2 is 120).
    #[serde(default)]
    pub utc_offset_minutes: i16,
}

impl QuietHours {
    /// Whether `utc_minute_of_day` (0..1440, UTC) falls in the quiet period.
    pub fn contains(&self, utc_minute_of_day: u16) -> bool {
        let local =
            (i32::from(utc_minute_of_day) + i32::from(self.utc_offset_minutes)).rem_euclid(1440);
        let (s, e) = (i32::from(self.start_minute), i32::from(self.end_minute));
        if s == e {
            false
        } else if s < e {
            local >= s && local < e
        } else {
            local >= s || local < e
        }
    }
}

/// `POST /api/push/subscriptions`: registers (or updates, by endpoint) a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeRequest {
    /// A name the person recognises ("Pixel 8", "work laptop").
    pub name: String,
    /// The browser's subscription.
    pub subscription: BrowserSubscription,
    /// Kinds to send; `None`: all.
    #[serde(default)]
    pub kinds: Option<Vec<NoticeKind>>,
    /// Quiet hours; `None`: none.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

/// `POST /api/push/subscriptions/{id}`: changes a device's settings (absent fields stay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushSettingsPatch {
    /// New name.
    pub name: Option<String>,
    /// New kinds.
    pub kinds: Option<Vec<NoticeKind>>,
    /// New quiet hours (`Some(None)` clears them).
    #[serde(with = "double_option")]
    pub quiet_hours: Option<Option<QuietHours>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A registered device as the API shows it (no keys: those stay on the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevice {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The push service's origin (`https://fcm.googleapis.com`), to tell devices apart.
    pub service: String,
    /// Kinds it gets.
    pub kinds: Vec<NoticeKind>,
    /// Its quiet hours.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Registered (Unix ms).
    pub created_at: i64,
    /// How its pushes went (the fields sit beside the others on the wire).
    #[serde(flatten)]
    pub delivery: DeliveryRecord,
}

/// How deliveries to a notification target (a device, a channel) went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Last delivery accepted (Unix ms).
    #[serde(default)]
    pub last_success_at: Option<i64>,
    /// Deliveries refused or failed (after their retries) since the last success.
    #[serde(default)]
    pub failure_count: u32,
    /// Why the last delivery failed.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// `GET /api/push/subscriptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevicesResponse {
    /// The devices, oldest first.
    pub devices: Vec<PushDevice>,
    /// The VAPID public key (uncompressed P-256 point, base64url) a browser subscribes with as
    /// `applicationServerKey`.
    pub public_key: String,
}

/// What a push carries (JSON, encrypted to the device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPayload {
    /// What it is about.
    pub kind: NoticeKind,
    /// The session.
    pub session_id: String,
    /// Notification title: the session's display name.
    pub title: String,
    /// What is needed, one line, without the command or file contents.
    pub body: String,
    /// Where a click leads (a path of the UI: `/#/s/ID`).
    pub url: String,
    /// A tag so a newer notification about the same thing replaces the older one.
    pub tag: String,
    /// For approvals: what the action buttons answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ApprovalAction>,
}

/// What an approval notification's buttons need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalAction {
    /// The request being asked about.
    pub request_id: String,
    /// A one-use token valid for this approval only, for a few minutes.
    pub token: String,
    /// Until when it is valid (Unix ms).
    pub expires_at: i64,
}

crate::string_enum! {
    /// The answers a notification button can give.
    pub enum ActionDecision {
        /// Allow this once.
        Accept = "accept",
        /// Refuse; the agent continues without it.
        Decline = "decline",
    }
}

/// `POST /api/approval-actions`: answers an approval with a notification's one-use token (no
/// API token needed; the token is the credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalActionRequest {
    /// The token from the push.
    pub token: String,
    /// The answer.
    pub decision: ActionDecision,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_wrap_midnight_and_use_the_offset() {
        let q = QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
            utc_offset_minutes: 120,
        };
        // 21:00 UTC is 23:00 local: quiet.
        assert!(q.contains(21 * 60));
        // 05:30 UTC is 07:30 local: not quiet.
        assert!(!q.contains(5 * 60 + 30));
        // 04:59 UTC is 06:59 local: quiet.
        assert!(q.contains(4 * 60 + 59));
        let day = QuietHours {
            start_minute: 600,
            end_minute: 660,
            utc_offset_minutes: 0,
        };
        assert!(day.contains(600) && !day.contains(660) && !day.contains(599));
        assert!(
            !QuietHours {
                start_minute: 5,
                end_minute: 5,
                utc_offset_minutes: 0
            }
            .contains(5)
        );
    }

    #[test]
    fn the_delivery_record_sits_beside_the_targets_fields_on_the_wire() {
        let wire = r#"{"id":"c1","kind":"ntfy","name":"n","url":"http://x","kinds":["approval"],
                       "created_at":5,"last_success_at":7,"failure_count":2,"last_error":"500"}"#;
        let c: NotifyChannel = serde_json::from_str(wire).unwrap();
        assert_eq!(
            c.delivery,
            DeliveryRecord {
                last_success_at: Some(7),
                failure_count: 2,
                last_error: Some("500".into())
            }
        );
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(wire).unwrap()
        );
        // A target nothing was delivered to yet may leave the record out.
        let d: PushDevice = serde_json::from_str(
            r#"{"id":"d","name":"p","service":"https://s","kinds":[],"created_at":1}"#,
        )
        .unwrap();
        assert_eq!(d.delivery, DeliveryRecord::default());
    }

    #[test]
    fn settings_patch_tells_clear_from_absent() {
        let p: PushSettingsPatch = serde_json::from_str(r#"{"quiet_hours": null}"#).unwrap();
        assert_eq!(p.quiet_hours, Some(None));
        let p: PushSettingsPatch = serde_json::from_str(r#"{"name": "x"}"#).unwrap();
        assert_eq!(p.quiet_hours, None);
        let k: Vec<NoticeKind> = serde_json::from_str(r#"["approval","later_kind"]"#).unwrap();
        assert_eq!(
            k,
            vec![
                NoticeKind::Approval,
                NoticeKind::Unknown("later_kind".into())
            ]
        );
    }
}

crate::string_enum! {
    /// A notification channel for people without Web Push.
    pub enum ChannelKind {
        /// A generic webhook: the [`PushPayload`] (without an action) as a JSON POST.
        Webhook = "webhook",
        /// An ntfy-style topic URL: the body as the message, the title in a `Title` header.
        Ntfy = "ntfy",
    }
}

/// `POST /api/notify/channels`: adds a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddChannelRequest {
    /// Which kind.
    pub kind: ChannelKind,
    /// A name the person recognises.
    pub name: String,
    /// Where to POST (`https://`, or `http://` to a loopback address).
    pub url: String,
    /// Kinds to send; `None`: all.
    #[serde(default)]
    pub kinds: Option<Vec<NoticeKind>>,
}

/// A configured channel with its delivery record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyChannel {
    /// Its id.
    pub id: String,
    /// Which kind.
    pub kind: ChannelKind,
    /// Its name.
    pub name: String,
    /// Where it posts.
    pub url: String,
    /// Kinds it gets.
    pub kinds: Vec<NoticeKind>,
    /// Added (Unix ms).
    pub created_at: i64,
    /// How its deliveries went (the fields sit beside the others on the wire).
    #[serde(flatten)]
    pub delivery: DeliveryRecord,
}

/// `GET /api/notify/channels`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyChannelsResponse {
    /// The channels, oldest first.
    pub channels: Vec<NotifyChannel>,
}
