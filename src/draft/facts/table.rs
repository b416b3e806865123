//! Tables: kubectl, amtool and df columns aligned by tabwriter, and psql's
//! `|`-separated rows and expanded records.

use super::*;

impl Parser {
    pub(super) fn table_header(&self, text: &str) -> Option<Table> {
        // Every header these tools print starts with a capital letter.
        if !text.starts_with(|c: char| c.is_ascii_uppercase()) {
            return None;
        }
        let toks = header_tokens(text);
        if toks.len() < 2 {
            return None;
        }
        let first = toks[0].1;
        let flavor = if toks.iter().all(|(_, t)| is_upper_header(t))
            && toks.iter().any(|(_, t)| {
                matches!(
                    *t,
                    "NAME" | "NAMESPACE" | "LAST SEEN" | "STATUS" | "READY" | "NODE" | "AGE"
                )
            }) {
            Flavor::Kubectl
        } else if matches!(first, "Alertname" | "Labels" | "ID")
            && matches!(toks[1].1, "Starts At" | "Annotations" | "Matchers")
        {
            Flavor::Amtool
        } else if first == "Filesystem" && toks.last().is_some_and(|(_, t)| *t == "Mounted on") {
            Flavor::Df
        } else {
            return None;
        };
        let keys: Vec<String> = toks.iter().map(|(_, t)| norm(t)).collect();
        let kind = match flavor {
            Flavor::Kubectl => kind_from_header(&keys).or_else(|| {
                self.cmd
                    .as_ref()
                    .filter(|c| c.program == "kubectl")
                    .and_then(|c| c.kind)
            }),
            _ => None,
        };
        let keys: Vec<String> = toks
            .iter()
            .zip(keys)
            .map(|((_, name), key)| match (flavor, *name) {
                (Flavor::Amtool, "ID") => "silence_id".to_string(),
                (Flavor::Df, "Mounted on") => "mountpoint".to_string(),
                _ => key,
            })
            .collect();
        let cols: Vec<Col> = toks
            .iter()
            .zip(keys)
            .map(|((start, name), key)| Col {
                start: *start,
                role: role(flavor, name, &key),
                key,
            })
            .collect();
        let free_last =
            flavor == Flavor::Kubectl && cols.last().is_some_and(|c: &Col| c.role.free());
        Some(Table {
            kind,
            cols,
            free_last,
        })
    }

    pub(super) fn table_line(&mut self, t: Table, l: &Line<'_>) -> Option<Mode> {
        let text = l.text;
        if text.trim().is_empty() {
            return Some(Mode::Plain);
        }
        if is_comment(text) {
            return Some(Mode::Table(t));
        }
        if let Some(next) = self.table_header(text) {
            return Some(Mode::Table(next));
        }
        let cells = t.cells(text)?;
        self.table_row(&t, &cells, l);
        Some(Mode::Table(t))
    }

    pub(super) fn table_row(&mut self, t: &Table, cells: &[Option<&str>], l: &Line<'_>) {
        let at = l.at;
        let mut acc = Acc::default();
        // Status words anywhere but in names (`payment-failed-retry`) and
        // free text (an event's MESSAGE carries what a workload printed: it
        // must not rank a healthy row as failing); most rows have none at
        // all, and are read once.
        if failing_word(l.text).is_some() {
            for (col, value) in t.cols.iter().zip(cells) {
                if let (Some(v), false) = (value, col.role.names() || col.role.free()) {
                    if let Some(why) = failing_word(v) {
                        acc.add(why, at.no);
                    }
                }
            }
        }
        let cell = |role: Role| {
            t.cols
                .iter()
                .zip(cells)
                .find(|(c, _)| c.role == role)
                .and_then(|(_, v)| *v)
        };
        let status = cell(Role::Status);
        let completed = status.is_some_and(|s| s.contains("Completed") || s.contains("Succeeded"));
        for (col, value) in t.cols.iter().zip(cells) {
            let Some(v) = *value else { continue };
            match col.role {
                Role::Status => {
                    for part in v.split(',') {
                        if let Some(why) = failing(part) {
                            acc.add(why, at.no);
                        } else if part == "SchedulingDisabled" {
                            acc.add(Why::Degraded("SchedulingDisabled"), at.no);
                        } else if let Some(w) = HEALTHY.iter().find(|w| **w == part) {
                            acc.add(Why::Healthy(w), at.no);
                        }
                    }
                }
                Role::Ready if !completed => {
                    if let Some((r, total)) = v.split_once('/') {
                        if let (Ok(r), Ok(total)) = (r.parse::<u32>(), total.parse::<u32>()) {
                            if r < total {
                                acc.add(Why::NotReady(r, total), at.no);
                            }
                        }
                    }
                }
                Role::Restarts => {
                    let n: String = v.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(n) = n.parse::<u32>() {
                        if n >= 5 {
                            acc.add(Why::Restarts(n), at.no);
                        }
                    }
                }
                Role::Type if v == "Warning" => acc.add(Why::Warning, at.no),
                Role::Type if v == "Normal" => acc.add(Why::Healthy("Normal"), at.no),
                Role::Use => {
                    if let Ok(p) = v.trim_end_matches('%').parse::<u32>() {
                        acc.add(Why::Used(p), at.no);
                    }
                }
                Role::State => match v {
                    "active" => acc.add(Why::Degraded("an active alert"), at.no),
                    "suppressed" => acc.add(Why::Healthy("suppressed"), at.no),
                    _ => {}
                },
                // The heartbeat alerts of kube-prometheus always fire.
                Role::Generic
                    if col.key == "alertname"
                        && matches!(v, "Watchdog" | "InfoInhibitor" | "DeadMansSwitch") =>
                {
                    acc.healthy = Some((Why::Healthy("an always-firing heartbeat alert"), at.no));
                    acc.worst = None;
                    break;
                }
                _ => {}
            }
        }
        let rank = acc.rank(|_| Scope::Line);
        if let Some((why, n)) = acc.worst.or(acc.healthy) {
            self.observe(why, n);
        }
        let mut out = Direct {
            facts: &mut self.facts,
            rank,
        };
        let name = cell(Role::Name);
        let row_kind = name.and_then(split_kind).map(|(k, _)| k).or(t.kind);
        for (col, value) in t.cols.iter().zip(cells) {
            let Some(v) = *value else { continue };
            match col.role {
                Role::Namespace => out.put("namespace", v, at, How::Printed),
                Role::Name => {
                    let (kind, name) = split_kind(v).unwrap_or((row_kind.unwrap_or(""), v));
                    if !kind.is_empty() {
                        object_facts(&mut out, kind, name, at);
                    }
                }
                Role::Object => {
                    if let Some((kind, name)) = split_kind(v) {
                        object_facts(&mut out, kind, name, at);
                    }
                }
                Role::Node => out.put("node", v, at, How::Printed),
                Role::Labels if row_kind == Some("pod") => {
                    let pod = name.unwrap_or("");
                    if let Some(sel) = selector_of_labels(v.split(',')) {
                        out.put("selector", &sel, at, How::SelectorOfPod(pod));
                    }
                    for pair in v.split(',') {
                        if let Some((k, val)) = pair.split_once('=') {
                            out.put(&norm(k), val, at, How::Printed);
                        }
                    }
                }
                Role::Labels => {}
                Role::Selector => out.put("selector", v, at, How::Printed),
                Role::Containers => {
                    for c in v.split(',') {
                        out.put("container", c, at, How::Printed);
                    }
                }
                Role::Claim => {
                    let (ns, claim) = v.split_once('/').unwrap_or(("", v));
                    if !ns.is_empty() {
                        out.put("namespace", ns, at, How::Printed);
                    }
                    out.put("pvc", claim, at, How::Printed);
                }
                Role::Reference => {
                    if let Some((kind, name)) = split_kind(v) {
                        object_facts(&mut out, kind, name, at);
                    }
                }
                Role::Pairs => {
                    for (k, val) in label_pairs(v) {
                        out.put(&norm(k), val, at, How::Printed);
                    }
                }
                Role::Message => {
                    if let Some(c) = container_in_message(v) {
                        out.put("container", c, at, How::Printed);
                    }
                }
                Role::Generic => {
                    if !col.key.is_empty() {
                        out.put(&col.key, v, at, How::Printed);
                    }
                }
                // Status columns rank the row; they hold no values.
                Role::Status
                | Role::Ready
                | Role::Restarts
                | Role::Type
                | Role::Use
                | Role::State
                | Role::Skip => {}
            }
        }
    }

    // -- psql ------------------------------------------------------------------

    pub(super) fn psql_line(&mut self, cols: Vec<String>, l: &Line<'_>) -> Option<Mode> {
        let text = l.text.trim();
        if text.is_empty() || (text.starts_with('(') && text.ends_with(')')) {
            return Some(Mode::Plain);
        }
        let cells: Vec<&str> = l.text.split('|').map(str::trim).collect();
        if cells.len() != cols.len() {
            return None;
        }
        let why = line_health(l.text);
        self.observe(why, l.at.no);
        let rank = Rank::line(why);
        for (key, value) in cols.iter().zip(cells) {
            self.facts.add(key, value, l.at, rank, How::Printed);
        }
        Some(Mode::Psql(cols))
    }

    pub(super) fn record_line(&mut self, mut r: Record, l: &Line<'_>) -> Option<Mode> {
        let text = l.text.trim();
        if text.is_empty() || (text.starts_with('(') && text.ends_with(')')) {
            self.flush_record(r);
            return Some(Mode::Plain);
        }
        if is_psql_record(text) {
            self.flush_record(r);
            return Some(Mode::PsqlRecord(Record::new()));
        }
        let (key, value) = l.text.split_once('|')?;
        r.acc.add(line_health(l.text), l.at.no);
        if r.fields.len() < MAX_ENTRIES {
            r.fields
                .push(pending(&norm(key.trim()), value.trim(), l.at, How::Printed));
        }
        Some(Mode::PsqlRecord(r))
    }

    pub(super) fn flush_record(&mut self, r: Record) {
        let rank = r.acc.rank(|n| Scope::Block("record", n));
        if let Some((why, n)) = r.acc.worst {
            self.observe(why, n);
        }
        self.emit(r.fields, rank);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Kubectl,
    Amtool,
    Df,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Namespace,
    Name,
    Node,
    Object,
    Labels,
    Selector,
    Containers,
    Claim,
    Reference,
    Status,
    Ready,
    Restarts,
    Type,
    Use,
    State,
    Pairs,
    Message,
    Generic,
    Skip,
}

impl Role {
    /// Cells of this column never hold spaces.
    pub(super) fn one_word(self) -> bool {
        matches!(
            self,
            Role::Namespace | Role::Name | Role::Ready | Role::Status | Role::Node | Role::Object
        )
    }

    /// Free text, possibly with spaces.
    pub(super) fn free(self) -> bool {
        matches!(self, Role::Message)
    }

    /// Cells of this column name things: not status words.
    pub(super) fn names(self) -> bool {
        matches!(
            self,
            Role::Namespace
                | Role::Name
                | Role::Node
                | Role::Object
                | Role::Labels
                | Role::Selector
                | Role::Containers
                | Role::Claim
                | Role::Reference
                | Role::Pairs
        )
    }
}

pub(super) struct Col {
    pub(super) start: usize,
    pub(super) key: String,
    pub(super) role: Role,
}

pub(super) struct Table {
    pub(super) kind: Option<&'static str>,
    pub(super) cols: Vec<Col>,
    /// Only the last column holds spaces (kubectl's MESSAGE): a row with
    /// more words than columns gives that column the rest.
    pub(super) free_last: bool,
}

pub(super) fn role(flavor: Flavor, name: &str, key: &str) -> Role {
    match flavor {
        Flavor::Kubectl => match key {
            "namespace" => Role::Namespace,
            "name" => Role::Name,
            "node" => Role::Node,
            "object" => Role::Object,
            "labels" => Role::Labels,
            "selector" => Role::Selector,
            "containers" => Role::Containers,
            "claim" => Role::Claim,
            "reference" => Role::Reference,
            "status" => Role::Status,
            "ready" => Role::Ready,
            "restarts" => Role::Restarts,
            "type" => Role::Type,
            "message" => Role::Message,
            "age" | "last_seen" | "first_seen" | "images" | "nominated_node"
            | "readiness_gates" => Role::Skip,
            _ => Role::Generic,
        },
        Flavor::Amtool => match name {
            "Alertname" | "ID" | "Created By" => Role::Generic,
            "Labels" | "Matchers" => Role::Pairs,
            "State" => Role::State,
            "Summary" | "Comment" => Role::Message,
            _ => Role::Skip,
        },
        Flavor::Df => match name {
            "Use%" | "Capacity" => Role::Use,
            _ => Role::Generic,
        },
    }
}

/// Column headers as printed, with their byte offsets; two-word headers
/// (`LAST SEEN`, `Mounted on`, `Starts At`) kept whole.
pub(super) fn header_tokens(text: &str) -> Vec<(usize, &str)> {
    const TWO_WORDS: &[&str] = &[
        "LAST SEEN",
        "FIRST SEEN",
        "ACCESS MODES",
        "NOMINATED NODE",
        "READINESS GATES",
        "RECLAIM POLICY",
        "NODE SELECTOR",
        "Starts At",
        "Ends At",
        "Updated At",
        "Created By",
        "Generator URL",
        "Mounted on",
    ];
    let toks: Vec<(usize, &str)> = tokens(text).collect();
    let mut out: Vec<(usize, &str)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (start, tok) = toks[i];
        if let Some(&(next_start, next)) = toks.get(i + 1) {
            let joined = &text[start..next_start + next.len()];
            if next_start == start + tok.len() + 1 && TWO_WORDS.contains(&joined) {
                out.push((start, joined));
                i += 2;
                continue;
            }
        }
        out.push((start, tok));
        i += 1;
    }
    out
}

/// `NAME`, `UP-TO-DATE`, `PORT(S)`, `CPU(cores)`, `LAST SEEN`.
pub(super) fn is_upper_header(tok: &str) -> bool {
    let head = tok.split('(').next().unwrap_or("");
    tok.starts_with(|c: char| c.is_ascii_uppercase())
        && head
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "%/_.- ".contains(c))
}

pub(super) fn kind_from_header(keys: &[String]) -> Option<&'static str> {
    let has = |k: &str| keys.iter().any(|x| x == k);
    Some(if has("restarts") && has("status") {
        "pod"
    } else if has("roles") && has("version") {
        "node"
    } else if has("up_to_date") && has("available") && !has("desired") {
        "deployment"
    } else if has("desired") && has("node_selector") {
        "daemonset"
    } else if has("desired") && has("current") {
        "replicaset"
    } else if has("volume") && has("capacity") && has("storageclass") {
        "pvc"
    } else if has("claim") && has("reclaim_policy") {
        "pv"
    } else if has("completions") {
        "job"
    } else if has("reference") && has("minpods") {
        "hpa"
    } else if has("cluster_ip") {
        "service"
    } else if has("schedule") && has("suspend") {
        "cronjob"
    } else if has("ready") && has("secret") {
        "certificate"
    } else if has("cpu_cores") && has("cpu") {
        "node"
    } else if has("cpu_cores") {
        "pod"
    } else if keys.len() >= 3 && keys[0] == "name" && keys[1] == "ready" && keys[2] == "age" {
        "statefulset"
    } else if keys == ["name", "status", "age"] {
        "namespace"
    } else {
        return None;
    })
}

/// Whitespace-separated words with their byte offsets.
pub(super) fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let base = text.as_ptr() as usize;
    text.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - base, w))
}

impl Table {
    /// The cells of a row, by the first way that fits: one word per
    /// column (a parenthesised aside like `17 (2m ago)` joins the word
    /// before it); cells at the header's offsets (the tools align them);
    /// a free-text last column taking the rest; runs of two or more spaces;
    /// else only the leading one-word columns (a ragged row).
    pub(super) fn cells<'a>(&self, row: &'a str) -> Option<Vec<Option<&'a str>>> {
        let n = self.cols.len();
        let words = join_asides(row, tokens(row));
        if words.is_empty() {
            return None;
        }
        if words.len() == n {
            return Some(words.iter().map(|w| Some(*w)).collect());
        }
        if let Some(cells) = self.aligned(row) {
            return Some(cells);
        }
        if words.len() > n && self.free_last {
            let mut cells: Vec<Option<&str>> = words[..n - 1].iter().map(|w| Some(*w)).collect();
            let rest_start = words[n - 1].as_ptr() as usize - row.as_ptr() as usize;
            cells.push(Some(row[rest_start..].trim_end()));
            return Some(cells);
        }
        let wide: Vec<&str> = split_wide(row);
        if wide.len() == n {
            return Some(wide.into_iter().map(Some).collect());
        }
        let safe = self.cols.iter().take_while(|c| c.role.one_word()).count();
        if safe == 0 || words.len() < safe {
            return None;
        }
        let mut cells: Vec<Option<&str>> = words[..safe].iter().map(|w| Some(*w)).collect();
        cells.resize(n, None);
        Some(cells)
    }

    pub(super) fn aligned<'a>(&self, row: &'a str) -> Option<Vec<Option<&'a str>>> {
        let bytes = row.as_bytes();
        let mut cells = Vec::with_capacity(self.cols.len());
        for (i, col) in self.cols.iter().enumerate() {
            let start = col.start;
            let end = self
                .cols
                .get(i + 1)
                .map_or(row.len(), |c| c.start.min(row.len()));
            if start >= row.len() {
                return None;
            }
            let starts_here = !bytes[start].is_ascii_whitespace()
                && (start == 0 || bytes[start - 1].is_ascii_whitespace());
            if !starts_here || !row.is_char_boundary(start) || !row.is_char_boundary(end) {
                return None;
            }
            let cell = row[start..end].trim();
            if i + 1 < self.cols.len() && cell.contains("  ") {
                return None;
            }
            cells.push(Some(cell));
        }
        Some(cells)
    }
}

/// Words, with a parenthesised aside (`(2m ago)`, `(x17 over 41m)`) joined
/// to the word before it.
pub(super) fn join_asides<'a>(
    row: &'a str,
    toks: impl Iterator<Item = (usize, &'a str)>,
) -> Vec<&'a str> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0i32;
    for (start, tok) in toks {
        let end = start + tok.len();
        let opens = tok.matches('(').count() as i32;
        let closes = tok.matches(')').count() as i32;
        if (depth > 0 || tok.starts_with('(')) && !out.is_empty() {
            out.last_mut().expect("checked").1 = end;
        } else {
            out.push((start, end));
        }
        depth = (depth + opens - closes).max(0);
    }
    out.into_iter().map(|(s, e)| &row[s..e]).collect()
}

/// Cells separated by two or more spaces.
pub(super) fn split_wide(row: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = row.trim();
    while !rest.is_empty() {
        match rest.find("  ") {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start();
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// psql

/// `-------+----------+-----` under a psql header.
pub(super) fn is_psql_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.starts_with('-') && t.bytes().all(|b| b == b'-' || b == b'+')
}

/// `-[ RECORD 1 ]----+------` (psql's expanded display).
pub(super) fn is_psql_record(line: &str) -> bool {
    line.starts_with("-[ RECORD ")
}

pub(super) struct Record {
    pub(super) acc: Acc,
    pub(super) fields: Vec<Pending>,
}

impl Record {
    pub(super) fn new() -> Record {
        Record {
            acc: Acc::default(),
            fields: Vec::new(),
        }
    }
}
