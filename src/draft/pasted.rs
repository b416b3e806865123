//! The pasted cluster state: shared by the screen, every draft request and
//! the session's save (`Arc`), and redacted once however many requests read
//! it. A paste can be megabytes; per-request copies would break the memory
//! budget (SPEC §8) as soon as a secret forces the redacted text to differ.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::facts::Facts;
use crate::redact::redact;

/// Larger than this (16 MiB), a state is asked about before it is kept:
/// the screen, the digest and the session's copy all scale with it, and
/// nobody pastes that much cluster state on purpose.
pub const LARGE_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// How much of a state is looked at to tell text from binary (64 KiB).
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// Above this share of control or invalid bytes in the sample (one in
/// ten), a state looks binary. Text has none but tabs and newlines; a
/// terminal capture's colour codes (ESC) are not counted.
const BINARY_PERMILLE: u64 = 100;

/// Why a state should be confirmed before it is kept: it looks binary, or
/// it is over [`LARGE_STATE_BYTES`], or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateWarning {
    /// The size of the whole state.
    pub bytes: u64,
    /// NUL bytes, or too many control or invalid bytes, in the sample.
    pub binary: bool,
    /// The sample holds NUL bytes.
    pub nul: bool,
    /// Control or invalid UTF-8 bytes in the sample, in percent (rounded).
    pub control_percent: u8,
    /// Over [`LARGE_STATE_BYTES`].
    pub large: bool,
}

impl fmt::Display for StateWarning {
    /// `looks binary (63 MiB, 12 % control bytes)`, `is very large (40 MiB,
    /// over 16 MiB)`, or both.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = human_bytes(self.bytes);
        let mut why = vec![size];
        if self.binary {
            if self.nul {
                why.push("NUL bytes".to_string());
            }
            if self.control_percent > 0 {
                why.push(format!("{} % control bytes", self.control_percent));
            }
        }
        if self.large {
            why.push(format!("over {}", human_bytes(LARGE_STATE_BYTES)));
        }
        let what = match (self.binary, self.large) {
            (true, true) => "looks binary and is very large",
            (true, false) => "looks binary",
            _ => "is very large",
        };
        write!(f, "{what} ({})", why.join(", "))
    }
}

/// Whether pasted text should be confirmed before it is kept as the state
/// (the paste dialog): binary-looking (NULs, control characters, or the
/// U+FFFD a terminal put where bytes were not UTF-8) or very large.
pub fn assess(text: &str) -> Option<StateWarning> {
    assess_bytes(text.as_bytes(), text.len() as u64)
}

/// The same for a state read as bytes: `head` is its beginning (only the
/// first [`SAMPLE_BYTES`] are looked at), `total` its whole size.
pub fn assess_bytes(head: &[u8], total: u64) -> Option<StateWarning> {
    let truncated = head.len() > SAMPLE_BYTES || (head.len() as u64) < total;
    let sample = &head[..head.len().min(SAMPLE_BYTES)];
    let mut nul = false;
    let mut suspect = 0u64;
    let mut chunks = sample.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        for b in chunk.valid().bytes() {
            nul |= b == 0;
            suspect += u64::from(is_control(b));
        }
        // A terminal's stand-in for bytes that were not UTF-8.
        suspect += 3 * chunk.valid().matches('\u{FFFD}').count() as u64;
        let invalid = chunk.invalid().len() as u64;
        // A character cut in two by the end of the sample is not invalid.
        let cut = truncated && chunks.peek().is_none() && chunk.invalid().len() < 4;
        if !cut {
            suspect += invalid;
        }
    }
    let permille = (suspect * 1000)
        .checked_div(sample.len() as u64)
        .unwrap_or(0);
    let binary = nul || permille > BINARY_PERMILLE;
    let large = total > LARGE_STATE_BYTES;
    (binary || large).then(|| StateWarning {
        bytes: total,
        binary,
        nul,
        control_percent: ((permille + 5) / 10).min(100) as u8,
        large,
    })
}

/// C0 controls and DEL, but not the whitespace of text (TAB, LF, VT, FF,
/// CR) nor ESC (colour codes in a terminal capture).
fn is_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f)
}

/// `812 bytes`, `12 KiB`, `7.5 MiB`, `63 MiB`.
pub fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    match n {
        1 => "1 byte".into(),
        0..KIB => format!("{n} bytes"),
        KIB..MIB => format!("{} KiB", n / KIB),
        _ if n < 10 * MIB => format!("{:.1} MiB", n as f64 / MIB as f64),
        _ => format!("{} MiB", n / MIB),
    }
}

/// A paste with its newlines made LF, in place: tmux and some terminals
/// send CR (or CRLF) inside a paste. Never longer than what came in, so
/// the text is rewritten where it is, never copied: a paste can be tens
/// of megabytes.
pub fn normalize_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut bytes = text.into_bytes();
    let mut write = 0;
    let mut read = 0;
    while read < bytes.len() {
        let b = bytes[read];
        read += 1;
        if b == b'\r' {
            bytes[write] = b'\n';
            if bytes.get(read) == Some(&b'\n') {
                read += 1;
            }
        } else {
            bytes[write] = b;
        }
        write += 1;
    }
    bytes.truncate(write);
    // CR and LF are ASCII: replacing one and dropping the other never
    // splits a multi-byte character.
    String::from_utf8(bytes).expect("ASCII-for-ASCII replacement keeps UTF-8")
}

pub struct PastedState {
    text: String,
    redacted: OnceLock<Redacted>,
    sha256: OnceLock<String>,
    facts: OnceLock<Facts>,
    reading: AtomicBool,
}

/// States up to this size are read where a card asks for their facts;
/// larger ones on a thread of their own, so that no frame waits for them
/// (10 MB take a good part of a second).
pub const READ_INLINE_BYTES: usize = 256 * 1024;

struct Redacted {
    /// `None` when nothing was found: the redacted text is the text.
    text: Option<String>,
    secrets: usize,
}

impl PastedState {
    pub fn new(text: String) -> Self {
        PastedState {
            text,
            redacted: OnceLock::new(),
            sha256: OnceLock::new(),
            facts: OnceLock::new(),
            reading: AtomicBool::new(false),
        }
    }

    /// What the state says (values with their lines, instruction-like
    /// lines), read in one pass by the first caller and then shared: every
    /// card of every step reads the same facts. A concurrent caller waits.
    pub fn facts(&self) -> &Facts {
        self.facts.get_or_init(|| Facts::parse(&self.text))
    }

    /// The facts for a card that must not wait: read here when the state is
    /// small ([`READ_INLINE_BYTES`]); for a larger one, `None` until a
    /// thread of its own has read them (started by the first call).
    pub fn facts_now(self: &Arc<Self>) -> Option<&Facts> {
        if self.text.len() <= READ_INLINE_BYTES {
            return Some(self.facts());
        }
        if self.facts.get().is_none() {
            self.prefetch_facts();
        }
        self.facts.get()
    }

    /// Start reading the facts on a thread of their own (once), so that
    /// the first card built from this state finds them ready.
    pub fn prefetch_facts(self: &Arc<Self>) {
        if self.facts.get().is_some() || self.reading.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = Arc::clone(self);
        std::thread::spawn(move || {
            state.facts();
        });
    }

    /// The facts, if they have been read already.
    pub fn facts_if_read(&self) -> Option<&Facts> {
        self.facts.get()
    }

    /// The digest the audit log records (computed once, by whoever asks
    /// first; a concurrent caller waits for it).
    pub fn sha256(&self) -> &str {
        self.sha256
            .get_or_init(|| crate::digest::sha256_hex(self.text.as_bytes()))
    }

    /// Compute the digest on a thread of its own now, so that a large paste's
    /// digest is ready when the session's first events are written.
    pub fn prefetch_sha256(self: &Arc<Self>) {
        let state = Arc::clone(self);
        std::thread::spawn(move || {
            state.sha256();
        });
    }

    /// The state as pasted.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The state with its secrets replaced, and how many were: computed by
    /// the first caller (a concurrent one waits for it), then shared.
    pub fn redacted(&self) -> (&str, usize) {
        let r = self.redacted.get_or_init(|| {
            let out = redact(&self.text);
            let secrets = out.total();
            Redacted {
                text: match out.text {
                    std::borrow::Cow::Borrowed(_) => None,
                    std::borrow::Cow::Owned(text) => Some(text),
                },
                secrets,
            }
        });
        (r.text.as_deref().unwrap_or(&self.text), r.secrets)
    }
}

impl From<String> for PastedState {
    fn from(text: String) -> Self {
        PastedState::new(text)
    }
}

impl PartialEq for PastedState {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for PastedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the text: it may hold secrets, and debug output is logged.
        write!(f, "PastedState({} bytes)", self.text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_once_and_borrows_clean_text() {
        let clean = PastedState::new("pod checkout 0/1 CrashLoopBackOff\n".into());
        let (text, secrets) = clean.redacted();
        assert_eq!((text, secrets), (clean.text(), 0));
        assert!(std::ptr::eq(text, clean.text()), "clean text is not copied");

        let dirty = PastedState::new("DB_PASSWORD=hunter2sekret99\nok\n".into());
        let (text, secrets) = dirty.redacted();
        assert!(!text.contains("hunter2sekret99"), "{text}");
        assert_eq!(secrets, 1);
        let again = dirty.redacted().0;
        assert!(std::ptr::eq(text, again), "computed once");
        assert!(!format!("{dirty:?}").contains("hunter2"));
    }

    #[test]
    fn text_is_not_doubted() {
        assert_eq!(assess(""), None, "an empty state");
        assert_eq!(
            assess("NAME READY\tSTATUS\r\ncheckout 0/1 CrashLoopBackOff\n"),
            None
        );
        // A terminal capture: colour codes are text here.
        let coloured = "\x1b[31mERROR\x1b[0m payment-gateway: timeout\n".repeat(100);
        assert_eq!(assess(&coloured), None);
        // Latin-1 accents in a log: a few invalid bytes, not binary.
        let mut latin1 = b"caf\xe9 cr\xe8me ".to_vec();
        latin1.extend(b"plain ascii text line\n".repeat(50));
        assert_eq!(assess_bytes(&latin1, latin1.len() as u64), None);
    }

    #[test]
    fn binary_is_doubted() {
        let nuls = vec![0u8; 4096];
        let w = assess_bytes(&nuls, nuls.len() as u64).expect("only NULs");
        assert!(w.binary && w.nul && !w.large);
        assert_eq!(w.control_percent, 100);
        assert_eq!(
            w.to_string(),
            "looks binary (4 KiB, NUL bytes, 100 % control bytes)"
        );
        assert!(assess("\0").is_some_and(|w| w.binary), "one NUL is enough");

        // No NUL, but mostly invalid UTF-8 and controls.
        let noise: Vec<u8> = (0..8192u32).map(|i| (i * 37 % 251) as u8 | 1).collect();
        let w = assess_bytes(&noise, noise.len() as u64).unwrap();
        assert!(w.binary && !w.nul, "{w:?}");
        // The same noise after a terminal made it text (U+FFFD for each bad byte).
        let lossy = String::from_utf8_lossy(&noise);
        assert!(assess(&lossy).is_some_and(|w| w.binary));
    }

    #[test]
    fn only_the_sample_decides_binary() {
        // Invalid UTF-8 in the middle of a large text, past the sample.
        let mut bytes = b"text line\n".repeat(SAMPLE_BYTES / 10 + 10);
        let middle = bytes.len() - 20;
        bytes[middle] = 0xff;
        bytes[middle + 1] = 0x00;
        assert_eq!(assess_bytes(&bytes, bytes.len() as u64), None);
        // A multi-byte character cut by the end of the sample is not invalid.
        let mut cut = "é".repeat(SAMPLE_BYTES / 2 + 1).into_bytes();
        cut.insert(0, b'x');
        assert_eq!(assess_bytes(&cut, cut.len() as u64), None);
    }

    #[test]
    fn large_is_over_sixteen_mib_exactly() {
        let head = b"line\n";
        assert_eq!(assess_bytes(head, LARGE_STATE_BYTES), None, "at the limit");
        let w = assess_bytes(head, LARGE_STATE_BYTES + 1).expect("one byte over");
        assert!(w.large && !w.binary);
        assert_eq!(w.to_string(), "is very large (16 MiB, over 16 MiB)");
        let both = assess_bytes(&[0u8; 10], 63 * 1024 * 1024).unwrap();
        assert_eq!(
            both.to_string(),
            "looks binary and is very large (63 MiB, NUL bytes, 100 % control bytes, over 16 MiB)"
        );
    }

    #[test]
    fn sizes_read_like_sizes() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
        assert_eq!(human_bytes(7 * 1024 * 1024 + 512 * 1024), "7.5 MiB");
        assert_eq!(human_bytes(66_060_288), "63 MiB");
    }

    #[test]
    fn newlines_are_normalized_without_a_copy() {
        let clean = String::from("a\nb\n");
        let ptr = clean.as_ptr();
        let out = normalize_newlines(clean);
        assert_eq!((out.as_str(), out.as_ptr()), ("a\nb\n", ptr));

        let tmux = String::from("a\rb\r\nc\r\r\nd\r");
        let ptr = tmux.as_ptr();
        let out = normalize_newlines(tmux);
        assert_eq!(out, "a\nb\nc\n\nd\n");
        assert_eq!(out.as_ptr(), ptr, "rewritten in place");
        assert_eq!(normalize_newlines("é\r\nü\r".into()), "é\nü\n");
        assert_eq!(normalize_newlines(String::new()), "");
        assert_eq!(
            normalize_newlines("x\r\n".into()),
            "x\r\n".replace("\r\n", "\n").replace('\r', "\n"),
            "the same as the two replaces it stands for"
        );
    }
}
