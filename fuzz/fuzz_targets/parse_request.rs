//! Fuzz the session protocol's request parser (`codexpc::daemon::protocol::parse_request`), the
//! exact function the socket server runs on every line. Properties: never panics; an error
//! always renders to a valid envelope-carrying `error` message; an accepted request echoes a
//! non-empty req_id.
//!
//! Run (bounded): `cd fuzz && cargo +nightly fuzz run parse_request -- -max_total_time=60`
#![no_main]

use codexpc::daemon::protocol::{error_message, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(env) => assert!(!env.req_id.is_empty()),
        Err(e) => {
            let line = error_message(e.req_id.as_deref(), e.code, &e.message);
            let v: serde_json::Value = serde_json::from_str(&line).expect("error message is JSON");
            assert_eq!(v["type"], "error");
            assert_eq!(v["proto_version"], 1);
        }
    }
});
