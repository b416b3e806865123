//! `sed`: options that never edit in place or read a script file, and a
//! script made only of commands that print or transform the stream.
//!
//! The script parser follows GNU sed's own reading (`match_slash`): a regex
//! ends at the first unescaped delimiter, brackets included, and a newline
//! inside one is an error.

use super::lexer::Word;
use super::quote;
use super::rules::{no_control, Globs};

/// Checks sed's arguments; globs are accepted among the input files.
pub(crate) fn check_args(args: &[Word], globs: &mut Globs) -> Result<(), String> {
    let mut scripts: Vec<&str> = Vec::new();
    // The words scripts come from: only they may span lines.
    let mut script_words: Vec<usize> = Vec::new();
    let mut first_operand: Option<usize> = None;
    let mut i = 0;
    let mut done = false;
    while i < args.len() {
        let w = &args[i];
        let a = w.text.as_str();
        i += 1;
        if done || a == "-" || !a.starts_with('-') {
            match first_operand {
                None => first_operand = Some(i - 1),
                Some(_) => globs.accept(args, i - 1),
            }
            continue;
        }
        if a == "--" {
            done = true;
            continue;
        }
        if a.starts_with("--") {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            // getopt_long takes abbreviations: `--in-pl` is `--in-place`.
            if name.len() > 2 && "--in-place".starts_with(name) {
                return Err(format!(
                    "{} edits files in place",
                    quote(&format!("sed {name}"))
                ));
            }
            if name.len() > 2 && "--file".starts_with(name) {
                return Err(format!(
                    "{} reads the script from a file that cannot be checked",
                    quote(&format!("sed {name}"))
                ));
            }
            match name {
                "--expression" => {
                    let v = match value {
                        Some(v) => v,
                        None => {
                            let Some(n) = args.get(i) else {
                                return Err("'sed --expression' needs a script".into());
                            };
                            i += 1;
                            no_glob(n)?;
                            n.text.as_str()
                        }
                    };
                    no_glob(w)?;
                    script_words.push(i - 1);
                    scripts.push(v);
                }
                "--quiet" | "--silent" | "--regexp-extended" | "--separate" | "--unbuffered"
                | "--null-data" | "--zero-terminated" | "--posix" | "--debug" | "--sandbox"
                | "--follow-symlinks" => {}
                "--line-length" => {
                    let v = match value {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i - 1).map_or("", |n| n.text.as_str())
                        }
                    };
                    line_length(v)?;
                }
                _ => {
                    return Err(format!(
                        "'sed' option {} is not in the read-only set",
                        quote(name)
                    ))
                }
            }
            continue;
        }
        let body = &a[1..];
        for (k, ch) in body.char_indices() {
            match ch {
                'n' | 'E' | 'r' | 's' | 'u' | 'z' => {}
                'i' => {
                    return Err(format!("'sed -i' edits files in place (in {})", quote(a)));
                }
                'f' => {
                    return Err(
                        "'sed -f' reads the script from a file that cannot be checked".into(),
                    )
                }
                'e' | 'l' => {
                    let rest = &body[k + 1..];
                    let v = if rest.is_empty() {
                        let Some(n) = args.get(i) else {
                            return Err(format!("'sed -{ch}' needs a value"));
                        };
                        i += 1;
                        if ch == 'e' {
                            no_glob(n)?;
                        }
                        n.text.as_str()
                    } else {
                        if ch == 'e' {
                            no_glob(w)?;
                        }
                        rest
                    };
                    if ch == 'e' {
                        script_words.push(i - 1);
                        scripts.push(v);
                    } else {
                        line_length(v)?;
                    }
                    break;
                }
                _ => {
                    return Err(format!(
                        "'sed' option {} is not in the read-only set",
                        quote(&format!("-{ch}"))
                    ))
                }
            }
        }
    }
    if scripts.is_empty() {
        let Some(k) = first_operand else {
            return Err("'sed' without a script".into());
        };
        no_glob(&args[k])?;
        script_words.push(k);
        scripts.push(&args[k].text);
    } else if let Some(k) = first_operand {
        globs.accept(args, k);
    }
    for (k, w) in args.iter().enumerate() {
        if !script_words.contains(&k) {
            no_control("sed", &w.text)?;
        }
    }
    // GNU sed joins -e pieces with newlines before parsing.
    check_script(&scripts.join("\n"))
}

/// GNU sed's `-l N` takes a number; another sed may read `-l` as a flag
/// and the next word as the script, so anything else is refused.
fn line_length(v: &str) -> Result<(), String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'sed -l' takes a number, not {} (a sed without -l N would run it as the script)",
            quote(v)
        ));
    }
    Ok(())
}

fn no_glob(w: &Word) -> Result<(), String> {
    match w.glob_at {
        Some(_) => Err(format!(
            "unquoted glob in the sed script {}; quote it",
            quote(&w.text)
        )),
        None => Ok(()),
    }
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Index just after the unescaped `delim` that closes a regex (`regex`) or
/// a replacement / `y` part.
fn delimited_end(b: &[u8], mut i: usize, delim: u8, regex: bool) -> Result<usize, String> {
    loop {
        match b.get(i) {
            None | Some(b'\n') => {
                return Err("unterminated regex or replacement in the sed script".into())
            }
            Some(b'\\') => {
                if i + 1 >= b.len() {
                    return Err("unterminated regex or replacement in the sed script".into());
                }
                i += 2;
            }
            Some(b'[') if regex => i = bracket_end(b, i, delim)?,
            Some(&c) if c == delim => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

/// GNU sed does not end a regex at a delimiter inside `[...]`; other seds
/// might. A delimiter inside brackets is refused, so both readings agree.
fn bracket_end(b: &[u8], start: usize, delim: u8) -> Result<usize, String> {
    let mut j = start + 1;
    if b.get(j) == Some(&b'^') {
        j += 1;
    }
    if b.get(j) == Some(&b']') {
        j += 1;
    }
    loop {
        match b.get(j) {
            None | Some(b'\n') => {
                return Err("unterminated bracket expression in the sed script".into())
            }
            Some(&c) if c == delim => {
                return Err(format!(
                    "the delimiter {} inside a bracket expression is read differently by \
                     different seds",
                    sed_char(c)
                ))
            }
            Some(b'[') if matches!(b.get(j + 1), Some(b':' | b'.' | b'=')) => {
                let close = [b[j + 1], b']'];
                let from = j + 2;
                match b[from..].windows(2).position(|w| w == close) {
                    Some(p)
                        if !b[from..from + p].contains(&delim)
                            && !b[from..from + p].contains(&b'\n') =>
                    {
                        j = from + p + 2
                    }
                    _ => return Err("malformed character class in the sed script".into()),
                }
            }
            Some(b']') => return Ok(j + 1),
            Some(_) => j += 1,
        }
    }
}

fn address(b: &[u8], i: usize, second: bool) -> Result<usize, String> {
    match b.get(i) {
        Some(c) if c.is_ascii_digit() => {
            let j = skip_digits(b, i);
            if b.get(j) == Some(&b'~') {
                return Ok(skip_digits(b, j + 1));
            }
            Ok(j)
        }
        Some(b'+' | b'~') if second => Ok(skip_digits(b, i + 1)),
        Some(b'$') => Ok(i + 1),
        Some(b'/') => {
            let mut j = delimited_end(b, i + 1, b'/', true)?;
            while matches!(b.get(j), Some(b'I' | b'M')) {
                j += 1;
            }
            Ok(j)
        }
        Some(b'\\') => Err("custom sed address delimiters (\\c...c) are not supported".into()),
        _ if second => Err("sed address range without an end".into()),
        _ => Ok(i),
    }
}

fn sed_char(c: u8) -> String {
    quote(&String::from_utf8_lossy(&[c]))
}

/// Checks a whole sed script.
pub(crate) fn check_script(script: &str) -> Result<(), String> {
    let b = script.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b';')) {
            i += 1;
        }
        let Some(&c) = b.get(i) else { break };
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'}' {
            depth = depth
                .checked_sub(1)
                .ok_or_else(|| "unmatched '}' in the sed script".to_string())?;
            i += 1;
            continue;
        }
        i = address(b, i, false)?;
        i = skip_blanks(b, i);
        if b.get(i) == Some(&b',') {
            i = skip_blanks(b, i + 1);
            i = address(b, i, true)?;
            i = skip_blanks(b, i);
        }
        while b.get(i) == Some(&b'!') {
            i = skip_blanks(b, i + 1);
        }
        let Some(&cmd) = b.get(i) else {
            return Err("sed address without a command".into());
        };
        i += 1;
        match cmd {
            b'{' => {
                depth += 1;
                continue;
            }
            b'p' | b'P' | b'd' | b'D' | b'=' | b'n' | b'N' | b'h' | b'H' | b'g' | b'G' | b'x'
            | b'z' => {}
            b'q' | b'Q' | b'l' => i = skip_digits(b, skip_blanks(b, i)),
            b's' => i = substitute(b, i)?,
            b'y' => {
                let delim = delimiter(b, i)?;
                i = delimited_end(b, i + 1, delim, false)?;
                i = delimited_end(b, i, delim, false)?;
            }
            b'w' | b'W' => return Err("sed 'w' writes a file".into()),
            b'r' | b'R' => return Err("sed 'r' reads another file into the output".into()),
            b'e' => return Err("sed 'e' runs a shell command".into()),
            b'a' | b'i' | b'c' => return Err(
                "sed text commands a/i/c are not supported (their text can hide other commands)"
                    .into(),
            ),
            b':' | b'b' | b't' | b'T' => {
                return Err("sed labels and branches are not supported".into())
            }
            _ => {
                return Err(format!(
                    "sed command {} is not in the read-only set",
                    sed_char(cmd)
                ))
            }
        }
        i = skip_blanks(b, i);
        match b.get(i) {
            None | Some(b';' | b'\n' | b'}' | b'#') => {}
            Some(&c) => return Err(format!("unexpected {} after a sed command", sed_char(c))),
        }
    }
    if depth != 0 {
        return Err("unterminated '{' in the sed script".into());
    }
    Ok(())
}

fn delimiter(b: &[u8], i: usize) -> Result<u8, String> {
    match b.get(i) {
        Some(&d) if d != b'\n' && d != b'\\' && d.is_ascii() => Ok(d),
        _ => Err("sed s/y command without a usable delimiter".into()),
    }
}

fn substitute(b: &[u8], i: usize) -> Result<usize, String> {
    let delim = delimiter(b, i)?;
    let mut i = delimited_end(b, i + 1, delim, true)?;
    i = delimited_end(b, i, delim, false)?;
    while let Some(&f) = b.get(i) {
        match f {
            b'g' | b'p' | b'i' | b'I' | b'm' | b'M' | b'0'..=b'9' => i += 1,
            b'e' => return Err("sed s///e runs the pattern space as a shell command".into()),
            b'w' => return Err("sed s///w writes a file".into()),
            _ => break,
        }
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_scripts_pass() {
        for s in [
            "1,20p",
            "s/a/b/",
            "s/a/b/g;s|c|d|2",
            "/ERROR/p",
            "$p",
            "/start/,/end/p",
            "0,/re/d",
            "1~2p",
            "/x/,+3p",
            "s/\\//x/g",
            "s/[a-z]/x/",
            "s/[[:digit:]]\\+/N/g",
            "s/[]x]/y/",
            "y/abc/xyz/",
            "/a/I!d",
            "/a/{p;q}",
            "{ s/a/b/ }",
            "",
            "# comment\np",
            "q5",
            "s/(a|b)/<\\1>/gp",
        ] {
            if let Err(e) = check_script(s) {
                panic!("{s:?} refused: {e}");
            }
        }
    }

    #[test]
    fn writes_and_execs_are_refused() {
        for (s, why) in [
            ("w /tmp/x", "'w'"),
            ("s/a/b/w /tmp/x", "s///w"),
            ("s/a/b/gw /tmp/x", "s///w"),
            ("s/a/b/e", "s///e"),
            ("e id", "'e'"),
            ("1e id", "'e'"),
            ("p;e id", "'e'"),
            ("r /etc/shadow", "'r'"),
            ("W /tmp/x", "'w'"),
            ("1a foo; w /tmp/x", "a/i/c"),
            (":a;b a", "labels"),
            ("s/a/b", "unterminated"),
            ("s/a/b/\nw x", "'w'"),
            ("{p", "unterminated"),
            ("p}", "unmatched"),
            ("s/a/b/ x", "unexpected"),
            ("\\,a,p", "custom"),
            ("v", "not in the read-only set"),
            ("s/[/]p/g;p#/e", "bracket"),
            ("/[/]/p", "bracket"),
            ("s/[a/x/", "bracket"),
        ] {
            match check_script(s) {
                Ok(()) => panic!("{s:?} allowed"),
                Err(e) => assert!(e.contains(why), "{s:?}: {e}"),
            }
        }
    }

    fn check(a: &[Word]) -> Result<(), String> {
        check_args(a, &mut Globs::default())
    }

    fn words(s: &[&str]) -> Vec<Word> {
        s.iter()
            .map(|t| Word {
                text: (*t).into(),
                ..Word::default()
            })
            .collect()
    }

    #[test]
    fn options() {
        assert!(check(&words(&["-n", "1,20p", "f"])).is_ok());
        assert!(check(&words(&["-ne", "p", "f"])).is_ok());
        assert!(check(&words(&["--expression=p", "-e", "s/a/b/", "f"])).is_ok());
        assert!(check(&words(&["-i", "s/a/b/", "f"])).is_err());
        assert!(check(&words(&["-ni", "s/a/b/p", "f"])).is_err());
        assert!(check(&words(&["s/a/b/", "f", "-i"])).is_err());
        assert!(check(&words(&["--in-pl", "s/a/b/", "f"])).is_err());
        assert!(check(&words(&["--in-place=.bak", "s/a/b/", "f"])).is_err());
        assert!(check(&words(&["-f", "script.sed", "f"])).is_err());
        assert!(check(&words(&["-e", "s/a/b/", "-e", "w /tmp/x"])).is_err());
        assert!(check(&words(&["-n"])).is_err());
    }
}
