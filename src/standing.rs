//! Standing rules (SPEC §7): an engineer allows a read-only form the guard
//! does not know (`vault status -format=json`, `mycorp-cli inspect cluster
//! X`), with a constraint per argument, a use limit, an expiry, and
//! revocation.
//!
//! A rule matches a *simple command* whose program (bare, or named from a
//! system program directory) is the rule's program and whose arguments are
//! exactly as many as the rule's constraints, each one satisfying its own:
//!
//! - `Exact(s)`: the argument is `s` (after the shell's quote removal);
//! - `Pattern(re)`: the regular expression matches the *whole* argument;
//! - `Any`: any one argument that does not start with `-`, so a wildcard
//!   slot can never smuggle in an option (write options exactly, or as a
//!   pattern, to allow them).
//!
//! A rule only ever allows a simple command the allowlist does not know; it
//! never allows the structure of a line (substitutions, redirections to
//! files, background jobs, assignments, globs) nor anything the guard
//! refuses for cause (see `guard::extend`). Wrappers are not looked through:
//! a rule for `mytool` does not allow `timeout 5 mytool x`.
//!
//! Whether a rule may exist is decided by what its program *is*, not only
//! by its name: the name is resolved as the runner's shell will resolve it
//! (`resolve`: symlinks, copies, `#!` interpreters, kubectl plugins), and
//! the guard judges every file it could run. This is checked when a rule is
//! added and again each time it would allow a command ([`check`]), since
//! the file behind a name can change.
//!
//! Rules live in `<state dir>/rules.json`, written atomically under a lock.
//! Every function here returns strings or values and prints nothing: the
//! CLI decides what to show.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::guard::standing_rule::{escaped, shown};
pub use crate::guard::standing_rule::{parse_arg_rule, ArgRule, RuleState, StandingRule};
use crate::guard::{self, Decision};

mod resolve;

pub use resolve::Resolver;

/// The rules file, in the state directory.
pub const RULES_FILE: &str = "rules.json";
const LOCK_FILE: &str = "rules.json.lock";
const FORMAT_VERSION: u32 = 1;
/// A bigger rules file is refused (it is hand-sized: tens of rules).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
const MAX_REASON_LEN: usize = 500;
const MAX_CREATED_BY_LEN: usize = 64;
/// The longest expiry `parse_expiry` accepts: a standing rule is not forever.
pub const MAX_EXPIRY_SECS: u64 = 365 * 86_400;
/// The rules file as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: u32,
    rules: Vec<StandingRule>,
}

/// The rules of one state directory, in `<state_dir>/rules.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStore {
    path: PathBuf,
    /// How rule programs are looked up; `None` is this process's `PATH` at
    /// the time of the lookup (what the runner's shell inherits).
    resolver: Option<Resolver>,
}

impl RuleStore {
    /// The store in `state_dir` (created on the first write).
    pub fn new(state_dir: impl AsRef<Path>) -> RuleStore {
        RuleStore {
            path: state_dir.as_ref().join(RULES_FILE),
            resolver: None,
        }
    }

    /// The same store, looking rule programs up with `resolver` instead of
    /// this process's `PATH`.
    pub fn with_resolver(mut self, resolver: Resolver) -> RuleStore {
        self.resolver = Some(resolver);
        self
    }

    fn resolver(&self) -> Resolver {
        self.resolver.clone().unwrap_or_else(Resolver::from_env)
    }

    /// May a rule for `program args` exist here: admissible to the guard by
    /// its name and by every file it could run on this machine?
    pub fn admissible(&self, program: &str, args: &[ArgRule]) -> Result<(), String> {
        guard::rule_admissible(program, args)?;
        let identities = self.resolver().rule_identities(program, args);
        guard::rule_admissible_as(program, args, &identities)
    }

    /// The store in stepguard's state directory (`$STEPGUARD_STATE_DIR`,
    /// default `$XDG_STATE_HOME/stepguard`).
    pub fn default_store() -> Result<RuleStore, String> {
        crate::paths::state_dir()
            .map(RuleStore::new)
            .ok_or_else(|| {
                "no state directory: set STEPGUARD_STATE_DIR, XDG_STATE_HOME or HOME".to_owned()
            })
    }

    /// `<state_dir>/rules.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Every rule, in the order they were added. No file is no rules; a
    /// file that does not parse is an error (not an empty list).
    pub fn load(&self) -> Result<Vec<StandingRule>, String> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "{}: larger than {MAX_FILE_BYTES} bytes",
                self.path.display()
            ));
        }
        let parsed: RulesFile =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", self.path.display()))?;
        if parsed.version != FORMAT_VERSION {
            return Err(format!(
                "{}: format version {} (this stepguard reads {FORMAT_VERSION})",
                self.path.display(),
                parsed.version
            ));
        }
        for (i, r) in parsed.rules.iter().enumerate() {
            if !valid_id(&r.id) {
                return Err(format!(
                    "{}: rule {} has an id that is not 8 lowercase hex digits",
                    self.path.display(),
                    i + 1
                ));
            }
            if parsed.rules[..i].iter().any(|o| o.id == r.id) {
                return Err(format!(
                    "{}: rule id {} appears twice",
                    self.path.display(),
                    r.id
                ));
            }
        }
        Ok(parsed.rules)
    }

    /// Every rule (same as [`RuleStore::load`]).
    pub fn list(&self) -> Result<Vec<StandingRule>, String> {
        self.load()
    }

    /// The rules that may allow a command at `now`.
    pub fn active(&self, now: u64) -> Result<Vec<StandingRule>, String> {
        let mut rules = self.load()?;
        rules.retain(|r| r.is_active(now));
        Ok(rules)
    }

    /// Stores a rule built elsewhere (the CLI's path is [`add`], which also
    /// checks the reason, limits and duplicates). Its id must be new, and
    /// the guard must admit its form.
    pub fn add(&self, rule: StandingRule) -> Result<(), String> {
        if !valid_id(&rule.id) {
            return Err(format!(
                "rule id {} is not 8 lowercase hex digits",
                shown(&rule.id)
            ));
        }
        self.admissible(&rule.program, &rule.args)?;
        self.update(|rules| {
            if rules.iter().any(|r| r.id == rule.id) {
                return Err(format!("a rule with id {} already exists", rule.id));
            }
            rules.push(rule);
            Ok(())
        })
    }

    /// Revokes rule `id` at `now`; a revoked rule stays listed.
    pub fn revoke(&self, id: &str, now: u64) -> Result<StandingRule, String> {
        self.update(|rules| {
            let rule = find(rules, id)?;
            if let Some(at) = rule.revoked_at {
                return Err(format!("standing rule {id} was already revoked (at {at})"));
            }
            rule.revoked_at = Some(now);
            Ok(rule.clone())
        })
    }

    /// Takes every use a decision lists (`Decision::rule_uses`), all or
    /// nothing: if any rule cannot give all the uses asked of it at `now`,
    /// nothing is recorded.
    pub fn record_uses(&self, ids: &[String], now: u64) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut wanted: Vec<(&str, u32)> = Vec::new();
        for id in ids {
            match wanted.iter_mut().find(|(w, _)| *w == id.as_str()) {
                Some((_, n)) => *n += 1,
                None => wanted.push((id, 1)),
            }
        }
        self.update(|rules| {
            for (id, n) in &wanted {
                let rule = find(rules, id)?;
                let state = rule.state(now);
                if state != RuleState::Active {
                    return Err(format!("standing rule {id} is {state}"));
                }
                if let Some(max) = rule.max_uses {
                    if u64::from(rule.uses) + u64::from(*n) > u64::from(max) {
                        return Err(format!(
                            "standing rule {id} has {} left, {n} asked",
                            crate::words::count(max - rule.uses, "use", "uses")
                        ));
                    }
                }
            }
            for (id, n) in &wanted {
                let rule = find(rules, id)?;
                rule.uses = rule.uses.saturating_add(*n);
            }
            Ok(())
        })
    }

    /// Load, change, write back, under the store's lock.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<StandingRule>) -> Result<T, String>,
    ) -> Result<T, String> {
        let _lock = self.lock()?;
        let mut rules = self.load()?;
        let out = change(&mut rules)?;
        self.save(&rules)?;
        Ok(out)
    }

    fn create_dir(&self) -> Result<(), String> {
        crate::paths::create_private_dir(self.dir())
            .map_err(|e| format!("{}: {e}", self.dir().display()))
    }

    /// An exclusive `flock` on a lock file beside the rules, held until the
    /// returned file is dropped: two sessions taking uses of the same rule
    /// do not lose one.
    fn lock(&self) -> Result<File, String> {
        use std::os::fd::AsRawFd;
        self.create_dir()?;
        let path = self.dir().join(LOCK_FILE);
        // Owner-only, like the rules (an older lock file is tightened).
        let file = crate::paths::open_private_file(
            &path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is shared.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(file);
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != ErrorKind::Interrupted {
                return Err(format!("{}: {err}", path.display()));
            }
        }
    }

    /// A temporary file in the same directory, synced, then renamed over
    /// the rules file: a reader sees the old rules or the new ones.
    fn save(&self, rules: &[StandingRule]) -> Result<(), String> {
        self.create_dir()?;
        let dir = self.dir();
        let file = RulesFile {
            version: FORMAT_VERSION,
            rules: rules.to_vec(),
        };
        let mut json = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        json.push('\n');
        let io = |e: std::io::Error| format!("{}: {e}", self.path.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".rules.json.")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(json.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        // The rename is durable once the directory is synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn find<'a>(rules: &'a mut [StandingRule], id: &str) -> Result<&'a mut StandingRule, String> {
    rules
        .iter_mut()
        .find(|r| r.id == id)
        .ok_or_else(|| format!("no standing rule {}", shown(id)))
}

/// 8 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The current time in Unix seconds.
pub fn now() -> u64 {
    crate::clock::now_secs()
}

/// A fresh id: 32 bits of a hash over the time, the process, a counter and
/// the process's random hasher keys.
fn new_id(rule: &StandingRule) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    let nanos = crate::clock::now_nanos();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let mut rs = std::collections::hash_map::RandomState::new().build_hasher();
    rs.write_u64(rule.created_at);
    h.update(rs.finish().to_le_bytes());
    h.update(rule.form().as_bytes());
    crate::digest::hex(&h.finalize()[..4])
}

/// `30m`, `2h`, `7d` from `now`: the Unix second the rule expires. At
/// least one minute, at most [`MAX_EXPIRY_SECS`].
pub fn parse_expiry(s: &str, now: u64) -> Result<u64, String> {
    let bad = || format!("expiry {} is not a duration like 30m, 2h or 7d", shown(s));
    let t = s.trim();
    let Some(unit) = t.chars().last() else {
        return Err(bad());
    };
    let per = match unit {
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let digits = &t[..t.len() - 1];
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("expiry {} is zero", shown(s)));
    }
    let secs = n * per;
    if secs > MAX_EXPIRY_SECS {
        return Err(format!(
            "expiry {} is longer than {} days",
            shown(s),
            MAX_EXPIRY_SECS / 86_400
        ));
    }
    now.checked_add(secs).ok_or_else(bad)
}

fn one_line_text(what: &str, s: &str, max: usize) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("a {what} is required"));
    }
    if t.chars().any(|c| c.is_control()) {
        return Err(format!(
            "the {what} must be one line without control characters"
        ));
    }
    if t.chars().count() > max {
        return Err(format!("the {what} is at most {max} characters"));
    }
    Ok(t.to_owned())
}

/// Adds a standing rule for `program args…` (each argument in
/// [`parse_arg_rule`]'s syntax) and returns it. Refused: a program the
/// guard refuses (shells, interpreters, `xargs`, `sudo`, `rm`, …), under
/// any name (`rbash`, `vim.basic`) or through whatever it resolves to (a
/// link or copy of one, a script for one), a
/// subcommand or flag the allowlist denies (`kubectl delete`, `redis-cli
/// FLUSHALL`), a program the guard checks in code (`psql`, `curl`, `env`,
/// `timeout`, …), a form already allowed, an empty reason, `max_uses` 0,
/// and a form an active rule already allows.
#[allow(clippy::too_many_arguments)] // the CLI's flags, one each
pub fn add(
    store: &RuleStore,
    program: &str,
    args: &[String],
    max_uses: Option<u32>,
    expires: Option<&str>,
    reason: &str,
    created_by: &str,
    now: u64,
) -> Result<StandingRule, String> {
    let reason = one_line_text("reason", reason, MAX_REASON_LEN)?;
    let created_by = one_line_text("creator name", created_by, MAX_CREATED_BY_LEN)?;
    let mut rules = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        rules.push(parse_arg_rule(a).map_err(|e| format!("argument {}: {e}", i + 1))?);
    }
    if max_uses == Some(0) {
        return Err("max uses must be at least 1".into());
    }
    let expires_at = expires.map(|e| parse_expiry(e, now)).transpose()?;
    store.admissible(program, &rules)?;
    let mut rule = StandingRule {
        id: String::new(),
        program: program.to_owned(),
        args: rules,
        max_uses,
        uses: 0,
        created_at: now,
        expires_at,
        revoked_at: None,
        reason,
        created_by,
    };
    store.update(|existing| {
        if let Some(dup) = existing
            .iter()
            .find(|r| r.is_active(now) && r.program == rule.program && r.args == rule.args)
        {
            return Err(format!(
                "standing rule {} already allows {} (revoke it first to change it)",
                dup.id,
                dup.form()
            ));
        }
        loop {
            let id = new_id(&rule);
            if !existing.iter().any(|r| r.id == id) {
                rule.id = id;
                break;
            }
        }
        existing.push(rule.clone());
        Ok(rule)
    })
}

/// Revokes rule `id` (8 lowercase hex digits) at `now`.
pub fn revoke(store: &RuleStore, id: &str, now: u64) -> Result<StandingRule, String> {
    let id = id.trim();
    if !valid_id(id) {
        return Err(format!(
            "{} is not a rule id (8 lowercase hex digits, see 'stepguard rules list')",
            shown(id)
        ));
    }
    store.revoke(id, now)
}

/// [`guard::check_with_rules`] with the store's active rules, each judged
/// again, when it would allow a command, by what the command's program
/// resolves to now (the file behind a name can change after the rule was
/// added). If the rules cannot be loaded none apply (fail closed), and a
/// refusal says so.
pub fn check(store: &RuleStore, command: &str, now: u64) -> Decision {
    match store.active(now) {
        Ok(rules) => {
            let resolver = store.resolver();
            let vet = |rule: &StandingRule, word: &str| {
                let identities = resolver.command_identities(word, &rule.program, &rule.args);
                guard::rule_admissible_as(&rule.program, &rule.args, &identities)
            };
            guard::check_with_rules_vetted(command, &rules, now, &vet)
        }
        Err(e) => {
            let mut d = guard::check(command);
            if !d.allowed {
                d.reason = format!("{} (standing rules not loaded: {})", d.reason, escaped(&e));
            }
            d
        }
    }
}

/// The store's active rules for cards to be judged with (none when the
/// file cannot be read: the runner reports why when it matters).
pub fn active_rules(store: &RuleStore, now: u64) -> std::sync::Arc<[StandingRule]> {
    store.active(now).unwrap_or_default().into()
}

/// `45s`, `12m`, `3h05m`, `6d23h`.
fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3_599 => format!("{}m", secs / 60),
        3_600..=86_399 => format!("{}h{:02}m", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

/// The rules as a table: id, state, uses (of the maximum), when it expires,
/// the form, the reason.
pub fn list_text(rules: &[StandingRule], now: u64) -> String {
    if rules.is_empty() {
        return "no standing rules\n".into();
    }
    let header = ["ID", "STATE", "USES", "EXPIRES", "RULE", "REASON"].map(String::from);
    let mut rows = vec![header];
    for r in rules {
        let uses = match r.max_uses {
            Some(m) => format!("{}/{m}", r.uses),
            None => r.uses.to_string(),
        };
        let expires = match r.expires_at {
            None => "never".to_owned(),
            Some(t) if t > now => format!("in {}", duration(t - now)),
            Some(t) => format!("{} ago", duration(now - t)),
        };
        let mut reason = escaped(&r.reason);
        if reason.chars().count() > 60 {
            reason = reason.chars().take(59).collect::<String>() + "…";
        }
        rows.push([
            escaped(&r.id),
            r.state(now).to_string(),
            uses,
            expires,
            escaped(&r.form()),
            reason,
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (k, cell) in row.iter().enumerate() {
            if k + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[k] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The rules as JSON: each rule's fields and its `state` at `now`.
pub fn list_json(rules: &[StandingRule], now: u64) -> String {
    #[derive(Serialize)]
    struct Listed<'a> {
        #[serde(flatten)]
        rule: &'a StandingRule,
        state: RuleState,
    }
    let listed: Vec<Listed<'_>> = rules
        .iter()
        .map(|rule| Listed {
            rule,
            state: rule.state(now),
        })
        .collect();
    serde_json::to_string_pretty(&listed).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arg_rules_parse() {
        assert_eq!(parse_arg_rule("*"), Ok(ArgRule::Any));
        assert_eq!(parse_arg_rule("=*"), Ok(ArgRule::Exact("*".into())));
        assert_eq!(parse_arg_rule("re:a+"), Ok(ArgRule::Pattern("a+".into())));
        assert_eq!(parse_arg_rule("=re:a"), Ok(ArgRule::Exact("re:a".into())));
        assert_eq!(parse_arg_rule("==x"), Ok(ArgRule::Exact("=x".into())));
        assert_eq!(parse_arg_rule(""), Ok(ArgRule::Exact(String::new())));
        assert!(parse_arg_rule("re:(").is_err());
        assert!(parse_arg_rule("re:").is_err());
        assert!(parse_arg_rule("a\nb").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "*",
            "=*",
            "re:a b",
            "=re:x",
            "==x",
            "plain",
            "with space",
            "it's",
        ] {
            let r = parse_arg_rule(s).unwrap();
            let words = shlex::split(&r.to_string()).unwrap();
            assert_eq!(words.len(), 1, "{s}");
            assert_eq!(parse_arg_rule(&words[0]).unwrap(), r, "{s}");
        }
    }

    #[test]
    fn patterns_match_whole_arguments() {
        let p = ArgRule::Pattern("prod-[a-z]+".into());
        assert!(p.matches("prod-eu"));
        assert!(!p.matches("xprod-eu"));
        assert!(!p.matches("prod-eu; rm"));
        assert!(!p.matches("prod-eu\n"));
        // An unbalanced pattern must not escape the anchors.
        assert!(parse_arg_rule("re:a)|(b").is_err());
        let alt = ArgRule::Pattern("a|b".into());
        assert!(alt.matches("a") && alt.matches("b") && !alt.matches("ab") && !alt.matches("xb"));
    }

    #[test]
    fn expiry() {
        assert_eq!(parse_expiry("30m", 1000), Ok(1000 + 1800));
        assert_eq!(parse_expiry("2h", 0), Ok(7200));
        assert_eq!(parse_expiry("7d", 5), Ok(5 + 7 * 86_400));
        for bad in [
            "",
            "m",
            "0m",
            "5",
            "5s",
            "-5m",
            "1.5h",
            "5 m",
            "400d",
            "99999999999d",
        ] {
            assert!(parse_expiry(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m");
        assert_eq!(duration(3_600 + 300), "1h05m");
        assert_eq!(duration(86_400 * 6 + 3_600 * 23), "6d23h");
    }
}
