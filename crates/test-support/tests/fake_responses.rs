//! Self-tests of `FakeResponses` over a raw loopback HTTP/1.1 connection: the exact SSE framing
//! and event order, recording of every request (including 404s and malformed bodies), the empty
//! queue answer, waits (sync, async on a current-thread runtime, timeouts) and disconnect
//! detection for hanging streams.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{FakeResponses, ScriptedResponse};

const T: Duration = Duration::from_secs(10);

/// Sends one request with `Connection: close` and returns (status, content-type, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(T)).expect("read timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Test: yes\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body split");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, content_type, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// Parses SSE text into (event name, data JSON) pairs, checking each frame's shape.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut lines = frame.lines();
            let event = lines
                .next()
                .and_then(|l| l.strip_prefix("event: "))
                .expect("event line");
            let data = lines
                .next()
                .and_then(|l| l.strip_prefix("data: "))
                .expect("data line");
            assert_eq!(
                lines.next(),
                None,
                "one event and one data line per frame: {frame}"
            );
            let data: Value = serde_json::from_str(data).expect("data is JSON");
            assert_eq!(data["type"], event, "event name matches data.type");
            (event.to_owned(), data)
        })
        .collect()
}

#[test]
fn streams_items_in_responses_api_order() {
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new()
            .reasoning_with_summary(&["plan"], &["raw ", "thought"])
            .text_deltas(&["Hel", "lo"])
            .function_call("lookup", json!({"q": "x"}), "call_1")
            .usage(100, 40, 20, 7),
    );
    let (status, ct, body) = http(fake.addr(), "POST", "/v1/responses", r#"{"input":[]}"#);
    assert_eq!(status, 200);
    assert_eq!(ct, "text/event-stream");
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let id = events[0].1["response"]["id"]
        .as_str()
        .expect("response.id")
        .to_owned();
    // Reasoning item.
    let rs = &events[9].1;
    assert_eq!(rs["output_index"], 0);
    assert_eq!(rs["item"]["type"], "reasoning");
    assert_eq!(
        rs["item"]["summary"],
        json!([{ "type": "summary_text", "text": "plan" }])
    );
    assert_eq!(
        rs["item"]["content"],
        json!([{ "type": "reasoning_text", "text": "raw thought" }])
    );
    assert_eq!(events[7].1["delta"], "thought");
    assert_eq!(events[7].1["content_index"], 0);
    assert_eq!(events[7].1["item_id"], rs["item"]["id"]);
    // Message item.
    let msg = &events[16].1;
    assert_eq!(msg["output_index"], 1);
    assert_eq!(
        msg["item"]["content"],
        json!([{ "type": "output_text", "text": "Hello", "annotations": [] }])
    );
    assert_eq!(msg["item"]["role"], "assistant");
    for delta in &events[12..14] {
        assert_eq!(delta.1["item_id"], msg["item"]["id"]);
        assert_eq!(delta.1["output_index"], 1);
        assert_eq!(delta.1["content_index"], 0);
    }
    // Function call: arguments travel as a JSON string.
    let fc = &events[18].1["item"];
    assert_eq!(events[18].1["output_index"], 2);
    assert_eq!(fc["type"], "function_call");
    assert_eq!(fc["name"], "lookup");
    assert_eq!(fc["call_id"], "call_1");
    assert_eq!(fc["arguments"], r#"{"q":"x"}"#);
    // Completion with usage.
    let done = &events[19].1["response"];
    assert_eq!(done["id"], id);
    assert_eq!(
        done["usage"],
        json!({
            "input_tokens": 100, "input_tokens_details": { "cached_tokens": 40 },
            "output_tokens": 20, "output_tokens_details": { "reasoning_tokens": 7 },
            "total_tokens": 120,
        })
    );
}

#[test]
fn records_every_request_and_answers_unknown_paths_with_404() {
    let fake = FakeResponses::start();
    let (status, _, body) = http(fake.addr(), "GET", "/v1/models", "");
    assert_eq!(status, 200);
    let models: Value = serde_json::from_str(&body).expect("models JSON");
    assert_eq!(models["data"][0]["id"], "gpt-oss-20b");

    let (status, _, body) = http(fake.addr(), "POST", "/v1/chat/completions", r#"{"a":1}"#);
    assert_eq!(status, 404);
    let err: Value = serde_json::from_str(&body).expect("404 body is JSON");
    assert_eq!(
        err["error"]["message"],
        "fake-responses: no route for POST /v1/chat/completions (recorded)"
    );

    // A malformed body is kept as text, not dropped.
    let (status, _, _) = http(fake.addr(), "POST", "/v1/responses", "{not json");
    assert_eq!(status, 200);

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(reqs[0].body, Value::Null);
    assert_eq!(reqs[1].body, json!({"a": 1}));
    assert_eq!(reqs[1].header("x-test"), Some("yes"));
    assert_eq!(reqs[2].body, Value::String("{not json".into()));
    assert!(reqs[2].input().is_empty());
    assert_eq!(fake.responses_requests().len(), 1);
}

#[test]
fn empty_queue_answers_a_visible_text_message() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("first"));
    let (_, _, first) = http(fake.addr(), "POST", "/v1/responses", "{}");
    let (status, _, second) = http(fake.addr(), "POST", "/v1/responses", "{}");
    assert_eq!(status, 200);
    let text_of = |body: &str| {
        sse_events(body)
            .into_iter()
            .find(|(n, _)| n == "response.output_item.done")
            .map(|(_, d)| d["item"]["content"][0]["text"].clone())
    };
    assert_eq!(text_of(&first), Some(json!("first")));
    assert_eq!(text_of(&second), Some(json!(FakeResponses::NO_SCRIPT_LEFT)));
    assert!(
        sse_events(&second)
            .iter()
            .any(|(n, _)| n == "response.completed")
    );
    assert_eq!(fake.unscripted_requests(), 1);
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn failed_and_http_error_and_raw_events() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().failed("server_error", "boom"));
    fake.enqueue(ScriptedResponse::http_error(
        429,
        json!({"error": {"message": "slow down"}}),
    ));
    fake.enqueue(
        ScriptedResponse::new().raw_event(json!({"type": "response.something_new", "x": 1})),
    );

    let (_, _, body) = http(fake.addr(), "POST", "/v1/responses", "{}");
    let events = sse_events(&body);
    let last = &events.last().expect("events").1;
    assert_eq!(last["type"], "response.failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code": "server_error", "message": "boom"})
    );
    assert!(!events.iter().any(|(n, _)| n == "response.completed"));

    let (status, ct, body) = http(fake.addr(), "POST", "/v1/responses", "{}");
    assert_eq!((status, ct.as_str()), (429, "application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"error": {"message": "slow down"}})
    );

    let (_, _, body) = http(fake.addr(), "POST", "/v1/responses", "{}");
    let names: Vec<String> = sse_events(&body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.something_new",
            "response.completed"
        ]
    );
}

#[test]
fn end_without_completed_truncates_the_stream() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("cut").end_without_completed());
    let (status, _, body) = http(fake.addr(), "POST", "/v1/responses", "{}");
    assert_eq!(status, 200);
    let events = sse_events(&body);
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("response.output_item.done")
    );
    assert!(
        !events
            .iter()
            .any(|(n, _)| n == "response.completed" || n == "response.failed")
    );
    // Ending on purpose is not a client disconnect.
    assert_eq!(fake.disconnects(), 0);
}

#[test]
fn delay_between_events_spaces_the_stream() {
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new()
            .text_deltas(&["a", "b"])
            .delay_between_events(Duration::from_millis(30)),
    );
    let start = Instant::now();
    let (_, _, body) = http(fake.addr(), "POST", "/v1/responses", "{}");
    let n = sse_events(&body).len();
    // created + added + part.added + 2 deltas + text.done + part.done + item.done + completed
    assert_eq!(n, 9);
    // Eight gaps of 30 ms: a lower bound only (the stream cannot be faster than its delays).
    assert!(
        start.elapsed() >= Duration::from_millis(8 * 30),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn send_time_placeholders_carry_the_time_each_event_was_written() {
    let now_us = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or_default()
    };
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new()
            .text_deltas(&[ScriptedResponse::SEND_TIME, ScriptedResponse::SEND_TIME])
            .delay_between_events(Duration::from_millis(20)),
    );
    let before = now_us();
    let (_, _, body) = http(fake.addr(), "POST", "/v1/responses", "{}");
    let after = now_us();
    let stamps: Vec<u64> = sse_events(&body)
        .iter()
        .filter(|(e, _)| e == "response.output_text.delta")
        .map(|(_, v)| {
            v["delta"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .expect("a stamp")
        })
        .collect();
    assert_eq!(stamps.len(), 2, "{body}");
    assert!(
        before <= stamps[0] && stamps[0] < stamps[1] && stamps[1] <= after,
        "{stamps:?}"
    );
    // The second delta was written a delay after the first.
    assert!(stamps[1] - stamps[0] >= 20_000, "{stamps:?}");
    assert!(!body.contains(ScriptedResponse::SEND_TIME), "{body}");
}

#[test]
fn hang_after_created_holds_the_stream_until_the_client_leaves() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let mut s = TcpStream::connect(fake.addr()).expect("connect");
    s.set_read_timeout(Some(T)).expect("read timeout");
    write!(
        s,
        "POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .expect("write");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    // Read until the response.created data line arrives.
    let created = loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "stream ended early"
        );
        if let Some(pos) = line.find("data: ") {
            break serde_json::from_str::<Value>(line[pos + 6..].trim()).expect("created JSON");
        }
    };
    assert_eq!(created["type"], "response.created");
    // The stream stays open: the next bytes are keep-alive comments, never an event.
    for _ in 0..3 {
        line.clear();
        reader.read_line(&mut line).expect("read");
        assert!(
            !line.contains("event:"),
            "unexpected event while hanging: {line}"
        );
    }
    assert_eq!(fake.disconnects(), 0);
    drop(reader);
    drop(s);
    fake.wait_for_disconnects(1, T);
    assert_eq!(fake.disconnects(), 1);
}

#[test]
fn wait_for_requests_blocks_until_they_arrive() {
    let fake = FakeResponses::start();
    let addr = fake.addr();
    let client = std::thread::spawn(move || {
        for i in 0..3 {
            http(addr, "POST", "/v1/responses", &format!(r#"{{"n":{i}}}"#));
        }
    });
    let reqs = fake.wait_for_requests(3, T);
    assert_eq!(
        reqs.iter().map(|r| r.body["n"].clone()).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    client.join().expect("client thread");
}

#[test]
fn wait_for_responses_requests_ignores_other_paths() {
    let fake = FakeResponses::start();
    http(fake.addr(), "GET", "/v1/models", "");
    http(fake.addr(), "POST", "/v1/responses", r#"{"n":1}"#);
    let reqs = fake.wait_for_responses_requests(1, T);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body["n"], 1);
    assert_eq!(fake.requests().len(), 2);
}

#[test]
#[should_panic(expected = "waiting for 2 /responses request(s); 2 arrived:")]
fn wait_for_responses_requests_times_out_listing_everything() {
    let fake = FakeResponses::start();
    http(fake.addr(), "GET", "/v1/models", "");
    http(fake.addr(), "POST", "/v1/responses", "{}");
    fake.wait_for_responses_requests(2, Duration::from_millis(100));
}

#[test]
#[should_panic(
    expected = "timed out after 200ms waiting for 2 request(s); 1 arrived:\n  #0: GET /v1/models"
)]
fn wait_for_requests_panics_with_what_arrived() {
    let fake = FakeResponses::start();
    http(fake.addr(), "GET", "/v1/models", "");
    fake.wait_for_requests(2, Duration::from_millis(200));
}

#[tokio::test(flavor = "current_thread")]
async fn wait_async_works_on_a_current_thread_runtime() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("hi"));
    let addr = fake.addr();
    // The client runs on a blocking thread; the fake on its own thread: nothing here may stall
    // this single-threaded runtime.
    let client = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            "/v1/responses",
            r#"{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"yo"}]}]}"#,
        )
    });
    let reqs = fake.wait_for_requests_async(1, T).await;
    assert_eq!(reqs[0].last_user_text().as_deref(), Some("yo"));
    let (status, _, _) = client.await.expect("client");
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn wait_for_disconnects_async_sees_a_cancelled_stream() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let mut s = tokio::net::TcpStream::connect(fake.addr())
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(
        &mut s,
        b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await
    .expect("write");
    fake.wait_for_requests_async(1, T).await;
    drop(s);
    fake.wait_for_disconnects_async(1, T).await;
    assert_eq!(fake.disconnects(), 1);
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "waiting for 1 request(s); 0 arrived")]
async fn wait_async_times_out_with_a_clear_panic() {
    let fake = FakeResponses::start();
    fake.wait_for_requests_async(1, Duration::from_millis(100))
        .await;
}

#[test]
fn drop_does_not_wait_for_a_hanging_stream() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let mut s = TcpStream::connect(fake.addr()).expect("connect");
    write!(
        s,
        "POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .expect("write");
    fake.wait_for_requests(1, T);
    let start = Instant::now();
    drop(fake);
    assert!(start.elapsed() < T, "drop took {:?}", start.elapsed());
    // The server is gone: the open connection ends.
    s.set_read_timeout(Some(T)).expect("read timeout");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

#[test]
fn recorded_request_helpers_understand_codex_shapes() {
    let fake = FakeResponses::start();
    let body = json!({
        "input": [
            { "type": "message", "role": "developer", "content": [{ "type": "input_text", "text": "rules" }] },
            { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "first" }] },
            { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "second " }, { "type": "input_text", "text": "part" }] },
            { "type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": "a" },
            { "type": "function_call_output", "call_id": "a", "output": "plain" },
            { "type": "function_call_output", "call_id": "b", "output": [{ "type": "input_text", "text": "struc" }, { "type": "input_text", "text": "tured" }] },
            { "type": "function_call_output", "call_id": "c", "output": { "content": "legacy", "success": true } },
        ],
        "tools": [
            { "type": "function", "name": "exec_command", "parameters": {} },
            { "type": "web_search" },
            { "type": "namespace", "name": "multi_agent_v1" },
        ],
    });
    http(fake.addr(), "POST", "/v1/responses?x=1", &body.to_string());
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/v1/responses?x=1");
    assert!(r.is_responses());
    assert_eq!(r.input().len(), 7);
    assert_eq!(r.last_user_text().as_deref(), Some("second part"));
    assert_eq!(r.function_call_output("a").as_deref(), Some("plain"));
    assert_eq!(r.function_call_output("b").as_deref(), Some("structured"));
    assert_eq!(r.function_call_output("c").as_deref(), Some("legacy"));
    assert_eq!(r.function_call_output("zzz"), None);
    assert_eq!(
        r.tool_names(),
        ["exec_command", "web_search", "multi_agent_v1"]
    );
}
