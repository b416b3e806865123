//! Make outside text safe to draw (SPEC §1.6).
//!
//! Everything that comes from outside stepguard (pasted state, command output,
//! model output, runbook text) passes through here before it becomes part of a
//! frame. Nothing a terminal would interpret survives, and nothing invisible
//! that could make text look like something it is not:
//!
//! - C0 controls and DEL are shown in caret notation (`^[`, `^@`, `^?`), so an
//!   escape sequence such as `ESC [ 2 J` is drawn as the text `^[[2J`;
//! - TAB is expanded to spaces up to the next multiple of [`TAB_WIDTH`], so the
//!   column arithmetic of the view stays right;
//! - C1 controls (U+0080–U+009F, which include the 8-bit CSI U+009B) and the
//!   bidi and invisible format characters that can disguise text (Trojan
//!   Source) are shown as `<U+202E>`-style placeholders.
//!
//! Literal text that happens to read `^[` is left as it is, like `cat -v`
//! does: what matters is that the terminal sees no control, not that the
//! rendering can be reversed.
//!
//! Machine output is different: JSON must round-trip, so [`to_json`] and
//! [`to_json_pretty`] write the same characters as `\uXXXX` escapes instead.

use std::borrow::Cow;

/// Tabs expand to the next multiple of this many columns.
pub const TAB_WIDTH: usize = 4;

/// What one input char is drawn as.
enum Shown {
    /// The char itself.
    Same,
    /// `^` followed by this ASCII byte (`^[` for ESC).
    Caret(u8),
    /// Spaces up to the next tab stop.
    Tab,
    /// `<U+XXXX>`.
    Placeholder,
}

/// Invisible format characters that can make text read differently from what
/// it is: bidi embeddings, overrides and isolates, zero-width characters,
/// line/paragraph separators, the BOM, and their less common relatives
/// (soft hyphen, invisible math operators, tag characters used for hidden
/// "ASCII smuggling", supplementary variation selectors).
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x061C
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
            | 0xE0100..=0xE01EF
    )
}

/// True if `c` is never drawn as itself.
pub fn needs_escape(c: char) -> bool {
    !matches!(shown(c), Shown::Same)
}

fn shown(c: char) -> Shown {
    match c {
        '\t' => Shown::Tab,
        // C0 controls: NUL is ^@, ESC is ^[, ...
        '\0'..='\x1f' => Shown::Caret(c as u8 ^ 0x40),
        '\x7f' => Shown::Caret(b'?'),
        ' '..='~' => Shown::Same,
        '\u{80}'..='\u{9f}' => Shown::Placeholder,
        _ if is_hidden_format(c) => Shown::Placeholder,
        _ => Shown::Same,
    }
}

/// Number of chars in `<U+XXXX>` for `c` (at least four hex digits).
fn placeholder_width(c: char) -> usize {
    let digits = match c as u32 {
        0..=0xFFFF => 4,
        0x1_0000..=0xF_FFFF => 5,
        _ => 6,
    };
    digits + 4
}

/// Sanitize one line for display; at most `max_chars` chars are drawn, then
/// `… (+N chars)` says how many input chars were left out.
///
/// No control character of any kind survives (a `\n` or `\r` shows as `^J` /
/// `^M`). Borrows when the line is already safe and short enough, which is
/// the common case (clean ASCII output), after a single scan.
pub fn sanitize_line(line: &str, max_chars: usize) -> Cow<'_, str> {
    for (count, (at, c)) in line.char_indices().enumerate() {
        if count == max_chars || needs_escape(c) {
            let mut out = String::with_capacity(line.len().min(max_chars.saturating_add(32)) + 16);
            out.push_str(&line[..at]);
            push_escaped(&mut out, &line[at..], count, max_chars);
            return Cow::Owned(out);
        }
    }
    Cow::Borrowed(line)
}

/// Append `rest` to `out` escaped, `col` chars already drawn, stopping at
/// `max_chars` drawn chars.
fn push_escaped(out: &mut String, rest: &str, mut col: usize, max_chars: usize) {
    for (at, c) in rest.char_indices() {
        let shown = shown(c);
        let width = match shown {
            Shown::Same => 1,
            Shown::Caret(_) => 2,
            Shown::Tab => TAB_WIDTH - col % TAB_WIDTH,
            Shown::Placeholder => placeholder_width(c),
        };
        // A replacement is drawn whole or not at all: half a placeholder
        // would read as something else.
        if width > max_chars.saturating_sub(col) {
            let left = rest[at..].chars().count();
            out.push_str(&format!("… (+{left} chars)"));
            return;
        }
        match shown {
            Shown::Same => out.push(c),
            Shown::Caret(b) => {
                out.push('^');
                out.push(b as char);
            }
            Shown::Tab => (0..width).for_each(|_| out.push(' ')),
            Shown::Placeholder => out.push_str(&format!("<U+{:04X}>", c as u32)),
        }
        col += width;
    }
}

/// Sanitize multi-line text: keeps `\n`, drops the `\r` of a CRLF, and
/// treats every line as [`sanitize_line`] does, without a length cap.
pub fn sanitize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (line, newline) = match piece.strip_suffix('\n') {
            Some(line) => (line.strip_suffix('\r').unwrap_or(line), true),
            None => (piece, false),
        };
        out.push_str(&sanitize_line(line, usize::MAX));
        if newline {
            out.push('\n');
        }
    }
    out
}

/// Sanitize raw bytes (e.g. process output) as one line: invalid UTF-8
/// becomes U+FFFD, then [`sanitize_line`].
pub fn sanitize_bytes(bytes: &[u8], max_chars: usize) -> String {
    sanitize_line(&String::from_utf8_lossy(bytes), max_chars).into_owned()
}

/// Serialize `value` as compact JSON in which no control, bidi or invisible
/// character appears raw (see [`escape_json`]). Every `--json` output of
/// the command line is written by this or [`to_json_pretty`].
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(value).map(|json| escape_json(&json).into_owned())
}

/// [`to_json`], indented.
pub fn to_json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(value).map(|json| escape_json(&json).into_owned())
}

/// Is `c` written as `\uXXXX` in JSON output? Controls (DEL, C1; C0 is
/// escaped by serde_json already), the format characters
/// [`is_hidden_format`] names, and the rest of plane 14 (tags and variation
/// selectors, all invisible). Whitespace between members stays.
fn json_needs_escape(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        || is_hidden_format(c)
        || ('\u{E0000}'..='\u{E0FFF}').contains(&c)
}

/// Escape, in serialized JSON, every character a terminal would act on or
/// hide as `\uXXXX` (a surrogate pair above U+FFFF). serde_json escapes
/// only C0, so a model's or a log's C1 CSI (U+009B) or a bidi override
/// would reach whoever reads the output in a terminal.
///
/// Valid on any serde_json output: it writes non-ASCII characters and DEL
/// only inside strings, never inside an escape sequence (those are ASCII),
/// so each such character becomes an escape of itself and every string
/// parses back unchanged; its raw C0 characters are the newlines between
/// members. Borrows when nothing needs escaping.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let Some(first) = json.find(json_needs_escape) else {
        return Cow::Borrowed(json);
    };
    let mut out = String::with_capacity(json.len() + 16);
    out.push_str(&json[..first]);
    for c in json[first..].chars() {
        if json_needs_escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_line_is_borrowed() {
        assert!(matches!(
            sanitize_line("kubectl get pods", 80),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            sanitize_line("naïve café ✓", 80),
            Cow::Borrowed(_)
        ));
        assert!(matches!(sanitize_line("", 0), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_become_visible() {
        assert_eq!(sanitize_line("\x1b[31mred\x1b[0m", 80), "^[[31mred^[[0m");
        assert_eq!(sanitize_line("a\0b\x07c\x7f", 80), "a^@b^Gc^?");
        assert_eq!(sanitize_line("\u{9b}2J", 80), "<U+009B>2J");
        assert_eq!(sanitize_line("a\u{202e}b", 80), "a<U+202E>b");
        assert_eq!(sanitize_line("tag\u{e0041}", 80), "tag<U+E0041>");
    }

    #[test]
    fn tabs_expand_to_stops() {
        assert_eq!(sanitize_line("\tx", 80), "    x");
        assert_eq!(sanitize_line("ab\tx", 80), "ab  x");
        assert_eq!(sanitize_line("abcd\tx", 80), "abcd    x");
        assert_eq!(sanitize_line("^\x1b\tx", 80), "^^[ x");
    }

    #[test]
    fn cap_counts_drawn_chars_and_keeps_replacements_whole() {
        assert_eq!(sanitize_line("abcdef", 4), "abcd… (+2 chars)");
        assert_eq!(sanitize_line("abcd", 4), "abcd");
        assert_eq!(sanitize_line("ab\u{202e}cd", 8), "ab… (+3 chars)");
        assert_eq!(sanitize_line("abc", 0), "… (+3 chars)");
        assert_eq!(sanitize_line("a\x1bb", 2), "a… (+2 chars)");
    }

    #[test]
    fn json_escapes_what_serde_json_leaves_raw() {
        let json = to_json(&["\u{1b}\u{7f}\u{9b}\u{202e}\u{e0041}é"]).unwrap();
        assert_eq!(json, r#"["\u001b\u007f\u009b\u202e\udb40\udc41é"]"#);
        assert!(matches!(escape_json(r#"{"a":1}"#), Cow::Borrowed(_)));
    }

    #[test]
    fn text_keeps_newlines_and_drops_crlf_cr() {
        assert_eq!(sanitize_text("a\r\nb\rc\n\tx\r"), "a\nb^Mc\n    x^M");
    }
}
