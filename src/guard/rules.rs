//! The allowlist as data (`allowlist.yaml`), its compiled form, and the
//! table-driven argument check most programs use.

use std::borrow::Cow;
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
    /// Variables from `safe_env` whose value is a colon-separated list of
    /// config files that can make a program run others (`KUBECONFIG`).
    #[serde(default)]
    pub trust_env: Vec<String>,
    /// The shape each `safe_env` value must have (every one needs one).
    #[serde(default)]
    pub env_values: BTreeMap<String, EnvShape>,
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
    /// How the program reads its options (see [`Parser`]).
    #[serde(default)]
    parser: Parser,
    /// Long value flags naming a config file that can make the program run
    /// others (a kubeconfig's exec plugins): the path must be literal and
    /// absolute, and is reported for the runner to check (`trust_files`).
    #[serde(default)]
    trust_flags: Vec<String>,
    /// When present, only these flags are allowed.
    #[serde(default)]
    allow_flags: Option<Vec<String>>,
    /// At most this many operands (after the subcommand).
    #[serde(default)]
    max_positionals: Option<usize>,
    /// At least one of these flags must be present.
    #[serde(default)]
    require_one_of: Vec<String>,
    /// Refused argument values, by how they start (any case, the whole word
    /// or after a flag's `=`), and why: aws reads `file://PATH` into a
    /// parameter and sends it.
    #[serde(default)]
    deny_values: BTreeMap<String, String>,
    /// Arguments are checked by code (see `special.rs`).
    #[serde(default)]
    special: Option<Special>,
    /// Arguments may span lines (program texts, output text): a newline
    /// in them means nothing more. Elsewhere control characters are refused.
    #[serde(default)]
    multiline: bool,
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

/// How a program reads its command line. Short options cluster (`-abc`)
/// in every family; they differ in where a value comes from and in how a
/// long option name is matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Parser {
    /// POSIX getopt: a value-taking short option takes the rest of its
    /// word, else the next word; long options match exactly.
    #[default]
    Getopt,
    /// GNU getopt_long: as getopt, and any unambiguous prefix of a long
    /// option is that option (`--outp` is `--output`).
    Gnu,
    /// Go cobra/pflag: as getopt; `_` and `-` are the same in long names
    /// (kubectl's word-separator normalisation: `--output_directory`).
    Cobra,
    /// Go kingpin: as getopt; an argument `@FILE` is replaced by the
    /// lines of FILE, which cannot be checked.
    Kingpin,
    /// tree: a value-taking short option takes the digits right after it,
    /// else the next word, and the cluster goes on (`-Lo 2 F` is `-L 2
    /// -o F`); a long value option matches any word it starts.
    Tree,
}

/// Where unquoted globs may stand in one command's arguments. The shell
/// can expand a glob into any number of words, so it is safe only where
/// the program reads file names (and, not starting with `-` or a glob
/// character, it can never expand into an option).
#[derive(Debug, Default)]
pub(crate) struct Globs {
    /// Any argument may be a glob (a program with nothing to check).
    pub any: bool,
    /// Indices of glob arguments read as file operands.
    pub ok: Vec<usize>,
}

impl Globs {
    /// `args[i]` is a file operand: a glob may stand there.
    pub(crate) fn accept(&mut self, args: &[Word], i: usize) {
        if args.get(i).is_some_and(|w| w.glob_at.is_some()) {
            self.ok.push(i);
        }
    }

    /// Refuses a glob anywhere it was not accepted.
    pub(crate) fn check(&self, prog: &str, args: &[Word]) -> Result<(), String> {
        if self.any {
            return Ok(());
        }
        for (i, w) in args.iter().enumerate() {
            if w.glob_at.is_some() && !self.ok.contains(&i) {
                return Err(format!(
                    "unquoted glob {} is not a file operand of '{prog}'; the shell could expand \
                     it into other arguments (quote it)",
                    quote(&w.text)
                ));
            }
        }
        Ok(())
    }
}

/// A config file that can make a program run others must be named by a
/// literal absolute path, so the runner can check who may write it.
pub(crate) fn trust_path<'v>(what: &str, v: &'v str) -> Result<&'v str, String> {
    let why = if !v.starts_with('/') {
        "is not an absolute path"
    } else if v.contains(['*', '?', '[']) {
        "has glob characters"
    } else if v.contains('$') {
        "has a '$'"
    } else if v.contains('~') {
        "has a '~'"
    } else if v.split('/').any(|c| c == "..") {
        "has a '..' component"
    } else if matches!(
        v.split('/').find(|c| !c.is_empty() && *c != "."),
        Some("proc" | "dev")
    ) {
        // /dev/stdin, /proc/self/fd/N, /proc/self/cwd/… name different
        // files for the runner's check and for the program that reads it.
        "is under /proc or /dev (it names whatever the reading process has open there)"
    } else if control_char(v).is_some() {
        "has a control character"
    } else {
        return Ok(v);
    };
    Err(format!(
        "{what} path {} {why}: a config that can run programs must be named by a plain \
         absolute path",
        quote(v)
    ))
}

/// What the value of a `safe_env` variable may look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum EnvShape {
    /// A locale name (`C`, `C.UTF-8`, `en_US.UTF-8`, `sr_RS@latin`), never
    /// a path: glibc loads locale data from a name with a `/` in it.
    Locale,
    /// A zone name or POSIX rule (`UTC`, `Europe/Berlin`,
    /// `CET-1CEST,M3.5.0,M10.5.0/3`): no leading `/` or `:` and no `..`,
    /// which would make glibc read a time zone file from anywhere.
    TimeZone,
    /// Up to 9 digits (`COLUMNS`, timeouts).
    Number,
    /// Up to 32 letters and digits (`NO_COLOR=1`).
    Word,
    /// A `trust_env` list of config files, each checked by [`trust_path`].
    TrustPaths,
}

impl EnvShape {
    /// Refuses `value` for `name` unless it has this shape.
    pub(crate) fn check(self, name: &str, value: &str) -> Result<(), String> {
        let b = value.as_bytes();
        let (ok, what) = match self {
            EnvShape::Locale => (
                b.len() <= 64
                    && b.first().is_none_or(u8::is_ascii_alphabetic)
                    && b.iter()
                        .all(|c| c.is_ascii_alphanumeric() || b"_.@-".contains(c)),
                "a locale name (letters, digits, '_', '.', '@', '-'; a '/' would make it a \
                 path to load locale data from)",
            ),
            EnvShape::TimeZone => (
                !b.is_empty()
                    && b.len() <= 64
                    && b[0] != b'/'
                    && b.iter()
                        .all(|c| c.is_ascii_alphanumeric() || b"_+-/,.".contains(c))
                    && !value.split('/').any(|c| c == ".."),
                "a time zone name such as UTC or Europe/Berlin (no leading '/' or ':', no \
                 '..': glibc would read a time zone file from that path)",
            ),
            EnvShape::Number => (
                !b.is_empty() && b.len() <= 9 && b.iter().all(u8::is_ascii_digit),
                "a number",
            ),
            EnvShape::Word => (
                b.len() <= 32 && b.iter().all(u8::is_ascii_alphanumeric),
                "up to 32 letters and digits",
            ),
            // Each entry is checked by `trust_path`; a control character
            // in a path is never needed.
            EnvShape::TrustPaths => (!b.iter().any(|&c| c < 0x20 || c == 0x7f), "a list of paths"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "environment value {} is not {what}",
                quote(&format!("{name}={value}"))
            ))
        }
    }
}

/// The first control character in `text` other than a tab, if any.
fn control_char(text: &str) -> Option<u8> {
    text.bytes()
        .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Refuses a control character (a newline above all; a tab is fine) in
/// any of `args`. A newline is how one argument becomes two lines of a
/// protocol (HTTP headers, line-based servers); only program texts the
/// guard parses itself (awk, sed, SQL) and text a program only prints may
/// span lines.
pub(crate) fn no_controls(prog: &str, args: &[Word]) -> Result<(), String> {
    for w in args {
        no_control(prog, &w.text)?;
    }
    Ok(())
}

/// [`no_controls`] for one argument.
pub(crate) fn no_control(prog: &str, text: &str) -> Result<(), String> {
    match control_char(text) {
        None => Ok(()),
        Some(c) => Err(format!(
            "'{prog}' argument {} contains control character U+{c:04X} (only program texts \
             the guard parses, such as awk, sed and SQL, may span lines)",
            quote(text)
        )),
    }
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
    Nslookup,
    PgIsready,
    Openssl,
    Mysql,
}

impl Special {
    /// The checker refuses control characters itself: everywhere but in
    /// the program text it parses (awk, sed, psql), in every argument
    /// (curl, tabs too), or in its own words (`timeout`: the wrapped
    /// command is checked with its own program).
    pub(crate) fn checks_controls(self) -> bool {
        matches!(
            self,
            Special::Awk | Special::Sed | Special::Psql | Special::Timeout | Special::Curl
        )
    }
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
    parser: Parser,
    /// Long flags naming a config file that can run programs.
    trust: Vec<String>,
    allow: Option<FlagSet>,
    max_positionals: Option<usize>,
    require_one_of: Vec<String>,
    /// Lower-case value prefixes refused, and why.
    deny_values: Vec<(String, String)>,
    pub special: Option<Special>,
    /// Arguments may contain newlines (see [`ProgramSpec`]).
    pub multiline: bool,
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

/// `-x`, displayed only when a reason needs it.
struct ShortFlag(char);

impl std::fmt::Display for ShortFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "-{}", self.0)
    }
}

/// What the table-driven check found.
pub(crate) struct Parsed<'p, 'w> {
    pub sub: Option<&'p Sub>,
    pub positionals: Vec<&'w str>,
    /// Where globs may stand (file operands).
    pub globs: Globs,
    /// Config files named by trust flags (checked by [`trust_path`]).
    pub trust: Vec<&'w str>,
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
    if words.is_empty() || words.len() > 4 {
        return Err(format!("subcommand {path:?} must have one to four words"));
    }
    for w in &words {
        if is_pattern(w) {
            let alternatives = w.strip_prefix('{').and_then(|x| x.strip_suffix('}'));
            let ok = alternatives.unwrap_or(w).split(',').all(|alt| {
                let stem = alt.strip_suffix('*').unwrap_or(alt);
                !stem.is_empty() && !stem.contains(['*', '{', '}', ',']) && !stem.starts_with('-')
            });
            if !ok || (alternatives.is_none() && w.contains(['{', '}', ','])) {
                return Err(format!(
                    "subcommand word {w:?}: a pattern is {{a,b}} and/or a prefix ending in *"
                ));
            }
        }
    }
    Ok(words)
}

/// A table word that is a pattern (see [`Program::word_eq`]).
fn is_pattern(w: &str) -> bool {
    w.contains(['{', '*'])
}

impl Program {
    /// `-x` / `--long` appears among the options of `args` (before `--`),
    /// spelled any way the program accepts.
    fn has_flag(&self, args: &[Word], flag: &str) -> bool {
        for w in args {
            let a = w.text.as_str();
            if a == "--" {
                break;
            }
            if flag.starts_with("--") {
                // No `=value`: `--no-stream=false` must not count as `--no-stream`.
                if a.starts_with("--")
                    && !a.contains('=')
                    && self.canon_long("", a).is_ok_and(|c| c == flag)
                {
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

    /// Every long option name the table knows.
    fn long_names(&self) -> impl Iterator<Item = &str> {
        self.value
            .long
            .iter()
            .chain(&self.known.long)
            .chain(self.allow.iter().flat_map(|a| &a.long))
            .map(String::as_str)
            .chain(self.deny_long.iter().map(|(f, _)| f.as_str()))
    }

    /// The long option `name` (`--x`, without `=value`) as the program
    /// reads it; `Err` when that is a denied flag abbreviated, or could be
    /// several options.
    fn canon_long<'a>(&'a self, prog: &str, name: &'a str) -> Result<Cow<'a, str>, String> {
        match self.parser {
            Parser::Cobra if name.contains('_') => Ok(Cow::Owned(name.replace('_', "-"))),
            Parser::Gnu if name.len() > 2 && !self.long_names().any(|f| f == name) => {
                let mut found: Option<&str> = None;
                let mut several = false;
                for f in self.long_names().filter(|f| f.starts_with(name)) {
                    if let Some((flag, reason)) = self.deny_long.iter().find(|(d, _)| d == f) {
                        return Err(format!(
                            "'{prog}' option {} abbreviates {flag}, which {reason}",
                            quote(name)
                        ));
                    }
                    several |= found.is_some_and(|g| g != f);
                    found = Some(f);
                }
                match found {
                    Some(_) if several => Err(format!(
                        "'{prog}' option {} is an ambiguous abbreviation; write it in full",
                        quote(name)
                    )),
                    Some(f) => Ok(Cow::Borrowed(f)),
                    None => Ok(Cow::Borrowed(name)),
                }
            }
            // tree compares only the start of the word with a long value option.
            Parser::Tree => Ok(Cow::Borrowed(
                self.value
                    .long
                    .iter()
                    .find(|v| name.starts_with(v.as_str()))
                    .map_or(name, String::as_str),
            )),
            _ => Ok(Cow::Borrowed(name)),
        }
    }

    /// Refuses a denied long flag; `raw` is how it was written, `name` how
    /// the program reads it.
    fn check_long_deny(&self, prog: &str, raw: &str, name: &str) -> Result<(), String> {
        for (flag, reason) in &self.deny_long {
            if flag == name {
                return Err(if raw == name {
                    format!("'{prog} {flag}' {reason}")
                } else {
                    format!("'{prog}' option {} is {flag}, which {reason}", quote(raw))
                });
            }
        }
        Ok(())
    }

    /// Refuses an argument the parser itself would replace (kingpin's `@FILE`).
    fn check_parser_word(&self, prog: &str, a: &str) -> Result<(), String> {
        if self.parser == Parser::Kingpin && a.starts_with('@') {
            return Err(format!(
                "'{prog}' replaces the argument {} with the contents of that file, which \
                 cannot be checked",
                quote(a)
            ));
        }
        Ok(())
    }

    /// The config files named by trust flags in `args`, wherever they
    /// stand (as [`Program::deny_flag_word`], a word the table reads as a
    /// value may be a flag to the program).
    pub(crate) fn trust_scan<'w>(
        &self,
        prog: &str,
        args: &'w [Word],
    ) -> Result<Vec<&'w str>, String> {
        let mut out = Vec::new();
        if self.trust.is_empty() {
            return Ok(out);
        }
        for (i, w) in args.iter().enumerate() {
            let a = w.text.as_str();
            if !a.starts_with("--") || a == "--" {
                continue;
            }
            let (raw, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            let name = self.canon_long(prog, raw)?;
            if !self.trust.iter().any(|t| *t == name) {
                continue;
            }
            // The next word is checked as a path and still looked at as a flag.
            let Some(v) = value.or_else(|| args.get(i + 1).map(|n| n.text.as_str())) else {
                continue;
            };
            out.push(trust_path(&format!("'{prog} {name}'"), v)?);
        }
        Ok(out)
    }

    pub(crate) fn compile(spec: ProgramSpec) -> Result<Program, String> {
        let mut p = Program {
            subcommand_optional: spec.subcommand_optional,
            case_insensitive: spec.case_insensitive,
            parser: spec.parser,
            max_positionals: spec.max_positionals,
            special: spec.special,
            multiline: spec.multiline,
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
        for f in spec.trust_flags {
            if !matches!(parse_flag(&f)?, Flag::Long(_)) || !p.value.has_long(&f) {
                return Err(format!(
                    "trust flag {f:?} must be a long flag in value_flags"
                ));
            }
            p.trust.push(f);
        }
        p.require_one_of = spec.require_one_of;
        for (prefix, reason) in spec.deny_values {
            p.deny_values
                .push((prefix.to_ascii_lowercase(), one_line(&reason)?));
        }
        if p.subcommand_optional && p.subcommands.is_empty() {
            return Err("subcommand_optional without subcommands".into());
        }
        p.trivial = p.subcommands.is_empty()
            && p.deny_long.is_empty()
            && p.deny_short.is_empty()
            && p.allow.is_none()
            && p.max_positionals.is_none()
            && p.require_one_of.is_empty()
            && p.trust.is_empty()
            && p.deny_values.is_empty()
            && p.parser != Parser::Kingpin;
        p.strict_operands = !p.subcommands.is_empty()
            || p.allow.is_some()
            || p.max_positionals.is_some()
            || !p.require_one_of.is_empty();
        Ok(p)
    }

    /// Whether operand `b` is the table's word `a`. A table word may be a
    /// pattern: `{ec2,eks}` (any of these) and `describe-*` (this prefix and
    /// more), combined as `{describe-*,list-*}`. Patterns name what the table
    /// allows; they never match a word starting with `-`.
    pub(crate) fn word_eq(&self, a: &str, b: &str) -> bool {
        let eq = |x: &str, y: &str| {
            if self.case_insensitive {
                x.eq_ignore_ascii_case(y)
            } else {
                x == y
            }
        };
        if !is_pattern(a) {
            return eq(a, b);
        }
        if b.starts_with('-') {
            return false;
        }
        let alternatives = a
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(a);
        alternatives
            .split(',')
            .any(|alt| match alt.strip_suffix('*') {
                Some(prefix) => {
                    b.len() > prefix.len()
                        && b.is_char_boundary(prefix.len())
                        && eq(prefix, &b[..prefix.len()])
                }
                None => eq(alt, b),
            })
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

    /// Every subcommand path the table names: the read-only ones (`None`)
    /// and the denied ones with their reason. Standing rules may neither
    /// abbreviate a denied path nor join a group the table already lists.
    pub(crate) fn table_paths(&self) -> impl Iterator<Item = (&[String], Option<&str>)> {
        let listed = self.subcommands.iter().map(|s| (s.words.as_slice(), None));
        let denied = self
            .deny_subcommands
            .iter()
            .map(|(w, why)| (w.as_slice(), Some(why.as_str())));
        listed.chain(denied)
    }

    /// Everything the table denies, wherever it stands in `args`: a denied
    /// flag (abbreviated, or inside a cluster of short flags), or the words
    /// of a denied subcommand in order among the operands, gaps allowed
    /// (an unknown option's value could hide the words between). Stricter
    /// than [`Program::check_args`], which stops at the first problem.
    pub(crate) fn deny_scan(&self, prog: &str, args: &[&str]) -> Result<(), String> {
        let mut operands: Vec<&str> = Vec::with_capacity(args.len());
        for &a in args {
            self.check_parser_word(prog, a)?;
            if a != "--" && (a.len() < 2 || !a.starts_with('-')) {
                operands.push(a);
            }
            self.deny_flag_word(prog, a)?;
            self.deny_value_word(prog, a)?;
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

    /// Refuses `a` if a denied value prefix starts it, or starts any part
    /// of it after a separator, a quote or a bracket: a flag's
    /// `--x=file://…`, and the list, key=value and JSON-ish forms programs
    /// read inside one word (`Key@=file://…`, `Key@= 'file://…'`,
    /// `[file://…]`, `a, file://…`).
    fn deny_value_word(&self, prog: &str, a: &str) -> Result<(), String> {
        let starts = std::iter::once(0).chain(
            a.char_indices()
                .filter(|(_, c)| {
                    matches!(c, '=' | ',' | '[' | '{' | '(' | '\'' | '"') || c.is_whitespace()
                })
                .map(|(i, c)| i + c.len_utf8()),
        );
        for at in starts {
            let part = &a[at..];
            for (prefix, reason) in &self.deny_values {
                if part.len() >= prefix.len()
                    && part.is_char_boundary(prefix.len())
                    && part[..prefix.len()].eq_ignore_ascii_case(prefix)
                {
                    return Err(format!("'{prog}' argument {} {reason}", quote(a)));
                }
            }
        }
        Ok(())
    }

    /// Refuses `a` if it reads as a denied flag (or a cluster with one).
    /// Applied to every word, values and words after `--` too: which words
    /// are values depends on the subcommand (kubectl's `-f` is `--follow`
    /// for `logs`), and an unknown flag may take `--` as its value.
    fn deny_flag_word(&self, prog: &str, a: &str) -> Result<(), String> {
        if a == "--" || a.len() < 2 || !a.starts_with('-') {
            return Ok(());
        }
        if a.starts_with("--") {
            let raw = a.split_once('=').map_or(a, |(n, _)| n);
            return self.check_long_deny(prog, raw, &self.canon_long(prog, raw)?);
        }
        let body = &a[1..];
        for ch in body.chars() {
            if let Some((_, reason)) = self.deny_short.iter().find(|(c, _)| *c == ch) {
                let inside = if body.len() > ch.len_utf8() {
                    format!(" (in {})", quote(a))
                } else {
                    String::new()
                };
                return Err(format!("'{prog} -{ch}' {reason}{inside}"));
            }
            // tree goes on reading the cluster after a value option.
            if self.value.short.contains(&ch) && self.parser != Parser::Tree {
                break;
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
        // A denied path at least as long as the allowed one wins: a pattern
        // (`{ec2,sts} get-*`) allows a family, the table names its exceptions.
        let denied_path = self
            .deny_subcommands
            .iter()
            .find(|(words, _)| self.path_matches(words, pos));
        if let (Some((words, reason)), Some(s)) = (denied_path, best) {
            if words.len() >= s.words.len() {
                return Err((
                    Refusal::Denied,
                    format!(
                        "{} {reason}",
                        quote(&format!("{prog} {}", pos[..words.len()].join(" ")))
                    ),
                ));
            }
        }
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
        let mut globs = Globs::default();
        if self.trivial {
            globs.any = true;
            return Ok(Parsed {
                sub: None,
                positionals,
                globs,
                trust: Vec::new(),
            });
        }
        // Denied flags and values first, wherever they stand.
        for w in args {
            denied(self.check_parser_word(prog, &w.text))?;
            denied(self.deny_flag_word(prog, &w.text))?;
            denied(self.deny_value_word(prog, &w.text))?;
        }
        // The value of a flag in the next word: a glob there could expand
        // into other arguments (`-n de*` into `-n default delete`).
        let next_value = |i: &mut usize, flag: &dyn std::fmt::Display| -> Kinded<Option<&'w str>> {
            let v = args.get(*i);
            *i += 1;
            match v {
                Some(v) if v.glob_at.is_some() => denied(Err(format!(
                    "unquoted glob {} as the value of '{prog} {flag}' could expand into other \
                     arguments; quote it",
                    quote(&v.text)
                ))),
                v => Ok(v.map(|v| v.text.as_str())),
            }
        };
        let has_subs = !self.subcommands.is_empty();
        let mut i = 0;
        let mut done = false;
        while i < args.len() {
            let w = &args[i];
            let a = w.text.as_str();
            i += 1;
            if done || a == "-" || !a.starts_with('-') {
                if w.glob_at.is_some() {
                    if self.strict_operands {
                        return denied(Err(format!(
                            "unquoted glob {} as an operand of '{prog}' could expand into \
                             several operands; quote it",
                            quote(a)
                        )));
                    }
                    globs.accept(args, i - 1);
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
                let (raw, value) = match a.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (a, None),
                };
                let name = denied(self.canon_long(prog, raw))?;
                let name = name.as_ref();
                if let Some(allow) = &self.allow {
                    if !allow.has_long(name) {
                        return denied(Err(format!(
                            "'{prog}' option {} is not in the read-only set",
                            quote(raw)
                        )));
                    }
                }
                let has_value = value.is_some();
                if self.value.has_long(name) {
                    if value.is_none() {
                        next_value(&mut i, &name)?;
                    }
                } else if undetermined && !has_value && !self.known.has_long(name) {
                    return Err((
                        Refusal::Unknown,
                        format!(
                            "unknown option {} before the '{prog}' subcommand (it might take a \
                             value and hide the subcommand)",
                            quote(raw)
                        ),
                    ));
                }
            } else {
                let body = &a[1..];
                // Bytes of the cluster already taken as a value (tree's `-L2`).
                let mut taken = 0;
                for (k, ch) in body.char_indices() {
                    if k < taken {
                        continue;
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
                        let rest = &body[k + ch.len_utf8()..];
                        let flag = ShortFlag(ch);
                        if self.parser == Parser::Tree {
                            // tree takes the digits right after it, else the
                            // next word, and reads on in the cluster.
                            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                            if digits > 0 {
                                taken = k + ch.len_utf8() + digits;
                            } else {
                                next_value(&mut i, &flag)?;
                            }
                            continue;
                        }
                        // The value is the rest of the cluster, or the next word.
                        if rest.is_empty() {
                            next_value(&mut i, &flag)?;
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
        let trust = denied(self.trust_scan(prog, args))?;
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
        if !self.require_one_of.is_empty()
            && !self.require_one_of.iter().any(|f| self.has_flag(args, f))
        {
            return denied(Err(format!(
                "'{prog}' is read-only only with one of {}",
                self.require_one_of.join(", ")
            )));
        }
        if let Some(s) = sub {
            for f in &s.require_flags {
                if !self.has_flag(args, f) {
                    return denied(Err(format!(
                        "'{prog} {}' is read-only only with {f}",
                        s.label
                    )));
                }
            }
        }
        Ok(Parsed {
            sub,
            positionals,
            globs,
            trust,
        })
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
            "parser: gnu\nvalue_flags: [-k, -t, --key]\n\
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
    fn cobra_reads_underscores_as_dashes() {
        let p = program(
            "parser: cobra\nsubcommands: [get]\nvalue_flags: [--kubeconfig, -n]\n\
             flags: [--insecure-skip-tls-verify]\ndeny_flags: {'--output-directory': writes}",
        );
        let check = |s: &str| p.check_args("k", &args(s)).map(|_| ());
        assert!(check("get --output_directory=/x")
            .unwrap_err()
            .contains("'--output_directory' is --output-directory"));
        assert!(check("--output_directory /x get").is_err());
        assert!(check("--insecure_skip_tls_verify get pods").is_ok());
        assert!(check("-n=x get pods").is_ok());
        assert!(p.deny_scan("k", &["--output_directory=/x"]).is_err());
    }

    #[test]
    fn gnu_long_options_are_resolved_like_getopt_long() {
        let p = program(
            "parser: gnu\nallow_flags: [-l, --list, --long, --test]\n\
             require_one_of: [-l, --list, --test]",
        );
        let check = |s: &str| p.check_args("xz", &args(s)).map(|_| ());
        assert!(check("--li f").is_ok(), "--li is --list");
        assert!(check("--te f").is_ok());
        assert!(check("--l f").unwrap_err().contains("ambiguous"));
        assert!(check("--lo f").unwrap_err().contains("read-only only with"));
    }

    #[test]
    fn kingpin_argument_files_are_refused() {
        let p = program("parser: kingpin\nsubcommands: [alert query]");
        assert!(p
            .check_args("amtool", &args("alert query @/tmp/a"))
            .map(|_| ())
            .unwrap_err()
            .contains("contents of that file"));
        assert!(p.deny_scan("amtool", &["@/tmp/a"]).is_err());
        assert!(p.check_args("amtool", &args("alert query x")).is_ok());
    }

    #[test]
    fn tree_values_come_from_the_next_words() {
        let p = program(
            "parser: tree\nvalue_flags: [-L, -P, --charset]\n\
             deny_flags: {'-o': writes, '-R': writes}",
        );
        let check = |s: &str| p.check_args("tree", &args(s)).map(|_| ());
        assert!(check("-L 2 /etc").is_ok());
        assert!(check("-L2 -a /etc").is_ok());
        assert!(check("-Lo 2 out").unwrap_err().contains("'tree -o'"));
        assert!(check("-L2o out /etc").unwrap_err().contains("'tree -o'"));
        assert!(check("-PLo x 2 out").unwrap_err().contains("'tree -o'"));
        assert!(
            check("-L 1 --charsetx /etc").is_ok(),
            "--charset… takes '/etc'"
        );
        // A denied flag is refused even where it would be a value.
        assert!(check("-L -o /etc").is_err());
        assert!(p.deny_scan("tree", &["-Lo", "2", "out"]).is_err());
    }

    #[test]
    fn denied_flags_are_refused_wherever_they_stand() {
        // kubectl's -f is --filename for get but --follow for logs.
        let p = program(
            "parser: cobra\nsubcommands: [get, logs]\nvalue_flags: [-f, -s, --server]\n\
             deny_flags: {'-s': leaks, '--server': leaks}",
        );
        let check = |s: &str| p.check_args("k", &args(s)).map(|_| ());
        assert!(check("logs -f --server=x pod").is_err());
        assert!(check("logs -f -s x pod").is_err());
        assert!(check("get --raw -- --server=x").is_err());
        assert!(check("get -f manifest.yaml").is_ok());
    }

    #[test]
    fn a_glob_in_a_value_is_refused() {
        let p = program("subcommands: [get]\nvalue_flags: [-n, --context]");
        let glob = |s: &str| {
            let mut a = args(s);
            for w in &mut a {
                w.glob_at = w.text.find('*');
            }
            p.check_args("k", &a).map(|_| ())
        };
        assert!(glob("-n de* get x")
            .unwrap_err()
            .contains("value of 'k -n'"));
        assert!(glob("--context p* get x").is_err());
        assert!(glob("get x -n de*").is_err());
        assert!(glob("get pod*").is_err());
    }

    #[test]
    fn trust_flags_need_a_literal_absolute_path() {
        let p = program("parser: cobra\nvalue_flags: [--kubeconfig]\ntrust_flags: [--kubeconfig]");
        let trust = |s: &str| {
            let a = args(s);
            p.check_args("k", &a)
                .map(|r| r.trust.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(trust("--kubeconfig /etc/k x").unwrap(), ["/etc/k"]);
        assert_eq!(trust("--kubeconfig=/etc/k x").unwrap(), ["/etc/k"]);
        assert!(trust("--kubeconfig k").unwrap_err().contains("absolute"));
        assert!(trust("--kubeconfig /a/../k").unwrap_err().contains("'..'"));
        assert!(trust("--kubeconfig /a/$k").unwrap_err().contains("'$'"));
        assert_eq!(
            p.trust_scan("k", &args("x --kubeconfig /a y -- --kubeconfig /b"))
                .unwrap(),
            ["/a", "/b"]
        );
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

    #[test]
    fn patterns_allow_a_family_and_the_table_names_its_exceptions() {
        let p = program(
            "subcommands: [\"{ec2,sts} {describe-*,get-*}\", \"{a,b} {x,y} {z} list\"]\n\
             deny_subcommands: {sts get-session-token: returns credentials}",
        );
        let check = |s: &str| {
            p.check_args("aws", &args(s))
                .map(|r| r.sub.map(|s| s.words.len()))
        };
        assert_eq!(check("ec2 describe-instances --region x"), Ok(Some(2)));
        assert_eq!(check("sts get-caller-identity"), Ok(Some(2)));
        assert_eq!(check("b y z list"), Ok(Some(4)));
        // A prefix needs more than itself; a pattern never matches a flag.
        assert!(check("ec2 describe-").is_err());
        assert!(check("ec2 terminate-instances").is_err());
        assert!(check("s3 describe-x").is_err());
        assert!(check("b y delete list").is_err());
        let denied = check("sts get-session-token").unwrap_err();
        assert_eq!(denied, "'aws sts get-session-token' returns credentials");
        // Malformed patterns are refused when the table loads.
        for bad in ["\"{a,}\"", "\"*\"", "\"a{b}\"", "\"{-a}\"", "\"a b c d e\""] {
            let spec = serde_yaml::from_str(&format!("subcommands: [{bad}]")).unwrap();
            assert!(Program::compile(spec).is_err(), "{bad}");
        }
    }

    #[test]
    fn denied_values_are_refused_wherever_they_stand() {
        let p = program("deny_values: {\"file://\": reads a local file}");
        assert!(p
            .check_args("aws", &args("--x FILE:///etc/shadow"))
            .is_err());
        assert!(p.check_args("aws", &args("--x=file://a")).is_err());
        assert!(p.check_args("aws", &args("--x a-file://b")).is_ok());
    }
}
