//! The types of a standing rule (SPEC §7) and how one matches a command.
//! They live with the guard, which judges what a rule may allow; the store
//! that keeps them on disk is the `standing` module.

use std::fmt;

use serde::{Deserialize, Serialize};

const MAX_PATTERN_LEN: usize = 512;
const MAX_EXACT_LEN: usize = 4096;

/// Compiled size limit of a pattern.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// The constraint on one argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArgRule {
    /// Exactly this text (after quote removal).
    Exact(String),
    /// A regular expression that must match the whole argument.
    Pattern(String),
    /// Any one argument that does not start with `-`.
    Any,
}

impl ArgRule {
    /// Does `arg` satisfy this constraint? A pattern that does not compile
    /// matches nothing.
    pub fn matches(&self, arg: &str) -> bool {
        match self {
            ArgRule::Exact(s) => s == arg,
            ArgRule::Pattern(p) => compile_pattern(p).is_ok_and(|re| re.is_match(arg)),
            ArgRule::Any => !arg.starts_with('-'),
        }
    }

    /// Sizes, control characters, and patterns that do not compile.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ArgRule::Exact(s) => {
                if s.len() > MAX_EXACT_LEN {
                    return Err(format!(
                        "an exact argument is at most {MAX_EXACT_LEN} bytes"
                    ));
                }
                if s.chars().any(char::is_control) {
                    return Err(format!(
                        "exact argument {} contains a control character",
                        shown(s)
                    ));
                }
                Ok(())
            }
            ArgRule::Pattern(p) => {
                if p.is_empty() {
                    return Err("'re:' needs a pattern (write '' for an empty argument)".into());
                }
                if p.len() > MAX_PATTERN_LEN {
                    return Err(format!("a pattern is at most {MAX_PATTERN_LEN} bytes"));
                }
                if p.chars().any(char::is_control) {
                    return Err(format!("pattern {} contains a control character", shown(p)));
                }
                compile_pattern(p).map(|_| ())
            }
            ArgRule::Any => Ok(()),
        }
    }
}

/// The rule's argument as `parse_arg_rule` reads it, quoted for a shell
/// when it needs to be (`*` stays bare: it is shown, not run).
impl fmt::Display for ArgRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgRule::Any => f.write_str("*"),
            ArgRule::Pattern(p) => write!(f, "re:{}", shown(p)),
            ArgRule::Exact(s) if s == "*" || s.starts_with("re:") || s.starts_with('=') => {
                write!(f, "{}", shown(&format!("={s}")))
            }
            ArgRule::Exact(s) => f.write_str(&shown(s)),
        }
    }
}

/// `pattern` anchored to the whole argument. It is compiled alone first:
/// a valid expression has balanced groups, so `\A(?:…)\z` anchors all of
/// it (`a)|(b` must not become `\A(?:a)|(b)\z`).
fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let msg: Vec<&str> = msg
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                format!(
                    "pattern {} does not compile: {}",
                    shown(pattern),
                    msg.join(" ")
                )
            })
    };
    build(pattern)?;
    build(&format!(r"\A(?:{pattern})\z"))
}

/// One standing rule, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandingRule {
    /// 8 lowercase hex digits.
    pub id: String,
    /// The bare program name.
    pub program: String,
    /// One constraint per argument; the arity is exact.
    pub args: Vec<ArgRule>,
    #[serde(default)]
    pub max_uses: Option<u32>,
    #[serde(default)]
    pub uses: u32,
    /// Unix seconds.
    pub created_at: u64,
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub revoked_at: Option<u64>,
    pub reason: String,
    pub created_by: String,
}

/// Where a rule stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleState {
    Active,
    Expired,
    UsedUp,
    Revoked,
}

impl fmt::Display for RuleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleState::Active => "active",
            RuleState::Expired => "expired",
            RuleState::UsedUp => "used up",
            RuleState::Revoked => "revoked",
        })
    }
}

impl StandingRule {
    /// Revoked, else expired (at `expires_at` itself), else used up, else active.
    pub fn state(&self, now: u64) -> RuleState {
        if self.revoked_at.is_some() {
            RuleState::Revoked
        } else if self.expires_at.is_some_and(|t| now >= t) {
            RuleState::Expired
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            RuleState::UsedUp
        } else {
            RuleState::Active
        }
    }

    /// Not revoked, not expired, `uses < max_uses`.
    pub fn is_active(&self, now: u64) -> bool {
        self.state(now) == RuleState::Active
    }

    /// Does the rule have the shape of `program args`: the same program,
    /// as many arguments, each satisfying its constraint? Whether the guard
    /// lets the rule allow it is another question (`guard::check_with_rules`).
    pub fn matches(&self, program: &str, args: &[&str]) -> bool {
        self.program == program
            && self.args.len() == args.len()
            && self.args.iter().zip(args).all(|(r, a)| r.matches(a))
    }

    /// The form, as it would be typed: `mycorp-cli inspect cluster *`.
    pub fn form(&self) -> String {
        let mut out = shown(&self.program);
        for a in &self.args {
            out.push(' ');
            out.push_str(&a.to_string());
        }
        out
    }

    /// A short name for reasons: the program and up to two leading exact
    /// arguments that are not options (`vault status`).
    pub fn label(&self) -> String {
        let mut out = self.program.clone();
        for a in self.args.iter().take(2) {
            match a {
                ArgRule::Exact(s) if !s.is_empty() && !s.starts_with('-') && s.len() <= 40 => {
                    out.push(' ');
                    out.push_str(s);
                }
                _ => break,
            }
        }
        out
    }
}

/// One argument constraint as the CLI writes it: `*` is any argument (not
/// an option), `re:<regex>` a pattern matching the whole argument, and
/// anything else the exact text. A leading `=` makes the rest exact: `=*`
/// is a literal `*`, `=re:x` the literal `re:x`, `==x` the literal `=x`.
pub fn parse_arg_rule(s: &str) -> Result<ArgRule, String> {
    let rule = if s == "*" {
        ArgRule::Any
    } else if let Some(p) = s.strip_prefix("re:") {
        ArgRule::Pattern(p.to_owned())
    } else if let Some(lit) = s.strip_prefix('=') {
        ArgRule::Exact(lit.to_owned())
    } else {
        ArgRule::Exact(s.to_owned())
    };
    rule.validate()?;
    Ok(rule)
}

/// Control and invisible characters escaped, for a one-line display.
pub(crate) fn escaped(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `s` as one shell word: bare when it is only safe characters, else in
/// single quotes; control characters escaped.
pub(crate) fn shown(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=,@%+-".contains(&b));
    if safe {
        return s.to_owned();
    }
    format!("'{}'", escaped(&s.replace('\'', r"'\''")))
}
