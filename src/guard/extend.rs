//! Standing rules inside the guard (SPEC §7): how a rule may allow a simple
//! command the allowlist does not know, and which rules may exist at all.
//!
//! A rule never touches the structure of the line: substitutions,
//! redirections, background jobs, assignments, keywords, globs in odd
//! places are all refused before a rule is looked at. A rule is consulted
//! only for a simple command whose *program and arguments* were refused, and
//! only when that refusal says "not in the allowlist":
//!
//! - an unknown program (not in the allowlist, not in its `refuse:` lists,
//!   not a shell builtin, named bare or from a system program directory);
//! - a program with a subcommand table (kubectl, helm, docker, …) used with
//!   a subcommand the table does not list (nor deny), and nothing the table
//!   denies anywhere in the arguments.
//!
//! Everything else the guard refuses stays refused: the `refuse:` lists,
//! denied subcommands and flags, programs checked in code (psql, curl, sed,
//! awk, find, env, timeout, redis-cli, …) and programs whose table limits
//! flags or operands (they stand for forms that write).

use std::collections::HashMap;

use super::lexer::Word;
use super::{program_name, quote, Guard, RESERVED};
use crate::standing::{ArgRule, RuleState, StandingRule};

/// Shell builtins that are not in the allowlist's `refuse:` list but change
/// the shell or run commands (`fc -s` re-runs the last command): never
/// allowed, by a rule either.
const SHELL_BUILTINS: [&str; 36] = [
    ":",
    "fc",
    "history",
    "hash",
    "ulimit",
    "umask",
    "readonly",
    "declare",
    "typeset",
    "local",
    "let",
    "shopt",
    "enable",
    "mapfile",
    "readarray",
    "pushd",
    "popd",
    "dirs",
    "exit",
    "logout",
    "return",
    "wait",
    "jobs",
    "fg",
    "bg",
    "disown",
    "suspend",
    "getopts",
    "shift",
    "times",
    "bind",
    "complete",
    "compgen",
    "compopt",
    "caller",
    "type",
];

/// Most arguments a rule may constrain.
pub(crate) const MAX_RULE_ARGS: usize = 32;

/// Longest program name a rule may name.
const MAX_PROGRAM_LEN: usize = 64;

/// The standing rules one line is checked against, and how many uses of
/// each the line has taken so far.
pub(crate) struct RuleCtx<'r> {
    pub rules: &'r [StandingRule],
    pub now: u64,
    taken: HashMap<&'r str, u32>,
}

impl<'r> RuleCtx<'r> {
    pub(crate) fn new(rules: &'r [StandingRule], now: u64) -> Self {
        RuleCtx {
            rules,
            now,
            taken: HashMap::new(),
        }
    }
}

/// A simple command a standing rule allowed.
pub(crate) struct RuleUse {
    pub id: String,
    pub label: String,
}

/// The guard refused `words` with `reason`: may a standing rule allow it?
/// `Ok` names the rule; `Err` is the reason to give (the guard's own, when
/// no rule has the command's shape, so a line no rule is about reads
/// exactly as it does without rules).
pub(crate) fn apply(
    guard: &Guard,
    words: &[Word],
    reason: String,
    ctx: &mut RuleCtx<'_>,
) -> Result<RuleUse, String> {
    let Some(first) = words.first() else {
        return Err(reason);
    };
    let Ok(name) = program_name(&first.text) else {
        return Err(reason);
    };
    let args: Vec<&str> = words[1..].iter().map(|w| w.text.as_str()).collect();
    let rules = ctx.rules;
    let mut shaped = rules.iter().filter(|r| r.matches(name, &args)).peekable();
    let Some(first_match) = shaped.peek().copied() else {
        return Err(reason);
    };
    let cannot = |why: String| format!("{why}; standing rule {} cannot allow it", first_match.id);
    may_extend(guard, name, &words[1..], &reason).map_err(cannot)?;
    for w in &words[1..] {
        if w.glob_at.is_some() {
            return Err(cannot(format!(
                "unquoted glob {} could expand into any number of arguments (quote it)",
                quote(&w.text)
            )));
        }
        if w.tilde {
            return Err(cannot(format!(
                "the shell may expand '~' in {} to a home directory",
                quote(&w.text)
            )));
        }
    }
    let mut why_not: Option<String> = None;
    for rule in shaped {
        if let Err(e) = admissible(guard, &rule.program, &rule.args) {
            why_not.get_or_insert_with(|| format!("standing rule {} is not valid: {e}", rule.id));
            continue;
        }
        let state = rule.state(ctx.now);
        if state != RuleState::Active {
            why_not.get_or_insert_with(|| format!("standing rule {} is {state}", rule.id));
            continue;
        }
        let taken = ctx.taken.get(rule.id.as_str()).copied().unwrap_or(0);
        if rule
            .max_uses
            .is_some_and(|max| u64::from(rule.uses) + u64::from(taken) >= u64::from(max))
        {
            why_not.get_or_insert_with(|| {
                format!(
                    "standing rule {} has no use left for another command in this line",
                    rule.id
                )
            });
            continue;
        }
        *ctx.taken.entry(rule.id.as_str()).or_insert(0) += 1;
        return Ok(RuleUse {
            id: rule.id.clone(),
            label: rule.label(),
        });
    }
    Err(match why_not {
        Some(w) => format!("{reason} ({w})"),
        None => reason,
    })
}

/// `Ok` when the guard refused `name args` only because its allowlist does
/// not know the form; `Err` with the reason when it refuses it for cause.
fn may_extend(guard: &Guard, name: &str, args: &[Word], reason: &str) -> Result<(), String> {
    if let Some(why) = guard.refuse.get(name) {
        return Err(format!("{} {why}", quote(name)));
    }
    for (prefix, why) in &guard.refuse_prefixes {
        if name.starts_with(prefix.as_str()) {
            return Err(format!("{} {why}", quote(name)));
        }
    }
    if SHELL_BUILTINS.contains(&name) {
        return Err(format!("{} is a shell builtin", quote(name)));
    }
    let Some(program) = guard.programs.get(name) else {
        return Ok(());
    };
    if !program.extendable() {
        return Err(reason.to_owned());
    }
    match program.check_args_kind(name, args) {
        Err((super::rules::Refusal::Unknown, _)) => {
            let texts: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
            program.deny_scan(name, &texts)
        }
        Err((_, e)) => Err(e),
        Ok(_) => Err(reason.to_owned()),
    }
}

/// May a rule for `program` with these argument constraints exist? Checked
/// when a rule is added, and again whenever one is used (the rules file can
/// be edited by hand).
pub(crate) fn admissible(guard: &Guard, program: &str, args: &[ArgRule]) -> Result<(), String> {
    if let Some(broken) = &guard.broken {
        return Err(format!("the allowlist failed to load: {broken}"));
    }
    let valid_name = !program.is_empty()
        && program.len() <= MAX_PROGRAM_LEN
        && program
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        && !program.starts_with(['-', '.']);
    if !valid_name {
        return Err(format!(
            "program {} must be a bare name (letters, digits, '.', '_', '+', '-'; not a path)",
            quote(program)
        ));
    }
    if RESERVED.contains(&program) {
        return Err(format!("{} is a shell keyword", quote(program)));
    }
    if let Some(why) = guard.refuse.get(program) {
        return Err(format!(
            "{} {why}: the guard refuses it, and no standing rule can allow it",
            quote(program)
        ));
    }
    for (prefix, why) in &guard.refuse_prefixes {
        if program.starts_with(prefix.as_str()) {
            return Err(format!(
                "{} {why}: the guard refuses it, and no standing rule can allow it",
                quote(program)
            ));
        }
    }
    if SHELL_BUILTINS.contains(&program) {
        return Err(format!(
            "{} is a shell builtin that changes the shell or runs commands",
            quote(program)
        ));
    }
    if args.len() > MAX_RULE_ARGS {
        return Err(format!(
            "a rule constrains at most {MAX_RULE_ARGS} arguments (got {})",
            args.len()
        ));
    }
    for a in args {
        a.validate()?;
    }
    let Some(p) = guard.programs.get(program) else {
        return Ok(());
    };
    let exact: Vec<&str> = args
        .iter()
        .filter_map(|a| match a {
            ArgRule::Exact(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    p.deny_scan(program, &exact)
        .map_err(|e| format!("{e}: the allowlist denies it, and no standing rule can allow it"))?;
    if !p.extendable() {
        return Err(format!(
            "{} is in the read-only allowlist with its own checks (what they refuse is refused \
             for a reason); a standing rule cannot widen them",
            quote(program)
        ));
    }
    let leading: Vec<&str> = args
        .iter()
        .map_while(|a| match a {
            ArgRule::Exact(s) if !s.starts_with('-') => Some(s.as_str()),
            _ => None,
        })
        .collect();
    if leading.is_empty() {
        return Err(format!(
            "a rule for {} must start with its subcommand, written exactly (e.g. '{program} \
             <subcommand> …')",
            quote(program)
        ));
    }
    if let Some(sub) = p.known_path(&leading) {
        return Err(format!(
            "{} is already a read-only form the guard checks; a standing rule cannot widen it",
            quote(&format!("{program} {}", sub.label))
        ));
    }
    Ok(())
}
