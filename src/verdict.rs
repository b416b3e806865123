//! What a read-only check concluded: PASS / STOP / CHECK and why. A leaf:
//! the runner decides it (`exec::judge`), the policy and the screen read it,
//! and the audit log records it.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The step's assumption is confirmed.
    Pass,
    /// The world is not as the step assumes: do not act.
    Stop,
    /// No rule decides: the human reads the output.
    Check,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Stop => "STOP",
            Verdict::Check => "CHECK",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
}

/// Which read-only command of the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Preflight,
    Verify,
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckKind::Preflight => "pre-flight",
            CheckKind::Verify => "verify",
        })
    }
}

/// A proceed/stop rule as a reader should see it: leading inline-flag
/// groups that do not change what the rule means to a reader are dropped.
/// `m` (`^`/`$` at line ends: the reader reads a rule line by line anyway),
/// `U` (greed: it never changes whether a rule matches) and `R` (CRLF
/// line ends) go; `i`, `s`, `x` and turned-off flags stay, because they
/// change what matches. Display only: the rule is judged as written.
///
/// `(?m)^Selector:` → `^Selector:`; `(?mi)^ready` → `(?i)^ready`.
pub fn display_rule(rule: &str) -> Cow<'_, str> {
    let mut rest = rule;
    let mut kept = String::new();
    while let Some(group) = rest.strip_prefix("(?") {
        let Some(end) = group.find(')') else { break };
        let flags = &group[..end];
        if flags.is_empty() || !flags.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            break;
        }
        let (on, off) = flags.split_once('-').unwrap_or((flags, ""));
        let on: String = on
            .chars()
            .filter(|c| !matches!(c, 'm' | 'U' | 'R'))
            .collect();
        match (on.is_empty(), off.is_empty()) {
            (true, true) => {}
            (_, true) => kept.push_str(&format!("(?{on})")),
            _ => kept.push_str(&format!("(?{on}-{off})")),
        }
        rest = &group[end + 1..];
    }
    if rest.len() == rule.len() {
        return Cow::Borrowed(rule);
    }
    if kept.is_empty() {
        return Cow::Borrowed(rest);
    }
    kept.push_str(rest);
    Cow::Owned(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_show_without_flags_a_reader_need_not_see() {
        let shown = |r| display_rule(r).into_owned();
        assert_eq!(
            shown("(?m)^Selector:\\s+app=checkout"),
            "^Selector:\\s+app=checkout"
        );
        assert!(matches!(display_rule("(?m)^x$"), Cow::Borrowed("^x$")));
        assert!(matches!(display_rule("CrashLoopBackOff"), Cow::Borrowed(_)));
        assert_eq!(shown("(?m)(?U)^a+"), "^a+");
        assert_eq!(shown("(?mi)^ready"), "(?i)^ready");
        assert_eq!(shown("(?m)(?i)^ready"), "(?i)^ready");
        assert_eq!(shown("(?im-s)^a.b"), "(?i-s)^a.b");
        assert_eq!(
            shown("(?-m)^start"),
            "(?-m)^start",
            "turned off: it matters"
        );
        assert_eq!(shown("(?m)"), "");
        assert_eq!(shown(""), "");
        // Not leading flag groups: left as written.
        assert_eq!(shown("(?:a|b)"), "(?:a|b)");
        assert_eq!(shown("(?m:^a)"), "(?m:^a)");
        assert_eq!(shown("(?P<n>x)"), "(?P<n>x)");
        assert_eq!(shown("(?m"), "(?m");
        assert_eq!(shown("()"), "()");
        assert_eq!(shown("a(?m)b"), "a(?m)b");
        assert_eq!(shown("(?x) a b"), "(?x) a b");
    }

    /// Dropping `m`, `U` or `R` never changes whether a single line matches
    /// (the runner judges the stream line by line, SPEC §2).
    #[test]
    fn a_shown_rule_matches_the_same_lines() {
        for rule in [
            "(?m)^Selector:",
            "(?mU)a+b$",
            "(?m)^[0-9]+:\\s+x$",
            "(?Rm)^a$",
        ] {
            let (a, b) = (
                regex::Regex::new(rule).unwrap(),
                regex::Regex::new(&display_rule(rule)).unwrap(),
            );
            for line in ["Selector: app", "x Selector:", "aab", "12:  x", "a", "b"] {
                assert_eq!(a.is_match(line), b.is_match(line), "{rule} on {line:?}");
            }
        }
    }
}
