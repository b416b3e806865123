//! One streaming chat completion with an OpenAI-compatible server, through
//! async-openai (its request retries cover 429, 5xx and refused connections
//! with backoff). On top: `json_schema` → `json_object` → plain text when a
//! server rejects the stricter mode (remembered per endpoint), one retry for
//! a reply cut mid-stream, an overall deadline, and cancel.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::Client;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::cache::{CachedReply, DraftCache};
use super::prompt::BuiltPrompt;
use super::schema::Ordered;
use crate::config::ModelConfig;

/// How the reply's shape is requested, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    JsonSchema,
    JsonObject,
    Plain,
}

impl ResponseMode {
    fn weaker(self) -> Option<Self> {
        match self {
            ResponseMode::JsonSchema => Some(ResponseMode::JsonObject),
            ResponseMode::JsonObject => Some(ResponseMode::Plain),
            ResponseMode::Plain => None,
        }
    }
}

/// What the screen shows while a draft streams in.
#[derive(Debug, Clone, PartialEq)]
pub enum DraftProgress {
    /// All text received so far has this many characters; `tail` is its end.
    Text {
        chars: usize,
        tail: String,
    },
    Usage {
        prompt: u64,
        completion: u64,
    },
    /// e.g. the server rejected json_schema and the request is sent again.
    Note(String),
}

#[derive(Debug, Clone)]
pub struct ModelReply {
    pub text: String,
    pub model: String,
    pub usage: Option<(u64, u64)>,
    pub mode: ResponseMode,
    pub elapsed: Duration,
    pub cached: bool,
    /// The server's `finish_reason` (`stop`, `length`, …), if it sent one.
    pub finish_reason: Option<String>,
    /// Content pieces streamed: a server streams about one token each, so
    /// this counts the completion when the server sends no usage.
    pub pieces: u64,
    /// The completion cap the request carried.
    pub max_tokens: u32,
}

impl ModelReply {
    /// Did generation stop at the token cap?
    pub fn cut(&self) -> bool {
        self.finish_reason.as_deref() == Some("length")
    }

    /// Completion tokens: the server's count, else the pieces streamed.
    pub fn completion_tokens(&self) -> (u64, bool) {
        match self.usage {
            Some((_, completion)) if completion > 0 => (completion, false),
            _ => (self.pieces, true),
        }
    }
}

/// The request body, in a fixed key order (the schema's order is what a
/// constraining server follows).
#[derive(serde::Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    stream: bool,
    temperature: u8,
    max_tokens: u32,
    messages: [Message<'a>; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
}

#[derive(serde::Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormat<'a> {
    JsonSchema {
        json_schema: NamedSchema<'a>,
    },
    /// llama.cpp's servers constrain `json_object` by a schema given
    /// beside it; others ignore the extra key.
    JsonObject {
        schema: &'a Ordered,
    },
}

#[derive(serde::Serialize)]
struct NamedSchema<'a> {
    name: &'static str,
    schema: &'a Ordered,
    strict: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the endpoint refused the key ({0})")]
    Auth(String),
    #[error("the endpoint answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("cannot reach the endpoint: {0}")]
    Connect(String),
    #[error("the reply stopped mid-stream: {0}")]
    Stream(String),
    #[error("no complete draft within {0:?}")]
    Deadline(Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Setup(String),
}

pub struct ModelClient {
    client: Client<OpenAIConfig>,
    model: String,
    endpoint: String,
    deadline: Duration,
    max_tokens: u32,
    /// The strictest mode this endpoint accepted (starts at json_schema).
    mode: Arc<Mutex<ResponseMode>>,
    cache: Option<DraftCache>,
}

impl ModelClient {
    pub fn new(cfg: &ModelConfig) -> Result<Self, ModelError> {
        // connect and read timeouts, not `timeout`: that would cut long streams.
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .build()
            .map_err(|e| ModelError::Setup(e.to_string()))?;
        let endpoint = cfg.endpoint();
        let key = cfg
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .unwrap_or("none");
        let config = OpenAIConfig::new()
            .with_api_base(endpoint.clone())
            .with_api_key(key);
        Ok(ModelClient {
            client: Client::with_config(config).with_http_client(http),
            model: cfg.model.clone(),
            endpoint,
            deadline: cfg.deadline,
            max_tokens: cfg.max_tokens,
            mode: Arc::new(Mutex::new(
                cfg.cache_dir
                    .as_deref()
                    .and_then(|d| remembered_mode(d, &cfg.endpoint()))
                    .unwrap_or(ResponseMode::JsonSchema),
            )),
            cache: cfg.cache_dir.clone().map(DraftCache::new),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Draft once: from the cache if this exact request was answered before.
    pub async fn complete(
        &self,
        prompt: &BuiltPrompt,
        progress: Option<mpsc::Sender<DraftProgress>>,
        cancel: Option<oneshot::Receiver<()>>,
        use_cache: bool,
    ) -> Result<ModelReply, ModelError> {
        let started = Instant::now();
        // The endpoint is part of the key: another server's draft is not this one's.
        let digest = prompt.digest(&format!("{} {}", self.endpoint, self.model));
        if let Some(hit) = self
            .cache
            .as_ref()
            .filter(|_| use_cache)
            .and_then(|c| c.get(&digest))
        {
            return Ok(ModelReply {
                text: hit.text,
                model: hit.model,
                usage: hit.usage,
                mode: hit.mode.unwrap_or(*self.mode.lock().expect("mode lock")),
                elapsed: started.elapsed(),
                cached: true,
                finish_reason: hit.finish_reason,
                pieces: hit.pieces,
                max_tokens: self.max_tokens_for(prompt),
            });
        }
        let cancelled = crate::exec::cancelled(cancel);
        let work = self.complete_uncached(prompt, progress.as_ref());
        let reply = tokio::select! {
            r = tokio::time::timeout(self.deadline, work) => r.map_err(|_| ModelError::Deadline(self.deadline))??,
            () = cancelled => return Err(ModelError::Cancelled),
        };
        // A reply cut at the cap, or with no JSON object, is no answer to
        // keep: asking again may do better.
        let keep = !reply.cut() && super::reply::holds_object(&reply.text);
        if let Some(cache) = self.cache.as_ref().filter(|_| keep) {
            let _ = cache.put(
                &digest,
                &CachedReply {
                    text: reply.text.clone(),
                    model: reply.model.clone(),
                    usage: reply.usage,
                    mode: Some(reply.mode),
                    finish_reason: reply.finish_reason.clone(),
                    pieces: reply.pieces,
                },
            );
        }
        Ok(ModelReply {
            elapsed: started.elapsed(),
            ..reply
        })
    }

    async fn complete_uncached(
        &self,
        prompt: &BuiltPrompt,
        progress: Option<&mpsc::Sender<DraftProgress>>,
    ) -> Result<ModelReply, ModelError> {
        let mut mode = *self.mode.lock().expect("mode lock");
        let mut stream_retry_left = 1;
        loop {
            match self.attempt(prompt, mode, progress).await {
                Ok(reply) => {
                    let before =
                        std::mem::replace(&mut *self.mode.lock().expect("mode lock"), mode);
                    if before != mode {
                        if let Some(dir) = self.cache.as_ref().map(|c| c.dir().to_path_buf()) {
                            remember_mode(&dir, &self.endpoint, mode);
                        }
                    }
                    return Ok(reply);
                }
                Err(Attempt::Rejected(status, message)) => match mode.weaker() {
                    Some(next) => {
                        note(progress, format!("the server rejected {mode:?} ({status}); asking again with {next:?}")).await;
                        mode = next;
                    }
                    None => return Err(ModelError::Http { status, message }),
                },
                Err(Attempt::Cut(why)) if stream_retry_left > 0 => {
                    stream_retry_left -= 1;
                    note(
                        progress,
                        format!("the reply stopped mid-stream ({why}); asking again"),
                    )
                    .await;
                }
                Err(Attempt::Cut(why)) => return Err(ModelError::Stream(why)),
                Err(Attempt::Fatal(e)) => return Err(e),
            }
        }
    }

    /// The completion cap: the configured one, lowered to what the reply's
    /// schema can need.
    fn max_tokens_for(&self, prompt: &BuiltPrompt) -> u32 {
        match prompt.max_tokens {
            0 => self.max_tokens,
            n => n.min(self.max_tokens),
        }
    }

    fn request<'a>(&'a self, prompt: &'a BuiltPrompt, mode: ResponseMode) -> ChatRequest<'a> {
        let (response_format, stream_options) = match mode {
            ResponseMode::JsonSchema => (
                Some(ResponseFormat::JsonSchema {
                    json_schema: NamedSchema {
                        name: "stepguard_draft",
                        schema: &prompt.schema,
                        strict: false,
                    },
                }),
                Some(json!({"include_usage": true})),
            ),
            ResponseMode::JsonObject => (
                Some(ResponseFormat::JsonObject {
                    schema: &prompt.schema,
                }),
                Some(json!({"include_usage": true})),
            ),
            // The most conservative request: plain chat, nothing optional.
            ResponseMode::Plain => (None, None),
        };
        ChatRequest {
            model: &self.model,
            stream: true,
            temperature: 0,
            // Without a cap some servers generate until the context is full.
            max_tokens: self.max_tokens_for(prompt),
            messages: [
                Message {
                    role: "system",
                    content: &prompt.system,
                },
                Message {
                    role: "user",
                    content: &prompt.user,
                },
            ],
            response_format,
            stream_options,
        }
    }

    async fn attempt(
        &self,
        prompt: &BuiltPrompt,
        mode: ResponseMode,
        progress: Option<&mpsc::Sender<DraftProgress>>,
    ) -> Result<ModelReply, Attempt> {
        let started = Instant::now();
        let mut stream = self
            .client
            .chat()
            .create_stream_byot::<ChatRequest, Value>(self.request(prompt, mode))
            .await
            .map_err(|e| classify(e, mode))?;
        let mut text = String::new();
        let mut finished = false;
        let mut finish_reason = None;
        let mut pieces = 0u64;
        let mut usage = None;
        let mut model = self.model.clone();
        // In a JSON mode the reply is one object: once it closes, what a
        // server streams after it (some stream empty tokens to the cap) is
        // not read.
        let mut object = (mode != ResponseMode::Plain).then(ObjectEnd::default);
        // Events read after the object closed: a server's finish and usage
        // come within a few; a server streaming on to the cap is left.
        let mut after_close: Option<u32> = None;
        while let Some(event) = stream.next().await {
            if let Some(n) = after_close.as_mut() {
                *n += 1;
                if *n > EVENTS_AFTER_CLOSE {
                    if finish_reason.is_none() {
                        finish_reason = Some(OBJECT_COMPLETE.to_string());
                    }
                    break;
                }
            }
            let chunk = match event {
                Ok(chunk) => chunk,
                // One malformed event (a server's odd field) is skipped, not fatal.
                Err(OpenAIError::JSONDeserialize(..)) => continue,
                Err(e) => return Err(Attempt::Cut(e.to_string())),
            };
            if let Some(m) = chunk
                .get("model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
            {
                model = m.to_string();
            }
            if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                usage = Some((n("prompt_tokens"), n("completion_tokens")));
                if let Some(tx) = progress {
                    let _ = tx.try_send(DraftProgress::Usage {
                        prompt: n("prompt_tokens"),
                        completion: n("completion_tokens"),
                    });
                }
            }
            let choice = chunk.get("choices").and_then(|c| c.get(0));
            if let Some(r) = choice
                .and_then(|c| c.get("finish_reason"))
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                finished = true;
                finish_reason = Some(crate::sanitize::sanitize_line(r, 40).into_owned());
            }
            let delta = choice
                .and_then(|c| c.get("delta"))
                .and_then(|d| d.get("content"))
                .and_then(Value::as_str);
            if let Some(delta) = delta.filter(|d| !d.is_empty()) {
                pieces += 1;
                text.push_str(delta);
                if let Some(o) = object.as_mut().filter(|_| after_close.is_none()) {
                    let mut from = text.len() - delta.len();
                    while let Some(end) = o.feed(&text[from..]) {
                        // Only a JSON object closes the reply: `{deployment}`
                        // in prose before it does not; scanning goes on after it.
                        if o.holds_object(&text) {
                            finished = true;
                            after_close = Some(0);
                            break;
                        }
                        *o = ObjectEnd::at(end);
                        from = end;
                    }
                }
                if let Some(tx) = progress {
                    let tail: String = text
                        .chars()
                        .rev()
                        .take(160)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    // The screen may lag behind; dropping a progress update is fine.
                    let _ = tx.try_send(DraftProgress::Text {
                        chars: text.chars().count(),
                        tail,
                    });
                }
            }
        }
        // A stream cut before [DONE] ends without an error; with no finish
        // reason and no parsable draft, it was cut, not finished.
        if !finished && super::reply::parse_reply(&text).is_err() {
            return Err(Attempt::Cut(
                "the stream ended before the reply was complete".into(),
            ));
        }
        Ok(ModelReply {
            text,
            model,
            usage,
            mode,
            elapsed: started.elapsed(),
            cached: false,
            finish_reason,
            pieces,
            max_tokens: self.max_tokens_for(prompt),
        })
    }
}

/// The `finish_reason` recorded when stepguard stopped reading because the
/// reply's JSON object was complete.
pub const OBJECT_COMPLETE: &str = "object_complete";
const EVENTS_AFTER_CLOSE: u32 = 8;

/// Where a streamed JSON object closes: braces counted outside strings.
/// Offsets are into the whole reply.
#[derive(Default)]
struct ObjectEnd {
    depth: u32,
    started: bool,
    in_string: bool,
    escaped: bool,
    /// Bytes of the reply before the next piece.
    fed: usize,
    /// Where the object began.
    start: usize,
}

impl ObjectEnd {
    /// A scanner for the reply from byte `fed` on.
    fn at(fed: usize) -> Self {
        ObjectEnd {
            fed,
            ..ObjectEnd::default()
        }
    }

    /// Is the reply, from where this object began, one JSON object?
    fn holds_object(&self, text: &str) -> bool {
        text.get(self.start..)
            .and_then(super::reply::object_at)
            .is_some()
    }

    /// Feed the next piece; once the first object has closed, the offset
    /// just after its closing brace.
    fn feed(&mut self, piece: &str) -> Option<usize> {
        let base = self.fed;
        self.fed += piece.len();
        for (i, c) in piece.char_indices() {
            if self.in_string {
                match c {
                    _ if self.escaped => self.escaped = false,
                    '\\' => self.escaped = true,
                    '"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' if self.started => self.in_string = true,
                '{' => {
                    if !self.started {
                        self.start = base + i;
                    }
                    self.started = true;
                    self.depth += 1;
                }
                '}' if self.started => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(base + i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

async fn note(progress: Option<&mpsc::Sender<DraftProgress>>, text: String) {
    if let Some(tx) = progress {
        let _ = tx.try_send(DraftProgress::Note(text));
    }
}

/// Why one attempt failed, and so what to do next.
enum Attempt {
    /// The server may not support this response mode: try a weaker one.
    Rejected(u16, String),
    /// The stream broke after it started: worth one more try.
    Cut(String),
    Fatal(ModelError),
}

impl From<ModelError> for Attempt {
    fn from(e: ModelError) -> Self {
        Attempt::Fatal(e)
    }
}

fn classify(e: OpenAIError, mode: ResponseMode) -> Attempt {
    match e {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let message = crate::sanitize::sanitize_line(&api.api_error.message, 200).into_owned();
            match status {
                401 | 403 => Attempt::Fatal(ModelError::Auth(format!("{status}: {message}"))),
                // llama.cpp's server answers 500 to a schema it cannot handle.
                400 | 404 | 422 | 500 | 501 if mode != ResponseMode::Plain => {
                    Attempt::Rejected(status, message)
                }
                _ => Attempt::Fatal(ModelError::Http { status, message }),
            }
        }
        OpenAIError::Reqwest(e) if e.is_connect() => {
            Attempt::Fatal(ModelError::Connect(e.to_string()))
        }
        OpenAIError::Reqwest(e) => Attempt::Cut(e.to_string()),
        OpenAIError::StreamError(e) => Attempt::Cut(e.to_string()),
        other => Attempt::Fatal(ModelError::Setup(other.to_string())),
    }
}

/// What each endpoint accepted, kept beside the draft cache so the next
/// process does not pay for the rejected modes again.
fn modes_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("endpoints.json")
}

fn remembered_mode(dir: &std::path::Path, endpoint: &str) -> Option<ResponseMode> {
    let text = std::fs::read_to_string(modes_path(dir)).ok()?;
    let map: std::collections::BTreeMap<String, ResponseMode> = serde_json::from_str(&text).ok()?;
    map.get(endpoint).copied()
}

fn remember_mode(dir: &std::path::Path, endpoint: &str, mode: ResponseMode) {
    let path = modes_path(dir);
    let mut map: std::collections::BTreeMap<String, ResponseMode> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    map.insert(endpoint.to_string(), mode);
    if crate::paths::create_private_dir(dir).is_ok() {
        if let Ok(bytes) = serde_json::to_vec_pretty(&map) {
            let _ = crate::session::store::write_atomic(&path, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ObjectEnd;

    #[test]
    fn the_object_ends_where_its_braces_close() {
        let ends = |pieces: &[&str]| {
            let mut o = ObjectEnd::default();
            pieces.iter().position(|p| o.feed(p).is_some())
        };
        assert_eq!(ends(&["{\"a\": {", "\"b\": 1}", "}", "\n\n"]), Some(2));
        // Braces and quotes inside strings do not count.
        assert_eq!(ends(&["{\"n\": \"}{\\\"}\"", "}"]), Some(1));
        // Prose before the object, and an unclosed object.
        assert_eq!(ends(&["Sure: ", "{}"]), Some(1));
        assert_eq!(ends(&["{\"a\": \"", "}"]), None);
        // The offset is into the whole reply, and what closed is checked.
        let text = "Here is {deployment}: {\"values\": {}}";
        let mut o = ObjectEnd::default();
        let end = o.feed(text).unwrap();
        assert_eq!(&text[..end], "Here is {deployment}");
        assert!(!o.holds_object(text));
        let mut o = ObjectEnd::at(end);
        let end = o.feed(&text[end..]).unwrap();
        assert_eq!(end, text.len());
        assert!(o.holds_object(text));
    }
}
