//! The pasted cluster state: shared by the screen, every draft request and
//! the session's save (`Arc`), and redacted once however many requests read
//! it. A paste can be megabytes; per-request copies would break the memory
//! budget (SPEC §8) as soon as a secret forces the redacted text to differ.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::facts::Facts;
use crate::redact::redact;

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
}
