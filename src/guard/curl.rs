//! `curl`: only requests that fetch (GET or HEAD, no body), over http or
//! https, with output on stdout. Options come from an allowlist; the
//! refused ones carry a specific reason.
//!
//! One request must stay one request: no control character in any
//! argument (a CR/LF in a header, cookie or URL starts a second request or
//! a line of another protocol), no header that changes the framing or
//! removes `Host` (which servers such as Redis use to spot HTTP sent to
//! them), no UNIX sockets (local daemons' admin APIs).

use super::lexer::Word;
use super::quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
    /// Refused, with the reason.
    Deny(&'static str),
    /// `-X`: GET or HEAD only.
    Request,
    /// Allowed only with the value `-` (stdout) or `/dev/null`; otherwise
    /// the reason.
    Sink(&'static str),
    /// `-w`: no `%output{` and no `@file`.
    WriteOut,
    /// `--url`
    Url,
    /// `-H`: a header, not `@file` (that would send a local file away).
    Header,
    /// `-b`: cookies written out (`name=value`), not a cookie file to
    /// read and send.
    Cookie,
}

const WRITES_RESPONSE: &str = "writes the response to a file";
const SENDS_BODY: &str = "sends a request body";

const LONG: &[(&str, Kind)] = &[
    ("--silent", Kind::Bool),
    ("--show-error", Kind::Bool),
    ("--fail", Kind::Bool),
    ("--fail-with-body", Kind::Bool),
    ("--fail-early", Kind::Bool),
    ("--location", Kind::Bool),
    ("--location-trusted", Kind::Bool),
    ("--insecure", Kind::Bool),
    ("--proxy-insecure", Kind::Bool),
    ("--verbose", Kind::Bool),
    ("--include", Kind::Bool),
    ("--show-headers", Kind::Bool),
    ("--head", Kind::Bool),
    ("--get", Kind::Bool),
    ("--no-buffer", Kind::Bool),
    ("--compressed", Kind::Bool),
    ("--ipv4", Kind::Bool),
    ("--ipv6", Kind::Bool),
    ("--http1.0", Kind::Bool),
    ("--http1.1", Kind::Bool),
    ("--http2", Kind::Bool),
    ("--http2-prior-knowledge", Kind::Bool),
    ("--http3", Kind::Bool),
    ("--no-progress-meter", Kind::Bool),
    ("--progress-bar", Kind::Bool),
    ("--globoff", Kind::Bool),
    ("--path-as-is", Kind::Bool),
    ("--raw", Kind::Bool),
    ("--digest", Kind::Bool),
    ("--basic", Kind::Bool),
    ("--negotiate", Kind::Bool),
    ("--anyauth", Kind::Bool),
    ("--no-keepalive", Kind::Bool),
    ("--tcp-nodelay", Kind::Bool),
    ("--netrc", Kind::Bool),
    ("--netrc-optional", Kind::Bool),
    ("--tlsv1.2", Kind::Bool),
    ("--tlsv1.3", Kind::Bool),
    ("--disable", Kind::Bool),
    ("--max-time", Kind::Value),
    ("--connect-timeout", Kind::Value),
    ("--header", Kind::Header),
    ("--proxy-header", Kind::Header),
    ("--user", Kind::Value),
    ("--proxy-user", Kind::Value),
    ("--oauth2-bearer", Kind::Value),
    ("--retry", Kind::Value),
    ("--retry-delay", Kind::Value),
    ("--retry-max-time", Kind::Value),
    ("--cacert", Kind::Value),
    ("--capath", Kind::Value),
    ("--cert", Kind::Value),
    ("--cert-type", Kind::Value),
    ("--key", Kind::Value),
    ("--key-type", Kind::Value),
    ("--resolve", Kind::Value),
    ("--connect-to", Kind::Value),
    ("--noproxy", Kind::Value),
    ("--proxy", Kind::Value),
    (
        "--unix-socket",
        Kind::Deny("connects to a local UNIX socket (docker.sock and other local admin APIs)"),
    ),
    (
        "--abstract-unix-socket",
        Kind::Deny("connects to a local UNIX socket (local admin APIs)"),
    ),
    (
        "--request-target",
        Kind::Deny("sends a request target other than the URL's path"),
    ),
    ("--user-agent", Kind::Value),
    ("--referer", Kind::Value),
    ("--cookie", Kind::Cookie),
    ("--max-filesize", Kind::Value),
    ("--range", Kind::Value),
    ("--max-redirs", Kind::Value),
    ("--tls-max", Kind::Value),
    ("--interface", Kind::Value),
    ("--limit-rate", Kind::Value),
    ("--speed-limit", Kind::Value),
    ("--speed-time", Kind::Value),
    ("--dns-servers", Kind::Value),
    ("--request", Kind::Request),
    (
        "--dump-header",
        Kind::Sink("writes the response headers to a file"),
    ),
    ("--trace", Kind::Sink("writes a trace file")),
    ("--trace-ascii", Kind::Sink("writes a trace file")),
    ("--write-out", Kind::WriteOut),
    ("--url", Kind::Url),
    ("--data", Kind::Deny(SENDS_BODY)),
    ("--data-raw", Kind::Deny(SENDS_BODY)),
    ("--data-binary", Kind::Deny(SENDS_BODY)),
    ("--data-urlencode", Kind::Deny(SENDS_BODY)),
    ("--data-ascii", Kind::Deny(SENDS_BODY)),
    ("--json", Kind::Deny(SENDS_BODY)),
    ("--form", Kind::Deny(SENDS_BODY)),
    ("--form-string", Kind::Deny(SENDS_BODY)),
    ("--upload-file", Kind::Deny("uploads a file")),
    ("--output", Kind::Sink(WRITES_RESPONSE)),
    ("--output-dir", Kind::Deny(WRITES_RESPONSE)),
    ("--remote-name", Kind::Deny(WRITES_RESPONSE)),
    ("--remote-name-all", Kind::Deny(WRITES_RESPONSE)),
    ("--remote-header-name", Kind::Deny(WRITES_RESPONSE)),
    ("--create-dirs", Kind::Deny("creates directories")),
    ("--cookie-jar", Kind::Deny("writes cookies to a file")),
    (
        "--config",
        Kind::Deny("reads options from a file that cannot be checked"),
    ),
    ("--stderr", Kind::Deny("redirects curl's errors to a file")),
    ("--libcurl", Kind::Deny("writes a C source file")),
    ("--hsts", Kind::Deny("writes an HSTS cache file")),
    ("--alt-svc", Kind::Deny("writes an alt-svc cache file")),
    ("--etag-save", Kind::Deny("writes an ETag file")),
    ("--quote", Kind::Deny("sends FTP/SFTP commands")),
    ("--ftp-port", Kind::Deny("is FTP-only")),
    ("--mail-from", Kind::Deny("sends mail")),
    ("--mail-rcpt", Kind::Deny("sends mail")),
    ("--telnet-option", Kind::Deny("is telnet-only")),
];

const SHORT: &[(char, Kind)] = &[
    ('s', Kind::Bool),
    ('S', Kind::Bool),
    ('f', Kind::Bool),
    ('L', Kind::Bool),
    ('k', Kind::Bool),
    ('v', Kind::Bool),
    ('i', Kind::Bool),
    ('I', Kind::Bool),
    ('G', Kind::Bool),
    ('N', Kind::Bool),
    ('4', Kind::Bool),
    ('6', Kind::Bool),
    ('g', Kind::Bool),
    ('q', Kind::Bool),
    ('#', Kind::Bool),
    ('n', Kind::Bool),
    ('m', Kind::Value),
    ('H', Kind::Header),
    ('u', Kind::Value),
    ('U', Kind::Value),
    ('A', Kind::Value),
    ('e', Kind::Value),
    ('b', Kind::Cookie),
    ('x', Kind::Value),
    ('E', Kind::Value),
    ('r', Kind::Value),
    ('y', Kind::Value),
    ('Y', Kind::Value),
    ('X', Kind::Request),
    ('D', Kind::Sink("writes the response headers to a file")),
    ('w', Kind::WriteOut),
    ('d', Kind::Deny(SENDS_BODY)),
    ('F', Kind::Deny(SENDS_BODY)),
    ('T', Kind::Deny("uploads a file")),
    ('o', Kind::Sink(WRITES_RESPONSE)),
    ('O', Kind::Deny(WRITES_RESPONSE)),
    ('J', Kind::Deny(WRITES_RESPONSE)),
    ('c', Kind::Deny("writes cookies to a file")),
    (
        'K',
        Kind::Deny("reads options from a file that cannot be checked"),
    ),
    ('Q', Kind::Deny("sends FTP/SFTP commands")),
    ('P', Kind::Deny("is FTP-only")),
    ('t', Kind::Deny("is telnet-only")),
];

pub(crate) fn check_args(args: &[Word]) -> Result<(), String> {
    for w in args {
        if let Some(c) = w.text.bytes().find(|&b| b < 0x20 || b == 0x7f) {
            return Err(format!(
                "curl argument {} contains control character U+{c:04X} (none belongs in a \
                 request; a line break in a header, cookie or URL starts a second one)",
                quote(&w.text)
            ));
        }
    }
    let mut i = 0;
    let mut done = false;
    while i < args.len() {
        let w = &args[i];
        let a = w.text.as_str();
        i += 1;
        if w.glob_at.is_some() {
            return Err(format!(
                "unquoted glob in the curl argument {}; quote it",
                quote(a)
            ));
        }
        if done || a == "-" || !a.starts_with('-') {
            check_url(a)?;
            continue;
        }
        if a == "--" {
            done = true;
            continue;
        }
        if a.starts_with("--") {
            if a.contains('=') {
                return Err(format!(
                    "curl takes option values as separate words, not {}",
                    quote(a)
                ));
            }
            let Some(&(name, kind)) = LONG.iter().find(|(n, _)| *n == a) else {
                // Older curls take unambiguous prefixes of long options.
                if let Some((name, Kind::Deny(why) | Kind::Sink(why))) = LONG
                    .iter()
                    .find(|(n, k)| matches!(k, Kind::Deny(_) | Kind::Sink(_)) && n.starts_with(a))
                {
                    return Err(format!(
                        "'curl' option {} abbreviates {name}, which {why}",
                        quote(a)
                    ));
                }
                return Err(format!(
                    "'curl' option {} is not in the read-only set",
                    quote(a)
                ));
            };
            match kind {
                Kind::Bool => {}
                Kind::Deny(why) => return Err(format!("'curl {name}' {why}")),
                _ => {
                    let Some(v) = args.get(i) else {
                        return Err(format!("'curl {name}' needs a value"));
                    };
                    i += 1;
                    if v.glob_at.is_some() {
                        return Err(format!(
                            "unquoted glob in the curl argument {}; quote it",
                            quote(&v.text)
                        ));
                    }
                    check_value(name, kind, &v.text)?;
                }
            }
            continue;
        }
        let body = &a[1..];
        for (k, ch) in body.char_indices() {
            let Some(&(_, kind)) = SHORT.iter().find(|(c, _)| *c == ch) else {
                return Err(format!(
                    "'curl' option {} is not in the read-only set",
                    quote(&format!("-{ch}"))
                ));
            };
            match kind {
                Kind::Bool => continue,
                Kind::Deny(why) => {
                    let inside = if body.len() > 1 {
                        format!(" (in {})", quote(a))
                    } else {
                        String::new()
                    };
                    return Err(format!("'curl -{ch}' {why}{inside}"));
                }
                Kind::Request if body.len() != 1 => {
                    return Err(format!(
                        "'curl -X' must stand alone, followed by GET or HEAD (not {})",
                        quote(a)
                    ))
                }
                _ => {}
            }
            let rest = &body[k + ch.len_utf8()..];
            let value = if rest.is_empty() {
                let Some(v) = args.get(i) else {
                    return Err(format!("'curl -{ch}' needs a value"));
                };
                i += 1;
                if v.glob_at.is_some() {
                    return Err(format!(
                        "unquoted glob in the curl argument {}; quote it",
                        quote(&v.text)
                    ));
                }
                v.text.as_str()
            } else {
                rest
            };
            check_value(&format!("-{ch}"), kind, value)?;
            break;
        }
    }
    Ok(())
}

fn check_value(flag: &str, kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::Request if value == "GET" || value == "HEAD" => Ok(()),
        Kind::Request => Err(format!(
            "{} changes the request method (only GET or HEAD)",
            quote(&format!("curl {flag} {value}"))
        )),
        Kind::Sink(_) if value == "-" || value == "/dev/null" => Ok(()),
        Kind::Sink(why) => Err(format!(
            "{} {why} (only '-' or '/dev/null' are allowed)",
            quote(&format!("curl {flag} {value}"))
        )),
        Kind::WriteOut if value.starts_with('@') => Err(format!(
            "'curl {flag} @file' reads a format that cannot be checked"
        )),
        Kind::WriteOut if value.to_ascii_lowercase().contains("%output{") => Err(format!(
            "'curl {flag}' with %output{{...}} writes to a file"
        )),
        Kind::Url => check_url(value),
        Kind::Header if value.starts_with('@') => {
            Err(format!("'curl {flag} @file' sends a local file as headers"))
        }
        Kind::Header => header(flag, value),
        Kind::Cookie if !value.contains('=') => Err(format!(
            "{} reads cookies from a local file and sends them (write name=value)",
            quote(&format!("curl {flag} {value}"))
        )),
        _ => Ok(()),
    }
}

/// Headers that decide where a request ends, which host it is for, or
/// what method the server applies; `Host` also marks a request as HTTP
/// for servers of other protocols.
const FRAMING_HEADERS: [&str; 14] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "http2-settings",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// `-H 'Name: value'`, `-H 'Name:'` (removes a header) or `-H 'Name;'`
/// (sends it empty): the name must be an HTTP token, and not a framing
/// header.
fn header(flag: &str, value: &str) -> Result<(), String> {
    let name = match value.find(':') {
        Some(c) => &value[..c],
        None => value.strip_suffix(';').unwrap_or(""),
    };
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!(
            "{} is not a 'Name: value' header with a plain header name",
            quote(&format!("curl {flag} {value}"))
        ));
    }
    if FRAMING_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "'curl {flag}' may not set or remove the {name} header (it decides how the \
             request is framed, routed or handled)"
        ));
    }
    Ok(())
}

/// Only http and https, whether written or guessed by curl.
fn check_url(u: &str) -> Result<(), String> {
    if u == "-" {
        return Ok(());
    }
    if u.starts_with('@') {
        return Err(format!(
            "curl URL {} reads URLs from a local file (and saves each response)",
            quote(u)
        ));
    }
    if u.contains('{') {
        return Err(format!(
            "curl URL {} uses {{}} globbing, which can expand into other URLs",
            quote(u)
        ));
    }
    if let Some(p) = u.find("://") {
        let scheme = &u[..p];
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return Ok(());
        }
        return Err(format!(
            "curl URL scheme {} is not http or https",
            quote(scheme)
        ));
    }
    let host = &u[..u.find(['/', '?', '#']).unwrap_or(u.len())];
    if host.contains('[') {
        return Err(format!(
            "curl URL {} has a [] glob or a bare IPv6 address; write http://...",
            quote(u)
        ));
    }
    if let Some(c) = host.find(':') {
        let port = &host[c + 1..];
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "curl URL {} may name a non-HTTP scheme; write http:// or https://",
                quote(u)
            ));
        }
    }
    let lower = host.to_ascii_lowercase();
    for guess in [
        "ftp.", "dict.", "ldap.", "imap.", "smtp.", "pop3.", "telnet.", "tftp.", "gopher.",
        "mqtt.", "rtsp.", "scp.", "sftp.", "smb.",
    ] {
        if lower.starts_with(guess) {
            return Err(format!(
                "curl guesses a non-HTTP protocol for {}; write http:// or https://",
                quote(u)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Word> {
        s.split_whitespace()
            .map(|t| Word {
                text: t.into(),
                ..Word::default()
            })
            .collect()
    }

    fn ok(s: &str) {
        if let Err(e) = check_args(&args(s)) {
            panic!("{s:?} refused: {e}");
        }
    }

    fn refused(s: &str) -> String {
        check_args(&args(s)).expect_err(s)
    }

    #[test]
    fn fetches_pass() {
        ok("-sf http://127.0.0.1:9093/api/v2/alerts");
        ok("-sS -m 5 -H Accept:application/json https://example.com/health");
        ok("-X GET http://x/");
        ok("--request HEAD http://x/");
        ok("-I localhost:8080/metrics");
        ok("-D - http://x");
        ok("-s -o /dev/null -w %{http_code} http://x");
        ok("-b session=abc http://x");
    }

    #[test]
    fn writes_bodies_and_other_schemes_are_refused() {
        assert!(refused("-X POST http://x").contains("request method"));
        assert!(refused("-sXPOST http://x").contains("stand alone"));
        assert!(refused("-XGET http://x").contains("stand alone"));
        assert!(refused("-d a=b http://x").contains("request body"));
        assert!(refused("-sd a=b http://x").contains("request body"));
        assert!(refused("--data-raw x http://x").contains("request body"));
        assert!(refused("--dat x http://x").contains("abbreviates"));
        assert!(refused("-o /tmp/x http://x").contains("file"));
        assert!(refused("-sLo /tmp/x http://x").contains("file"));
        assert!(refused("-O http://x/f").contains("file"));
        assert!(refused("--output=/tmp/x http://x").contains("separate"));
        assert!(refused("--output /tmp/x http://x").contains("file"));
        assert!(refused("-D /tmp/h http://x").contains("only '-'"));
        assert!(refused("-w %output{/tmp/x} http://x").contains("%output"));
        assert!(refused("-K cfg http://x").contains("options from a file"));
        assert!(refused("gopher://127.0.0.1:6379/_FLUSHALL").contains("scheme"));
        assert!(refused("file:///etc/passwd").contains("scheme"));
        assert!(refused("file:/etc/passwd").contains("non-HTTP"));
        assert!(refused("ftp.example.com/x").contains("guesses"));
        assert!(refused("http://x/{a,b}").contains("globbing"));
        assert!(refused("[f-g]opher://x").contains("scheme"));
        assert!(refused("--url dict://x").contains("scheme"));
        assert!(refused("-T f http://x").contains("uploads"));
        assert!(refused("--frobnicate http://x").contains("not in the read-only set"));
        assert!(refused("-H @/etc/shadow http://x").contains("local file"));
        assert!(refused("-b /etc/cookies http://x").contains("cookies from a local file"));
        assert!(refused("--cookie - http://x").contains("cookies from a local file"));
        assert!(refused("--url @/etc/hosts").contains("reads URLs"));
        assert!(refused("@urls.txt").contains("reads URLs"));
    }

    fn refused_words(words: &[&str]) -> String {
        let a: Vec<Word> = words
            .iter()
            .map(|t| Word {
                text: (*t).into(),
                ..Word::default()
            })
            .collect();
        check_args(&a).expect_err(&format!("{words:?}"))
    }

    #[test]
    fn one_request_stays_one_request() {
        for (words, why) in [
            (
                &["-H", "X: y\r\n\r\nPOST /x HTTP/1.1", "http://x/"][..],
                "U+000D",
            ),
            (&["-H", "X: y\nFLUSHALL", "http://x/"], "U+000A"),
            (&["-HX: y\nFLUSHALL", "http://x/"], "U+000A"),
            (&["--header", "X: a\tb", "http://x/"], "U+0009"),
            (&["--proxy-header", "X: y\n", "http://x/"], "U+000A"),
            (&["-A", "a\r\nX: y", "http://x/"], "U+000D"),
            (&["--user-agent", "a\nb", "http://x/"], "U+000A"),
            (&["-e", "a\nb", "http://x/"], "U+000A"),
            (&["--referer", "a\nb", "http://x/"], "U+000A"),
            (&["-b", "a=b\r\nX: y", "http://x/"], "U+000D"),
            (&["http://x/a\nb"], "U+000A"),
            (&["-u", "a\u{0}b", "http://x/"], "U+0000"),
            (&["-H", "Host:", "http://x/"], "Host"),
            (&["-H", "host: evil", "http://x/"], "host"),
            (&["-H", "Content-Length: 5", "http://x/"], "Content-Length"),
            (
                &["-H", "Transfer-Encoding: chunked", "http://x/"],
                "Transfer-Encoding",
            ),
            (&["-H", "Connection: keep-alive", "http://x/"], "Connection"),
            (&["-H", "Expect: 100-continue", "http://x/"], "Expect"),
            (&["-H", "Upgrade: h2c", "http://x/"], "Upgrade"),
            (
                &["-H", "X-HTTP-Method-Override: DELETE", "http://x/"],
                "X-HTTP-Method-Override",
            ),
            (&["--proxy-header", "Host: x", "http://x/"], "Host"),
            (
                &["-H", "SET pwned \"x:y\"", "http://x/"],
                "plain header name",
            ),
            (&["-H", "FLUSHALL", "http://x/"], "plain header name"),
            (&["-H", ": x", "http://x/"], "plain header name"),
            (&["-H", ":authority: x", "http://x/"], "plain header name"),
            (
                &["--unix-socket", "/var/run/docker.sock", "http://x/"],
                "UNIX socket",
            ),
            (&["--abstract-unix-socket", "x", "http://x/"], "UNIX socket"),
            (&["--request-target", "*", "http://x/"], "request target"),
            (&["telnet://127.0.0.1:6379"], "scheme"),
            (&["ldap://127.0.0.1/"], "scheme"),
            (&["smtp://127.0.0.1/"], "scheme"),
            (&["mqtt://127.0.0.1/"], "scheme"),
            (&["ftp://127.0.0.1/"], "scheme"),
        ] {
            let e = refused_words(words);
            assert!(e.contains(why), "{words:?}: {e}");
        }
        for ok in [
            "-H Accept:application/json http://x/",
            "-H Authorization:Bearer-x http://x/",
            "-H User-Agent: http://x/",
            "-H X-Empty; http://x/",
            "--path-as-is http://x/a/../b",
        ] {
            check_args(&args(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
