//! Filling in a runbook's variables from the incident context (SPEC §1.5):
//! every value is validated against its pattern, carries its evidence, and
//! is shell-quoted when rendered into a command.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::pasted::PastedState;
use crate::runbook::{Runbook, Variable};

/// What the engineer told us about the incident.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// `--var KEY=VALUE`.
    pub vars: BTreeMap<String, String>,
    pub alert: Option<Alert>,
    /// The pasted cluster state, shared: every draft request and the
    /// session's save take it, and it can be megabytes.
    pub state: Option<Arc<PastedState>>,
    /// The engineer's active standing rules and the time (Unix seconds)
    /// they are judged at, handed in by the runtime: a card asks the guard
    /// with them and reads no file or clock. The runner checks again, on
    /// disk, just before a run.
    pub rules: Arc<[crate::guard::StandingRule]>,
    pub now_secs: u64,
    /// Values a pre-flight with `sets:` printed, by variable.
    pub found: BTreeMap<String, FoundValue>,
}

/// A value a pre-flight found (`sets:`): what it printed, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundValue {
    pub value: String,
    /// The id of the step whose pre-flight printed it.
    pub step: String,
    /// The output line (1-based) it stands on, and that line.
    pub line: usize,
    pub excerpt: String,
}

/// The one value `lines` (a pre-flight's standard output, each with its
/// 1-based line number in the output shown) print for
/// `var`: every non-blank line, trimmed, must be the same value (a header
/// line printed empty, as `custom-columns="":…` does, is blank), and the
/// variable's pattern must take it, as any value from outside
/// ([`validate_outside`]). Anything else is no value, and why.
pub fn found_in_output<'a>(
    var: &Variable,
    lines: impl Iterator<Item = (usize, &'a str)>,
) -> Result<(String, usize), String> {
    let mut found: Option<(String, usize)> = None;
    for (n, line) in lines {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match &found {
            None => found = Some((t.to_string(), n)),
            Some((v, _)) if v == t => {}
            Some(_) => return Err("it printed more than one value".into()),
        }
    }
    let (value, line) = found.ok_or("it printed nothing")?;
    validate_outside(var, &value).map_err(|why| {
        format!(
            "{} is not taken: {why}",
            crate::sanitize::sanitize_line(&value, 60)
        )
    })?;
    Ok((value, line))
}

impl Context {
    /// The guard's answer for a card: the allowlist plus the rules given.
    pub fn guard(&self, command: &str) -> crate::guard::Decision {
        crate::guard::check_with_rules(command, &self.rules, self.now_secs)
    }

    pub fn state_text(&self) -> Option<&str> {
        self.state.as_deref().map(PastedState::text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Var,
    /// Printed by a pre-flight that finds the variable (`sets:`).
    Output,
    Label,
    State,
    Default,
    Model,
}

/// Where a value came from, in words a human can check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub source: Source,
    pub text: String,
}

/// A candidate value that failed validation, kept so the card can say why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub source: Source,
    pub value: String,
    pub why: String,
}

/// One value a variable could take, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub value: String,
    pub evidence: Evidence,
    /// Why it stands where it does in the list: its source, and for a value
    /// from the state what the state says about its line (a failing row
    /// before a quiet one, a healthy one last).
    pub rank: String,
    /// The 1-based line of the state it was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Not printed as such but derived from the line by a documented rule
    /// (a pod's Deployment from its name): the human confirms it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// The state shows another value failing by a tool's own status more
    /// than this one's line does (the extract matched a log line, say):
    /// the human confirms it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub contested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedValue {
    pub name: String,
    pub value: Option<String>,
    pub evidence: Option<Evidence>,
    /// False when nothing in the vars, alert or state backs the value (or
    /// it is derived rather than printed): the human must confirm it.
    pub verified: bool,
    pub rejected: Vec<Rejected>,
    /// Every valid value found, the chosen one first: `--var`, alert
    /// labels, the variable's `extract`, what the state shows (ranked),
    /// the runbook's default.
    pub candidates: Vec<Candidate>,
}

impl ResolvedValue {
    /// The value as it goes into a command line.
    pub fn quoted(&self) -> Option<String> {
        self.value.as_deref().map(quote)
    }

    /// The value is derived from the state rather than printed in it.
    pub fn derived(&self) -> bool {
        self.candidates.first().is_some_and(|c| c.derived)
            && self.candidates.first().map(|c| &c.value) == self.value.as_ref()
    }

    /// The best value the state shows, if any.
    pub fn from_state(&self) -> Option<&Candidate> {
        self.candidates
            .iter()
            .find(|c| c.evidence.source == Source::State)
    }
}

/// Validate a value that comes from outside (the pasted state, an alert
/// label, a model): the variable's pattern, and never a leading `-`, which
/// quoting cannot stop a program from reading as an option (`-oyaml`,
/// `--all-namespaces`). The engineer may still give one with `--var` or `=`.
pub fn validate_outside(var: &Variable, value: &str) -> Result<(), String> {
    var.validate(value)?;
    if value.starts_with('-') {
        return Err("begins with '-': a command would read it as an option".into());
    }
    Ok(())
}

/// Shell-quote a validated value as one word (single quotes only where
/// needed; see [`crate::runbook::render::shell_word`]).
pub fn quote(value: &str) -> String {
    crate::runbook::render::shell_word(value)
}

/// Candidates listed per variable.
pub const MAX_CANDIDATES: usize = 10;
/// Values from the state read per variable (before validation).
const STATE_CANDIDATES: usize = 12;
/// Rejected values from the state listed per variable: a hostile paste
/// must not bury the card in flags.
const STATE_REJECTIONS: usize = 3;

/// Resolve every variable of a runbook. Order: the engineer's `--var` of the
/// same name, then the variable's `from` sources, then `extract` over the
/// state, then what the parsed state shows ([`super::facts`]), then its
/// `default` (unverified). Every candidate is validated; the first valid
/// one is the value.
pub fn resolve(runbook: &Runbook, ctx: &Context) -> BTreeMap<String, ResolvedValue> {
    runbook
        .variables
        .iter()
        .map(|(name, var)| (name.clone(), resolve_one(name, var, ctx)))
        .collect()
}

fn resolve_one(name: &str, var: &Variable, ctx: &Context) -> ResolvedValue {
    let mut out = ResolvedValue {
        name: name.to_string(),
        value: None,
        evidence: None,
        verified: false,
        rejected: Vec::new(),
        candidates: Vec::new(),
    };
    let mut state_rejections = 0;
    for c in candidates(name, var, ctx) {
        if out.candidates.iter().any(|k| k.value == c.value)
            || out.rejected.iter().any(|r| r.value == c.value)
        {
            continue;
        }
        let checked = match c.evidence.source {
            Source::Var | Source::Default => var.validate(&c.value),
            Source::State | Source::Label | Source::Model | Source::Output => {
                validate_outside(var, &c.value)
            }
        };
        match checked {
            Ok(()) => {
                if out.candidates.len() < MAX_CANDIDATES {
                    out.candidates.push(c);
                }
            }
            Err(why) => {
                if c.evidence.source == Source::State && c.line.is_some() {
                    if state_rejections == STATE_REJECTIONS {
                        continue;
                    }
                    state_rejections += 1;
                }
                out.rejected.push(Rejected {
                    source: c.evidence.source,
                    value: crate::sanitize::sanitize_line(&c.value, 80).into_owned(),
                    why,
                });
            }
        }
    }
    if let Some(first) = out.candidates.first() {
        out.verified =
            first.evidence.source != Source::Default && !first.derived && !first.contested;
        out.value = Some(first.value.clone());
        out.evidence = Some(first.evidence.clone());
    }
    out
}

fn candidates(name: &str, var: &Variable, ctx: &Context) -> Vec<Candidate> {
    let mut list = Vec::new();
    let plain = |value: &str, source: Source, text: String, rank: &str| Candidate {
        value: value.to_string(),
        evidence: Evidence { source, text },
        rank: rank.to_string(),
        line: None,
        derived: false,
        contested: false,
    };
    let from_var = |key: &str, list: &mut Vec<Candidate>| {
        if let Some(v) = ctx.vars.get(key) {
            list.push(plain(
                v,
                Source::Var,
                format!("--var {key}={v}"),
                "given by the engineer (--var)",
            ));
        }
    };
    // The engineer's values first (`--var NAME`, then the `var:` aliases),
    // then what a read found, then the alert's labels.
    from_var(name, &mut list);
    for key in var.from.iter().filter_map(|s| s.strip_prefix("var:")) {
        if key != name {
            from_var(key, &mut list);
        }
    }
    if let Some(f) = ctx.found.get(name) {
        list.push(plain(
            &f.value,
            Source::Output,
            format!(
                "printed by the pre-flight of step {} (output line {}: {})",
                f.step,
                f.line,
                crate::sanitize::sanitize_line(&f.excerpt, 80)
            ),
            "found by the step that finds it (sets:)",
        ));
    }
    for key in var.from.iter().filter_map(|s| s.strip_prefix("label:")) {
        if let Some(v) = ctx.alert.as_ref().and_then(|a| a.labels.get(key)) {
            list.push(plain(
                v,
                Source::Label,
                format!("alert label {key}={v:?}"),
                "a label of the alert",
            ));
        }
    }
    if let Some(state) = &ctx.state {
        let text = state.text();
        let keys = super::facts::keys_for(name, var);
        // A large state is read off the caller's thread: until it is, its
        // values are not offered (the card says so, see `compose`).
        let facts = state
            .facts_now()
            .map(|f| f.lookup(&keys))
            .unwrap_or_default();
        if let Some(pattern) = &var.extract {
            if let Some((value, line, excerpt)) = extract(pattern, text) {
                let mut rank = "the first match of the variable's extract pattern".to_string();
                let contested = contested_by(&value, &facts);
                if let Some(best) = contested {
                    rank.push_str(&format!(
                        "; unverified: line {} shows {} ({})",
                        best.line,
                        best.value,
                        best.rank.describe()
                    ));
                }
                list.push(Candidate {
                    line: Some(line),
                    contested: contested.is_some(),
                    ..plain(
                        &value,
                        Source::State,
                        format!("state line {line}: {excerpt}"),
                        &rank,
                    )
                });
            }
        }
        for fact in facts.into_iter().take(STATE_CANDIDATES) {
            list.push(Candidate {
                evidence: Evidence {
                    source: Source::State,
                    text: fact.evidence(text),
                },
                value: fact.value,
                rank: fact.rank.describe(),
                line: Some(fact.line),
                derived: fact.derived,
                contested: false,
            });
        }
    }
    if let Some(default) = &var.default {
        list.push(plain(
            default,
            Source::Default,
            "runbook default (nothing in the context confirms it)".to_string(),
            "the runbook's default",
        ));
    }
    list
}

/// The fact that contests an extracted value: the best ranked one, when it
/// is another value that a tool's status shows failing, above anything the
/// state shows about the extracted value itself.
fn contested_by<'f>(
    value: &str,
    facts: &'f [super::facts::Fact],
) -> Option<&'f super::facts::Fact> {
    let best = facts
        .first()
        .filter(|f| f.rank.failing() && f.value != value)?;
    let own = facts.iter().find(|f| f.value == value);
    own.is_none_or(|f| f.rank.score() < best.rank.score())
        .then_some(best)
}

/// The first match of `pattern` in the state: capture 1 (or the whole
/// match), with the 1-based number and the text of the line it sits on.
fn extract(pattern: &str, state: &str) -> Option<(String, usize, String)> {
    let re = Regex::new(pattern).ok()?;
    let caps = re.captures(state)?;
    let m = caps.get(1).or_else(|| caps.get(0))?;
    let line_start = state[..m.start()].rfind('\n').map_or(0, |i| i + 1);
    let line_end = state[m.end()..]
        .find('\n')
        .map_or(state.len(), |i| m.end() + i);
    let number = state.as_bytes()[..line_start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    let line = super::facts::excerpt(&state[line_start..line_end]);
    Some((m.as_str().to_string(), number, line))
}

/// What ties a model's value to this incident, found by code (SPEC §3).
/// The model's own evidence is a hint, never proof; nor is the value merely
/// appearing somewhere in the state, even on a line about the incident:
/// the model would choose which token of it (`41m` of a pod's row for a
/// deployment, `/` of a healthy `df` row for a log directory). A value is
/// verified, in this order, by
///
/// 1. the engineer's `--var` of the variable (or one its `from` names);
/// 2. an alert label of the variable's name (or one its `from` names);
/// 3. the variable's own `extract` regex capturing exactly the value, in the
///    alert or the state (any match, not only the first);
/// 4. a line that names the variable and gives it this value: `KEY: value`
///    or `KEY=value` (quoted or not), KEY the variable's name or a label its
///    `from` names, in any case, `-` and `_` alike;
/// 5. the state read as this variable by code (a column of its name, see
///    `pasted`): `read`, the variable's candidates from the state.
///
/// `texts` are the (redacted) alert and state the model was given; a line
/// that `excluded` says is not data (instruction-like text) never counts.
/// Returns the evidence to show: what code found.
pub fn incident_evidence(
    name: &str,
    var: &Variable,
    value: &str,
    ctx: &Context,
    texts: [&str; 2],
    excluded: &dyn Fn(&str) -> bool,
    read: &[Candidate],
) -> Option<String> {
    let from = |kind: &'static str| {
        var.from
            .iter()
            .filter_map(move |s| match s.split_once(':') {
                Some((k, key)) if k == kind => Some(key),
                _ => None,
            })
    };
    for key in std::iter::once(name).chain(from("var")) {
        if ctx.vars.get(key).is_some_and(|v| v == value) {
            return Some(format!("--var {key}={value}"));
        }
    }
    if let Some(alert) = &ctx.alert {
        for key in std::iter::once(name).chain(from("label")) {
            if alert.labels.get(key).is_some_and(|v| v == value) {
                return Some(format!("alert label {key}={value:?}"));
            }
        }
    }
    if let Some(re) = var.extract.as_deref().and_then(|p| Regex::new(p).ok()) {
        for text in texts {
            for caps in re.captures_iter(text) {
                let Some(m) = caps.get(1).or_else(|| caps.get(0)) else {
                    continue;
                };
                if m.as_str() == value {
                    return Some(line_at(text, m.start(), m.end()));
                }
            }
        }
    }
    // The key as written, `-` and `_` alike (`log-dir`, `log_dir`).
    let key = |k: &str| -> String {
        k.chars()
            .map(|c| match c {
                '-' | '_' => "[-_]".to_string(),
                c => regex::escape(&c.to_string()),
            })
            .collect()
    };
    let keys: Vec<String> = std::iter::once(name)
        .chain(from("label"))
        .chain(from("var"))
        .map(key)
        .collect();
    let named = Regex::new(&format!(
        r#"(?i)(?:^|[\s,;{{(\["'])(?:{})["']?\s*[:=]\s*["']?{}(?:$|[\s,;)}}\]"'])"#,
        keys.join("|"),
        regex::escape(value)
    ));
    if let Ok(named) = named {
        for text in texts {
            if let Some(line) = text
                .lines()
                .find(|line| named.is_match(line) && !is_comment(line) && !excluded(line))
            {
                return Some(crate::sanitize::sanitize_line(line.trim(), 100).into_owned());
            }
        }
    }
    // Not a value code only derived (a Deployment from its pod's name) or
    // found contested: the engineer confirms those, whoever proposes them.
    read.iter()
        .find(|c| {
            c.evidence.source == Source::State && !c.derived && !c.contested && c.value == value
        })
        .map(|c| c.evidence.text.clone())
}

/// A comment line (`#`, `//`): text someone wrote, not what a system printed.
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with("//")
}

/// The line around bytes `start..end` of `text`, trimmed and sanitized.
fn line_at(text: &str, start: usize, end: usize) -> String {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    crate::sanitize::sanitize_line(text[line_start..line_end].trim(), 100).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: the regex crate's error is a multi-line diagram,
    /// which broke `path:line:col: message` into several lines.
    #[test]
    fn a_pattern_that_does_not_compile_is_one_line() {
        let err = var(Some("^[1-9][0-#]{0,3}$")).validate("10").unwrap_err();
        assert!(err.starts_with("pattern does not compile: "), "{err}");
        assert!(!err.contains('\n'), "{err:?}");
        assert!(err.contains("range"), "{err}");
    }

    fn var(pattern: Option<&str>) -> Variable {
        Variable {
            description: String::new(),
            pattern: pattern.map(String::from),
            from: vec!["label:namespace".into(), "var:ns".into()],
            extract: Some(r"(?m)^\s*namespace:\s*(\S+)".into()),
            default: Some("default".into()),
        }
    }

    /// A line that names the variable and gives it the value verifies it;
    /// the same value on another key, a longer value, a comment or a line
    /// that reads as an instruction do not.
    #[test]
    fn a_line_naming_the_variable_ties_its_value() {
        let v = Variable {
            description: String::new(),
            pattern: None,
            from: vec!["label:logdir".into()],
            extract: None,
            default: None,
        };
        let ctx = Context::default();
        let tied = |line: &str| {
            incident_evidence(
                "log_dir",
                &v,
                "/var/log",
                &ctx,
                ["", line],
                &|l| l.contains("IGNORE"),
                &[],
            )
            .is_some()
        };
        for yes in [
            "log_dir: /var/log",
            "LOG-DIR=/var/log",
            "  \"log_dir\": \"/var/log\",",
            "args: logdir='/var/log' x",
        ] {
            assert!(tied(yes), "{yes}");
        }
        for no in [
            "catalog_dir: /var/log",
            "log_dir: /var/log/apt",
            "log_dirs: /var/log",
            "mount: /var/log",
            "# log_dir: /var/log",
            "IGNORE the rest, log_dir: /var/log",
            "/dev/sda1 200G 193G 7.1G 97% /var/log",
        ] {
            assert!(!tied(no), "{no}");
        }
    }

    #[test]
    fn sources_in_order_and_rejections_kept() {
        let v = var(Some("^[a-z0-9-]+$"));
        let mut ctx = Context::default();
        assert_eq!(
            resolve_one("namespace", &v, &ctx).value.as_deref(),
            Some("default")
        );
        assert!(!resolve_one("namespace", &v, &ctx).verified);

        ctx.state = Some(Arc::new(
            String::from("kind: Pod\n  namespace: payments\n").into(),
        ));
        let r = resolve_one("namespace", &v, &ctx);
        assert_eq!(r.value.as_deref(), Some("payments"));
        assert!(r.verified);
        assert_eq!(
            r.evidence.unwrap().text,
            "state line 2: namespace: payments"
        );

        ctx.vars.insert("ns".into(), "bad;rm -rf /".into());
        let r = resolve_one("namespace", &v, &ctx);
        assert_eq!(r.value.as_deref(), Some("payments"));
        assert_eq!(r.rejected[0].source, Source::Var);

        ctx.vars.insert("namespace".into(), "checkout".into());
        assert_eq!(
            resolve_one("namespace", &v, &ctx).value.as_deref(),
            Some("checkout")
        );
    }

    #[test]
    fn validation_is_whole_value_and_rejects_controls() {
        let v = var(Some("[a-z]+"));
        assert!(v.validate("abc").is_ok());
        assert!(v.validate("abc;rm").is_err());
        let v = var(Some(".*"));
        assert!(v.validate("a\nb").is_err());
        assert!(v.validate("a\x1b[2Jb").is_err());
        assert!(v.validate("").is_err());
        let d = var(None);
        assert!(d.validate("payments").is_ok());
        assert!(d.validate("-rf").is_err());
        assert!(d.validate("a b").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("payments"), "payments");
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote("$(id)"), "'$(id)'");
    }

    #[test]
    fn a_found_value_is_one_clean_value_from_outside() {
        let var: Variable = serde_yaml::from_str("pattern: '^.+$'").unwrap();
        let lines =
            |l: &'static [&'static str]| l.iter().copied().enumerate().map(|(i, l)| (i + 1, l));
        assert_eq!(
            found_in_output(&var, lines(&["", " a b "])),
            Ok(("a b".into(), 2))
        );
        // A permissive pattern still never takes an option.
        let e = found_in_output(&var, lines(&["-oyaml"])).unwrap_err();
        assert!(e.contains("begins with '-'"), "{e}");
        assert!(found_in_output(&var, lines(&["a", "b"])).is_err());
        assert!(found_in_output(&var, lines(&[" ", ""])).is_err());
    }
}
