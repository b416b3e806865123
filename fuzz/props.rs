//! What must hold for any input, checked by the fuzz targets (`fuzz_targets/`)
//! and, on stable, by `tests/integration/fuzz_corpus.rs`, which replays the
//! kept corpora.
//!
//! Each function panics when a property breaks; a panic is what the fuzzer
//! reports as a crash.

use std::path::Path;

use stepguard::draft::alert::Alerts;
use stepguard::runbook::{parse_markdown, parse_str, to_yaml, LoadError, Runbook};
use stepguard::sanitize::{is_hidden_format, sanitize_bytes, sanitize_line, sanitize_text};

/// Every located problem names the file and a line that exists in it (or
/// the line after the last, for "ends too early"), and is one line long.
fn check_located(err: &LoadError, src: &str, path: &Path) {
    let LoadError::Invalid(problems) = err else {
        panic!("parsing text gave an I/O error: {err}");
    };
    assert!(!problems.is_empty(), "an Invalid error with no problem");
    let last_line = src.lines().count().max(1) + 1;
    for p in problems {
        assert_eq!(p.path, path, "problem names another file: {p}");
        assert!(
            p.line >= 1 && p.line <= last_line,
            "line out of range ({last_line} lines): {p}"
        );
        assert!(p.col >= 1, "column 0: {p}");
        let shown = p.to_string();
        assert!(
            !shown.chars().any(char::is_control),
            "a control char printed: {shown:?}"
        );
    }
}

/// What `stepguard import` writes parses back into the same runbook.
fn check_yaml_round_trip(rb: &Runbook) {
    let yaml = to_yaml(rb);
    match parse_str(&yaml, &rb.path) {
        Ok(back) => assert_eq!(&back, rb, "runbook changed through YAML:\n{yaml}"),
        Err(e) => panic!("to_yaml output does not load: {e}\n---\n{yaml}"),
    }
}

/// The YAML loader: a runbook or located problems, never a panic; a loaded
/// runbook survives the import writer.
pub fn yaml_runbook(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    match parse_str(src, path) {
        Ok(rb) => check_yaml_round_trip(&rb),
        Err(e) => check_located(&e, src, path),
    }
}

/// The Markdown loader: same contract, and a converted runbook is exactly
/// what `stepguard import` promises: YAML that loads back unchanged.
pub fn markdown_runbook(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.md");
    match parse_markdown(src, path) {
        Ok(rb) => check_yaml_round_trip(&rb),
        Err(e) => check_located(&e, src, path),
    }
}

/// The guard: a one-line answer for any line; and a line it allows never
/// becomes allowed with a write, a pipe into a shell or a second command
/// appended (the guard fails closed whatever came before).
pub fn guard_line(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let d = stepguard::guard::check(line);
    assert!(
        !d.reason.contains('\n'),
        "multi-line reason: {:?}",
        d.reason
    );
    let prefix = if d.allowed { "allowed" } else { "refused" };
    assert!(
        d.reason.starts_with(prefix),
        "reason {:?} for allowed={}",
        d.reason,
        d.allowed
    );
    assert_eq!(stepguard::guard::check(line), d, "two answers for one line");
    // A trailing backslash joins the next line (`ls \` + newline + `x` is
    // `ls x`), so the appended text would be an argument, not a command.
    if !d.allowed || line.ends_with('\\') {
        return;
    }
    // After a newline, what follows is a new command whatever came before
    // (a `#` comment ends there too).
    let mut tails = vec![
        "\ntouch /tmp/stepguard-fuzz-canary",
        "\nls | sh",
        "\nls >/tmp/stepguard-fuzz-canary",
        "\nls & touch /tmp/stepguard-fuzz-canary",
    ];
    // On the same line, only when no `#` could have started a comment.
    if !line.contains('#') {
        tails.extend([
            ";touch /tmp/stepguard-fuzz-canary",
            " && touch /tmp/stepguard-fuzz-canary",
            " | sh",
            " >/tmp/stepguard-fuzz-canary",
            " 2>/tmp/stepguard-fuzz-canary",
            " & touch /tmp/stepguard-fuzz-canary",
        ]);
    }
    for tail in tails {
        let joined = format!("{line}{tail}");
        let verdict = stepguard::guard::check(&joined);
        assert!(
            !verdict.allowed,
            "allowed with a write appended: {joined:?} ({})",
            verdict.reason
        );
    }
}

fn assert_drawable(out: &str, keep_newlines: bool) {
    for c in out.chars() {
        if keep_newlines && c == '\n' {
            continue;
        }
        let control = c.is_control();
        assert!(
            !control && !is_hidden_format(c),
            "{:?} survived in {out:?}",
            c
        );
    }
}

/// The sanitizer: nothing a terminal interprets and nothing invisible
/// survives, the cap holds (drawn chars plus the `… (+N chars)` note), and
/// sanitizing is idempotent on already-safe text.
pub fn sanitize(data: &[u8]) {
    let Some((&cap, rest)) = data.split_first() else {
        return;
    };
    let max_chars = usize::from(cap);
    let text = String::from_utf8_lossy(rest);

    let line = sanitize_line(&text, max_chars);
    assert_drawable(&line, false);
    let drawn = line.split("… (+").next().unwrap_or("").chars().count();
    assert!(
        drawn <= max_chars,
        "drew {drawn} chars with a cap of {max_chars}: {line:?}"
    );
    if !line.contains("… (+") {
        assert_eq!(sanitize_line(&line, usize::MAX), line, "not idempotent");
    }

    assert_eq!(
        sanitize_bytes(rest, max_chars),
        line.as_ref(),
        "bytes and text disagree"
    );

    let many = sanitize_text(&text);
    assert_drawable(&many, true);
    assert_eq!(sanitize_text(&many), many, "sanitize_text not idempotent");
}

/// The alert payload parser: alerts or an error, never a panic; parsed
/// payloads are never empty and always yield an alert to answer.
pub fn alert_payload(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(alerts) = Alerts::parse(json) {
        assert!(!alerts.0.is_empty(), "parsed an empty payload");
        assert!(
            alerts.pick(&[]).is_some(),
            "no alert picked from a non-empty payload"
        );
        let names: Vec<String> = alerts
            .0
            .iter()
            .filter_map(|a| a.name().map(String::from))
            .collect();
        if let Some(picked) = alerts.pick(&names) {
            assert!(alerts.0.contains(picked));
        }
    }
}

const PLANTED: &str = "Zq8xT2mW9vLr4pKs";

/// Redaction: idempotent, and a secret assignment planted at the start of
/// any line of any text never survives, whatever surrounds it.
pub fn redact_text(data: &[u8]) {
    let Some((&at, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let once = stepguard::redact::redact(&text);
    let twice = stepguard::redact::redact(&once.text);
    assert_eq!(twice.text, once.text, "redaction is not idempotent");

    if text.contains(PLANTED) {
        return;
    }
    // Plant after the at-th line break (or at the end).
    let cut = text
        .match_indices('\n')
        .nth(usize::from(at))
        .map_or(text.len(), |(i, _)| i + 1);
    let sep = if cut == text.len() && !text.is_empty() && !text.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    let planted = format!(
        "{}{sep}DB_PASSWORD={PLANTED}\n{}",
        &text[..cut],
        &text[cut..]
    );
    let out = stepguard::redact::redact(&planted);
    assert!(
        !out.text.contains(PLANTED),
        "the planted secret survived:\n{}",
        out.text
    );
}
