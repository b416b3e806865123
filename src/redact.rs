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
//! | `private-key` | PEM `-----BEGIN … PRIVATE KEY-----` blocks (the whole block; a truncated block up to its last base64 line), and base64 that decodes to one (kubeconfig's `client-key-data`, a `tls.key` in a ConfigMap) |
//! | `k8s-secret-data` | values under `data:` / `stringData:` of a Kubernetes `Secret` (YAML, JSON, and the escaped JSON of `last-applied-configuration`) |
//! | `encoded-secret` | base64 that decodes to text in which a pass finds a secret (a service-account JSON, a Docker config) |
//! | `url-password`, `url-token` | `scheme://user:PASSWORD@host`; `scheme://TOKEN@host` (a Sentry DSN) |
//! | `url-signature` | `?sig=` / `X-Amz-Signature=`-style signed-URL parameters |
//! | `slack-webhook` | `https://hooks.slack.com/services/…` |
//! | `basic-auth`, `bearer-token`, `auth-header` | `Authorization:` headers, bare `Bearer <token>` |
//! | `cookie` | `Cookie:` / `Set-Cookie:` header values |
//! | `jwt`, `aws-access-key`, `github-token`, `gitlab-token`, `slack-token`, `google-api-key`, `google-token`, `vault-token`, `sk-api-key`, `stripe-key`, `npm-token`, `azure-client-secret`, … | token shapes (prefixes such as `ghp_`, `glpat-`, `xoxb-`, `ya29.`, `hvs.`, `AKIA`, `SG.`, `dop_v1_`; see `Patterns::new`) |
//! | `aws-secret-key` | `aws_secret_access_key = …`, `AWS_SECRET_ACCESS_KEY=…`, `"SecretAccessKey": "…"`, and 40 random characters on the line of an access key id |
//! | `password`, `token`, `secret` | a value whose key names a secret (see [`key_kind`]): `KEY=v`, `key: v`, `"key": "v"`, `--key v`, `- name: KEY` + `value: v`, `key   value` rows of `vault`'s tables, `Title Case Key: v`, connection strings (`Server=…;Password=…;`, ODBC `PWD={…}`), libpq `password=…`, SQL `PASSWORD '…'`, `redis-cli CONFIG GET` pairs, `.pgpass`, `.netrc`, `curl -u`, `mysql -p…`, `redis-cli -a …` |
//!
//! False positives matter as much as misses: resource names (`auth-service`,
//! `token-refresher-7d9f8c-xk2lq`), references (`secretName:`,
//! `secretKeyRef:`), `kubectl get secrets` tables and `kubectl describe
//! secret` byte counts, certificates (base64 or not) and file paths pass
//! unchanged. Key names are matched by their words, not by substring, so
//! `tokens_per_second`, `author`, `keyspace` and `publicKey` are not secrets;
//! `PWD` is a password unless its value is a directory.
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
            .counts
            .into_iter()
            .map(|(kind, count)| Finding { kind, count })
            .collect(),
    }
}

/// One rewrite of the text: the new text, or `None` if nothing changed.
type Pass = fn(&Patterns, &str, &mut Tally) -> Option<String>;

/// Most structural first, so that the most specific kind wins.
const PASSES: [Pass; 15] = [
    private_keys,
    k8s_secret_json,
    k8s_secret_yaml,
    encoded_secrets,
    urls,
    headers,
    token_shapes,
    aws_secret_keys,
    yaml_keys,
    columns,
    json_keys,
    assignments,
    spaced_assignments,
    flags,
    credential_files,
];

#[derive(Default)]
struct Tally {
    counts: BTreeMap<&'static str, usize>,
    /// The text is decoded base64: it is not decoded again.
    decoded: bool,
}

impl Tally {
    fn add(&mut self, kind: &'static str) {
        *self.counts.entry(kind).or_default() += 1;
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
    url_user_token: Regex,
    url_signature: Regex,
    slack_webhook: Regex,
    auth_basic: Regex,
    auth_bearer: Regex,
    auth_other: Regex,
    cookie: Regex,
    curl_user: Regex,
    curl_header: Regex,
    shapes: Vec<Shape>,
    /// The shapes that start with a literal, as one regex: one scan says
    /// whether any of them can act (the others have inner literals).
    any_prefixed_shape: Regex,
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
    redis_pair: Regex,
    sql_password: Regex,
    kv_header: Regex,
    titled_key: Regex,
    aws_bare_secret: Regex,
    bytes_count: Regex,
    file_path: Regex,
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

/// Does the shape start with a literal (`ghp_`, `AKIA`)? Those share one
/// scan; a shape known by an inner literal (`8Q~`, `.atlasv1.`) is scanned
/// on its own.
fn is_prefixed(shape: &Shape) -> bool {
    !shape.regex.as_str().starts_with(r"\b[")
}

fn always(_: &str) -> bool {
    true
}

/// Letters and at least three digits: a key, not a user name.
fn is_random_token(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    digits >= 3 && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Random keys are mixed-case with digits; `sk-worker-7d9f8c` is a pod.
fn mixed_case_with_digit(body: &str) -> bool {
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
        let shapes = vec![
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
            shape(
                r"\bgl(?:pat|rt|dt|ptt|soat|cbt|oas|ft|imt)-[A-Za-z0-9_\-]{20,}",
                "gitlab-token",
                always,
            ),
            shape(
                r"\b(?:xox[abeoprs]|xapp)-[A-Za-z0-9\-]{10,}",
                "slack-token",
                always,
            ),
            shape(r"\bAIza[0-9A-Za-z_\-]{35}", "google-api-key", always),
            // OAuth access and refresh tokens, client secrets.
            shape(
                r"\b(?:ya29\.[0-9A-Za-z_\-.]{20,}|1//0[0-9A-Za-z_\-]{30,}|GOCSPX-[0-9A-Za-z_\-]{24,})",
                "google-token",
                always,
            ),
            shape(r"\bhv[sbr]\.[0-9A-Za-z_\-]{24,}", "vault-token", always),
            // Before 1.10: `s.` and 24 random characters.
            shape(r"\bs\.[0-9A-Za-z]{24}\b", "vault-token", |t| {
                mixed_case_with_digit(&t[2..])
            }),
            shape(
                r"\b[0-9A-Za-z_~.\-]{3}[0-9]Q~[0-9A-Za-z_~.\-]{31,34}",
                "azure-client-secret",
                always,
            ),
            shape(r"\bdo[por]_v1_[0-9a-f]{64}\b", "digitalocean-token", always),
            shape(
                r"\bSG\.[0-9A-Za-z_\-]{22}\.[0-9A-Za-z_\-]{43}",
                "sendgrid-key",
                always,
            ),
            shape(
                r"\bshp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}\b",
                "shopify-token",
                always,
            ),
            shape(r"\bhf_[A-Za-z]{30,}\b", "huggingface-token", always),
            shape(r"\bpypi-AgE[0-9A-Za-z_\-]{50,}", "pypi-token", always),
            shape(r"\bdckr_pat_[0-9A-Za-z_\-]{20,}", "docker-token", always),
            shape(
                r"\bgl(?:sa|c)_[0-9A-Za-z_+/=]{30,}",
                "grafana-token",
                always,
            ),
            shape(
                r"\bdapi[0-9a-f]{32}(?:-[0-9])?\b",
                "databricks-token",
                always,
            ),
            shape(r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b", "age-key", always),
            shape(r"\blin_api_[0-9A-Za-z]{40}\b", "linear-key", always),
            shape(r"\bPMAK-[0-9a-f]{24}-[0-9a-f]{34}\b", "postman-key", always),
            shape(
                r"\bsq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}",
                "square-token",
                always,
            ),
            shape(
                r"\bdp\.(?:st|pt|sa|ct|scim|audit)\.[0-9A-Za-z_\-.]{40,}",
                "doppler-token",
                always,
            ),
            shape(
                r"\b[0-9A-Za-z]{14}\.atlasv1\.[0-9A-Za-z_\-=]{60,}",
                "terraform-token",
                always,
            ),
            shape(r"\bsk-[A-Za-z0-9_\-]{20,}", "sk-api-key", |t| {
                mixed_case_with_digit(&t[3..])
            }),
            shape(
                r"\b(?:[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})",
                "stripe-key",
                always,
            ),
            shape(r"\bnpm_[A-Za-z0-9]{36}\b", "npm-token", always),
        ];
        Patterns {
            pem_block: re(&format!(
                r"{PEM_LABEL}(?s:.*?)-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            )),
            pem_begin: re(PEM_LABEL),
            url_user_token: re(r"([A-Za-z][A-Za-z0-9+.\-]*://)([A-Za-z0-9_\-]{16,})@"),
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
            any_prefixed_shape: re(&shapes
                .iter()
                .filter(|s| is_prefixed(s))
                .map(|s| format!("(?:{})", s.regex.as_str()))
                .collect::<Vec<_>>()
                .join("|")),
            shapes,
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
            // `CONFIG GET requirepass` answers as two numbered lines.
            redis_pair: re(
                r#"(?m)^[ \t]*[0-9]+\)[ \t]+"([^"\r\n]*)"[ \t]*\r?\n[ \t]*[0-9]+\)[ \t]+"([^"\r\n]*)""#,
            ),
            sql_password: re(r"(?i)(\b(?:password|identified[ \t]+by)[ \t]+')((?:[^'\r\n]|'')*)'"),
            kv_header: re(r"(?m)^[ \t]*Key[ \t]{2,}Value[ \t]*\r?$"),
            titled_key: re(
                r"^[ \t]*((?:[A-Z][A-Za-z0-9]*|[0-9]+)(?:[ \t](?:[A-Z][A-Za-z0-9]*|[0-9]+)){1,3})[ \t]*[:=][ \t]+([^\r\n]*[^\s])",
            ),
            aws_bare_secret: re(r"[A-Za-z0-9+/]{40,}"),
            bytes_count: re(r"^[0-9]+ bytes$"),
            file_path: re(r"^(?:~|\.{1,2})?(?:/[A-Za-z0-9_.\-]+)+\.[A-Za-z][A-Za-z0-9]{0,7}$"),
            scheme: re(r"(?i)^(?:bearer|basic|token|digest|apikey|api-key)[ \t]+"),
        }
    }
}

// ---------------------------------------------------------------------------
// Which key names hold secrets.

/// Key names that contain a secret word but name a reference or a setting.
/// `PWD` is here as the shell's working directory; [`value_kind`] still
/// takes it for the ODBC password when its value is not a directory.
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
/// `password_file`, `auth_enabled`, `KMS_KEY_ARN`.
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
    "key", "keys", "arn", "pair", "pairs", "meta", "metadata", "email", "sock", "socket",
    "domain", "domains", "samesite", "secure", "httponly", "encryption", "hashing", "complexity",
    "strength", "history", "reuse", "attempts", "retries", "prompt", "vault", "ring", "usage",
    "alias", "aliases", "bits", "fingerprint", "renewable",
];

/// Words in front of `key` that say what kind of key it is without making it
/// a secret: `publicKey`, `sortKey`, `topologyKey`, `- key: app`. Any other
/// word makes it one (`APP_KEY`, `HMAC_KEY`, `DD_APP_KEY`, `AccountKey`,
/// `routing_key`): a missed secret costs more than a hidden label.
#[rustfmt::skip]
const NOT_SECRET_KEY_QUALIFIERS: &[&str] = &[
    "public", "pub", "primary", "foreign", "unique", "composite", "sort", "sorting",
    "partition", "hash", "range", "shard", "cache", "message", "object", "idempotency",
    "dedup", "dedupe", "deduplication", "lookup", "map", "index", "topology", "label",
    "field", "node", "configmap", "group", "name", "metadata", "annotation", "selector",
    "match", "row", "column", "table", "json", "yaml", "hot", "tls", "expiry", "sharding",
    "join", "entry", "record", "dict", "bucket",
];

/// English words that end in `key` or `pass` but are not one.
#[rustfmt::skip]
const NOT_KEY_OR_PASS_WORDS: &[&str] = &[
    "monkey", "donkey", "turkey", "hockey", "jockey", "whiskey", "lackey", "malarkey",
    "flunkey", "turnkey", "bypass", "compass", "surpass", "overpass", "underpass", "trespass",
    "impass", "encompass",
];

/// Words that are a password on their own or at the end of a compound
/// (`pgpassword`, `dbpass`, `requirepass`, `LDAP_BIND_PW`).
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "pass",
    "pw",
];

/// The kind of secret a key name holds, or `None` if its value is not a
/// secret. Keys are split into words (`_ - . /`, spaces and camelCase), so
/// `DB_PASSWORD`, `clientSecret`, `X-Api-Key`, `spring.datasource.password`,
/// `PGPASSWORD`, `SMTP_PASS`, `HMAC_KEY` and `Unseal Key 1` are secrets while
/// `tokens_per_second`, `author`, `secretName`, `tokenExpirationSeconds`,
/// `publicKey` and `keyspace` are not.
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
    for at in 0..words.len() {
        if let Some(kind) = word_kind(&words, at) {
            // `DB_PASSWORD_TOKEN`: the password kind is the more telling one.
            let kind = match found {
                Some((_, "password")) => "password",
                _ => kind,
            };
            found = Some((at, kind));
        }
    }
    let (at, kind) = found?;
    let after: Vec<&str> = words[at + 1..]
        .iter()
        .map(String::as_str)
        .filter(|w| !is_number(w))
        .collect();
    // Vault's AppRole `secret_id`, Consul's `SecretID`, `session_id`: the id
    // is the credential.
    let head = words[at].trim_end_matches(|c: char| c.is_ascii_digit());
    if after == ["id"] && matches!(head, "secret" | "session") {
        return Some(kind);
    }
    if after.iter().any(|w| NOT_A_SECRET_AFTER.contains(w)) {
        return None;
    }
    Some(kind)
}

/// Could `key` name a secret, given the right value? The cheap test a pass
/// makes before it looks for the value.
fn may_be_secret_key(key: &str) -> bool {
    key_kind(key).is_some() || key.trim_start_matches('-').eq_ignore_ascii_case("pwd")
}

/// [`key_kind`], and `PWD` by its value: the shell's working directory is a
/// path; anything else (`UID=sa;PWD=…` in an ODBC connection string) is a
/// password.
fn value_kind(key: &str, value: &str) -> Option<&'static str> {
    key_kind(key).or_else(|| {
        let bare = key.trim_start_matches('-');
        let value = unquote(value);
        (bare.eq_ignore_ascii_case("pwd") && !looks_like_directory(value) && !value.is_empty())
            .then_some("password")
    })
}

/// `/srv/app`, `~/work`, `C:\Users\x`.
fn looks_like_directory(value: &str) -> bool {
    let b = value.as_bytes();
    // A drive alone is what is left of `C:\Users` where a value stops at `\`.
    value.starts_with('/')
        || value.starts_with('~')
        || (b.len() >= 2
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && b.get(2).is_none_or(|c| matches!(c, b'\\' | b'/')))
}

fn is_number(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_digit())
}

/// The kind of secret `words[at]` names by itself (the words after it are
/// judged by [`key_kind`]).
fn word_kind(words: &[String], at: usize) -> Option<&'static str> {
    let word = words[at].trim_end_matches(|c: char| c.is_ascii_digit());
    if word.is_empty() || NOT_KEY_OR_PASS_WORDS.contains(&word) {
        return None;
    }
    // The last word, numbers aside: `Unseal Key 1`, `X-Hub-Signature-256`.
    let last = words[at + 1..].iter().all(|w| is_number(w));
    if PASSWORD_WORDS.iter().any(|w| word.ends_with(w)) {
        return Some("password");
    }
    // A Vault token's accessor can look the token up and revoke it.
    if word.ends_with("token") || (word == "accessor" && last) {
        return Some("token");
    }
    let secret = word.ends_with("secret")
        || word.ends_with("credential")
        || word.ends_with("credentials")
        || word.ends_with("creds")
        // `auth`, `basicAuth`, Redis's `masterauth`; not `oauth`.
        || (word.ends_with("auth") && word != "oauth")
        || (last && matches!(word, "cookie" | "cookies" | "signature" | "sig" | "session" | "sessionid"))
        || (word == "session" && words.get(at + 1).is_some_and(|w| w == "id"))
        || key_word_is_secret(words, at, word);
    secret.then_some("secret")
}

/// `key` (or a compound ending in it, `apikey`) qualified by the word in
/// front: `HMAC_KEY` and `AccountKey` are secrets, a bare `key:` (a label
/// selector's), `passwordKey` (the name of a key in a Secret) and
/// `publicKey` are not. `keys` is a secret only after a secret qualifier
/// (`api_keys`).
fn key_word_is_secret(words: &[String], at: usize, word: &str) -> bool {
    let (stem, plural) = match (word.strip_suffix("key"), word.strip_suffix("keys")) {
        (Some(stem), _) => (stem, false),
        (None, Some(stem)) => (stem, true),
        (None, None) => return false,
    };
    let qualifier = if stem.is_empty() {
        match at.checked_sub(1) {
            Some(before) => words[before].trim_end_matches(|c: char| c.is_ascii_digit()),
            None => return false,
        }
    } else {
        stem
    };
    if plural {
        return KEY_QUALIFIERS.contains(&qualifier);
    }
    !qualifier.is_empty()
        && !NOT_SECRET_KEY_QUALIFIERS.contains(&qualifier)
        && !qualifier.ends_with("token")
        && !PASSWORD_WORDS.iter().any(|w| qualifier.ends_with(w))
}

/// Words in front of `keys` that make them secrets.
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
            | "n/a"
            | "(sensitive value)"
            | "(sensitive)"
    ) || is_env_ref
        || v.starts_with("${")
        || v.starts_with("$(")
        || v.starts_with("{{")
        || v.starts_with("<set to the key")
        || (v.starts_with('<') && v.ends_with('>') && !v[1..].contains('<'))
        || v.chars().all(|c| matches!(c, '*' | '•' | '·'))
        || patterns().bytes_count.is_match(v)
        // `GOOGLE_APPLICATION_CREDENTIALS=/var/run/secrets/key.json`: where
        // the secret is, not the secret (base64 has no `.`).
        || patterns().file_path.is_match(v)
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
                .char_indices()
                .find(|&(at, c)| {
                    c.is_whitespace()
                        || "&;\"'<>\\".contains(c)
                        // `host:6380,password=…,ssl=True`: the next option.
                        || (c == ',' && starts_with_assignment(&text[at + 1..]))
                })
                .map_or(text.len(), |(at, _)| at);
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

/// `name=` at the start of `text`.
fn starts_with_assignment(text: &str) -> bool {
    let name = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    name > 0 && text.as_bytes()[0].is_ascii_alphabetic() && text.as_bytes().get(name) == Some(&b'=')
}

/// A value in a `;`-separated connection string (ADO.NET, ODBC, Azure):
/// up to the next `;` (spaces included), or a `{…}`-braced ODBC value.
fn connection_value_range(text: &str) -> Range<usize> {
    match text.as_bytes().first() {
        Some(b'"' | b'\'') => value_range(text),
        Some(b'{') => {
            0..text[..line_end(text)]
                .find('}')
                .map_or(line_end(text), |e| e + 1)
        }
        _ => {
            let end = text.find([';', '"', '\n', '\r']).unwrap_or(text.len());
            0..text[..end].trim_end().len()
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
    let is_document_mark = |b: &str| b.starts_with("---") || b.starts_with("...");
    // What line `j` says about the mapping: its kind, or that the mapping
    // ended before it. Pasted `kubectl get -o yaml` outputs follow each
    // other without `---`: a shell prompt or a table line at the mapping's
    // column ends one, and a mapping has one `kind`.
    let seen = |j: usize, up: bool| -> Option<Option<bool>> {
        let b = body(lines[j]);
        if is_blank_or_comment(b) {
            return None;
        }
        if is_document_mark(b) || indent(b) < col {
            return Some(None);
        }
        match &parsed[j] {
            // Below, a list item's first key starts the next mapping.
            Some(kl) if kl.col == col && kl.dashed && !up => Some(None),
            Some(kl) if kl.col == col && kl.key == "kind" => {
                Some(Some(unquote(kl.value) == "Secret"))
            }
            // Above, it starts this one.
            Some(kl) if kl.col == col && kl.dashed => Some(None),
            None if indent(b) == col && !b.trim_start().starts_with('-') => Some(None),
            _ => None,
        }
    };
    // A `- data:` starts its mapping: nothing above belongs to it.
    if !parsed[at].as_ref().is_some_and(|kl| kl.dashed) {
        for j in (0..at).rev() {
            match seen(j, true) {
                None => {}
                Some(Some(secret)) => return secret,
                Some(None) => break,
            }
        }
    }
    for j in at + 1..lines.len() {
        if let Some(kind) = seen(j, false) {
            return kind.unwrap_or(false);
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
        || !any_key_line(text, |kl| kl.key == "name" || may_be_secret_key(kl.key))
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
            if !may_be_secret_key(name) || !is_env_name(name) {
                continue;
            }
            let Some(j) = sibling_value(&lines, &parsed, at, kl.col) else {
                continue;
            };
            let value = parsed[j].as_ref().map_or("", |v| v.value);
            if let Some(kind) = value_kind(name, value) {
                changed |= redact_yaml_value(&lines, &parsed, j, kind, &mut acts, tally);
            }
            continue;
        }
        // Cookie headers are the headers pass's, pair by pair.
        let cookie = ["cookie", "set-cookie"]
            .iter()
            .any(|c| kl.key.eq_ignore_ascii_case(c));
        if let Some(kind) = value_kind(kl.key, kl.value).filter(|_| !cookie) {
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
        // `https://<key>@o1.ingest.sentry.io/2`, `https://<token>@github.com/`:
        // a user that is a random token is a credential.
        r.apply(|t| {
            replace_all(&p.url_user_token, t, |c| {
                // A known token shape is named by its own pass.
                if !is_random_token(&c[2]) || p.shapes.iter().any(|s| s.regex.is_match(&c[2])) {
                    return None;
                }
                tally.add("url-token");
                Some(format!("{}{}@", &c[1], marker("url-token")))
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
    let prefixed = p.any_prefixed_shape.is_match(text);
    let mut r = Rewrite::new(text);
    for shape in &p.shapes {
        if !prefixed && is_prefixed(shape) {
            continue;
        }
        let Shape {
            regex,
            kind,
            plausible,
        } = shape;
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
    let mut r = Rewrite::new(text);
    r.apply(|t| {
        replace_all(&p.aws_secret, t, |c| {
            tally.add("aws-secret-key");
            Some(format!("{}{}", &c[1], marker("aws-secret-key")))
        })
    });
    // Unnamed, a secret key is known by its company: 40 random characters
    // on the line of an access key id (IAM's credentials CSV, a log line).
    let id_marker = marker("aws-access-key");
    if r.text.contains(&id_marker) {
        r.apply(|t| {
            let mut edits = Vec::new();
            let mut at = 0;
            for line in t.split_inclusive('\n') {
                if line.contains(&id_marker) {
                    for m in p.aws_bare_secret.find_iter(line) {
                        let after = line[m.end()..].bytes().next();
                        if m.len() == 40 && after != Some(b'=') && mixed_case_with_digit(m.as_str())
                        {
                            tally.add("aws-secret-key");
                            edits.push((at + m.start()..at + m.end(), marker("aws-secret-key")));
                        }
                    }
                }
                at += line.len();
            }
            (!edits.is_empty()).then(|| splice(t, &edits))
        });
    }
    r.done()
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
                    let kind = value_kind(&c[2], &c[3])?;
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
                if !may_be_secret_key(&c[1]) {
                    continue;
                }
                // An unclosed string runs to the end of the line.
                let end = closed.unwrap_or_else(|| start + line_end(&t[start..]));
                let (scheme, value) = split_scheme(&t[start..end]);
                let Some(kind) = value_kind(&c[1], value).filter(|_| !is_not_a_secret(value))
                else {
                    continue;
                };
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
        let Some(key) = c.get(1).filter(|k| may_be_secret_key(k.as_str())) else {
            continue;
        };
        let rest = &text[start..];
        if rest.starts_with('=') {
            continue;
        }
        let mut range = value_range(rest);
        // `Server=db;User ID=app;Password=two words;`: the value runs to
        // the `;`, spaces included.
        if text[..key.start()].ends_with(';') || rest[range.end..].starts_with(';') {
            range = connection_value_range(rest);
        }
        let value = &rest[range.clone()];
        let Some(kind) = value_kind(key.as_str(), value).filter(|_| !is_not_a_secret(value)) else {
            continue;
        };
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
        if !may_be_secret_key(&c[1]) {
            continue;
        }
        let start = c.get(0).map_or(text.len(), |m| m.end());
        let rest = &text[start..];
        if rest.starts_with('=') {
            continue;
        }
        let range = match rest.as_bytes().first() {
            Some(b'"' | b'\'') => value_range(rest),
            _ => 0..rest[..line_end(rest)].trim_end().len(),
        };
        let value = &rest[range.clone()];
        let Some(kind) = value_kind(&c[1], value).filter(|_| !is_not_a_secret(value)) else {
            continue;
        };
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
    // SQL `PASSWORD '…'` (a statement echoed in a server log).
    let sql = [
        "password",
        "PASSWORD",
        "Password",
        "identified",
        "IDENTIFIED",
    ]
    .iter()
    .any(|w| text.contains(w));
    r.apply(|t| {
        if !sql {
            return None;
        }
        replace_all(&p.sql_password, t, |c| {
            if is_not_a_secret(&c[2]) {
                return None;
            }
            tally.add("password");
            Some(format!("{}{}'", &c[1], marker("password")))
        })
    });
    if text.contains(") \"") {
        r.apply(|t| {
            let mut edits = Vec::new();
            for c in p.redis_pair.captures_iter(t) {
                let (key, value) = (&c[1], c.get(2).expect("the value group"));
                let Some(kind) = value_kind(key, value.as_str()) else {
                    continue;
                };
                if is_not_a_secret(value.as_str()) {
                    continue;
                }
                tally.add(kind);
                edits.push((value.range(), marker(kind)));
            }
            (!edits.is_empty()).then(|| splice(t, &edits))
        });
    }
    r.done()
}

/// `key    value` rows of the `Key  Value` tables that `vault` prints
/// (`login`, `token create`, `read`, `kv get`), and `Title Case: value`
/// lines (`vault operator init`'s `Unseal Key 1:`, Consul's and Nomad's
/// `Secret ID`).
fn columns(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    let mut edits = Vec::new();
    let mut scanned = 0;
    if text.contains("Value") {
        for header in p.kv_header.find_iter(text) {
            if header.start() < scanned {
                continue;
            }
            let mut at = header.end();
            // Rows up to the first blank line.
            while let Some(nl) = text[at..].find('\n') {
                at += nl + 1;
                let line = &text[at..at + line_end(&text[at..])];
                if line.trim().is_empty() {
                    break;
                }
                let Some((key, value_at)) = column_row(line) else {
                    continue;
                };
                let value = line[value_at..].trim_end();
                let Some(kind) = value_kind(key, value).filter(|_| !is_not_a_secret(value)) else {
                    continue;
                };
                tally.add(kind);
                edits.push((at + value_at..at + value_at + value.len(), marker(kind)));
            }
            scanned = at;
        }
    }
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        // Most lines cannot be one: the regex only sees those that can.
        let first = line.trim_start_matches([' ', '\t']).bytes().next();
        if !first.is_some_and(|b| b.is_ascii_uppercase()) || !line.contains([':', '=']) {
            continue;
        }
        let Some(c) = p.titled_key.captures(line) else {
            continue;
        };
        let value = c.get(2).expect("the value group");
        let Some(kind) = key_kind(&c[1]).filter(|_| !is_not_a_secret(value.as_str())) else {
            continue;
        };
        tally.add(kind);
        edits.push((start + value.start()..start + value.end(), marker(kind)));
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(range, _)| range.start);
    Some(splice(text, &edits))
}

/// A table row: the key (up to the first run of two spaces or a tab; a key
/// may have single spaces, `Seal Type`) and where the value starts.
fn column_row(line: &str) -> Option<(&str, usize)> {
    let start = indent(line);
    let b = line.as_bytes();
    let mut at = start;
    while at < b.len() {
        let gap = b[at] == b'\t' || (b[at] == b' ' && b.get(at + 1) == Some(&b' '));
        if gap {
            let value_at = at + indent(&line[at..]);
            return (value_at < b.len() && at > start).then(|| (&line[start..at], value_at));
        }
        at += 1;
    }
    None
}

/// Longest base64 run that is decoded: key material and credential files
/// are a few KiB; a megabytes-long blob is something else.
const MAX_ENCODED: usize = 256 * 1024;

/// Base64 runs that decode to a secret: a PEM private key (kubeconfig's
/// `client-key-data`, a `tls.key` in a ConfigMap), or text in which the
/// other passes find one (a service-account JSON, a Docker config, a
/// `.netrc`). A certificate decodes to nothing secret and stays.
fn encoded_secrets(p: &Patterns, text: &str, tally: &mut Tally) -> Option<String> {
    if tally.decoded {
        return None;
    }
    let mut edits = Vec::new();
    for run in base64_runs(text) {
        let Some(decoded) = decode_base64(&text[run.clone()]) else {
            continue;
        };
        let kind = if contains(&decoded, b"PRIVATE KEY-----")
            || contains(&decoded, b"PRIVATE KEY BLOCK-----")
        {
            "private-key"
        } else if std::str::from_utf8(&decoded).is_ok_and(|d| contains_secret(p, d)) {
            "encoded-secret"
        } else {
            continue;
        };
        tally.add(kind);
        edits.push((run, marker(kind)));
    }
    (!edits.is_empty()).then(|| splice(text, &edits))
}

/// Runs of 40 to [`MAX_ENCODED`] base64 characters, with their `=`
/// padding, that stand alone: not part of a longer word (base64url, a
/// name, a dotted token). A byte loop: this runs over every paste.
fn base64_runs(text: &str) -> Vec<Range<usize>> {
    const B64: [bool; 256] = {
        let mut table = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            table[c] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
            c += 1;
        }
        table
    };
    let b = text.as_bytes();
    let is_b64 = |c: u8| B64[usize::from(c)];
    let joins = |c: u8| is_b64(c) || b"=_-.".contains(&c);
    const MIN: usize = 40;
    let mut runs = Vec::new();
    // Invariant: no run starts before `at` unseen, and `b[at - 1]` is not
    // base64. A run of MIN covering `at` holds `b[at + MIN - 1]`; when that
    // byte is not base64, no such run starts in the next MIN bytes.
    let mut at = 0;
    while at + MIN <= b.len() {
        let probe = at + MIN - 1;
        if !is_b64(b[probe]) {
            at = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > at && is_b64(b[start - 1]) {
            start -= 1;
        }
        let mut end = probe + 1;
        while end < b.len() && is_b64(b[end]) {
            end += 1;
        }
        let len = end - start;
        while end < b.len() && end - start < len + 2 && b[end] == b'=' {
            end += 1;
        }
        let alone = (start == 0 || !joins(b[start - 1])) && b.get(end).is_none_or(|&c| !joins(c));
        if alone && (MIN..=MAX_ENCODED).contains(&len) {
            runs.push(start..end);
        }
        // `b[end]` is not base64 (or the text ended).
        at = end + 1;
    }
    runs
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Does any pass find a secret in `text`? One round of every pass; the
/// decoding one is skipped, so that decoding never nests.
fn contains_secret(p: &Patterns, text: &str) -> bool {
    let mut tally = Tally {
        decoded: true,
        ..Tally::default()
    };
    PASSES.iter().any(|pass| {
        pass(p, text, &mut tally);
        !tally.counts.is_empty()
    })
}

/// Standard base64, padding optional; `None` if `text` is not base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
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
            // Passwords by any name.
            ("SMTP_PASS", Some("password")),
            ("LDAP_BIND_PW", Some("password")),
            ("redisPass", Some("password")),
            ("requirepass", Some("password")),
            ("masterauth", Some("secret")),
            ("BYPASS_CACHE", None),
            ("compass", None),
            // `key` takes its meaning from the word before it.
            ("APP_KEY", Some("secret")),
            ("HMAC_KEY", Some("secret")),
            ("DD_APP_KEY", Some("secret")),
            ("NEW_RELIC_LICENSE_KEY", Some("secret")),
            ("AccountKey", Some("secret")),
            ("SharedAccessKey", Some("secret")),
            ("client-key-data", Some("secret")),
            ("routing_key", Some("secret")),
            ("Unseal Key 1", Some("secret")),
            ("SharedAccessKeyName", None),
            ("AWS_ACCESS_KEY_ID", None),
            ("private_key_id", None),
            ("key", None),
            ("key_file", None),
            ("KEY_FILE", None),
            ("publicKey", None),
            ("SSH_PUBLIC_KEY", None),
            ("topologyKey", None),
            ("sortKey", None),
            ("token-key", None),
            ("keyspace", None),
            ("monkey", None),
            ("KMS_KEY_ARN", None),
            ("expired_keys", None),
            ("api_keys", Some("secret")),
            // Ids that are the credential, and ids that are not.
            ("secret_id", Some("secret")),
            ("SecretID", Some("secret")),
            ("session_id", Some("secret")),
            ("secret_id_ttl", None),
            ("AccessorID", None),
            ("token_accessor", Some("token")),
            ("accessor", Some("token")),
            // Sessions, cookies, signatures: the value, not the setting.
            ("session", Some("secret")),
            ("SESSION_TIMEOUT", None),
            ("sessionAffinity", None),
            ("cookie", Some("secret")),
            ("cookie_domain", None),
            ("X-Hub-Signature-256", Some("secret")),
            ("signature_version", None),
            ("password_encryption", None),
            ("SSH_AUTH_SOCK", None),
            ("oauth", None),
            ("token_meta_role", None),
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
    fn base64_runs_stand_alone() {
        let run = "QUJD".repeat(10);
        let runs = |t: &str| -> Vec<String> {
            base64_runs(t)
                .into_iter()
                .map(|r| t[r].to_owned())
                .collect()
        };
        assert_eq!(runs(&format!("k: {run}==\n")), [format!("{run}==")]);
        assert_eq!(runs(&run), [run.as_str()]);
        assert_eq!(runs(&format!("\"{run}\" _{run}")), [run.as_str()]);
        // Part of a longer token: base64url, a dotted or dashed name.
        assert!(runs(&format!("a_{run} {run}-b {run}.c {run}===")).is_empty());
        assert!(runs(&"QUJD".repeat(9)).is_empty());
        assert_eq!(decode_base64("QUJD").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(decode_base64("QUI=").as_deref(), Some(&b"AB"[..]));
        assert_eq!(decode_base64("QQ").as_deref(), Some(&b"A"[..]));
        assert_eq!(decode_base64("Q"), None);
        assert_eq!(decode_base64("Q-=="), None);
    }

    #[test]
    fn column_rows() {
        assert_eq!(
            column_row("token_accessor       abc"),
            Some(("token_accessor", 21))
        );
        assert_eq!(column_row("  Seal Type    shamir"), Some(("Seal Type", 15)));
        assert_eq!(column_row("\tkey\tvalue"), Some(("key", 5)));
        assert_eq!(column_row("one value"), None);
        assert_eq!(column_row("trailing   "), None);
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
