//! Which wire field names does a `#[derive(Deserialize)]` struct read?
//!
//! Used by the drift check: every field our params and response types mention must still exist
//! in the schema the pinned binary generates. Instead of a hand-kept list that could rot, we ask
//! serde: a derived struct deserializer calls `deserialize_struct(name, FIELDS, ..)` with the
//! exact (renamed) wire names, so a tiny deserializer that records `FIELDS` and stops is enough.

use serde::de::{self, Deserialize, Visitor};

use super::{notifications, requests, server_requests, thread};

/// Nested wire structs (not params or results themselves) whose fields the drift check also
/// verifies: (name in the generated schema, our type's wire field names).
pub const NESTED_TYPES: &[(&str, FieldsFn)] = &[
    ("Thread", struct_fields::<thread::Thread>),
    ("Turn", struct_fields::<thread::Turn>),
    ("TurnError", struct_fields::<thread::TurnError>),
    (
        "ThreadTokenUsage",
        struct_fields::<thread::ThreadTokenUsage>,
    ),
    (
        "TokenUsageBreakdown",
        struct_fields::<thread::TokenUsageBreakdown>,
    ),
    (
        "RateLimitSnapshot",
        struct_fields::<thread::RateLimitSnapshot>,
    ),
    ("RateLimitWindow", struct_fields::<thread::RateLimitWindow>),
    (
        "FileUpdateChange",
        struct_fields::<super::items::FileUpdateChange>,
    ),
    ("ClientInfo", struct_fields::<requests::ClientInfo>),
    (
        "InitializeCapabilities",
        struct_fields::<requests::InitializeCapabilities>,
    ),
    ("Model", struct_fields::<requests::Model>),
    (
        "McpServerStatus",
        struct_fields::<requests::McpServerStatus>,
    ),
    ("TurnPlanStep", struct_fields::<notifications::TurnPlanStep>),
    (
        "ToolRequestUserInputQuestion",
        struct_fields::<server_requests::UserInputQuestion>,
    ),
];

/// The wire names of the fields `T` reads, or `None` when `T` is not a plain derived struct
/// (e.g. a tagged enum, or a struct with `#[serde(flatten)]`).
pub fn struct_fields<'de, T: Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let mut probe = FieldProbe { fields: None };
    // The probe always ends deserialisation with an error; only the recorded names matter.
    let _ = T::deserialize(&mut probe);
    probe.fields
}

/// Returns the field names of a wire struct, for the tables below.
pub type FieldsFn = fn() -> Option<&'static [&'static str]>;

struct FieldProbe {
    fields: Option<&'static [&'static str]>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe stop")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_msg: M) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for &mut FieldProbe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.fields = Some(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_server::requests::{EmptyResponse, ThreadStartParams, TurnInterruptParams};

    #[test]
    fn reads_renamed_field_names_of_a_derived_struct() {
        assert_eq!(
            struct_fields::<TurnInterruptParams>(),
            Some(&["threadId", "turnId"][..])
        );
        assert!(
            struct_fields::<ThreadStartParams>()
                .is_some_and(|f| f.contains(&"developerInstructions"))
        );
        assert_eq!(struct_fields::<EmptyResponse>(), Some(&[][..]));
    }

    #[test]
    fn non_structs_give_no_fields() {
        assert_eq!(struct_fields::<String>(), None);
        assert_eq!(struct_fields::<serde_json::Value>(), None);
    }
}
