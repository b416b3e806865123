//! A strict lexer and parser for one POSIX `sh` command line, read the way
//! dash reads it.
//!
//! It understands just enough of the shell grammar to list the simple
//! commands a line runs (words after quote removal, assignments,
//! redirections) and refuses everything it does not fully understand:
//! substitutions, parameter expansion, compound commands, here-documents,
//! background jobs. An `Err` is a one-line reason without the `refused: `
//! prefix.
//!
//! Line continuations (`\` newline) are removed wherever dash removes them
//! (everywhere but inside single quotes and comments), so `&\⏎&` is `&&`
//! and `kub\⏎ectl` is `kubectl`, exactly as the shell will see them.

/// One word of a simple command, after quote removal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Word {
    /// The text after quote removal.
    pub text: String,
    /// Some part of the word was quoted or backslash-escaped.
    pub quoted: bool,
    /// Byte offset in `text` of the first unquoted glob character
    /// (`*`, `?`, or a `[` with a `]` after it).
    pub glob_at: Option<usize>,
    /// Byte offset of the `=` when the word reads `NAME=value` with an
    /// unquoted, valid `NAME`.
    pub assign_eq: Option<usize>,
    /// An unquoted `{…,…}` or `{a..b}`: bash would brace-expand it.
    pub brace: bool,
    /// An unquoted `~` appears: the shell may replace it with a home
    /// directory (at the start, and in bash after `=` or `:` too).
    pub tilde: bool,
}

/// The redirection operators the parser accepts (the checks come later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirOp {
    /// `>`
    Out,
    /// `>>`
    Append,
    /// `>|`
    Clobber,
    /// `<`
    In,
    /// `>&`
    DupOut,
    /// `<&`
    DupIn,
}

impl RedirOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RedirOp::Out => ">",
            RedirOp::Append => ">>",
            RedirOp::Clobber => ">|",
            RedirOp::In => "<",
            RedirOp::DupOut => ">&",
            RedirOp::DupIn => "<&",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// The explicit file descriptor (`2>`), if any.
    pub fd: Option<u32>,
    pub op: RedirOp,
    pub target: Word,
}

/// One simple command: `NAME=value… word… redirection…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SimpleCommand {
    pub assigns: Vec<Word>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

impl SimpleCommand {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.assigns.is_empty() && self.redirects.is_empty()
    }
}

/// Parses a whole command line into the simple commands it runs, in order.
/// Pipes, `;`, `&&`, `||` and newlines only separate commands: every one of
/// them is checked, whatever connects it.
pub(crate) fn parse(line: &str) -> Result<Vec<SimpleCommand>, String> {
    Lexer {
        b: line.as_bytes(),
        pos: 0,
        cmds: Vec::new(),
        cur: SimpleCommand::default(),
        word: None,
        pending_op: None,
    }
    .run()
}

const BACKQUOTE: &str = "command substitution `...` can run anything";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Newline,
    Semi,
    Pipe,
    AndAnd,
    OrOr,
    End,
}

impl Sep {
    fn as_str(self) -> &'static str {
        match self {
            Sep::Newline => "newline",
            Sep::Semi => ";",
            Sep::Pipe => "|",
            Sep::AndAnd => "&&",
            Sep::OrOr => "||",
            Sep::End => "end of line",
        }
    }
}

#[derive(Default)]
struct WordBuf {
    text: Vec<u8>,
    quoted: bool,
    glob_at: Option<usize>,
    lbracket_at: Option<usize>,
    assign_eq: Option<usize>,
    brace_open: bool,
    brace: bool,
    tilde: bool,
    prev_dot: bool,
}

impl WordBuf {
    fn push_unquoted(&mut self, c: u8) {
        let at = self.text.len();
        match c {
            b'*' | b'?' if self.glob_at.is_none() => self.glob_at = Some(at),
            b'[' if self.lbracket_at.is_none() => self.lbracket_at = Some(at),
            b'{' => self.brace_open = true,
            b',' if self.brace_open => self.brace = true,
            b'.' if self.brace_open && self.prev_dot => self.brace = true,
            b'~' => self.tilde = true,
            b'=' if self.assign_eq.is_none() && !self.quoted && is_name(&self.text) => {
                self.assign_eq = Some(at)
            }
            _ => {}
        }
        self.prev_dot = c == b'.';
        self.text.push(c);
    }

    fn push_quoted(&mut self, c: u8) {
        self.quoted = true;
        self.prev_dot = false;
        self.text.push(c);
    }

    fn push_quoted_slice(&mut self, s: &[u8]) {
        self.quoted = true;
        self.prev_dot = false;
        self.text.extend_from_slice(s);
    }

    fn finish(self) -> Word {
        let mut glob_at = self.glob_at;
        // A `[` only globs when a `]` closes it; a lone `[` (the test
        // command) is literal.
        if let Some(p) = self.lbracket_at {
            if self.text[p + 1..].contains(&b']') {
                glob_at = Some(glob_at.map_or(p, |g| g.min(p)));
            }
        }
        // Words are cut only at ASCII bytes, so the bytes stay valid UTF-8.
        let text = String::from_utf8(self.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Word {
            text,
            quoted: self.quoted,
            glob_at,
            assign_eq: self.assign_eq,
            brace: self.brace,
            tilde: self.tilde,
        }
    }
}

fn is_name(s: &[u8]) -> bool {
    match s.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        None => false,
    }
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
    cmds: Vec<SimpleCommand>,
    cur: SimpleCommand,
    word: Option<WordBuf>,
    /// The operator (`|`, `&&`, `||`) that still needs a command after it.
    pending_op: Option<&'static str>,
}

impl Lexer<'_> {
    /// Skips line continuations at the cursor, as dash's `pgetc_eatbnl`.
    fn skip_cont(&mut self) {
        while self.b.get(self.pos) == Some(&b'\\') && self.b.get(self.pos + 1) == Some(&b'\n') {
            self.pos += 2;
        }
    }

    fn cur(&mut self) -> Option<u8> {
        self.skip_cont();
        self.b.get(self.pos).copied()
    }

    /// Index of the character after the one at `j`, skipping continuations.
    fn after(&self, mut j: usize) -> usize {
        j += 1;
        while self.b.get(j) == Some(&b'\\') && self.b.get(j + 1) == Some(&b'\n') {
            j += 2;
        }
        j
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.after(self.pos)).copied()
    }

    fn peek2(&self) -> Option<u8> {
        self.b.get(self.after(self.after(self.pos))).copied()
    }

    fn bump(&mut self) {
        self.skip_cont();
        self.pos += 1;
    }

    fn word_mut(&mut self) -> &mut WordBuf {
        self.word.get_or_insert_with(WordBuf::default)
    }

    fn finish_word(&mut self) {
        if let Some(w) = self.word.take() {
            let w = w.finish();
            if self.cur.words.is_empty() && w.assign_eq.is_some() {
                self.cur.assigns.push(w);
            } else {
                self.cur.words.push(w);
            }
        }
    }

    fn run(mut self) -> Result<Vec<SimpleCommand>, String> {
        while let Some(c) = self.cur() {
            match c {
                b' ' | b'\t' => {
                    self.finish_word();
                    self.pos += 1;
                }
                b'\n' => {
                    self.finish_word();
                    self.end_command(Sep::Newline)?;
                    self.pos += 1;
                }
                b';' => {
                    self.finish_word();
                    match self.peek() {
                        Some(b';') => {
                            return Err("';;' is a case terminator, not a command separator".into())
                        }
                        Some(b'&') => return Err("';&' is bash case syntax".into()),
                        _ => {}
                    }
                    self.end_command(Sep::Semi)?;
                    self.pos += 1;
                }
                b'&' => {
                    self.finish_word();
                    match self.peek() {
                        Some(b'&') => {
                            self.end_command(Sep::AndAnd)?;
                            self.bump();
                            self.bump();
                        }
                        Some(b'>') => {
                            return Err("'&>' puts the command in the background under dash \
                                        (and writes a file under bash)"
                                .into())
                        }
                        _ => return Err("'&' runs a command in the background".into()),
                    }
                }
                b'|' => {
                    self.finish_word();
                    match self.peek() {
                        Some(b'|') => {
                            self.end_command(Sep::OrOr)?;
                            self.bump();
                            self.bump();
                        }
                        Some(b'&') => {
                            return Err("'|&' is bash syntax (dash puts the command in the \
                                        background)"
                                .into())
                        }
                        _ => {
                            self.end_command(Sep::Pipe)?;
                            self.pos += 1;
                        }
                    }
                }
                b'(' => return Err("'(' starts a subshell or a function definition".into()),
                b')' => {
                    return Err("unquoted ')' (subshells and case patterns are not allowed)".into())
                }
                b'<' | b'>' => self.redirect(c)?,
                b'#' if self.word.is_none() => {
                    // A comment runs to the newline; continuations do not apply.
                    while self.pos < self.b.len() && self.b[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => self.word_char(c)?,
            }
        }
        self.finish_word();
        self.end_command(Sep::End)?;
        if let Some(op) = self.pending_op {
            return Err(format!("nothing after '{op}'"));
        }
        Ok(self.cmds)
    }

    fn end_command(&mut self, sep: Sep) -> Result<(), String> {
        let cmd = std::mem::take(&mut self.cur);
        if cmd.is_empty() {
            return match (sep, self.pending_op) {
                (Sep::Newline | Sep::End, _) => Ok(()),
                (Sep::Semi, Some(op)) => Err(format!("nothing between '{op}' and ';'")),
                (Sep::Semi, None) => Err("empty command before ';'".into()),
                _ => Err(format!("nothing before '{}'", sep.as_str())),
            };
        }
        self.cmds.push(cmd);
        self.pending_op = match sep {
            Sep::Pipe => Some("|"),
            Sep::AndAnd => Some("&&"),
            Sep::OrOr => Some("||"),
            _ => None,
        };
        Ok(())
    }

    fn word_char(&mut self, c: u8) -> Result<(), String> {
        let b = self.b;
        match c {
            b'\\' => {
                // `cur` already removed continuations: this escapes a real character.
                let Some(&e) = b.get(self.pos + 1) else {
                    return Err("trailing backslash".into());
                };
                self.word_mut().push_quoted(e);
                self.pos += 2;
            }
            b'\'' => {
                let start = self.pos + 1;
                let Some(len) = b[start..].iter().position(|&x| x == b'\'') else {
                    return Err("unterminated single quote".into());
                };
                self.word_mut().push_quoted_slice(&b[start..start + len]);
                self.pos = start + len + 1;
            }
            b'"' => self.double_quoted()?,
            b'$' => {
                self.dollar(false)?;
                self.word_mut().push_unquoted(b'$');
                self.pos += 1;
            }
            b'`' => return Err(BACKQUOTE.into()),
            _ => {
                self.word_mut().push_unquoted(c);
                self.pos += 1;
            }
        }
        Ok(())
    }

    fn double_quoted(&mut self) -> Result<(), String> {
        let b = self.b;
        self.pos += 1;
        self.word_mut().quoted = true;
        loop {
            let Some(c) = self.cur() else {
                return Err("unterminated double quote".into());
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => match b.get(self.pos + 1) {
                    Some(&e @ (b'$' | b'`' | b'"' | b'\\')) => {
                        self.word_mut().push_quoted(e);
                        self.pos += 2;
                    }
                    Some(_) => {
                        self.word_mut().push_quoted(b'\\');
                        self.pos += 1;
                    }
                    None => return Err("unterminated double quote".into()),
                },
                b'$' => {
                    self.dollar(true)?;
                    self.word_mut().push_quoted(b'$');
                    self.pos += 1;
                }
                b'`' => return Err(BACKQUOTE.into()),
                _ => {
                    self.word_mut().push_quoted(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Refuses a `$` that starts an expansion; `Ok` means it is a literal `$`.
    fn dollar(&self, in_dq: bool) -> Result<(), String> {
        let j = self.after(self.pos);
        let Some(&n) = self.b.get(j) else {
            return Ok(());
        };
        match n {
            b'(' => Err(if self.b.get(self.after(j)) == Some(&b'(') {
                "arithmetic expansion $((...)) is not allowed".into()
            } else {
                "command substitution $(...) can run anything".into()
            }),
            b'{' => Err("parameter expansion ${...} is not allowed; fill the value in".into()),
            b'[' => Err("bash arithmetic $[...] is not allowed".into()),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let rest = &self.b[j..];
                let len = rest
                    .iter()
                    .position(|x| !(x.is_ascii_alphanumeric() || *x == b'_'))
                    .unwrap_or(rest.len())
                    .min(40);
                Err(format!(
                    "parameter expansion ${} is not allowed; fill the value in",
                    String::from_utf8_lossy(&rest[..len])
                ))
            }
            c if c.is_ascii_digit() || b"@*#?-$!".contains(&c) => Err(format!(
                "special parameter ${} is not allowed; fill the value in",
                c as char
            )),
            b'\'' if !in_dq => Err("bash ANSI-C quoting $'...' is not allowed".into()),
            b'"' if !in_dq => Err("bash locale quoting $\"...\" is not allowed".into()),
            _ => Ok(()),
        }
    }

    fn redirect(&mut self, c: u8) -> Result<(), String> {
        // An all-digit unquoted word right before the operator is its fd.
        let fd = match &self.word {
            Some(w) if !w.quoted && !w.text.is_empty() && w.text.iter().all(u8::is_ascii_digit) => {
                let fd = std::str::from_utf8(&w.text)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(|| "file descriptor number is too large".to_string())?;
                self.word = None;
                Some(fd)
            }
            _ => {
                self.finish_word();
                None
            }
        };
        let op = match (c, self.peek()) {
            (b'<', Some(b'<')) => {
                return Err(if self.peek2() == Some(b'<') {
                    "here-string '<<<' is not allowed".into()
                } else {
                    "here-document '<<' is not allowed".into()
                })
            }
            (b'<', Some(b'>')) => return Err("'<>' opens a file for writing".into()),
            (_, Some(b'(')) => return Err("process substitution runs a command".into()),
            (b'<', Some(b'&')) => {
                self.bump();
                RedirOp::DupIn
            }
            (b'<', _) => RedirOp::In,
            (_, Some(b'>')) => {
                self.bump();
                RedirOp::Append
            }
            (_, Some(b'|')) => {
                self.bump();
                RedirOp::Clobber
            }
            (_, Some(b'&')) => {
                self.bump();
                RedirOp::DupOut
            }
            _ => RedirOp::Out,
        };
        self.bump();
        while matches!(self.cur(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        loop {
            match self.cur() {
                None
                | Some(b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>') => {
                    break
                }
                Some(b'#') if self.word.is_none() => break,
                Some(c) => self.word_char(c)?,
            }
        }
        let Some(target) = self.word.take() else {
            return Err(format!("redirection '{}' has no target", op.as_str()));
        };
        self.cur.redirects.push(Redirect {
            fd,
            op,
            target: target.finish(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<String>> {
        parse(line)
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .into_iter()
            .map(|c| c.words.into_iter().map(|w| w.text).collect())
            .collect()
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Ok(c) => panic!("{line:?} parsed as {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn quote_removal() {
        assert_eq!(
            words(r#"echo 'a b' "c d" e\ f"#),
            [["echo", "a b", "c d", "e f"]]
        );
        assert_eq!(words(r"k\ubectl get"), [["kubectl", "get"]]);
        assert_eq!(words(r#"echo "a\$b\"c\d""#), [["echo", "a$b\"c\\d"]]);
        assert_eq!(words("echo ''"), [["echo", ""]]);
        assert_eq!(words("echo 'it''s'"), [["echo", "its"]]);
        assert_eq!(
            words("echo $ a$ $/x \"$\""),
            [["echo", "$", "a$", "$/x", "$"]]
        );
        assert_eq!(words("echo 'é' ü"), [["echo", "é", "ü"]]);
    }

    #[test]
    fn single_quotes_keep_everything_literal() {
        assert_eq!(
            words("echo '$(id) `id` ${x} \\'"),
            [["echo", "$(id) `id` ${x} \\"]]
        );
    }

    #[test]
    fn operators_split_commands() {
        assert_eq!(
            words("a x; b && c || d | e\nf"),
            [
                vec!["a", "x"],
                vec!["b"],
                vec!["c"],
                vec!["d"],
                vec!["e"],
                vec!["f"]
            ]
        );
        assert_eq!(words("a;b;"), [["a"], ["b"]]);
        assert_eq!(words("a |\n b"), [["a"], ["b"]]);
        assert_eq!(words("\n\na\n\n"), [["a"]]);
    }

    #[test]
    fn comments() {
        assert_eq!(words("ls # rm -rf /"), [["ls"]]);
        assert_eq!(words("ls a#b"), [["ls", "a#b"]]);
        assert_eq!(words("ls #x\nwc"), [["ls"], ["wc"]]);
        // A comment ends at the newline even after a backslash.
        assert_eq!(words("ls #x \\\nwc"), [["ls"], ["wc"]]);
    }

    #[test]
    fn line_continuations() {
        assert_eq!(words("kub\\\nectl get"), [["kubectl", "get"]]);
        assert_eq!(words("a &\\\n& b"), [["a"], ["b"]]);
        assert!(err("echo $\\\n(id)").contains("command substitution"));
        assert!(err("echo $\\\nHOME").contains("$HOME"));
        assert_eq!(words("echo 'a\\\nb'"), [["echo", "a\\\nb"]]);
    }

    #[test]
    fn redirections() {
        let c = &parse("cmd 2>/dev/null >out <in 2>&1 >&- x>y").unwrap()[0];
        let r: Vec<_> = c
            .redirects
            .iter()
            .map(|r| (r.fd, r.op, r.target.text.as_str()))
            .collect();
        assert_eq!(
            r,
            [
                (Some(2), RedirOp::Out, "/dev/null"),
                (None, RedirOp::Out, "out"),
                (None, RedirOp::In, "in"),
                (Some(2), RedirOp::DupOut, "1"),
                (None, RedirOp::DupOut, "-"),
                (None, RedirOp::Out, "y"),
            ]
        );
        let w: Vec<_> = c.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(w, ["cmd", "x"]);
        assert_eq!(
            parse("a >>x >|y").unwrap()[0].redirects[1].op,
            RedirOp::Clobber
        );
        assert!(err("ls >").contains("no target"));
        assert!(err("ls > ;").contains("no target"));
        assert!(err("cat <<EOF").contains("here-document"));
        assert!(err("cat <<<x").contains("here-string"));
        assert!(err("cat <>x").contains("<>"));
        assert!(err("diff <(ls) x").contains("process substitution"));
    }

    #[test]
    fn assignments_and_globs() {
        let c = &parse("LC_ALL=C 'X'=1 sort a=b *.log /v/*.log x[1] [ y").unwrap()[0];
        assert_eq!(c.assigns.len(), 1);
        assert_eq!(c.assigns[0].assign_eq, Some(6));
        let w = &c.words;
        assert_eq!(w[0].text, "X=1");
        assert_eq!(w[0].assign_eq, None);
        assert_eq!(w[3].glob_at, Some(0));
        assert_eq!(w[4].glob_at, Some(3));
        assert_eq!(w[5].glob_at, Some(1));
        assert_eq!(w[6].glob_at, None);
        assert_eq!(parse("echo '*' \\?").unwrap()[0].words[1].glob_at, None);
        assert!(parse("echo a{b,c}").unwrap()[0].words[1].brace);
        assert!(parse("echo {1..3}").unwrap()[0].words[1].brace);
        assert!(!parse("echo '{a,b}' {x}").unwrap()[0].words[1].brace);
    }

    #[test]
    fn refusals() {
        assert!(err("ls $(id)").contains("command substitution"));
        assert!(err("ls \"$(id)\"").contains("command substitution"));
        assert!(err("echo `id`").contains("`"));
        assert!(err("echo \"`id`\"").contains("`"));
        assert!(err("echo $((1+1))").contains("arithmetic"));
        assert!(err("echo $HOME").contains("$HOME"));
        assert!(err("echo \"${x}\"").contains("${"));
        assert!(err("echo $1").contains("$1"));
        assert!(err("echo $@").contains("$@"));
        assert!(err("echo $'\\x41'").contains("ANSI-C"));
        assert!(err("echo $\"x\"").contains("locale"));
        assert!(err("(ls)").contains("subshell"));
        assert!(err("ls &").contains("background"));
        assert!(err("ls & rm x").contains("background"));
        assert!(err("ls |& cat").contains("|&"));
        assert!(err("ls &>/dev/null").contains("&>"));
        assert!(err("ls ;; ls").contains(";;"));
        assert!(err("; ls").contains("empty command"));
        assert!(err("| ls").contains("nothing before"));
        assert!(err("ls |").contains("nothing after"));
        assert!(err("ls && ").contains("nothing after"));
        assert!(err("echo 'x").contains("unterminated single"));
        assert!(err("echo \"x").contains("unterminated double"));
        assert!(err("echo x\\").contains("trailing backslash"));
    }

    #[test]
    fn empty_lines_have_no_commands() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("   # just a comment").unwrap().is_empty());
    }
}
