//! Differential test of the guard against the real programs.
//!
//! Command lines are generated from the allowlist's own grammar (each
//! program's subcommands, denied subcommands, value flags, flags and denied
//! flags from `DEFAULT_ALLOWLIST`, spelled every way getopt, pflag and the
//! shell accept: `--f v`, `--f=v`, `--f_u`, `--abbrev`, `-abc`, `-ovalue`),
//! plus awk and sed programs, find expressions, curl and psql options. Every
//! line the guard allows is then run for real by `sh -c` in a throwaway tree
//! T, under Landlock, where it may write only beneath T. Its working
//! directory (planted with files named like subcommands and flags) and HOME
//! are snapshotted before and after, and a canary program stands in for
//! pagers, editors and plugins: any change, or the canary running, is a line
//! the guard allowed but should have refused. Every such line is reported.
//! Before that, the harness proves it sees writes, the canary and timeouts,
//! and that lines a deliberately weakened allowlist lets through are caught.
//!
//! `STEPGUARD_DIFF_SEED` picks the sequence (a fixed one by default) and
//! `STEPGUARD_DIFF_CASES` the number of generated lines. By default at most
//! 300 allowed lines run, within a time budget. `STEPGUARD_DIFF_SHOW=sed`
//! (or `all`) prints every line generated for a program with the guard's
//! decision; `STEPGUARD_DIFF_DRY_RUN=1` only generates and checks.
//! The long run:
//!
//! ```text
//! STEPGUARD_DIFF_CASES=20000 cargo test --release --test integration guard_differential -- --ignored
//! ```
//!
//! As root, lines run as `nobody` in a new network namespace: Landlock
//! confines the file system, not the clock, the kernel log or local daemons'
//! sockets, and a line the guard wrongly allows must not reach those either.
//! The generator only ever names 127.0.0.1 as a host.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_yaml::Value;
use stepguard::exec::sandbox::{confine, confine_child, scratch_env, status, SYSTEM_EXEC_DIRS};
use stepguard::guard::{check, Guard, DEFAULT_ALLOWLIST};

const DEFAULT_SEED: u64 = 0x5EED_F00D_CAFE_0001;
const RUN_TIMEOUT: Duration = Duration::from_secs(3);
const CANARY_RAN: &str = "canary-ran";
/// Names a command could be tricked into running: pagers, editors, plugins.
#[rustfmt::skip]
const CANARY_NAMES: &[&str] = &[
    "canary", "less", "more", "most", "pager", "sensible-pager", "vi", "vim", "nano", "editor",
    "sensible-editor", "sensible-browser", "xdg-open", "kubectl-canary", "kubectl-get",
];
/// The child's PATH after T/bin.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
const NOBODY: u32 = 65534;

// --- A small deterministic generator (xorshift64*).

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.u64() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.u64() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn word(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }
}

// --- The allowlist's grammar, read as plain YAML.

#[derive(Debug, Default)]
struct Prog {
    name: String,
    subs: Vec<Vec<String>>,
    deny_subs: Vec<Vec<String>>,
    value_flags: Vec<String>,
    /// `flags` and `allow_flags`.
    flags: Vec<String>,
    deny_flags: Vec<String>,
    /// `require_one_of` and the subcommands' `require_flags`.
    required: Vec<String>,
    case_insensitive: bool,
    special: Option<String>,
    installed: bool,
    weight: usize,
}

struct Grammar {
    progs: Vec<Prog>,
    safe_env: Vec<String>,
    refused: Vec<String>,
    total_weight: usize,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn words(path: &str) -> Vec<String> {
    path.split_whitespace().map(str::to_owned).collect()
}

fn installed(name: &str) -> bool {
    SYSTEM_PATH.split(':').any(|d| {
        std::fs::metadata(Path::new(d).join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// How often a program is generated: the installed ones whose arguments can
/// write or run something most, plain tools (always allowed, hence run) and
/// missing programs (they only fail to exec) rarely.
fn weight(p: &Prog) -> usize {
    if !p.installed {
        return 1;
    }
    match p.special.as_deref() {
        Some("sed") => return 40,
        Some("awk") => return 15,
        Some("find" | "curl") => return 30,
        Some("psql" | "timeout") => return 12,
        Some("ip" | "top" | "env" | "date" | "sysctl") => return 5,
        _ => {}
    }
    match p.name.as_str() {
        "kubectl" | "sort" => 30,
        "file" | "uniq" => 20,
        "docker" | "systemctl" => 15,
        "ss" | "journalctl" => 10,
        _ if !p.deny_flags.is_empty() || !p.subs.is_empty() || !p.flags.is_empty() => 6,
        _ => 1,
    }
}

fn grammar() -> Grammar {
    let doc: Value = serde_yaml::from_str(DEFAULT_ALLOWLIST).expect("the allowlist is YAML");
    let mut progs = Vec::new();
    let programs = doc
        .get("programs")
        .and_then(Value::as_mapping)
        .expect("the allowlist has programs");
    for (name, spec) in programs {
        let name = name.as_str().expect("program names are strings").to_owned();
        let mut p = Prog {
            installed: installed(&name),
            name,
            deny_subs: keys(spec.get("deny_subcommands"))
                .iter()
                .map(|s| words(s))
                .collect(),
            value_flags: strings(spec.get("value_flags")),
            deny_flags: keys(spec.get("deny_flags")),
            required: strings(spec.get("require_one_of")),
            case_insensitive: spec
                .get("case_insensitive")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            special: spec
                .get("special")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..Prog::default()
        };
        p.flags = strings(spec.get("flags"));
        p.flags.extend(strings(spec.get("allow_flags")));
        for sub in spec
            .get("subcommands")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(s) = sub.as_str() {
                p.subs.push(words(s));
            } else if let Some(path) = sub.get("path").and_then(Value::as_str) {
                p.subs.push(words(path));
                p.required.extend(strings(sub.get("require_flags")));
            }
        }
        p.weight = weight(&p);
        progs.push(p);
    }
    let total_weight = progs.iter().map(|p| p.weight).sum();
    Grammar {
        progs,
        safe_env: strings(doc.get("safe_env")),
        refused: keys(doc.get("refuse")),
        total_weight,
    }
}

// --- Word pools. Every entry is shell text, quoted where it must be.

/// Files planted in T/work: named like subcommands, flags and actions, so
/// globs and operands can land on them.
#[rustfmt::skip]
const PLANTED: &[&str] = &[
    "default", "delete", "deployment", "get", "pods", "status", "stop", "-rf",
    "--output-directory", "--output", "-o", "-i", "-delete", "-exec", "-C", "canary", "out", "x",
];

#[rustfmt::skip]
const GLOBS: &[&str] = &[
    "de*", "?", "[a-z]*", "*", "d?t*", "*.txt", "./*", "./-*", "sub/*", "[!x]*", "dat[a]*",
];

#[rustfmt::skip]
const VALUES: &[&str] = &[
    "out", "pwned", "new.txt", "./out", "sub/x", "../escaped", "../home/x", "~/x", "data.txt",
    "data.json", "kubeconfig", "magic", "names0", "script.sed", "prog.awk", "curlrc", "json",
    "yaml", "wide", "name", "cpu", "0", "1", "2", "kube-system", "127.0.0.1",
    "http://127.0.0.1:9/", "/dev/null", "-", ".", "..", "''", "x=1", "'de*'", "\"*\"",
];

#[rustfmt::skip]
const OPERANDS: &[&str] = &[
    "data.txt", "data.csv", "data.json", "data.gz", "data.xz", "sub", "sub/inner.txt", "link",
    "out", "-", "--", "pwned", "../home",
];

/// Flags tried on programs whose entry names none.
#[rustfmt::skip]
const GENERIC_FLAGS: &[&str] = &[
    "-a", "-l", "-n", "-r", "-s", "-v", "-c", "-1", "-h", "-u", "-z", "-x", "-q", "-b", "-d", "-e",
    "-i", "-k", "-o", "-t", "-w", "-C", "-F", "-H", "-L", "-R", "--help", "--version",
    "--color=never", "--null", "--all", "--output", "--files0-from", "--quiet",
];

/// Operands that make sense for one program.
#[rustfmt::skip]
fn extras(name: &str) -> &'static [&'static str] {
    match name {
        "kubectl" | "helm" | "etcdctl" | "amtool" | "promtool" => &[
            "pods", "deployment", "default", "kube-system", "svc/x", "canary", "dump", "delete",
            "--kubeconfig=kubeconfig", "--request-timeout=1s", "-A",
        ],
        "docker" => &["-a", "--no-stream", "--format", "'{{.ID}}'", "x", "rm"],
        "systemctl" => &["ssh.service", "--root=.", "'*'", "x.service", "stop"],
        "redis-cli" => &["x", "'*'", "0", "-1"],
        "date" => &[
            "+%s", "'+%F %T'", "-d", "@0", "--date=@0", "-r", "data.txt", "010100002000",
        ],
        "sysctl" => &[
            "kernel.hostname", "kernel.hostname=x", "-w", "-p", "data.txt", "vm.swappiness",
        ],
        "hostname" => &["newname", "-F", "data.txt", "-b"],
        "mount" => &["-l", "-t", "tmpfs", "data.txt", "sub", "-o", "bind", "--bind"],
        "xz" | "gzip" | "zcat" => &["data.xz", "data.gz", "-d", "-c", "-k", "-f", "--keep", "-dk"],
        "file" => &["-m", "magic", "data.txt", "-b", "-z", "-L", "-s", "magic"],
        "sort" => &[
            "data.txt", "-k2", "-t:", "-u", "-n", "-m", "-S", "1k", "-T", ".", "data.csv",
        ],
        "uniq" => &["data.txt", "out", "-c", "-d", "-u", "new.txt"],
        "ss" => &["-t", "-a", "-n", "-l", "-p", "out"],
        "journalctl" => &["-n", "1", "--no-pager", "-q", "-b", "-k", "out"],
        "dmesg" => &["-T", "-l", "err", "-k"],
        "sleep" => &["0", "0.1", ".2"],
        "jq" => &[".", "'.a'", "data.json", "-n", "-r", "'input'", "--rawfile", "v"],
        "grep" | "egrep" | "fgrep" | "zgrep" => &["a", "-e", "b", "data.txt", "-r", "-f"],
        "diff" | "cmp" | "comm" | "join" | "paste" => &["data.txt", "data.csv", "-"],
        "test" | "[" => &["-f", "data.txt", "-w", "out", "]", "=", "x"],
        "printf" | "echo" => &["'%s\\n'", "x", "-n", "-e", "'a\\nb'"],
        "getent" => &["passwd", "root", "group", "hosts", "127.0.0.1"],
        "seq" => &["3", "1", "2", "-s", ","],
        "numfmt" => &["1000", "--to=si"],
        "which" => &["sh", "canary", "-a", "less"],
        "printenv" => &["HOME", "PATH", "PAGER"],
        "pgrep" | "pidof" => &["sh", "-l"],
        "vmstat" | "free" | "iostat" | "mpstat" | "uptime" | "nproc" | "lscpu" | "pwd" => &[],
        _ => &["data.txt"],
    }
}

/// Tokens that would make a read-only program run until the timeout
/// (following, repeating): dropped, so the budget goes to real lines.
fn hangs(prog: &str, tok: &str) -> bool {
    let cluster_has = |letters: &str| {
        tok.len() > 1
            && tok.starts_with('-')
            && !tok.starts_with("--")
            && tok[1..].chars().any(|c| letters.contains(c))
    };
    let abbreviates = |names: &[&str]| {
        let name = tok.split('=').next().unwrap_or(tok);
        tok.starts_with("--") && name.len() > 2 && names.iter().any(|n| n.starts_with(name))
    };
    let number = !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match prog {
        "tail" => cluster_has("fFs") || abbreviates(&["--follow", "--retry", "--sleep-interval"]),
        "journalctl" => cluster_has("f") || abbreviates(&["--follow"]),
        "dmesg" => cluster_has("wW") || abbreviates(&["--follow", "--follow-new"]),
        "ss" => cluster_has("E") || abbreviates(&["--events"]),
        "netstat" => cluster_has("c") || abbreviates(&["--continuous"]),
        "free" => cluster_has("sc") || abbreviates(&["--seconds", "--count"]),
        "lsof" => cluster_has("r") || tok.starts_with("+r"),
        "vmstat" | "iostat" | "mpstat" => number,
        "sleep" => number && !matches!(tok, "0" | "0.1" | ".2"),
        _ => false,
    }
}

/// Programs that look names up: without a network namespace they are not
/// run, so no lookup leaves the machine.
const RESOLVERS: &[&str] = &["getent", "host", "dig", "nslookup"];

/// Flags whose value is a server: it is always loopback.
#[rustfmt::skip]
const HOST_FLAGS: &[&str] = &[
    "-s", "--server", "-H", "--host", "--endpoints", "--discovery-srv", "--alertmanager.url",
    "--kube-apiserver",
];
#[rustfmt::skip]
const HOSTS: &[&str] = &[
    "127.0.0.1", "http://127.0.0.1:9", "tcp://127.0.0.1:9", "127.0.0.1:9",
];

/// A short flag's letter, if `f` is one (`-x`).
fn short_letter(f: &str) -> Option<char> {
    let mut cs = f.strip_prefix('-')?.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) if c != '-' => Some(c),
        _ => None,
    }
}

// --- The generator.

struct Gen<'g> {
    rng: Rng,
    g: &'g Grammar,
    /// The programs the current line names (for the statistics).
    picked: Vec<&'g str>,
}

impl Gen<'_> {
    /// Shell-equivalent spellings of a plain word: `'w'`, `"w"`, `w''ord`,
    /// `\w`, or a `\`-newline continuation inside it.
    fn respell(&mut self, w: &str) -> String {
        let plain = !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.=/:,+%@".contains(&b));
        if !plain || !self.rng.chance(12) {
            return w.to_owned();
        }
        let k = 1 + self.rng.below(w.len().max(2) - 1);
        let (a, b) = w.split_at(k.min(w.len()));
        match self.rng.below(5) {
            0 => format!("'{w}'"),
            1 => format!("\"{w}\""),
            2 => format!("{a}''{b}"),
            3 => format!("\\{w}"),
            _ => format!("{a}\\\n{b}"),
        }
    }

    fn value(&mut self) -> String {
        match self.rng.below(10) {
            0..=1 => self.rng.pick(PLANTED).to_string(),
            2..=3 => self.rng.pick(GLOBS).to_string(),
            _ => self.rng.pick(VALUES).to_string(),
        }
    }

    fn operand(&mut self, prog: &str) -> String {
        let extra = extras(prog);
        match self.rng.below(10) {
            0..=3 if !extra.is_empty() => self.rng.pick(extra).to_string(),
            0..=4 => self.rng.pick(OPERANDS).to_string(),
            5..=6 => self.rng.pick(GLOBS).to_string(),
            7..=8 => self.rng.pick(PLANTED).to_string(),
            _ => self.value(),
        }
    }

    /// One flag in one of its spellings, with `value` attached or after it.
    /// `cluster` holds letters that take no value, to pack around a short.
    fn spell_flag(&mut self, flag: &str, value: Option<String>, cluster: &[char]) -> Vec<String> {
        self.spell_flag_eq(flag, value, cluster, 50)
    }

    /// [`Gen::spell_flag`], writing `--flag=value` `eq` percent of the time.
    fn spell_flag_eq(
        &mut self,
        flag: &str,
        value: Option<String>,
        cluster: &[char],
        eq: u64,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(long) = flag.strip_prefix("--") {
            let name = match self.rng.below(10) {
                0..=1 if long.contains('-') => long.replace('-', "_"),
                2..=3 if long.len() > 1 => {
                    let n = 1 + self.rng.below(long.len() - 1);
                    long.chars().take(n).collect()
                }
                _ => long.to_owned(),
            };
            let dashes = if self.rng.chance(3) { "-" } else { "--" };
            let spelled = self.respell(&format!("{dashes}{name}"));
            match value {
                Some(v) if self.rng.chance(eq) && !spelled.contains('\n') => {
                    out.push(format!("{spelled}={v}"))
                }
                Some(v) => {
                    out.push(spelled);
                    out.push(v);
                }
                None => out.push(spelled),
            }
            return out;
        }
        let Some(c) = short_letter(flag) else {
            out.push(self.respell(flag));
            out.extend(value);
            return out;
        };
        let mut body = String::new();
        if !cluster.is_empty() && self.rng.chance(40) {
            for _ in 0..1 + self.rng.below(2) {
                body.push(*self.rng.pick(cluster));
            }
        }
        body.push(c);
        if !cluster.is_empty() && self.rng.chance(20) {
            // More letters after it: for a value-taking letter they are its
            // value (`-ol` is `-o l`), which the guard must read the same way.
            body.push(*self.rng.pick(cluster));
            out.push(self.respell(&format!("-{body}")));
            return out;
        }
        match value {
            Some(v) => match self.rng.below(4) {
                0 => out.push(format!("-{body}{v}")),
                1 if self.rng.chance(eq) => out.push(format!("-{body}={v}")),
                _ => {
                    out.push(self.respell(&format!("-{body}")));
                    out.push(v);
                }
            },
            None => out.push(self.respell(&format!("-{body}"))),
        }
        out
    }

    fn pick_prog(&mut self) -> usize {
        let mut n = self.rng.below(self.g.total_weight);
        for (i, p) in self.g.progs.iter().enumerate() {
            if n < p.weight {
                return i;
            }
            n -= p.weight;
        }
        0
    }

    /// A line: one command, a pipeline or list of two, or a shell form the
    /// lexer must refuse.
    fn line(&mut self) -> String {
        match self.rng.below(100) {
            0..=4 => self.shell_form(),
            5..=9 => format!("cat data.txt | {}", self.command(0)),
            10..=13 => {
                let sep = *self.rng.pick(&[" && ", "; ", " || ", "\n", " | "]);
                format!("{}{sep}{}", self.command(0), self.command(0))
            }
            _ => self.command(0),
        }
    }

    fn shell_form(&mut self) -> String {
        let c = self.command(1);
        #[rustfmt::skip]
        let forms = [
            format!("{c} > out"), format!("{c} >> out"), format!("{c} >| out"),
            format!("{c} <> out"), format!("{c} 3<>out"), format!("{c} >&out"),
            format!("{c} 2>out"), format!("{c} &"), format!("({c})"), format!("{{ {c}; }}"),
            format!("{c} $(canary)"), format!("{c} `canary`"), format!("{c} \"$(canary)\""),
            format!("{c} ${{HOME}}"), format!("{c} <<EOF\nx\nEOF"), format!("{c} {{a,b}}"),
            format!("PAGER=canary {c}"), format!("LC_ALL=C {c} 2>/dev/null"),
            format!("{c} # > out"), format!("{c} \\# > out"), format!("{c} </dev/null 2>&1"),
            "canary".to_owned(), "./canary".to_owned(), "if true; then canary; fi".to_owned(),
        ];
        self.rng.pick(&forms).clone()
    }

    fn command(&mut self, depth: usize) -> String {
        let g = self.g;
        let p = &g.progs[self.pick_prog()];
        self.picked.push(&p.name);
        let mut line = String::new();
        if depth == 0 && self.rng.chance(6) {
            let var = self.rng.pick(&self.g.safe_env).clone();
            line.push_str(&format!("{var}=C "));
        }
        let name = p.name.as_str();
        let shown = match self.rng.below(20) {
            0 if Path::new("/usr/bin").join(name).exists() => format!("/usr/bin/{name}"),
            1 if Path::new("/bin").join(name).exists() => format!("/bin/{name}"),
            2 if name != "[" => format!("'{name}'"),
            _ => name.to_owned(),
        };
        line.push_str(&shown);
        let args = match p.special.as_deref() {
            Some("awk") => self.awk(),
            Some("sed") => self.sed(),
            Some("find") => self.find(),
            Some("curl") => self.curl(),
            Some("psql") => self.psql(),
            Some("timeout") => self.timeout(depth),
            Some("ip") => self.ip(),
            Some("top") => self.top(),
            Some("env") => self.env(),
            Some("redis-cli") => self.redis(p),
            _ => self.table(p),
        };
        for a in args.iter().filter(|a| !hangs(name, a)) {
            line.push(' ');
            line.push_str(a);
        }
        if self.rng.chance(8) {
            let redir = *self
                .rng
                .pick(&[" 2>/dev/null", " </dev/null", " < data.txt", " 2>&1"]);
            line.push_str(redir);
        }
        line
    }

    /// Arguments from the program's table: flags before and after the
    /// subcommand, the subcommand (read-only, denied, or made up), operands.
    fn table(&mut self, p: &Prog) -> Vec<String> {
        let mut out = Vec::new();
        let cluster: Vec<char> = p
            .flags
            .iter()
            .filter(|f| !p.value_flags.contains(f))
            .filter_map(|f| short_letter(f))
            .chain("alvqnr".chars().filter(|_| p.flags.is_empty()))
            .collect();
        if !p.subs.is_empty() {
            for _ in 0..self.rng.below(3) {
                let f = self.pick_flag(p);
                out.extend(self.flag_tokens(p, &f, &cluster));
            }
            let sub: Vec<String> = match self.rng.below(20) {
                0..=13 => self.rng.pick(&p.subs).clone(),
                14..=16 if !p.deny_subs.is_empty() => self.rng.pick(&p.deny_subs).clone(),
                17..=18 => vec![self.rng.pick(PLANTED).to_string()],
                _ => Vec::new(),
            };
            for (k, w) in sub.iter().enumerate() {
                if k > 0 && self.rng.chance(20) {
                    let f = self.pick_flag(p);
                    out.extend(self.flag_tokens(p, &f, &cluster));
                }
                let w = if p.case_insensitive && self.rng.chance(50) {
                    w.to_lowercase()
                } else {
                    w.clone()
                };
                out.push(self.respell(&w));
            }
        }
        if !p.required.is_empty() && self.rng.chance(80) {
            let f = self.rng.pick(&p.required).clone();
            out.extend(self.flag_tokens(p, &f, &cluster));
        }
        for _ in 0..self.rng.below(5) {
            if self.rng.chance(55) {
                let f = self.pick_flag(p);
                out.extend(self.flag_tokens(p, &f, &cluster));
            } else {
                out.push(self.operand(&p.name));
            }
        }
        out
    }

    fn pick_flag(&mut self, p: &Prog) -> String {
        let r = self.rng.below(10);
        let list: &[String] = match r {
            0..=1 if !p.deny_flags.is_empty() => &p.deny_flags,
            0..=4 if !p.value_flags.is_empty() => &p.value_flags,
            0..=8 if !p.flags.is_empty() => &p.flags,
            _ => &[],
        };
        if list.is_empty() {
            return self.rng.pick(GENERIC_FLAGS).to_string();
        }
        self.rng.pick(list).clone()
    }

    fn flag_tokens(&mut self, p: &Prog, flag: &str, cluster: &[char]) -> Vec<String> {
        // A denied flag's arity is not in the table: try both.
        let takes = p.value_flags.iter().any(|f| f == flag)
            || (p.deny_flags.iter().any(|f| f == flag) && self.rng.chance(60));
        let value = takes.then(|| {
            if HOST_FLAGS.contains(&flag) {
                self.rng.pick(HOSTS).to_string()
            } else {
                self.value()
            }
        });
        self.spell_flag(flag, value, cluster)
    }

    // --- Programs with checkers in code.

    /// Mostly `safe` pieces, a `risky` one `pct` percent of the time: lines
    /// that pile up refusable pieces are refused, and never run.
    fn mix(&mut self, safe: &[&'static str], risky: &[&'static str], pct: u64) -> &'static str {
        if self.rng.chance(pct) {
            self.rng.word(risky)
        } else {
            self.rng.word(safe)
        }
    }

    fn awk(&mut self) -> Vec<String> {
        #[rustfmt::skip]
        const OPTS: &[&str] = &[
            "-F,", "-F :", "-F 'de*'", "-F'\\t'", "-v x=1", "-vx=1", "-v out=pwned", "--",
        ];
        #[rustfmt::skip]
        const RISKY: &[&str] = &[
            "-f prog.awk", "-fprog.awk", "--file=prog.awk", "--fi prog.awk", "-W exec", "-Wi",
            "-W interactive", "-b", "-P", "--sandbox", "-e 'BEGIN { print 1 }'",
            "--source='BEGIN { print 1 > \"pwned\" }'", "--dump-variables", "--profile=out",
            "-v", "-vF", "-", "--assign=x=1", "--assign x=1", "--field-separator=:", "--posix",
        ];
        let mut out = Vec::new();
        for _ in 0..self.rng.below(3) {
            out.push(self.mix(OPTS, RISKY, 15).to_owned());
        }
        out.push(format!("'{}'", self.awk_program()));
        for _ in 0..self.rng.below(3) {
            let o = match self.rng.below(5) {
                0 => self
                    .mix(&["x=1", "out=pwned", "-"], &["/inet/tcp/0/127.0.0.1/9"], 10)
                    .to_owned(),
                1 => return out,
                2 => self.operand("awk"),
                _ => "data.txt".to_owned(),
            };
            out.push(o);
        }
        out
    }

    fn awk_program(&mut self) -> String {
        #[rustfmt::skip]
        const PATTERNS: &[&str] = &[
            "", "", "", "BEGIN ", "BEGIN ", "END ", "NR==1 ", "/a/ ", "/>/ ", "/\"/ ", "/\\// ",
            "$1 ~ /b/ ", "!/x/ ", "NR > 1 ", "NR % 2 ", "$0 ~ \"a\" ", "/a/,/c/ ",
        ];
        #[rustfmt::skip]
        const SAFE: &[&str] = &[
            "print", "print $0", "print $1, NR", "printf \"%s\\n\", $1", "n++", "x = 4 / 2",
            "x = NR / 2; print x", "print (1 > 2)", "print (\"a\" > \"b\")", "print \">\"",
            "print \"a>b|c\"", "print \"\\\">\"", "gsub(/a/, \"b\"); print",
            "while ((getline l < \"data.txt\") > 0) n++", "getline l < \"data.txt\"",
            "print length($0)", "print > \"/dev/stdout\"", "print > \"/dev/stderr\"",
            "if ($1 ~ /a/) print", "split($0, a, \":\"); print a[1]", "print ENVIRON[\"HOME\"]",
            "x = \"a\\\nb\"; print x", "print \"x\",\n \"y\"", "print \"x\" \\\n \"y\"",
            "a[$1]++", "for (k in a) print k", "print substr($0, 2) # > \"out\"",
            "print /a/ ? \"y\" : \"n\"", "x = 1; x /= 2; print x", "print -1 > -2 ? 1 : 0",
            "printf(\"%d\\n\", 1 > 0)",
        ];
        #[rustfmt::skip]
        const WRITES: &[&str] = &[
            "print > \"out\"", "print >> \"out\"", "print >\"pwned\"", "print>\"pwned\"",
            "printf \"x\" > \"out\"", "printf(\"%s\\n\", $0) >> \"out\"",
            "print \"x\", \"y\" > \"f\"", "print \"x\",\n \"y\" > \"f\"",
            "print \"x\" \\\n > \"f\"", "print 1 > 2", "print $1 > $2", "f = \"out\"; print > f",
            "print > ARGV[1]", "print > \"sub/\" \"x\"", "print | \"canary\"", "print | \"cat\"",
            "\"canary\" | getline", "\"canary\" | getline x", "system(\"canary\")", "system(\"\")",
            "print 4 / 2 > \"out\"", "print (1)/2 > \"out\"", "print \"a\" > \"de\" \"lete\"",
            "print > \"-rf\"", "print > \"~/x\"", "print > ENVIRON[\"HOME\"] \"/x\"",
            "fflush(); print > out", "printf \"%s\", $0 | \"sort -o out\"",
            "print \"\\\"\" > \"out\"", "print /\"/ > \"out\"", "print 1 /2/ 1 > \"out\"",
            "close(\"out\")", "print $1 >$2", "getline < \"data.txt\"; print > \"out\"",
        ];
        #[rustfmt::skip]
        const JOIN: &[&str] = &[
            "; ", "\n", ";\n  ", " \\\n ", "\n# note > \"x\"\n", "\n# note \\\n", "; # \"\n",
        ];
        // Where awk continues a statement past a newline, so a redirection
        // on the next line belongs to the print above it.
        #[rustfmt::skip]
        const CONTINUED: &[&str] = &[
            "print \"x\",\n \"y\" > \"f\"", "print \"x\" \\\n > \"f\"",
            "printf \"%s\",\n $0 > \"f\"", "print \"x\",\n\n \"y\" > \"f\"",
            "print \"x\", # c\n \"y\" > \"f\"", "print \\\n > \"f\"", "print \"x\" ||\n 1 > \"f\"",
            "print \"x\" &&\n 1 > \"f\"", "print 1 ?\n 2 : 3 > \"f\"",
            "print \"x\",\n \"y\" | \"canary\"", "x = 1 +\n 2; print x > \"f\"",
            "print (\"x\",\n \"y\") > \"f\"", "print \"x\" ,\\\n \"y\" >> \"f\"",
        ];
        let mut prog = String::new();
        for r in 0..1 + self.rng.below(2) {
            if r > 0 {
                prog.push_str(self.rng.word(&["\n", " ", "; "]));
            }
            let pattern = *self.rng.pick(PATTERNS);
            prog.push_str(pattern);
            if !pattern.is_empty() && !pattern.ends_with("N ") && self.rng.chance(15) {
                continue;
            }
            prog.push_str("{ ");
            for s in 0..1 + self.rng.below(3) {
                if s > 0 {
                    prog.push_str(self.rng.word(JOIN));
                }
                let stmt = if self.rng.chance(10) {
                    self.rng.word(CONTINUED)
                } else {
                    self.mix(SAFE, WRITES, 25)
                };
                prog.push_str(stmt);
            }
            prog.push_str(" }");
        }
        prog
    }

    fn sed(&mut self) -> Vec<String> {
        #[rustfmt::skip]
        const OPTS: &[&str] = &[
            "-n", "-E", "-r", "-s", "-u", "-z", "-nE", "-ns", "--posix", "--debug", "--sandbox",
            "-l 5", "-l5", "--line-length=5", "--line-length 5", "--follow-symlinks",
            "--separate", "--quiet", "--silent", "--regexp-extended", "--null-data", "--",
        ];
        #[rustfmt::skip]
        const RISKY: &[&str] = &[
            "-i", "-i.bak", "-ni", "-Ei", "-si", "-nl1i", "--in-place", "--in-pl",
            "--in-place=.bak", "--i", "-f script.sed", "-fscript.sed", "--file=script.sed",
            "--fi=script.sed", "-c", "-l", "--line-length", "-s -i", "-e", "--expression",
        ];
        let mut out = Vec::new();
        for _ in 0..self.rng.below(3) {
            out.push(self.mix(OPTS, RISKY, 15).to_owned());
        }
        match self.rng.below(10) {
            0..=5 => out.push(format!("'{}'", self.sed_script())),
            6..=7 => {
                for _ in 0..1 + self.rng.below(2) {
                    let e = *self
                        .rng
                        .pick(&["-e", "--expression", "-ne", "-n -e", "--expr"]);
                    let s = self.sed_script();
                    if e.starts_with("--") && self.rng.chance(50) {
                        out.push(format!("{e}='{s}'"));
                    } else {
                        out.push(e.to_owned());
                        out.push(format!("'{s}'"));
                    }
                }
            }
            _ => {
                let s = self.sed_script();
                out.push(format!("-e'{s}'"));
            }
        }
        for _ in 0..self.rng.below(3) {
            let o = if self.rng.chance(60) {
                "data.txt".to_owned()
            } else {
                self.operand("sed")
            };
            out.push(o);
        }
        if self.rng.chance(4) {
            out.push(self.rng.pick(&["-i", "-n", "-s", "--in-place"]).to_string());
        }
        out
    }

    fn sed_script(&mut self) -> String {
        #[rustfmt::skip]
        const ADDR: &[&str] = &[
            "", "", "", "", "1", "$", "/a/", "1,2", "0~2", "/a/I", "1!", "2,$", "$!", "/:/,/c/",
            "/\\//", "/a\\|b/",
        ];
        #[rustfmt::skip]
        const SAFE: &[&str] = &[
            "p", "d", "=", "l", "n", "N", "q", "Q", "h;G", "x", "z", "F", "s/a/b/", "s/a/b/g",
            "s|a|b|", "s/b/x/2", "s/:/ /gp", "y/ab/ba/", "{p}", "{p;p}", ":a", "ba", "t", "T",
            "s/a/\\n/", "s/a/b/I", "l 5", "#c", "s/w/x/", "s/a/w/", "y/w/x/", "s/a/\\/w/",
            "s/a/b/gp", "s,a,b,", "s a b ", "{\np\n}", "s/\\//w/", "l;l", "q5",
        ];
        #[rustfmt::skip]
        const RISKY: &[&str] = &[
            "w out", "w pwned", "W out", "s/a/b/w out", "s/a/b/gw out", "s/a/b/pw out",
            "s/./x/w ./out", "e canary", "e", "s/.*/canary/e", "s/a/b/;w out", "y/a/b/;w out",
            "{w out\n}", "s,a,b,w out", "s/[/]/x/w out", "s/a/\\//w out", "a x\\\nw out",
            "w /dev/stdout", "s/a/b/w /dev/stdout", "W /dev/stderr", "w\tout", "w  -rf",
            "s/a/b/w ~/x", "s/a/b/ew out", "s/x/y/3w out", "r data.txt\nw out", "r data.txt",
            "R data.txt", "a text", "i text", "c text", "a\\\ntext", "a\\", "s/[/]/x/", "v",
            "#n", "\\%a%p", "s a b w out", "s/a/b/#\nw out", "s/a/b/ ; w out", "y,a,b,;w out",
            "s/a/b/w", "}", "{",
        ];
        const JOIN: &[&str] = &[";", "\n", " ; ", "\n\n", ";\n"];
        let mut s = String::new();
        for k in 0..1 + self.rng.below(3) {
            if k > 0 {
                s.push_str(self.rng.word(JOIN));
            }
            s.push_str(self.rng.word(ADDR));
            s.push_str(self.mix(SAFE, RISKY, 20));
        }
        s
    }

    fn find(&mut self) -> Vec<String> {
        const PRE: &[&str] = &["-H", "-L", "-P", "-O2", "-D exec", "-D tree"];
        #[rustfmt::skip]
        const PATHS: &[&str] = &[
            ".", "./", "sub", "de*", "..", "./-*", "--", "../home", "d?t*", "-delete", "\\!",
        ];
        #[rustfmt::skip]
        const EXPR: &[&str] = &[
            "-name 'd*'", "-name de*", "-iname '*.TXT'", "-type f", "-type d", "-maxdepth 1",
            "-mindepth 1", "-newer data.txt", "-empty", "-size -1k", "-print", "-print0",
            "-printf '%p\\n'", "-ls", "-prune", "-quit", "-o", "-a", "!", "\\(", "\\)",
            "-regex '.*'", "-path './s*'", "-true", "-false", "-readable", "-writable",
            "-files0-from names0", "-name -delete", "-name '-exec'", "-printf -delete",
            "-newer -rf", "-name \\;",
        ];
        #[rustfmt::skip]
        const RISKY: &[&str] = &[
            "-delete", "-exec canary {} \\;", "-exec canary {} +", "-execdir canary {} \\;",
            "-ok canary {} \\;", "-okdir canary \\;", "-fprint out", "-fprint0 out", "-fls out",
            "-fprintf out '%p'", "-exec sed -i s/a/b/ {} +", "-D", "--delete", "-exec",
        ];
        let mut out = Vec::new();
        if self.rng.chance(15) {
            out.push(self.rng.pick(PRE).to_string());
        }
        for _ in 0..self.rng.below(3) {
            out.push(self.mix(PATHS, &["*", "[-]delete", "?"], 5).to_owned());
        }
        for _ in 0..self.rng.below(5) {
            let e = self.mix(EXPR, RISKY, 15);
            // Respell only the primary, not its arguments.
            let (head, rest) = e.split_once(' ').unwrap_or((e, ""));
            let head = self.respell(head);
            out.push(if rest.is_empty() {
                head
            } else {
                format!("{head} {rest}")
            });
        }
        out
    }

    fn curl(&mut self) -> Vec<String> {
        // (flag, what its value is): b bool, v plain, s sink, x method,
        // w write-out, h header, u url.
        #[rustfmt::skip]
        const OPTS: &[(&str, char)] = &[
            ("-s", 'b'), ("-S", 'b'), ("-f", 'b'), ("-L", 'b'), ("-I", 'b'), ("-i", 'b'),
            ("-v", 'b'), ("-k", 'b'), ("-q", 'b'), ("-g", 'b'), ("-N", 'b'), ("--silent", 'b'),
            ("--fail", 'b'), ("--compressed", 'b'), ("--no-progress-meter", 'b'),
            ("--disable", 'b'), ("--globoff", 'b'), ("-m", 'v'), ("--max-time", 'v'),
            ("--connect-timeout", 'v'), ("-A", 'v'), ("-u", 'v'), ("-e", 'v'), ("-x", 'v'),
            ("-r", 'v'), ("--resolve", 'v'), ("--unix-socket", 'v'), ("-H", 'h'),
            ("--header", 'h'), ("-X", 'x'), ("--request", 'x'), ("--url", 'u'), ("-o", 's'),
            ("--output", 's'), ("-D", 's'), ("--dump-header", 's'), ("--trace", 's'),
            ("--trace-ascii", 's'), ("-w", 'w'), ("--write-out", 'w'),
        ];
        #[rustfmt::skip]
        const RISKY: &[(&str, char)] = &[
            ("-O", 'b'), ("--remote-name", 'b'), ("--remote-name-all", 'b'), ("-J", 'b'),
            ("--create-dirs", 'b'), ("--output-dir", 's'), ("-c", 's'), ("--cookie-jar", 's'),
            ("-K", 'v'), ("--config", 'v'), ("--stderr", 's'), ("--libcurl", 's'),
            ("--hsts", 's'), ("--alt-svc", 's'), ("--etag-save", 's'), ("-d", 'v'),
            ("--data", 'v'), ("-T", 'v'), ("--upload-file", 'v'), ("--json", 'v'), ("-b", 'v'),
            ("--libc", 's'), ("--stder", 's'), ("--trace-a", 's'), ("--dump", 's'),
            ("--cookie-j", 's'), ("--etag-s", 's'), ("--alt", 's'), ("--hst", 's'),
        ];
        #[rustfmt::skip]
        const URLS: &[&str] = &[
            "http://127.0.0.1:9/", "127.0.0.1:9", "http://127.0.0.1:9/pwned",
            "https://127.0.0.1:9/", "'http://127.0.0.1:9/[1-2]'", "HTTP://127.0.0.1:9/",
            "http://127.0.0.1:9/?a=b#c", "127.0.0.1:9/x",
        ];
        #[rustfmt::skip]
        const RISKY_URLS: &[&str] = &[
            "'http://127.0.0.1:9/{a,b}'", "file:///etc/hostname", "dict://127.0.0.1:9/",
            "http://127.0.0.1:9/de*", "-", "file:data.txt", "'[f-h]ttp://127.0.0.1:9/'",
        ];
        let mut out = Vec::new();
        let cluster = ['s', 'S', 'f', 'L', 'v', 'k'];
        for _ in 0..1 + self.rng.below(4) {
            let (flag, kind) = if self.rng.chance(15) {
                *self.rng.pick(RISKY)
            } else {
                *self.rng.pick(OPTS)
            };
            let value = match kind {
                'b' => None,
                's' => Some(self.mix(&["-", "/dev/null", "'-'"], &["out", "./out", "sub/x"], 30)),
                'x' => Some(self.mix(&["GET", "HEAD"], &["POST", "DELETE", "get"], 20)),
                'w' => Some(self.mix(
                    &["'%{http_code}'", "'%{stderr}x'", "'%{json}'"],
                    &["@data.txt", "'%output{out}x'", "'%OUTPUT{out}'"],
                    20,
                )),
                'h' => Some(self.mix(&["'X: y'", "Accept:x"], &["@data.txt", "@-"], 15)),
                'u' => Some(self.mix(URLS, RISKY_URLS, 20)),
                _ => Some(*self.rng.pick(&["1", "data.txt", "curlrc", "127.0.0.1"])),
            };
            let value = value.map(str::to_owned);
            // curl takes no `--flag=value`.
            let eq = if self.rng.chance(5) { 50 } else { 0 };
            out.extend(self.spell_flag_eq(flag, value, &cluster, eq));
        }
        out.push(self.mix(URLS, RISKY_URLS, 15).to_owned());
        out
    }

    fn psql(&mut self) -> Vec<String> {
        const OPTS: &[(&str, &[&str])] = &[
            ("-X", &[]),
            ("-A", &[]),
            ("-t", &[]),
            ("-q", &[]),
            ("-x", &[]),
            ("-w", &[]),
            ("--no-psqlrc", &[]),
            ("--csv", &[]),
            ("-h", &["127.0.0.1"]),
            ("--host", &["127.0.0.1"]),
            ("-p", &["9"]),
            ("-U", &["nobody"]),
            (
                "-d",
                &[
                    "postgresql://127.0.0.1:9/x",
                    "'host=127.0.0.1 options=-csearch_path=x'",
                ],
            ),
            ("-v", &["x=1", "ON_ERROR_STOP=1"]),
            ("--set", &["x=1"]),
            ("-P", &["pager=always", "format=csv"]),
            ("--pset", &["pager=always"]),
            ("-F", &[","]),
            ("-R", &["x"]),
            ("-o", &["out", "/dev/null", "'|canary'"]),
            ("--output", &["out"]),
            ("-L", &["out"]),
            ("--log-file", &["out"]),
            ("-f", &["script.sed"]),
            ("--file", &["script.sed"]),
        ];
        #[rustfmt::skip]
        const SQL: &[&str] = &[
            "'select 1'", "'SELECT now()'", "'select 1; delete from t'", "'\\o out'",
            "'\\! canary'", "'copy t to stdout'", "'show all'", "'explain select 1'",
            "'with x as (select 1) select * from x'", "'table t'", "'values (1)'",
            "'select 1 \\g out'",
        ];
        let mut out = Vec::new();
        let cluster = ['X', 'A', 't', 'q', 'x'];
        for _ in 0..self.rng.below(4) {
            let (flag, values) = *self.rng.pick(OPTS);
            let value = (!values.is_empty()).then(|| self.rng.pick(values).to_string());
            out.extend(self.spell_flag(flag, value, &cluster));
        }
        if self.rng.chance(85) {
            let c = *self.rng.pick(&["-c", "--command", "-Xc"]);
            let sql = self.rng.pick(SQL).to_string();
            out.extend(self.spell_flag(c, Some(sql), &cluster));
        }
        if self.rng.chance(20) {
            out.push(
                self.rng
                    .pick(&["x", "postgresql://127.0.0.1:9/x", "de*"])
                    .to_string(),
            );
        }
        out
    }

    fn timeout(&mut self, depth: usize) -> Vec<String> {
        #[rustfmt::skip]
        const OPTS: &[&str] = &[
            "-v", "--verbose", "--preserve-status", "--foreground", "-k 1", "-k1",
            "--kill-after=1", "-s KILL", "-sKILL", "--signal=TERM", "--sig=9", "--kill",
        ];
        let mut out = Vec::new();
        for _ in 0..self.rng.below(2) {
            out.push(self.rng.pick(OPTS).to_string());
        }
        out.push(self.rng.pick(&["0.5", "1", "1s", "2"]).to_string());
        if depth < 2 {
            out.push(self.command(depth + 1));
        } else {
            out.push("true".to_owned());
        }
        out
    }

    fn ip(&mut self) -> Vec<String> {
        #[rustfmt::skip]
        const OPTS: &[&str] = &[
            "-s", "-d", "-br", "-j", "-p", "-4", "-6", "-c", "-o", "-h", "-r", "-b data.txt",
            "-batch data.txt", "-force", "-n x", "-netns x", "-all",
        ];
        #[rustfmt::skip]
        const OBJ: &[&str] = &[
            "a", "addr", "address", "l", "link", "r", "route", "n", "neigh", "monitor", "netns",
            "rule",
        ];
        #[rustfmt::skip]
        const VERB: &[&str] = &[
            "", "show", "list", "lst", "get 127.0.0.1", "add 127.0.0.2/8 dev lo", "set lo down",
            "flush dev lo", "del default", "save", "help",
        ];
        let mut out = Vec::new();
        for _ in 0..self.rng.below(3) {
            out.push(self.rng.pick(OPTS).to_string());
        }
        out.push(self.rng.pick(OBJ).to_string());
        let verb = *self.rng.pick(VERB);
        if !verb.is_empty() {
            out.push(verb.to_owned());
        }
        out
    }

    fn top(&mut self) -> Vec<String> {
        #[rustfmt::skip]
        const OPTS: &[&str] = &[
            "-c", "-H", "-i", "-S", "-s", "-1", "-w 200", "-p 1", "-u nobody", "-o %CPU", "-E m",
            "-e k", "-O", "-d 0.1", "-bc",
        ];
        let mut out = vec![self
            .rng
            .pick(&["-b", "-bn1", "-b -n 1", "-bn 1", "-n1 -b"])
            .to_string()];
        out.push("-n 1".to_owned());
        for _ in 0..self.rng.below(3) {
            out.push(self.rng.pick(OPTS).to_string());
        }
        out
    }

    fn env(&mut self) -> Vec<String> {
        #[rustfmt::skip]
        let forms = [
            "", "-i", "canary", "-i canary", "X=1 canary", "-u HOME", "-S canary", "--", "-0",
        ];
        let f = *self.rng.pick(&forms);
        if f.is_empty() {
            Vec::new()
        } else {
            vec![f.to_owned()]
        }
    }

    fn redis(&mut self, p: &Prog) -> Vec<String> {
        #[rustfmt::skip]
        const OPTS: &[&str] = &[
            "-h 127.0.0.1", "-p 9", "--raw", "--rdb out", "--pipe", "-x", "--eval prog.awk",
            "--scan", "--bigkeys", "-n 0",
        ];
        let mut out = Vec::new();
        for _ in 0..self.rng.below(3) {
            out.push(self.rng.pick(OPTS).to_string());
        }
        out.extend(self.table(p));
        out
    }
}

// --- The throwaway tree and the sandboxed run.

/// `printf 'a b\n' | gzip -9n`
#[rustfmt::skip]
const DATA_GZ: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0x54, 0x48, 0xe2, 0x02, 0x00,
    0xa1, 0xe9, 0x8d, 0x2d, 0x04, 0x00, 0x00, 0x00,
];
/// `printf 'a b\n' | xz -9 --check=crc32`
#[rustfmt::skip]
const DATA_XZ: &[u8] = &[
    0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01, 0x69, 0x22, 0xde, 0x36, 0x02, 0x00, 0x21, 0x01,
    0x1c, 0x00, 0x00, 0x00, 0x10, 0xcf, 0x58, 0xcc, 0x01, 0x00, 0x03, 0x61, 0x20, 0x62, 0x0a, 0x00,
    0xa1, 0xe9, 0x8d, 0x2d, 0x00, 0x01, 0x18, 0x04, 0x6b, 0xe9, 0xf0, 0xa5, 0x90, 0x42, 0x99, 0x0d,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x59, 0x5a,
];

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    \
                          server: https://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    \
                          cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  \
                          user:\n    token: x\n";

/// How the child is confined besides Landlock.
#[derive(Clone, Copy)]
struct Isolation {
    /// Run as nobody (when the test runs as root).
    drop_to: Option<u32>,
    /// A new, empty network namespace.
    netns: bool,
}

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn new(iso: Isolation) -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("guard-diff-")
            .tempdir()
            .expect("a temp dir");
        let t = dir.path();
        // procps `top` makes its (empty) config directory when it is
        // missing, even in batch mode; in a real run Landlock refuses that
        // mkdir and top carries on. It is there already, so it is no finding.
        for d in [
            "work",
            "work/sub",
            "home",
            "home/.config",
            "home/.config/procps",
            "tmp",
            "bin",
        ] {
            std::fs::create_dir(t.join(d)).unwrap();
        }
        let w = t.join("work");
        let files: &[(&str, &[u8])] = &[
            ("data.txt", b"b:2,x\na:1,y\nc:3,z\na:1,y\n"),
            ("data.csv", b"k,v\na,1\n"),
            ("data.json", b"{\"a\":1,\"b\":[1,2]}\n"),
            ("data.gz", DATA_GZ),
            ("data.xz", DATA_XZ),
            ("names0", b"data.txt\0"),
            ("script.sed", b"w pwned\n"),
            ("prog.awk", b"BEGIN { print \"x\" > \"pwned\" }\n"),
            ("magic", b"0\tstring\tb:2\tplanted data\n"),
            ("curlrc", b"output = \"pwned\"\n"),
            ("kubeconfig", KUBECONFIG.as_bytes()),
            ("sub/inner.txt", b"inner\n"),
        ];
        for (name, body) in files {
            std::fs::write(w.join(name), body).unwrap();
        }
        for name in PLANTED {
            std::fs::write(w.join(name), b"planted\n").unwrap();
        }
        std::os::unix::fs::symlink("data.txt", w.join("link")).unwrap();
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> '{}'\n",
            t.join(CANARY_RAN).display()
        );
        for name in CANARY_NAMES {
            let p = t.join("bin").join(name);
            std::fs::write(&p, &script).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if let Some(uid) = iso.drop_to {
            chown_tree(t, uid);
        }
        Tree { dir }
    }
}

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if p.symlink_metadata().unwrap().is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

/// What a snapshot records of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    kind: char,
    size: u64,
    mode: u32,
    uid: u32,
    nlink: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    target: Option<PathBuf>,
}

/// Everything under T except TMPDIR (which commands may use) and the
/// canary's file (checked on its own).
/// A configured gcloud directory, outside every case's writable tree.
fn gcloud_config() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(dir.path().join("configurations")).unwrap();
        std::fs::write(dir.path().join("active_config"), "default").unwrap();
        std::fs::write(dir.path().join("configurations/config_default"), "").unwrap();
        dir
    })
    .path()
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Meta> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Meta>) {
        let p = root.join(rel);
        let Ok(m) = p.symlink_metadata() else { return };
        let kind = if m.is_dir() {
            'd'
        } else if m.file_type().is_symlink() {
            'l'
        } else if m.is_file() {
            'f'
        } else {
            '?'
        };
        out.insert(
            rel.to_path_buf(),
            Meta {
                kind,
                size: if kind == 'd' { 0 } else { m.len() },
                mode: m.mode(),
                uid: m.uid(),
                nlink: m.nlink(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
                target: std::fs::read_link(&p).ok(),
            },
        );
        if kind == 'd' {
            let mut names: Vec<_> = std::fs::read_dir(&p)
                .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
                .unwrap_or_default();
            names.sort();
            for n in names {
                let child = rel.join(&n);
                if child == Path::new("tmp") || child == Path::new(CANARY_RAN) {
                    continue;
                }
                walk(root, &child, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn describe(p: &Path) -> String {
    if p.as_os_str().is_empty() {
        "T/".into()
    } else {
        format!("T/{}", p.display())
    }
}

fn changes(before: &BTreeMap<PathBuf, Meta>, after: &BTreeMap<PathBuf, Meta>) -> Vec<String> {
    let mut out = Vec::new();
    for (p, a) in after {
        match before.get(p) {
            None => out.push(format!(
                "created {} ({}, {} bytes)",
                describe(p),
                a.kind,
                a.size
            )),
            Some(b) if b != a => {
                let mut what = Vec::new();
                if b.kind != a.kind {
                    what.push(format!("kind {}->{}", b.kind, a.kind));
                }
                if b.size != a.size {
                    what.push(format!("size {}->{}", b.size, a.size));
                }
                if b.mode != a.mode {
                    what.push(format!("mode {:o}->{:o}", b.mode, a.mode));
                }
                if b.uid != a.uid {
                    what.push("owner".into());
                }
                if b.nlink != a.nlink {
                    what.push(format!("links {}->{}", b.nlink, a.nlink));
                }
                if b.target != a.target {
                    what.push("symlink target".into());
                }
                if b.mtime != a.mtime {
                    what.push(if a.kind == 'd' {
                        "mtime (an entry was created or removed)".into()
                    } else {
                        "mtime (written)".into()
                    });
                } else if b.ctime != a.ctime {
                    what.push("ctime".into());
                }
                out.push(format!("changed {}: {}", describe(p), what.join(", ")));
            }
            Some(_) => {}
        }
    }
    for p in before.keys().filter(|p| !after.contains_key(*p)) {
        out.push(format!("removed {}", describe(p)));
    }
    out
}

/// What one run did.
struct Ran {
    changes: Vec<String>,
    canary: Option<String>,
    /// Exit code, `signal N`, or `timeout`.
    status: String,
    timed_out: bool,
    not_found: bool,
    stderr: String,
}

impl Ran {
    fn failed(&self) -> bool {
        !self.changes.is_empty() || self.canary.is_some()
    }
}

fn session_members(sid: i32) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    // After "pid (comm)": state ppid pgrp session.
                    let rest = &s[s.rfind(')')? + 1..];
                    rest.split_whitespace().nth(3)?.parse::<i32>().ok()
                })
                == Some(sid)
        })
        .collect()
}

/// SIGKILLs the line's process group and whatever is left in its session
/// (a process may have moved to a group of its own, as `timeout` does).
fn kill_session(sid: i32) {
    // SAFETY: only sends signals to the session this run created (setsid
    // made its id the shell's pid).
    unsafe {
        libc::killpg(sid, libc::SIGKILL);
    }
    for pid in session_members(sid) {
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

fn read_head(path: &Path, n: usize) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(n as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).replace('\n', "⏎")
}

/// Runs `line` with `sh -c` in a fresh tree, confined, and says what changed.
fn run(line: &str, iso: Isolation, logs: &Path, timeout: Duration) -> Ran {
    let tree = Tree::new(iso);
    let t = tree.root();
    let before = snapshot(t);
    let bin = t.join("bin");
    let exec_dirs: Vec<PathBuf> = SYSTEM_EXEC_DIRS
        .iter()
        .filter_map(|d| Path::new(d).canonicalize().ok())
        .chain([bin.canonicalize().unwrap()])
        .collect();
    let mut ruleset = Some(confine(&exec_dirs, &[t]).expect("a Landlock ruleset"));
    let canary = bin.join("canary");
    let (out_path, err_path) = (logs.join("stdout"), logs.join("stderr"));
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(line)
        .current_dir(t.join("work"))
        .env_clear()
        .env("HOME", t.join("home"))
        .env("TMPDIR", t.join("tmp"))
        .env("PATH", format!("{}:{SYSTEM_PATH}", bin.display()))
        .env("LC_ALL", "C")
        .env("TERM", "dumb")
        .env("USER", "nobody")
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", t.join("tmp").display()),
        )
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "9")
        .env("PGCONNECT_TIMEOUT", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    for (k, v) in scratch_env(&t.join("tmp")) {
        cmd.env(k, v);
    }
    // gcloud keeps its own state (the active configuration, caches, a
    // survey stamp) in its configuration directory, even to list things.
    // As on a configured machine, that directory exists and, outside what
    // the run may write, Landlock refuses those writes; gcloud carries on.
    cmd.env("CLOUDSDK_CONFIG", gcloud_config());
    for var in [
        "PAGER",
        "MANPAGER",
        "SYSTEMD_PAGER",
        "PSQL_PAGER",
        "GIT_PAGER",
        "EDITOR",
        "VISUAL",
        "KUBE_EDITOR",
        "SYSTEMD_EDITOR",
        "KUBECTL_EXTERNAL_DIFF",
        "BROWSER",
        "SHELL",
    ] {
        cmd.env(var, &canary);
    }
    // SAFETY: only system calls between fork and exec; nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if iso.netns && libc::unshare(libc::CLONE_NEWNET) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            let fsize = libc::rlimit {
                rlim_cur: 8 << 20,
                rlim_max: 8 << 20,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &fsize);
            if let Some(uid) = iso.drop_to {
                let nproc = libc::rlimit {
                    rlim_cur: 256,
                    rlim_max: 256,
                };
                libc::setrlimit(libc::RLIMIT_NPROC, &nproc);
                if libc::setgroups(0, std::ptr::null()) == -1
                    || libc::setgid(uid) == -1
                    || libc::setuid(uid) == -1
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After setuid, which clears it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            match ruleset.take() {
                Some(r) => confine_child(Some(r)),
                None => Err(std::io::Error::from_raw_os_error(libc::EPERM)),
            }
        });
    }
    let mut child = cmd.spawn().expect("spawn sh");
    let sid = child.id() as i32;
    let start = Instant::now();
    let mut nap = Duration::from_millis(1);
    let (exit, timed_out) = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break (st, false);
        }
        if start.elapsed() > timeout {
            kill_session(sid);
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    // Anything the line left running must not write after the snapshot.
    kill_session(sid);
    let after = snapshot(t);
    let canary_ran = std::fs::read_to_string(t.join(CANARY_RAN))
        .ok()
        .map(|s| s.trim().replace('\n', "; "));
    let status = if timed_out {
        "timeout".to_owned()
    } else if let Some(c) = exit.code() {
        format!("exit {c}")
    } else {
        format!("signal {}", exit.signal().unwrap_or(0))
    };
    Ran {
        changes: changes(&before, &after),
        canary: canary_ran,
        status,
        timed_out,
        not_found: exit.code() == Some(127),
        stderr: read_head(&err_path, 240),
    }
}

/// Whether the child can get a network namespace of its own.
fn netns_works() -> bool {
    let mut cmd = Command::new("/bin/true");
    // SAFETY: one system call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNET) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.status().is_ok_and(|s| s.success())
}

/// The harness sees what it must: a write in the work directory or HOME,
/// the canary; and nothing for a read. Writes outside T stay blocked.
fn self_test(iso: Isolation, logs: &Path) {
    let quick = Duration::from_secs(5);
    let r = run(
        "cat data.txt; ls -la; sort data.txt; awk '{ print }' data.txt",
        iso,
        logs,
        quick,
    );
    assert!(
        !r.failed() && r.status == "exit 0",
        "a read looked like a write: {:?} {:?} {} {}",
        r.changes,
        r.canary,
        r.status,
        r.stderr
    );
    for (line, what) in [
        ("echo x > probe", "T/work/probe"),
        ("echo x >> data.txt", "T/work/data.txt"),
        ("echo x > ~/probe", "T/home/probe"),
        ("sort -o out data.txt", "T/work/out"),
        ("sed -i s/a/b/ data.txt", "T/work"),
    ] {
        let r = run(line, iso, logs, quick);
        assert!(
            r.changes.iter().any(|c| c.contains(what)),
            "the harness missed {line:?}: {:?} {} {}",
            r.changes,
            r.status,
            r.stderr
        );
    }
    let r = run("less data.txt; kubectl canary", iso, logs, quick);
    let ran = r.canary.unwrap_or_default();
    assert!(
        ran.contains("less") && ran.contains("kubectl-canary"),
        "the canary did not run: {ran:?} {}",
        r.stderr
    );
    let outside = logs.join("escaped");
    let r = run(
        &format!("echo x > '{}'", outside.display()),
        iso,
        logs,
        quick,
    );
    assert!(
        !outside.exists(),
        "a write outside T got through: {}",
        r.status
    );
    let start = Instant::now();
    let r = run("sleep 30", iso, logs, Duration::from_millis(200));
    assert!(r.timed_out && start.elapsed() < Duration::from_secs(5));
}

/// The generator can find a hole: with a copy of the allowlist that lost
/// some entries, lines only that copy allows do write, and are caught.
fn mutation_check(g: &Grammar, iso: Isolation, logs: &Path) -> String {
    let mut doc: Value = serde_yaml::from_str(DEFAULT_ALLOWLIST).unwrap();
    for (prog, key) in [
        ("sort", "deny_flags"),
        ("file", "deny_flags"),
        ("uniq", "max_positionals"),
    ] {
        let spec = doc["programs"][prog].as_mapping_mut().unwrap();
        assert!(spec.remove(key).is_some(), "{prog} has no {key}");
    }
    let weak = Guard::from_yaml(&serde_yaml::to_string(&doc).unwrap()).unwrap();
    let mut gen = Gen {
        rng: Rng::new(DEFAULT_SEED),
        g,
        picked: Vec::new(),
    };
    let (mut tried, mut caught) = (Vec::new(), 0);
    for _ in 0..20_000 {
        let line = gen.line();
        gen.picked.clear();
        if weak.check(&line).allowed && !check(&line).allowed {
            caught += usize::from(run(&line, iso, logs, RUN_TIMEOUT).failed());
            tried.push(line);
            if caught == 3 || tried.len() == 40 {
                break;
            }
        }
    }
    assert!(
        caught > 0,
        "none of the lines a weakened allowlist lets through was caught writing: {tried:#?}"
    );
    format!(
        "{caught} of {} lines a weakened allowlist allows caught",
        tried.len()
    )
}

/// How much to generate and run.
struct Plan {
    lines: usize,
    max_runs: Option<usize>,
    budget: Option<Duration>,
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

struct Failure {
    n: usize,
    line: String,
    reason: String,
    ran: Ran,
}

fn differential(plan: Plan) {
    if !status().enforced() {
        eprintln!("skipped: {}", status().describe());
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let iso = Isolation {
        drop_to: root.then_some(NOBODY),
        netns: netns_works(),
    };
    let logs = tempfile::Builder::new()
        .prefix("guard-diff-logs-")
        .tempdir()
        .unwrap();
    self_test(iso, logs.path());

    let seed = env_number("STEPGUARD_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let g = grammar();
    assert!(
        g.progs.len() > 50,
        "the allowlist parsed into too few programs"
    );
    assert!(!g.refused.is_empty() && !g.safe_env.is_empty());
    let mutation = mutation_check(&g, iso, logs.path());
    let mut gen = Gen {
        rng: Rng::new(seed),
        g: &g,
        picked: Vec::new(),
    };
    let show = std::env::var("STEPGUARD_DIFF_SHOW").ok();
    let dry_run = std::env::var_os("STEPGUARD_DIFF_DRY_RUN").is_some();
    // Per program: lines generated, allowed, run.
    let mut per_prog: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    let start = Instant::now();
    let mut seen = HashSet::new();
    let (mut allowed, mut runs, mut missing) = (0, 0, 0);
    let mut timeouts: Vec<String> = Vec::new();
    let mut per_label: HashMap<String, usize> = HashMap::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut stopped = None;
    let mut generated = 0;
    for n in 0..plan.lines {
        generated = n + 1;
        let line = gen.line();
        let progs = std::mem::take(&mut gen.picked);
        let d = check(&line);
        if show
            .as_deref()
            .is_some_and(|s| s == "all" || progs.contains(&s))
        {
            eprintln!("{line:?}\n    {}", d.reason);
        }
        for p in &progs {
            let e = per_prog.entry(p).or_default();
            e[0] += 1;
            e[1] += usize::from(d.allowed);
        }
        if !d.allowed {
            continue;
        }
        allowed += 1;
        if !seen.insert(line.clone()) {
            continue;
        }
        // "allowed: every command is a known read-only form (sort, kubectl get)"
        let labels: Vec<String> = d
            .reason
            .split_once('(')
            .map_or("", |(_, l)| l.trim_end_matches(')'))
            .split(", ")
            .map(str::to_owned)
            .collect();
        let resolves = labels
            .iter()
            .any(|l| l.split(' ').any(|w| RESOLVERS.contains(&w)));
        if !iso.netns && resolves {
            continue;
        }
        if dry_run {
            continue;
        }
        if plan.max_runs.is_some_and(|m| runs >= m) {
            stopped = Some(format!("the cap of {runs} runs"));
            break;
        }
        if plan.budget.is_some_and(|b| start.elapsed() > b) {
            stopped = Some(format!("the time budget, after {runs} runs"));
            break;
        }
        let ran = run(&line, iso, logs.path(), RUN_TIMEOUT);
        runs += 1;
        for p in &progs {
            per_prog.entry(p).or_default()[2] += 1;
        }
        if ran.timed_out {
            timeouts.push(line.clone());
        }
        missing += usize::from(ran.not_found);
        for l in labels {
            *per_label.entry(l).or_default() += 1;
        }
        if ran.failed() {
            eprintln!(
                "GUARD FAILURE #{n}: {line:?}: {:?} {:?}",
                ran.changes, ran.canary
            );
            failures.push(Failure {
                n,
                line,
                reason: d.reason,
                ran,
            });
        }
    }
    let mut labels: Vec<_> = per_label.into_iter().collect();
    labels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = labels
        .iter()
        .take(30)
        .map(|(l, c)| format!("{l}: {c}"))
        .collect();
    let mut progs: Vec<_> = per_prog.into_iter().collect();
    progs.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(b.0)));
    let by_prog: Vec<String> = progs
        .iter()
        .take(30)
        .map(|(p, [g, a, r])| format!("{p} {g}/{a}/{r}"))
        .collect();
    eprintln!(
        "guard_differential: seed {seed:#x}: {generated} lines generated, {allowed} allowed, \
         {runs} run ({} timed out, {missing} program not found), {} failures, {:.1} s; \
         {}; {}{}; mutation check: {mutation}\n  runs by allowed form: {}\n  \
         generated/allowed/run by program: {}\n  timed out: {:?}",
        timeouts.len(),
        failures.len(),
        start.elapsed().as_secs_f64(),
        if iso.drop_to.is_some() {
            "as nobody"
        } else {
            "as the current user"
        },
        if iso.netns {
            "no network"
        } else {
            "host network (resolvers skipped)"
        },
        stopped
            .map(|s| format!("; stopped at {s}"))
            .unwrap_or_default(),
        top.join(", "),
        by_prog.join(", "),
        &timeouts[..timeouts.len().min(5)]
    );
    if failures.is_empty() {
        return;
    }
    let report: Vec<String> = failures
        .iter()
        .map(|f| {
            let mut s = format!("#{} {:?}\n    guard: {}\n", f.n, f.line, f.reason);
            for c in &f.ran.changes {
                s.push_str(&format!("    {c}\n"));
            }
            if let Some(c) = &f.ran.canary {
                s.push_str(&format!("    the canary ran: {c}\n"));
            }
            s.push_str(&format!("    {}; stderr: {}", f.ran.status, f.ran.stderr));
            s
        })
        .collect();
    panic!(
        "{} allowed line(s) changed files or ran the canary (seed {seed:#x}; rerun with \
         STEPGUARD_DIFF_SEED={seed:#x}):\n{}",
        failures.len(),
        report.join("\n")
    );
}

#[test]
fn allowed_lines_change_nothing() {
    let cases = env_number("STEPGUARD_DIFF_CASES");
    differential(Plan {
        lines: cases.map_or(3000, |c| c as usize),
        // An explicit count runs every allowed line; the default is bounded.
        max_runs: if cases.is_some() { None } else { Some(300) },
        budget: if cases.is_some() {
            None
        } else {
            Some(Duration::from_secs(35))
        },
    });
}

/// The long run (see the module comment).
#[test]
#[ignore]
fn allowed_lines_change_nothing_long_run() {
    differential(Plan {
        lines: env_number("STEPGUARD_DIFF_CASES").map_or(20_000, |c| c as usize),
        max_runs: None,
        budget: None,
    });
}
