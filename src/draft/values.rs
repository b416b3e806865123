//! Filling in a runbook's variables from the incident context (SPEC §1.5):
//! every value is validated against its pattern, carries its evidence, and
//! is shell-quoted when rendered into a command.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde::Serialize;

use super::alert::Alert;
use super::pasted::PastedState;
use crate::runbook::{Runbook, Variable, DEFAULT_VALUE_PATTERN};

/// What the engineer told us about the incident.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// `--var KEY=VALUE`.
    pub vars: BTreeMap<String, String>,
    pub alert: Option<Alert>,
    /// The pasted cluster state, shared: every draft request and the
    /// session's save take it, and it can be megabytes.
    pub state: Option<Arc<PastedState>>,
}

impl Context {
    pub fn state_text(&self) -> Option<&str> {
        self.state.as_deref().map(PastedState::text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Var,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedValue {
    pub name: String,
    pub value: Option<String>,
    pub evidence: Option<Evidence>,
    /// False when nothing in the vars, alert or state backs the value: the
    /// human must confirm it.
    pub verified: bool,
    pub rejected: Vec<Rejected>,
}

impl ResolvedValue {
    /// The value as it goes into a command line.
    pub fn quoted(&self) -> Option<String> {
        self.value.as_deref().map(quote)
    }
}

/// Shell-quote a validated value (single quotes only where needed).
pub fn quote(value: &str) -> String {
    shlex::try_quote(value)
        .map(|c| c.into_owned())
        // Only a NUL makes try_quote fail, and validation rejects NULs first.
        .unwrap_or_else(|_| "''".to_string())
}

/// Check a value against its variable's pattern (whole value) and the
/// rules no pattern can relax: no control characters, bounded length.
pub fn validate(var: &Variable, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty value".into());
    }
    if value.len() > 512 {
        return Err(format!("{} bytes is too long for a value", value.len()));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err("contains control characters".into());
    }
    let pattern = var.pattern.as_deref().unwrap_or(DEFAULT_VALUE_PATTERN);
    let whole = Regex::new(&format!("^(?:{pattern})$"))
        // regex prints a multi-line diagram; its last line names the fault.
        .map_err(|e| {
            let text = e.to_string();
            let why = text.lines().last().unwrap_or("").trim().to_string();
            format!("pattern does not compile: {why}")
        })?;
    if whole.is_match(value) {
        Ok(())
    } else {
        Err(format!("does not match {pattern}"))
    }
}

/// Resolve every variable of a runbook. Order: the engineer's `--var` of the
/// same name, then the variable's `from` sources, then `extract` over the
/// state, then its `default` (unverified).
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
    };
    for (value, evidence) in candidates(name, var, ctx) {
        match validate(var, &value) {
            Ok(()) => {
                out.verified = evidence.source != Source::Default;
                out.value = Some(value);
                out.evidence = Some(evidence);
                return out;
            }
            Err(why) => out.rejected.push(Rejected {
                source: evidence.source,
                value: crate::sanitize::sanitize_line(&value, 80).into_owned(),
                why,
            }),
        }
    }
    out
}

fn candidates(name: &str, var: &Variable, ctx: &Context) -> Vec<(String, Evidence)> {
    let mut list = Vec::new();
    let from_var = |key: &str, list: &mut Vec<(String, Evidence)>| {
        if let Some(v) = ctx.vars.get(key) {
            let text = format!("--var {key}={v}");
            list.push((
                v.clone(),
                Evidence {
                    source: Source::Var,
                    text,
                },
            ));
        }
    };
    from_var(name, &mut list);
    for source in &var.from {
        match source.split_once(':') {
            Some(("var", key)) if key != name => from_var(key, &mut list),
            Some(("label", key)) => {
                if let Some(v) = ctx.alert.as_ref().and_then(|a| a.labels.get(key)) {
                    let text = format!("alert label {key}={v:?}");
                    list.push((
                        v.clone(),
                        Evidence {
                            source: Source::Label,
                            text,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    if let (Some(pattern), Some(state)) = (&var.extract, ctx.state_text()) {
        if let Some((value, line)) = extract(pattern, state) {
            list.push((
                value,
                Evidence {
                    source: Source::State,
                    text: line,
                },
            ));
        }
    }
    if let Some(default) = &var.default {
        let text = "runbook default (nothing in the context confirms it)".to_string();
        list.push((
            default.clone(),
            Evidence {
                source: Source::Default,
                text,
            },
        ));
    }
    list
}

/// The first match of `pattern` in the state: capture 1 (or the whole
/// match), with the state line it sits on as evidence.
fn extract(pattern: &str, state: &str) -> Option<(String, String)> {
    let re = Regex::new(pattern).ok()?;
    let caps = re.captures(state)?;
    let m = caps.get(1).or_else(|| caps.get(0))?;
    let line_start = state[..m.start()].rfind('\n').map_or(0, |i| i + 1);
    let line_end = state[m.end()..]
        .find('\n')
        .map_or(state.len(), |i| m.end() + i);
    let line = crate::sanitize::sanitize_line(state[line_start..line_end].trim(), 120);
    Some((m.as_str().to_string(), format!("state: {line}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: the regex crate's error is a multi-line diagram,
    /// which broke `path:line:col: message` into several lines.
    #[test]
    fn a_pattern_that_does_not_compile_is_one_line() {
        let err = validate(&var(Some("^[1-9][0-#]{0,3}$")), "10").unwrap_err();
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
        assert_eq!(r.evidence.unwrap().text, "state: namespace: payments");

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
        assert!(validate(&v, "abc").is_ok());
        assert!(validate(&v, "abc;rm").is_err());
        let v = var(Some(".*"));
        assert!(validate(&v, "a\nb").is_err());
        assert!(validate(&v, "a\x1b[2Jb").is_err());
        assert!(validate(&v, "").is_err());
        let d = var(None);
        assert!(validate(&d, "payments").is_ok());
        assert!(validate(&d, "-rf").is_err());
        assert!(validate(&d, "a b").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("payments"), "payments");
        assert_eq!(quote("it's here"), r#""it's here""#);
        assert_eq!(quote("$(id)"), "'$(id)'");
    }
}
