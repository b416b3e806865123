//! The read-only guard (SPEC §5): would stepguard run this command line?
//!
//! The line is parsed the way dash will read it (`lexer`), and refused
//! wherever bash (`sh` on other systems) would read it differently. Every
//! simple command in it must be a known read-only form: a program from the
//! allowlist (`allowlist.yaml`, compiled into `rules`) with arguments its
//! table or its checker in code (`special`, `sql`, `sed`, `awk`, `curl`)
//! accepts. Anything not understood is refused: the guard fails closed.
//!
//! `check` is the one function the runner and `stepguard guard` call;
//! `check_with_rules` is the same check extended by standing rules (SPEC
//! §7, `extend`), which may allow only simple commands the allowlist does
//! not know, never anything it refuses for cause.

mod awk;
mod curl;
mod extend;
mod lexer;
mod rules;
mod sed;
mod special;
mod sql;
pub mod standing_rule;

use std::collections::HashMap;
use std::sync::OnceLock;

use extend::RuleCtx;
use lexer::{RedirOp, Redirect, SimpleCommand, Word};
use rules::{trust_path, AllowlistFile, EnvShape, Globs, Program};

pub use standing_rule::{parse_arg_rule, ArgRule, RuleState, StandingRule};

pub use extend::{ProgramIdentity, Vet};

/// The allowlist compiled into the binary.
pub const DEFAULT_ALLOWLIST: &str = include_str!("allowlist.yaml");

/// Longer lines are refused outright: no pre-flight needs them, and it
/// bounds the work per call.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;

/// How a refusal of a program the guard has never heard of begins: a word
/// that is no command at all (`checkout`) is refused this way.
pub const UNKNOWN_PROGRAM: &str = "unknown program";

/// The guard's answer for one command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// One line: `allowed: …` or `refused: …`, naming the offending piece.
    pub reason: String,
    /// The standing rule that allowed the line (the first one, when several
    /// did); `None` when the allowlist alone decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// One rule id per simple command a standing rule allowed, in order:
    /// the uses to record (`RuleStore::record_uses`) before running.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_uses: Vec<String>,
    /// Config files the line names that can make a program run others (an
    /// explicit `--kubeconfig`, `KUBECONFIG=` entries, …), each a literal
    /// absolute path. Before running, the runner must check that each, and
    /// every directory above it, is owned by the user or root and not
    /// writable by group or others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trust_files: Vec<String>,
}

fn builtin() -> &'static Guard {
    static DEFAULT: OnceLock<Guard> = OnceLock::new();
    DEFAULT.get_or_init(Guard::default)
}

/// Is this line a command at all, whether or not the guard would run it:
/// one line that parses as shell, each of whose programs the guard knows
/// (allowed or refused by name) or `which` finds. Prose (`Check the
/// dashboard`), `N/A`, `(none)` and an unclosed quote (`the pipeline's
/// deploy`) are not. None when it is; else why not.
pub fn not_a_command(line: &str) -> Option<String> {
    if line.contains(['\n', '\r']) {
        return Some("more than one line".into());
    }
    let commands = match lexer::parse(line) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => return Some("empty".into()),
        Err(e) => return Some(format!("not a shell command ({e})")),
    };
    let guard = builtin();
    for command in &commands {
        let Some(first) = command.words.first() else {
            continue;
        };
        let name = program_name(&first.text).unwrap_or(&first.text);
        let known = guard.programs.contains_key(name)
            || guard.refuse.contains_key(name)
            || guard
                .refuse_prefixes
                .iter()
                .any(|(p, _)| name.starts_with(p.as_str()))
            || (!first.text.contains('/') && which::which(&first.text).is_ok());
        if !known {
            return Some(format!(
                "{} is no program the guard or this machine knows",
                quote(&first.text)
            ));
        }
    }
    None
}

/// Would stepguard run this command line? Uses the built-in allowlist.
pub fn check(command: &str) -> Decision {
    builtin().check(command)
}

/// [`check`], with standing rules: a simple command the allowlist does not
/// know may be allowed by an active rule that matches it (see `extend`).
/// With no rules it is exactly [`check`].
pub fn check_with_rules(command: &str, rules: &[StandingRule], now: u64) -> Decision {
    builtin().check_with_rules(command, rules, now)
}

/// May a standing rule for `program` with these argument constraints exist
/// under the built-in allowlist? `Err` says why not.
pub fn rule_admissible(program: &str, args: &[ArgRule]) -> Result<(), String> {
    extend::admissible(builtin(), program, args)
}

/// [`rule_admissible`], judged also by what the program is on this machine:
/// `identities` are the files the rule could run (see `standing`).
pub fn rule_admissible_as(
    program: &str,
    args: &[ArgRule],
    identities: &[ProgramIdentity],
) -> Result<(), String> {
    extend::admissible_as(builtin(), program, args, identities)
}

/// Whether a file called `name` tells what a rule's program is: a name the
/// guard refuses (in any form) or a program the allowlist knows.
pub fn rule_name_matters(name: &str) -> bool {
    extend::name_matters(builtin(), name)
}

/// [`check_with_rules`], asking `vet` about each rule before it allows a
/// command (see [`Vet`]).
pub fn check_with_rules_vetted(
    command: &str,
    rules: &[StandingRule],
    now: u64,
    vet: Vet<'_>,
) -> Decision {
    if rules.is_empty() {
        return check(command);
    }
    builtin().decide(command, Some(&mut RuleCtx::vetted(rules, now, vet)))
}

/// One allowed simple command: its label, the rule that allowed it, and
/// the config files it names that the runner must check.
struct Allowed {
    label: String,
    rule: Option<String>,
    trust: Vec<String>,
}

/// What checking one program's arguments found besides the verdict.
#[derive(Default)]
pub(crate) struct Found {
    /// Where globs may stand in the arguments.
    pub globs: Globs,
    /// Config files to report in [`Decision::trust_files`].
    pub trust: Vec<String>,
}

/// An allowlist that is not valid.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("allowlist: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("allowlist: program '{program}': {message}")]
    Program { program: String, message: String },
}

/// A compiled allowlist. `Guard::default()` is the built-in one; standing
/// rules can build their own with [`Guard::from_yaml`].
#[derive(Debug, Clone)]
pub struct Guard {
    programs: HashMap<String, Program>,
    refuse: HashMap<String, String>,
    refuse_prefixes: Vec<(String, String)>,
    safe_env: Vec<String>,
    trust_env: Vec<String>,
    /// The shape of each `safe_env` variable's value.
    env_values: Vec<(String, EnvShape)>,
    /// Set when the built-in allowlist failed to load: refuse everything.
    broken: Option<String>,
}

impl Default for Guard {
    fn default() -> Self {
        // The embedded allowlist is tested to load; if it ever did not, the
        // guard must still fail closed rather than panic.
        Guard::from_yaml(DEFAULT_ALLOWLIST).unwrap_or_else(|e| Guard {
            programs: HashMap::new(),
            refuse: HashMap::new(),
            refuse_prefixes: Vec::new(),
            safe_env: Vec::new(),
            trust_env: Vec::new(),
            env_values: Vec::new(),
            broken: Some(one_line(&e.to_string())),
        })
    }
}

/// How many command labels an allowed reason lists.
const MAX_LABELS: usize = 8;

/// Shell words that start compound commands (or are bash/ksh keywords).
const RESERVED: [&str; 22] = [
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "function", "select", "time", "coproc", "{", "}", "!", "[[", "]]",
];

/// Directories a program may be named from by absolute path.
pub(crate) const PROGRAM_DIRS: [&str; 5] = [
    "/bin/",
    "/usr/bin/",
    "/usr/local/bin/",
    "/sbin/",
    "/usr/sbin/",
];

impl Guard {
    /// Compiles an allowlist in the format of `allowlist.yaml`.
    pub fn from_yaml(yaml: &str) -> Result<Guard, GuardError> {
        let file: AllowlistFile = serde_yaml::from_str(yaml)?;
        let mut programs = HashMap::with_capacity(file.programs.len());
        for (name, spec) in file.programs {
            let program = Program::compile(spec).map_err(|message| GuardError::Program {
                program: name.clone(),
                message,
            })?;
            programs.insert(name, program);
        }
        for name in programs.keys() {
            let refused = file.refuse.contains_key(name)
                || file
                    .refuse_prefixes
                    .keys()
                    .any(|p| name.starts_with(p.as_str()));
            if refused {
                return Err(GuardError::Program {
                    program: name.clone(),
                    message: "is both allowed and refused".into(),
                });
            }
        }
        if let Some(v) = file.trust_env.iter().find(|v| !file.safe_env.contains(v)) {
            return Err(GuardError::Program {
                program: v.clone(),
                message: "is in trust_env but not in safe_env".into(),
            });
        }
        for v in &file.safe_env {
            let trust = file.trust_env.contains(v);
            match file.env_values.get(v) {
                None => {
                    return Err(GuardError::Program {
                        program: v.clone(),
                        message: "is in safe_env but has no shape in env_values".into(),
                    })
                }
                Some(shape) if trust != (*shape == EnvShape::TrustPaths) => {
                    return Err(GuardError::Program {
                        program: v.clone(),
                        message: "must be in trust_env exactly when its shape is trust-paths"
                            .into(),
                    })
                }
                Some(_) => {}
            }
        }
        Ok(Guard {
            programs,
            refuse: file.refuse.into_iter().collect(),
            refuse_prefixes: file.refuse_prefixes.into_iter().collect(),
            env_values: file.env_values.into_iter().collect(),
            safe_env: file.safe_env,
            trust_env: file.trust_env,
            broken: None,
        })
    }

    /// Would stepguard run this command line?
    pub fn check(&self, command: &str) -> Decision {
        self.decide(command, None)
    }

    /// [`Guard::check`], with standing rules (see [`check_with_rules`]).
    pub fn check_with_rules(&self, command: &str, rules: &[StandingRule], now: u64) -> Decision {
        if rules.is_empty() {
            return self.check(command);
        }
        self.decide(command, Some(&mut RuleCtx::new(rules, now)))
    }

    fn decide(&self, command: &str, ctx: Option<&mut RuleCtx<'_>>) -> Decision {
        match self.check_line(command, ctx) {
            Ok(cmds) => allowed_decision(&cmds),
            Err(reason) => Decision {
                allowed: false,
                reason: one_line(&format!("refused: {reason}")),
                rule: None,
                rule_uses: Vec::new(),
                trust_files: Vec::new(),
            },
        }
    }

    /// Every simple command of the line, allowed.
    fn check_line(
        &self,
        command: &str,
        mut ctx: Option<&mut RuleCtx<'_>>,
    ) -> Result<Vec<Allowed>, String> {
        if let Some(broken) = &self.broken {
            return Err(format!("the allowlist failed to load: {broken}"));
        }
        if command.len() > MAX_COMMAND_BYTES {
            return Err(format!(
                "the command is {} bytes long (the limit is {MAX_COMMAND_BYTES})",
                command.len()
            ));
        }
        scan_chars(command)?;
        let cmds = lexer::parse(command)?;
        if cmds.is_empty() {
            return Err("nothing to run".into());
        }
        let mut allowed = Vec::with_capacity(cmds.len());
        for cmd in &cmds {
            allowed.push(self.check_simple(cmd, ctx.as_deref_mut())?);
        }
        Ok(allowed)
    }

    fn check_simple(
        &self,
        cmd: &SimpleCommand,
        ctx: Option<&mut RuleCtx<'_>>,
    ) -> Result<Allowed, String> {
        let mut trust = Vec::new();
        for a in &cmd.assigns {
            let eq = a.assign_eq.unwrap_or(0);
            let name = &a.text[..eq];
            if !self.safe_env.iter().any(|s| s == name) {
                return Err(format!(
                    "environment assignment {} is not allowed (only {} may be set)",
                    quote(&a.text),
                    self.safe_env.join(", ")
                ));
            }
            if let Some((_, shape)) = self.env_values.iter().find(|(n, _)| n == name) {
                shape.check(name, &a.text[eq + 1..])?;
            }
            if self.trust_env.iter().any(|s| s == name) {
                // A search list, as KUBECONFIG: empty entries are skipped.
                for entry in a.text[eq + 1..].split(':').filter(|e| !e.is_empty()) {
                    trust.push(trust_path(name, entry)?.to_owned());
                }
            }
        }
        check_redirects(&cmd.redirects)?;
        let Some(first) = cmd.words.first() else {
            return Err(if cmd.assigns.is_empty() {
                "a redirection without a command".into()
            } else {
                "an assignment without a command".into()
            });
        };
        if !first.quoted && RESERVED.contains(&first.text.as_str()) {
            return Err(format!(
                "shell keyword {} starts a compound command",
                quote(&first.text)
            ));
        }
        for (k, w) in cmd.words.iter().enumerate() {
            check_expansion(w, k == 0)?;
        }
        match (self.check_argv(&cmd.words, 0, &mut trust), ctx) {
            (Ok(label), _) => {
                check_tilde(&cmd.words)?;
                Ok(Allowed {
                    label,
                    rule: None,
                    trust,
                })
            }
            (Err(reason), None) => Err(reason),
            (Err(reason), Some(ctx)) => {
                // A standing rule never allows a control character (a
                // newline included) in an argument.
                rules::no_controls(&first.text, &cmd.words[1..])?;
                let used = extend::apply(self, &cmd.words, reason, ctx)?;
                // The table did not parse this form: find its config files anyway.
                if let Some(first) = cmd.words.first() {
                    if let Ok(name) = program_name(&first.text) {
                        if let Some(p) = self.programs.get(name) {
                            let found = p.trust_scan(name, &cmd.words[1..])?;
                            trust.extend(found.into_iter().map(str::to_owned));
                        }
                    }
                }
                Ok(Allowed {
                    label: used.label,
                    rule: Some(used.id),
                    trust,
                })
            }
        }
    }

    /// Checks `words` (program and arguments); returns the label for the
    /// allowed reason, such as `kubectl get`. Config files the runner must
    /// check are added to `trust`.
    pub(crate) fn check_argv(
        &self,
        words: &[Word],
        depth: usize,
        trust: &mut Vec<String>,
    ) -> Result<String, String> {
        let Some(first) = words.first() else {
            return Err("nothing to run".into());
        };
        let name = program_name(&first.text)?;
        if let Some(why) = self.refuse.get(name) {
            return Err(format!("{} {why}", quote(name)));
        }
        for (prefix, why) in &self.refuse_prefixes {
            if name.starts_with(prefix.as_str()) {
                return Err(format!("{} {why}", quote(name)));
            }
        }
        let Some(program) = self.programs.get(name) else {
            return Err(format!(
                "{UNKNOWN_PROGRAM} {} (not in the read-only allowlist)",
                quote(name)
            ));
        };
        let args = &words[1..];
        if !program.multiline && !program.special.is_some_and(|s| s.checks_controls()) {
            rules::no_controls(name, args)?;
        }
        let mut found = Found::default();
        let suffix = match program.special {
            Some(special) => special::check(self, special, program, name, args, depth, &mut found)?,
            None => {
                let parsed = program.check_args(name, args)?;
                found.globs = parsed.globs;
                found
                    .trust
                    .extend(parsed.trust.iter().map(|t| (*t).to_owned()));
                // A pattern's label is the words it matched.
                parsed
                    .sub
                    .map(|s| match parsed.positionals.get(..s.words.len()) {
                        Some(words) if s.label.contains(['{', '*']) => words.join(" "),
                        _ => s.label.clone(),
                    })
            }
        };
        // Fail closed: a glob the checker did not read as a file operand
        // could change the arguments it checked.
        found.globs.check(name, args)?;
        trust.append(&mut found.trust);
        Ok(match suffix {
            Some(s) => format!("{name} {s}"),
            None => name.to_owned(),
        })
    }
}

/// The decision for a line whose every simple command is allowed. Without
/// standing rules the reason reads as it always has; rule-allowed commands
/// are listed after, each naming its rule.
fn allowed_decision(cmds: &[Allowed]) -> Decision {
    fn push(list: &mut Vec<String>, more: &mut bool, label: String) {
        if !list.contains(&label) {
            if list.len() < MAX_LABELS {
                list.push(label);
            } else {
                *more = true;
            }
        }
    }
    let (mut known, mut by_rule, mut rule_uses) = (Vec::new(), Vec::new(), Vec::new());
    let mut trust_files: Vec<String> = Vec::new();
    let (mut more_known, mut more_ruled) = (false, false);
    for c in cmds {
        for t in &c.trust {
            if !trust_files.contains(t) {
                trust_files.push(t.clone());
            }
        }
        match &c.rule {
            None => push(&mut known, &mut more_known, c.label.clone()),
            Some(id) => {
                rule_uses.push(id.clone());
                let label = format!("{} (standing rule {id})", c.label);
                push(&mut by_rule, &mut more_ruled, label);
            }
        }
    }
    let etc = |more: bool| if more { ", …" } else { "" };
    let known_part = format!("({}{})", known.join(", "), etc(more_known));
    let reason = if rule_uses.is_empty() {
        format!("allowed: every command is a known read-only form {known_part}")
    } else if known.is_empty() {
        format!(
            "allowed: every command is allowed by a standing rule: {}{}",
            by_rule.join(", "),
            etc(more_ruled)
        )
    } else {
        format!(
            "allowed: every command is a known read-only form {known_part} or allowed by a \
             standing rule: {}{}",
            by_rule.join(", "),
            etc(more_ruled)
        )
    };
    Decision {
        allowed: true,
        reason: one_line(&reason),
        rule: rule_uses.first().cloned(),
        rule_uses,
        trust_files,
    }
}

/// Bare names, or absolute paths in the system program directories.
fn program_name(text: &str) -> Result<&str, String> {
    if text.is_empty() {
        return Err("empty program name".into());
    }
    if !text.contains('/') {
        return Ok(text);
    }
    for dir in PROGRAM_DIRS {
        if let Some(rest) = text.strip_prefix(dir) {
            if !rest.is_empty() && !rest.contains('/') && rest != "." && rest != ".." {
                return Ok(rest);
            }
        }
    }
    if text.starts_with('/') {
        Err(format!(
            "program path {} is outside /bin, /usr/bin, /usr/local/bin, /sbin and /usr/sbin",
            quote(text)
        ))
    } else {
        Err(format!(
            "relative program path {} could run any file",
            quote(text)
        ))
    }
}

/// bash (outside POSIX mode) expands `~` after `=` or `:` in an
/// assignment-like argument; dash leaves it. (A standing rule refuses
/// every `~` itself.)
fn check_tilde(words: &[Word]) -> Result<(), String> {
    match words.iter().find(|w| w.tilde_assign) {
        Some(w) => Err(format!(
            "'~' after '=' or ':' in {}: bash expands it to a home directory, dash does not",
            quote(&w.text)
        )),
        None => Ok(()),
    }
}

fn check_expansion(w: &Word, is_program: bool) -> Result<(), String> {
    if w.brace {
        return Err(format!(
            "brace expansion in {} (bash expands it into several words)",
            quote(&w.text)
        ));
    }
    if let Some(at) = w.glob_at {
        if is_program {
            return Err(format!("glob in the program name {}", quote(&w.text)));
        }
        if at == 0 || w.text.starts_with('-') {
            return Err(format!(
                "unquoted glob {} could expand to a file name that reads as an option; quote it \
                 or start it with a directory",
                quote(&w.text)
            ));
        }
    }
    Ok(())
}

/// What one file descriptor of a simple command refers to while its
/// redirections are applied, left to right.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fd {
    /// What the runner gave the shell (fds 0-2: /dev/null and pipes).
    Runner,
    DevNull,
    /// A file opened for reading by `<`.
    File,
    /// Closed by `>&-`.
    Closed,
    /// Not opened by this command: fds 3-9 may be inherited from anywhere.
    Unknown,
}

/// Redirections that read a file into standard input, silence output, or
/// rearrange the descriptors the command already has; nothing that opens a
/// file for writing. `/dev/stdout` and `/dev/stderr` are magic links to
/// whatever fd 1 or 2 is at that moment, so they are refused once that fd
/// refers to a file.
fn check_redirects(redirects: &[Redirect]) -> Result<(), String> {
    let mut fds = [Fd::Unknown; 10];
    fds[..3].fill(Fd::Runner);
    for r in redirects {
        let t = r.target.text.as_str();
        let input = matches!(r.op, RedirOp::In | RedirOp::DupIn);
        // The lexer takes only one digit as the fd (as dash does).
        let fd = r.fd.unwrap_or(if input { 0 } else { 1 }) as usize % 10;
        let shown = || {
            let n = r.fd.map(|n| n.to_string()).unwrap_or_default();
            quote(&format!("{n}{}{t}", r.op.as_str()))
        };
        fds[fd] = match r.op {
            RedirOp::In => {
                if t.starts_with("/dev/tcp/") || t.starts_with("/dev/udp/") {
                    return Err(format!(
                        "input redirection from {} opens a network connection in bash",
                        quote(t)
                    ));
                }
                if fd != 0 {
                    return Err(format!(
                        "input redirection {} opens a file on fd {fd}, where output goes: only \
                         standard input (fd 0) may be read from a file",
                        shown()
                    ));
                }
                Fd::File
            }
            RedirOp::Out | RedirOp::Append | RedirOp::Clobber => {
                let now = match t {
                    "/dev/null" => Fd::DevNull,
                    "/dev/stdout" => fds[1],
                    "/dev/stderr" => fds[2],
                    _ => return Err(format!("output redirection to {} writes a file", quote(t))),
                };
                if now == Fd::File {
                    return Err(format!(
                        "{} reopens {t} for writing, and that fd refers to a file here (it would \
                         be truncated)",
                        shown()
                    ));
                }
                now
            }
            RedirOp::DupOut | RedirOp::DupIn => {
                if t == "-" {
                    Fd::Closed
                } else if t.len() == 1 && t.as_bytes()[0].is_ascii_digit() {
                    let from = fds[usize::from(t.as_bytes()[0] - b'0')];
                    if from == Fd::Unknown {
                        return Err(format!(
                            "{} duplicates fd {t}, which this command did not open (it could be \
                             any descriptor the shell inherited)",
                            shown()
                        ));
                    }
                    from
                } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "{} duplicates fd {t} in bash, but dash reads only one digit there",
                        shown()
                    ));
                } else if t.len() == 2 && t.as_bytes()[0].is_ascii_digit() && t.ends_with('-') {
                    return Err(format!(
                        "{} moves an fd in bash; dash has no such form",
                        shown()
                    ));
                } else if r.op == RedirOp::DupOut {
                    return Err(format!("'>&' to {} writes a file in bash", quote(t)));
                } else {
                    return Err(format!(
                        "'<&' needs a file descriptor number, not {}",
                        quote(t)
                    ));
                }
            }
        };
    }
    Ok(())
}

/// Characters that hide what the line does: controls (other than tab and
/// newline), bidi overrides, zero-width and look-alike spaces.
fn scan_chars(line: &str) -> Result<(), String> {
    if line.is_ascii() {
        for (i, &b) in line.as_bytes().iter().enumerate() {
            if (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f {
                return Err(format!(
                    "the line contains control character U+{b:04X} at byte {i}"
                ));
            }
        }
        return Ok(());
    }
    for (i, ch) in line.char_indices() {
        if (ch.is_control() && ch != '\t' && ch != '\n') || is_invisible(ch) {
            return Err(format!(
                "the line contains an invisible or control character U+{:04X} at byte {i}",
                ch as u32
            ));
        }
    }
    Ok(())
}

fn is_invisible(ch: char) -> bool {
    matches!(ch as u32,
        0x00A0 | 0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x1680 | 0x17B4 | 0x17B5
        | 0x180B..=0x180F | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x206F | 0x3000
        | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF9..=0xFFFB | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// Quotes an untrusted piece for a reason: in single quotes, control and
/// invisible characters escaped, at most 60 characters.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(64) + 2);
    out.push('\'');
    for (n, ch) in s.chars().enumerate() {
        if n == 60 {
            out.push('…');
            break;
        }
        if ch.is_control() || is_invisible(ch) {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// A reason is one line: any control character left is escaped.
fn one_line(s: &str) -> String {
    if !s.contains(|c: char| c.is_control() || is_invisible(c)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() || is_invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_allowlist_loads() {
        let g = Guard::from_yaml(DEFAULT_ALLOWLIST).unwrap_or_else(|e| panic!("{e}"));
        assert!(g.programs.contains_key("kubectl"));
        assert!(g.broken.is_none());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Guard::from_yaml("safe_env: []\nprograms:\n  ls: {colour: true}\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Guard::from_yaml("safe_env: []\nprograms:\n  ls: {deny_flags: {'x': y}}\n")
            .unwrap_err();
        assert!(e.to_string().contains("'ls'"), "{e}");
    }

    #[test]
    fn a_program_cannot_be_both_allowed_and_refused() {
        let yaml = "safe_env: []\nrefuse_prefixes: {python: starts an interpreter}\n\
                    programs:\n  python3: {}\n";
        assert!(Guard::from_yaml(yaml).is_err());
    }

    #[test]
    fn a_broken_guard_refuses_everything() {
        let g = Guard {
            broken: Some("bad".into()),
            ..Guard::default()
        };
        assert!(!g.check("ls").allowed);
    }

    #[test]
    fn standing_rules_can_extend_a_guard() {
        let g = Guard::from_yaml("safe_env: []\nprograms:\n  mytool: {subcommands: [status]}\n")
            .unwrap();
        assert!(g.check("mytool status").allowed);
        assert!(!g.check("mytool restart").allowed);
        assert!(!g.check("ls").allowed);
    }

    #[test]
    fn reasons_name_the_piece() {
        let r = |c: &str| check(c).reason;
        assert_eq!(
            r("kubectl delete pod x"),
            "refused: 'kubectl delete' deletes resources"
        );
        assert_eq!(
            r("kubectl frobnicate"),
            "refused: 'kubectl frobnicate' is not a read-only kubectl subcommand"
        );
        assert_eq!(
            r("ls $(rm -rf /)"),
            "refused: command substitution $(...) can run anything"
        );
        assert_eq!(
            r("cat x > out.txt"),
            "refused: output redirection to 'out.txt' writes a file"
        );
        assert_eq!(
            r("psql -c 'select 1; DELETE FROM t'"),
            "refused: psql statement 2 starts with 'DELETE' (only SELECT/SHOW/EXPLAIN/WITH/VALUES/TABLE)"
        );
        assert_eq!(
            r("foo"),
            "refused: unknown program 'foo' (not in the read-only allowlist)"
        );
        assert_eq!(r(""), "refused: nothing to run");
        assert_eq!(
            r("kubectl get pods | tail -5"),
            "allowed: every command is a known read-only form (kubectl get, tail)"
        );
    }

    #[test]
    fn allowed_reasons_stay_short() {
        let line = "ls; pwd; id; date; uptime; free; df; du; ps; ".repeat(50);
        let d = check(&line);
        assert!(d.allowed, "{}", d.reason);
        assert!(d.reason.len() < 200, "{}", d.reason);
        assert!(d.reason.ends_with(", …)"), "{}", d.reason);
    }

    #[test]
    fn config_files_that_can_run_programs_are_reported() {
        let files = |c: &str| {
            let d = check(c);
            assert!(d.allowed, "{c}: {}", d.reason);
            d.trust_files
        };
        assert_eq!(
            files("kubectl --kubeconfig=/etc/kube/config get nodes"),
            ["/etc/kube/config"]
        );
        assert_eq!(
            files("KUBECONFIG=/etc/kube/prod kubectl get pods"),
            ["/etc/kube/prod"]
        );
        assert_eq!(
            files("KUBECONFIG=/a/one::/b/two kubectl --kubeconfig /c get pods | grep x"),
            ["/a/one", "/b/two", "/c"]
        );
        assert_eq!(
            files("timeout 5 helm --registry-config /r.json --kubeconfig /k list"),
            ["/r.json", "/k"]
        );
        assert_eq!(
            files("kubectl get pods; kubectl --kubeconfig /k get ns"),
            ["/k"]
        );
        assert_eq!(files("docker --config /etc/docker ps"), ["/etc/docker"]);
        assert!(files("kubectl get pods").is_empty());
        for c in [
            "kubectl --kubeconfig kube.yaml get pods",
            "kubectl --kubeconfig /etc/../tmp/k get pods",
            "KUBECONFIG=/etc/k:k2 kubectl get pods",
            "KUBECONFIG='~/k' kubectl get pods",
            "helm --repository-config /tmp/r* list",
        ] {
            let d = check(c);
            assert!(!d.allowed && d.trust_files.is_empty(), "{c}: {}", d.reason);
        }
    }

    #[test]
    fn trust_env_must_be_safe_env() {
        let e =
            Guard::from_yaml("safe_env: []\ntrust_env: [KUBECONFIG]\nprograms: {}\n").unwrap_err();
        assert!(e.to_string().contains("safe_env"), "{e}");
        let e = Guard::from_yaml(
            "safe_env: []\nprograms:\n  k: {value_flags: [-c], trust_flags: [-c]}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("trust flag"), "{e}");
    }

    #[test]
    fn globs_stand_only_where_files_are_read() {
        for ok in [
            "ls -la /var/log/*.log",
            "du -sh /var/log/*",
            "sed -n 1p /var/log/*.log",
            "awk '{print}' /var/log/*.log",
            "find /var/log/* -name x",
            "timeout 5 grep -c x /var/log/*.log",
            "tree -L 2 /etc/*",
        ] {
            let d = check(ok);
            assert!(d.allowed, "{ok}: {}", d.reason);
        }
        for bad in [
            "kubectl -n de* get x",
            "sed -n -e x* f",
            "awk -F x* '{print}' f",
            "awk -v x=a* '{print}' f",
            "find . -newer x*",
            "timeout -s K* 5 ls",
            "date -d x* +%s",
            "redis-cli -h de* GET k",
            "pg_isready -h db*",
            "nslookup example.com 8.8.8.*",
        ] {
            let d = check(bad);
            assert!(
                !d.allowed && d.reason.contains("glob"),
                "{bad}: {}",
                d.reason
            );
        }
    }

    #[test]
    fn redirections_follow_each_fd() {
        for ok in [
            "cat < /etc/hostname",
            "cat 0</etc/hostname 2>/dev/null",
            "echo x >/dev/stderr",
            "ls 2>&1 >/dev/null | head",
            "ls 3>&1 1>&2 2>&3 3>&-",
            "ls 3>/dev/null 2>&3",
            "ls >/dev/null 2>/dev/stdout",
            "cat </etc/hostname 2>/dev/stdout",
        ] {
            let d = check(ok);
            assert!(d.allowed, "{ok}: {}", d.reason);
        }
        for (bad, why) in [
            ("echo X 1</tmp/v >/dev/stdout", "fd 1"),
            ("echo X 2</tmp/v", "fd 2"),
            ("ls 3</etc/passwd", "fd 3"),
            ("echo X </tmp/v >&0 >/dev/stdout", "truncated"),
            ("echo X </tmp/v 1<&0 >/dev/stdout", "truncated"),
            ("echo X </tmp/v 2>&0 2>/dev/stderr", "truncated"),
            ("echo X </tmp/v 2<&0 >/dev/stderr", "truncated"),
            ("ls >&5", "did not open"),
            ("cat <&3", "did not open"),
            ("ls 2>&10", "one digit"),
            ("ls 2>&1-", "moves an fd"),
            ("ls >&out", "writes a file"),
            ("ls >/dev/fd/1", "writes a file"),
            ("ls >/proc/self/fd/1", "writes a file"),
            ("cat </dev/tcp/h/80", "network"),
            ("cat <>x", "'<>'"),
        ] {
            let d = check(bad);
            assert!(!d.allowed && d.reason.contains(why), "{bad}: {}", d.reason);
        }
    }

    #[test]
    fn environment_values_have_a_shape() {
        for ok in [
            "LC_ALL=C sort f",
            "LC_ALL=C.UTF-8 LANG=en_US.UTF-8 sort f",
            "LANG=sr_RS@latin date",
            "LANG= date",
            "TZ=UTC date",
            "TZ=Europe/Berlin date",
            "TZ=Etc/GMT+5 date",
            "TZ=CET-1CEST,M3.5.0,M10.5.0/3 date",
            "NO_COLOR=1 COLUMNS=200 systemctl status x",
            "PGCONNECT_TIMEOUT=5 psql -c 'select 1'",
        ] {
            let d = check(ok);
            assert!(d.allowed, "{ok}: {}", d.reason);
        }
        for (bad, why) in [
            ("LC_ALL=/proc/self/cwd/loc ls", "locale name"),
            ("LANG=./loc ls", "locale name"),
            ("LC_ALL=C/../x ls", "locale name"),
            ("TZ=/etc/shadow date", "time zone"),
            ("TZ=:/etc/shadow date", "time zone"),
            ("TZ=../../etc/shadow date", "time zone"),
            ("TZ=Europe/../../x date", "time zone"),
            ("TZ= date", "time zone"),
            ("NO_COLOR='a b' ls", "letters and digits"),
            ("COLUMNS=1e3 ls", "number"),
            ("PGCONNECT_TIMEOUT= psql -c 'select 1'", "number"),
            ("KUBERC=/etc/k kubectl get pods", "not allowed"),
            (
                "KUBECONFIG=/proc/self/cwd/k kubectl get pods",
                "/proc or /dev",
            ),
        ] {
            let d = check(bad);
            assert!(!d.allowed && d.reason.contains(why), "{bad}: {}", d.reason);
        }
        let e = Guard::from_yaml("safe_env: [X]\nprograms: {}\n").unwrap_err();
        assert!(e.to_string().contains("env_values"), "{e}");
        let e = Guard::from_yaml("safe_env: [X]\nenv_values: {X: trust-paths}\nprograms: {}\n")
            .unwrap_err();
        assert!(e.to_string().contains("trust_env"), "{e}");
    }

    #[test]
    fn only_parsed_program_texts_span_lines() {
        for ok in [
            "awk '{\n  print $1\n}' f",
            "sed -n '1p\n2p' f",
            "sed -e '1p' -e '\n2p' f",
            "psql -X -c 'select 1\nfrom t'",
            "jq '.items[]\n| .name' f.json",
            "grep -e 'a\nb' f",
            "echo 'a\nb'",
            "timeout 5 awk 'BEGIN {\n print 1\n}'",
            "cut -f1 -d'\t' f",
        ] {
            let d = check(ok);
            assert!(d.allowed, "{ok:?}: {}", d.reason);
        }
        for (bad, why) in [
            ("kubectl get pods -l 'a\nb'", "U+000A"),
            ("redis-cli GET 'a\nFLUSHALL'", "U+000A"),
            ("psql -h 'db\nx' -c 'select 1'", "U+000A"),
            ("psql -c 'select 1' 'db\n'", "U+000A"),
            ("sed -n p 'f\ng'", "U+000A"),
            ("awk -v 'x=1\n' '{print}'", "U+000A"),
            ("awk '{print}' 'f\ng'", "U+000A"),
            ("timeout -s 'KILL\n' 5 ls", "U+000A"),
            ("timeout 5 kubectl get 'a\nb'", "U+000A"),
            ("curl -H 'X: a\tb' http://x/", "U+0009"),
            ("curl -H 'X: y\nFLUSHALL' http://x/", "U+000A"),
        ] {
            let d = check(bad);
            assert!(
                !d.allowed && d.reason.contains(why),
                "{bad:?}: {}",
                d.reason
            );
        }
        // Nor may a standing rule allow one.
        let rule = StandingRule {
            id: "0000000a".into(),
            program: "mytool".into(),
            args: vec![super::parse_arg_rule("re:.*").unwrap()],
            max_uses: None,
            uses: 0,
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            reason: "test".into(),
            created_by: "test".into(),
        };
        let rules = [rule];
        assert!(check_with_rules("mytool ab", &rules, 1).allowed);
        let d = check_with_rules("mytool 'a\nb'", &rules, 1);
        assert!(!d.allowed && d.reason.contains("U+000A"), "{}", d.reason);
    }

    #[test]
    fn quoting_escapes_and_truncates() {
        assert_eq!(quote("a\nb"), "'a\\nb'");
        assert_eq!(quote("\u{202e}x"), "'\\u{202e}x'");
        assert_eq!(quote(&"x".repeat(100)).chars().count(), 63);
        assert_eq!(one_line("a\u{0}b"), "a\\u{0}b");
    }
}
