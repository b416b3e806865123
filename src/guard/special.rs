//! Argument checkers written in code, for programs whose arguments a table
//! cannot describe: a query language, a script, an option grammar of its
//! own, or a wrapped command.

use super::lexer::Word;
use super::rules::{Program, Special};
use super::{awk, curl, quote, sed, sql, Guard};

/// Checks `args` of `name` with its special checker. Returns what to add to
/// the program's label in the allowed reason (`kubectl get` for `timeout`).
pub(crate) fn check(
    guard: &Guard,
    special: Special,
    program: &Program,
    name: &str,
    args: &[Word],
    depth: usize,
) -> Result<Option<String>, String> {
    match special {
        Special::RedisCli => redis_cli(program, name, args),
        Special::Psql => psql(args).map(|()| None),
        Special::Curl => curl::check_args(args).map(|()| None),
        Special::Sed => sed::check_args(args).map(|()| None),
        Special::Awk => awk::check_args(args).map(|()| None),
        Special::Find => find(args).map(|()| None),
        Special::Ip => ip(args),
        Special::Top => top(args).map(|()| None),
        Special::Date => date(program, name, args).map(|()| None),
        Special::Sysctl => sysctl(program, name, args).map(|()| None),
        Special::Env => env(args).map(|()| None),
        Special::Timeout => timeout(guard, args, depth).map(Some),
    }
}

fn no_glob(w: &Word, what: &str) -> Result<(), String> {
    match w.glob_at {
        Some(_) => Err(format!(
            "unquoted glob in {what} {}; quote it",
            quote(&w.text)
        )),
        None => Ok(()),
    }
}

fn split_eq(a: &str) -> (&str, Option<&str>) {
    match a.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (a, None),
    }
}

/// `redis-cli [options] COMMAND [args]`: options stop at the first operand,
/// which starts the command.
fn redis_cli(program: &Program, name: &str, args: &[Word]) -> Result<Option<String>, String> {
    let mut i = 0;
    let mut mode: Option<&str> = None;
    while let Some(w) = args.get(i) {
        let a = w.text.as_str();
        if !a.starts_with('-') {
            break;
        }
        i += 1;
        match a {
            "-h" | "-p" | "-a" | "-s" | "-n" | "-u" | "-r" | "-i" | "-d" | "--user" | "--pass"
            | "--cacert" | "--cert" | "--key" | "--sni" | "--pattern" | "--count"
            | "--memkeys-samples" => {
                if i >= args.len() {
                    return Err(format!("'redis-cli {a}' needs a value"));
                }
                i += 1;
            }
            "--raw" | "--no-raw" | "--csv" | "--no-auth-warning" | "-c" | "-e" | "--tls"
            | "--insecure" => {}
            "--bigkeys" | "--memkeys" | "--hotkeys" | "--scan" | "--stat" | "--latency"
            | "--latency-history" | "--latency-dist" => mode = Some(a),
            "--rdb" | "--functions-rdb" => {
                return Err(format!("'redis-cli {a}' writes a dump file"))
            }
            "--pipe" | "--pipe-timeout" => {
                return Err(format!(
                    "'redis-cli {a}' sends raw commands from standard input"
                ))
            }
            "--eval" | "--ldb" | "--ldb-sync-mode" => {
                return Err(format!("'redis-cli {a}' runs a Lua script"))
            }
            "--cluster" => {
                return Err("'redis-cli --cluster' manages (and can reshard) a cluster".into())
            }
            "--replica" | "--slave" => {
                return Err(format!("'redis-cli {a}' acts as a replica of the server"))
            }
            "-x" => return Err("'redis-cli -x' reads the last argument from standard input".into()),
            _ => {
                return Err(format!(
                    "'redis-cli' option {} is not in the read-only set",
                    quote(a)
                ))
            }
        }
    }
    let rest = &args[i..];
    if let Some(m) = mode {
        if let Some(w) = rest.first() {
            return Err(format!(
                "'redis-cli {m}' takes no command (got {})",
                quote(&w.text)
            ));
        }
        return Ok(Some(m.to_owned()));
    }
    if rest.is_empty() {
        return Err("'redis-cli' without a command reads commands from standard input".into());
    }
    for w in rest {
        no_glob(w, "a redis-cli argument")?;
    }
    let words: Vec<&str> = rest.iter().map(|w| w.text.as_str()).collect();
    let sub = program.subcommand(name, &words, "redis command")?;
    Ok(sub.map(|s| s.label.clone()))
}

/// `psql` with at least one `-c`, every one of them read-only SQL.
fn psql(args: &[Word]) -> Result<(), String> {
    let mut sql: Vec<(&str, &Word)> = Vec::new();
    let mut operands = 0;
    let mut i = 0;
    let mut done = false;
    while i < args.len() {
        let w = &args[i];
        let a = w.text.as_str();
        i += 1;
        if done || a == "-" || !a.starts_with('-') {
            no_glob(w, "a psql operand")?;
            conninfo(a)?;
            operands += 1;
            continue;
        }
        if a == "--" {
            done = true;
            continue;
        }
        if a.starts_with("--") {
            let (name, value) = split_eq(a);
            for (long, why) in [
                ("--file", "reads SQL from a file that cannot be checked"),
                ("--output", "writes query results to a file"),
                ("--log-file", "writes a log file"),
            ] {
                if name.len() > 2 && long.starts_with(name) {
                    return Err(format!("{} {why}", quote(&format!("psql {name}"))));
                }
            }
            let is_sql = match name {
                "--command" => true,
                "--host" | "--port" | "--username" | "--dbname" | "--set" | "--variable"
                | "--pset" | "--field-separator" | "--record-separator" => false,
                "--no-psqlrc" | "--no-align" | "--tuples-only" | "--quiet" | "--expanded"
                | "--csv" | "--no-password" => continue,
                _ => {
                    return Err(format!(
                        "'psql' option {} is not in the read-only set",
                        quote(name)
                    ))
                }
            };
            let (v, vw) = match value {
                Some(v) => (v, w),
                None => {
                    let Some(n) = args.get(i) else {
                        return Err(format!("'psql {name}' needs a value"));
                    };
                    i += 1;
                    (n.text.as_str(), n)
                }
            };
            if is_sql {
                sql.push((v, vw));
            } else if name == "--dbname" {
                conninfo(v)?;
            }
            continue;
        }
        let body = &a[1..];
        for (k, ch) in body.char_indices() {
            match ch {
                'X' | 'A' | 't' | 'q' | 'x' | 'w' => {}
                'c' | 'h' | 'p' | 'U' | 'd' | 'v' | 'P' | 'F' | 'R' => {
                    let rest = &body[k + 1..];
                    let (v, vw) = if rest.is_empty() {
                        let Some(n) = args.get(i) else {
                            return Err(format!("'psql -{ch}' needs a value"));
                        };
                        i += 1;
                        (n.text.as_str(), n)
                    } else {
                        (rest, w)
                    };
                    if ch == 'c' {
                        sql.push((v, vw));
                    } else if ch == 'd' {
                        conninfo(v)?;
                    }
                    break;
                }
                'f' => return Err("'psql -f' reads SQL from a file that cannot be checked".into()),
                'o' => return Err("'psql -o' writes query results to a file".into()),
                'L' => return Err("'psql -L' writes a log file".into()),
                _ => {
                    return Err(format!(
                        "'psql' option {} is not in the read-only set",
                        quote(&format!("-{ch}"))
                    ))
                }
            }
        }
    }
    if operands > 2 {
        return Err("'psql' takes at most a database and a user name as operands".into());
    }
    if sql.is_empty() {
        return Err(
            "'psql' without -c reads SQL from standard input, which cannot be checked".into(),
        );
    }
    let mut n = 0;
    for (text, w) in sql {
        no_glob(w, "psql -c")?;
        let t = text.trim_start();
        if t.starts_with('\\') {
            let meta = t.split_whitespace().next().unwrap_or(t);
            return Err(format!(
                "psql meta-command {} can run shell commands or write files",
                quote(meta)
            ));
        }
        n = sql::check(text, n)?;
    }
    Ok(())
}

/// A libpq connection string may carry `options=-c name=value`, which sets
/// session parameters (`search_path` decides which function `count` is).
fn conninfo(v: &str) -> Result<(), String> {
    if v.to_ascii_lowercase().contains("options") {
        return Err(format!(
            "psql connection string {} sets session options",
            quote(v)
        ));
    }
    Ok(())
}

/// `find` with no action that runs, deletes or writes.
fn find(args: &[Word]) -> Result<(), String> {
    for w in args {
        let why = match w.text.as_str() {
            "-exec" | "-execdir" | "-ok" | "-okdir" => "runs a command",
            "-delete" => "deletes files",
            "-fprint" | "-fprint0" | "-fprintf" | "-fls" => "writes a file",
            _ => continue,
        };
        return Err(format!("'find {}' {why}", w.text));
    }
    Ok(())
}

/// `ip [options] addr|link|route|neigh [show|list]`.
fn ip(args: &[Word]) -> Result<Option<String>, String> {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let a = w.text.as_str();
        if !a.starts_with('-') {
            break;
        }
        i += 1;
        match a {
            "-s" | "-stats" | "-statistics" | "-d" | "-details" | "-br" | "-brief" | "-j"
            | "-json" | "-p" | "-pretty" | "-4" | "-6" | "-c" | "-color" | "-o" | "-oneline"
            | "-h" | "-human" | "-r" | "-resolve" => {}
            "-b" | "-batch" | "-force" => {
                return Err(format!("'ip {a}' runs ip commands from a file"))
            }
            _ => {
                return Err(format!(
                    "'ip' option {} is not in the read-only set",
                    quote(a)
                ))
            }
        }
    }
    let Some(obj) = args.get(i) else {
        return Err("'ip' needs an object (addr, link, route or neigh)".into());
    };
    no_glob(obj, "an ip argument")?;
    let object = match obj.text.as_str() {
        "a" | "addr" | "address" => "addr",
        "l" | "link" => "link",
        "r" | "ro" | "route" => "route",
        "n" | "neigh" | "neighbor" | "neighbour" => "neigh",
        other => {
            return Err(format!(
                "{} is not a read-only ip object (addr, link, route, neigh)",
                quote(&format!("ip {other}"))
            ))
        }
    };
    if let Some(verb) = args.get(i + 1) {
        let v = verb.text.as_str();
        let ok = matches!(v, "show" | "list" | "lst") || (object == "route" && v == "get");
        if !ok {
            return Err(format!(
                "{} is not a read-only ip command (only show or list)",
                quote(&format!("ip {object} {v}"))
            ));
        }
    }
    Ok(Some(object.to_owned()))
}

/// `top` only in batch mode (`-b`): interactive top takes commands.
fn top(args: &[Word]) -> Result<(), String> {
    let mut batch = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].text.as_str();
        i += 1;
        let Some(body) = a
            .strip_prefix('-')
            .filter(|b| !b.is_empty() && !b.starts_with('-'))
        else {
            return Err(format!(
                "'top' argument {} is not in the read-only set",
                quote(a)
            ));
        };
        for (k, ch) in body.char_indices() {
            match ch {
                'b' => batch = true,
                'c' | 'H' | 'i' | 'S' | 's' | '1' | 'w' => {}
                'n' | 'd' | 'p' | 'u' | 'U' | 'o' | 'E' | 'e' => {
                    if k + 1 == body.len() {
                        i += 1;
                    }
                    break;
                }
                _ => {
                    return Err(format!(
                        "'top' option {} is not in the read-only set",
                        quote(&format!("-{ch}"))
                    ))
                }
            }
        }
    }
    if !batch {
        return Err("'top' without -b is interactive (use top -b -n 1)".into());
    }
    Ok(())
}

/// `date`, but never setting the clock (`-s`, or an operand that is not a
/// `+FORMAT`).
fn date(program: &Program, name: &str, args: &[Word]) -> Result<(), String> {
    let parsed = program.check_args(name, args)?;
    for p in parsed.positionals {
        if !p.starts_with('+') {
            return Err(format!(
                "{} sets the system clock",
                quote(&format!("date {p}"))
            ));
        }
    }
    Ok(())
}

/// `sysctl` reading keys; `key=value` writes one.
fn sysctl(program: &Program, name: &str, args: &[Word]) -> Result<(), String> {
    let parsed = program.check_args(name, args)?;
    for p in parsed.positionals {
        if p.contains('=') {
            return Err(format!(
                "{} writes a kernel parameter",
                quote(&format!("sysctl {p}"))
            ));
        }
    }
    Ok(())
}

fn env(args: &[Word]) -> Result<(), String> {
    match args.first() {
        None => Ok(()),
        Some(_) => {
            Err("'env' with arguments runs another command or changes its environment".into())
        }
    }
}

/// `timeout [options] DURATION COMMAND…`: the inner command is checked as
/// if it stood alone.
fn timeout(guard: &Guard, args: &[Word], depth: usize) -> Result<String, String> {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let a = w.text.as_str();
        if !a.starts_with('-') {
            break;
        }
        i += 1;
        let (name, value) = split_eq(a);
        match name {
            "-v" | "--verbose" | "--preserve-status" | "--foreground" => {}
            "-k" | "-s" | "--kill-after" | "--signal" if value.is_none() => {
                if i >= args.len() {
                    return Err(format!("'timeout {name}' needs a value"));
                }
                i += 1;
            }
            "--kill-after" | "--signal" => {}
            _ if a.len() > 2
                && (a.starts_with("-k") || a.starts_with("-s"))
                && !a.starts_with("--") => {}
            _ => {
                return Err(format!(
                    "'timeout' option {} is not in the read-only set",
                    quote(a)
                ))
            }
        }
    }
    let Some(duration) = args.get(i) else {
        return Err("'timeout' needs a duration and a command".into());
    };
    if !is_duration(&duration.text) {
        return Err(format!(
            "'timeout' duration {} is not a number with an optional s/m/h/d suffix",
            quote(&duration.text)
        ));
    }
    let inner = &args[i + 1..];
    if inner.is_empty() {
        return Err("'timeout' needs a command to run".into());
    }
    if depth >= 4 {
        return Err("too many nested 'timeout' wrappers".into());
    }
    guard.check_argv(inner, depth + 1)
}

fn is_duration(s: &str) -> bool {
    let num = s.strip_suffix(['s', 'm', 'h', 'd']).unwrap_or(s);
    let (int, frac) = match num.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (num, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && match frac {
            Some(f) => digits(f),
            None => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for d in ["5", "5s", "1.5m", "2h", "1d", "0"] {
            assert!(is_duration(d), "{d}");
        }
        for d in ["", "s", "5x", "-5", "1.", ".5", "5 s"] {
            assert!(!is_duration(d), "{d}");
        }
    }
}
