//! Tests of the in-process OpenAI-compatible server in
//! `tests/support/openai_server.rs`: the HTTP behaviour over raw TCP, the
//! chunk JSON against async-openai's own types, and what async-openai's
//! client does with it.

use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use async_openai::error::{OpenAIError, WrappedError};
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse, FinishReason, Role,
};
use async_openai::Client;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::openai_server::{
    chunks, completion, error_body, pieces, sse, ChunkStyle, FakeServer, Reply,
};

/// Upper bound for things that should happen promptly; only hit on failure.
const PATIENCE: Duration = Duration::from_secs(5);
const CHAT_PATH: &str = "/v1/chat/completions";
const TEXT: &str = "kubectl -n \"payments\" get pods\n→ ✓ done\\";

fn status(status: u16, body: &str) -> Reply {
    Reply::Status {
        status,
        body: body.to_string(),
        headers: vec![],
    }
}

fn request_bytes(path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    raw.into_bytes()
}

async fn post(server: &FakeServer, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = request_bytes(CHAT_PATH, &[("Content-Type", "application/json")], body);
    stream.write_all(&request).await.unwrap();
    stream
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("the server should close the connection")
        .unwrap();
    String::from_utf8(raw).unwrap()
}

struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn parse(raw: &str) -> Response {
        let (head, body) = raw.split_once("\r\n\r\n").expect("end of headers");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap().to_string();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        Response {
            status_line,
            headers,
            body: body.to_string(),
        }
    }

    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The `data:` payloads of an SSE body, in order.
fn data_events(body: &str) -> Vec<&str> {
    body.split_terminator("\n\n")
        .map(|event| event.strip_prefix("data: ").expect("a data line"))
        .collect()
}

// ---- HTTP behaviour -------------------------------------------------------

#[tokio::test]
async fn post_is_recorded_with_path_headers_and_body_sent_in_pieces() {
    let server = FakeServer::start(|_, _| sse("hi", &ChunkStyle::default())).await;
    let body =
        r#"{"model":"fake-model","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let request = request_bytes(
        CHAT_PATH,
        &[
            ("Authorization", "Bearer sk-test"),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    // Head and body split across three writes, so the server must assemble
    // the body from several reads.
    let cut = request.len() - body.len() + 10;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for part in [
        &request[..cut - 20],
        &request[cut - 20..cut],
        &request[cut..],
    ] {
        stream.write_all(part).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("content-type"), ["text/event-stream"]);
    assert_eq!(response.header("connection"), ["close"]);
    assert!(response.header("content-length").is_empty());
    assert!(response.header("transfer-encoding").is_empty());
    assert_eq!(data_events(&response.body).last(), Some(&"[DONE]"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let recorded = &requests[0];
    assert_eq!(recorded.method, "POST");
    assert_eq!(recorded.path, CHAT_PATH);
    assert!(recorded
        .headers
        .contains(&("authorization".to_string(), "Bearer sk-test".to_string())));
    assert_eq!(recorded.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded.body, body);
    assert_eq!(recorded.json()["messages"][0]["content"], "hi");
    assert_eq!(recorded.json()["stream"], true);
}

#[tokio::test]
async fn chunked_request_body_is_decoded() {
    let server = FakeServer::start(|_, _| status(200, "{}")).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
               Transfer-Encoding: chunked\r\n\r\n\
               7\r\n{\"a\":1,\r\na;ext=1\r\n\"b\":\"two\"}\r\n0\r\n\r\n";
    stream.write_all(raw.as_bytes()).await.unwrap();
    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    let recorded = &server.requests()[0];
    assert_eq!(recorded.body, r#"{"a":1,"b":"two"}"#);
    assert_eq!(recorded.json()["b"], "two");
}

#[tokio::test]
async fn request_without_body_is_recorded_and_its_json_is_null() {
    let server = FakeServer::start(|request, _| {
        if request.path == "/v1/models" {
            status(404, &error_body(404, "no such route"))
        } else {
            status(200, "{}")
        }
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(response.status_line, "HTTP/1.1 404 Not Found");
    let recorded = &server.requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.body.as_str()),
        ("GET", "")
    );
    assert!(recorded.json().is_null());
}

#[tokio::test]
async fn sse_events_arrive_one_by_one_with_the_delay() {
    let events: Vec<String> = (1..=3).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    let server = FakeServer::start(move |_, _| Reply::Sse {
        events: events.clone(),
        delay: Duration::from_millis(200),
        done: true,
        stall: false,
    })
    .await;
    let start = Instant::now();
    let mut stream = post(&server, "{}").await;

    let mut raw = Vec::new();
    let mut arrivals = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((_, body)) = text.split_once("\r\n\r\n") {
            while arrivals.len() < body.matches("\n\n").count() {
                arrivals.push(start.elapsed());
            }
        }
    }

    let response = Response::parse(&String::from_utf8(raw).unwrap());
    assert_eq!(
        data_events(&response.body),
        [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#, "[DONE]"]
    );
    assert!(arrivals[0] >= Duration::from_millis(150), "{arrivals:?}");
    assert!(
        arrivals[2] - arrivals[0] >= Duration::from_millis(150),
        "first and last event arrived together: {arrivals:?}"
    );
}

#[tokio::test]
async fn stall_keeps_the_connection_open_until_the_server_is_dropped() {
    let server = FakeServer::start(|_, _| Reply::Sse {
        events: vec![r#"{"n":1}"#.to_string()],
        delay: Duration::ZERO,
        done: false,
        stall: true,
    })
    .await;
    let mut stream = post(&server, "{}").await;
    let mut raw = Vec::new();
    while !String::from_utf8_lossy(&raw).contains("{\"n\":1}\n\n") {
        let mut buf = [0u8; 4096];
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the event");
        raw.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&raw).contains("[DONE]"));

    let mut buf = [0u8; 64];
    let silent = timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
    assert!(silent.is_err(), "expected silence, got {silent:?}");

    drop(server);
    let after_drop = timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("dropping the server should close a stalled connection");
    assert!(matches!(after_drop, Ok(0) | Err(_)), "{after_drop:?}");
}

#[tokio::test]
async fn without_done_or_stall_the_stream_just_ends() {
    let server = FakeServer::start(|_, _| Reply::Sse {
        events: vec!["{}".to_string()],
        delay: Duration::ZERO,
        done: false,
        stall: false,
    })
    .await;
    let mut stream = post(&server, "{}").await;
    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(data_events(&response.body), ["{}"]);
}

#[tokio::test]
async fn raw_reply_writes_bytes_verbatim_then_closes() {
    let parts = vec![
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n".to_string(),
        ": keep-alive\n\n".to_string(),
        "data: {\"trunc".to_string(),
    ];
    let expected = parts.concat();
    let server = FakeServer::start(move |_, _| Reply::Raw {
        parts: parts.clone(),
        delay: Duration::from_millis(5),
    })
    .await;
    let mut stream = post(&server, "{}").await;
    assert_eq!(read_to_close(&mut stream).await, expected);
}

#[tokio::test]
async fn status_reply_sends_status_line_headers_and_body() {
    let body = error_body(429, "Rate limit reached");
    let reply_body = body.clone();
    let server = FakeServer::start(move |_, _| Reply::Status {
        status: 429,
        body: reply_body.clone(),
        headers: vec![("Retry-After".to_string(), "2".to_string())],
    })
    .await;
    let mut stream = post(&server, "{}").await;
    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(response.status_line, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(response.header("content-type"), ["application/json"]);
    assert_eq!(response.header("retry-after"), ["2"]);
    assert_eq!(response.header("content-length"), [body.len().to_string()]);
    assert_eq!(response.body, body);

    // The error object is the one async-openai reads.
    let wrapped: WrappedError = serde_json::from_str(&response.body).unwrap();
    assert_eq!(wrapped.error.message, "Rate limit reached");
    assert_eq!(wrapped.error.r#type.as_deref(), Some("rate_limit_error"));
    assert_eq!(wrapped.error.param, None);
    assert_eq!(wrapped.error.code, None);
}

#[tokio::test]
async fn status_headers_override_the_defaults() {
    let server = FakeServer::start(|_, _| Reply::Status {
        status: 200,
        body: "data: {}\n\n".to_string(),
        headers: vec![("Content-Type".to_string(), "text/event-stream".to_string())],
    })
    .await;
    let mut stream = post(&server, "{}").await;
    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(response.header("content-type"), ["text/event-stream"]);
    assert_eq!(response.body, "data: {}\n\n");
}

#[tokio::test]
async fn after_records_first_then_waits_then_replies() {
    let server = FakeServer::start(|_, _| {
        Reply::After(Duration::from_millis(400), Box::new(status(200, "{}")))
    })
    .await;
    let start = Instant::now();
    let mut stream = post(&server, "{}").await;
    server.wait_for_requests(1, PATIENCE).await;
    let mut buf = [0u8; 64];
    let early = timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
    assert!(early.is_err(), "answered before the delay: {early:?}");

    let response = Response::parse(&read_to_close(&mut stream).await);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert!(start.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn hang_records_the_request_and_never_answers() {
    let server = FakeServer::start(|_, _| Reply::Hang).await;
    let mut stream = post(&server, r#"{"x":1}"#).await;
    let requests = server.wait_for_requests(1, PATIENCE).await;
    assert_eq!(requests[0].json()["x"], 1);
    let mut buf = [0u8; 64];
    let read = timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
    assert!(read.is_err(), "expected no answer, got {read:?}");
}

#[tokio::test]
async fn script_sees_the_request_index_so_a_retry_can_succeed() {
    let server = FakeServer::start(|_, index| {
        if index == 0 {
            status(500, &error_body(500, "boom"))
        } else {
            sse("second", &ChunkStyle::default())
        }
    })
    .await;
    let first = Response::parse(&read_to_close(&mut post(&server, "{}").await).await);
    assert_eq!(first.status_line, "HTTP/1.1 500 Internal Server Error");
    assert!(first.body.contains("boom"));
    let second = Response::parse(&read_to_close(&mut post(&server, "{}").await).await);
    assert_eq!(second.status_line, "HTTP/1.1 200 OK");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn connections_are_served_in_parallel() {
    let server = FakeServer::start(|_, _| {
        Reply::After(Duration::from_millis(400), Box::new(status(200, "{}")))
    })
    .await;
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut stream = post(&server, "{}").await;
        clients.push(tokio::spawn(
            async move { read_to_close(&mut stream).await },
        ));
    }
    for client in clients {
        assert!(client.await.unwrap().starts_with("HTTP/1.1 200 OK"));
    }
    // Serially this would take 1.6 s.
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn drop_closes_hanging_connections_and_stops_listening() {
    let server = FakeServer::start(|_, _| Reply::Hang).await;
    let addr = server.addr;
    assert_eq!(
        server.base_url,
        format!("http://127.0.0.1:{}/v1", addr.port())
    );
    let mut stream = post(&server, "{}").await;
    server.wait_for_requests(1, PATIENCE).await;

    let dropping = Instant::now();
    drop(server);
    assert!(dropping.elapsed() < Duration::from_millis(100));

    let mut buf = [0u8; 64];
    let read = timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("dropping the server should close a hanging connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- Chunk JSON against async-openai's types ------------------------------

type Chunk = CreateChatCompletionStreamResponse;

fn parse_all(events: &[String]) -> Vec<Chunk> {
    events
        .iter()
        .map(|event| serde_json::from_str(event).unwrap_or_else(|error| panic!("{error}: {event}")))
        .collect()
}

fn content(parsed: &[Chunk]) -> String {
    parsed
        .iter()
        .flat_map(|chunk| &chunk.choices)
        .filter_map(|choice| choice.delta.content.as_deref())
        .collect()
}

fn finish_reasons(parsed: &[Chunk]) -> Vec<Option<FinishReason>> {
    parsed
        .iter()
        .flat_map(|chunk| &chunk.choices)
        .map(|choice| choice.finish_reason)
        .collect()
}

#[test]
fn default_chunks_look_like_openai_and_parse() {
    let style = ChunkStyle::default();
    let events = chunks(TEXT, &style);
    let parsed = parse_all(&events);
    assert_eq!(content(&parsed), TEXT);
    // role chunk + content pieces + stop chunk
    assert_eq!(parsed.len(), 1 + TEXT.chars().count().div_ceil(8) + 1);
    assert_eq!(parsed[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(parsed[1..]
        .iter()
        .all(|c| c.choices[0].delta.role.is_none()));
    assert!(parsed.iter().all(|c| c.id == parsed[0].id));
    assert!(parsed.iter().all(|c| c.object == "chat.completion.chunk"
        && c.model == "fake-model"
        && c.created == 1_700_000_000
        && c.usage.is_none()));
    let reasons = finish_reasons(&parsed);
    assert_eq!(reasons.last(), Some(&Some(FinishReason::Stop)));
    assert!(reasons[..reasons.len() - 1].iter().all(Option::is_none));
    assert!(pieces(TEXT, &style).iter().all(|p| p.chars().count() <= 8));

    let first: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
    assert!(first["system_fingerprint"].is_null());
    assert!(first["choices"][0]["logprobs"].is_null());
    assert!(first.get("usage").is_none());
}

#[test]
fn per_char_chunks_carry_one_character_each() {
    let style = ChunkStyle {
        per_char: true,
        ..ChunkStyle::default()
    };
    let parsed = parse_all(&chunks(TEXT, &style));
    assert_eq!(content(&parsed), TEXT);
    assert_eq!(parsed.len(), 1 + TEXT.chars().count() + 1);
}

#[test]
fn varying_ids_parse() {
    let style = ChunkStyle {
        vary_ids: true,
        ..ChunkStyle::default()
    };
    let parsed = parse_all(&chunks(TEXT, &style));
    assert_eq!(content(&parsed), TEXT);
    let mut ids: Vec<&str> = parsed.iter().map(|c| c.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), parsed.len());
}

#[test]
fn explicit_nulls_parse() {
    let style = ChunkStyle {
        explicit_nulls: true,
        ..ChunkStyle::default()
    };
    let events = chunks(TEXT, &style);
    let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    for key in ["content", "role", "tool_calls", "refusal"] {
        assert!(last["choices"][0]["delta"][key].is_null(), "{key}");
        assert!(last["choices"][0]["delta"].get(key).is_some(), "{key}");
    }
    assert!(last.get("usage").is_some_and(|u| u.is_null()));
    assert!(last.get("service_tier").is_some_and(|t| t.is_null()));

    let parsed = parse_all(&events);
    assert_eq!(content(&parsed), TEXT);
    assert_eq!(parsed[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(parsed.iter().all(|c| c.usage.is_none()));
    assert_eq!(
        finish_reasons(&parsed).last(),
        Some(&Some(FinishReason::Stop))
    );
}

#[test]
fn usage_chunk_comes_last_with_no_choices() {
    let style = ChunkStyle {
        usage: true,
        ..ChunkStyle::default()
    };
    let parsed = parse_all(&chunks(TEXT, &style));
    assert_eq!(content(&parsed), TEXT);
    let (last, rest) = parsed.split_last().unwrap();
    assert!(last.choices.is_empty());
    let usage = last.usage.as_ref().unwrap();
    let completion_tokens = pieces(TEXT, &style).len() as u32;
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (42, completion_tokens, 42 + completion_tokens)
    );
    assert!(rest.iter().all(|c| c.usage.is_none()));
}

#[test]
fn without_role_first_no_chunk_names_a_role() {
    let style = ChunkStyle {
        role_first: false,
        ..ChunkStyle::default()
    };
    let parsed = parse_all(&chunks(TEXT, &style));
    assert_eq!(content(&parsed), TEXT);
    assert!(parsed.iter().all(|c| c.choices[0].delta.role.is_none()));
    assert_eq!(parsed.len(), TEXT.chars().count().div_ceil(8) + 1);
}

#[test]
fn every_parseable_flag_together_parses() {
    let style = ChunkStyle {
        per_char: true,
        vary_ids: true,
        explicit_nulls: true,
        empty_finish_reason: false,
        usage: true,
        role_first: true,
    };
    let parsed = parse_all(&chunks(TEXT, &style));
    assert_eq!(content(&parsed), TEXT);
    assert!(parsed.last().unwrap().usage.is_some());
}

#[test]
fn empty_text_gives_role_and_stop_only() {
    let parsed = parse_all(&chunks("", &ChunkStyle::default()));
    assert_eq!(parsed.len(), 2);
    assert_eq!(content(&parsed), "");
}

/// Finding: async-openai 0.43 has no variant for `"finish_reason": ""`, so
/// every chunk that carries it fails to deserialize (only the final "stop"
/// chunk parses). If this starts failing, async-openai learned to accept it.
#[test]
fn empty_finish_reason_is_rejected_by_async_openai() {
    let style = ChunkStyle {
        empty_finish_reason: true,
        ..ChunkStyle::default()
    };
    let events = chunks(TEXT, &style);
    let results: Vec<Result<Chunk, serde_json::Error>> = events
        .iter()
        .map(|event| serde_json::from_str(event))
        .collect();
    let (last, middle) = results.split_last().unwrap();
    assert!(last.is_ok(), "{last:?}");
    for result in middle {
        let error = result.as_ref().expect_err("\"\" finish_reason parsed");
        assert!(error.to_string().contains("unknown variant"), "{error}");
    }
}

#[test]
fn completion_body_parses_as_a_chat_completion() {
    let parsed: CreateChatCompletionResponse = serde_json::from_str(&completion(TEXT)).unwrap();
    assert_eq!(parsed.choices[0].message.content.as_deref(), Some(TEXT));
    assert_eq!(parsed.choices[0].finish_reason, Some(FinishReason::Stop));
}

// ---- async-openai's client against the server -----------------------------

fn client(server: &FakeServer) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.base_url.clone())
            .with_api_key("sk-test"),
    )
}

fn chat_request() -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model("fake-model")
        // Needed: with the `byot` feature async-openai does not set it.
        .stream(true)
        .messages(vec![ChatCompletionRequestUserMessageArgs::default()
            .content("hi")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap()
}

async fn collect_stream(server: &FakeServer) -> Vec<Result<Chunk, OpenAIError>> {
    let stream = client(server)
        .chat()
        .create_stream(chat_request())
        .await
        .unwrap();
    timeout(PATIENCE, stream.collect()).await.unwrap()
}

#[tokio::test]
async fn async_openai_streams_every_chunk_style() {
    let style = ChunkStyle {
        per_char: true,
        vary_ids: true,
        explicit_nulls: true,
        empty_finish_reason: false,
        usage: true,
        role_first: true,
    };
    let events = chunks(TEXT, &style);
    let server = FakeServer::start(move |_, _| Reply::Sse {
        events: events.clone(),
        delay: Duration::from_millis(1),
        done: true,
        stall: false,
    })
    .await;
    let items = collect_stream(&server).await;
    let parsed: Vec<Chunk> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(content(&parsed), TEXT);
    assert!(parsed.last().unwrap().usage.is_some());

    let recorded = &server.requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", CHAT_PATH)
    );
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded.json()["stream"], true);
    assert_eq!(recorded.json()["model"], "fake-model");
}

/// Finding: through the real client a `""` finish_reason surfaces as one
/// `Err(JSONDeserialize)` item per chunk, and the stream goes on after it.
#[tokio::test]
async fn async_openai_yields_an_error_item_per_empty_finish_reason_chunk() {
    let style = ChunkStyle {
        empty_finish_reason: true,
        ..ChunkStyle::default()
    };
    let count = chunks(TEXT, &style).len();
    let server = FakeServer::start(move |_, _| sse(TEXT, &style)).await;
    let items = collect_stream(&server).await;
    assert_eq!(items.len(), count);
    let (last, middle) = items.split_last().unwrap();
    assert!(middle
        .iter()
        .all(|item| matches!(item, Err(OpenAIError::JSONDeserialize(..)))));
    assert!(last.is_ok());
}

/// Finding: async-openai 0.43 retries 5xx and 429 itself (up to 3 retries,
/// 100 ms doubling backoff or `Retry-After` seconds), so one call can be
/// several requests.
#[tokio::test]
async fn async_openai_retries_server_errors_itself() {
    let server = FakeServer::start(|_, index| match index {
        0 => status(500, &error_body(500, "boom")),
        1 => Reply::Status {
            status: 429,
            body: error_body(429, "slow down"),
            headers: vec![("Retry-After".to_string(), "0".to_string())],
        },
        _ => sse("third time", &ChunkStyle::default()),
    })
    .await;
    let items = collect_stream(&server).await;
    let parsed: Vec<Chunk> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(content(&parsed), "third time");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn async_openai_does_not_retry_401() {
    let server = FakeServer::start(|_, _| status(401, &error_body(401, "bad key"))).await;
    let error = client(&server)
        .chat()
        .create_stream(chat_request())
        .await
        .err()
        .expect("a 401 should fail the call");
    match error {
        OpenAIError::ApiError(api) => assert_eq!(api.api_error.message, "bad key"),
        other => panic!("expected ApiError, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

/// A stalled stream through a reqwest client with `read_timeout` (as
/// STYLE.md advises) ends in an error item instead of hanging.
#[tokio::test]
async fn async_openai_stall_ends_with_an_error_under_read_timeout() {
    let server = FakeServer::start(|_, _| Reply::Sse {
        events: chunks("partial", &ChunkStyle::default()),
        delay: Duration::ZERO,
        done: false,
        stall: true,
    })
    .await;
    let http = reqwest::Client::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let config = OpenAIConfig::new()
        .with_api_base(server.base_url.clone())
        .with_api_key("sk-test");
    let start = Instant::now();
    let stream = Client::build(http, config)
        .chat()
        .create_stream(chat_request())
        .await
        .unwrap();
    let items: Vec<_> = timeout(PATIENCE, stream.collect()).await.unwrap();
    let (last, parsed) = items.split_last().unwrap();
    assert!(matches!(last, Err(OpenAIError::StreamError(_))), "{last:?}");
    let parsed: Vec<Chunk> = parsed
        .iter()
        .map(|item| item.as_ref().unwrap().clone())
        .collect();
    assert_eq!(content(&parsed), "partial");
    assert!(start.elapsed() >= Duration::from_millis(300));
}

/// Finding: a stream cut before `[DONE]` (and before any finish_reason) ends
/// like a normal one, with no error item; only the missing finish_reason
/// tells them apart.
#[tokio::test]
async fn async_openai_ends_a_truncated_stream_without_error() {
    let mut events = chunks("cut short", &ChunkStyle::default());
    events.pop(); // the finish_reason "stop" chunk
    let server = FakeServer::start(move |_, _| Reply::Sse {
        events: events.clone(),
        delay: Duration::ZERO,
        done: false,
        stall: false,
    })
    .await;
    let items = collect_stream(&server).await;
    let parsed: Vec<Chunk> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(content(&parsed), "cut short");
    assert!(finish_reasons(&parsed).iter().all(Option::is_none));
}
