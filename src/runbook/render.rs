//! `{{name}}` templates. Values are validated by the drafter; a command
//! template is rendered here with each value shell-quoted as one whole word
//! ([`render_command`]), which protects it only where a word can start:
//! [`unsafe_placeholders`] finds the placeholders that sit anywhere else
//! (in quotes, in a word that has quotes, in `$(…)`, in a here-document),
//! and the loader refuses such templates.

use std::sync::OnceLock;

use regex::Regex;

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("static regex"))
}

/// The variable names a template uses, in order of appearance.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    placeholder_re()
        .captures_iter(template)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// A `{{` that does not open a well-formed placeholder, if any.
pub fn malformed_placeholder(template: &str) -> Option<&str> {
    let good: Vec<usize> = placeholder_re()
        .find_iter(template)
        .map(|m| m.start())
        .collect();
    let (start, _) = template
        .match_indices("{{")
        .find(|(i, _)| !good.contains(i))?;
    let end = template[start..]
        .find(char::is_whitespace)
        .map_or(template.len(), |e| start + e);
    Some(&template[start..end])
}

/// Substitute each placeholder with `value(name)`; names with no value are
/// rendered as `<name>` and listed in `missing`.
pub fn render(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> Rendered {
    let mut missing = Vec::new();
    let text = placeholder_re()
        .replace_all(template, |caps: &regex::Captures| {
            let name = &caps[1];
            match value(name) {
                Some(v) => v,
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                    format!("<{name}>")
                }
            }
        })
        .into_owned();
    Rendered { text, missing }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub missing: Vec<String>,
}

/// A command template rendered for the shell: each value quoted as one
/// whole word ([`shell_word`]). A placeholder where that quoting does not
/// hold ([`unsafe_placeholders`]; the loader refuses such templates) is
/// never substituted: it stays `<name>` and is listed in `missing`, so the
/// command is never runnable.
pub fn render_command(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> Rendered {
    let unsafe_at: Vec<usize> = unsafe_placeholders(template)
        .into_iter()
        .map(|u| u.offset)
        .collect();
    let mut missing: Vec<String> = Vec::new();
    let mut text = String::with_capacity(template.len());
    let mut last = 0;
    for caps in placeholder_re().captures_iter(template) {
        let (Some(whole), Some(name)) = (caps.get(0), caps.get(1)) else {
            continue;
        };
        text.push_str(&template[last..whole.start()]);
        last = whole.end();
        let name = name.as_str();
        let rendered = (!unsafe_at.contains(&whole.start()))
            .then(|| value(name))
            .flatten()
            .map(|v| shell_word(&v));
        match rendered {
            Some(v) => text.push_str(&v),
            None => {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
                text.push_str(&format!("<{name}>"));
            }
        }
    }
    text.push_str(&template[last..]);
    Rendered { text, missing }
}

/// `value` as exactly one shell word, the same in `sh -c`, bash (history
/// expansion included) and zsh: bare when it is only characters no shell
/// treats specially, else in single quotes (`'` written as `'\''`).
pub fn shell_word(value: &str) -> String {
    let bare = !value.is_empty()
        && !value.starts_with(['=', '~', '-'])
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if bare {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// A placeholder the renderer's quoting cannot protect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafePlaceholder {
    /// Byte offset of its `{{` in the template.
    pub offset: usize,
    /// As written (`{{ pat }}`).
    pub text: String,
    pub name: String,
    pub context: ShellContext,
}

/// Where in a command line a placeholder sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellContext {
    SingleQuotes,
    DoubleQuotes,
    /// Unquoted, but its word also has quotes or a backslash.
    QuotedWord,
    CommandSubstitution,
    Arithmetic,
    ParameterExpansion,
    HereDocument,
}

impl std::fmt::Display for ShellContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShellContext::SingleQuotes => "inside single quotes",
            ShellContext::DoubleQuotes => "inside double quotes",
            ShellContext::QuotedWord => "in a word that also has quotes",
            ShellContext::CommandSubstitution => "inside a command substitution",
            ShellContext::Arithmetic => "inside an arithmetic expansion",
            ShellContext::ParameterExpansion => "inside a parameter expansion",
            ShellContext::HereDocument => "inside a here-document",
        })
    }
}

/// The placeholders of a command template that sit where a value quoted as
/// one whole word is not safe: inside quotes (the value's own quoting would
/// end them: `'{{pat}}'` with `x' /etc/shadow '` adds an argument), in a
/// word that has quotes too, in `$(…)`, backticks, `$((…))`, `${…}`, or a
/// here-document (its own language, where shell quoting means nothing).
/// The template is read the way a POSIX shell reads it.
pub fn unsafe_placeholders(template: &str) -> Vec<UnsafePlaceholder> {
    let spots: Vec<Spot> = placeholder_re()
        .captures_iter(template)
        .filter_map(|c| {
            let whole = c.get(0)?;
            Some(Spot {
                start: whole.start(),
                end: whole.end(),
                name: c.get(1)?.as_str().to_string(),
            })
        })
        .collect();
    let mut scan = Scan {
        src: template,
        spots: &spots,
        next: 0,
        stack: Vec::new(),
        word: Vec::new(),
        word_quoted: false,
        in_word: false,
        pending: Vec::new(),
        out: Vec::new(),
    };
    scan.run();
    let mut out = scan.out;
    out.sort_by_key(|u| u.offset);
    out
}

struct Spot {
    start: usize,
    end: usize,
    name: String,
}

/// What the shell is inside of while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Single,
    DollarSingle,
    Double,
    Backtick,
    /// `$(…)`, with the depth of parentheses opened inside it.
    Subst(usize),
    /// `$((…))`.
    Arith(usize),
    /// `${…}`, with the depth of braces opened inside it.
    Param(usize),
}

struct Scan<'a> {
    src: &'a str,
    spots: &'a [Spot],
    /// The first placeholder not yet reached.
    next: usize,
    stack: Vec<Ctx>,
    /// Placeholders of the top-level word being read.
    word: Vec<usize>,
    word_quoted: bool,
    in_word: bool,
    /// Here-documents (delimiter, `<<-`) whose bodies start at the next newline.
    pending: Vec<(String, bool)>,
    out: Vec<UnsafePlaceholder>,
}

impl Scan<'_> {
    fn flag(&mut self, k: usize, context: ShellContext) {
        let spot = &self.spots[k];
        if !self.out.iter().any(|u| u.offset == spot.start) {
            self.out.push(UnsafePlaceholder {
                offset: spot.start,
                text: self.src[spot.start..spot.end].to_string(),
                name: spot.name.clone(),
                context,
            });
        }
    }

    /// Flags every placeholder that starts before `end`.
    fn flag_until(&mut self, end: usize, context: Option<ShellContext>) {
        while self.next < self.spots.len() && self.spots[self.next].start < end {
            if let Some(c) = context {
                self.flag(self.next, c);
            }
            self.next += 1;
        }
    }

    fn end_word(&mut self) {
        if self.word_quoted {
            for k in std::mem::take(&mut self.word) {
                self.flag(k, ShellContext::QuotedWord);
            }
        }
        self.word.clear();
        self.word_quoted = false;
        self.in_word = false;
    }

    fn line_end(&self, i: usize) -> usize {
        self.src[i..].find('\n').map_or(self.src.len(), |e| i + e)
    }

    fn run(&mut self) {
        let b = self.src.as_bytes();
        let mut i = 0;
        while i < b.len() {
            // Skipped over as part of an escape (`\{{x}}`): not a word of its own.
            while self.spots.get(self.next).is_some_and(|s| s.start < i) {
                self.flag(self.next, ShellContext::QuotedWord);
                self.next += 1;
            }
            if let Some(spot) = self.spots.get(self.next).filter(|s| s.start == i) {
                let end = spot.end;
                self.placeholder();
                i = end;
                continue;
            }
            i = match self.stack.last().copied() {
                Some(ctx) => self.inside(ctx, i),
                None => self.top_level(i),
            };
            // Steps are counted in bytes; land on the next character.
            while i < b.len() && !self.src.is_char_boundary(i) {
                i += 1;
            }
        }
        self.end_word();
    }

    /// The placeholder at `self.next`: flagged now, or kept with its word.
    fn placeholder(&mut self) {
        let inner = self.stack.iter().rev().find_map(|c| match c {
            Ctx::Backtick | Ctx::Subst(_) => Some(ShellContext::CommandSubstitution),
            Ctx::Arith(_) => Some(ShellContext::Arithmetic),
            Ctx::Param(_) => Some(ShellContext::ParameterExpansion),
            _ => None,
        });
        let context = inner.or(match self.stack.last() {
            Some(Ctx::Single | Ctx::DollarSingle) => Some(ShellContext::SingleQuotes),
            Some(Ctx::Double) => Some(ShellContext::DoubleQuotes),
            _ => None,
        });
        match context {
            Some(c) => self.flag(self.next, c),
            None => {
                self.word.push(self.next);
                self.in_word = true;
            }
        }
        self.next += 1;
    }

    /// One step inside quotes or an expansion; returns the next index.
    fn inside(&mut self, ctx: Ctx, i: usize) -> usize {
        let c = self.src.as_bytes()[i];
        match ctx {
            Ctx::Single => {
                if c == b'\'' {
                    self.stack.pop();
                }
                i + 1
            }
            Ctx::DollarSingle => match c {
                b'\\' => i + 2,
                b'\'' => {
                    self.stack.pop();
                    i + 1
                }
                _ => i + 1,
            },
            Ctx::Double | Ctx::Backtick => {
                let closing = if ctx == Ctx::Double { b'"' } else { b'`' };
                if c == b'\\' {
                    i + 2
                } else if c == closing {
                    self.stack.pop();
                    i + 1
                } else {
                    i + self.open(i).unwrap_or(1)
                }
            }
            Ctx::Subst(d) | Ctx::Arith(d) | Ctx::Param(d) => {
                let closes = match ctx {
                    Ctx::Subst(_) => c == b')',
                    Ctx::Arith(_) => self.src[i..].starts_with("))"),
                    _ => c == b'}',
                };
                if d == 0 && closes {
                    self.stack.pop();
                    return i + if matches!(ctx, Ctx::Arith(_)) { 2 } else { 1 };
                }
                if let Some(top) = self.stack.last_mut() {
                    match (top, c) {
                        (Ctx::Subst(d) | Ctx::Arith(d), b'(') | (Ctx::Param(d), b'{') => *d += 1,
                        (Ctx::Subst(d) | Ctx::Arith(d), b')') | (Ctx::Param(d), b'}') => {
                            *d = d.saturating_sub(1)
                        }
                        _ => {}
                    }
                }
                match c {
                    b'\\' => i + 2,
                    b'\'' if !matches!(ctx, Ctx::Param(_)) => {
                        self.stack.push(Ctx::Single);
                        i + 1
                    }
                    b'"' => {
                        self.stack.push(Ctx::Double);
                        i + 1
                    }
                    _ => i + self.open(i).unwrap_or(1),
                }
            }
        }
    }

    /// One step at the top level, outside any quotes; returns the next index.
    fn top_level(&mut self, i: usize) -> usize {
        let b = self.src.as_bytes();
        let c = b[i];
        let at = |s: &str| self.src[i..].starts_with(s);
        if c == b'\n' && !self.pending.is_empty() {
            self.end_word();
            return self.heredoc_bodies(i + 1);
        }
        if c.is_ascii_whitespace() || b";&|()<>".contains(&c) {
            self.end_word();
            if at("<<<") {
                // A here-string: its word is an ordinary word.
                return i + 3;
            }
            if at("<<") {
                let (delim, strip_tabs, next) = heredoc_delimiter(self.src, i + 2);
                // The delimiter's quoting is not a value's to decide.
                self.flag_until(next, Some(ShellContext::HereDocument));
                self.pending.push((delim, strip_tabs));
                return next;
            }
            return i + 1;
        }
        if c == b'#' && !self.in_word {
            // A comment: nothing in it reaches a command.
            let end = self.line_end(i);
            self.flag_until(end, None);
            return end;
        }
        self.in_word = true;
        match c {
            b'\\' => {
                self.word_quoted = true;
                i + 2
            }
            b'\'' => {
                self.word_quoted = true;
                self.stack.push(Ctx::Single);
                i + 1
            }
            b'"' => {
                self.word_quoted = true;
                self.stack.push(Ctx::Double);
                i + 1
            }
            b'$' if at("$'") => {
                self.word_quoted = true;
                self.stack.push(Ctx::DollarSingle);
                i + 2
            }
            _ => i + self.open(i).unwrap_or(1),
        }
    }

    /// The bodies of the pending here-documents, from `i`; every placeholder
    /// in them is flagged. Returns where the command line goes on.
    fn heredoc_bodies(&mut self, mut i: usize) -> usize {
        let len = self.src.len();
        for (delim, strip_tabs) in std::mem::take(&mut self.pending) {
            while i < len {
                let end = self.line_end(i);
                let line = &self.src[i..end];
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                let last = line == delim;
                self.flag_until(end, (!last).then_some(ShellContext::HereDocument));
                i = (end + 1).min(len);
                if last {
                    break;
                }
            }
        }
        i
    }

    /// Opens a backtick, `$((`, `$(` or `${` at `i`: how many bytes it took.
    fn open(&mut self, i: usize) -> Option<usize> {
        let rest = &self.src[i..];
        let (ctx, n) = if rest.starts_with('`') {
            (Ctx::Backtick, 1)
        } else if rest.starts_with("$((") {
            (Ctx::Arith(0), 3)
        } else if rest.starts_with("$(") {
            (Ctx::Subst(0), 2)
        } else if rest.starts_with("${") {
            (Ctx::Param(0), 2)
        } else {
            return None;
        };
        self.stack.push(ctx);
        Some(n)
    }
}

/// The delimiter of a here-document whose `<<` ends before `i`: the word,
/// quotes removed; whether it was `<<-`; where the word ends.
fn heredoc_delimiter(src: &str, mut i: usize) -> (String, bool, usize) {
    let b = src.as_bytes();
    let strip_tabs = b.get(i) == Some(&b'-');
    if strip_tabs {
        i += 1;
    }
    while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
        i += 1;
    }
    let mut delim = String::new();
    let mut quote: Option<char> = None;
    let mut chars = src[i..].char_indices().peekable();
    let mut end = src.len();
    while let Some((k, ch)) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => delim.push(c),
            (None, '\'' | '"') => quote = Some(ch),
            (None, '\\') => {
                if let Some((_, n)) = chars.next() {
                    delim.push(n);
                }
            }
            (None, c) if c.is_ascii_whitespace() || ";&|()<>".contains(c) => {
                end = i + k;
                break;
            }
            (None, c) => delim.push(c),
        }
    }
    (delim, strip_tabs, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reports_missing() {
        let r = render(
            "kubectl -n {{namespace}} get deploy/{{ deployment }} {{x}}",
            |n| (n == "namespace").then(|| "payments".to_string()),
        );
        assert_eq!(r.text, "kubectl -n payments get deploy/<deployment> <x>");
        assert_eq!(r.missing, vec!["deployment", "x"]);
    }

    fn contexts(template: &str) -> Vec<(String, ShellContext)> {
        unsafe_placeholders(template)
            .into_iter()
            .map(|u| (u.name, u.context))
            .collect()
    }

    #[test]
    fn placeholders_where_quoting_cannot_protect_them() {
        use ShellContext::*;
        let cases: &[(&str, &[(&str, ShellContext)])] = &[
            ("grep -c '{{pat}}' f", &[("pat", SingleQuotes)]),
            ("grep -c \"{{pat}}\" f", &[("pat", DoubleQuotes)]),
            ("grep -c \"a $(id) {{pat}}\" f", &[("pat", DoubleQuotes)]),
            ("echo $'{{a}}'", &[("a", SingleQuotes)]),
            ("kubectl get -o=\"name\"{{x}}", &[("x", QuotedWord)]),
            ("ls a\\{{x}}", &[("x", QuotedWord)]),
            ("ls \\{{x}}", &[("x", QuotedWord)]),
            ("echo $(cat {{f}})", &[("f", CommandSubstitution)]),
            ("echo \"$(cat {{f}})\"", &[("f", CommandSubstitution)]),
            ("echo `cat {{f}}`", &[("f", CommandSubstitution)]),
            (
                "echo $(echo $(ls) {{f}}) {{g}}",
                &[("f", CommandSubstitution)],
            ),
            ("echo $(( {{n}} + 1 ))", &[("n", Arithmetic)]),
            ("echo ${X:-{{v}}}", &[("v", ParameterExpansion)]),
            (
                "cat <<EOF\nname: {{v}}\nEOF\necho {{w}}",
                &[("v", HereDocument)],
            ),
            (
                "cat <<-'EOF' | grep x\n\t{{v}}\n\tEOF",
                &[("v", HereDocument)],
            ),
            ("cat <<{{d}}\nx\n", &[("d", HereDocument)]),
            ("echo 'é' {{x}} \"ü{{y}}\"", &[("y", DoubleQuotes)]),
        ];
        for (template, want) in cases {
            let want: Vec<(String, ShellContext)> =
                want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
            assert_eq!(contexts(template), want, "{template:?}");
        }
        for safe in [
            "kubectl -n {{ns}} get deploy/{{d}} -l app={{d}} -o wide",
            "jq -r --arg a {{a}} '.[] | select(.x == $a)' f",
            "grep ' ERROR ' {{dir}}/app.log | cut -d'|' -f1",
            "echo {{a}}{{b}} x={{c}} # {{d}} in a comment",
            "a\\ b {{x}} <<< {{y}}",
            "echo $(date) {{x}}; echo `id` {{y}} && echo ${HOME} {{z}}",
            "cat <<EOF\nplain\nEOF\nkubectl get pods -n {{ns}}",
        ] {
            assert_eq!(contexts(safe), vec![], "{safe:?}");
        }
    }

    #[test]
    fn commands_quote_each_value_as_one_word() {
        let values = |n: &str| match n {
            "a" => Some("x' /etc/shadow '".to_string()),
            "b" => Some("payments".to_string()),
            _ => None,
        };
        let r = render_command("grep {{a}} deploy/{{b}} {{c}}", values);
        assert_eq!(
            r.text,
            r#"grep 'x'\'' /etc/shadow '\''' deploy/payments <c>"#
        );
        assert_eq!(r.missing, vec!["c"]);
        // Where quoting cannot hold, nothing is substituted.
        let r = render_command("grep -c '{{a}}' {{b}}", values);
        assert_eq!(r.text, "grep -c '<a>' payments");
        assert_eq!(r.missing, vec!["a"]);
        for (value, word) in [
            ("payments", "payments"),
            ("app=web", "app=web"),
            ("=cmd", "'=cmd'"),
            ("~root", "'~root'"),
            ("-rf", "'-rf'"),
            ("it's", r"'it'\''s'"),
            ("a!b", "'a!b'"),
            ("$(id)", "'$(id)'"),
            ("", "''"),
        ] {
            assert_eq!(shell_word(value), word, "{value:?}");
        }
    }

    #[test]
    fn finds_malformed() {
        assert_eq!(
            malformed_placeholder("a {{ok}} b {{bad-name}}"),
            Some("{{bad-name}}")
        );
        assert_eq!(malformed_placeholder("a {{ok}}"), None);
        assert_eq!(malformed_placeholder("jq '{a: 1}'"), None);
    }
}
