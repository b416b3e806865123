//! Echoed command lines: `$ kubectl -n payments get pods`, `redis-cli -h …`.

use super::*;

impl Parser {
    pub(super) fn command(&mut self, (program, args): (&'static str, Vec<String>), at: At) -> Cmd {
        let mut cmd = Cmd {
            program,
            kind: None,
            acc: Acc::default(),
            facts: Vec::new(),
        };
        let facts = &mut cmd.facts;
        let long_flags = |args: &[String], facts: &mut Vec<Pending>| {
            for a in args {
                if let Some((k, v)) = a.strip_prefix("--").and_then(|f| f.split_once('=')) {
                    let k = norm(k);
                    if !is_secret_key(&k) {
                        facts.put(&k, v, at, How::Printed);
                    }
                }
            }
        };
        match program {
            "kubectl" => {
                let k = kubectl_args(&args);
                if let Some(ns) = k.namespace {
                    facts.put("namespace", &ns, at, How::Printed);
                }
                if let Some(sel) = k.selector {
                    facts.put("selector", &sel, at, How::Printed);
                }
                if let Some(c) = k.container {
                    facts.put("container", &c, at, How::Printed);
                }
                for (kind, name) in &k.objects {
                    object_facts(facts, kind, name, at);
                }
                cmd.kind = k.kind;
                long_flags(&args, facts);
            }
            "amtool" => {
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    if a == "--alertmanager.url" {
                        if let Some(v) = it.next() {
                            facts.put("alertmanager_url", v, at, How::Printed);
                        }
                    } else if !a.starts_with('-') {
                        if let Some((k, v)) = a.split_once('=') {
                            if !v.starts_with('~') && !k.ends_with('!') {
                                facts.put(&norm(k), v, at, How::Printed);
                            }
                        }
                    }
                }
                if args.iter().any(|a| a == "expire") {
                    if let Some(id) = args.iter().rev().find(|a| !a.starts_with('-')) {
                        facts.put("silence_id", id, at, How::Printed);
                    }
                }
                long_flags(&args, facts);
            }
            "redis-cli" => {
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    match a.as_str() {
                        "-h" => {
                            if let Some(v) = it.next() {
                                facts.put("host", v, at, How::Printed);
                            }
                        }
                        "-p" => {
                            if let Some(v) = it.next() {
                                facts.put("port", v, at, How::Printed);
                            }
                        }
                        "-u" => {
                            if let Some(v) = it.next() {
                                url_facts(facts, v, at);
                            }
                        }
                        "-a" | "--user" | "--pass" | "-n" => {
                            it.next();
                        }
                        _ => {}
                    }
                }
            }
            "psql" => {
                let mut positional = Vec::new();
                let mut database = false;
                let mut user = false;
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    let (flag, inline) = match a.split_once('=') {
                        Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                        _ => (a.as_str(), None),
                    };
                    let kind = match flag {
                        "-h" | "--host" => Some("host"),
                        "-p" | "--port" => Some("port"),
                        "-U" | "--username" => Some("user"),
                        "-d" | "--dbname" => Some("database"),
                        "-c" | "--command" | "-f" | "--file" | "-v" | "--set" | "-o" => {
                            if inline.is_none() {
                                it.next();
                            }
                            None
                        }
                        _ => {
                            if !a.starts_with('-') {
                                if a.contains("://") {
                                    url_facts(facts, a, at);
                                } else if !a.contains('=') {
                                    positional.push(a.clone());
                                }
                            }
                            None
                        }
                    };
                    if let Some(kind) = kind {
                        let value = inline.or_else(|| it.next().cloned());
                        if let Some(v) = value {
                            database |= kind == "database";
                            user |= kind == "user";
                            if kind == "database" && v.contains('=') {
                                continue; // a conninfo string: its pairs are read below
                            }
                            facts.put(kind, &v, at, How::Printed);
                        }
                    }
                }
                // psql [DBNAME [USERNAME]]
                let mut positional = positional.into_iter();
                if let Some(db) = positional.next() {
                    if !database {
                        facts.put("database", &db, at, How::Printed);
                    }
                }
                if let Some(u) = positional.next() {
                    if !user {
                        facts.put("user", &u, at, How::Printed);
                    }
                }
                for a in &args {
                    for (k, v) in label_pairs(a) {
                        let kind = match k {
                            "dbname" => "database",
                            other => other,
                        };
                        if !is_secret_key(kind) {
                            facts.put(kind, v, at, How::Printed);
                        }
                    }
                }
            }
            "journalctl" | "systemctl" => {
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    if a == "-u" || a == "--unit" {
                        if let Some(v) = it.next() {
                            facts.put("unit", v, at, How::Printed);
                        }
                    } else if let Some(v) = a.strip_prefix("--unit=") {
                        facts.put("unit", v, at, How::Printed);
                    } else if program == "systemctl" && !a.starts_with('-') && a.contains('.') {
                        facts.put("unit", a, at, How::Printed);
                    }
                }
            }
            _ => long_flags(&args, facts),
        }
        cmd
    }
}

pub(super) const PROGRAMS: &[&str] = &[
    "kubectl",
    "oc",
    "amtool",
    "redis-cli",
    "psql",
    "df",
    "journalctl",
    "systemctl",
];

/// The program and arguments of a command line as pasted with its prompt
/// (`$ kubectl …`, `user@host:~$ kubectl …`, `[u@h ~]# df -h`) or bare
/// (`kubectl -n payments get pods`).
pub(super) fn echoed_command(line: &str) -> Option<(&'static str, Vec<String>)> {
    let mut prompt = false;
    for (i, (pos, tok)) in tokens(line).take(6).enumerate() {
        // A program is the first word, or the first after a prompt.
        if i == 0 || prompt {
            let name = tok.rsplit('/').next().unwrap_or(tok);
            let program = PROGRAMS
                .iter()
                .copied()
                .find(|p| *p == name)
                .map(|p| if p == "oc" { "kubectl" } else { p })
                .or_else(|| (name == "k" && prompt).then_some("kubectl"));
            if let Some(program) = program {
                let args = command_args(&line[pos..]);
                if !prompt && !plausible_bare(program, &args) {
                    return None;
                }
                return Some((program, args));
            }
        }
        if tok == "sudo" && prompt {
            continue;
        }
        if tok.ends_with(['$', '#', '%', '>', '❯', '➜', '»']) || matches!(tok, "➜" | "❯") {
            prompt = true;
        } else if prompt && !(tok == "~" || tok.starts_with('~') || tok.contains('/')) {
            // Text after a prompt-like mark that is not a path: not a prompt.
            return None;
        }
    }
    None
}

/// A bare line starting with a program name reads as a command only if it
/// looks like one (`kubectl get …`, `df -h`), not like prose.
pub(super) fn plausible_bare(program: &str, args: &[String]) -> bool {
    let rest = &args[1..];
    match program {
        "kubectl" => rest.iter().any(|a| {
            matches!(
                a.as_str(),
                "get" | "describe" | "logs" | "top" | "rollout" | "events" | "auth" | "explain"
            )
        }),
        _ => {
            rest.first()
                .is_none_or(|a| a.starts_with('-') || a.starts_with('/'))
                || matches!(
                    program,
                    "amtool" | "redis-cli" | "psql" | "journalctl" | "systemctl"
                )
        }
    }
}

/// The words of a command, up to the first pipe, list or redirection.
pub(super) fn command_args(text: &str) -> Vec<String> {
    let words =
        shlex::split(text).unwrap_or_else(|| text.split_whitespace().map(String::from).collect());
    words
        .into_iter()
        .take_while(|w| {
            !matches!(w.as_str(), "|" | "||" | "&&" | ";" | "&")
                && !w.starts_with('>')
                && !w.starts_with("2>")
                && !w.starts_with('|')
        })
        .take(64)
        .collect()
}

#[derive(Default)]
pub(super) struct KubectlArgs {
    pub(super) namespace: Option<String>,
    pub(super) selector: Option<String>,
    pub(super) container: Option<String>,
    pub(super) kind: Option<&'static str>,
    pub(super) objects: Vec<(&'static str, String)>,
}

pub(super) fn kubectl_args(args: &[String]) -> KubectlArgs {
    let mut out = KubectlArgs::default();
    let mut positional: Vec<&str> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let mut value = |short: &str, long: &str| -> Option<Option<String>> {
            if a == short || a == long {
                let v = args.get(i).cloned();
                i += 1;
                return Some(v);
            }
            if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                return Some(Some(v.to_string()));
            }
            if !short.is_empty()
                && a.starts_with(short)
                && a.len() > short.len()
                && !a.starts_with("--")
            {
                return Some(Some(a[short.len()..].trim_start_matches('=').to_string()));
            }
            None
        };
        if let Some(v) = value("-n", "--namespace") {
            out.namespace = v;
        } else if let Some(v) = value("-l", "--selector") {
            out.selector = v;
        } else if let Some(v) = value("-c", "--container") {
            out.container = v;
        } else if value("-o", "--output").is_some()
            || value("", "--context").is_some()
            || value("", "--cluster").is_some()
            || value("", "--kubeconfig").is_some()
            || value("", "--field-selector").is_some()
            || value("", "--sort-by").is_some()
            || value("", "--tail").is_some()
            || value("", "--since").is_some()
            || value("-f", "--filename").is_some()
            || value("", "--timeout").is_some()
            || value("", "--max-log-requests").is_some()
        {
        } else if !a.starts_with('-') {
            positional.push(a);
        }
    }
    let Some((verb, rest)) = positional.split_first() else {
        return out;
    };
    let resources: &[&str] = match *verb {
        "get" | "describe" | "top" => rest,
        "rollout" => rest.get(1..).unwrap_or(&[]),
        "logs" | "exec" | "attach" | "port-forward" => {
            if let Some(first) = rest.first() {
                match split_kind(first) {
                    Some((kind, name)) => out.objects.push((kind, name.to_string())),
                    None => out.objects.push(("pod", first.to_string())),
                }
            }
            return out;
        }
        "cordon" | "uncordon" | "drain" => {
            out.objects
                .extend(rest.iter().map(|n| ("node", n.to_string())));
            return out;
        }
        _ => return out,
    };
    if resources.first().is_some_and(|r| r.contains('/')) {
        for r in resources {
            if let Some((kind, name)) = split_kind(r) {
                out.objects.push((kind, name.to_string()));
                out.kind = Some(kind);
            }
        }
        return out;
    }
    if let Some((types, names)) = resources.split_first() {
        let kinds: Vec<&'static str> = types.split(',').filter_map(kube_kind).collect();
        if kinds.len() == 1 {
            out.kind = Some(kinds[0]);
            out.objects
                .extend(names.iter().map(|n| (kinds[0], n.to_string())));
        }
    }
    out
}

/// `redis://user:pass@host:6379/0`, `postgresql://user@host:5432/db`.
pub(super) fn url_facts(out: &mut Vec<Pending>, url: &str, at: At) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (hostport, None),
    };
    out.put("host", host, at, How::Printed);
    if let Some(p) = port {
        out.put("port", p, at, How::Printed);
    }
    if scheme.starts_with("postgres") {
        if let Some(user) = userinfo.map(|u| u.split(':').next().unwrap_or("")) {
            out.put("user", user, at, How::Printed);
        }
        let db = path.split('?').next().unwrap_or("");
        out.put("database", db, at, How::Printed);
    }
}

/// A key (as [`norm`] writes it) whose value is a credential, never a value
/// to fill: `password`, `db_pass`, `api_key`, `auth_token`, redis's
/// `requirepass` and `masterauth` (but `author` and `monkey` are fine).
pub(super) fn is_secret_key(key: &str) -> bool {
    key.split('_').any(|part| {
        matches!(
            part,
            "pwd" | "key" | "apikey" | "credential" | "credentials" | "private"
        ) || ["password", "passwd", "pass", "token", "secret", "auth"]
            .iter()
            .any(|s| part.ends_with(s))
    })
}
