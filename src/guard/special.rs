//! Argument checkers written in code, for programs whose arguments a table
//! cannot describe: a query language, a script, an option grammar of its
//! own, or a wrapped command.

use super::lexer::Word;
use super::rules::{no_control, no_controls, Globs, Program, Special};
use super::{awk, curl, quote, sed, sql, Found, Guard};

/// Checks `args` of `name` with its special checker. Returns what to add to
/// the program's label in the allowed reason (`kubectl get` for `timeout`).
/// A checker accepts globs only where it reads file operands (`found.globs`);
/// any other glob is refused after it.
pub(crate) fn check(
    guard: &Guard,
    special: Special,
    program: &Program,
    name: &str,
    args: &[Word],
    depth: usize,
    found: &mut Found,
) -> Result<Option<String>, String> {
    let globs = &mut found.globs;
    match special {
        Special::RedisCli => redis_cli(program, name, args),
        Special::Psql => psql(args).map(|()| None),
        Special::Curl => curl::check_args(args).map(|()| None),
        Special::Sed => sed::check_args(args, globs).map(|()| None),
        Special::Awk => awk::check_args(args, globs).map(|()| None),
        Special::Find => find(args, globs).map(|()| None),
        Special::Ip => ip(args),
        Special::Top => top(args).map(|()| None),
        Special::Date => date(program, name, args).map(|()| None),
        Special::Sysctl => sysctl(program, name, args).map(|()| None),
        Special::Env => env(args).map(|()| None),
        Special::Timeout => timeout(guard, args, depth, found).map(Some),
        Special::Nslookup => nslookup(args).map(|()| None),
        Special::PgIsready => pg_isready(args).map(|()| None),
        Special::Openssl => openssl(args).map(Some),
        Special::Mysql => mysql(args).map(|()| None),
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
            } else if name == "--pset" {
                pset(v)?;
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
                    } else if ch == 'P' {
                        pset(v)?;
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
    // Only SQL may span lines (connection strings, variables and names never).
    for w in args {
        if !sql.iter().any(|(_, s)| std::ptr::eq(*s, w)) {
            no_control("psql", &w.text)?;
        }
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

const MYSQL_HOST: &str = "'mysql -h' sends the credentials of my.cnf to the host named (in clear \
     text if it asks); name a --login-path that pairs the host with its own";

/// `mysql [options] [db] -e SQL`: options from a read-only set (exact long
/// names: the client also takes any unambiguous prefix, so `--pag` is
/// `--pager`, and `--skip-`/`--loose-` forms), SQL through the MySQL
/// dialect of the SQL checker. Without `-e` it reads SQL from stdin.
fn mysql(args: &[Word]) -> Result<(), String> {
    // No --host: the client would send the password of my.cnf to the host
    // named (in clear text if it asks); a login path pairs a host with its
    // own credentials. No --default-character-set: see the SQL checker.
    const LONG_VALUES: &[&str] = &[
        "--execute",
        "--port",
        "--user",
        "--database",
        "--socket",
        "--protocol",
        "--connect-timeout",
        "--ssl-mode",
        "--ssl-ca",
        "--login-path",
    ];
    const LONG_FLAGS: &[&str] = &[
        "--skip-column-names",
        "--batch",
        "--silent",
        "--table",
        "--raw",
        "--vertical",
        "--verbose",
        "--xml",
        "--html",
        "--no-defaults",
        "--password",
    ];
    let mut sql: Vec<&str> = Vec::new();
    let mut operands = 0;
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        let a = w.text.as_str();
        i += 1;
        if !a.starts_with('-') || a == "-" {
            no_glob(w, "a mysql operand")?;
            operands += 1;
            continue;
        }
        if a.starts_with("--") {
            let (name, value) = split_eq(a);
            if LONG_FLAGS.contains(&name) && (value.is_none() || name == "--password") {
                continue;
            }
            if name == "--host" {
                return Err(MYSQL_HOST.into());
            }
            if !LONG_VALUES.contains(&name) {
                return Err(format!(
                    "'mysql' option {} is not in the read-only set",
                    quote(name)
                ));
            }
            let v = match value {
                Some(v) => v,
                None => {
                    let Some(n) = args.get(i) else {
                        return Err(format!("'mysql {name}' needs a value"));
                    };
                    i += 1;
                    no_glob(n, &format!("the value of 'mysql {name}'"))?;
                    n.text.as_str()
                }
            };
            if name == "--execute" {
                sql.push(v);
            }
            continue;
        }
        let body = &a[1..];
        for (k, ch) in body.char_indices() {
            match ch {
                'N' | 'B' | 's' | 't' | 'r' | 'E' | 'v' | 'X' | 'H' => {}
                // -pSECRET is the password; a bare -p asks for it.
                'p' => break,
                'h' => return Err(MYSQL_HOST.into()),
                'e' | 'P' | 'u' | 'D' | 'S' => {
                    let rest = &body[k + 1..];
                    let v = if rest.is_empty() {
                        let Some(n) = args.get(i) else {
                            return Err(format!("'mysql -{ch}' needs a value"));
                        };
                        i += 1;
                        no_glob(n, &format!("the value of 'mysql -{ch}'"))?;
                        n.text.as_str()
                    } else {
                        rest
                    };
                    if ch == 'e' {
                        sql.push(v);
                    }
                    break;
                }
                _ => {
                    return Err(format!(
                        "'mysql' option {} is not in the read-only set",
                        quote(&format!("-{ch}"))
                    ))
                }
            }
        }
    }
    if operands > 1 {
        return Err("'mysql' takes at most a database name as its operand".into());
    }
    if sql.is_empty() {
        return Err(
            "'mysql' without -e reads SQL from standard input, which cannot be checked".into(),
        );
    }
    let mut n = 0;
    for text in sql {
        n = sql::check_dialect(text, n, sql::Dialect::Mysql)?;
    }
    Ok(())
}

/// `\pset pager` can start a pager program.
fn pset(v: &str) -> Result<(), String> {
    if v.trim_start().to_ascii_lowercase().starts_with("pager") {
        return Err(format!("'psql -P {v}' can start a pager program"));
    }
    Ok(())
}

/// libpq connection parameters a read-only check may set. Anything else is
/// refused: see [`conninfo_param`] for the reasons of the known ones.
const CONNINFO_KEYS: [&str; 37] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "connect_timeout",
    "client_encoding",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "requiressl",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "channel_binding",
    "require_auth",
    "target_session_attrs",
];

/// A database name libpq expands into connection parameters: a
/// `postgresql://` / `postgres://` URI, or any string with an `=` in it
/// (`key=value …`). Parsed as libpq parses it, each parameter checked.
pub(crate) fn conninfo(v: &str) -> Result<(), String> {
    if let Some(rest) = v
        .strip_prefix("postgresql://")
        .or_else(|| v.strip_prefix("postgres://"))
    {
        return conninfo_uri(v, rest);
    }
    if !v.contains('=') {
        return Ok(());
    }
    conninfo_kv(v, false)?;
    // libpq splits at isspace(), which in a single-byte locale (LANG and
    // LC_ALL may be set) can be true of bytes of a UTF-8 character.
    if !v.is_ascii() {
        conninfo_kv(v, true)?;
    }
    Ok(())
}

/// `key=value …`, as libpq's `conninfo_parse`: a value may be in single
/// quotes, and a backslash escapes the next character in any value.
fn conninfo_kv(s: &str, high_space: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let space = |c: u8| c.is_ascii_whitespace() || c == 0x0b || (high_space && c >= 0x80);
    let mut i = 0;
    loop {
        while b.get(i).is_some_and(|&c| space(c)) {
            i += 1;
        }
        if i == b.len() {
            return Ok(());
        }
        let start = i;
        while b.get(i).is_some_and(|&c| c != b'=' && !space(c)) {
            i += 1;
        }
        let key = String::from_utf8_lossy(&b[start..i]);
        while b.get(i).is_some_and(|&c| space(c)) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Err(format!(
                "connection string {} has no '=' after {}",
                quote(s),
                quote(&key)
            ));
        }
        i += 1;
        while b.get(i).is_some_and(|&c| space(c)) {
            i += 1;
        }
        let mut val = Vec::new();
        let quoted = b.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        loop {
            match b.get(i) {
                None if quoted => {
                    return Err(format!(
                        "connection string {} has an unterminated quoted value",
                        quote(s)
                    ))
                }
                None => break,
                Some(b'\\') => {
                    if let Some(&c) = b.get(i + 1) {
                        val.push(c);
                    }
                    i += 2;
                }
                Some(b'\'') if quoted => {
                    i += 1;
                    break;
                }
                Some(&c) if !quoted && space(c) => {
                    i += 1;
                    break;
                }
                Some(&c) => {
                    val.push(c);
                    i += 1;
                }
            }
        }
        conninfo_param(&key, &String::from_utf8_lossy(&val), s)?;
    }
}

/// A connection URI: libpq percent-decodes the keys and values of its
/// query (`?k=v&…`; `+` is not special). Everything before the first `?`
/// names hosts, a user and a database, which set nothing else.
fn conninfo_uri(whole: &str, rest: &str) -> Result<(), String> {
    let Some((_, query)) = rest.split_once('?') else {
        return Ok(());
    };
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = piece.split_once('=') else {
            return Err(format!(
                "connection URI parameter {} has no '='",
                quote(piece)
            ));
        };
        if v.contains('=') {
            return Err(format!(
                "connection URI parameter {} has a second '='",
                quote(piece)
            ));
        }
        let (k, v) = (percent_decode(k, whole)?, percent_decode(v, whole)?);
        // libpq's JDBC spelling: ssl=true is sslmode=require.
        if k == "ssl" && v == "true" {
            continue;
        }
        conninfo_param(&k, &v, whole)?;
    }
    Ok(())
}

/// `%XX` decoding as libpq's `conninfo_uri_decode`: a malformed escape or
/// `%00` is an error there, and refused here.
fn percent_decode(s: &str, whole: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let digit = |j: usize| b.get(j).and_then(|&c| char::from(c).to_digit(16));
        match (digit(i + 1), digit(i + 2)) {
            // Two hex digits make at most 255.
            (Some(h), Some(l)) if h * 16 + l != 0 => out.push((h * 16 + l) as u8),
            _ => {
                return Err(format!(
                    "connection URI {} has a malformed percent escape",
                    quote(whole)
                ))
            }
        }
        i += 3;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One connection parameter, after libpq's unquoting or decoding.
fn conninfo_param(key: &str, value: &str, whole: &str) -> Result<(), String> {
    let why = match key {
        // search_path decides which function `count` is.
        "options" => "sets server session options",
        "service" | "servicefile" => "loads more settings (options too) from a service file",
        "passfile" => "reads a password file and sends a password from it",
        "sslkeylogfile" => "writes TLS session keys to a file",
        "replication" => "opens a replication connection",
        "gssdelegation" => "forwards Kerberos credentials to the server",
        // `engine:key` makes libpq load an OpenSSL engine, a shared library.
        "sslkey" if value.contains(':') => "names an OpenSSL engine (a shared library) to load",
        k if CONNINFO_KEYS.contains(&k) => return Ok(()),
        _ => "is not in the read-only set",
    };
    Err(format!(
        "connection parameter {} {why} (in {})",
        quote(key),
        quote(whole)
    ))
}

/// `find` with no action that runs, deletes or writes. Globs may stand
/// only among the starting points, before the expression.
fn find(args: &[Word], globs: &mut Globs) -> Result<(), String> {
    let mut i = 0;
    // Leading options: -H -L -P, -D debugopts, -Olevel.
    while let Some(w) = args.get(i) {
        match w.text.as_str() {
            "-H" | "-L" | "-P" => i += 1,
            "-D" => i += 2,
            a if a.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    while let Some(w) = args.get(i) {
        let a = w.text.as_str();
        if (a.starts_with('-') && a != "-") || matches!(a, "(" | ")" | "!" | ",") {
            break;
        }
        globs.accept(args, i);
        i += 1;
    }
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
/// `openssl SUB OPTIONS`: the commands that read a certificate, a request or
/// a revocation list, each with the options that only print. Every other
/// option is refused, so nothing writes a file (`-out`, `-keyout`) or loads
/// a module (`-engine`, `-provider`). `s_client` is not among them: it
/// sends its standard input to the server. A file named by URL is fetched,
/// with no time limit: refused.
fn openssl(args: &[Word]) -> Result<String, String> {
    struct Form {
        sub: &'static str,
        flags: &'static [&'static str],
        values: &'static [&'static str],
        /// Required: without it the command prints the encoded input again
        /// (`verify` and `version` print nothing else).
        require: Option<&'static str>,
        operands: bool,
    }
    const PRINT: &[&str] = &[
        "-noout", "-text", "-subject", "-issuer", "-pubkey", "-modulus",
    ];
    const FORMS: &[Form] = &[
        Form {
            sub: "x509",
            flags: &[
                "-dates",
                "-enddate",
                "-startdate",
                "-serial",
                "-fingerprint",
                "-sha1",
                "-sha256",
                "-purpose",
                "-email",
                "-hash",
                "-subject_hash",
                "-issuer_hash",
                "-ocsp_uri",
                "-ocspid",
                "-alias",
                "-nocert",
            ],
            values: &[
                "-in",
                "-inform",
                "-nameopt",
                "-certopt",
                "-checkend",
                "-ext",
            ],
            require: Some("-noout"),
            operands: false,
        },
        Form {
            sub: "req",
            flags: &["-verify"],
            values: &["-in", "-inform", "-nameopt"],
            require: Some("-noout"),
            operands: false,
        },
        Form {
            sub: "crl",
            flags: &[
                "-lastupdate",
                "-nextupdate",
                "-fingerprint",
                "-hash",
                "-crlnumber",
            ],
            values: &["-in", "-inform", "-nameopt"],
            require: Some("-noout"),
            operands: false,
        },
        Form {
            sub: "verify",
            flags: &["-show_chain", "-verbose", "-x509_strict", "-partial_chain"],
            values: &["-CAfile", "-CApath", "-untrusted", "-purpose", "-attime"],
            require: None,
            operands: true,
        },
        Form {
            sub: "version",
            flags: &["-a", "-v", "-b", "-o", "-f", "-p", "-d"],
            values: &[],
            require: None,
            operands: false,
        },
    ];
    let Some((first, rest)) = args.split_first() else {
        return Err("'openssl' needs a read-only command (x509, req, crl, verify, version)".into());
    };
    let sub = first.text.as_str();
    let Some(form) = FORMS.iter().find(|f| f.sub == sub) else {
        return Err(format!(
            "'openssl {}' is not a read-only command (x509, req, crl, verify, version)",
            sub
        ));
    };
    let mut seen_required = form.require.is_none();
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        let a = w.text.as_str();
        i += 1;
        no_glob(w, &format!("'openssl {sub}'"))?;
        if a.contains("://") {
            return Err(format!(
                "'openssl {sub}' would fetch {} (no time limit); name a local file",
                quote(a)
            ));
        }
        if !a.starts_with('-') || a == "-" {
            if !form.operands {
                return Err(format!(
                    "'openssl {sub}' takes no operand here ({}); name files with -in",
                    quote(a)
                ));
            }
            continue;
        }
        // OpenSSL also reads `--opt` as `-opt`.
        let name = if a.starts_with("--") { &a[1..] } else { a };
        if Some(name) == form.require {
            seen_required = true;
        }
        let printing = form.sub != "version" && form.sub != "verify";
        if form.values.contains(&name) {
            let Some(v) = rest.get(i) else {
                return Err(format!("'openssl {sub} {name}' needs a value"));
            };
            no_glob(v, &format!("the value of 'openssl {sub} {name}'"))?;
            if v.text.contains("://") {
                return Err(format!(
                    "'openssl {sub} {name}' would fetch {} (no time limit); name a local file",
                    quote(&v.text)
                ));
            }
            i += 1;
        } else if !(form.flags.contains(&name) || (printing && PRINT.contains(&name))) {
            return Err(format!(
                "'openssl {sub}' option {} is not in the read-only set",
                quote(a)
            ));
        }
    }
    if !seen_required {
        let need = form.require.unwrap_or_default();
        return Err(format!("'openssl {sub}' is read-only only with {need}"));
    }
    Ok(sub.to_owned())
}

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
fn timeout(
    guard: &Guard,
    args: &[Word],
    depth: usize,
    found: &mut Found,
) -> Result<String, String> {
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
    // The wrapped command's words are checked with its own program.
    no_controls("timeout", &args[..=i])?;
    if depth >= 4 {
        return Err("too many nested 'timeout' wrappers".into());
    }
    let label = guard.check_argv(inner, depth + 1, &mut found.trust)?;
    // The inner command's globs were checked against its own checker.
    for k in i + 1..args.len() {
        found.globs.accept(args, k);
    }
    Ok(label)
}

/// `nslookup [-option…] NAME [SERVER]`. Without a name first (none, or
/// `-`) it reads queries from standard input, where a redirection can put
/// a file's lines, each sent out as a DNS query.
fn nslookup(args: &[Word]) -> Result<(), String> {
    for w in args {
        match w.text.as_str() {
            "-" => break,
            a if a.starts_with('-') => {}
            _ => return Ok(()),
        }
    }
    Err("'nslookup' without a name to look up first reads queries from standard input".into())
}

/// `pg_isready`: connection options only; its database name is a libpq
/// connection string, checked as psql's.
fn pg_isready(args: &[Word]) -> Result<(), String> {
    // (name, takes a value); getopt_long takes unambiguous prefixes.
    const LONG: [(&str, bool); 8] = [
        ("--dbname", true),
        ("--host", true),
        ("--port", true),
        ("--quiet", false),
        ("--timeout", true),
        ("--username", true),
        ("--version", false),
        ("--help", false),
    ];
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let a = w.text.as_str();
        i += 1;
        if let Some(long) = a.strip_prefix("--").filter(|l| !l.is_empty()) {
            let (raw, attached) = match long.split_once('=') {
                Some((n, v)) => (&a[..n.len() + 2], Some(v)),
                None => (a, None),
            };
            let mut hits = LONG.iter().filter(|(n, _)| n.starts_with(raw));
            let exact = LONG.iter().find(|(n, _)| *n == raw);
            let (name, takes) = match (exact, hits.next(), hits.next()) {
                (Some(&e), _, _) | (None, Some(&e), None) => e,
                _ => {
                    return Err(format!(
                        "'pg_isready' option {} is not in the read-only set",
                        quote(raw)
                    ))
                }
            };
            if !takes {
                continue;
            }
            let v = match attached {
                Some(v) => v,
                None => {
                    let Some(n) = args.get(i) else {
                        return Err(format!("'pg_isready {name}' needs a value"));
                    };
                    i += 1;
                    n.text.as_str()
                }
            };
            if name == "--dbname" {
                conninfo(v)?;
            }
            continue;
        }
        let Some(body) = a.strip_prefix('-').filter(|b| !b.is_empty()) else {
            return Err(format!("'pg_isready' takes no operands (got {})", quote(a)));
        };
        for (k, ch) in body.char_indices() {
            match ch {
                'q' | 'V' | '?' => {}
                'd' | 'h' | 'p' | 't' | 'U' => {
                    let rest = &body[k + 1..];
                    let v = if rest.is_empty() {
                        let Some(n) = args.get(i) else {
                            return Err(format!("'pg_isready -{ch}' needs a value"));
                        };
                        i += 1;
                        n.text.as_str()
                    } else {
                        rest
                    };
                    if ch == 'd' {
                        conninfo(v)?;
                    }
                    break;
                }
                _ => {
                    return Err(format!(
                        "'pg_isready' option {} is not in the read-only set",
                        quote(&format!("-{ch}"))
                    ))
                }
            }
        }
    }
    Ok(())
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
    fn connection_strings_are_read_as_libpq_reads_them() {
        for ok in [
            "orders",
            "postgresql://readonly@db.internal:5432/orders",
            "postgres://u:p%40ss@h1,h2/db?sslmode=verify-full&application_name=x%20y",
            "postgresql://h/db?ssl=true&target_session_attrs=read-only&",
            "host=db port=5432 dbname=orders",
            "host = db  dbname='a options=-cx' sslmode=require",
            "dbname=a\\ options=-cx",
            "password='it\\'s' user=ro",
            "sslkey=/etc/pg/client.key sslcert=/etc/pg/client.crt",
        ] {
            if let Err(e) = conninfo(ok) {
                panic!("{ok:?} refused: {e}");
            }
        }
        for (bad, why) in [
            ("options=-csearch_path=evil", "'options'"),
            ("host=h   options  =  -cx", "'options'"),
            ("host=h\toptions=-cx", "'options'"),
            ("dbname='x' options=-cx", "'options'"),
            ("postgresql://h/db?options=-cx", "'options'"),
            ("postgresql://h/db?%6fptions=-cx", "'options'"),
            ("postgresql://h/db?%6Fptions=-cx", "'options'"),
            ("postgres://h?port=1&opt%69ons=-cx", "'options'"),
            ("postgresql://h/db?options", "no '='"),
            ("postgresql://h/db?x=1=2", "second '='"),
            ("postgresql://h/db?application_name=%4", "percent"),
            ("postgresql://h/db?application_name=%g0", "percent"),
            ("postgresql://h/db?application_name=%00", "percent"),
            ("postgresql://h/db?application_name=%+1", "percent"),
            ("postgresql://h/db?sslkey=e%3Ak", "OpenSSL engine"),
            ("sslkey=/tmp/evil.so:key", "OpenSSL engine"),
            ("service=prod", "service file"),
            ("postgresql://h/?servicefile=%2Ftmp%2Fs", "service file"),
            ("passfile=/etc/shadow host=h", "password file"),
            ("sslkeylogfile=/tmp/k", "writes"),
            ("replication=database", "replication"),
            ("gssdelegation=1", "Kerberos"),
            ("dbname=x frobnicate=1", "read-only set"),
            ("dbname='x", "unterminated"),
            ("dbname x=y", "no '='"),
            ("a=b é=c", "read-only set"),
        ] {
            match conninfo(bad) {
                Ok(()) => panic!("{bad:?} allowed"),
                Err(e) => assert!(e.contains(why), "{bad:?}: {e}"),
            }
        }
    }

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
