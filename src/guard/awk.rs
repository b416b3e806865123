//! `awk` / `gawk` / `mawk` / `nawk` / `original-awk`: only the options
//! every awk reads the same way, and a program that never runs a command,
//! reads through a pipe, writes a file, or changes which files are read.
//!
//! The program is scanned with just enough of awk's lexer to skip strings,
//! regex literals and comments. Where awk itself decides between a regex and
//! a division from the grammar (after `)`, a keyword, `$`, `++`), the scan
//! cannot tell and refuses a `/` there rather than guess.

use super::lexer::Word;
use super::quote;
use super::rules::{no_control, Globs};

/// Variables through which a program changes the files awk opens (gawk
/// opens `/inet/...` network files put in ARGV at run time) or reaches
/// other variables by name.
const FILE_LIST_VARS: [&str; 4] = ["ARGV", "ARGC", "SYMTAB", "FUNCTAB"];

/// Checks awk's arguments; globs are accepted among the operands after the
/// program (input files).
///
/// The options are only those every awk reads alike: `-F sep`, `-v
/// var=value` (value attached or in the next word) and `--`. The others
/// differ between implementations: one-true-awk ignores `-e`/`--source`
/// with a warning and takes the next word as the program, so a word read
/// here as a file would run.
pub(crate) fn check_args(args: &[Word], globs: &mut Globs) -> Result<(), String> {
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
        no_control("awk", a)?;
        let ch = a[1..].chars().next().unwrap_or('-');
        match ch {
            'F' | 'v' => {
                let v = if a.len() > 2 {
                    &a[2..]
                } else {
                    let Some(n) = args.get(i) else {
                        return Err(format!("'awk -{ch}' needs a value"));
                    };
                    i += 1;
                    no_control("awk", &n.text)?;
                    n.text.as_str()
                };
                if ch == 'v' {
                    assignment(v, "-v")?;
                }
            }
            _ => {
                let why = match ch {
                    'f' | 'E' => "reads the program from a file that cannot be checked",
                    'e' => {
                        "is read differently by each awk (one-true-awk ignores it and runs \
                            the next word as the program)"
                    }
                    'i' => "includes a source file that cannot be checked",
                    'l' => "loads a compiled extension",
                    'W' => "options can run a program file (mawk -W exec)",
                    '-' => "is a long option, which each awk reads differently",
                    _ => "is not read the same way by every awk",
                };
                let shown = if ch == '-' {
                    a.split_once('=').map_or(a, |(n, _)| n).to_owned()
                } else {
                    format!("-{ch}")
                };
                return Err(format!(
                    "'awk {}' {why} (only -F, -v and -- are allowed)",
                    shown.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    let Some(w) = args.get(i) else {
        return Err("'awk' without a program".into());
    };
    no_glob(w)?;
    let program = w.text.as_str();
    i += 1;
    for (k, w) in args.iter().enumerate().skip(i) {
        globs.accept(args, k);
        let a = w.text.as_str();
        no_control("awk", a)?;
        if a.starts_with('-') && a != "-" {
            return Err(format!(
                "awk operand {} after the program looks like an option",
                quote(a)
            ));
        }
        if a.starts_with("/inet") || a.starts_with("/dev/tcp/") || a.starts_with("/dev/udp/") {
            return Err(format!(
                "awk operand {} is a network special file (gawk opens a connection)",
                quote(a)
            ));
        }
        // `var=value` operands are assignments, made when awk reaches them.
        if a.contains('=') {
            assignment(a, "operand")?;
        }
    }
    check_program(program)
}

/// An awk assignment (`-v` value or `var=value` operand) must not set the
/// variables that decide which files awk opens.
fn assignment(v: &str, what: &str) -> Result<(), String> {
    let name = v.split_once('=').map_or(v, |(n, _)| n);
    if FILE_LIST_VARS.contains(&name) {
        return Err(format!(
            "awk {what} {} sets {name}, which decides which files awk opens",
            quote(v)
        ));
    }
    Ok(())
}

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
                    w if FILE_LIST_VARS.contains(&w) => {
                        return Err(format!(
                            "awk program uses {w}: a program that changes ARGV can make gawk \
                             open any file, /inet network connections included"
                        ))
                    }
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
        assert!(check(&words(&["-vx=1", "--", "{print x}", "-", "y=2", "f"])).is_ok());
        assert!(check(&words(&["-F", "\t", "{print}"])).is_ok());
        for (bad, why) in [
            (&["-f", "prog.awk"][..], "file"),
            (&["--exec=prog.awk"], "long option"),
            (&["--inc", "x"], "long option"),
            (&["--source=BEGIN", "BEGIN{system(1)}"], "long option"),
            (&["-eBEGIN", "BEGIN{system(1)}"], "one-true-awk"),
            (&["-e", "{print}", "f"], "one-true-awk"),
            (&["-l", "filefuncs", "{}"], "extension"),
            (&["-W", "exec", "x"], "mawk"),
            (&["-b", "{print}"], "every awk"),
            (&["-P", "{print}"], "every awk"),
            (&["--posix", "{print}"], "long option"),
            (&["{print}", "/inet/tcp/0/evil/80"], "network"),
            (&["{print}", "/inet6/udp/0/h/53"], "network"),
            (&["{print}", "-f"], "looks like an option"),
            (&["-v", "ARGC=5", "{print}"], "ARGC"),
            (&["{print}", "ARGV=x", "f"], "ARGV"),
            (&["-F", "a\nb", "{print}"], "control character"),
            (&["{print}", "a\nb"], "control character"),
            (&[], "without a program"),
        ] {
            match check(&words(bad)) {
                Ok(()) => panic!("{bad:?} allowed"),
                Err(e) => assert!(e.contains(why), "{bad:?}: {e}"),
            }
        }
        // A newline is fine in the program text.
        assert!(check(&words(&["{\n print $1\n}", "f"])).is_ok());
    }

    #[test]
    fn programs_that_change_the_file_list_are_refused() {
        for p in [
            "NR==1{ARGV[ARGC++]=\"/inet/tcp/0/\" $1 \".x/80\"}",
            "BEGIN{ARGC=3}",
            "{n=split($0, ARGV)}",
            "BEGIN{SYMTAB[\"ARGC\"]=5}",
            "{delete ARGV}",
        ] {
            let e = check_program(p).expect_err(p);
            assert!(e.contains("ARGV") || e.contains("uses"), "{p}: {e}");
        }
        // Only the whole word: ARGVX and a string "ARGV" are fine.
        check_program("{ARGVX=1; print \"ARGV\"}").unwrap();
    }
}
