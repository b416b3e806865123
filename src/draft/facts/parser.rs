//! One pass over the lines: the echoed command a block of output belongs
//! to, the block being read (a table, a describe, a document), and the
//! plain lines between them.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    pub(super) no: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct Line<'t> {
    pub(super) at: At,
    pub(super) text: &'t str,
}

/// A fact whose rank waits for the end of its block.
pub(super) struct Pending {
    pub(super) kind: String,
    pub(super) value: String,
    pub(super) at: At,
    pub(super) how: PendingHow,
}

pub(super) enum PendingHow {
    Printed,
    Note(String),
    Derived(String),
}

impl PendingHow {
    pub(super) fn as_how(&self) -> How<'_> {
        match self {
            PendingHow::Printed => How::Printed,
            PendingHow::Note(s) => How::Text(s),
            PendingHow::Derived(s) => How::Derived(s),
        }
    }
}

pub(super) fn pending(kind: &str, value: &str, at: At, how: How<'_>) -> Pending {
    Pending {
        kind: kind.to_string(),
        value: value.to_string(),
        at,
        how: match (how.text(), how.derived()) {
            (None, _) => PendingHow::Printed,
            (Some(t), true) => PendingHow::Derived(t),
            (Some(t), false) => PendingHow::Note(t),
        },
    }
}

/// Where facts go: straight into the store when their rank is already
/// known (a table row), or held until the end of their block.
pub(super) trait Sink {
    fn put(&mut self, kind: &str, value: &str, at: At, how: How<'_>);
}

impl Sink for Vec<Pending> {
    fn put(&mut self, kind: &str, value: &str, at: At, how: How<'_>) {
        self.push(pending(kind, value, at, how));
    }
}

/// Facts ranked already: added as they are read, nothing copied first.
pub(super) struct Direct<'a> {
    pub(super) facts: &'a mut Facts,
    pub(super) rank: Rank,
}

impl Sink for Direct<'_> {
    fn put(&mut self, kind: &str, value: &str, at: At, how: How<'_>) {
        self.facts.add(kind, value, at, self.rank, how);
    }
}

/// Facts of a pod name: the pod, and its ReplicaSet and Deployment when
/// the name has their shape.
pub(super) fn pod_facts(out: &mut impl Sink, pod: &str, at: At) {
    out.put("pod", pod, at, How::Printed);
    if let Some((deployment, rs)) = deployment_of_pod(pod) {
        out.put("replicaset", rs, at, How::ReplicaSetOfPod(pod));
        out.put("deployment", deployment, at, How::DeploymentOfPod(pod));
    }
}

/// Facts of a `kind/name` or a name of a known kind.
pub(super) fn object_facts(out: &mut impl Sink, kind: &str, name: &str, at: At) {
    match kind {
        "pod" => pod_facts(out, name, at),
        "replicaset" => {
            out.put("replicaset", name, at, How::Printed);
            if let Some(d) = deployment_of_replicaset(name) {
                out.put("deployment", d, at, How::DeploymentOfReplicaSet(name));
            }
        }
        "event" => {}
        _ => out.put(kind, name, at, How::Printed),
    }
}

/// The last command echoed in the state, whose facts are ranked by what
/// its output shows.
pub(super) struct Cmd {
    pub(super) program: &'static str,
    /// The one kind of resource it lists or describes, if it names one.
    pub(super) kind: Option<&'static str>,
    pub(super) acc: Acc,
    pub(super) facts: Vec<Pending>,
}

pub(super) enum Mode {
    Plain,
    Table(Table),
    Describe(Box<Describe>),
    Tree(Box<Tree>),
    Psql(Vec<String>),
    PsqlRecord(Record),
}

pub(super) struct Parser {
    pub(super) facts: Facts,
    pub(super) mode: Mode,
    pub(super) cmd: Option<Cmd>,
    /// The previous line, for psql's header above its `---+---` line.
    pub(super) prev: Option<At>,
    pub(super) prev_text: String,
}
impl Parser {
    pub(super) fn line(&mut self, l: &Line<'_>) {
        let had_prev = self.prev.take().is_some();
        if crate::injection::is_suspicious(l.text) {
            // Instruction-like text is listed, and never a source of values.
            if self.facts.suspicious.len() < MAX_SUSPICIOUS {
                let redacted = crate::redact::redact(l.text.trim());
                let text = crate::sanitize::sanitize_line(&redacted.text, 100);
                self.facts
                    .suspicious
                    .push(format!("line {}: {text}", l.at.no));
            }
            return;
        }
        let prev_text = std::mem::take(&mut self.prev_text);
        self.dispatch(l, had_prev.then_some(prev_text.as_str()));
        self.prev = Some(l.at);
        self.prev_text = prev_text;
        self.prev_text.clear();
        self.prev_text.push_str(l.text);
    }

    pub(super) fn dispatch(&mut self, l: &Line<'_>, prev: Option<&str>) {
        if let Some(cmd) = echoed_command(l.text) {
            self.end_mode();
            self.end_cmd();
            self.cmd = Some(self.command(cmd, l.at));
            return;
        }
        let mode = std::mem::replace(&mut self.mode, Mode::Plain);
        let next = match mode {
            Mode::Plain => None,
            Mode::Table(t) => self.table_line(t, l),
            Mode::Describe(d) => self.describe_line(d, l),
            Mode::Tree(t) => self.tree_line(t, l),
            Mode::Psql(cols) => self.psql_line(cols, l),
            Mode::PsqlRecord(r) => self.record_line(r, l),
        };
        match next {
            Some(mode) => self.mode = mode,
            None => self.plain(l, prev),
        }
    }

    pub(super) fn finish(&mut self) {
        self.end_mode();
        self.end_cmd();
    }

    pub(super) fn end_mode(&mut self) {
        match std::mem::replace(&mut self.mode, Mode::Plain) {
            Mode::Describe(d) => self.flush_describe(*d),
            Mode::Tree(mut t) => {
                if let Some(obj) = t.obj.take() {
                    self.flush_object(obj);
                }
            }
            Mode::PsqlRecord(r) => self.flush_record(r),
            Mode::Plain | Mode::Table(_) | Mode::Psql(_) => {}
        }
    }

    pub(super) fn end_cmd(&mut self) {
        if let Some(cmd) = self.cmd.take() {
            let rank = cmd.acc.rank(Scope::Output);
            self.emit(cmd.facts, rank);
        }
    }

    pub(super) fn emit(&mut self, facts: Vec<Pending>, rank: Rank) {
        for p in facts {
            self.facts
                .add(&p.kind, &p.value, p.at, rank, p.how.as_how());
        }
    }

    /// A signal seen in the output of the current command.
    pub(super) fn observe(&mut self, why: Why, line: usize) {
        if let Some(cmd) = &mut self.cmd {
            cmd.acc.add(why, line);
        }
    }

    pub(super) fn plain(&mut self, l: &Line<'_>, prev: Option<&str>) {
        let text = l.text;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        let at = l.at;
        if let Some(ns) = no_resources_in(trimmed) {
            self.observe(Why::NothingFound, at.no);
            self.facts.add(
                "namespace",
                ns,
                at,
                Rank::line(Why::NothingFound),
                How::Printed,
            );
            return;
        }
        if trimmed.starts_with("No resources found") {
            self.observe(Why::NothingFound, at.no);
            return;
        }
        if let Some(t) = self.table_header(text) {
            self.mode = Mode::Table(t);
            return;
        }
        if is_psql_rule(text) {
            if let Some(header) = prev {
                let cols: Vec<String> = header.split('|').map(|c| norm(c.trim())).collect();
                if cols.iter().all(|c| !c.is_empty()) {
                    self.mode = Mode::Psql(cols);
                    return;
                }
            }
        }
        if is_psql_record(trimmed) {
            self.mode = Mode::PsqlRecord(Record::new());
            return;
        }
        if let Some(name) = text.strip_prefix("Name:") {
            if !name.trim().is_empty() {
                let mut d = Describe::new(self.cmd.as_ref().and_then(|c| c.kind));
                d.line(l);
                self.mode = Mode::Describe(Box::new(d));
                return;
            }
        }
        if let Some(tree) = Tree::start(text) {
            if let Some(mode) = self.tree_line(Box::new(tree), l) {
                self.mode = mode;
            }
            return;
        }
        // A line outside any tool's layout: a log line, `key=value`s.
        let why = said(text);
        self.observe(why, at.no);
        let rank = Rank::line(why);
        // Cheap byte checks first: most pasted lines hold none of these.
        let bytes = trimmed.as_bytes();
        if bytes.contains(&b'>') {
            if let Some((host, port)) = redis_prompt(trimmed) {
                self.facts
                    .add("host", host, at, rank, How::Note("redis-cli's prompt"));
                self.facts
                    .add("port", port, at, rank, How::Note("redis-cli's prompt"));
                return;
            }
        }
        let has_eq = bytes.contains(&b'=');
        if has_eq {
            if let Some(db) = psql_prompt(trimmed) {
                self.facts
                    .add("database", db, at, rank, How::Note("psql's prompt"));
                return;
            }
        }
        // `redis-cli INFO`: `key:value`, no spaces.
        if let Some((key, value)) = info_field(trimmed) {
            let key = norm(key);
            if !is_secret_key(&key) {
                self.facts.add(&key, value, at, rank, How::Printed);
            }
            return;
        }
        if has_eq {
            for (key, value) in label_pairs(text) {
                let key = norm(key);
                if !is_secret_key(&key) {
                    self.facts.add(&key, value, at, rank, How::Printed);
                }
            }
        }
        if has_unit(text) {
            for unit in units(text) {
                self.facts.add("unit", unit, at, rank, How::Printed);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Plain lines

/// `No resources found in payments namespace.`
pub(super) fn no_resources_in(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("No resources found in ")?;
    let ns = rest
        .strip_suffix(" namespace.")
        .or_else(|| rest.strip_suffix(" namespace"))?;
    (!ns.contains(char::is_whitespace)).then_some(ns)
}

/// `10.0.4.12:6379> INFO memory` (redis-cli's prompt).
pub(super) fn redis_prompt(line: &str) -> Option<(&str, &str)> {
    let prompt = line
        .split_once("> ")
        .map(|(p, _)| p)
        .or_else(|| line.strip_suffix('>'))?;
    let prompt = prompt.split('[').next()?;
    let (host, port) = prompt.rsplit_once(':')?;
    let ok_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let ok_port = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    (ok_host && ok_port).then_some((host, port))
}

/// `payments=# SELECT …` (psql's prompt).
pub(super) fn psql_prompt(line: &str) -> Option<&str> {
    let (db, _) = line.split_once("=# ").or_else(|| line.split_once("=> "))?;
    let ok = !db.is_empty()
        && db.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && db
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(db)
}

/// `maxmemory:8589934592` (`redis-cli INFO`): a key, a colon, no spaces.
pub(super) fn info_field(line: &str) -> Option<(&str, &str)> {
    if line.contains(char::is_whitespace) {
        return None;
    }
    let (key, value) = line.split_once(':')?;
    let ok = !key.is_empty()
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !value.is_empty()
        && !value.starts_with("//");
    ok.then_some((key, value))
}

/// `key=value` and `key="value"` pairs on a line: alert label lists,
/// amtool matchers, Prometheus series, logfmt.
pub fn label_pairs(line: &str) -> Vec<(&str, &str)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r#"(?:^|[\s{,(\[;|])([A-Za-z_][A-Za-z0-9_./-]*)=(?:"([^"]*)"|'([^']*)'|([^\s,}\])]+))"#,
        )
        .expect("static regex")
    });
    re.captures_iter(line)
        .filter_map(|c| {
            let key = c.get(1)?.as_str();
            let value = c.get(2).or(c.get(3)).or(c.get(4))?.as_str();
            (!value.starts_with('~')).then_some((key, value))
        })
        .take(32)
        .collect()
}

/// Does the line name a systemd unit at all? (One search for the line.)
fn has_unit(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\.(?:service|socket|timer|mount|path|scope|slice|target)\b")
            .expect("static regex")
    })
    .is_match(line)
}

/// systemd unit names on a line (`checkout.service: Main process exited`).
pub(super) fn units(line: &str) -> Vec<&str> {
    const SUFFIXES: &[&str] = &[
        ".service", ".socket", ".timer", ".mount", ".path", ".scope", ".slice", ".target",
    ];
    line.split_whitespace()
        .map(|w| {
            w.trim_start_matches(['●', '*', '\'', '"', '(', '['])
                .trim_end_matches([':', '.', ',', '\'', '"', ')', ']', ';'])
        })
        .filter(|w| {
            SUFFIXES.iter().any(|s| w.ends_with(s) && w.len() > s.len())
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@_.:-\\".contains(&b))
        })
        .take(8)
        .collect()
}

/// A comment line (`#`, `//`): text someone wrote, not what a system printed.
pub(super) fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with("//")
}

/// The container an event's message names.
pub(super) fn container_in_message(message: &str) -> Option<&str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"(?:failed container ([a-z0-9][-a-z0-9]*) in pod|Container ([a-z0-9][-a-z0-9]*) failed (?:liveness|readiness|startup) probe|(?:Started|Created) container:? ([a-z0-9][-a-z0-9]*)$)",
        )
        .expect("static regex")
    });
    let c = re.captures(message)?;
    Some(c.get(1).or(c.get(2)).or(c.get(3))?.as_str())
}
