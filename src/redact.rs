//! Secret redaction before anything is sent to a model (SPEC §1.7).
//!
//! Each secret is replaced by `[REDACTED:<kind>]`; what is around it (the key
//! name, `Bearer `, a URL's user and host, the quotes of a JSON string) is
//! kept so that the text still makes sense to a model. The audit log records
//! the [`Finding`]s (kinds and counts), never the secret.
//!
//! The passes run from the most structural to the most generic, so the most
//! specific kind wins:
//!
//! | kind | what |
//! |---|---|
//! | `private-key` | PEM `-----BEGIN … PRIVATE KEY-----` blocks (the whole block; a truncated block up to its last base64 line) |
//! | `k8s-secret-data` | values under `data:` / `stringData:` of a Kubernetes `Secret` (YAML, JSON, and the escaped JSON of `last-applied-configuration`) |
//! | `url-password` | `scheme://user:PASSWORD@host` |
//! | `url-signature` | `?sig=` / `X-Amz-Signature=`-style signed-URL parameters |
//! | `slack-webhook` | `https://hooks.slack.com/services/…` |
//! | `basic-auth`, `bearer-token`, `auth-header` | `Authorization:` headers, bare `Bearer <token>` |
//! | `cookie` | `Cookie:` / `Set-Cookie:` header values |
//! | `jwt`, `aws-access-key`, `github-token`, `gitlab-token`, `slack-token`, `google-api-key`, `sk-api-key`, `stripe-key`, `npm-token` | token shapes |
//! | `aws-secret-key` | `aws_secret_access_key = …`, `AWS_SECRET_ACCESS_KEY=…`, `"SecretAccessKey": "…"` |
//! | `password`, `token`, `secret` | a value whose key names a secret (see [`key_kind`]): `KEY=v`, `key: v`, `"key": "v"`, `--key v`, `- name: KEY` + `value: v`, libpq `password=…`, `.pgpass`, `.netrc`, `curl -u`, `mysql -p…`, `redis-cli -a …` |
//!
//! False positives matter as much as misses: resource names (`auth-service`,
//! `token-refresher-7d9f8c-xk2lq`), references (`secretName:`,
//! `secretKeyRef:`), `kubectl get secrets` tables and `kubectl describe
//! secret` byte counts pass unchanged. Key names are matched by their words,
//! not by substring, so `tokens_per_second` and `author` are not secrets.
//!
//! `redact` is idempotent: every pass leaves a value that already is a
//! `[REDACTED:…]` marker alone, and the passes are repeated (a few rounds at
//! most) until the text stops changing, since one replacement can expose
//! another secret to an earlier pass.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::OnceLock;

use regex::{Captures, Regex};

/// Rounds of all passes at most; real text settles in one (two when
/// something was found, the second to confirm).
const MAX_ROUNDS: usize = 4;

/// Start of every replacement.
pub const MARKER_PREFIX: &str = "[REDACTED:";

/// Text with its secrets replaced, and what was replaced. The text is
/// borrowed when nothing was: a pasted state can be megabytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    pub text: Cow<'a, str>,
    /// One entry per kind, sorted by kind.
    pub findings: Vec<Finding>,
}

/// How many secrets of one kind were replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub count: usize,
}

impl Redacted<'_> {
    /// Total number of secrets replaced.
    pub fn total(&self) -> usize {
        self.findings.iter().map(|f| f.count).sum()
    }
}

/// Replace the secrets in `text` by `[REDACTED:<kind>]`.
pub fn redact(text: &str) -> Redacted<'_> {
    let p = patterns();
    let mut tally = Tally::default();
    let mut text = Cow::Borrowed(text);

    // A replacement can uncover another secret (a pass keys on text that a
    // later pass rewrote), so run until nothing changes; this is also what
    // makes `redact` idempotent.
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for pass in PASSES {
            if let Some(out) = pass(p, &text, &mut tally) {
                changed |= *out != *text;
                text = Cow::Owned(out);
            }
        }
        if !changed {
            break;
        }
    }
    Redacted {
        text,
        findings: tally
            .0
            .into_iter()
            .map(|(kind, count)| Finding { kind, count })
            .collect(),
    }
}

/// One rewrite of the text: the new text, or `None` if nothing changed.
type Pass = fn(&Patterns, &str, &mut Tally) -> Option<String>;

/// Most structural first, so that the most specific kind wins.
const PASSES: [Pass; 13] = [
    private_keys,
    k8s_secret_json,
    k8s_secret_yaml,
    urls,
    headers,
    token_shapes,
    aws_secret_keys,
    yaml_keys,
    json_keys,
    assignments,
    spaced_assignments,
    flags,
    credential_files,
];

#[derive(Default)]
struct Tally(BTreeMap<&'static str, usize>);

impl Tally {
    fn add(&mut self, kind: &'static str) {
        *self.0.entry(kind).or_default() += 1;
    }
}

fn marker(kind: &str) -> String {
    format!("{MARKER_PREFIX}{kind}]")
}

fn is_marker(value: &str) -> bool {
    value.starts_with(MARKER_PREFIX)
}

// ---------------------------------------------------------------------------
// Patterns, compiled once.

struct Patterns {
    pem_block: Regex,
    pem_begin: Regex,
    url_userinfo: Regex,
    url_signature: Regex,
    slack_webhook: Regex,
    auth_basic: Regex,
    auth_bearer: Regex,
    auth_other: Regex,
    cookie: Regex,
    curl_user: Regex,
    curl_header: Regex,
    shapes: Vec<Shape>,
    aws_secret: Regex,
    json_key: [Regex; 3],
    json_env: [Regex; 2],
    assign: Regex,
    assign_spaced: Regex,
    flag: Regex,
    pgpass: Regex,
    netrc: Regex,
    mysql_p: Regex,
    redis_a: Regex,
    bytes_count: Regex,
    scheme: Regex,
}

/// A token recognisable by its shape alone.
struct Shape {
    regex: Regex,
    kind: &'static str,
    /// A further check on the match.
    plausible: fn(&str) -> bool,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(Patterns::new)
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static redaction pattern")
}

fn shape(pattern: &str, kind: &'static str, plausible: fn(&str) -> bool) -> Shape {
    Shape {
        regex: re(pattern),
        kind,
        plausible,
    }
}

fn always(_: &str) -> bool {
    true
}

/// `sk-` keys are mixed-case random strings; `sk-worker-7d9f8c` is a pod.
fn mixed_case_with_digit(token: &str) -> bool {
    let body = &token[3..];
    body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase())
        && body.bytes().any(|b| b.is_ascii_digit())
}

impl Patterns {
    fn new() -> Self {
        const PEM_LABEL: &str = r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----";
        // What may precede `Authorization` and sit between it and its value:
        // a header line, a JSON/dict key, Go's `map[Authorization:[…]]`.
        const AUTH_KEY: &str = r#"\b(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*\[?["']?[ \t]*"#;
        Patterns {
            pem_block: re(&format!(
                r"{PEM_LABEL}(?s:.*?)-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            )),
            pem_begin: re(PEM_LABEL),
            url_userinfo: re(
                r#"([A-Za-z][A-Za-z0-9+.\-]*://)([^\s:/@?#\[\]"'<>]*):([^\s/?#"'<>]+)@"#,
            ),
            url_signature: re(
                r#"(?i)([?&](?:sig|signature|x-amz-signature|x-goog-signature)=)([^&\s"'#<>]+)"#,
            ),
            slack_webhook: re(
                r"(https://hooks\.slack\.com/(?:services|workflows)/)([A-Za-z0-9/_\-]+)",
            ),
            auth_basic: re(&format!(
                r"(?i)({AUTH_KEY}basic[ \t]+)([A-Za-z0-9+/=._~\-]+)"
            )),
            auth_bearer: re(&format!(
                r"(?i)((?:{AUTH_KEY})?\bbearer[ \t]+)([A-Za-z0-9._~+/=\-]+)"
            )),
            auth_other: re(&format!(
                r#"(?im)((?:^|["'\[{{,])[ \t]*(?:[<>][ \t]*)?{AUTH_KEY})([^\s"'\]]+)(?:[ \t]+([^"'\]\r\n]*[^"'\]\s]))?"#
            )),
            cookie: re(r"(?im)^([ \t]*(?:[<>][ \t]*)?)((?:set-)?cookie)([ \t]*:[ \t]*)([^\r\n]*)"),
            curl_user: re(
                r#"(\bcurl\b[^\n]*?[ \t](?:-u|--user)(?:[ \t]+|=)["']?)([^:\s"']+):([^\s"']+)"#,
            ),
            curl_header: re(
                r#"((?:-H|--header)[ \t]+["'])([A-Za-z0-9_\-]+)([ \t]*:[ \t]*)([^"'\r\n]*)"#,
            ),
            shapes: vec![
                shape(
                    r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
                    "jwt",
                    always,
                ),
                shape(
                    r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
                    "aws-access-key",
                    always,
                ),
                shape(
                    r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
                    "github-token",
                    always,
                ),
                shape(r"\bglpat-[A-Za-z0-9_\-]{20,}", "gitlab-token", always),
                shape(r"\bxox[abeoprs]-[A-Za-z0-9\-]{10,}", "slack-token", always),
                shape(r"\bAIza[0-9A-Za-z_\-]{35}", "google-api-key", always),
                shape(
                    r"\bsk-[A-Za-z0-9_\-]{20,}",
                    "sk-api-key",
                    mixed_case_with_digit,
                ),
                shape(
                    r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
                    "stripe-key",
                    always,
                ),
                shape(r"\bnpm_[A-Za-z0-9]{36}\b", "npm-token", always),
            ],
            aws_secret: re(
                r#"(?i)(\b(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?[ \t]*[:=][ \t]*["']?)([A-Za-z0-9/+=]{30,})"#,
            ),
            json_key: [
                re(r#""([A-Za-z_][A-Za-z0-9_.\- ]*)"[ \t]*:[ \t]*""#),
                re(r"'([A-Za-z_][A-Za-z0-9_.\- ]*)'[ \t]*:[ \t]*'"),
                re(r#"\\"([A-Za-z_][A-Za-z0-9_.\- ]*)\\"[ \t]*:[ \t]*\\""#),
            ],
            json_env: [
                re(
                    r#"("name"\s*:\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*,\s*"value"\s*:\s*")((?:[^"\\\n]|\\.)*)""#,
                ),
                re(
                    r#"(\\"name\\"\s*:\s*\\"([A-Za-z_][A-Za-z0-9_]*)\\"\s*,\s*\\"value\\"\s*:\s*\\")([^"\\]*)\\""#,
                ),
            ],
            assign: re(r"(?m)(?:^|[^A-Za-z0-9_.\-])(-{0,2}[A-Za-z_][A-Za-z0-9_.\-]*)="),
            assign_spaced: re(
                r"(?m)^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.\-]*)(?:[ \t]+=[ \t]*|=[ \t]+)",
            ),
            flag: re(r"(?m)(?:^|[ \t])(--[A-Za-z][A-Za-z0-9_.\-]*)[ \t]+"),
            pgpass: re(
                r"(?m)^([A-Za-z0-9.*_\-]*[A-Za-z*][A-Za-z0-9.*_\-]*:(?:[0-9]{1,5}|\*):[^:\s]+:[^:\s]+:)(\S+)[ \t]*\r?$",
            ),
            netrc: re(r"(\bmachine\s+\S+\s+login\s+\S+\s+password\s+)(\S+)"),
            mysql_p: re(r"(\bmysql(?:dump|admin)?\b[^\n]*?[ \t]-p)([^\s\-][^\s]*)"),
            redis_a: re(r"(\bredis-cli\b[^\n]*?[ \t]-a[ \t]+)([^\s\-][^\s]*)"),
            bytes_count: re(r"^[0-9]+ bytes$"),
            scheme: re(r"(?i)^(?:bearer|basic|token|digest|apikey|api-key)[ \t]+"),
        }
    }
}

// ---------------------------------------------------------------------------
// Which key names hold secrets.

/// Key names that contain a secret word but name a reference or a setting.
const EXCLUDED_KEYS: &[&str] = &[
    "pwd",
    "oldpwd",
    "secretname",
    "secretref",
    "secretrefs",
    "secretkeyref",
    "secretkeyselector",
    "secretnamespace",
    "secretstoreref",
    "secretproviderclass",
    "nodepublishsecretref",
    "nodestagesecretref",
    "nodeexpandsecretref",
    "controllerpublishsecretref",
    "controllerexpandsecretref",
    "tokenexpirationseconds",
    "expirationseconds",
    "imagepullsecrets",
    "automountserviceaccounttoken",
];

/// A key whose words after the secret word include one of these names
/// something about the secret, not the secret: `token_ttl`, `secret_name`,
/// `password_file`, `auth_enabled`.
#[rustfmt::skip]
const NOT_A_SECRET_AFTER: &[&str] = &[
    "name", "names", "ref", "refs", "selector", "namespace", "file", "files", "path", "paths",
    "dir", "directory", "ttl", "seconds", "secs", "sec", "ms", "minutes", "hours", "days",
    "expiration", "expiry", "expires", "expire", "expired", "lifetime", "duration", "age", "count",
    "length", "len", "size", "bytes", "max", "min", "limit", "limits", "rate", "url", "uri",
    "urls", "endpoint", "endpoints", "host", "hosts", "port", "server", "enabled", "enable",
    "disabled", "disable", "required", "type", "types", "mode", "method", "methods", "policy",
    "policies", "version", "versions", "timeout", "interval", "header", "headers", "prefix",
    "format", "provider", "providers", "volume", "volumes", "mount", "mounts", "audience",
    "audiences", "issuer", "location", "field", "fields", "label", "labels", "template",
    "rotation", "rotated", "id", "ids", "kind", "store", "class", "manager", "backend", "source",
    "sources", "user", "username", "login", "strategy", "scheme", "plugin", "service", "stdin",
    "hint", "reset", "refresher", "validity", "algorithm", "cache", "lock", "status", "state",
    "created", "updated", "at", "request", "requests", "review", "reviews", "webhook", "config",
    "key", "keys",
];

/// Words in front of `key` that make it a secret (`api_key`, `SECRET_KEY`);
/// after other words `key` names a key (`passwordKey: password` in Helm).
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "private",
    "secret",
    "encryption",
    "signing",
    "master",
    "shared",
    "auth",
];

/// The kind of secret a key name holds, or `None` if its value is not a
/// secret. Keys are split into words (`_ - . /` and camelCase), so
/// `DB_PASSWORD`, `clientSecret`, `X-Api-Key`, `spring.datasource.password`
/// and `PGPASSWORD` are secrets while `tokens_per_second`, `author`,
/// `secretName` and `tokenExpirationSeconds` are not.
pub fn key_kind(key: &str) -> Option<&'static str> {
    let key = key.trim_start_matches('-');
    let compact: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if compact.is_empty()
        || EXCLUDED_KEYS.contains(&compact.as_str())
        || compact.starts_with("serviceaccounttoken")
        // Helm's `existingSecret`, `existingSecretPasswordKey`: references.
        || compact.starts_with("existing")
    {
        return None;
    }
    let words = words(key);
    let mut found: Option<(usize, &'static str)> = None;
    for (at, word) in words.iter().enumerate() {
        let word = word.trim_end_matches(|c: char| c.is_ascii_digit());
        let kind = if ["password", "passwd", "passphrase", "pwd"]
            .iter()
            .any(|w| word.ends_with(w))
        {
            Some("password")
        } else if word.ends_with("token") {
            Some("token")
        } else if word.ends_with("secret")
            || [
                "apikey",
                "accesskey",
                "privatekey",
                "secretkey",
                "credential",
                "credentials",
            ]
            .iter()
            .any(|w| word.ends_with(w))
            || word == "auth"
            || word.ends_with("basicauth")
            || (word == "key" && at > 0 && KEY_QUALIFIERS.contains(&words[at - 1].as_str()))
        {
            Some("secret")
        } else {
            None
        };
        if let Some(kind) = kind {
            // `DB_PASSWORD_TOKEN`: the password kind is the more telling one.
            let kind = match found {
                Some((_, "password")) => "password",
                _ => kind,
            };
            found = Some((at, kind));
        }
    }
    let (at, kind) = found?;
    if words[at + 1..]
        .iter()
        .any(|w| NOT_A_SECRET_AFTER.contains(&w.as_str()))
    {
        return None;
    }
    Some(kind)
}

/// Lower-case words of a key: split on non-alphanumerics and camelCase.
fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (at, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !word.is_empty() {
            let prev = chars[at - 1];
            let next_lower = chars.get(at + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut word));
            }
        }
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Values that sit where a secret would but are not one: empty, booleans,
/// references to variables or templates, masks, `kubectl describe`'s byte
/// counts, markers already placed.
fn is_not_a_secret(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || is_marker(v) {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    let is_env_ref = v.len() > 1
        && v.starts_with('$')
        && v[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "null"
            | "none"
            | "nil"
            | "~"
            | "-"
            | "redacted"
            | "<redacted>"
            | "(redacted)"
            | "<none>"
            | "<nil>"
            | "<unset>"
            | "<empty>"
            | "\"\""
            | "''"
    ) || is_env_ref
        || v.starts_with("${")
        || v.starts_with("$(")
        || v.starts_with("{{")
        || v.starts_with("<set to the key")
        || (v.starts_with('<') && v.ends_with('>') && !v[1..].contains('<'))
        || v.chars().all(|c| matches!(c, '*' | '•' | '·'))
        || patterns().bytes_count.is_match(v)
}

// ---------------------------------------------------------------------------
// Helpers for value extents.

/// End of a quoted string starting at `text[0]` (a `"` or `'`): the index of
/// the closing quote, or `None` if the line ends first.
fn closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let quote = bytes[0];
    let mut at = 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if quote == b'"' => at += 2,
            b'\n' | b'\r' => return None,
            b if b == quote => return Some(at),
            _ => at += 1,
        }
    }
    None
}

/// The secret part of a value at the start of `text`: inside the quotes if
/// quoted, else up to whitespace or a separator. Trailing `,)}]` that close
/// something opened before the value are not part of it.
fn value_range(text: &str) -> Range<usize> {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'"' | b'\'') => {
            let end = closing_quote(text).unwrap_or_else(|| line_end(text));
            1..end.max(1)
        }
        _ => {
            let mut end = text
                .find(|c: char| c.is_whitespace() || "&;\"'<>\\".contains(c))
                .unwrap_or(text.len());
            while end > 0 {
                let last = bytes[end - 1];
                let opener = match last {
                    b',' => None,
                    b')' => Some('('),
                    b'}' => Some('{'),
                    b']' => Some('['),
                    _ => break,
                };
                if opener.is_some_and(|o| text[..end - 1].contains(o)) {
                    break;
                }
                end -= 1;
            }
            0..end
        }
    }
}

fn line_end(text: &str) -> usize {
    text.find(['\n', '\r']).unwrap_or(text.len())
}

/// Rebuild `text` with `ranges` (sorted, non-overlapping) replaced.
fn splice(text: &str, edits: &[(Range<usize>, String)]) -> String {
    // Exactly the final length: markers are longer than most secrets, and
    // one byte over the input's length would double a megabytes-long buffer.
    let grows: usize = edits.iter().map(|(_, with)| with.len()).sum();
    let shrinks: usize = edits.iter().map(|(range, _)| range.len()).sum();
    let mut out = String::with_capacity((text.len() + grows).saturating_sub(shrinks));
    let mut last = 0;
    for (range, with) in edits {
        if range.start < last {
            // Overlaps the edit before (a pass's bug): hide the rest of it
            // too rather than panic or show it.
            last = last.max(range.end);
            continue;
        }
        out.push_str(&text[last..range.start]);
        out.push_str(with);
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// `Regex::replace_all` that reports whether anything changed.
fn replace_all(
    regex: &Regex,
    text: &str,
    mut with: impl FnMut(&Captures) -> Option<String>,
) -> Option<String> {
    let mut changed = false;
    let out = regex.replace_all(text, |caps: &Captures| match with(caps) {
        Some(new) => {
            changed = true;
            new
        }
        None => caps[0].to_owned(),
    });
    match out {
        Cow::Owned(out) if changed => Some(out),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Passes. Each returns the new text, or `None` if nothing changed.

fn private_keys(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains("PRIVATE KEY") {
        return None;
    }
    let mut text = Cow::Borrowed(text);
    if let Some(out) = replace_all(&p.pem_block, &text, |_| {
        tally.add("private-key");
        Some(marker("private-key"))
    }) {
        text = Cow::Owned(out);
    }
    // A block whose END line is missing (a truncated paste): its BEGIN line
    // and the base64 lines that follow.
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for m in p.pem_begin.find_iter(&text) {
        if edits.last().is_some_and(|(last, _)| m.start() < last.end) {
            continue;
        }
        let rest = &text[m.end()..];
        let mut end = if rest.starts_with("\\n") {
            // Inside a JSON string: up to the closing quote.
            rest.find('"').unwrap_or_else(|| line_end(rest))
        } else {
            truncated_pem_len(rest)
        };
        end += m.end();
        tally.add("private-key");
        edits.push((m.start()..end, marker("private-key")));
    }
    if edits.is_empty() {
        return match text {
            Cow::Owned(out) => Some(out),
            Cow::Borrowed(_) => None,
        };
    }
    Some(splice(&text, &edits))
}

/// Length of what follows a BEGIN label that belongs to the key: the rest of
/// its line, then base64 and header lines (and the blank line after headers).
fn truncated_pem_len(rest: &str) -> usize {
    let mut end = line_end(rest);
    let mut offset = rest.find('\n').map_or(rest.len(), |nl| nl + 1);
    let mut after_header = false;
    while offset < rest.len() {
        let len = rest[offset..]
            .find('\n')
            .map_or(rest.len() - offset, |nl| nl + 1);
        let line = &rest[offset..offset + len];
        let body = line.trim();
        let header = body.starts_with("Proc-Type:") || body.starts_with("DEK-Info:");
        let base64 = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        if !(header || base64 || (body.is_empty() && after_header)) {
            break;
        }
        after_header = header;
        end = offset + line.trim_end_matches(['\r', '\n']).len();
        offset += len;
    }
    end
}

/// Kubernetes `Secret`s in JSON: the values of `"data"` / `"stringData"`
/// objects that are members of an object with `"kind": "Secret"`. Run once
/// on plain JSON and once on JSON escaped inside a JSON string (the
/// `last-applied-configuration` annotation of `kubectl get -o json`).
fn k8s_secret_json(_: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains("Secret") {
        return None;
    }
    let mut text = Cow::Borrowed(text);
    for escaped in [false, true] {
        if escaped && !text.contains("\\\"") {
            continue;
        }
        let mut ranges = secret_json_values(&text, escaped);
        ranges.sort_by_key(|r| r.start);
        ranges.dedup();
        let mut edits = Vec::new();
        let mut last = 0;
        for range in ranges {
            if range.start < last || is_not_a_secret(&text[range.clone()]) {
                continue;
            }
            last = range.end;
            tally.add("k8s-secret-data");
            edits.push((range, marker("k8s-secret-data")));
        }
        if !edits.is_empty() {
            text = Cow::Owned(splice(&text, &edits));
        }
    }
    match text {
        Cow::Owned(out) => Some(out),
        Cow::Borrowed(_) => None,
    }
}

#[derive(Default)]
struct JsonFrame {
    object: bool,
    /// The value of a `data` / `stringData` member.
    data: bool,
    /// Has `"kind": "Secret"`.
    secret: bool,
    key: Option<Range<usize>>,
    after_colon: bool,
    /// String values directly in this (data) object.
    values: Vec<Range<usize>>,
    /// Values of this object's data members.
    data_values: Vec<Range<usize>>,
}

/// Content ranges of the string values to redact. A tolerant scanner, not a
/// parser: it never fails, strings end at a newline, stray brackets only
/// cost precision.
fn secret_json_values(text: &str, escaped: bool) -> Vec<Range<usize>> {
    fn close(stack: &mut Vec<JsonFrame>, found: &mut Vec<Range<usize>>) {
        let Some(frame) = stack.pop() else { return };
        if frame.data {
            if let Some(parent) = stack.last_mut() {
                parent.data_values.extend(frame.values);
            }
        }
        if frame.secret {
            found.extend(frame.data_values);
        }
    }

    let bytes = text.as_bytes();
    let mut stack: Vec<JsonFrame> = Vec::new();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        // Where a string starts, and its content.
        let string = if escaped && b == b'\\' {
            let run = bytes[at..].iter().take_while(|&&c| c == b'\\').count();
            if bytes.get(at + run) == Some(&b'"') && run % 4 == 1 {
                let start = at + run + 1;
                Some((start, escaped_string_end(bytes, start)))
            } else {
                at += run.max(1);
                continue;
            }
        } else if !escaped && b == b'"' {
            let start = at + 1;
            Some((start, plain_string_end(bytes, start)))
        } else {
            None
        };
        if let Some((start, (end, next))) = string {
            if let Some(top) = stack.last_mut().filter(|f| f.object) {
                if top.after_colon {
                    let key = top.key.take();
                    top.after_colon = false;
                    if key.is_some_and(|k| &text[k] == "kind") && &text[start..end] == "Secret" {
                        top.secret = true;
                    }
                    if top.data {
                        top.values.push(start..end);
                    }
                } else {
                    top.key = Some(start..end);
                }
            }
            at = next;
            continue;
        }
        match b {
            b':' => {
                if let Some(top) = stack.last_mut().filter(|f| f.object && f.key.is_some()) {
                    top.after_colon = true;
                }
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.key = None;
                    top.after_colon = false;
                }
            }
            b'{' | b'[' => {
                let mut data = false;
                if let Some(top) = stack.last_mut() {
                    data = b == b'{'
                        && top.object
                        && top.after_colon
                        && top
                            .key
                            .clone()
                            .is_some_and(|k| matches!(&text[k], "data" | "stringData"));
                    top.key = None;
                    top.after_colon = false;
                }
                stack.push(JsonFrame {
                    object: b == b'{',
                    data,
                    ..JsonFrame::default()
                });
            }
            b'}' | b']' => close(&mut stack, &mut found),
            _ => {}
        }
        at += 1;
    }
    while !stack.is_empty() {
        close(&mut stack, &mut found);
    }
    found
}

/// (content end, where scanning resumes) of a plain JSON string.
fn plain_string_end(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut at = start;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return (at, at + 1),
            b'\n' | b'\r' => return (at, at),
            _ => at += 1,
        }
    }
    (bytes.len(), bytes.len())
}

/// (content end, where scanning resumes) of a string inside a JSON string,
/// delimited by `\"` (an inner escaped quote is `\\\"`).
fn escaped_string_end(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut at = start;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => {
                let run = bytes[at..].iter().take_while(|&&c| c == b'\\').count();
                if bytes.get(at + run) == Some(&b'"') && run % 4 == 1 {
                    return (at, at + run + 1);
                }
                at += run;
            }
            b'"' | b'\n' | b'\r' => return (at, at),
            _ => at += 1,
        }
    }
    (bytes.len(), bytes.len())
}

// ---------------------------------------------------------------------------
// Line-based YAML (and YAML-like: HTTP headers, `kubectl describe`).

/// A `key: value` line.
struct KeyLine<'a> {
    /// Byte column of the key (after indentation and any `- `).
    col: usize,
    /// The line starts a list item (`- key: value`).
    dashed: bool,
    /// The key, without quotes.
    key: &'a str,
    /// Byte offset of the value in the line.
    value_start: usize,
    /// The value, trailing whitespace removed.
    value: &'a str,
}

/// Parse `[indent][> |< ][- ]key: value` (key bare or quoted). Keys have no
/// spaces, so a log line such as `Error validating token: expired` is not a
/// key line.
fn parse_key_line(body: &str) -> Option<KeyLine<'_>> {
    let b = body.as_bytes();
    let skip_blanks = |mut at: usize| {
        while at < b.len() && (b[at] == b' ' || b[at] == b'\t') {
            at += 1;
        }
        at
    };
    let mut at = skip_blanks(0);
    // curl -v marks request and response headers with `> ` and `< `.
    if at + 1 < b.len() && (b[at] == b'>' || b[at] == b'<') && b[at + 1] == b' ' {
        at = skip_blanks(at + 2);
    }
    let mut dashed = false;
    while at + 1 < b.len() && b[at] == b'-' && (b[at + 1] == b' ' || b[at + 1] == b'\t') {
        dashed = true;
        at = skip_blanks(at + 2);
    }
    let col = at;
    let (key, after) = match b.get(at)? {
        &q @ (b'"' | b'\'') => {
            let len = body[at + 1..].find(q as char)?;
            (&body[at + 1..at + 1 + len], at + len + 2)
        }
        c if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.' => {
            let len = b[at..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || b"_.-/".contains(c))
                .count();
            (&body[at..at + len], at + len)
        }
        _ => return None,
    };
    let colon = skip_blanks(after);
    if key.is_empty() || b.get(colon) != Some(&b':') {
        return None;
    }
    if colon + 1 < b.len() && b[colon + 1] != b' ' && b[colon + 1] != b'\t' {
        return None;
    }
    let value_start = skip_blanks(colon + 1);
    Some(KeyLine {
        col,
        dashed,
        key,
        value_start,
        value: body[value_start..].trim_end(),
    })
}

/// A line without its terminator.
fn body(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn indent(body: &str) -> usize {
    body.len() - body.trim_start_matches([' ', '\t']).len()
}

fn is_blank_or_comment(body: &str) -> bool {
    let t = body.trim();
    t.is_empty() || t.starts_with('#')
}

/// A value without a trailing comment and quotes.
fn unquote(value: &str) -> &str {
    let v = value.split(" #").next().unwrap_or("").trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// `|`, `>-`, `|+2`, ...: the value is the indented block below.
fn is_block_indicator(value: &str) -> bool {
    let v = value.split(" #").next().unwrap_or("").trim();
    (v.starts_with('|') || v.starts_with('>'))
        && v[1..].bytes().all(|b| b"-+0123456789".contains(&b))
}

/// Index after the last line below `at` that is indented deeper than `col`
/// (blank lines in between belong to the block).
fn block_end(lines: &[&str], at: usize, col: usize) -> usize {
    let mut end = at + 1;
    for (j, line) in lines.iter().enumerate().skip(at + 1) {
        let b = body(line);
        if b.trim().is_empty() {
            continue;
        }
        if indent(b) <= col {
            break;
        }
        end = j + 1;
    }
    end
}

#[derive(Clone)]
enum Act {
    Keep,
    Drop,
    /// Replace the line's body (its terminator is kept).
    Body(String),
}

fn emit(lines: &[&str], acts: &[Act]) -> String {
    let mut out = String::new();
    for (line, act) in lines.iter().zip(acts) {
        match act {
            Act::Keep => out.push_str(line),
            Act::Drop => {}
            Act::Body(new) => {
                out.push_str(new);
                out.push_str(&line[body(line).len()..]);
            }
        }
    }
    out
}

/// The line with its value replaced by `with`.
fn with_value(body: &str, kl: &KeyLine, with: &str) -> String {
    if kl.value_start < body.len() {
        format!("{}{with}", &body[..kl.value_start])
    } else {
        format!("{} {with}", body.trim_end())
    }
}

/// Does the mapping that holds the key at line `at`, column `col`, also hold
/// `kind: Secret`? Looks at the siblings above and below.
fn yaml_mapping_is_secret(
    lines: &[&str],
    parsed: &[Option<KeyLine>],
    at: usize,
    col: usize,
) -> bool {
    let is_secret_kind =
        |kl: &KeyLine| kl.col == col && kl.key == "kind" && unquote(kl.value) == "Secret";
    let is_document_mark = |b: &str| b.starts_with("---") || b.starts_with("...");
    for j in (0..at).rev() {
        let b = body(lines[j]);
        if is_blank_or_comment(b) {
            continue;
        }
        if is_document_mark(b) {
            break;
        }
        match &parsed[j] {
            Some(kl) if kl.col == col => {
                if is_secret_kind(kl) {
                    return true;
                }
                if kl.dashed {
                    break;
                }
            }
            _ if indent(b) < col => break,
            _ => {}
        }
    }
    for j in at + 1..lines.len() {
        let b = body(lines[j]);
        if is_blank_or_comment(b) {
            continue;
        }
        if is_document_mark(b) || indent(b) < col {
            break;
        }
        if parsed[j].as_ref().is_some_and(is_secret_kind) {
            return true;
        }
    }
    false
}

/// Kubernetes `Secret`s in YAML: every value under `data:` / `stringData:`
/// (keys kept; a multi-line value becomes one marker).
fn k8s_secret_yaml(_: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains("Secret") || !any_key_line(text, |kl| matches!(kl.key, "data" | "stringData"))
    {
        return None;
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let parsed: Vec<Option<KeyLine>> = lines.iter().map(|l| parse_key_line(body(l))).collect();
    let mut acts = vec![Act::Keep; lines.len()];
    let mut changed = false;
    let secret = marker("k8s-secret-data");
    for (at, kl) in parsed.iter().enumerate() {
        let Some(kl) = kl else { continue };
        if !matches!(kl.key, "data" | "stringData")
            || !yaml_mapping_is_secret(&lines, &parsed, at, kl.col)
        {
            continue;
        }
        if !kl.value.is_empty() && !kl.value.starts_with('#') {
            // Flow style: `data: {password: aHVudGVy}`. An object that goes
            // on below (`"data": {` in JSON) is the JSON pass's.
            let open = kl.value.starts_with(['{', '['])
                && !kl.value.trim_end_matches(',').ends_with(['}', ']']);
            if !open && kl.value != "{}" && !is_not_a_secret(kl.value) {
                acts[at] = Act::Body(with_value(body(lines[at]), kl, &secret));
                tally.add("k8s-secret-data");
                changed = true;
            }
            continue;
        }
        let mut child_col = None;
        let mut j = at + 1;
        while j < lines.len() {
            let b = body(lines[j]);
            if is_blank_or_comment(b) {
                j += 1;
                continue;
            }
            let ind = indent(b);
            if ind <= kl.col {
                break;
            }
            let d = *child_col.get_or_insert(ind);
            let end = block_end(&lines, j, d);
            match &parsed[j] {
                Some(child) if ind == d && !child.dashed => {
                    let v = child.value;
                    let below: Vec<&str> = (j + 1..end)
                        .map(|k| body(lines[k]).trim())
                        .filter(|t| !t.is_empty())
                        .collect();
                    let is_secret = if v.is_empty() || v.starts_with('#') || is_block_indicator(v) {
                        !below.is_empty() && !below.iter().all(|t| is_marker(t))
                    } else {
                        !is_not_a_secret(v) || !below.is_empty()
                    };
                    if is_secret {
                        if !is_marker(v) {
                            acts[j] = Act::Body(with_value(b, child, &secret));
                        }
                        acts[j + 1..end].fill(Act::Drop);
                        tally.add("k8s-secret-data");
                        changed = true;
                    }
                }
                // Something that is not a `key: value` at the level of the
                // keys: drop it rather than guess.
                _ => {
                    acts[j..end].fill(Act::Drop);
                    tally.add("k8s-secret-data");
                    changed = true;
                }
            }
            j = end;
        }
    }
    changed.then(|| emit(&lines, &acts))
}

/// `Bearer abc` → (`Bearer `, `abc`).
fn split_scheme(value: &str) -> (&str, &str) {
    match patterns().scheme.find(value) {
        Some(m) if m.end() < value.len() => value.split_at(m.end()),
        _ => ("", value),
    }
}

/// The redacted form of an inline YAML value, or `None` to keep it.
fn redact_inline(value: &str, kind: &str) -> Option<String> {
    let (scheme, rest) = split_scheme(value);
    match rest.as_bytes().first() {
        Some(b'"' | b'\'') => {
            let close = closing_quote(rest);
            let content = &rest[1..close.unwrap_or(rest.len())];
            if is_not_a_secret(content) {
                return None;
            }
            let after = close.map_or("", |c| &rest[c..]);
            Some(format!("{scheme}{}{}{after}", &rest[..1], marker(kind)))
        }
        Some(b'{' | b'[') if !is_marker(rest) => None,
        _ if is_not_a_secret(rest) => None,
        _ => Some(format!("{scheme}{}", marker(kind))),
    }
}

/// The value of `key: value` at line `at` (inline or a block scalar).
fn redact_yaml_value(
    lines: &[&str],
    parsed: &[Option<KeyLine>],
    at: usize,
    kind: &'static str,
    acts: &mut [Act],
    tally: &mut Tally,
) -> bool {
    let Some(kl) = &parsed[at] else { return false };
    let b = body(lines[at]);
    if kl.value.is_empty() || kl.value.starts_with('#') {
        // A nested mapping (each key judged on its own) or null.
        return false;
    }
    if is_block_indicator(kl.value) {
        let end = block_end(lines, at, kl.col);
        let content: Vec<&str> = (at + 1..end)
            .map(|k| body(lines[k]).trim())
            .filter(|t| !t.is_empty())
            .collect();
        if content.is_empty() || content.iter().all(|t| is_marker(t)) {
            return false;
        }
        acts[at] = Act::Body(with_value(b, kl, &marker(kind)));
        acts[at + 1..end].fill(Act::Drop);
        tally.add(kind);
        return true;
    }
    match redact_inline(kl.value, kind) {
        Some(new) => {
            acts[at] = Act::Body(with_value(b, kl, &new));
            tally.add(kind);
            true
        }
        None => false,
    }
}

/// An environment variable name (`DB_PASSWORD`), not a resource name.
fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `value:` sibling of a `name:` line (a container's `env` entry).
fn sibling_value(
    lines: &[&str],
    parsed: &[Option<KeyLine>],
    at: usize,
    col: usize,
) -> Option<usize> {
    for j in at + 1..lines.len() {
        let b = body(lines[j]);
        if is_blank_or_comment(b) {
            continue;
        }
        if indent(b) < col {
            return None;
        }
        if let Some(kl) = parsed[j].as_ref().filter(|kl| kl.col == col) {
            match kl.key {
                _ if kl.dashed => return None,
                "value" => return Some(j),
                "valueFrom" => return None,
                _ => {}
            }
        }
    }
    None
}

/// Does any line parse as a key line that `wanted` picks? Checked before a
/// YAML pass indexes every line: a pasted table of pods has no key lines to
/// act on, and indexing its lines costs about as much memory as the text.
fn any_key_line(text: &str, wanted: impl Fn(&KeyLine) -> bool) -> bool {
    text.split_inclusive('\n')
        .any(|l| parse_key_line(body(l)).is_some_and(|kl| wanted(&kl)))
}

/// `key: value` lines whose key names a secret, and `- name: DB_PASSWORD`
/// followed by `value: …`.
fn yaml_keys(_: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains(':')
        || !any_key_line(text, |kl| kl.key == "name" || key_kind(kl.key).is_some())
    {
        return None;
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let parsed: Vec<Option<KeyLine>> = lines.iter().map(|l| parse_key_line(body(l))).collect();
    let mut acts = vec![Act::Keep; lines.len()];
    let mut changed = false;
    for at in 0..lines.len() {
        let Some(kl) = &parsed[at] else { continue };
        if !matches!(acts[at], Act::Keep) {
            continue;
        }
        if kl.key == "name" {
            let name = unquote(kl.value);
            if let Some(kind) = key_kind(name).filter(|_| is_env_name(name)) {
                if let Some(j) = sibling_value(&lines, &parsed, at, kl.col) {
                    changed |= redact_yaml_value(&lines, &parsed, j, kind, &mut acts, tally);
                }
            }
            continue;
        }
        if let Some(kind) = key_kind(kl.key) {
            changed |= redact_yaml_value(&lines, &parsed, at, kind, &mut acts, tally);
        }
    }
    changed.then(|| emit(&lines, &acts))
}

// ---------------------------------------------------------------------------
// Regex passes.

/// Apply a sequence of rewrites, keeping track of whether any changed.
struct Rewrite<'a> {
    text: Cow<'a, str>,
}

impl<'a> Rewrite<'a> {
    fn new(text: &'a str) -> Self {
        Rewrite {
            text: Cow::Borrowed(text),
        }
    }

    fn apply(&mut self, f: impl FnOnce(&str) -> Option<String>) {
        if let Some(out) = f(&self.text) {
            self.text = Cow::Owned(out);
        }
    }

    fn done(self) -> Option<String> {
        match self.text {
            Cow::Owned(out) => Some(out),
            Cow::Borrowed(_) => None,
        }
    }
}

fn urls(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    let mut r = Rewrite::new(text);
    if text.contains("://") {
        r.apply(|t| {
            replace_all(&p.url_userinfo, t, |c| {
                if is_marker(&c[3]) {
                    return None;
                }
                tally.add("url-password");
                Some(format!("{}{}:{}@", &c[1], &c[2], marker("url-password")))
            })
        });
        r.apply(|t| {
            replace_all(&p.slack_webhook, t, |c| {
                tally.add("slack-webhook");
                Some(format!("{}{}", &c[1], marker("slack-webhook")))
            })
        });
    }
    if text.contains('=') {
        r.apply(|t| {
            replace_all(&p.url_signature, t, |c| {
                if is_marker(&c[2]) {
                    return None;
                }
                tally.add("url-signature");
                Some(format!("{}{}", &c[1], marker("url-signature")))
            })
        });
    }
    r.done()
}

fn headers(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    let mut r = Rewrite::new(text);
    r.apply(|t| {
        replace_all(&p.auth_basic, t, |c| {
            tally.add("basic-auth");
            Some(format!("{}{}", &c[1], marker("basic-auth")))
        })
    });
    r.apply(|t| {
        replace_all(&p.auth_bearer, t, |c| {
            let token = &c[2];
            let in_header = c[1].to_ascii_lowercase().contains("authorization");
            // Bare `Bearer` in prose ("Bearer authentication failed") is
            // not followed by a token; real tokens have digits.
            if !in_header && (token.len() < 8 || !token.bytes().any(|b| b.is_ascii_digit())) {
                return None;
            }
            tally.add("bearer-token");
            Some(format!("{}{}", &c[1], marker("bearer-token")))
        })
    });
    r.apply(|t| {
        replace_all(&p.auth_other, t, |c| {
            let first = &c[2];
            // The optional `[` of Go's `map[Authorization:[…]]` may be the
            // start of a marker.
            if is_marker(first) || (c[1].ends_with('[') && is_marker(&format!("[{first}"))) {
                return None;
            }
            match c.get(3) {
                Some(rest) if is_marker(rest.as_str()) => None,
                Some(_) => {
                    tally.add("auth-header");
                    Some(format!("{}{first} {}", &c[1], marker("auth-header")))
                }
                None if p.scheme.is_match(&format!("{first} ")) => None,
                None => {
                    tally.add("auth-header");
                    Some(format!("{}{}", &c[1], marker("auth-header")))
                }
            }
        })
    });
    r.apply(|t| {
        replace_all(&p.cookie, t, |c| {
            let all_pairs = !c[2].to_ascii_lowercase().starts_with("set-");
            let mut changed = false;
            let pairs: Vec<String> = c[4]
                .split(';')
                .enumerate()
                .map(|(n, pair)| {
                    if n > 0 && !all_pairs {
                        return pair.to_owned();
                    }
                    let (name, value) = match pair.split_once('=') {
                        Some((name, value)) => (format!("{name}="), value),
                        None => (String::new(), pair),
                    };
                    let lead = &value[..value.len() - value.trim_start().len()];
                    if is_not_a_secret(value) {
                        return pair.to_owned();
                    }
                    changed = true;
                    tally.add("cookie");
                    format!("{name}{lead}{}", marker("cookie"))
                })
                .collect();
            changed.then(|| format!("{}{}{}{}", &c[1], &c[2], &c[3], pairs.join(";")))
        })
    });
    r.apply(|t| {
        replace_all(&p.curl_user, t, |c| {
            if is_marker(&c[3]) {
                return None;
            }
            tally.add("password");
            Some(format!("{}{}:{}", &c[1], &c[2], marker("password")))
        })
    });
    r.apply(|t| {
        replace_all(&p.curl_header, t, |c| {
            let name = &c[2];
            let kind = if name.eq_ignore_ascii_case("cookie") {
                Some("cookie")
            } else {
                key_kind(name)
            }?;
            let (scheme, rest) = split_scheme(&c[4]);
            if is_not_a_secret(rest) {
                return None;
            }
            tally.add(kind);
            Some(format!("{}{name}{}{scheme}{}", &c[1], &c[3], marker(kind)))
        })
    });
    r.done()
}

fn token_shapes(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    let mut r = Rewrite::new(text);
    for Shape {
        regex,
        kind,
        plausible,
    } in &p.shapes
    {
        r.apply(|t| {
            replace_all(regex, t, |c| {
                if !plausible(&c[0]) {
                    return None;
                }
                tally.add(kind);
                Some(marker(kind))
            })
        });
    }
    r.done()
}

fn aws_secret_keys(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    replace_all(&p.aws_secret, text, |c| {
        tally.add("aws-secret-key");
        Some(format!("{}{}", &c[1], marker("aws-secret-key")))
    })
}

/// End of a string value starting at `text[start..]`, for the quote styles
/// `"`, `'` and `\"` (JSON inside a JSON string); `None` if the line ends.
fn string_end(text: &str, start: usize, quote: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = start;
    while at < bytes.len() {
        match bytes[at] {
            b'\n' | b'\r' => return None,
            b'\\' if quote == "\"" => at += 2,
            b'\\' if quote == "\\\"" => {
                let run = bytes[at..].iter().take_while(|&&c| c == b'\\').count();
                if bytes.get(at + run) == Some(&b'"') && run % 4 == 1 {
                    return Some(at + run - 1);
                }
                at += run;
            }
            b'"' if quote == "\\\"" => return None,
            b if quote.len() == 1 && b == quote.as_bytes()[0] => return Some(at),
            _ => at += 1,
        }
    }
    None
}

/// `"key": "value"` anywhere (JSON, Python dicts, escaped JSON), and
/// `{"name": "DB_PASSWORD", "value": "…"}`.
fn json_keys(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    let mut r = Rewrite::new(text);
    if text.contains("name") {
        for (regex, close) in p.json_env.iter().zip(["\"", "\\\""]) {
            r.apply(|t| {
                replace_all(regex, t, |c| {
                    let kind = key_kind(&c[2])?;
                    if is_not_a_secret(&c[3]) {
                        return None;
                    }
                    tally.add(kind);
                    Some(format!("{}{}{close}", &c[1], marker(kind)))
                })
            });
        }
    }
    for (regex, quote) in p.json_key.iter().zip(["\"", "'", "\\\""]) {
        r.apply(|t| {
            let mut edits = Vec::new();
            let mut pos = 0;
            while let Some(c) = regex.captures_at(t, pos) {
                let start = c.get(0).map_or(t.len(), |m| m.end());
                let closed = string_end(t, start, quote);
                pos = closed.map_or(start, |e| e + quote.len());
                let Some(kind) = key_kind(&c[1]) else {
                    continue;
                };
                // An unclosed string runs to the end of the line.
                let end = closed.unwrap_or_else(|| start + line_end(&t[start..]));
                let (scheme, value) = split_scheme(&t[start..end]);
                if is_not_a_secret(value) {
                    continue;
                }
                tally.add(kind);
                edits.push((start + scheme.len()..end, marker(kind)));
                // The next key starts after what this one hides (found by
                // fuzzing: overlapping edits).
                pos = pos.max(end);
            }
            (!edits.is_empty()).then(|| splice(t, &edits))
        });
    }
    r.done()
}

/// `KEY=value` anywhere: env dumps, `export`, `--password=…`, libpq
/// `password=…`, query strings, logfmt. The value ends at whitespace or a
/// separator unless quoted.
fn assignments(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains('=') {
        return None;
    }
    let mut edits = Vec::new();
    let mut pos = 0;
    while let Some(c) = p.assign.captures_at(text, pos) {
        let start = c.get(0).map_or(text.len(), |m| m.end());
        // Resume at the `=` so that `--from-literal=password=…` is seen.
        pos = start - 1;
        let Some(kind) = key_kind(&c[1]) else {
            continue;
        };
        let rest = &text[start..];
        if rest.starts_with('=') {
            continue;
        }
        let range = value_range(rest);
        if is_not_a_secret(&rest[range.clone()]) {
            continue;
        }
        tally.add(kind);
        edits.push((start + range.start..start + range.end, marker(kind)));
        pos = (start + range.end).max(pos + 1);
    }
    (!edits.is_empty()).then(|| splice(text, &edits))
}

/// `key = value` at the start of a line (ini, TOML, properties): the value is
/// the rest of the line unless quoted.
fn spaced_assignments(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains('=') {
        return None;
    }
    let mut edits = Vec::new();
    for c in p.assign_spaced.captures_iter(text) {
        let Some(kind) = key_kind(&c[1]) else {
            continue;
        };
        let start = c.get(0).map_or(text.len(), |m| m.end());
        let rest = &text[start..];
        if rest.starts_with('=') {
            continue;
        }
        let range = match rest.as_bytes().first() {
            Some(b'"' | b'\'') => value_range(rest),
            _ => 0..rest[..line_end(rest)].trim_end().len(),
        };
        if is_not_a_secret(&rest[range.clone()]) {
            continue;
        }
        tally.add(kind);
        edits.push((start + range.start..start + range.end, marker(kind)));
    }
    (!edits.is_empty()).then(|| splice(text, &edits))
}

/// `--password value` (a flag and its separate argument).
fn flags(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if !text.contains("--") {
        return None;
    }
    let mut edits = Vec::new();
    let mut pos = 0;
    while let Some(c) = p.flag.captures_at(text, pos) {
        let start = c.get(0).map_or(text.len(), |m| m.end());
        pos = start - 1;
        let Some(kind) = key_kind(&c[1]) else {
            continue;
        };
        let rest = &text[start..];
        if rest.starts_with('-') {
            continue;
        }
        let range = value_range(rest);
        if is_not_a_secret(&rest[range.clone()]) {
            continue;
        }
        tally.add(kind);
        edits.push((start + range.start..start + range.end, marker(kind)));
        pos = (start + range.end).max(pos + 1);
    }
    (!edits.is_empty()).then(|| splice(text, &edits))
}

/// `.pgpass` lines, `.netrc` entries, `curl -u`, `mysql -p…`, `redis-cli -a …`.
fn credential_files(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    let mut r = Rewrite::new(text);
    for regex in [&p.pgpass, &p.netrc, &p.mysql_p, &p.redis_a] {
        r.apply(|t| {
            replace_all(regex, t, |c| {
                if is_not_a_secret(&c[2]) {
                    return None;
                }
                tally.add("password");
                Some(format!("{}{}", &c[1], marker("password")))
            })
        });
    }
    r.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_separators_and_camel_case() {
        assert_eq!(
            words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
        assert_eq!(words("secretKeyRef"), ["secret", "key", "ref"]);
        assert_eq!(words("X-APIKey"), ["x", "api", "key"]);
        assert_eq!(
            words("spring.datasource.password"),
            ["spring", "datasource", "password"]
        );
    }

    #[test]
    fn key_kinds() {
        for (key, kind) in [
            ("DB_PASSWORD", Some("password")),
            ("PGPASSWORD", Some("password")),
            ("MYSQL_ROOT_PASSWORD", Some("password")),
            ("db_pwd", Some("password")),
            ("password2", Some("password")),
            ("--password", Some("password")),
            ("GITHUB_TOKEN", Some("token")),
            ("accessToken", Some("token")),
            ("X-Auth-Token", Some("token")),
            ("client_secret", Some("secret")),
            ("SECRET_KEY_BASE", Some("secret")),
            ("x-api-key", Some("secret")),
            ("apiKey", Some("secret")),
            ("APIKEY", Some("secret")),
            ("AWS_ACCESS_KEY", Some("secret")),
            ("private_key", Some("secret")),
            ("credentials", Some("secret")),
            ("auth", Some("secret")),
            ("basicAuth", Some("secret")),
            ("PWD", None),
            ("OLDPWD", None),
            ("tokens_per_second", None),
            ("max_tokens", None),
            ("author", None),
            ("authorization", None),
            ("authentication", None),
            ("secretName", None),
            ("secretRef", None),
            ("secretKeyRef", None),
            ("tokenExpirationSeconds", None),
            ("serviceAccountToken", None),
            ("serviceAccountTokenProjection", None),
            ("automountServiceAccountToken", None),
            ("token_ttl", None),
            ("password_file", None),
            ("auth_enabled", None),
            ("imagePullSecrets", None),
            ("OAUTH_CLIENT_ID", None),
            ("tls.key", None),
            ("passwordKey", None),
            ("existingSecret", None),
            ("existingSecretPasswordKey", None),
            ("AUTH_KEY", Some("secret")),
            ("keyword", None),
        ] {
            assert_eq!(key_kind(key), kind, "{key}");
        }
    }

    #[test]
    fn key_lines() {
        let kl = parse_key_line("  - password: \"x\"  ").unwrap();
        assert_eq!(
            (kl.col, kl.dashed, kl.key, kl.value),
            (4, true, "password", "\"x\"")
        );
        let kl = parse_key_line("> X-Api-Key: abc").unwrap();
        assert_eq!((kl.key, kl.value), ("X-Api-Key", "abc"));
        let kl = parse_key_line("data:").unwrap();
        assert_eq!((kl.key, kl.value, kl.value_start), ("data", "", 5));
        assert!(parse_key_line("Error validating token: expired").is_none());
        assert!(parse_key_line("12:30:45 started").is_none());
        assert!(parse_key_line("https://example.com").is_none());
    }

    #[test]
    fn value_ranges() {
        assert_eq!(value_range("abc def"), 0..3);
        assert_eq!(value_range("abc&x=1"), 0..3);
        assert_eq!(value_range("\"a b\" c"), 1..4);
        assert_eq!(value_range("'a b"), 1..4);
        assert_eq!(value_range("abc}, x"), 0..3);
        assert_eq!(value_range("a{b}"), 0..4);
        assert_eq!(value_range(""), 0..0);
    }

    #[test]
    fn json_scanner_finds_secret_data_only() {
        let text = r#"{"items":[{"data":{"a":"QQ=="},"kind":"Secret"},{"data":{"b":"Qg=="},"kind":"ConfigMap"}]}"#;
        let found: Vec<&str> = secret_json_values(text, false)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(found, ["QQ=="]);
        let escaped = r#""{\"data\":{\"a\":\"QQ==\"},\"kind\":\"Secret\"}""#;
        let found: Vec<&str> = secret_json_values(escaped, true)
            .into_iter()
            .map(|r| &escaped[r])
            .collect();
        assert_eq!(found, ["QQ=="]);
    }
}
