//! Loading runbooks: YAML through serde (unknown keys are errors), then the
//! semantic rules of SPEC §2. Every problem carries `path:line:col`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use super::format::{parse_duration, Rollback, Runbook};
use super::render::{placeholders, unsafe_placeholders, UnsafePlaceholder};
use crate::sanitize::sanitize_line;

/// One problem in one file, printed as `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the file (serde echoes a bad value): whatever it
        // holds is drawn, never interpreted, and stays on one line.
        write!(
            f,
            "{}:{}:{}: {}",
            sanitize_line(&self.path.to_string_lossy(), usize::MAX),
            self.line,
            self.col,
            sanitize_line(&self.message, usize::MAX)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, not just the first: fixing one at a time at 3 a.m. is slow.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Located>),
}

fn join_lines(problems: &[Located]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl LoadError {
    pub fn problems(&self) -> Vec<String> {
        match self {
            LoadError::Io { .. } => vec![self.to_string()],
            LoadError::Invalid(list) => list.iter().map(ToString::to_string).collect(),
        }
    }
}

/// SPEC §1.5: the pattern a value must match when its variable has none.
pub const DEFAULT_VALUE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._:/@=+-]*$";

/// One runbook file: YAML, or Markdown for `*.md` (see [`super::markdown`]).
/// A Markdown file named here must have a `# Title` heading.
pub fn load_file(path: &Path) -> Result<Runbook, LoadError> {
    load_text(&read(path)?, path)
}

/// A runbook's text as if read from `path` (its id and kind come from the
/// path): a session's saved copy of a runbook whose file is gone.
pub fn load_text(src: &str, path: &Path) -> Result<Runbook, LoadError> {
    // A byte-order mark (some editors write one) is not text.
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    if is_markdown(path) {
        super::markdown::parse_markdown(src, path)
    } else {
        parse_str(src, path)
    }
}

/// A runbook file's text: a regular file (a FIFO or device, even behind a
/// link or swapped in after the walk, is refused without waiting on it),
/// at most [`MAX_RUNBOOK_BYTES`] read whatever size it reports (`/proc`
/// files report 0).
fn read(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        // Opening a FIFO for reading would wait for a writer.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RUNBOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(io(std::io::Error::other(format!(
            "larger than a runbook can be ({MAX_RUNBOOK_BYTES} bytes)"
        ))));
    }
    String::from_utf8(bytes).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

fn is_markdown(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("md"))
}

/// A catalogue's walk stops with an error past this many entries: a
/// runbook folder has hundreds, a home directory passed by mistake millions.
pub const MAX_WALK_ENTRIES: usize = 200_000;

/// A runbook file larger than this is reported, not read: runbooks are a few
/// KiB, and a log file with a runbook's extension should not stall the start.
pub const MAX_RUNBOOK_BYTES: u64 = 4 << 20;

/// Markdown files a documentation repository keeps beside its runbooks:
/// section indexes and project notes, skipped in a walk.
const NOT_RUNBOOKS: &[&str] = &[
    "_index.md",
    "index.md",
    "readme.md",
    "summary.md",
    "contributing.md",
    "changelog.md",
    "code_of_conduct.md",
    "security.md",
    "license.md",
    "owners.md",
];

/// A file of a walked directory to load, or `None` to skip it silently:
/// Markdown section indexes and project notes ([`NOT_RUNBOOKS`]), Markdown
/// that is not a runbook by content (no `# Title`, or neither a `## Section`
/// nor a front-matter `title:`; see [`super::markdown::is_markdown_runbook`]),
/// and YAML that is not a runbook by content (no top-level key of the
/// format: CI files, Helm charts, alert rules kept beside the runbooks).
fn load_dir_entry(path: &Path) -> Option<Result<Runbook, LoadError>> {
    if is_markdown(path) && is_index_file(path) {
        return None;
    }
    let src = match read(path) {
        Ok(src) => src,
        Err(e) => return Some(Err(e)),
    };
    let src = src.strip_prefix('\u{feff}').unwrap_or(&src).to_string();
    if is_markdown(path) {
        return super::markdown::is_markdown_runbook(&src)
            .then(|| super::markdown::parse_markdown(&src, path));
    }
    looks_like_runbook_yaml(&src).then(|| parse_str(&src, path))
}

/// YAML with at least two of a runbook's required top-level keys (`id`,
/// `title`, `steps`; quoted or not), found by a line scan: a runbook, or a
/// broken one to report. CI files, Helm charts, manifests and alert rules
/// have at most one. Not parsed here: a deeply nested file kept beside the
/// runbooks must not stall the start.
fn looks_like_runbook_yaml(src: &str) -> bool {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let significant = || {
        src.lines().filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with("---") && !t.starts_with('%')
        })
    };
    // JSON, or a runbook written as one flow mapping (`{id: …, title: …}`).
    if significant()
        .next()
        .is_some_and(|l| l.trim_start().starts_with('{'))
    {
        return true;
    }
    // Top-level keys stand at the least indentation (a document may be
    // indented as a whole).
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(top) = significant().map(indent).min() else {
        return false;
    };
    let keys: HashSet<&str> = significant()
        .filter(|l| indent(l) == top)
        .filter_map(|l| top_level_key(&l[top..]))
        .collect();
    ["id", "title", "steps"]
        .iter()
        .filter(|k| keys.contains(*k))
        .count()
        >= 2
}

/// `key` of a line `key: …`, `"key": …`, `'key': …`, `? key` or
/// `!!str key: …`.
fn top_level_key(line: &str) -> Option<&str> {
    let line = line.strip_prefix("? ").unwrap_or(line);
    let line = line.strip_prefix("!!str ").unwrap_or(line).trim_start();
    let (key, rest) = match line.chars().next()? {
        q @ ('"' | '\'') => {
            let body = &line[1..];
            let end = body.find(q)?;
            (&body[..end], &body[end + 1..])
        }
        c if c.is_whitespace() || matches!(c, '-' | '#') => return None,
        _ => match line.find(':') {
            Some(end) => (&line[..end], &line[end..]),
            // `? key` puts the key alone on its line.
            None => (line, ":"),
        },
    };
    rest.trim_start().starts_with(':').then_some(key.trim_end())
}

fn is_index_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| NOT_RUNBOOKS.iter().any(|x| n.eq_ignore_ascii_case(x)))
}

/// What a catalogue holds: the runbooks that load, and every problem of
/// those that do not (each file is skipped whole; ids are unique among the
/// loaded, a later duplicate is a problem of its own file).
#[derive(Debug, Default)]
pub struct Loaded {
    pub runbooks: Vec<Runbook>,
    pub broken: Vec<Located>,
    /// Files named like runbooks that are not runbooks by content (a CI
    /// file, a note): skipped, and listed so a runbook skipped by mistake
    /// can be seen (`check` says so).
    pub skipped: Vec<PathBuf>,
}

impl Loaded {
    /// The files with problems, each once, in the order found.
    pub fn broken_files(&self) -> Vec<&Path> {
        let mut files: Vec<&Path> = Vec::new();
        for p in &self.broken {
            if !files.contains(&p.path.as_path()) {
                files.push(&p.path);
            }
        }
        files
    }

    /// All or nothing: any broken runbook is the error.
    pub fn strict(self) -> Result<Vec<Runbook>, LoadError> {
        if self.broken.is_empty() {
            Ok(self.runbooks)
        } else {
            Err(LoadError::Invalid(self.broken))
        }
    }
}

/// Every runbook under a directory, walked recursively in name order;
/// anything broken is the error (see [`load_paths_lenient`] for the walk).
pub fn load_dir(dir: &Path) -> Result<Vec<Runbook>, LoadError> {
    load_paths(&[dir.to_path_buf()])
}

/// Files and directories alike, all or nothing; runbook ids must be unique
/// across all of them.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Runbook>, LoadError> {
    load_paths_lenient(paths)?.strict()
}

/// Files and directories, keeping every runbook that loads. Directories are
/// walked recursively as a repository is read: hidden entries and what a
/// `.gitignore` excludes are skipped, links are followed (a loop is a
/// problem, not a hang), a file reached twice is read once. A path named
/// here that cannot be read at all is the error.
pub fn load_paths_lenient(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    let mut loaded = Loaded::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut files, &mut loaded.broken);
        } else {
            files.push((path.clone(), true));
        }
    }
    let mut seen_files = HashSet::new();
    let mut seen_ids: std::collections::HashMap<String, Vec<PathBuf>> = Default::default();
    for (file, named) in files {
        let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if !seen_files.insert(real) {
            continue;
        }
        let result = if named {
            Some(load_file(&file))
        } else {
            load_dir_entry(&file)
        };
        match result {
            None if !is_index_file(&file) => loaded.skipped.push(file),
            None => {}
            Some(Ok(rb)) => {
                seen_ids
                    .entry(rb.id.clone())
                    .or_default()
                    .push(rb.path.clone());
                loaded.runbooks.push(rb);
            }
            Some(Err(LoadError::Invalid(mut list))) => loaded.broken.append(&mut list),
            Some(Err(LoadError::Io { path, source })) => {
                loaded.broken.push(cannot_read(path, &source.to_string()))
            }
        }
    }
    // One id, several files: none of them is opened by that id, or whichever
    // sorts first (a folder named `00-…`) would take the name over.
    loaded.runbooks.retain(|rb| {
        let paths = &seen_ids[&rb.id];
        if paths.len() == 1 {
            return true;
        }
        let src = read(&rb.path).unwrap_or_default();
        let (line, col) = locate_key(&src, "id", 0).unwrap_or((1, 1));
        let others: Vec<String> = paths
            .iter()
            .filter(|p| **p != rb.path)
            .map(|p| p.display().to_string())
            .collect();
        loaded.broken.push(Located {
            path: rb.path.clone(),
            line,
            col,
            message: format!(
                "runbook id '{}' is also used by {}: neither is opened until one is renamed",
                rb.id,
                others.join(", ")
            ),
        });
        false
    });
    Ok(loaded)
}

fn cannot_read(path: PathBuf, why: &str) -> Located {
    Located {
        path,
        line: 1,
        col: 1,
        message: format!("cannot read: {why}"),
    }
}

/// The runbook files under `dir`, in name order; what the walk cannot enter
/// goes to `broken`.
fn walk(dir: &Path, files: &mut Vec<(PathBuf, bool)>, broken: &mut Vec<Located>) {
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let left: std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>> = Default::default();
    let left_in_filter = left.clone();
    let seen_dirs: std::sync::Mutex<HashSet<PathBuf>> = Default::default();
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(true)
        .follow_links(true)
        // The folder's own .gitignore files, as git reads them, and only
        // those: none above the folder, no .ignore files, no global excludes.
        .require_git(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        // A link is followed only inside the folder: a link to / or /usr
        // would make the whole disk a catalogue.
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if !entry.path_is_symlink() && !is_dir {
                return true;
            }
            let Ok(target) = std::fs::canonicalize(entry.path()) else {
                return true;
            };
            if !target.starts_with(&root) {
                // A link to a folder, or to a file named like a runbook, is
                // said; a link to a licence or a picture is nothing.
                if is_dir || has_runbook_extension(entry.path()) {
                    if let Ok(mut left) = left_in_filter.lock() {
                        left.push(entry.path().to_path_buf());
                    }
                }
                return false;
            }
            // Each real folder is walked once: links inside the folder that
            // reach a folder twice (a lattice of links) would otherwise
            // multiply the walk.
            !is_dir || seen_dirs.lock().is_ok_and(|mut seen| seen.insert(target))
        })
        .build();
    for (n, entry) in walker.enumerate() {
        if n >= MAX_WALK_ENTRIES {
            broken.push(cannot_read(
                dir.to_path_buf(),
                &format!("stopped after {MAX_WALK_ENTRIES} entries: is this the runbook folder?"),
            ));
            break;
        }
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = walk_error_path(&e).unwrap_or_else(|| dir.to_path_buf());
                broken.push(cannot_read(path, &e.to_string()));
                continue;
            }
        };
        let path = entry.path();
        if !entry.file_type().is_some_and(|t| t.is_file()) || !has_runbook_extension(path) {
            continue;
        }
        match entry.metadata() {
            Ok(meta) if meta.len() > MAX_RUNBOOK_BYTES => broken.push(Located {
                path: path.to_path_buf(),
                line: 1,
                col: 1,
                message: format!(
                    "{} bytes: larger than a runbook can be ({MAX_RUNBOOK_BYTES} bytes)",
                    meta.len()
                ),
            }),
            _ => files.push((path.to_path_buf(), false)),
        }
    }
    for link in left.lock().map(|l| l.clone()).unwrap_or_default() {
        broken.push(cannot_read(
            link,
            "a link out of the runbook folder: not followed",
        ));
    }
}

/// The path an error of the walk is about, where it names one.
fn walk_error_path(e: &ignore::Error) -> Option<PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

/// `.yaml`, `.yml` or `.md`, in any case: what a runbook file is named.
pub fn has_runbook_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "md"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Parse one runbook from text; `path` is used for messages only.
pub fn parse_str(src: &str, path: &Path) -> Result<Runbook, LoadError> {
    let at = |line: usize, col: usize, message: String| Located {
        path: path.to_path_buf(),
        line,
        col,
        message,
    };
    let only_comments = src
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
    if only_comments {
        return Err(LoadError::Invalid(vec![at(
            1,
            1,
            "empty runbook (expected id, title and steps)".into(),
        )]));
    }
    if let Some(offset) = foreign_line_break(src) {
        let (line, col) = line_col(src, offset);
        return Err(LoadError::Invalid(vec![at(
            line,
            col,
            "line break other than \\n or \\r\\n (a lone \\r, U+0085, U+2028 or U+2029): \
             YAML counts it as a new line, editors do not, so positions would be wrong"
                .into(),
        )]));
    }
    let mut runbook: Runbook = serde_yaml::from_str(src).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        LoadError::Invalid(vec![at(line, col, strip_location(&e.to_string()))])
    })?;
    runbook.path = path.to_path_buf();
    let problems = check_runbook(&runbook, src, path);
    if problems.is_empty() {
        Ok(runbook)
    } else {
        Err(LoadError::Invalid(problems))
    }
}

/// The first line break YAML honours that `str::lines` (and editors) do
/// not: with one, every position after it would point at the wrong line.
fn foreign_line_break(src: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    src.char_indices().find_map(|(i, c)| match c {
        '\r' if bytes.get(i + 1) != Some(&b'\n') => Some(i),
        '\u{85}' | '\u{2028}' | '\u{2029}' => Some(i),
        _ => None,
    })
}

/// The semantic rules of SPEC §2 over a parsed runbook; `src` (YAML or the
/// Markdown it came from) is searched to place each problem.
pub(crate) fn check_runbook(runbook: &Runbook, src: &str, path: &Path) -> Vec<Located> {
    Checker::new(src, path).check(runbook)
}

/// serde_yaml appends " at line L column C"; we print the location up front.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The semantic rules. Positions are found by searching the source text for
/// the offending piece, starting at the step it belongs to.
struct Checker<'a> {
    src: &'a str,
    path: &'a Path,
    step_offsets: Vec<usize>,
    problems: Vec<Located>,
    /// Source offsets of the placeholders already reported.
    placed: Vec<usize>,
}

impl<'a> Checker<'a> {
    fn new(src: &'a str, path: &'a Path) -> Self {
        Checker {
            src,
            path,
            step_offsets: step_offsets(src),
            problems: Vec::new(),
            placed: Vec::new(),
        }
    }

    fn report(&mut self, from: usize, needle: &str, message: String) {
        let offset = self.src[from.min(self.src.len())..]
            .find(needle)
            .map(|i| i + from)
            .or_else(|| self.src.find(needle))
            .unwrap_or(from.min(self.src.len()));
        self.report_at(offset, message);
    }

    fn report_at(&mut self, offset: usize, message: String) {
        let (line, col) = line_col(self.src, offset);
        self.problems.push(Located {
            path: self.path.to_path_buf(),
            line,
            col,
            message,
        });
    }

    /// A placeholder the renderer's quoting cannot protect, located at the
    /// placeholder itself: found by the template text just before it (a
    /// short piece of one line, as the YAML source usually spells it), else
    /// by the placeholder alone.
    fn report_placeholder(&mut self, from: usize, template: &str, spot: &UnsafePlaceholder) {
        let line_start = template[..spot.offset].rfind('\n').map_or(0, |i| i + 1);
        let mut lead = spot.offset.saturating_sub(24).max(line_start);
        while !template.is_char_boundary(lead) {
            lead += 1;
        }
        let needle = &template[lead..spot.offset + spot.text.len()];
        let from = from.min(self.src.len());
        // The same text twice in a step (a rollback that repeats the action)
        // is reported at each of its places.
        let taken = |offset: &usize| self.placed.contains(offset);
        let found = self.src[from..]
            .match_indices(needle)
            .map(|(i, _)| from + i + (spot.offset - lead))
            .find(|o| !taken(o))
            .or_else(|| {
                self.src[from..]
                    .match_indices(&spot.text)
                    .map(|(i, _)| from + i)
                    .find(|o| !taken(o))
            });
        let message = format!(
            "placeholder '{}' is {}, where quoting the value as one shell word does not protect \
             it (it could end the quote or run as code); make it a word of its own, outside \
             quotes and substitutions (for jq: --arg NAME {{{{{}}}}})",
            spot.text, spot.context, spot.name
        );
        match found {
            Some(offset) => {
                self.placed.push(offset);
                self.report_at(offset, message);
            }
            None => self.report(from, &format!("{{{{{}", spot.name), message),
        }
    }

    fn step_start(&self, index: usize) -> usize {
        self.step_offsets
            .get(index)
            .copied()
            .unwrap_or_else(|| self.src.find("steps:").unwrap_or(0))
    }

    /// Parse only: as strict as `Regex::new` about syntax, without the cost
    /// of compiling every predicate of every runbook at start-up.
    fn check_regex(&mut self, from: usize, pattern: &str, what: &str) {
        if let Err(e) = regex_syntax::Parser::new().parse(pattern) {
            let first = e.to_string();
            let detail = first.lines().last().unwrap_or("").trim().to_string();
            self.report(
                from,
                pattern,
                format!("{what} is not a valid regex: {detail}"),
            );
        }
    }

    fn check(mut self, rb: &Runbook) -> Vec<Located> {
        static ID_RE: OnceLock<Regex> = OnceLock::new();
        static NAME_RE: OnceLock<Regex> = OnceLock::new();
        let id_re =
            ID_RE.get_or_init(|| Regex::new(r"^[a-z0-9]+(-[a-z0-9]+)*$").expect("static regex"));
        let name_re =
            NAME_RE.get_or_init(|| Regex::new(r"^[a-z_][a-z0-9_]*$").expect("static regex"));
        if !id_re.is_match(&rb.id) {
            self.report(
                0,
                &rb.id,
                format!("runbook id '{}' must match [a-z0-9-]+", rb.id),
            );
        }
        if rb.title.trim().is_empty() {
            // The picker and the walk's header name a runbook by its title.
            self.report(0, "title:", "a runbook needs a title".into());
        }
        if rb.steps.is_empty() {
            self.report(0, "steps:", "a runbook needs at least one step".into());
        }
        let vars_at = self.src.find("variables:").unwrap_or(0);
        for (name, var) in &rb.variables {
            let var_at = self.src[vars_at..]
                .find(&format!("{name}:"))
                .map_or(vars_at, |i| i + vars_at);
            if !name_re.is_match(name) {
                self.report(
                    var_at,
                    name,
                    format!("variable name '{name}' must match [a-z_][a-z0-9_]*"),
                );
            }
            if let Some(p) = &var.pattern {
                self.check_regex(var_at, p, &format!("pattern of '{name}'"));
            }
            if let Some(x) = &var.extract {
                self.check_regex(var_at, x, &format!("extract of '{name}'"));
            }
            for source in &var.from {
                let ok =
                    matches!(source.split_once(':'), Some(("label" | "var", n)) if !n.is_empty());
                if !ok {
                    self.report(
                        var_at,
                        source,
                        format!("source '{source}' of '{name}' must be label:NAME or var:NAME"),
                    );
                }
            }
            if let Some(default) = &var.default {
                if let Err(why) = var.validate(default) {
                    self.report(
                        var_at,
                        default,
                        format!(
                            "default '{default}' of '{name}' does not match its pattern ({why})"
                        ),
                    );
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, step) in rb.steps.iter().enumerate() {
            let at = self.step_start(i);
            if !id_re.is_match(&step.id) {
                self.report(
                    at,
                    &step.id,
                    format!("step id '{}' must match [a-z0-9-]+", step.id),
                );
            }
            if !seen.insert(step.id.as_str()) {
                self.report(at, &step.id, format!("step id '{}' is used twice", step.id));
            }
            let mut texts: Vec<&str> = vec![&step.title, &step.intent];
            for check in [&step.preflight, &step.verify].into_iter().flatten() {
                texts.push(&check.run);
                texts.push(&check.explain);
                if check.run.trim().is_empty() {
                    self.report(at, "run:", format!("step '{}': empty command", step.id));
                }
                for p in [&check.proceed_if, &check.stop_if].into_iter().flatten() {
                    self.check_regex(at, p, &format!("predicate of step '{}'", step.id));
                }
                if let Some(t) = &check.timeout {
                    if parse_duration(t).is_none() {
                        self.report(
                            at,
                            t,
                            format!("timeout '{t}' is not a duration like 20s, 500ms or 2m"),
                        );
                    }
                }
            }
            if let Some(check) = &step.verify {
                if let Some(name) = &check.sets {
                    self.report(
                        at,
                        "sets:",
                        format!(
                            "step '{}': `sets: {name}` belongs on a pre-flight, not a verify",
                            step.id
                        ),
                    );
                }
            }
            if let Some((check, name)) = step
                .preflight
                .as_ref()
                .and_then(|c| c.sets.as_ref().map(|n| (c, n)))
            {
                if placeholders(&check.run).any(|p| p == name) {
                    self.report(
                        at,
                        "sets:",
                        format!(
                            "step '{}' sets '{name}' with a command that needs it: a read cannot find the value it runs with",
                            step.id
                        ),
                    );
                }
                if !rb.variables.contains_key(name) {
                    self.report(
                        at,
                        "sets:",
                        format!("step '{}' sets undeclared variable '{name}' (declare it under `variables:`)", step.id),
                    );
                }
            }
            if let Some(action) = &step.action {
                texts.push(&action.run);
                texts.push(&action.blast_radius);
                if action.blast_radius.trim().is_empty() {
                    self.report(
                        at,
                        "action:",
                        format!("step '{}': the action needs a blast_radius", step.id),
                    );
                }
                if step.rollback.is_none() {
                    self.report(at, "action:", format!("step '{}' has an action but no rollback (write `rollback: none` and a `reason` if there is nothing to undo)", step.id));
                }
            }
            match &step.rollback {
                Some(Rollback::Command(c)) => texts.push(&c.run),
                Some(Rollback::Keyword(word)) if word != "none" => self.report(
                    at,
                    word,
                    format!("rollback must be `none` or a mapping with `run`, not '{word}'"),
                ),
                Some(Rollback::Keyword(_))
                    if step.reason.as_deref().is_none_or(|r| r.trim().is_empty()) =>
                {
                    self.report(
                        at,
                        "rollback:",
                        format!("step '{}': `rollback: none` needs a `reason`", step.id),
                    );
                }
                Some(Rollback::Keyword(_)) | None => {}
            }
            let mut commands: Vec<&str> = Vec::new();
            commands.extend(
                [&step.preflight, &step.verify]
                    .into_iter()
                    .flatten()
                    .map(|c| c.run.as_str()),
            );
            commands.extend(step.action.as_ref().map(|a| a.run.as_str()));
            if let Some(Rollback::Command(c)) = &step.rollback {
                commands.push(&c.run);
            }
            for command in commands {
                for spot in unsafe_placeholders(command) {
                    self.report_placeholder(at, command, &spot);
                }
            }
            for text in texts {
                for name in placeholders(text) {
                    if !rb.variables.contains_key(name) {
                        self.report(
                            at,
                            &format!("{{{{{name}"),
                            format!("undeclared variable '{name}' (declare it under `variables:`)"),
                        );
                    }
                }
                if let Some(bad) = super::render::malformed_placeholder(text) {
                    self.report(
                        at,
                        bad,
                        format!("malformed placeholder '{bad}' (write {{{{name}}}})"),
                    );
                }
            }
        }
        self.problems
    }
}

/// Byte offsets of each step's `id:` line, in order.
fn step_offsets(src: &str) -> Vec<usize> {
    let Some(steps_at) = src
        .find("\nsteps:")
        .map(|i| i + 1)
        .or_else(|| src.starts_with("steps:").then_some(0))
    else {
        return Vec::new();
    };
    let mut offsets = Vec::new();
    let mut offset = steps_at;
    for line in src[steps_at..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('-') {
            if rest.trim_start().starts_with("id:") || rest.trim().is_empty() {
                offsets.push(offset + (line.len() - trimmed.len()));
            }
        }
        offset += line.len();
    }
    offsets
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Position of the `n`-th top-level or nested `key:`.
fn locate_key(src: &str, key: &str, n: usize) -> Option<(usize, usize)> {
    let needle = format!("{key}:");
    let offset = src.match_indices(&needle).nth(n)?.0;
    Some(line_col(src, offset))
}
