//! The SQL checker behind `psql -c`: a PostgreSQL lexer strict enough that
//! what it calls a string, a comment or an identifier is what the server will
//! see, and a statement check over its tokens.
//!
//! A statement passes only if it starts with a read-only keyword, uses no
//! keyword that writes, locks or changes session state, and calls only
//! functions from a list of read-only built-ins.

use super::quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// An unquoted identifier or keyword, as written.
    Ident(&'a str),
    /// A `"quoted identifier"`, without its quotes (doubled quotes kept).
    QIdent(&'a str),
    Punct(u8),
    /// Literals and operators: nothing to check in them.
    Other,
}

/// Checks every statement of one `-c` value. `done` is the number of
/// statements already checked in earlier `-c` values (for the reason's
/// numbering); returns the new total.
pub(crate) fn check(sql: &str, done: usize) -> Result<usize, String> {
    check_dialect(sql, done, Dialect::Postgres)
}

/// Whose SQL: the same statement check, over the lexer of that server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    /// MySQL and MariaDB through the `mysql` client. Where its lexer and
    /// PostgreSQL's could disagree on what is a string, a comment or code
    /// (backslash escapes, `#` and `-- ` comments, `/*! … */` comments that
    /// run, comments that do not nest, client commands such as `\!`),
    /// the text is refused rather than guessed; backtick identifiers are
    /// read as names.
    Mysql,
}

/// [`check`] for a dialect; reasons name its client (`psql -c`, `mysql -e`).
pub(crate) fn check_dialect(sql: &str, done: usize, dialect: Dialect) -> Result<usize, String> {
    let result = match dialect {
        Dialect::Postgres => check_tokens(sql, done, dialect),
        Dialect::Mysql => {
            // A closing `\G` (print rows vertically) is the one client
            // command a read uses; it runs the statement like `;`.
            let t = sql.trim_end();
            let t = t.strip_suffix(';').unwrap_or(t).trim_end();
            let sql = t.strip_suffix("\\G").unwrap_or(sql);
            mysql_prescan(sql).and_then(|()| check_tokens(sql, done, dialect))
        }
    };
    match dialect {
        Dialect::Postgres => result,
        Dialect::Mysql => result.map_err(|e| {
            e.replace("psql -c", "mysql -e")
                .replace("psql statement", "mysql statement")
        }),
    }
}

/// What MySQL's lexer reads differently from PostgreSQL's, refused
/// wherever it stands (inside a string too: cheaper than a second lexer,
/// and a runbook's read never needs it).
fn mysql_prescan(sql: &str) -> Result<(), String> {
    // In a multi-byte client character set (GBK, Big5, SJIS, a my.cnf may
    // set one) a byte of a non-ASCII character can join the quote or
    // backtick after it: what is a name here would be code there.
    if !sql.is_ascii() {
        return Err(
            "mysql -e contains a non-ASCII character (in a multi-byte character set it can \
             swallow the quote after it)"
                .into(),
        );
    }
    for (needle, why) in [
        (
            "\\",
            "a backslash (an escape in MySQL strings, or a client command such as \\!)",
        ),
        ("#", "'#' (a comment in MySQL)"),
        ("--", "'--' (a comment in MySQL only when a space follows)"),
        (
            "/*",
            "a /* comment (MySQL runs /*! … */ and does not nest comments)",
        ),
        ("*/", "a */ (MySQL does not nest comments)"),
        ("$", "'$' (dollar quoting is PostgreSQL's)"),
        (
            "\n",
            "a line break (the mysql client reads commands at the start of a line)",
        ),
        (
            "\r",
            "a line break (the mysql client reads commands at the start of a line)",
        ),
    ] {
        if sql.contains(needle) {
            return Err(format!("mysql -e contains {why}"));
        }
    }
    Ok(())
}

fn check_tokens(sql: &str, done: usize, dialect: Dialect) -> Result<usize, String> {
    let toks = lex(sql, dialect)?;
    let mut n = done;
    for stmt in toks.split(|t| *t == Tok::Punct(b';')) {
        if stmt.is_empty() {
            continue;
        }
        n += 1;
        check_statement(stmt, n, dialect)?;
    }
    if n == done {
        return Err("psql -c has no SQL statement".into());
    }
    Ok(n)
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn check_statement(stmt: &[Tok], n: usize, dialect: Dialect) -> Result<(), String> {
    match stmt[0] {
        Tok::Ident(w) if is_start_keyword(&lower(w)) => {}
        // MySQL's table descriptions.
        Tok::Ident(w)
            if dialect == Dialect::Mysql && matches!(lower(w).as_str(), "describe" | "desc") => {}
        first => {
            let shown = match first {
                Tok::Ident(w) => w.to_ascii_uppercase(),
                Tok::QIdent(w) => format!("\"{w}\""),
                Tok::Punct(c) => (c as char).to_string(),
                Tok::Other => "a literal".into(),
            };
            return Err(format!(
                "psql statement {n} starts with {} (only SELECT/SHOW/EXPLAIN/WITH/VALUES/TABLE)",
                quote(&shown)
            ));
        }
    }
    for (k, tok) in stmt.iter().enumerate() {
        let (name, quoted) = match *tok {
            Tok::Ident(w) => (w, false),
            Tok::QIdent(w) => (w, true),
            _ => continue,
        };
        let lname = lower(name);
        // MariaDB's `NEXT VALUE FOR seq` and `seq.nextval` (Oracle mode)
        // advance a sequence, with no call for the function check to see.
        let dialect_denied =
            dialect == Dialect::Mysql && matches!(lname.as_str(), "next" | "nextval" | "setval");
        if !quoted && (is_denied_keyword(&lname) || dialect_denied) {
            return Err(format!(
                "psql statement {n} uses {}, which can write, lock or change the session",
                name.to_ascii_uppercase()
            ));
        }
        if stmt.get(k + 1) != Some(&Tok::Punct(b'(')) {
            continue;
        }
        // A call: `name(`. Quoted names are case-sensitive, so compare as is.
        let key = if quoted { name.to_owned() } else { lname };
        let qualified = k >= 1 && stmt[k - 1] == Tok::Punct(b'.');
        if qualified {
            let schema_ok = k >= 2
                && matches!(stmt[k - 2], Tok::Ident(s) if s.eq_ignore_ascii_case("pg_catalog"));
            if !schema_ok || !is_allowed_function(&key) {
                return Err(format!(
                    "psql statement {n} calls {}(), a schema-qualified function that is not a \
                     known read-only built-in",
                    quote(name)
                ));
            }
        } else if !(is_allowed_function(&key) || (!quoted && is_paren_keyword(&key))) {
            return Err(format!(
                "psql statement {n} calls {}(), which is not a known read-only function",
                quote(name)
            ));
        }
    }
    Ok(())
}

fn is_start_keyword(w: &str) -> bool {
    matches!(
        w,
        "select" | "with" | "show" | "explain" | "values" | "table"
    )
}

fn is_denied_keyword(w: &str) -> bool {
    matches!(
        w,
        "insert"
            | "update"
            | "delete"
            | "merge"
            | "into"
            | "create"
            | "drop"
            | "alter"
            | "truncate"
            | "grant"
            | "revoke"
            | "copy"
            | "call"
            | "do"
            | "vacuum"
            | "analyze"
            | "analyse"
            | "cluster"
            | "reindex"
            | "lock"
            | "listen"
            | "notify"
            | "unlisten"
            | "set"
            | "reset"
            | "discard"
            | "prepare"
            | "execute"
            | "deallocate"
            | "begin"
            | "commit"
            | "rollback"
            | "savepoint"
            | "refresh"
            | "import"
            | "comment"
            | "load"
            | "checkpoint"
            | "share"
            | "nowait"
    )
}

/// SQL keywords that may stand right before a `(`.
fn is_paren_keyword(w: &str) -> bool {
    matches!(
        w,
        "in" | "as"
            | "values"
            | "over"
            | "filter"
            | "exists"
            | "any"
            | "all"
            | "some"
            | "from"
            | "join"
            | "on"
            | "using"
            | "by"
            | "and"
            | "or"
            | "not"
            | "where"
            | "when"
            | "then"
            | "else"
            | "is"
            | "select"
            | "with"
            | "partition"
            | "group"
            | "having"
            | "limit"
            | "offset"
            | "union"
            | "intersect"
            | "except"
            | "distinct"
            | "case"
            | "array"
            | "lateral"
            | "row"
            | "explain"
            | "like"
            | "ilike"
            | "between"
            | "materialized"
    )
}

/// Read-only built-in functions (and type names used like `numeric(10,2)`).
fn is_allowed_function(w: &str) -> bool {
    matches!(
        w,
        "count"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "now"
            | "coalesce"
            | "nullif"
            | "greatest"
            | "least"
            | "pg_size_pretty"
            | "pg_size_bytes"
            | "pg_database_size"
            | "pg_relation_size"
            | "pg_total_relation_size"
            | "pg_table_size"
            | "pg_indexes_size"
            | "current_setting"
            | "current_database"
            | "current_schema"
            | "version"
            | "extract"
            | "date_part"
            | "date_trunc"
            | "age"
            | "round"
            | "trunc"
            | "floor"
            | "ceil"
            | "ceiling"
            | "abs"
            | "lower"
            | "upper"
            | "length"
            | "char_length"
            | "octet_length"
            | "substr"
            | "substring"
            | "left"
            | "right"
            | "trim"
            | "btrim"
            | "ltrim"
            | "rtrim"
            | "lpad"
            | "rpad"
            | "concat"
            | "concat_ws"
            | "split_part"
            | "position"
            | "strpos"
            | "replace"
            | "regexp_replace"
            | "to_char"
            | "to_timestamp"
            | "string_agg"
            | "array_agg"
            | "array_length"
            | "array_to_string"
            | "unnest"
            | "generate_series"
            | "json_agg"
            | "jsonb_agg"
            | "json_build_object"
            | "jsonb_build_object"
            | "bool_and"
            | "bool_or"
            | "stddev"
            | "variance"
            | "clock_timestamp"
            | "statement_timestamp"
            | "pg_postmaster_start_time"
            | "pg_conf_load_time"
            | "pg_is_in_recovery"
            | "pg_current_wal_lsn"
            | "pg_current_wal_insert_lsn"
            | "pg_last_wal_receive_lsn"
            | "pg_last_wal_replay_lsn"
            | "pg_last_xact_replay_timestamp"
            | "pg_wal_lsn_diff"
            | "pg_blocking_pids"
            | "pg_backend_pid"
            | "pg_get_userbyid"
            | "pg_get_indexdef"
            | "pg_get_constraintdef"
            | "format_type"
            | "has_table_privilege"
            | "cast"
            | "row_number"
            | "rank"
            | "dense_rank"
            | "lag"
            | "lead"
            | "percentile_cont"
            | "percentile_disc"
            | "interval"
            | "numeric"
            | "decimal"
            | "int"
            | "integer"
            | "bigint"
            | "text"
            | "varchar"
            | "timestamp"
            | "timestamptz"
    )
}

fn lex(sql: &str, dialect: Dialect) -> Result<Vec<Tok<'_>>, String> {
    let b = sql.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i)?,
            b'\'' => {
                i = skip_standard_string(b, i + 1)?;
                toks.push(Tok::Other);
            }
            b'"' => {
                let (end, text) = quoted_ident(sql, i + 1, b'"')?;
                i = end;
                toks.push(Tok::QIdent(text));
            }
            b'`' if dialect == Dialect::Mysql => {
                let (end, text) = quoted_ident(sql, i + 1, b'`')?;
                i = end;
                toks.push(Tok::QIdent(text));
            }
            b'$' => {
                i = dollar(b, i)?;
                toks.push(Tok::Other);
            }
            b'\\' => {
                return Err(
                    "psql -c contains a backslash (a psql meta-command or an ambiguous escape)"
                        .into(),
                )
            }
            b'(' | b')' | b';' | b',' | b'.' | b'[' | b']' => {
                toks.push(Tok::Punct(c));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &sql[start..i];
                let next = b.get(i).copied();
                if word.eq_ignore_ascii_case("u") && next == Some(b'&') {
                    return Err("psql -c uses a U& unicode-escape literal".into());
                }
                if word.eq_ignore_ascii_case("e") && next == Some(b'\'') {
                    // E'...': backslash escapes, the same under every setting.
                    i = skip_escape_string(b, i + 1)?;
                    toks.push(Tok::Other);
                } else {
                    toks.push(Tok::Ident(word));
                }
            }
            c if c.is_ascii_digit() => {
                i = number_end(sql, i)?;
                toks.push(Tok::Other);
            }
            _ => {
                toks.push(Tok::Other);
                i += 1;
            }
        }
    }
    Ok(toks)
}

/// The end of a numeric literal starting at `i`: digits (`_` between them),
/// a fraction, an exponent, or a `0x`/`0b`/`0o` literal. A letter right
/// after it is refused: servers read `1.0into` as `1.0 INTO`, a word this
/// checker must see.
fn number_end(sql: &str, start: usize) -> Result<usize, String> {
    let b = sql.as_bytes();
    let mut i = start;
    let digits = |i: &mut usize, ok: &dyn Fn(u8) -> bool| {
        while *i < b.len() && (ok(b[*i]) || b[*i] == b'_') {
            *i += 1;
        }
    };
    let radix =
        b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'b' | b'B' | b'o' | b'O'));
    if radix {
        i += 2;
        digits(&mut i, &|c| c.is_ascii_hexdigit());
    } else {
        digits(&mut i, &|c| c.is_ascii_digit());
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i, &|c| c.is_ascii_digit());
        }
        if matches!(b.get(i), Some(b'e' | b'E'))
            && b.get(i + 1).is_some_and(|c| {
                c.is_ascii_digit()
                    || ((*c == b'+' || *c == b'-') && b.get(i + 2).is_some_and(u8::is_ascii_digit))
            })
        {
            i += 2;
            digits(&mut i, &|c| c.is_ascii_digit());
        }
    }
    if b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c >= 0x80)
    {
        let end = sql[i..]
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(sql.len(), |n| i + n);
        return Err(format!(
            "psql -c has a number joined to a word ({}): the server reads them apart",
            quote(&sql[start..end])
        ));
    }
    Ok(i)
}

fn skip_block_comment(b: &[u8], mut i: usize) -> Result<usize, String> {
    // PostgreSQL block comments nest.
    let mut depth = 0usize;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err("psql -c has an unterminated /* comment".into())
}

fn skip_standard_string(b: &[u8], mut i: usize) -> Result<usize, String> {
    while i < b.len() {
        match b[i] {
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Ok(i + 1),
            // Its meaning depends on standard_conforming_strings: refuse.
            b'\\' => {
                return Err(
                    "psql -c has a backslash in a string literal (use E'...' strings)".into(),
                )
            }
            _ => i += 1,
        }
    }
    Err("psql -c has an unterminated string literal".into())
}

fn skip_escape_string(b: &[u8], mut i: usize) -> Result<usize, String> {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("psql -c has an unterminated E'...' string".into())
}

fn quoted_ident(sql: &str, start: usize, quote: u8) -> Result<(usize, &str), String> {
    let b = sql.as_bytes();
    let mut i = start;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Ok((i + 1, &sql[start..i]));
        }
        i += 1;
    }
    Err("psql -c has an unterminated quoted identifier".into())
}

/// `$n` parameters and `$tag$ … $tag$` dollar-quoted strings.
fn dollar(b: &[u8], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    if b.get(j).is_some_and(u8::is_ascii_digit) {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        return Ok(j);
    }
    if b.get(j)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c >= 0x80)
    {
        while b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c >= 0x80)
        {
            j += 1;
        }
    }
    if b.get(j) != Some(&b'$') {
        return Err("psql -c has a stray '$'".into());
    }
    let tag = &b[i..=j];
    let body = j + 1;
    match b[body..].windows(tag.len()).position(|w| w == tag) {
        Some(p) => Ok(body + p + tag.len()),
        None => Err("psql -c has an unterminated $tag$ string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) {
        if let Err(e) = check(sql, 0) {
            panic!("{sql:?} refused: {e}");
        }
    }

    fn refused(sql: &str) -> String {
        match check(sql, 0) {
            Ok(_) => panic!("{sql:?} allowed"),
            Err(e) => e,
        }
    }

    #[test]
    fn read_only_statements_pass() {
        ok("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'");
        ok("select 1;");
        ok("show max_connections; select now()");
        ok("WITH x AS (SELECT 1 AS a) SELECT a FROM x");
        ok("select pid, age(clock_timestamp(), query_start) from pg_stat_activity order by 2 desc limit 5");
        ok("select pg_size_pretty(pg_database_size(current_database()))");
        ok("explain select * from t where id in (1, 2)");
        ok("values (1), (2)");
        ok("table pg_stat_replication");
        ok("select 'it''s', E'a\\'b', $$ drop table x $$, $q$ ; delete $q$");
        ok("select \"update\" from t -- delete\n");
        ok("select /* drop /* nested */ table */ 1");
        ok("select percentile_cont(0.5) within group (order by x) from t");
        ok("select pg_catalog.now()");
        ok("select x::int, cast(y as text) from t");
        ok("select case when pg_is_in_recovery() then 'replica' else 'primary' end");
        ok("select * from generate_series(1, 3)");
    }

    #[test]
    fn writes_and_side_effects_are_refused() {
        assert!(refused("DELETE FROM t").contains("starts with 'DELETE'"));
        assert!(refused("select 1; drop table t").contains("statement 2 starts with 'DROP'"));
        assert!(refused("select * into t2 from t").contains("INTO"));
        assert!(refused("select pg_terminate_backend(1)").contains("pg_terminate_backend"));
        assert!(refused("select pg_sleep (10)").contains("pg_sleep"));
        assert!(refused("select \"pg_cancel_backend\"(1)").contains("pg_cancel_backend"));
        assert!(refused("select public.count(1)").contains("schema-qualified"));
        assert!(refused("select pg_catalog.pg_reload_conf()").contains("pg_reload_conf"));
        assert!(refused("select set_config('a','b',false)").contains("set_config"));
        assert!(refused("select * from t for update").contains("UPDATE"));
        assert!(refused("select * from t for share").contains("SHARE"));
        assert!(
            refused("with d as (delete from t returning *) select * from d").contains("DELETE")
        );
        assert!(refused("explain analyze select 1").contains("ANALYZE"));
        assert!(refused("select 1 -- x\n; drop table t").contains("DROP"));
        assert!(refused("select myfunc(1)").contains("myfunc"));
        assert!(refused("select lo_export(1, '/tmp/x')").contains("lo_export"));
    }

    #[test]
    fn lexing_is_strict() {
        assert!(refused("select 'abc").contains("unterminated string"));
        assert!(refused("select E'abc\\'").contains("unterminated E"));
        assert!(refused("select $$abc").contains("unterminated $tag$"));
        assert!(refused("select /* x").contains("unterminated /*"));
        assert!(refused("select \"x").contains("quoted identifier"));
        assert!(refused("select 'a\\'; drop table t; --'").contains("backslash"));
        assert!(refused("\\! rm x").contains("backslash"));
        assert!(refused("select U&'\\0041'").contains("U&"));
        assert!(refused("select $ 1").contains("stray"));
        assert!(refused("  ;  ").contains("no SQL statement"));
    }

    #[test]
    fn numbering_continues_across_values() {
        assert_eq!(check("select 1; select 2", 0), Ok(2));
        assert!(check("drop table t", 2)
            .unwrap_err()
            .contains("statement 3"));
    }

    #[test]
    fn mysql_refuses_what_its_lexer_reads_differently() {
        let mysql = |sql: &str| check_dialect(sql, 0, Dialect::Mysql);
        assert_eq!(mysql("SHOW ENGINE INNODB STATUS\\G"), Ok(1));
        assert_eq!(mysql("select `a;b` from t; describe t"), Ok(2));
        for (sql, why) in [
            ("select 1--1; delete from t", "'--'"),
            ("select 1 /*! ; drop table t */", "/*"),
            ("select 1 # ; drop table t", "'#'"),
            ("select 'a\\'; drop table t", "backslash"),
            ("select 1 \\! rm -rf /", "backslash"),
            ("select 1;\nsystem rm x", "line break"),
            ("select `'`, sleep(9), `'`", "sleep"),
            ("select 1 \\G; drop table t", "backslash"),
            ("system rm x", "SYSTEM"),
        ] {
            let e = mysql(sql).unwrap_err();
            assert!(e.contains(why) && e.starts_with("mysql"), "{sql}: {e}");
        }
        // PostgreSQL keeps its own lexer: a backtick is not a quote there.
        assert!(check("select `a;b` from t", 0).is_err());
    }

    #[test]
    fn a_number_joined_to_a_word_is_refused() {
        for sql in [
            "select 1.0into t",
            "select 1e0into t",
            "select 0x41from t",
            "select 1_0x",
        ] {
            assert!(refused(sql).contains("number joined to a word"), "{sql}");
        }
        assert_eq!(
            check("select 1.5e3, 2E-3, 0x1F, 0b101, 1_000, 10.", 0),
            Ok(1)
        );
    }
}
