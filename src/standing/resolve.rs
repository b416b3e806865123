//! What a standing rule's program is on this machine (SPEC §7): the name is
//! looked up as the shell will (on `PATH`, and in the system program
//! directories a command may name it from), symlinks are followed to the
//! real file (whose name then speaks for it: `rbash` is `bash`), the file is
//! compared with the programs on `PATH` the guard refuses or checks itself
//! (same inode, or same size and contents: a hard link or a copy of `bash`
//! is `bash`; symlinks to a file are not compared, as a multi-call binary
//! such as `systemctl` is `halt` only when invoked by that name), and a
//! `#!` script's interpreter is resolved the same way. The guard judges the result
//! (`guard::rule_admissible_as`); nothing here decides.
//!
//! Results are cached per process, keyed by the file's metadata, so a
//! rule's check at every use costs a few `stat` calls; a file replaced
//! under the same name is looked at again.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::guard::{self, ProgramIdentity, PROGRAM_DIRS};
use crate::standing::ArgRule;

/// How far `#!` interpreters are followed (the kernel stops at 4 too).
const MAX_INTERPRETER_DEPTH: usize = 4;

/// How much of a file is read to find a `#!` line.
const SHEBANG_BYTES: usize = 256;

/// Files bigger than this are not hashed to find copies.
const MAX_HASH_BYTES: u64 = 512 * 1024 * 1024;

/// Entries read from one directory of the search path, at most.
const MAX_DIR_ENTRIES: usize = 50_000;

/// Looks programs up the way the runner's shell will.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    search_path: Option<OsString>,
    cwd: PathBuf,
}

impl Resolver {
    /// `PATH` and the working directory of this process: what the runner's
    /// `sh -c` inherits.
    pub fn from_env() -> Resolver {
        Resolver::with_search_path(std::env::var_os("PATH"))
    }

    /// A given search path (`PATH`'s syntax); `None` finds nothing by name
    /// (the system program directories are still looked at).
    pub fn with_search_path(search_path: Option<OsString>) -> Resolver {
        Resolver {
            search_path,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    /// Every file a rule for `program` could run: the name on the search
    /// path, the same name in each system program directory, and for a
    /// program that runs plugins by name (`kubectl krew` runs
    /// `kubectl-krew`), the plugins its leading words name.
    pub fn rule_identities(&self, program: &str, args: &[ArgRule]) -> Vec<ProgramIdentity> {
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        if let Some(found) = self.lookup(program) {
            files.push((program.to_owned(), found));
        }
        for dir in PROGRAM_DIRS {
            let path = PathBuf::from(format!("{dir}{program}"));
            if is_executable(&path) {
                files.push((path.display().to_string(), path));
            }
        }
        files.extend(self.plugins(program, args));
        self.identities(files)
    }

    /// The files a command that names `word` (bare, or a path in a system
    /// program directory) runs when a rule for `program args` allows it:
    /// what the rule is checked against each time it is used.
    pub fn command_identities(
        &self,
        word: &str,
        program: &str,
        args: &[ArgRule],
    ) -> Vec<ProgramIdentity> {
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        if word.contains('/') {
            files.push((word.to_owned(), PathBuf::from(word)));
        } else if let Some(found) = self.lookup(word) {
            files.push((word.to_owned(), found));
        }
        files.extend(self.plugins(program, args));
        self.identities(files)
    }

    fn identities(&self, files: Vec<(String, PathBuf)>) -> Vec<ProgramIdentity> {
        let mut out: Vec<ProgramIdentity> = Vec::with_capacity(files.len());
        for (invoked, file) in files {
            let id = self.identity(&invoked, &file, 0);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    fn lookup(&self, name: &str) -> Option<PathBuf> {
        let path = self.search_path.as_ref()?;
        which::which_in(name, Some(path), &self.cwd).ok()
    }

    /// kubectl runs an unknown subcommand `a b` as the first of
    /// `kubectl-a-b`, `kubectl-a` found on `PATH` (dashes inside a word
    /// become underscores).
    fn plugins(&self, program: &str, args: &[ArgRule]) -> Vec<(String, PathBuf)> {
        if program != "kubectl" {
            return Vec::new();
        }
        let leading: Vec<String> = args
            .iter()
            .map_while(|a| match a {
                ArgRule::Exact(s) if !s.starts_with('-') && !s.is_empty() => {
                    Some(s.replace('-', "_"))
                }
                _ => None,
            })
            .collect();
        (1..=leading.len())
            .filter_map(|n| {
                let name = format!("{program}-{}", leading[..n].join("-"));
                self.lookup(&name).map(|found| (name, found))
            })
            .collect()
    }

    /// What the file `invoked` leads to is (nothing read when it cannot be:
    /// its name alone then speaks for it).
    fn identity(&self, invoked: &str, file: &Path, depth: usize) -> ProgramIdentity {
        let fallback = || ProgramIdentity {
            invoked: invoked.to_owned(),
            path: file.display().to_string(),
            names: file_name(file).into_iter().collect(),
            interpreter: None,
        };
        let Ok(real) = std::fs::canonicalize(file) else {
            return fallback();
        };
        let Ok(meta) = std::fs::metadata(&real) else {
            return fallback();
        };
        // What a file is depends on the search path too (what it is compared with).
        let key = (self.search_path.clone(), FileKey::of(&real, &meta));
        let cached = cache().lock().ok().and_then(|c| c.get(&key).cloned());
        let mut id = match cached {
            Some(id) => id,
            None => {
                let id = self.inspect(&real, &meta, depth);
                if let Ok(mut c) = cache().lock() {
                    c.insert(key, id.clone());
                }
                id
            }
        };
        id.invoked = invoked.to_owned();
        id
    }

    fn inspect(&self, real: &Path, meta: &std::fs::Metadata, depth: usize) -> ProgramIdentity {
        let mut names: Vec<String> = file_name(real).into_iter().collect();
        for name in self.index().same_file(real, meta) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let interpreter = (depth < MAX_INTERPRETER_DEPTH)
            .then(|| self.interpreter(real, depth))
            .flatten()
            .map(Box::new);
        ProgramIdentity {
            invoked: String::new(),
            path: real.display().to_string(),
            names,
            interpreter,
        }
    }

    /// The program a `#!` line runs the file with, seen through `env`
    /// (`#!/usr/bin/env -S python3 -u` is run by `python3`).
    fn interpreter(&self, real: &Path, depth: usize) -> Option<ProgramIdentity> {
        let line = shebang(real)?;
        let mut words = line.split_ascii_whitespace();
        let first = words.next()?;
        let first_path = self.cwd.join(first);
        let is_env = file_name(Path::new(first)).is_some_and(|n| n == "env");
        if !is_env {
            return Some(self.identity(first, &first_path, depth + 1));
        }
        match env_program(words) {
            Some(program) => Some(match self.lookup(&program) {
                Some(found) => self.identity(&program, &found, depth + 1),
                None => ProgramIdentity {
                    invoked: program.clone(),
                    path: program.clone(),
                    names: vec![program],
                    interpreter: None,
                },
            }),
            // `env` with no program runs the script as a command again.
            None => Some(self.identity(first, &first_path, depth + 1)),
        }
    }

    fn index(&self) -> Arc<Index> {
        static INDEXES: OnceLock<Mutex<HashMap<OsString, Arc<Index>>>> = OnceLock::new();
        let key = self.search_path.clone().unwrap_or_default();
        let map = INDEXES.get_or_init(Default::default);
        if let Some(found) = map.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return found;
        }
        let built = Arc::new(Index::build(self.search_dirs()));
        if let Ok(mut m) = map.lock() {
            m.insert(key, built.clone());
        }
        built
    }

    fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .search_path
            .as_deref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        dirs.extend(PROGRAM_DIRS.iter().map(PathBuf::from));
        dirs.iter_mut().for_each(|d| {
            if d.as_os_str().is_empty() {
                *d = self.cwd.clone();
            }
        });
        dirs.dedup();
        dirs
    }
}

/// The first non-option word `env` would run, from its `#!` argument.
fn env_program<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<String> {
    while let Some(w) = words.next() {
        match w {
            "-S"
            | "--split-string"
            | "-i"
            | "--ignore-environment"
            | "-0"
            | "--null"
            | "-v"
            | "--debug"
            | "--" => {}
            "-u" | "--unset" | "-C" | "--chdir" | "-P" => {
                words.next();
            }
            _ if w.starts_with("-S") => return Some(w[2..].to_owned()).filter(|p| !p.is_empty()),
            _ if w.starts_with('-') || w.contains('=') => {}
            _ => return Some(w.to_owned()),
        }
    }
    None
}

/// The rest of the first line after `#!`, if the file starts with one.
fn shebang(path: &Path) -> Option<String> {
    let mut head = Vec::with_capacity(SHEBANG_BYTES);
    File::open(path)
        .ok()?
        .take(SHEBANG_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    let rest = head.strip_prefix(b"#!")?;
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    Some(String::from_utf8_lossy(&rest[..end]).trim().to_owned())
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()
        .map(OsStr::to_string_lossy)
        .map(|n| n.into_owned())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}

/// A file as it is now: replaced or rewritten, it is another key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    fn of(path: &Path, meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

type IdentityCache = Mutex<HashMap<(Option<OsString>, FileKey), ProgramIdentity>>;

fn cache() -> &'static IdentityCache {
    static CACHE: OnceLock<IdentityCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The programs on the search path whose names matter to the guard (names
/// it refuses, programs it checks), by the file they are.
#[derive(Debug, Default)]
struct Index {
    by_inode: HashMap<(u64, u64), Vec<String>>,
    by_len: HashMap<u64, Vec<(PathBuf, String)>>,
}

impl Index {
    fn build(dirs: Vec<PathBuf>) -> Index {
        let mut index = Index::default();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.take(MAX_DIR_ENTRIES).flatten() {
                // A symlink names what its target does when invoked by that
                // name (`halt -> systemctl`, `pkill -> pgrep`): the target
                // under its own name is not that program. Files are indexed
                // by their own names only (hard links included).
                if entry.file_type().map_or(true, |t| t.is_symlink()) {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if !guard::rule_name_matters(&name) {
                    continue;
                }
                let Ok(meta) = std::fs::metadata(entry.path()) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let names = index.by_inode.entry((meta.dev(), meta.ino())).or_default();
                if !names.contains(&name) {
                    names.push(name.clone());
                }
                let real = std::fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path());
                index
                    .by_len
                    .entry(meta.len())
                    .or_default()
                    .push((real, name));
            }
        }
        index
    }

    /// The names of the indexed programs that are `real`: the same inode,
    /// or the same size and contents.
    fn same_file(&self, real: &Path, meta: &std::fs::Metadata) -> Vec<String> {
        let mut names = self
            .by_inode
            .get(&(meta.dev(), meta.ino()))
            .cloned()
            .unwrap_or_default();
        let Some(same_len) = self.by_len.get(&meta.len()) else {
            return names;
        };
        let mut mine: Option<Option<[u8; 32]>> = None;
        for (other, name) in same_len {
            if names.contains(name) || other == real {
                continue;
            }
            let own = *mine.get_or_insert_with(|| digest(real));
            if own.is_some() && own == digest(other) {
                names.push(name.clone());
            }
        }
        names
    }
}

/// SHA-256 of a file's contents, cached by its metadata.
fn digest(path: &Path) -> Option<[u8; 32]> {
    static DIGESTS: OnceLock<Mutex<HashMap<FileKey, [u8; 32]>>> = OnceLock::new();
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_HASH_BYTES {
        return None;
    }
    let key = FileKey::of(path, &meta);
    let map = DIGESTS.get_or_init(Default::default);
    if let Some(d) = map.lock().ok().and_then(|m| m.get(&key).copied()) {
        return Some(d);
    }
    let mut file = File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let d: [u8; 32] = hasher.finalize().into();
    if let Ok(mut m) = map.lock() {
        m.insert(key, d);
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_programs() {
        let p = |s: &str| env_program(s.split_ascii_whitespace());
        assert_eq!(p("python3"), Some("python3".into()));
        assert_eq!(p("-S python3 -u"), Some("python3".into()));
        assert_eq!(p("-Sbash -e"), Some("bash".into()));
        assert_eq!(p("-i FOO=1 -u BAR node"), Some("node".into()));
        assert_eq!(p(""), None);
        assert_eq!(p("-S"), None);
    }
}
