//! `awk` / `gawk` / `mawk`: options that never load code from elsewhere, and
//! a program that never runs a command, reads through a pipe, or writes a
//! file.
//!
//! The program is scanned with just enough of awk's lexer to skip strings,
//! regex literals and comments. Where awk itself decides between a regex and
//! a division from the grammar (after `)`, a keyword, `$`, `++`), the scan
//! cannot tell and refuses a `/` there rather than guess.

use super::lexer::Word;
use super::quote;
use super::rules::Globs;

/// Checks awk's arguments; globs are accepted among the operands after the
/// program (input files).
pub(crate) fn check_args(args: &[Word], globs: &mut Globs) -> Result<(), String> {
    let mut sources: Vec<&str> = Vec::new();
    let mut i = 0;
    // Options end at the program (awk stops at the first operand).
    while i < args.len() {
        let w = &args[i];
        let a = w.text.as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if a == "-" || !a.starts_with('-') {
            break;
        }
        i += 1;
        if a.starts_with("--") {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            for (long, why) in DENIED_LONG {
                if name.len() > 2 && long.starts_with(name) {
                    return Err(format!("{} {why}", quote(&format!("awk {name}"))));
                }
            }
            match name {
                "--field-separator" | "--assign" | "--source" => {
                    let v = match value {
                        Some(v) => v,
                        None => {
                            let Some(n) = args.get(i) else {
                                return Err(format!("'awk {name}' needs a value"));
                            };
                            i += 1;
                            n.text.as_str()
                        }
                    };
                    if name == "--source" {
                        no_glob(w)?;
                        sources.push(v);
                    }
                }
                "--posix"
                | "--traditional"
                | "--sandbox"
                | "--re-interval"
                | "--characters-as-bytes" => {}
                _ => {
                    return Err(format!(
                        "'awk' option {} is not in the read-only set",
                        quote(name)
                    ))
                }
            }
            continue;
        }
        let body = &a[1..];
        for (k, ch) in body.char_indices() {
            match ch {
                'F' | 'v' | 'e' => {
                    let rest = &body[k + 1..];
                    let v = if rest.is_empty() {
                        let Some(n) = args.get(i) else {
                            return Err(format!("'awk -{ch}' needs a value"));
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
                        sources.push(v);
                    }
                    break;
                }
                'b' | 'P' => {}
                'f' => {
                    return Err(
                        "'awk -f' reads the program from a file that cannot be checked".into(),
                    )
                }
                'i' => return Err("'awk -i' includes a source file that cannot be checked".into()),
                'l' => return Err("'awk -l' loads a compiled extension".into()),
                'E' => {
                    return Err(
                        "'awk -E' reads the program from a file that cannot be checked".into(),
                    )
                }
                'W' => return Err("'awk -W' options can run a program file (mawk -W exec)".into()),
                _ => {
                    return Err(format!(
                        "'awk' option {} is not in the read-only set",
                        quote(&format!("-{ch}"))
                    ))
                }
            }
        }
    }
    if sources.is_empty() {
        let Some(w) = args.get(i) else {
            return Err("'awk' without a program".into());
        };
        no_glob(w)?;
        sources.push(w.text.as_str());
        i += 1;
    }
    for (k, w) in args.iter().enumerate().skip(i) {
        globs.accept(args, k);
        let a = w.text.as_str();
        if a.starts_with('-') && a != "-" {
            return Err(format!(
                "awk operand {} after the program looks like an option",
                quote(a)
            ));
        }
        if a.starts_with("/inet") {
            return Err(format!(
                "awk operand {} is a gawk network special file",
                quote(a)
            ));
        }
    }
    for s in sources {
        check_program(s)?;
    }
    Ok(())
}

const DENIED_LONG: [(&str, &str); 9] = [
    (
        "--file",
        "reads the program from a file that cannot be checked",
    ),
    ("--include", "includes a source file that cannot be checked"),
    ("--load", "loads a compiled extension"),
    (
        "--exec",
        "reads the program from a file that cannot be checked",
    ),
    ("--dump-variables", "writes a file"),
    ("--profile", "writes a file"),
    ("--pretty-print", "writes a file"),
    ("--debug", "starts an interactive debugger"),
    ("--lint", "is not needed for read-only use"),
];

fn no_glob(w: &Word) -> Result<(), String> {
    match w.glob_at {
        Some(_) => Err(format!(
            "unquoted glob in the awk program {}; quote it",
            quote(&w.text)
        )),
        None => Ok(()),
    }
}

/// What the previous token lets a `/` be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slash {
    Regex,
    Division,
    Unknown,
}

const KEYWORDS: [&str; 25] = [
    "BEGIN",
    "END",
    "BEGINFILE",
    "ENDFILE",
    "function",
    "func",
    "if",
    "else",
    "while",
    "for",
    "do",
    "break",
    "continue",
    "next",
    "nextfile",
    "exit",
    "return",
    "delete",
    "in",
    "getline",
    "print",
    "printf",
    "case",
    "default",
    "length",
];

/// Checks one awk program text.
///
/// Output redirection (`print … > file`) exists only in print and printf
/// statements, where a `>` outside parentheses redirects. Such a statement
/// ends at `;`, `}` or a newline, but awk reads a newline as a space after
/// a token that cannot end an expression (`,` `{` `&&` `||` `do` `else`,
/// any operator) and inside parentheses, and `\`-newline is always a
/// space: the print stays open there, so a `>` on the next line still
/// redirects.
pub(crate) fn check_program(p: &str) -> Result<(), String> {
    let b = p.as_bytes();
    let mut i = 0;
    let mut slash = Slash::Regex;
    let mut in_print = false;
    // Open parentheses and brackets, and the parentheses open when the
    // print began (a `>` inside more of them is a comparison).
    let (mut parens, mut brackets, mut print_parens) = (0usize, 0usize, 0usize);
    // The last token can end an expression: only then may a newline end
    // the statement.
    let mut ends = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'\n' => {
                if !ends {
                    // A continuation: an operand comes next.
                    slash = Slash::Regex;
                } else if parens == 0 && brackets == 0 {
                    in_print = false;
                    slash = Slash::Regex;
                    ends = false;
                } else {
                    // Awks differ on a newline inside parentheses.
                    slash = Slash::Unknown;
                }
                i += 1;
            }
            b';' | b'{' | b'}' => {
                in_print = false;
                slash = Slash::Regex;
                ends = false;
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i = string_end(b, i + 1)?;
                slash = Slash::Division;
                ends = true;
            }
            b'/' => match slash {
                Slash::Regex => {
                    i = regex_end(b, i + 1)?;
                    slash = Slash::Division;
                    ends = true;
                }
                Slash::Division => {
                    i += 1;
                    slash = Slash::Regex;
                    ends = false;
                }
                Slash::Unknown => {
                    return Err(
                        "awk program has a '/' that could be a regex or a division; add \
                         parentheses or spaces to make it clear"
                            .into(),
                    )
                }
            },
            b'@' => {
                return Err("awk '@' (gawk @load, @include, indirect calls) is not allowed".into())
            }
            b'|' => {
                if b.get(i + 1) == Some(&b'|') {
                    i += 2;
                    slash = Slash::Regex;
                    ends = false;
                } else {
                    return Err("awk '|' pipes to or from a command".into());
                }
            }
            b'>' => {
                if b.get(i + 1) == Some(&b'>') {
                    return Err("awk '>>' appends to a file".into());
                }
                if in_print && parens <= print_parens {
                    return Err(
                        "awk '>' in a print/printf statement (outside parentheses) writes to a \
                         file"
                            .into(),
                    );
                }
                i += 1;
                slash = Slash::Regex;
                ends = false;
            }
            b'+' | b'-' if b.get(i + 1) == Some(&c) => {
                i += 2;
                slash = Slash::Unknown;
                ends = true;
            }
            b'(' | b'[' => {
                if c == b'(' {
                    parens += 1;
                } else {
                    brackets += 1;
                }
                i += 1;
                slash = Slash::Regex;
                ends = false;
            }
            b')' | b']' => {
                let open = if c == b')' {
                    &mut parens
                } else {
                    &mut brackets
                };
                if *open == 0 {
                    return Err(format!("awk program has an unmatched '{}'", c as char));
                }
                *open -= 1;
                i += 1;
                slash = if c == b')' {
                    Slash::Unknown
                } else {
                    Slash::Division
                };
                ends = true;
            }
            b'$' => {
                i += 1;
                slash = Slash::Unknown;
                ends = false;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &p[start..i];
                match word {
                    "system" => return Err("awk system() runs a shell command".into()),
                    "getline" => return Err("awk getline can read from a command or a file".into()),
                    "fflush" | "close" => {
                        return Err(format!("awk {word}() acts on pipes and files"))
                    }
                    "print" | "printf" => {
                        in_print = true;
                        print_parens = parens;
                    }
                    _ => {}
                }
                let keyword = KEYWORDS.contains(&word);
                slash = if keyword {
                    Slash::Unknown
                } else {
                    Slash::Division
                };
                // A bare `print` or `length` is a whole statement or operand.
                ends = !keyword || matches!(word, "print" | "printf" | "length");
            }
            c if c.is_ascii_digit() || c == b'.' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                slash = Slash::Division;
                ends = true;
            }
            _ => {
                // Operators and other punctuation: an operand comes next.
                i += 1;
                slash = Slash::Regex;
                ends = false;
            }
        }
    }
    Ok(())
}

fn string_end(b: &[u8], mut i: usize) -> Result<usize, String> {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            b'\n' => break,
            _ => i += 1,
        }
    }
    Err("awk program has an unterminated string".into())
}

fn regex_end(b: &[u8], mut i: usize) -> Result<usize, String> {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'/' => return Ok(i + 1),
            b'\n' => break,
            b'[' => {
                // awks differ on a '/' inside brackets: refuse it.
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                loop {
                    match b.get(j) {
                        None | Some(b'\n') => {
                            return Err("awk regex has an unterminated bracket expression".into())
                        }
                        Some(b'/') => {
                            return Err(
                                "awk regex has a '/' inside a bracket expression (awks differ \
                                 on it)"
                                    .into(),
                            )
                        }
                        Some(b'[') if matches!(b.get(j + 1), Some(b':' | b'.' | b'=')) => {
                            let close = [b[j + 1], b']'];
                            match b[j + 2..].windows(2).position(|w| w == close) {
                                Some(p) if !b[j + 2..j + 2 + p].contains(&b'/') => j += p + 4,
                                _ => return Err("awk regex has a malformed character class".into()),
                            }
                        }
                        Some(b']') => break,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    Err("awk program has an unterminated regex".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_programs_pass() {
        for p in [
            "{print $1}",
            "$5+0 > 80 {print $6}",
            "{ if ($5 > 80) print $6 }",
            "/ERROR|WARN/ {n++} END {print n}",
            "$1 == \"a\" || $1 == \"b\"",
            "{sum += $2} END {printf \"%.1f\\n\", sum/NR}",
            "NR > 1 {print $NF / 1024}",
            "{ a[$1]++ } END { for (k in a) print k, a[k] }",
            "BEGIN { FS=\":\" } { print $1 }",
            "$3 ~ /^[[:digit:]]+$/",
            "{print \"a|b > c\"} # print > x",
            "length($0) > 100",
            // A comparison in parentheses is not a redirection.
            "{ print ($1 > 80) }",
            "{ print $1, ($2 > 0 ? \"up\" : \"down\") }",
            // The print ends at the newline after a complete expression.
            "{\n  print $1\n  if ($2 > 5) n++\n}",
            "{ print\n  x = $1 > 0 }",
            "{ print $1,\n  $2 }",
        ] {
            if let Err(e) = check_program(p) {
                panic!("{p:?} refused: {e}");
            }
        }
    }

    #[test]
    fn commands_pipes_and_writes_are_refused() {
        for (p, why) in [
            ("BEGIN{system(\"id\")}", "system"),
            ("{print > \"/tmp/x\"}", "'>'"),
            ("{print $1 > 80}", "'>'"),
            ("{printf \"x\" >> \"f\"}", ">>"),
            ("{print | \"sh\"}", "'|'"),
            ("{\"id\" | getline x}", "'|'"),
            (
                "BEGIN{while ((getline l < \"/etc/shadow\") > 0) print l}",
                "getline",
            ),
            ("{print |& \"cat\"}", "'|'"),
            ("@load \"filefuncs\"", "@"),
            ("BEGIN{f=\"sys\" \"tem\"; @f(\"id\")}", "@"),
            ("{close(\"x\")}", "close"),
            ("{fflush()}", "fflush"),
            ("{x = (a) /2/ y}", "regex or a division"),
            ("{print /x/}", "regex or a division"),
            ("{x = \"abc}", "unterminated string"),
            ("/abc", "unterminated regex"),
            ("$0 ~ /a[/]?b/", "bracket"),
            ("/[/\"/ { print > \"f\" } \"/ {}", "bracket"),
            // Statements continue after these tokens, so the print is open.
            ("{print \"x\",\n> \"/tmp/f\"}", "'>'"),
            ("{printf \"%s\", $1,\n  $2 > \"/tmp/f\"}", "'>'"),
            ("{print $1 &&\n1 > \"/tmp/f\"}", "'>'"),
            ("{print $1 ||\n0 > \"/tmp/f\"}", "'>'"),
            ("{print $1 ?\n$2 : $3 > \"/tmp/f\"}", "'>'"),
            ("{print $1 \\\n> \"/tmp/f\"}", "'>'"),
            ("{print $1, # comment\n> \"/tmp/f\"}", "'>'"),
            ("{print $1 +\r\n2 > \"/tmp/f\"}", "'>'"),
            ("BEGIN { if (1) print \"a\",\n\"b\" > \"/tmp/f\" }", "'>'"),
            ("{print (\"x\"\n) > \"/tmp/f\"}", "'>'"),
            ("{print (\"x\") > \"/tmp/f\"}", "'>'"),
            ("{print a[1 > 0]}", "'>'"),
            ("{print 1 }) > (\"f\"", "unmatched"),
        ] {
            match check_program(p) {
                Ok(()) => panic!("{p:?} allowed"),
                Err(e) => assert!(e.contains(why), "{p:?}: {e}"),
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
        assert!(check(&words(&["-F:", "{print $1}", "/etc/passwd"])).is_ok());
        assert!(check(&words(&["-F", ",", "-v", "x=1", "{print x}"])).is_ok());
        assert!(check(&words(&["-f", "prog.awk"])).is_err());
        assert!(check(&words(&["--exec=prog.awk"])).is_err());
        assert!(check(&words(&["--inc", "x"])).is_err());
        assert!(check(&words(&["-l", "filefuncs", "{}"])).is_err());
        assert!(check(&words(&["-W", "exec", "x"])).is_err());
        assert!(check(&words(&["{print}", "/inet/tcp/0/evil/80"])).is_err());
        assert!(check(&words(&["{print}", "-f"])).is_err());
        assert!(check(&words(&[])).is_err());
    }
}
