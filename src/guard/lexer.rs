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
//!
//! `sh` is dash on some systems and bash on others, so wherever the two
//! would read the line differently (a multi-digit or `{name}` redirection
//! number, bash-only operators and quoting, multibyte characters in some
//! locales, tilde expansion in assignment-like arguments) the line is
//! refused rather than read one way.

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
    /// An unquoted `~` right after `=` or `:` in a `NAME=value` word: bash
    /// (outside POSIX mode) expands it even in an argument, dash does not.
    pub tilde_assign: bool,
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
    tilde_assign: bool,
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
            b'~' => {
                self.tilde = true;
                if self.assign_eq.is_some() && matches!(self.text.last(), Some(b'=' | b':')) {
                    self.tilde_assign = true;
                }
            }
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
            tilde_assign: self.tilde_assign,
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

    /// Refuses the shell-significant ASCII byte at the cursor when a
    /// non-ASCII byte comes right before it: in a multibyte locale such as
    /// Shift_JIS, Big5 or GBK, bash reads the two bytes as one character
    /// (and the ASCII byte loses its meaning); dash reads bytes.
    fn not_after_multibyte(&self) -> Result<(), String> {
        if self.pos > 0 && self.b[self.pos - 1] >= 0x80 {
            return Err(format!(
                "'{}' right after a non-ASCII character: in a multibyte locale (Shift_JIS, \
                 Big5, GBK) bash reads the two as one character, dash does not",
                self.b[self.pos] as char
            ));
        }
        Ok(())
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
                    self.not_after_multibyte()?;
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
                b'(' => {
                    let before = self.word.as_ref().and_then(|w| w.text.last().copied());
                    return Err(match (before, self.peek()) {
                        (Some(p @ (b'@' | b'!' | b'+' | b'*' | b'?')), _) => format!(
                            "'{}(' is a bash extended glob (dash reads '(' as an operator)",
                            p as char
                        ),
                        (None, Some(b'(')) => {
                            "'((' is a bash arithmetic command (dash reads two subshells)".into()
                        }
                        _ => "'(' starts a subshell or a function definition".into(),
                    });
                }
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
                self.not_after_multibyte()?;
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
                if matches!(c, b'[' | b']' | b'{' | b'}' | b'~') {
                    self.not_after_multibyte()?;
                }
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
                b'\\' => {
                    self.not_after_multibyte()?;
                    match b.get(self.pos + 1) {
                        Some(&e @ (b'$' | b'`' | b'"' | b'\\')) => {
                            self.word_mut().push_quoted(e);
                            self.pos += 2;
                        }
                        Some(_) => {
                            self.word_mut().push_quoted(b'\\');
                            self.pos += 1;
                        }
                        None => return Err("unterminated double quote".into()),
                    }
                }
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
        // The word glued to the operator: dash takes it as the fd only when
        // it is one unquoted digit; bash also takes any number and a
        // `{name}` (it allocates an fd and sets the variable). Anything
        // else is an argument to both.
        let fd = match &self.word {
            Some(w) if !w.quoted && w.text.len() == 1 && w.text[0].is_ascii_digit() => {
                let fd = u32::from(w.text[0] - b'0');
                self.word = None;
                Some(fd)
            }
            Some(w) if !w.quoted && !w.text.is_empty() && w.text.iter().all(u8::is_ascii_digit) => {
                let n = String::from_utf8_lossy(&w.text[..w.text.len().min(20)]).into_owned();
                return Err(format!(
                    "'{n}{}' is a redirection of fd {n} in bash, but dash reads only one digit \
                     as a redirection number and passes '{n}' as an argument",
                    c as char
                ));
            }
            Some(w) if w.text.len() >= 2 && w.text[0] == b'{' && w.text.ends_with(b"}") => {
                let n = String::from_utf8_lossy(&w.text[..w.text.len().min(40)]).into_owned();
                return Err(format!(
                    "'{n}{}' makes bash open a new fd and name it in a variable, but dash passes \
                     '{n}' as an argument",
                    c as char
                ));
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
        let target = target.finish();
        // bash expands braces and (outside POSIX mode) globs in a target,
        // dash neither.
        if target.brace || target.glob_at.is_some() {
            return Err(format!(
                "redirection target {} would be expanded by bash (brace or glob), not by dash",
                super::quote(&target.text)
            ));
        }
        self.cur.redirects.push(Redirect { fd, op, target });
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
    fn where_dash_and_bash_differ_the_line_is_refused() {
        // dash: one digit is a redirection number, more are an argument.
        assert_eq!(parse("ls 2>/dev/null").unwrap()[0].redirects[0].fd, Some(2));
        assert_eq!(words("ls 2 >/dev/null"), [["ls", "2"]]);
        assert_eq!(
            words("ls '10'>/dev/null x2>/dev/null"),
            [["ls", "10", "x2"]]
        );
        for (line, want) in [
            ("awk -F 10>/dev/null 'BEGIN{}' f", "'10>'"),
            ("cat 99</etc/hostname", "'99<'"),
            ("ls 00>/dev/null", "'00>'"),
            ("ls 1\\\n0>/dev/null", "'10>'"),
            ("ls 10>&1", "'10>'"),
            ("ls {fd}>/dev/null", "'{fd}>'"),
            ("ls {fd}<&-", "'{fd}<'"),
            ("ls {a[1]}>/dev/null", "'{a[1]}>'"),
            ("ls &>/dev/null", "'&>'"),
            ("ls &>>/dev/null", "'&>'"),
            ("ls |& cat", "'|&'"),
            ("ls ;& ls", "';&'"),
            ("ls ;;& ls", "';;'"),
            ("((1+1))", "'(('"),
            ("ls @(a|b)", "'@('"),
            ("ls !(a)", "'!('"),
            ("ls +(a)", "'+('"),
            ("ls *(a)", "'*('"),
            ("ls ?(a)", "'?('"),
            ("cat <<<hi", "here-string"),
            ("echo $'\\n'", "ANSI-C"),
            ("echo $\"x\"", "locale"),
            ("diff <(ls) x", "process substitution"),
            ("ls >(cat)", "process substitution"),
            ("cat < /etc/*", "'/etc/*'"),
            ("cat < /etc/host{s,name}", "brace or glob"),
            ("ls 表\\;rm x", "'\\' right after a non-ASCII"),
            ("ls 表|sh", "'|' right after a non-ASCII"),
            ("ls \"表\\\"\"", "'\\' right after a non-ASCII"),
            ("ls 表{a,b}", "'{' right after a non-ASCII"),
        ] {
            let e = err(line);
            assert!(e.contains(want), "{line:?}: {e}");
        }
        // Non-ASCII text is fine where no byte after it means anything.
        assert_eq!(words("echo 'é|x' 表 \"é\""), [["echo", "é|x", "表", "é"]]);
        // bash (outside POSIX mode) expands `~` after `=` or `:` in an
        // assignment-like argument; dash never does.
        let c = &parse("awk x=~/k y=a:~/b z=a~ --o=~/x '~' ~/k").unwrap()[0];
        let flags: Vec<bool> = c.words.iter().map(|w| w.tilde_assign).collect();
        assert_eq!(flags, [false, true, true, false, false, false, false]);
    }

    #[test]
    fn empty_lines_have_no_commands() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("   # just a comment").unwrap().is_empty());
    }
}
