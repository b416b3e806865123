//! An OpenAI-compatible chat-completions server that runs inside the test
//! process, on 127.0.0.1 only, and misbehaves on command.
//!
//! Minimal hand-written HTTP/1.1: one request per connection, every reply
//! carries `Connection: close`, SSE bodies are close-delimited (no chunked
//! encoding) and every event is written and flushed on its own, so streaming
//! timing is real. Each request is recorded before its reply is chosen.
//!
//! Included by `#[path]`: `../support/openai_server.rs` from the test
//! binaries' `main.rs`, `../tests/support/openai_server.rs` from benches.

// Each test crate uses only part of this module.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

/// One HTTP request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Request target as sent, e.g. `/v1/chat/completions`.
    pub path: String,
    /// In arrival order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Decoded body (after `Content-Length` or chunked framing), lossy UTF-8.
    pub body: String,
}

impl Recorded {
    /// The body parsed as JSON, `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// First header with this name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 `text/event-stream`: each item is written as `data: <item>\n\n`
    /// (verbatim, so an item may be broken JSON), with `delay` before each;
    /// then `data: [DONE]\n\n` if `done`; then the connection closes unless
    /// `stall` (then it stays open and silent until the client leaves or the
    /// server is dropped).
    Sse {
        events: Vec<String>,
        delay: Duration,
        done: bool,
        stall: bool,
    },
    /// Any status with a body. `Content-Type: application/json` and
    /// `Content-Length` are added unless `headers` name them.
    Status {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Wait, then reply.
    After(Duration, Box<Reply>),
    /// Accept the request and never answer.
    Hang,
    /// Bytes written verbatim (no status line or headers added), each part
    /// flushed after `delay`, then the connection closes: for SSE comments,
    /// `event:` lines, truncated responses and other malformed output.
    Raw { parts: Vec<String>, delay: Duration },
}

type Script = dyn Fn(&Recorded, usize) -> Reply + Send + Sync + 'static;

/// The running server; dropping it stops accepting and closes every
/// connection, stalled and hanging ones included.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT/v1`, ready for async-openai's `with_api_base`.
    pub base_url: String,
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    shutdown: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl FakeServer {
    /// Binds 127.0.0.1:0 and serves until dropped. `script(request, index)`
    /// decides the reply for the index-th request (0-based, in arrival order).
    /// Must be called inside a tokio runtime.
    pub async fn start(
        script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let accept_task = tokio::spawn(accept_loop(
            listener,
            Arc::new(script),
            requests.clone(),
            connections.clone(),
            shutdown_rx,
        ));
        FakeServer {
            base_url: format!("http://{addr}/v1"),
            addr,
            requests,
            shutdown,
            accept_task,
            connections,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.requests).clone()
    }

    /// Polls until at least `count` requests have arrived; panics after
    /// `timeout` (for requests made by background tasks).
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.requests();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} requests within {timeout:?}, got {}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        // The watch covers a connection spawned while we abort; abort covers
        // everything already listed.
        self.shutdown.send_replace(true);
        self.accept_task.abort();
        for task in lock(&self.connections).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking script must not take the other tests' view of requests with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(
    listener: TcpListener,
    script: Arc<Script>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // e.g. out of file descriptors: back off, keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Per-character events must leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let mut stop = shutdown.clone();
        let script = script.clone();
        let requests = requests.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = stopped(&mut stop) => {}
                _ = serve_connection(stream, &*script, &requests) => {}
            }
        });
        let mut live = lock(&connections);
        live.retain(|task| !task.is_finished());
        live.push(task.abort_handle());
    }
}

/// Resolves once the server is dropped (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await;
}

async fn serve_connection(stream: TcpStream, script: &Script, requests: &Mutex<Vec<Recorded>>) {
    let mut conn = BufReader::new(stream);
    let Some(request) = read_request(&mut conn).await else {
        return;
    };
    let index = {
        let mut all = lock(requests);
        all.push(request.clone());
        all.len() - 1
    };
    let reply = script(&request, index);
    // A client that leaves mid-reply is not the server's problem.
    let _ = send_reply(&mut conn, reply).await;
}

/// One line without its `\r\n`; `None` at end of stream.
async fn read_line(conn: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = Vec::new();
    conn.read_until(b'\n', &mut line).await.ok()?;
    if line.last() != Some(&b'\n') {
        return None;
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

async fn read_request(conn: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let request_line = read_line(conn).await?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(conn).await?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if header("expect").is_some_and(|v| v == "100-continue") {
        let stream = conn.get_mut();
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
        stream.flush().await.ok()?;
    }
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked_body(conn).await?
    } else if let Some(length) = header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        conn.read_exact(&mut body).await.ok()?;
        body
    } else {
        Vec::new()
    };
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn read_chunked_body(conn: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(conn).await?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Optional trailers, then the empty line that ends the message.
            while !read_line(conn).await?.is_empty() {}
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..]).await.ok()?;
        if !read_line(conn).await?.is_empty() {
            return None;
        }
    }
}

async fn write_flush(conn: &mut BufReader<TcpStream>, bytes: &[u8]) -> io::Result<()> {
    let stream = conn.get_mut();
    stream.write_all(bytes).await?;
    stream.flush().await
}

async fn sleep_unless_zero(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

async fn send_reply(conn: &mut BufReader<TcpStream>, mut reply: Reply) -> io::Result<()> {
    loop {
        match reply {
            Reply::After(delay, next) => {
                tokio::time::sleep(delay).await;
                reply = *next;
            }
            Reply::Hang => {
                wait_for_client_to_leave(conn).await;
                return Ok(());
            }
            Reply::Status {
                status,
                body,
                headers,
            } => {
                let named = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
                if !named("content-type") {
                    head.push_str("Content-Type: application/json\r\n");
                }
                if !named("content-length") {
                    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                for (name, value) in &headers {
                    if !name.eq_ignore_ascii_case("connection") {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                }
                head.push_str("Connection: close\r\n\r\n");
                head.push_str(&body);
                write_flush(conn, head.as_bytes()).await?;
                close_gracefully(conn).await;
                return Ok(());
            }
            Reply::Sse {
                events,
                delay,
                done,
                stall,
            } => {
                // Headers go out at once, as real servers do: the client's
                // `send()` returns and the wait happens inside the stream.
                write_flush(
                    conn,
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                      Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
                )
                .await?;
                for event in &events {
                    sleep_unless_zero(delay).await;
                    write_flush(conn, format!("data: {event}\n\n").as_bytes()).await?;
                }
                if done {
                    write_flush(conn, b"data: [DONE]\n\n").await?;
                }
                if stall {
                    wait_for_client_to_leave(conn).await;
                } else {
                    close_gracefully(conn).await;
                }
                return Ok(());
            }
            Reply::Raw { parts, delay } => {
                for part in &parts {
                    sleep_unless_zero(delay).await;
                    write_flush(conn, part.as_bytes()).await?;
                }
                close_gracefully(conn).await;
                return Ok(());
            }
        }
    }
}

/// Reads and discards until the client closes its side (or the task is
/// aborted when the server is dropped).
async fn wait_for_client_to_leave(conn: &mut BufReader<TcpStream>) {
    let mut sink = [0u8; 1024];
    while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Sends FIN, then drains briefly so that unread client bytes do not turn the
/// close into a reset that could destroy the response in flight.
async fn close_gracefully(conn: &mut BufReader<TcpStream>) {
    let _ = conn.get_mut().shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), wait_for_client_to_leave(conn)).await;
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Shape of the `chat.completion.chunk` events built by [`chunks`].
#[derive(Clone, Debug)]
pub struct ChunkStyle {
    /// One character per content chunk instead of ~8.
    pub per_char: bool,
    /// A different `id` on every chunk (some servers do).
    pub vary_ids: bool,
    /// Every optional field present as `null`.
    pub explicit_nulls: bool,
    /// `"finish_reason": ""` instead of `null` before the last chunk (some
    /// servers do; async-openai 0.43 rejects it).
    pub empty_finish_reason: bool,
    /// A final `"choices": []` chunk carrying `usage`.
    pub usage: bool,
    /// A `{"role":"assistant","content":""}` chunk before the content.
    pub role_first: bool,
}

impl Default for ChunkStyle {
    fn default() -> Self {
        ChunkStyle {
            per_char: false,
            vary_ids: false,
            explicit_nulls: false,
            empty_finish_reason: false,
            usage: false,
            role_first: true,
        }
    }
}

/// `prompt_tokens` reported by the usage chunk.
pub const PROMPT_TOKENS: u64 = 42;
/// `model` in every chunk and completion.
pub const MODEL: &str = "fake-model";
const CREATED: u64 = 1_700_000_000;

/// The content pieces [`chunks`] splits `text` into (also the usage chunk's
/// `completion_tokens`).
pub fn pieces(text: &str, style: &ChunkStyle) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = if style.per_char { 1 } else { 8 };
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The SSE data items (raw JSON) a server would stream for `text`: an
/// optional role chunk, the content pieces, a chunk with an empty delta and
/// `finish_reason: "stop"`, an optional usage chunk.
pub fn chunks(text: &str, style: &ChunkStyle) -> Vec<String> {
    let pieces = pieces(text, style);
    let middle_finish = if style.empty_finish_reason {
        json!("")
    } else {
        Value::Null
    };
    let mut out = Vec::new();
    if style.role_first {
        let delta = delta(style, Some("assistant"), Some(""));
        out.push(chunk(style, out.len(), delta, middle_finish.clone()));
    }
    for piece in &pieces {
        let delta = delta(style, None, Some(piece));
        out.push(chunk(style, out.len(), delta, middle_finish.clone()));
    }
    out.push(chunk(
        style,
        out.len(),
        delta(style, None, None),
        json!("stop"),
    ));
    if style.usage {
        let completion_tokens = pieces.len() as u64;
        let mut last = envelope(style, out.len());
        last.insert("choices".into(), json!([]));
        last.insert(
            "usage".into(),
            json!({
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": completion_tokens,
                "total_tokens": PROMPT_TOKENS + completion_tokens,
            }),
        );
        out.push(Value::Object(last));
    }
    out.into_iter().map(|chunk| chunk.to_string()).collect()
}

fn chunk_id(style: &ChunkStyle, index: usize) -> String {
    if style.vary_ids {
        format!("chatcmpl-fake{index:04}")
    } else {
        "chatcmpl-fake0000".to_string()
    }
}

fn envelope(style: &ChunkStyle, index: usize) -> Map<String, Value> {
    let mut chunk = Map::new();
    chunk.insert("id".into(), json!(chunk_id(style, index)));
    chunk.insert("object".into(), json!("chat.completion.chunk"));
    chunk.insert("created".into(), json!(CREATED));
    chunk.insert("model".into(), json!(MODEL));
    chunk.insert("system_fingerprint".into(), Value::Null);
    if style.explicit_nulls {
        chunk.insert("service_tier".into(), Value::Null);
    }
    if style.explicit_nulls || style.usage {
        // OpenAI sends `"usage": null` on every chunk once usage is requested.
        chunk.insert("usage".into(), Value::Null);
    }
    chunk
}

fn delta(style: &ChunkStyle, role: Option<&str>, content: Option<&str>) -> Value {
    let mut delta = Map::new();
    if style.explicit_nulls {
        for key in ["content", "role", "tool_calls", "refusal"] {
            delta.insert(key.into(), Value::Null);
        }
    }
    if let Some(role) = role {
        delta.insert("role".into(), json!(role));
    }
    if let Some(content) = content {
        delta.insert("content".into(), json!(content));
    }
    Value::Object(delta)
}

fn chunk(style: &ChunkStyle, index: usize, delta: Value, finish_reason: Value) -> Value {
    let mut chunk = envelope(style, index);
    chunk.insert(
        "choices".into(),
        json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
    );
    Value::Object(chunk)
}

/// `Reply::Sse` streaming `text` in `style`, no delay, `[DONE]`, then close.
pub fn sse(text: &str, style: &ChunkStyle) -> Reply {
    Reply::Sse {
        events: chunks(text, style),
        delay: Duration::ZERO,
        done: true,
        stall: false,
    }
}

/// OpenAI's error object: `{"error": {"message", "type", "param": null, "code": null}}`.
pub fn error_body(status: u16, message: &str) -> String {
    let kind = match status {
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string()
}

/// A non-streaming `chat.completion` body for `text` (for servers that ignore
/// `stream: true`, or a non-streaming fallback).
pub fn completion(text: &str) -> String {
    let completion_tokens = pieces(text, &ChunkStyle::default()).len() as u64;
    json!({
        "id": "chatcmpl-fake0000",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": completion_tokens,
            "total_tokens": PROMPT_TOKENS + completion_tokens,
        },
    })
    .to_string()
}
