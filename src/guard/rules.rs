//! The allowlist as data (`allowlist.yaml`), its compiled form, and the
//! table-driven argument check most programs use.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::lexer::Word;
use super::quote;

/// The YAML file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllowlistFile {
    /// Variables a command may be prefixed with (`LC_ALL=C sort`).
    pub safe_env: Vec<String>,
    /// Programs refused outright, with the reason.
    #[serde(default)]
    pub refuse: BTreeMap<String, String>,
    /// Program name prefixes refused outright (`python` covers `python3.12`).
    #[serde(default)]
    pub refuse_prefixes: BTreeMap<String, String>,
    pub programs: BTreeMap<String, ProgramSpec>,
}

/// One program's entry in the YAML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgramSpec {
    /// Read-only subcommand paths of one or two words (`get`, `rollout status`).
    #[serde(default)]
    subcommands: Vec<SubSpec>,
    /// The program alone (no subcommand) is read-only too.
    #[serde(default)]
    subcommand_optional: bool,
    /// Subcommands match case-insensitively (redis commands).
    #[serde(default)]
    case_insensitive: bool,
    /// Better reasons for some refused subcommands (anything unlisted is refused anyway).
    #[serde(default)]
    deny_subcommands: BTreeMap<String, String>,
    /// Flags that take a separate value (needed to find the subcommand).
    #[serde(default)]
    value_flags: Vec<String>,
    /// Known flags that take no value (allowed before the subcommand).
    #[serde(default)]
    flags: Vec<String>,
    /// Refused flags and why.
    #[serde(default)]
    deny_flags: BTreeMap<String, String>,
    /// The program accepts GNU getopt_long abbreviations (`--outp` for `--output`).
    #[serde(default)]
    gnu_abbrev: bool,
    /// When present, only these flags are allowed.
    #[serde(default)]
    allow_flags: Option<Vec<String>>,
    /// At most this many operands (after the subcommand).
    #[serde(default)]
    max_positionals: Option<usize>,
    /// At least one of these flags must be present.
    #[serde(default)]
    require_one_of: Vec<String>,
    /// Arguments are checked by code (see `special.rs`).
    #[serde(default)]
    special: Option<Special>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SubSpec {
    Path(String),
    Detailed(SubDetail),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubDetail {
    path: String,
    /// Flags this subcommand is read-only only with (`docker stats --no-stream`).
    #[serde(default)]
    require_flags: Vec<String>,
}

/// Programs whose arguments need a checker written in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Special {
    RedisCli,
    Psql,
    Curl,
    Sed,
    Awk,
    Find,
    Ip,
    Top,
    Date,
    Sysctl,
    Env,
    Timeout,
}

/// A read-only subcommand path.
#[derive(Debug, Clone)]
pub(crate) struct Sub {
    pub words: Vec<String>,
    pub label: String,
    pub require_flags: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FlagSet {
    long: Vec<String>,
    short: Vec<char>,
}

impl FlagSet {
    fn has_long(&self, name: &str) -> bool {
        self.long.iter().any(|f| f == name)
    }
}

/// One program's compiled rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    subcommands: Vec<Sub>,
    subcommand_optional: bool,
    case_insensitive: bool,
    /// Longest paths first.
    deny_subcommands: Vec<(Vec<String>, String)>,
    value: FlagSet,
    known: FlagSet,
    deny_long: Vec<(String, String)>,
    deny_short: Vec<(char, String)>,
    gnu_abbrev: bool,
    allow: Option<FlagSet>,
    max_positionals: Option<usize>,
    require_one_of: Vec<String>,
    pub special: Option<Special>,
    /// Nothing to check: any arguments are fine.
    trivial: bool,
    /// Operands have meaning (subcommands, counts), so a glob that could
    /// expand into several of them is refused.
    strict_operands: bool,
}

/// Why the table-driven check refused: whether a standing rule may allow
/// the form anyway (see `extend.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The form is not in the table (an unlisted subcommand, an unknown
    /// option before it): a standing rule may allow it.
    Unknown,
    /// The table refuses it for a reason: nothing may allow it.
    Denied,
}

type Kinded<T> = Result<T, (Refusal, String)>;

fn denied<T>(r: Result<T, String>) -> Kinded<T> {
    r.map_err(|e| (Refusal::Denied, e))
}

/// What the table-driven check found.
pub(crate) struct Parsed<'p, 'w> {
    pub sub: Option<&'p Sub>,
    pub positionals: Vec<&'w str>,
}

enum Flag {
    Long(String),
    Short(char),
}

fn parse_flag(f: &str) -> Result<Flag, String> {
    if let Some(rest) = f.strip_prefix("--") {
        if !rest.is_empty() && !rest.contains(['=', ' ']) {
            return Ok(Flag::Long(f.to_owned()));
        }
    } else if let Some(rest) = f.strip_prefix('-') {
        let mut cs = rest.chars();
        if let (Some(c), None) = (cs.next(), cs.next()) {
            if c != '-' && c != ' ' {
                return Ok(Flag::Short(c));
            }
        }
    }
    Err(format!("flag {f:?} must look like -x or --long"))
}

fn flag_set(flags: &[String]) -> Result<FlagSet, String> {
    let mut set = FlagSet::default();
    for f in flags {
        match parse_flag(f)? {
            Flag::Long(l) => set.long.push(l),
            Flag::Short(c) => set.short.push(c),
        }
    }
    Ok(set)
}

fn path_words(path: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = path.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() || words.len() > 2 {
        return Err(format!("subcommand {path:?} must have one or two words"));
    }
    Ok(words)
}

/// `-x` / `--long` appears among the options of `args` (before `--`).
pub(crate) fn has_flag(args: &[Word], flag: &str) -> bool {
    for w in args {
        let a = w.text.as_str();
        if a == "--" {
            break;
        }
        if flag.starts_with("--") {
            // Exact only: `--no-stream=false` must not count as `--no-stream`.
            if a == flag {
                return true;
            }
        } else if let Some(c) = flag.strip_prefix('-') {
            if a.len() > 1 && a.starts_with('-') && !a.starts_with("--") && a[1..].contains(c) {
                return true;
            }
        }
    }
    false
}

impl Program {
    pub(crate) fn compile(spec: ProgramSpec) -> Result<Program, String> {
        let mut p = Program {
            subcommand_optional: spec.subcommand_optional,
            case_insensitive: spec.case_insensitive,
            gnu_abbrev: spec.gnu_abbrev,
            max_positionals: spec.max_positionals,
            special: spec.special,
            value: flag_set(&spec.value_flags)?,
            known: flag_set(&spec.flags)?,
            ..Program::default()
        };
        for s in spec.subcommands {
            let (path, require_flags) = match s {
                SubSpec::Path(p) => (p, Vec::new()),
                SubSpec::Detailed(d) => (d.path, d.require_flags),
            };
            for f in &require_flags {
                parse_flag(f)?;
            }
            let words = path_words(&path)?;
            p.subcommands.push(Sub {
                label: words.join(" "),
                words,
                require_flags,
            });
        }
        for (path, reason) in spec.deny_subcommands {
            p.deny_subcommands
                .push((path_words(&path)?, one_line(&reason)?));
        }
        p.deny_subcommands
            .sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        for (flag, reason) in spec.deny_flags {
            let reason = one_line(&reason)?;
            match parse_flag(&flag)? {
                Flag::Long(l) => p.deny_long.push((l, reason)),
                Flag::Short(c) => p.deny_short.push((c, reason)),
            }
        }
        if let Some(allow) = &spec.allow_flags {
            p.allow = Some(flag_set(allow)?);
        }
        for f in &spec.require_one_of {
            parse_flag(f)?;
        }
        p.require_one_of = spec.require_one_of;
        if p.subcommand_optional && p.subcommands.is_empty() {
            return Err("subcommand_optional without subcommands".into());
        }
        p.trivial = p.subcommands.is_empty()
            && p.deny_long.is_empty()
            && p.deny_short.is_empty()
            && p.allow.is_none()
            && p.max_positionals.is_none()
            && p.require_one_of.is_empty();
        p.strict_operands = !p.subcommands.is_empty()
            || p.allow.is_some()
            || p.max_positionals.is_some()
            || !p.require_one_of.is_empty();
        Ok(p)
    }

    fn word_eq(&self, a: &str, b: &str) -> bool {
        if self.case_insensitive {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    fn path_matches(&self, path: &[String], pos: &[&str]) -> bool {
        path.len() <= pos.len() && path.iter().zip(pos).all(|(a, b)| self.word_eq(a, b))
    }

    /// The subcommand is known once no longer listed path could still match.
    fn sub_determined(&self, pos: &[&str]) -> bool {
        !pos.is_empty()
            && !self.subcommands.iter().any(|s| {
                s.words.len() > pos.len()
                    && s.words.iter().zip(pos).all(|(a, b)| self.word_eq(a, b))
            })
    }

    fn known_long(&self, name: &str) -> bool {
        self.value.has_long(name)
            || self.known.has_long(name)
            || self.allow.as_ref().is_some_and(|a| a.has_long(name))
    }

    fn check_long_deny(&self, prog: &str, name: &str) -> Result<(), String> {
        for (flag, reason) in &self.deny_long {
            if flag == name {
                return Err(format!("'{prog} {flag}' {reason}"));
            }
        }
        // getopt_long takes any unambiguous prefix, so `--outp` is `--output`.
        if self.gnu_abbrev && name.len() > 2 && !self.known_long(name) {
            for (flag, reason) in &self.deny_long {
                if flag.starts_with(name) {
                    return Err(format!(
                        "'{prog}' option {} abbreviates {flag}, which {reason}",
                        quote(name)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether a standing rule may allow a form this program's table does
    /// not know. Only programs with a subcommand table qualify: a checker in
    /// code understands a language a rule cannot, and an allow-list of
    /// flags, an operand limit or a required flag stand for forms that
    /// write or never end.
    pub(crate) fn extendable(&self) -> bool {
        self.special.is_none()
            && !self.subcommands.is_empty()
            && self.allow.is_none()
            && self.max_positionals.is_none()
            && self.require_one_of.is_empty()
    }

    /// The listed read-only subcommand that `leading` (the first operands)
    /// starts with, if any.
    pub(crate) fn known_path(&self, leading: &[&str]) -> Option<&Sub> {
        self.subcommands
            .iter()
            .filter(|s| self.path_matches(&s.words, leading))
            .max_by_key(|s| s.words.len())
    }

    /// Everything the table denies, wherever it stands in `args`: a denied
    /// flag (abbreviated, or inside a cluster of short flags), or the words
    /// of a denied subcommand in order among the operands, gaps allowed
    /// (an unknown option's value could hide the words between). Stricter
    /// than [`Program::check_args`], which stops at the first problem.
    pub(crate) fn deny_scan(&self, prog: &str, args: &[&str]) -> Result<(), String> {
        let mut operands: Vec<&str> = Vec::with_capacity(args.len());
        for &a in args {
            if a == "--" {
                continue;
            }
            if a.len() < 2 || !a.starts_with('-') {
                operands.push(a);
                continue;
            }
            if a.starts_with("--") {
                let name = a.split_once('=').map_or(a, |(n, _)| n);
                self.check_long_deny(prog, name)?;
                continue;
            }
            for ch in a[1..].chars() {
                if let Some((_, reason)) = self.deny_short.iter().find(|(c, _)| *c == ch) {
                    return Err(format!("'{prog} -{ch}' {reason}"));
                }
                if self.value.short.contains(&ch) {
                    break;
                }
            }
        }
        for (words, reason) in &self.deny_subcommands {
            let mut rest = operands.iter();
            if words.iter().all(|w| rest.any(|o| self.word_eq(w, o))) {
                return Err(format!(
                    "{} {reason}",
                    quote(&format!("{prog} {}", words.join(" ")))
                ));
            }
        }
        Ok(())
    }

    /// Matches the subcommand among `pos` (the operands in order).
    /// `noun` names what a subcommand is in reasons ("kubectl subcommand").
    pub(crate) fn subcommand(
        &self,
        prog: &str,
        pos: &[&str],
        noun: &str,
    ) -> Result<Option<&Sub>, String> {
        self.subcommand_kind(prog, pos, noun).map_err(|(_, e)| e)
    }

    fn subcommand_kind(&self, prog: &str, pos: &[&str], noun: &str) -> Kinded<Option<&Sub>> {
        if self.subcommands.is_empty() {
            return Ok(None);
        }
        let best = self
            .subcommands
            .iter()
            .filter(|s| self.path_matches(&s.words, pos))
            .max_by_key(|s| s.words.len());
        if let Some(s) = best {
            return Ok(Some(s));
        }
        if pos.is_empty() {
            if self.subcommand_optional {
                return Ok(None);
            }
            let examples: Vec<&str> = self
                .subcommands
                .iter()
                .take(4)
                .map(|s| s.label.as_str())
                .collect();
            return Err((
                Refusal::Unknown,
                format!(
                    "'{prog}' needs a read-only {noun} (e.g. {})",
                    examples.join(", ")
                ),
            ));
        }
        for (words, reason) in &self.deny_subcommands {
            if self.path_matches(words, pos) {
                return Err((
                    Refusal::Denied,
                    format!(
                        "{} {reason}",
                        quote(&format!("{prog} {}", pos[..words.len()].join(" ")))
                    ),
                ));
            }
        }
        let two = pos.len() >= 2
            && self
                .subcommands
                .iter()
                .any(|s| s.words.len() == 2 && self.word_eq(&s.words[0], pos[0]));
        let shown = if two { &pos[..2] } else { &pos[..1] };
        Err((
            Refusal::Unknown,
            format!(
                "{} is not a read-only {noun}",
                quote(&format!("{prog} {}", shown.join(" ")))
            ),
        ))
    }

    /// The table-driven check: flags, subcommand, operand count, required flags.
    pub(crate) fn check_args<'p, 'w>(
        &'p self,
        prog: &str,
        args: &'w [Word],
    ) -> Result<Parsed<'p, 'w>, String> {
        self.check_args_kind(prog, args).map_err(|(_, e)| e)
    }

    /// [`Program::check_args`], saying whether a refusal is for a form the
    /// table does not know or one it denies.
    pub(crate) fn check_args_kind<'p, 'w>(
        &'p self,
        prog: &str,
        args: &'w [Word],
    ) -> Kinded<Parsed<'p, 'w>> {
        let mut positionals: Vec<&'w str> = Vec::new();
        if self.trivial {
            return Ok(Parsed {
                sub: None,
                positionals,
            });
        }
        let has_subs = !self.subcommands.is_empty();
        let mut i = 0;
        let mut done = false;
        while i < args.len() {
            let w = &args[i];
            let a = w.text.as_str();
            i += 1;
            if done || a == "-" || !a.starts_with('-') {
                if self.strict_operands && w.glob_at.is_some() {
                    return denied(Err(format!(
                        "unquoted glob {} as an operand of '{prog}' could expand into several \
                         operands; quote it",
                        quote(a)
                    )));
                }
                positionals.push(a);
                continue;
            }
            if a == "--" {
                done = true;
                continue;
            }
            let undetermined = has_subs && !self.sub_determined(&positionals);
            if a.starts_with("--") {
                let (name, has_value) = match a.find('=') {
                    Some(p) => (&a[..p], true),
                    None => (a, false),
                };
                denied(self.check_long_deny(prog, name))?;
                if let Some(allow) = &self.allow {
                    if !allow.has_long(name) {
                        return denied(Err(format!(
                            "'{prog}' option {} is not in the read-only set",
                            quote(name)
                        )));
                    }
                }
                if self.value.has_long(name) {
                    if !has_value {
                        i += 1;
                    }
                } else if undetermined && !has_value && !self.known.has_long(name) {
                    return Err((
                        Refusal::Unknown,
                        format!(
                            "unknown option {} before the '{prog}' subcommand (it might take a \
                             value and hide the subcommand)",
                            quote(name)
                        ),
                    ));
                }
            } else {
                let body = &a[1..];
                for (k, ch) in body.char_indices() {
                    if let Some((_, reason)) = self.deny_short.iter().find(|(c, _)| *c == ch) {
                        let inside = if body.len() > ch.len_utf8() {
                            format!(" (in {})", quote(a))
                        } else {
                            String::new()
                        };
                        return denied(Err(format!("'{prog} -{ch}' {reason}{inside}")));
                    }
                    if let Some(allow) = &self.allow {
                        if !allow.short.contains(&ch) {
                            return denied(Err(format!(
                                "'{prog}' option {} is not in the read-only set",
                                quote(&format!("-{ch}"))
                            )));
                        }
                    }
                    if self.value.short.contains(&ch) {
                        // The value is the rest of the cluster, or the next word.
                        if k + ch.len_utf8() == body.len() {
                            i += 1;
                        }
                        break;
                    }
                    if undetermined && !self.known.short.contains(&ch) {
                        return Err((
                            Refusal::Unknown,
                            format!(
                                "unknown option {} before the '{prog}' subcommand (it might \
                                 take a value and hide the subcommand)",
                                quote(&format!("-{ch}"))
                            ),
                        ));
                    }
                }
            }
        }
        let noun = format!("{prog} subcommand");
        let sub = self.subcommand_kind(prog, &positionals, &noun)?;
        if let Some(max) = self.max_positionals {
            let skip = sub.map_or(0, |s| s.words.len());
            if let Some(extra) = positionals.get(skip + max) {
                return denied(Err(format!(
                    "'{prog}' takes at most {max} operand(s) in read-only use; {} could be \
                     an output or a setting",
                    quote(extra)
                )));
            }
        }
        if !self.require_one_of.is_empty() && !self.require_one_of.iter().any(|f| has_flag(args, f))
        {
            return denied(Err(format!(
                "'{prog}' is read-only only with one of {}",
                self.require_one_of.join(", ")
            )));
        }
        if let Some(s) = sub {
            for f in &s.require_flags {
                if !has_flag(args, f) {
                    return denied(Err(format!(
                        "'{prog} {}' is read-only only with {f}",
                        s.label
                    )));
                }
            }
        }
        Ok(Parsed { sub, positionals })
    }
}

fn one_line(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.contains(|c: char| c.is_control()) {
        return Err(format!("reason {s:?} must be one non-empty line"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(yaml: &str) -> Program {
        Program::compile(serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    fn args(s: &str) -> Vec<Word> {
        s.split_whitespace()
            .map(|t| Word {
                text: t.into(),
                ..Word::default()
            })
            .collect()
    }

    #[test]
    fn value_flags_hide_the_subcommand() {
        let p = program("subcommands: [get, 'rollout status']\nvalue_flags: [-n]\nflags: [-A]");
        let label = |s: &str| {
            p.check_args("k", &args(s))
                .map(|r| r.sub.map(|s| s.label.clone()))
        };
        assert_eq!(label("-n x get pods").unwrap().as_deref(), Some("get"));
        assert_eq!(label("-nx get").unwrap().as_deref(), Some("get"));
        assert!(label("-n get delete pods")
            .unwrap_err()
            .contains("'k delete'"));
        assert!(label("-q get").unwrap_err().contains("unknown option"));
        assert!(label("--foo get").unwrap_err().contains("unknown option"));
        assert_eq!(label("--foo=1 -A get").unwrap().as_deref(), Some("get"));
        assert_eq!(
            label("rollout -A status x").unwrap().as_deref(),
            Some("rollout status")
        );
        assert!(label("rollout undo")
            .unwrap_err()
            .contains("'k rollout undo'"));
        assert!(label("").unwrap_err().contains("needs a read-only"));
    }

    #[test]
    fn deny_flags_with_abbreviations_and_clusters() {
        let p = program(
            "gnu_abbrev: true\nvalue_flags: [-k, -t, --key]\n\
             deny_flags: {'-o': writes, '--output': writes}",
        );
        let check = |s: &str| p.check_args("sort", &args(s)).map(|_| ());
        assert!(check("-o x in").is_err());
        assert!(check("-uo x in").is_err());
        assert!(check("--output=x in").is_err());
        assert!(check("--outp=x in").is_err());
        assert!(check("--o x").is_err());
        assert!(check("-to in").is_ok(), "-t takes 'o' as its value");
        assert!(check("-k 2 -t , in").is_ok());
        assert!(check("--key=2 in").is_ok());
    }

    #[test]
    fn max_positionals_and_required_flags() {
        let p = program("max_positionals: 1");
        assert!(p.check_args("uniq", &args("a")).is_ok());
        assert!(p.check_args("uniq", &args("a b")).is_err());
        let p = program("allow_flags: [-l, -t]\nrequire_one_of: [-l, -t]");
        assert!(p.check_args("xz", &args("-l f.xz")).is_ok());
        assert!(p.check_args("xz", &args("f.xz")).is_err());
        assert!(p.check_args("xz", &args("-lz f.xz")).is_err());
    }
}
