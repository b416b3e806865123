//! Markdown runbooks (SPEC §2, last paragraph): the form most teams already
//! have, e.g. the prometheus-operator runbooks. Converted into a [`Runbook`]
//! that then passes the same semantic checks as YAML.
//!
//! # What is a Markdown runbook
//!
//! - `_index.md` and `README.md` (any case) are section indexes: never runbooks.
//! - Otherwise, by content ([`is_markdown_runbook`]): a `# Title` heading
//!   (outside code blocks) and either a `## Section` or a front-matter
//!   `title:`. When a directory is loaded, other `.md` files (SOURCE.md,
//!   notes) are skipped silently; a file named explicitly only needs the
//!   `# Title` heading, and without one it is an error at `path:1:1`.
//!
//! # Conversion
//!
//! - `id`: the file stem, lower-cased, runs of non-`[a-z0-9]` replaced by `-`.
//! - `title`: front-matter `title:`, else the `# ` heading; `alerts`: the
//!   heading when it looks like an alertname, and the file stem when it is
//!   one in CamelCase; `summary`: the first paragraph of
//!   `## Meaning`; `symptoms`: the first sentence of Meaning and of Impact.
//! - `## Diagnosis`: every command (inline code starting with a known CLI word
//!   and at least one argument; each line of a shell code block, only the
//!   `$ ` lines when the block shows prompts) becomes a `diagnose-N` step with
//!   a pre-flight **only if** [`crate::guard::check`] allows it with every
//!   placeholder filled with `x`; otherwise it becomes a prose step quoting the
//!   command. Nothing the guard refuses is ever runnable. Diagnosis prose
//!   without a command becomes a prose step too.
//! - Every other section but Meaning and Impact (Mitigation above all): prose
//!   `mitigate-N` steps, one per paragraph or bullet (at most
//!   [`MAX_PROSE_STEPS`]), commands quoted, never run.
//! - Placeholders in commands (`$NAMESPACE`, `${POD}`, `<my-namespace>`,
//!   `<pod-name>`, an alert template's `{{ $labels.node }}`) become
//!   `{{namespace}}`, `{{pod}}`, `{{pod_name}}`, `{{node}}`, declared
//!   as variables read from `label:NAME` / `var:NAME`. `NAME=value` lines in a
//!   code block give the variable an (unverified) default.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

use super::format::{Check, Risk, Runbook, Step, Variable};
use super::load::{LoadError, Located};
use crate::sanitize::sanitize_line;

/// Prose steps per group (diagnosis prose, mitigation prose).
pub const MAX_PROSE_STEPS: usize = 8;
/// Diagnosis commands per runbook (bounds hostile input).
pub const MAX_COMMAND_STEPS: usize = 32;
/// Length caps (chars) for converted text.
const TITLE_CHARS: usize = 100;
const TEXT_CHARS: usize = 600;
const SUMMARY_CHARS: usize = 300;
const SYMPTOM_CHARS: usize = 160;
const DESCRIPTION_CHARS: usize = 2_000;
/// Commands longer than this are quoted (shortened) in prose, never run.
const COMMAND_BYTES: usize = 2048;

/// Programs whose inline-code mention is taken as a command.
const CLI_WORDS: &[&str] = &[
    "kubectl",
    "oc",
    "helm",
    "promtool",
    "amtool",
    "etcdctl",
    "curl",
    "wget",
    "journalctl",
    "systemctl",
    "df",
    "du",
    "free",
    "uptime",
    "ps",
    "top",
    "ss",
    "netstat",
    "ip",
    "dig",
    "nslookup",
    "ping",
    "cat",
    "ls",
    "grep",
    "tail",
    "head",
    "dmesg",
    "lsblk",
    "mdadm",
    "chronyc",
    "timedatectl",
    "ntpq",
    "crictl",
    "docker",
    "openssl",
    "iostat",
    "vmstat",
    "findmnt",
    "mount",
    "ethtool",
    "jq",
    "aws",
    "gcloud",
    "az",
    "mysql",
    "psql",
    "redis-cli",
    "vault",
    "argocd",
    "flux",
    "virtctl",
    "podman",
    "ceph",
    "awk",
    "sed",
    "nc",
    "ssh",
    "chroot",
];

const EXPLAIN: &str = "Read the output; this runbook gives no stop rule.";

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

fn alertname_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(&RE, r"^[A-Za-z][A-Za-z0-9_]*$")
}

/// `$NAME`, `${NAME}`, `<name>` tokens in a command.
fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(
        &RE,
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)|<([A-Za-z][A-Za-z0-9_-]*)>|\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
    )
}

/// The content rule for files found in a directory: a `# Title` heading and
/// either a `## Section` or a front-matter `title:`.
pub fn is_markdown_runbook(src: &str) -> bool {
    let doc = Document::parse(src);
    doc.heading.is_some() && (!doc.sections.is_empty() || doc.front_title.is_some())
}

/// Convert one Markdown runbook and run the semantic checks; `path` gives
/// the id and the location of messages.
pub fn parse_markdown(src: &str, path: &Path) -> Result<Runbook, LoadError> {
    let doc = Document::parse(src);
    let Some(heading) = doc.heading.clone() else {
        return Err(LoadError::Invalid(vec![Located {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
            message: "not a Markdown runbook: no `# Title` heading".into(),
        }]));
    };
    let mut rb = convert(&doc, &heading, path);
    rb.path = path.to_path_buf();
    let problems = super::load::check_runbook(&rb, src, path);
    if problems.is_empty() {
        Ok(rb)
    } else {
        Err(LoadError::Invalid(problems))
    }
}

/// The runbook as YAML (the `stepguard import` output): no `path`, no null
/// fields; parses back with [`super::parse_str`] into the same runbook.
pub fn to_yaml(rb: &Runbook) -> String {
    let mut value = serde_yaml::to_value(rb).unwrap_or(serde_yaml::Value::Null);
    drop_nulls(&mut value);
    let body = serde_yaml::to_string(&value).unwrap_or_default();
    let source = rb
        .path
        .file_name()
        .map(|n| sanitize_line(&n.to_string_lossy(), 100).replace(['\n', '\r'], " "))
        .unwrap_or_default();
    if source.is_empty() {
        format!("# Converted by stepguard import; review before use.\n{body}")
    } else {
        format!("# Converted from {source} by stepguard import; review before use.\n{body}")
    }
}

fn drop_nulls(value: &mut serde_yaml::Value) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            map.retain(|_, v| !v.is_null());
            for (_, v) in map.iter_mut() {
                drop_nulls(v);
            }
        }
        serde_yaml::Value::Sequence(seq) => seq.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Markdown structure

#[derive(Debug, Clone)]
enum Block {
    /// A paragraph, or a list item (`true`; nested items folded into it).
    Text(String, bool),
    Code {
        lang: String,
        lines: Vec<String>,
    },
}

#[derive(Debug, Default)]
struct Document {
    front_title: Option<String>,
    heading: Option<String>,
    /// Blocks after the `# ` heading and before the first `## `.
    preamble: Vec<Block>,
    sections: Vec<(String, Vec<Block>)>,
}

impl Document {
    fn parse(src: &str) -> Document {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        let mut doc = Document::default();
        let mut lines = src.lines().peekable();
        // Front matter: `---` ... `---` at the very top.
        if lines.peek().is_some_and(|l| l.trim_end() == "---") {
            lines.next();
            for line in lines.by_ref() {
                if line.trim_end() == "---" {
                    break;
                }
                if let Some(v) = line.strip_prefix("title:") {
                    let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
                    if !v.is_empty() {
                        doc.front_title = Some(v.to_string());
                    }
                }
            }
        }
        let mut builder = BlockBuilder::default();
        let mut fence: Option<(String, String, Vec<String>)> = None;
        // Where blocks go: None before the `# ` heading.
        let mut target: Option<usize> = None; // 0 = preamble, n = sections[n-1]
        let push = |doc: &mut Document, target: Option<usize>, block: Block| match target {
            Some(0) => doc.preamble.push(block),
            Some(n) => doc.sections[n - 1].1.push(block),
            None => {}
        };
        for line in lines {
            if let Some((marker, lang, body)) = &mut fence {
                if line.trim_start().starts_with(marker.as_str())
                    && line
                        .trim()
                        .chars()
                        .all(|c| c == marker.as_bytes()[0] as char)
                {
                    let block = Block::Code {
                        lang: std::mem::take(lang),
                        lines: std::mem::take(body),
                    };
                    push(&mut doc, target, block);
                    fence = None;
                } else {
                    body.push(line.to_string());
                }
                continue;
            }
            let trimmed = line.trim_start();
            if let Some(marker) = ["```", "~~~"].iter().find(|m| trimmed.starts_with(**m)) {
                for b in builder.finish() {
                    push(&mut doc, target, b);
                }
                let lang = trimmed
                    .trim_start_matches(marker.as_bytes()[0] as char)
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                fence = Some((marker.to_string(), lang, Vec::new()));
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                if doc.heading.is_none() {
                    for b in builder.finish() {
                        push(&mut doc, target, b);
                    }
                    doc.heading = Some(rest.trim().trim_end_matches('#').trim().to_string());
                    target = Some(0);
                    continue;
                }
            }
            if let Some(rest) = line.strip_prefix("## ") {
                for b in builder.finish() {
                    push(&mut doc, target, b);
                }
                if doc.heading.is_some() {
                    doc.sections.push((
                        rest.trim().trim_end_matches('#').trim().to_string(),
                        Vec::new(),
                    ));
                    target = Some(doc.sections.len());
                }
                continue;
            }
            if trimmed.starts_with('#') && trimmed.trim_start_matches('#').starts_with(' ') {
                // A deeper heading: a block boundary, its text dropped.
                for b in builder.finish() {
                    push(&mut doc, target, b);
                }
                continue;
            }
            for b in builder.line(line) {
                push(&mut doc, target, b);
            }
        }
        if let Some((_, lang, lines)) = fence {
            push(&mut doc, target, Block::Code { lang, lines });
        }
        for b in builder.finish() {
            push(&mut doc, target, b);
        }
        doc
    }

    fn section(&self, name: &str) -> Option<&[Block]> {
        self.sections
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, b)| b.as_slice())
    }
}

#[derive(Default)]
struct BlockBuilder {
    current: Option<String>,
    /// Indentation of the top-level list item being built, if any.
    item_indent: Option<usize>,
}

fn list_marker(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start();
    for m in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(m) {
            return Some((indent, rest));
        }
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        let rest = &t[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((indent, r));
        }
    }
    None
}

impl BlockBuilder {
    fn finish(&mut self) -> Vec<Block> {
        let item = self.item_indent.take().is_some();
        self.current
            .take()
            .filter(|t| !t.trim().is_empty())
            .map(|t| Block::Text(t, item))
            .into_iter()
            .collect()
    }

    fn line(&mut self, line: &str) -> Vec<Block> {
        if line.trim().is_empty() {
            // A blank line ends a paragraph; a list item may continue after
            // it only with an indented line, which we treat as a new block.
            return self.finish();
        }
        let mut out = Vec::new();
        if let Some((indent, rest)) = list_marker(line) {
            match self.item_indent {
                Some(top) if indent > top => {
                    let cur = self.current.get_or_insert_with(String::new);
                    cur.push_str(if cur.ends_with(':') { " " } else { "; " });
                    cur.push_str(rest.trim());
                }
                _ => {
                    out = self.finish();
                    self.item_indent = Some(indent);
                    self.current = Some(rest.trim().to_string());
                }
            }
            return out;
        }
        let cur = self.current.get_or_insert_with(String::new);
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(line.trim());
        out
    }
}

// ---------------------------------------------------------------------------
// Text helpers

/// One display-safe line: Hugo shortcodes and Markdown links flattened, no
/// `{{` left (it would read as a placeholder), whitespace collapsed, controls
/// and bidi characters made visible, at most `max` chars.
fn clean(text: &str, max: usize) -> String {
    static SHORTCODE: OnceLock<Regex> = OnceLock::new();
    static LINK: OnceLock<Regex> = OnceLock::new();
    let shortcode = re(
        &SHORTCODE,
        r#"\{\{[<%]\s*(?:ref|relref)?\s*"?([^"}]*?)"?\s*[>%]\}\}"#,
    );
    let link = re(&LINK, r"\[([^\]\n]{0,200})\]\(([^)\s]{0,500})\)");
    // Bound the work on hostile input before the regexes run.
    let text: String = text.chars().take(max.saturating_mul(4).max(64)).collect();
    let text = shortcode.replace_all(&text, "$1");
    let text = link.replace_all(&text, "$1 ($2)");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = defuse(&text);
    sanitize_line(&text, max).into_owned()
}

/// No `{{` survives.
fn defuse(text: &str) -> String {
    let mut text = text.to_string();
    while text.contains("{{") {
        text = text.replace("{{", "{ {");
    }
    text
}

/// Byte ranges of inline code spans (single backticks).
fn code_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c == '`' {
            match open {
                None => open = Some(i),
                Some(s) => {
                    spans.push((s, i + 1));
                    open = None;
                }
            }
        }
    }
    spans
}

/// The sentence of `text` around byte range `at`: boundaries are `. `, `! `,
/// `? ` outside code spans.
fn sentence_around(text: &str, spans: &[(usize, usize)], at: (usize, usize)) -> String {
    let in_span = |i: usize| spans.iter().any(|&(s, e)| i >= s && i < e);
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut end = text.len();
    for i in 0..bytes.len().saturating_sub(1) {
        if matches!(bytes[i], b'.' | b'!' | b'?') && bytes[i + 1] == b' ' && !in_span(i) {
            if i < at.0 {
                start = i + 2;
            } else if i >= at.1 {
                end = i + 1;
                break;
            }
        }
    }
    text[start..end].trim().to_string()
}

fn first_sentence(text: &str) -> String {
    let spans = code_spans(text);
    sentence_around(text, &spans, (0, 0))
}

fn is_command_like(code: &str) -> bool {
    let mut words = code.split_whitespace();
    let first = words.next().unwrap_or("");
    CLI_WORDS.contains(&first) && words.next().is_some()
}

// ---------------------------------------------------------------------------
// Conversion

/// A command found in the Markdown with the sentence that introduces it.
struct Found {
    sentence: String,
    command: String,
    /// The output the runbook shows under it (first lines), never a step.
    output: Vec<String>,
    /// `VAR=$(command)`: the variable its output is the value of.
    assigns: Option<String>,
}

/// Diagnosis or mitigation material, in order.
enum Item {
    Command(Found),
    /// Prose (with any commands quoted in it).
    Prose(String),
}

const SHELL_LANGS: &[&str] = &["shell", "sh", "bash", "zsh", "shell-session"];
const LOOSE_LANGS: &[&str] = &["", "console", "text", "txt", "terminal"];

/// Output lines kept per command, for the card's explanation.
const OUTPUT_LINES: usize = 3;

/// A command line of a code block, with the output shown under it.
struct BlockCommand {
    command: String,
    output: Vec<String>,
    assigns: Option<String>,
}

/// The first word of a shell line, past `sudo` and `VAR=value` prefixes.
fn program_word(line: &str) -> &str {
    line.split_whitespace()
        .find(|w| *w != "sudo" && (w.starts_with('-') || !w.contains('=')))
        .unwrap_or("")
}

/// Commands of a code block, each with the output printed under it. A block
/// with prompts (`$ `, or `# ` before a known program: a root shell) has
/// commands only there; every other line is output. Without prompts, every
/// line of a shell block is a command until one has run: from then on a
/// line that does not start with a known program is its output (a table, a
/// log). An unlabelled block keeps only lines starting with a known program.
/// `VAR=value` lines give defaults; `VAR=$(command)` is a command whose
/// output is the variable's value. `None` for a non-shell block (PromQL,
/// YAML...).
fn block_commands(
    lang: &str,
    lines: &[String],
    defaults: &mut BTreeMap<String, String>,
) -> Option<Vec<BlockCommand>> {
    static ASSIGN: OnceLock<Regex> = OnceLock::new();
    static DISCOVER: OnceLock<Regex> = OnceLock::new();
    let assign = re(
        &ASSIGN,
        r#"^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|'([^']*)'|(\S*))$"#,
    );
    let discover = re(
        &DISCOVER,
        r#"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(?:"\$\((.+)\)"|\$\((.+)\))$"#,
    );
    if !SHELL_LANGS.contains(&lang) && !LOOSE_LANGS.contains(&lang) {
        return None;
    }
    let root_prompt = |t: &str| {
        t.strip_prefix("# ")
            .is_some_and(|c| CLI_WORDS.contains(&program_word(c)))
    };
    let prompts = lines.iter().any(|l| {
        let t = l.trim_start();
        t.starts_with("$ ") || root_prompt(t)
    });
    let mut out: Vec<BlockCommand> = Vec::new();
    let mut continuing = false;
    for line in lines {
        let t = line.trim();
        if continuing {
            if let Some(last) = out.last_mut() {
                last.command.push(' ');
                last.command.push_str(t.trim_end_matches('\\').trim());
            }
            continuing = t.ends_with('\\');
            continue;
        }
        let prompted = if root_prompt(t) {
            t.strip_prefix("# ")
        } else {
            t.strip_prefix("$ ")
        };
        let output = |out: &mut Vec<BlockCommand>| {
            if let Some(last) = out.last_mut() {
                if !t.is_empty() && last.output.len() < OUTPUT_LINES {
                    last.output.push(t.to_string());
                }
            }
        };
        let cmd = match prompted {
            Some(c) => c.trim(),
            None if prompts => {
                output(&mut out);
                continue;
            }
            None => t,
        };
        if cmd.is_empty() || (prompted.is_none() && cmd.starts_with('#')) {
            continue;
        }
        if let Some(c) = assign.captures(cmd) {
            let value = c
                .get(2)
                .or(c.get(3))
                .or(c.get(4))
                .map_or("", |m| m.as_str());
            if !value.contains("$(") {
                defaults
                    .entry(var_name(&c[1]))
                    .or_insert_with(|| value.to_string());
                continue;
            }
        }
        if let Some(c) = discover.captures(cmd) {
            let inner = c.get(2).or(c.get(3)).map_or("", |m| m.as_str()).trim();
            out.push(BlockCommand {
                command: inner.to_string(),
                output: Vec::new(),
                assigns: Some(c[1].to_string()),
            });
            continue;
        }
        let known = CLI_WORDS.contains(&program_word(cmd));
        let shown_output = !prompts && !known && !out.is_empty();
        if shown_output || (!prompts && !SHELL_LANGS.contains(&lang) && !is_command_like(cmd)) {
            output(&mut out);
            continue;
        }
        continuing = cmd.ends_with('\\');
        out.push(BlockCommand {
            command: cmd.trim_end_matches('\\').trim().to_string(),
            output: Vec::new(),
            assigns: None,
        });
    }
    Some(out)
}

fn items(blocks: &[Block], defaults: &mut BTreeMap<String, String>) -> Vec<Item> {
    let mut out = Vec::new();
    let mut context = String::new();
    // Bullets introduced by a `...:` paragraph are folded into it.
    let mut group: Option<usize> = None;
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Block::Text(text, is_item) => {
                let spans = code_spans(text);
                let mut found = false;
                for &(s, e) in &spans {
                    let code = text[s + 1..e - 1].trim();
                    if is_command_like(code) {
                        found = true;
                        out.push(Item::Command(Found {
                            sentence: sentence_around(text, &spans, (s, e)),
                            command: code.to_string(),
                            output: Vec::new(),
                            assigns: None,
                        }));
                    }
                }
                let next_is_code = matches!(blocks.get(i + 1), Some(Block::Code { .. }));
                if found || !is_item {
                    group = None;
                }
                if !found && !next_is_code {
                    let len = out.len();
                    match (group, out.last_mut()) {
                        (Some(g), Some(Item::Prose(p))) if g == len && *is_item => {
                            p.push_str(if p.ends_with(':') { " " } else { "; " });
                            p.push_str(text);
                        }
                        _ => {
                            out.push(Item::Prose(text.clone()));
                            if !is_item && text.trim_end().ends_with(':') {
                                group = Some(out.len());
                            }
                        }
                    }
                }
                // The last sentence introduces a following code block.
                let last = text
                    .rsplit_once(". ")
                    .map_or(text.as_str(), |(_, l)| l)
                    .trim();
                context = last.to_string();
            }
            Block::Code { lang, lines } => {
                match block_commands(lang, lines, defaults) {
                    Some(cmds) => {
                        for c in cmds {
                            out.push(Item::Command(Found {
                                sentence: context.clone(),
                                command: c.command,
                                output: c.output,
                                assigns: c.assigns,
                            }));
                        }
                    }
                    None => {
                        let body: Vec<&str> = lines
                            .iter()
                            .map(|l| l.trim())
                            .filter(|l| !l.is_empty())
                            .collect();
                        let quoted = format!("`{}`", body.join(" "));
                        let label = if lang.is_empty() {
                            String::new()
                        } else {
                            format!(" ({lang})")
                        };
                        let prose = if context.is_empty() {
                            format!("Query{label}: {quoted}")
                        } else {
                            format!("{context}{label} {quoted}")
                        };
                        out.push(Item::Prose(prose));
                    }
                }
                context.clear();
            }
        }
    }
    out
}

/// `NAMESPACE` → `namespace`, `my-pvc` → `pvc`, `pod-name` → `pod_name`.
fn var_name(token: &str) -> String {
    let mut name: String = token
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if let Some(rest) = name.strip_prefix("my_") {
        if !rest.is_empty() {
            name = rest.to_string();
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The command as a template, with its placeholders (name, original token).
fn templatize(command: &str) -> (String, Vec<(String, String)>) {
    let mut vars: Vec<(String, String)> = Vec::new();
    let template = placeholder_re()
        .replace_all(command, |c: &regex::Captures| {
            let token = c[0].to_string();
            let raw = c
                .get(1)
                .or(c.get(2))
                .or(c.get(3))
                .or(c.get(4))
                .map_or("", |m| m.as_str());
            let name = var_name(raw);
            if !vars.iter().any(|(n, _)| *n == name) {
                vars.push((name.clone(), token));
            }
            format!("{{{{{name}}}}}")
        })
        .into_owned();
    (template, vars)
}

/// `"node/$NODE_NAME"` → `node/$NODE_NAME`: double quotes around a word of
/// plain characters and placeholders only protect the placeholders, and
/// stepguard quotes each value itself, but only a value that is not inside
/// quotes ([`super::render::unsafe_placeholders`]). Other quoting is kept,
/// and a command with a placeholder still inside quotes is not run.
fn unquote_placeholder_words(command: &str) -> String {
    static QUOTED: OnceLock<Regex> = OnceLock::new();
    let quoted = re(
        &QUOTED,
        r#""((?:[A-Za-z0-9_@%+=:,./-]|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Z_][A-Z0-9_]*|<[A-Za-z][A-Za-z0-9_-]*>)+)""#,
    );
    quoted
        .replace_all(command, |c: &regex::Captures| {
            if placeholder_re().is_match(&c[1]) {
                c[1].to_string()
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

/// The pre-flight template and its variables, if the command may run.
fn runnable(command: &str) -> Option<(String, Vec<(String, String)>)> {
    // An alert template's `{{ $labels.x }}` is a placeholder; any other
    // `{{` is Go or Helm templating that cannot be filled.
    let without_labels = placeholder_re().replace_all(command, "");
    if command.len() > COMMAND_BYTES
        || without_labels.contains("{{")
        || command.chars().any(crate::sanitize::needs_escape)
    {
        return None;
    }
    let (template, vars) = templatize(&unquote_placeholder_words(command));
    if super::render::malformed_placeholder(&template).is_some()
        || !super::render::unsafe_placeholders(&template).is_empty()
    {
        return None;
    }
    let filled = super::render::render(&template, |_| Some("x".to_string())).text;
    crate::guard::check(&filled)
        .allowed
        .then_some((template, vars))
}

fn quote_command(command: &str) -> String {
    format!("`{}`", clean(command, 300))
}

fn convert(doc: &Document, heading: &str, path: &Path) -> Runbook {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut id = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let mut id = id.trim_matches('-').to_string();
    if id.is_empty() {
        id = "runbook".into();
    }
    let title = clean(
        doc.front_title.as_deref().unwrap_or(heading),
        TITLE_CHARS * 2,
    );
    let mut alerts = Vec::new();
    if alertname_re().is_match(heading) {
        alerts.push(heading.to_string());
    }
    // Catalogues name a runbook's file after its alert, and the heading may
    // be an older or shorter name (`MCDPivotError` in
    // `MachineConfigDaemonPivotError.md`): both answer. A stem in lower
    // case (`disk-full`, `node_down`) is a file name, not an alert.
    if alertname_re().is_match(&stem)
        && stem.chars().any(|c| c.is_ascii_uppercase())
        && !alerts.contains(&stem)
    {
        alerts.push(stem.clone());
    }
    let first_text = |blocks: Option<&[Block]>| -> Option<String> {
        blocks?.iter().find_map(|b| match b {
            Block::Text(t, _) => Some(t.clone()),
            Block::Code { .. } => None,
        })
    };
    let meaning = first_text(doc.section("Meaning"));
    let summary = meaning
        .clone()
        .or_else(|| first_text(Some(&doc.preamble)))
        .map(|t| clean(&t, SUMMARY_CHARS))
        .unwrap_or_default();
    // Meaning and Impact whole, prose only: what a person describing the
    // incident paraphrases, for the matcher.
    let description = ["Meaning", "Impact"]
        .iter()
        .flat_map(|name| doc.section(name).unwrap_or_default())
        .filter_map(|b| match b {
            Block::Text(t, _) => Some(t.as_str()),
            Block::Code { .. } => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let description = clean(&description, DESCRIPTION_CHARS);
    let symptoms: Vec<String> = [meaning, first_text(doc.section("Impact"))]
        .into_iter()
        .flatten()
        .map(|t| clean(&first_sentence(&t), SYMPTOM_CHARS))
        .filter(|s| !s.is_empty())
        .collect();

    let mut defaults = BTreeMap::new();
    let mut variables: BTreeMap<String, Variable> = BTreeMap::new();
    let mut steps: Vec<Step> = Vec::new();
    let prose_step = |id: String, text: &str| Step {
        id,
        title: clean(text, TITLE_CHARS),
        intent: clean(text, TEXT_CHARS),
        risk: None,
        preflight: None,
        action: None,
        verify: None,
        rollback: None,
        reason: None,
    };

    // Diagnosis.
    let mut n = 0;
    let mut commands = 0;
    let mut prose = 0;
    let diagnosis = doc
        .section("Diagnosis")
        .map(|b| items(b, &mut defaults))
        .unwrap_or_default();
    for item in diagnosis {
        match item {
            Item::Command(found) => {
                if commands == MAX_COMMAND_STEPS {
                    continue;
                }
                commands += 1;
                n += 1;
                let id = format!("diagnose-{n}");
                let sentence = match (&found.assigns, found.sentence.is_empty()) {
                    (Some(var), true) => format!("Find {var}"),
                    (None, true) => format!("Run {}", quote_command(&found.command)),
                    (_, false) => found.sentence.clone(),
                };
                let mut explain = EXPLAIN.to_string();
                if let Some(var) = &found.assigns {
                    explain = format!(
                        "Its output is the value of {var} in the rest of the runbook: one value printed fills {} (else set it with =).",
                        var_name(var)
                    );
                }
                if !found.output.is_empty() {
                    let shown: Vec<String> = found.output.iter().map(|l| clean(l, 100)).collect();
                    explain = format!(
                        "{explain} The runbook shows output like: {}",
                        shown.join(" / ")
                    );
                }
                match runnable(&found.command) {
                    Some((template, vars)) => {
                        for (name, token) in &vars {
                            variables.entry(name.clone()).or_insert_with(|| Variable {
                                description: format!(
                                    "From the Markdown runbook's {}",
                                    clean(token, 80)
                                ),
                                pattern: None,
                                from: vec![format!("label:{name}"), format!("var:{name}")],
                                extract: None,
                                default: None,
                            });
                        }
                        // A discovery line that needs the value it finds
                        // (`POD=$(… $POD …)`) only reads.
                        let sets = found
                            .assigns
                            .as_deref()
                            .map(var_name)
                            .filter(|name| !vars.iter().any(|(v, _)| v == name));
                        if let Some(name) = &sets {
                            variables.entry(name.clone()).or_insert_with(|| Variable {
                                description: format!(
                                    "Found by step {id}: {}",
                                    clean(&found.command, 80)
                                ),
                                pattern: None,
                                from: vec![format!("label:{name}"), format!("var:{name}")],
                                extract: None,
                                default: None,
                            });
                        }
                        let mut step = prose_step(id, &sentence);
                        step.preflight = Some(Check {
                            run: template,
                            proceed_if: None,
                            stop_if: None,
                            explain: clean(&explain, TEXT_CHARS),
                            timeout: None,
                            sets,
                        });
                        steps.push(step);
                    }
                    None => {
                        let quoted = quote_command(&found.command);
                        let intent = if sentence.contains('`') || found.sentence.is_empty() {
                            format!("{sentence} (not run by stepguard: {quoted})")
                        } else {
                            format!("{sentence}: {quoted} (not run by stepguard)")
                        };
                        let mut step = prose_step(id, &sentence);
                        step.intent = clean(&intent, TEXT_CHARS);
                        steps.push(step);
                    }
                }
            }
            Item::Prose(text) => {
                if prose == MAX_PROSE_STEPS {
                    continue;
                }
                prose += 1;
                n += 1;
                steps.push(prose_step(format!("diagnose-{n}"), &text));
            }
        }
    }

    // Mitigation and every other section but Meaning / Impact / Diagnosis.
    let mut m = 0;
    let mut left_out = 0;
    for (name, blocks) in &doc.sections {
        if ["meaning", "impact", "diagnosis"].contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        for item in items(blocks, &mut defaults) {
            let text = match item {
                Item::Prose(t) => t,
                Item::Command(f) if f.sentence.contains(&format!("`{}`", f.command)) => f.sentence,
                Item::Command(f) if f.sentence.is_empty() => quote_command(&f.command),
                Item::Command(f) => format!("{} {}", f.sentence, quote_command(&f.command)),
            };
            if m == MAX_PROSE_STEPS {
                left_out += 1;
                continue;
            }
            // Two commands of the same sentence: one step.
            if let Some(last) = steps.last_mut() {
                if m > 0 && clean(&text, TEXT_CHARS) == last.intent {
                    continue;
                }
            }
            m += 1;
            steps.push(prose_step(format!("mitigate-{m}"), &text));
        }
    }
    if left_out > 0 {
        if let Some(last) = steps.last_mut() {
            last.intent = format!(
                "{} (and {left_out} more points in the Markdown runbook)",
                last.intent
            );
        }
    }
    if steps.is_empty() {
        let text = first_text(Some(&doc.preamble))
            .unwrap_or_else(|| format!("Follow the Markdown runbook {}", stem));
        let mut step = prose_step("mitigate-1".into(), &text);
        step.title = "Follow the runbook".into();
        steps.push(step);
    }

    // Defaults from `NAME=value` lines, when they pass the variable's pattern.
    for (name, value) in defaults {
        if let Some(var) = variables.get_mut(&name) {
            if var.validate(&value).is_ok() {
                var.default = Some(value);
            }
        }
    }

    Runbook {
        id,
        title,
        summary,
        description,
        alerts,
        symptoms,
        risk: Risk::Medium,
        assumptions: Vec::new(),
        variables,
        steps,
        path: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(var_name("NAMESPACE"), "namespace");
        assert_eq!(var_name("my-namespace"), "namespace");
        assert_eq!(var_name("pod-name"), "pod_name");
        assert_eq!(var_name("POD_FROM_JOB"), "pod_from_job");
    }

    #[test]
    fn templates() {
        let (t, v) = templatize("kubectl -n ${NAMESPACE} logs $POD -c <my-container>");
        assert_eq!(t, "kubectl -n {{namespace}} logs {{pod}} -c {{container}}");
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn placeholders_come_out_of_plain_double_quotes_only() {
        assert_eq!(
            unquote_placeholder_words(r#"df -hi "/host/$MOUNT_POINT" "x y" "${A}b""#),
            r#"df -hi /host/$MOUNT_POINT "x y" ${A}b"#
        );
        assert!(runnable(r#"df -hi "/host/$MOUNT_POINT""#).is_some());
        // Still inside quotes: never a pre-flight.
        for command in [
            r#"grep -c "$PATTERN x" /var/log/syslog"#,
            r#"jq '.[] | select(.name == "$POD")' f"#,
            r#"kubectl get pods -o jsonpath='{.items[?(@.metadata.name=="<pod>")]}'"#,
        ] {
            assert!(runnable(command).is_none(), "{command}");
        }
    }

    #[test]
    fn clean_defuses_braces_and_links() {
        assert_eq!(
            clean(r#"See [A]({{< ref "./A.md" >}}) {{x"#, 100),
            "See A (./A.md) { {x"
        );
    }
}
