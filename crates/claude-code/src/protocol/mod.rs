//! Wire types of the stream-json control protocol, as the pinned CLI speaks it.
//!
//! Serde types only (no I/O). Field names mirror the wire exactly — the CLI mixes casings
//! (`session_id` next to `permissionMode`), so every field is renamed explicitly where needed.
//! Foreign input is tolerated on purpose: unknown fields are ignored, and every tagged union
//! (message types, content blocks, stream events, permission updates, control subtypes) has an
//! `Unknown(Value)` fallback that keeps the raw JSON. A known tag whose fields fail to decode also
//! lands in `Unknown` (logged at debug level), so drift in the CLI never kills the stream.
//!
//! - [`messages`]: what the CLI writes (`system`, `assistant`, `user`, `stream_event`, `result`,
//!   and the control envelopes).
//! - [`content`]: content blocks (`text`, `thinking`, `tool_use`, `tool_result`, ...).
//! - [`stream`]: the Anthropic streaming events the CLI re-emits with
//!   `--include-partial-messages`.
//! - [`control`]: control requests both ways, permission decisions and permission updates.
//! - [`tool_results`]: typed views of `tool_use_result` payloads (file edits as diffs).

pub mod content;
pub mod control;
pub mod messages;
pub mod stream;
pub mod tool_results;

pub use content::{ContentBlock, UserContent};
pub use control::{
    CanUseToolRequest, ControlRequest, IncomingControlRequest, PermissionDecision,
    PermissionDestination, PermissionMode, PermissionRule, PermissionUpdate,
};
pub use messages::{
    AssistantMessage, OutputMessage, ResultMessage, StreamEventMessage, SystemMessage, Usage,
    UserMessage,
};
pub use stream::{Delta, StreamEvent};

/// Declares an enum over a JSON object tagged by `$tag_key`, one newtype variant per known tag
/// plus `Unknown(Value)`. Deserialisation never fails on a well-formed JSON value: an unknown tag
/// or a known tag whose fields do not decode becomes `Unknown` with the raw object. Serialisation
/// writes the variant's struct with the tag inserted, or the raw value back.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident tagged $tag_key:literal {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) = $tag:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant($ty), )*
            /// A tag this crate does not model, or a known tag whose fields did not decode; raw.
            Unknown(serde_json::Value),
        }

        impl $name {
            /// The wire tag (`None` for an `Unknown` value without one).
            pub fn tag(&self) -> Option<&str> {
                match self {
                    $( $name::$variant(_) => Some($tag), )*
                    $name::Unknown(v) => v.get($tag_key).and_then(serde_json::Value::as_str),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = serde_json::Value::deserialize(d)?;
                let decoded = match value.get($tag_key).and_then(serde_json::Value::as_str) {
                    $(
                        Some($tag) => match <$ty as serde::Deserialize>::deserialize(&value) {
                            Ok(inner) => Some($name::$variant(inner)),
                            Err(error) => {
                                tracing::debug!(
                                    kind = stringify!($name), tag = $tag, %error,
                                    "known tag did not decode; kept as Unknown"
                                );
                                None
                            }
                        },
                    )*
                    _ => None,
                };
                Ok(decoded.unwrap_or($name::Unknown(value)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::Error as _;
                match self {
                    $(
                        $name::$variant(inner) => {
                            let mut value = serde_json::to_value(inner).map_err(S::Error::custom)?;
                            if let Some(object) = value.as_object_mut() {
                                object.insert($tag_key.to_owned(), serde_json::Value::from($tag));
                            }
                            value.serialize(s)
                        }
                    )*
                    $name::Unknown(value) => value.serialize(s),
                }
            }
        }
    };
}
pub(crate) use open_enum;

/// Declares a string enum with known values and an `Unknown(String)` fallback that round-trips.
macro_rules! open_string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not know, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Unknown(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )*
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok($name::from(s.as_ref()))
            }
        }
    };
}
pub(crate) use open_string_enum;

/// Decodes one line the CLI wrote. Errors only when the line is not a JSON object; anything
/// else (including unknown message types) decodes, falling back to `Unknown`.
pub fn decode_line(line: &str) -> Result<OutputMessage, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("not a JSON object".to_owned());
    }
    // Infallible for objects: the open enum falls back to Unknown.
    serde_json::from_value(value).map_err(|e| e.to_string())
}
