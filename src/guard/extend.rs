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
//!
//! Which rules may exist ([`admissible`]) is judged on what the program is,
//! not on one spelling of its name: every packaging form of the name
//! (`sh.distrib`, `ksh93`, `vim.basic`), more programs than a command line
//! ever names (`rbash`, `ed`, `prlimit`, `wget`, multi-call binaries), the
//! files the name resolves to on this machine ([`ProgramIdentity`], found by
//! the standing store), and for subcommand programs, no alias or prefix of a
//! denied subcommand and no new member of a group the table lists.

use std::collections::HashMap;

use super::lexer::Word;
use super::rules::Program;
use super::standing_rule::{ArgRule, RuleState, StandingRule};
use super::{program_name, quote, Guard, RESERVED};

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

/// Asked about a rule before it allows a command, with the program word as
/// the command wrote it: `Err` says why the rule may not be used now.
pub type Vet<'v> = &'v dyn Fn(&StandingRule, &str) -> Result<(), String>;

/// The standing rules one line is checked against, and how many uses of
/// each the line has taken so far.
pub(crate) struct RuleCtx<'r> {
    pub rules: &'r [StandingRule],
    pub now: u64,
    taken: HashMap<&'r str, u32>,
    vet: Option<Vet<'r>>,
}

impl<'r> RuleCtx<'r> {
    pub(crate) fn new(rules: &'r [StandingRule], now: u64) -> Self {
        RuleCtx {
            rules,
            now,
            taken: HashMap::new(),
            vet: None,
        }
    }

    /// The rules, each also vetted by `vet` before it is used (the standing
    /// store checks what the program's name resolves to at that moment).
    pub(crate) fn vetted(rules: &'r [StandingRule], now: u64, vet: Vet<'r>) -> Self {
        RuleCtx {
            vet: Some(vet),
            ..RuleCtx::new(rules, now)
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
        if let Some(Err(e)) = ctx.vet.map(|vet| vet(rule, &first.text)) {
            why_not.get_or_insert_with(|| format!("standing rule {} is not valid: {e}", rule.id));
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
    if let Some((form, why)) = refused_name(guard, program) {
        let what = if form == program {
            quote(program)
        } else {
            format!("{} (a form of {})", quote(program), quote(&form))
        };
        return Err(format!(
            "{what} {why}: the guard refuses it, and no standing rule can allow it"
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
    subcommand_is_new(p, program, &leading)
}

/// A rule's subcommand must be a command of its own, not another name for
/// one the table lists or denies. cobra resolves aliases (`kubectl config
/// use` is `config use-context`, `helm un` is `uninstall`) and, where
/// enabled, unambiguous prefixes; aliases cannot be listed exhaustively, so:
///
/// - no leading word may be a prefix of a denied subcommand beside it
///   (`kubectl del`, `kubectl config use`);
/// - below the top level, a rule may not add a member to a group the table
///   already lists (`kubectl config …`, `kubectl rollout …`, `docker
///   container …`): the group's other members are unknown here and many of
///   them write (`config delete-user`, `rollout undo`, `container prune`).
///
/// New top-level commands stay possible (plugins such as `kubectl krew
/// list`, `docker compose ps`): they are judged by what their executable is
/// (see [`ProgramIdentity`]).
fn subcommand_is_new(p: &Program, program: &str, leading: &[&str]) -> Result<(), String> {
    for (d, word) in leading.iter().enumerate() {
        let parent = &leading[..d];
        let shown = |words: &[String]| quote(&format!("{program} {}", words.join(" ")));
        let mut group = false;
        for (path, denied) in p.table_paths() {
            let under =
                path.len() > d && path[..d].iter().zip(parent).all(|(a, b)| p.word_eq(a, b));
            if !under {
                continue;
            }
            group = true;
            let sibling = &path[d];
            let abbreviates = sibling.len() > word.len()
                && sibling
                    .get(..word.len())
                    .is_some_and(|head| p.word_eq(head, word));
            if let (Some(why), true) = (denied, abbreviates) {
                return Err(format!(
                    "{} could be read as {} (a prefix of it), which {why}; no standing rule can \
                     allow it",
                    quote(&format!("{program} {}", leading[..=d].join(" "))),
                    shown(path)
                ));
            }
        }
        if d > 0 && group {
            return Err(format!(
                "{} would add to {}, a command group the allowlist lists member by member (its \
                 other members may write); a standing rule cannot add to it",
                quote(&format!("{program} {}", leading[..=d].join(" "))),
                quote(&format!("{program} {}", parent.join(" ")))
            ));
        }
    }
    Ok(())
}

/// What a standing rule's program is on this machine: found by the caller
/// (the standing store resolves the name on `PATH`, follows symlinks and
/// reads the file's first bytes) and judged here, so that a rule for
/// `rbash`, `mytool -> busybox` or a `#!/bin/sh` script is refused like
/// one for `bash`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramIdentity {
    /// The name or path the command uses (`rbash`, `/usr/local/bin/vault`,
    /// `kubectl-krew`).
    pub invoked: String,
    /// The file it leads to, symlinks followed (`/usr/bin/bash`).
    pub path: String,
    /// What the file is known as: its own file name, and the names of the
    /// programs on `PATH` it is the same file as (a hard link or a copy).
    pub names: Vec<String>,
    /// For a `#!` script: what its interpreter is.
    pub interpreter: Option<Box<ProgramIdentity>>,
}

/// [`admissible`], and each identity of the program (every file the rule
/// could run) must be one a rule may be for: no name it is known by may be
/// refused, it may not be a program the allowlist checks under another name
/// (the rule would skip those checks), and a script's interpreter is judged
/// the same way, none that the allowlist knows (a script is code for it).
pub(crate) fn admissible_as(
    guard: &Guard,
    program: &str,
    args: &[ArgRule],
    identities: &[ProgramIdentity],
) -> Result<(), String> {
    admissible(guard, program, args)?;
    for id in identities {
        judge_identity(guard, id, false)?;
    }
    Ok(())
}

fn judge_identity(guard: &Guard, id: &ProgramIdentity, interpreter: bool) -> Result<(), String> {
    let invoked = id.invoked.rsplit('/').next().unwrap_or(&id.invoked);
    let what = if interpreter {
        format!("its interpreter {} ({})", quote(&id.invoked), id.path)
    } else {
        format!("{} ({})", quote(&id.invoked), id.path)
    };
    for name in &id.names {
        if let Some((form, why)) = refused_name(guard, name) {
            return Err(format!(
                "{what} is {}, which {why}; no standing rule can allow it",
                quote(&form)
            ));
        }
        if guard.programs.contains_key(name.as_str()) && (interpreter || name != invoked) {
            return Err(format!(
                "{what} is {}, which the allowlist checks itself; no standing rule can stand in \
                 for those checks",
                quote(name)
            ));
        }
    }
    if let Some(interp) = &id.interpreter {
        judge_identity(guard, interp, true)
            .map_err(|e| format!("{} is a script ({}): {e}", quote(&id.invoked), id.path))?;
    }
    Ok(())
}

/// Whether a file called `name` tells what a rule's program is: a name the
/// guard refuses (in any form) or a program the allowlist knows.
pub(crate) fn name_matters(guard: &Guard, name: &str) -> bool {
    guard.programs.contains_key(name) || refused_name(guard, name).is_some()
}

/// Programs no standing rule may be for, besides the allowlist's `refuse:`
/// lists (which say what a command line may not run): other shells and
/// interpreters, editors and pagers with a shell escape, programs that run
/// a program named in their arguments, multi-call binaries, and programs
/// that download, send or write. Matched on every form of a name (see
/// [`name_forms`]) and on every name a program's file is known by.
const RULE_REFUSE: [(&[&str], &str); 6] = [
    (
        &[
            "rbash", "rksh", "rzsh", "pdksh", "oksh", "loksh", "lksh", "posh", "yash", "hush",
            "msh", "elvish", "nu", "xonsh", "rc", "es", "scsh", "ion", "sash",
        ],
        "escapes to a shell",
    ),
    (
        &[
            "jimsh",
            "expectk",
            "guile",
            "racket",
            "sbcl",
            "clisp",
            "ocaml",
            "ghci",
            "runghc",
            "erl",
            "escript",
            "elixir",
            "iex",
            "java",
            "jshell",
            "groovy",
            "scala",
            "kotlin",
            "julia",
            "r",
            "octave",
            "bun",
            "qjs",
            "ipython",
            "jython",
            "powershell",
            "dc",
            "m4",
            "make",
            "gmake",
            "bmake",
            "cmake",
            "ninja",
            "sqlite",
            "mongo",
            "mongosh",
            "lldb",
            "gdbserver",
            "valgrind",
            "perf",
            "bpftrace",
        ],
        "starts an interpreter that can run commands",
    ),
    (
        &[
            "ed",
            "red",
            "ex",
            "view",
            "rview",
            "rvim",
            "gvim",
            "vimdiff",
            "nvi",
            "elvis",
            "emacsclient",
            "pico",
            "joe",
            "jed",
            "mg",
            "micro",
            "kak",
            "hx",
            "helix",
            "editor",
            "sensible-editor",
            "select-editor",
            "vipw",
            "vigr",
            "visudo",
            "sudoedit",
            "pager",
            "sensible-pager",
            "most",
            "pg",
            "w3m",
            "lynx",
            "links",
            "elinks",
        ],
        "is an editor or pager that can run shell commands",
    ),
    (
        &[
            "prlimit",
            "setpriv",
            "run-parts",
            "sg",
            "newgrp",
            "chpst",
            "runcon",
            "capsh",
            "firejail",
            "bwrap",
            "fakeroot",
            "fakechroot",
            "proot",
            "systemd-nspawn",
            "machinectl",
            "setarch",
            "linux32",
            "linux64",
            "numactl",
            "cgexec",
            "unbuffer",
            "rlwrap",
            "faketime",
            "catchsegv",
            "start-stop-daemon",
            "daemonize",
            "dtach",
            "abduco",
            "sshpass",
            "torsocks",
            "proxychains",
            "ssh-agent",
            "dbus-launch",
            "dbus-run-session",
            "flatpak-spawn",
            "ksu",
            "run0",
            "time",
            "entr",
            "xdg-open",
            "open",
            "rush",
            "xe",
            "chronic",
            "ifne",
            "vipe",
        ],
        "runs another command",
    ),
    (
        &["toybox", "coreutils"],
        "is a multi-call binary that runs any of its programs, a shell or rm included",
    ),
    (
        &[
            "wget",
            "aria2c",
            "axel",
            "http",
            "https",
            "xh",
            "lftp",
            "ftp",
            "tftp",
            "rclone",
            "gpg",
            "ssh-keygen",
            "sponge",
            "split",
            "csplit",
            "xxd",
            "mail",
            "mailx",
            "mutt",
            "sendmail",
            "wall",
            "write",
            "nsupdate",
            "ldapmodify",
            "ldapadd",
            "ldapdelete",
            "mysqladmin",
        ],
        "downloads, sends or writes files",
    ),
];

/// Build and version suffixes a name can carry and still be the same
/// program (`gdb-multiarch`, `busybox_static`).
const VARIANTS: [&str; 24] = [
    "static",
    "basic",
    "distrib",
    "real",
    "orig",
    "bin",
    "exe",
    "tiny",
    "nox",
    "gtk",
    "gtk3",
    "athena",
    "huge",
    "full",
    "minimal",
    "multiarch",
    "wrapper",
    "appimage",
    "default",
    "dist",
    "preview",
    "lts",
    "nightly",
    "dev",
];

/// The names a program may be packaged under, all lowercase: the name,
/// what comes before its first dot (`sh.distrib`, `vim.basic`,
/// `busybox.static`), without a trailing version (`ksh93`, `tclsh8.6`,
/// `python3.12`, `sqlite3`) and without a build variant (`gdb-multiarch`).
pub(crate) fn name_forms(name: &str) -> Vec<String> {
    let mut forms = vec![name.to_ascii_lowercase()];
    let mut i = 0;
    while i < forms.len() {
        let n = forms[i].clone();
        let mut more: Vec<&str> = Vec::with_capacity(3);
        if let Some((head, _)) = n.split_once('.') {
            more.push(head);
        }
        more.push(n.trim_end_matches(|c: char| c.is_ascii_digit() || "._-".contains(c)));
        if let Some((head, tail)) = n.rsplit_once(['-', '_']) {
            if VARIANTS.contains(&tail) {
                more.push(head);
            }
        }
        for m in more {
            if !m.is_empty() && !forms.iter().any(|f| f == m) {
                forms.push(m.to_owned());
            }
        }
        i += 1;
    }
    forms
}

/// Why no standing rule may be for a program called `name`: the form of the
/// name that is refused, and the reason.
pub(crate) fn refused_name(guard: &Guard, name: &str) -> Option<(String, String)> {
    name_forms(name).into_iter().find_map(|form| {
        let why = refused_form(guard, &form)?;
        Some((form, why))
    })
}

fn refused_form(guard: &Guard, form: &str) -> Option<String> {
    let refused = guard
        .refuse
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(form))
        .map(|(_, why)| why.clone());
    let prefixed = || {
        guard
            .refuse_prefixes
            .iter()
            .find(|(prefix, _)| form.starts_with(&prefix.to_ascii_lowercase()))
            .map(|(_, why)| why.clone())
    };
    let listed = || {
        RULE_REFUSE
            .iter()
            .find(|(names, _)| names.contains(&form))
            .map(|(_, why)| (*why).to_owned())
    };
    let builtin = || {
        SHELL_BUILTINS
            .contains(&form)
            .then(|| "is a shell builtin that changes the shell or runs commands".to_owned())
    };
    refused.or_else(prefixed).or_else(listed).or_else(builtin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_forms_strip_packaging_not_meaning() {
        let forms = |n: &str| name_forms(n);
        assert!(forms("sh.distrib").contains(&"sh".to_string()));
        assert!(forms("ksh93").contains(&"ksh".to_string()));
        assert!(forms("tclsh8.6").contains(&"tclsh".to_string()));
        assert!(forms("busybox.static").contains(&"busybox".to_string()));
        assert!(forms("gdb-multiarch").contains(&"gdb".to_string()));
        assert!(forms("Bash").contains(&"bash".to_string()));
        // A dash is part of a name unless a build variant follows it.
        assert_eq!(forms("ssh-keygen"), vec!["ssh-keygen"]);
        assert_eq!(forms("dd-agent"), vec!["dd-agent"]);
        assert_eq!(forms("kubectl-krew"), vec!["kubectl-krew"]);
    }

    #[test]
    fn refused_names_in_every_form() {
        let guard = Guard::default();
        for name in [
            "rbash",
            "sh.distrib",
            "vim.basic",
            "sqlite3",
            "wget",
            "toybox",
            "ulimit",
        ] {
            assert!(refused_name(&guard, name).is_some(), "{name}");
        }
        for name in [
            "vault",
            "mycorp-cli",
            "arch",
            "dd-agent",
            "kubectl-krew",
            "k9s",
        ] {
            assert_eq!(refused_name(&guard, name), None, "{name}");
        }
        // What the allowlist runs, no rule list refuses.
        for name in guard.programs.keys() {
            assert_eq!(refused_name(&guard, name), None, "{name}");
        }
    }
}
