//! Hash-chained JSON lines. Each line carries the hash of the one before and
//! its own hash over its content, and is flushed to disk before `append`
//! returns. Editing, deleting, reordering or truncating a line breaks the
//! chain at that line; the session snapshot also records the head, so cutting
//! lines off the end is caught too.
//!
//! A failed append (a full disk) cuts the file back to its last whole line,
//! so a half line never has another appended onto it. A line torn by a
//! crash mid-write is the one damage [`repair`] mends, and it records that
//! it did.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::Event;

/// The last line of a log: how many lines, and the last hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// Where a session's events go. The hash-chained file is one sink; another
/// store (a database) is one more implementation.
pub trait AuditSink {
    /// Append one event, durably before returning; the new head.
    fn append(&mut self, ts_ms: u64, event: &Event) -> std::io::Result<Head>;

    /// The last event appended (or found when the sink was opened), which
    /// the session snapshot records.
    fn head(&self) -> &Head;

    /// Append events in order, all or none as far as the sink can; the new head.
    fn append_all(&mut self, events: &[(u64, Event)]) -> std::io::Result<Head> {
        for (ts_ms, event) in events {
            self.append(*ts_ms, event)?;
        }
        Ok(self.head().clone())
    }
}

/// One event read back from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub seq: u64,
    pub ts_ms: u64,
    pub event: Event,
}

/// A line is hashed as serde_json writes it, and every store must give it
/// back so: what PostgreSQL's jsonb would not is made canonical before the
/// line is hashed, so every sink holds the same line.
///
/// - NUL has no meaning in a record people read, and jsonb refuses
///   `\u0000`: a NUL a program printed is written as U+FFFD.
/// - jsonb keeps a number's digits, not its form: `1e16` comes back
///   `10000000000000000` (read as an integer) and `-0.0` as `0.0`. A whole
///   float from 1e16 on is written as the integer it is, when it fits one,
///   and −0 as 0.
fn canonical(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Number(n) => {
            if let Some(v) = canonical_number(n) {
                *value = v;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(canonical),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', "\u{FFFD}"), v))
                    .collect();
            }
            map.values_mut().for_each(canonical);
        }
        _ => {}
    }
}

/// Whether [`canonical`] would leave every number of `value` as it is (a
/// NUL is not asked about: logs written before it was replaced hold it).
fn numbers_canonical(value: &Value) -> bool {
    match value {
        Value::Number(n) => canonical_number(n).is_none(),
        Value::Array(items) => items.iter().all(numbers_canonical),
        Value::Object(map) => map.values().all(numbers_canonical),
        _ => true,
    }
}

/// The number a float is written as when jsonb would give it back in
/// another form; None when it is written as it is.
fn canonical_number(n: &serde_json::Number) -> Option<Value> {
    let f = n.as_f64().filter(|_| n.is_f64())?;
    if f == 0.0 && f.is_sign_negative() {
        return Some(Value::from(0.0));
    }
    if f.fract() != 0.0 || f.abs() < 1e16 {
        return None;
    }
    // 2⁶⁴ does not fit a u64; −2⁶³ fits an i64.
    if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
        Some(Value::from(f as u64))
    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        Some(Value::from(f as i64))
    } else {
        None
    }
}

/// One line of a log as written: what another sink (the team database)
/// keeps beside the file, hash and all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub seq: u64,
    pub ts_ms: u64,
    pub kind: String,
    pub data: Value,
    pub prev: String,
    pub hash: String,
}

impl Line {
    /// Whether the line's hash is the hash of its content.
    pub fn hash_holds(&self) -> bool {
        self.hash == line_hash(self.seq, self.ts_ms, &self.kind, &self.data, &self.prev)
    }
}

/// The whole lines of a log after line `after`, as written (no
/// verification). A last line without its newline is not whole yet: a
/// crash may have cut it, and [`repair`] would replace it.
pub fn read_lines(path: &Path, after: u64) -> std::io::Result<Vec<Line>> {
    let mut lines = Vec::new();
    let mut reader = BufReader::new(File::open(path)?);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 || raw.last() != Some(&b'\n') {
            break;
        }
        let Ok(line) = serde_json::from_slice::<Line>(&raw) else {
            break;
        };
        if line.seq > after {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// The hashed part of a line, in a fixed field order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    ts_ms: u64,
    kind: &'a str,
    data: &'a Value,
    prev: &'a str,
}

fn line_hash(seq: u64, ts_ms: u64, kind: &str, data: &Value, prev: &str) -> String {
    let body = serde_json::to_vec(&Hashed {
        seq,
        ts_ms,
        kind,
        data,
        prev,
    })
    .expect("serializable");
    crate::digest::sha256_hex(&body)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}:{line}: {why}", path.display())]
pub struct VerifyError {
    pub path: PathBuf,
    /// 1-based line number of the first bad line.
    pub line: u64,
    pub why: String,
    /// The bad line is the last one and does not end: a write cut short,
    /// which `stepguard sessions repair` mends.
    pub torn: bool,
}

pub struct AuditLog {
    file: File,
    head: Head,
    path: PathBuf,
}

impl AuditLog {
    /// Open (or create) a log to append to; an existing one is verified first.
    pub fn open(path: &Path) -> Result<Self, VerifyError> {
        let head = if path.exists() {
            verify(path, None)?
        } else {
            Head::default()
        };
        // Never through a link: the log is the session directory's own file.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| VerifyError {
                path: path.to_path_buf(),
                line: head.seq + 1,
                why: e.to_string(),
                torn: false,
            })?;
        Ok(AuditLog {
            file,
            head,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append a line of any kind and data, as given, and flush it to disk.
    /// Events go through [`AuditSink::append`]; this writes lines an older
    /// or other writer would have.
    pub fn append_raw(&mut self, kind: &str, data: Value, ts_ms: u64) -> std::io::Result<Head> {
        self.append_lines(vec![(kind.to_string(), data, ts_ms)])
    }

    /// Chain and write lines in one write and one sync. A short write (a
    /// full disk) is cut back off, so the next line never lands on a half
    /// one, and the head does not move.
    fn append_lines(&mut self, lines: Vec<(String, Value, u64)>) -> std::io::Result<Head> {
        let mut head = self.head.clone();
        let mut bytes = Vec::new();
        for (kind, mut data, ts_ms) in lines {
            canonical(&mut data);
            let seq = head.seq + 1;
            let hash = line_hash(seq, ts_ms, &kind, &data, &head.hash);
            let line = Line {
                seq,
                ts_ms,
                kind,
                data,
                prev: head.hash,
                hash: hash.clone(),
            };
            serde_json::to_writer(&mut bytes, &line)?;
            bytes.push(b'\n');
            head = Head { seq, hash };
        }
        let before = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self.file.set_len(before);
            let _ = self.file.sync_data();
            return Err(e);
        }
        self.head = head;
        Ok(self.head.clone())
    }
}

impl AuditSink for AuditLog {
    fn append(&mut self, ts_ms: u64, event: &Event) -> std::io::Result<Head> {
        // The hash covers the data as a JSON value (keys sorted), the form
        // every line has had.
        let (kind, data) = event.to_parts()?;
        self.append_raw(&kind, data, ts_ms)
    }

    fn head(&self) -> &Head {
        &self.head
    }

    fn append_all(&mut self, events: &[(u64, Event)]) -> std::io::Result<Head> {
        let lines = events
            .iter()
            .map(|(ts_ms, event)| event.to_parts().map(|(kind, data)| (kind, data, *ts_ms)))
            .collect::<serde_json::Result<Vec<_>>>()?;
        self.append_lines(lines)
    }
}

/// Check the whole chain; with `expected`, also that the log ends where the
/// session snapshot says it did. Returns the head.
pub fn verify(path: &Path, expected: Option<&Head>) -> Result<Head, VerifyError> {
    let bad = |line: u64, why: String| VerifyError {
        path: path.to_path_buf(),
        line,
        why,
        torn: false,
    };
    let file = File::open(path).map_err(|e| bad(0, e.to_string()))?;
    let mut reader = BufReader::new(file);
    let mut head = Head::default();
    let mut raw = Vec::new();
    let mut n = 0u64;
    loop {
        raw.clear();
        let read = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| bad(n + 1, e.to_string()))?;
        if read == 0 {
            break;
        }
        n += 1;
        if raw.last() != Some(&b'\n') {
            return Err(VerifyError {
                torn: true,
                ..bad(
                    n,
                    "the last line was cut off mid-write (`stepguard sessions repair` mends it)"
                        .into(),
                )
            });
        }
        let line: Line =
            serde_json::from_slice(&raw).map_err(|e| bad(n, format!("not an audit line: {e}")))?;
        if line.seq != n {
            return Err(bad(
                n,
                format!(
                    "sequence {} where {n} was expected (a line was removed or moved)",
                    line.seq
                ),
            ));
        }
        if line.prev != head.hash {
            return Err(bad(
                n,
                "does not follow the line before it (removed, moved or edited)".into(),
            ));
        }
        let want = line_hash(line.seq, line.ts_ms, &line.kind, &line.data, &line.prev);
        if line.hash != want {
            return Err(bad(
                n,
                "its content does not match its hash (edited)".into(),
            ));
        }
        // stepguard writes only canonical lines; another form verifies
        // here yet not in the team copy, so the two verdicts would differ.
        if !numbers_canonical(&line.data) {
            return Err(bad(
                n,
                "holds a number in a form stepguard never writes (edited)".into(),
            ));
        }
        if expected.is_some_and(|e| e.seq == line.seq && e.hash != line.hash) {
            return Err(bad(
                n,
                "differs from the line the session recorded as its last".into(),
            ));
        }
        head = Head {
            seq: line.seq,
            hash: line.hash,
        };
    }
    if let Some(expected) = expected {
        if expected.seq > head.seq {
            return Err(bad(head.seq + 1, format!("the log ends at line {} but the session recorded {} lines (lines were cut off)", head.seq, expected.seq)));
        }
    }
    Ok(head)
}

/// What [`repair`] cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// 1-based number of the torn line.
    pub line: u64,
    pub removed_bytes: u64,
    pub removed_sha256: String,
    /// The head after the `repair` event was appended.
    pub head: Head,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// Damage other than a torn last line: nothing is changed.
    #[error("not repairable: {0}")]
    NotRepairable(VerifyError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Mend a log whose last line was cut off mid-write: cut it off and append
/// a `repair` event saying what was removed (its size and digest). `None`
/// when the log verifies as it is. Any other damage is refused untouched:
/// it is evidence, not a crash.
pub fn repair(path: &Path, ts_ms: u64) -> Result<Option<Repaired>, RepairError> {
    let err = match verify(path, None) {
        Ok(_) => return Ok(None),
        Err(e) if e.torn => e,
        Err(e) => return Err(RepairError::NotRepairable(e)),
    };
    let bytes = std::fs::read(path)?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let removed = &bytes[keep..];
    let removed_sha256 = crate::digest::sha256_hex(removed);
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(keep as u64)?;
    file.sync_all()?;
    drop(file);
    let mut log = AuditLog::open(path).map_err(RepairError::NotRepairable)?;
    let event = Event::Repair {
        line: err.line,
        removed_bytes: removed.len() as u64,
        removed_sha256: removed_sha256.clone(),
    };
    let head = log.append(ts_ms, &event)?;
    Ok(Some(Repaired {
        line: err.line,
        removed_bytes: removed.len() as u64,
        removed_sha256,
        head,
    }))
}

/// What [`restore`] put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The first and last line put back.
    pub from: u64,
    pub to: u64,
    /// Bytes of a line cut off mid-write that its whole copy replaced.
    pub torn_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The local log is not a start of the copy: nothing is changed.
    #[error("not restored: {0}")]
    Refused(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Put back the lines another copy of session `session`'s log holds past
/// the local log's last whole line: the team database's copy, shipped
/// before a fault took them from this disk. The copy must be this
/// session's (its first line starts it) and its chain must hold; the local
/// lines must be its first lines hash for hash, and only the start of the
/// copy's next line (cut off mid-write) may follow them; the line the
/// session recorded as its last (`recorded`, the snapshot's) must be the
/// copy's too. Anything else is evidence, left as it is. The lines are
/// checked as they will be read back before the file is touched. `None`
/// when the copy holds nothing more.
pub fn restore(
    path: &Path,
    session: &str,
    recorded: Option<&Head>,
    copy: &[Line],
) -> Result<Option<Restored>, RestoreError> {
    let refused = |why: String| RestoreError::Refused(why);
    if let Some(first) = copy.first() {
        let owner = first.data.get("session").and_then(Value::as_str);
        if first.kind != "session-start" || owner != Some(session) {
            return Err(refused(format!(
                "the copy's first line does not start session {session}"
            )));
        }
    }
    if let Some(head) = recorded.filter(|h| h.seq > 0) {
        let theirs = copy.get(head.seq as usize - 1).map(|l| l.hash.as_str());
        if theirs.is_some_and(|h| h != head.hash) {
            return Err(refused(format!(
                "line {} of the copy is not the line the session recorded as its last",
                head.seq
            )));
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    if !bytes.is_empty() {
        match verify(path, None) {
            Ok(_) => {}
            Err(e) if e.torn => {}
            Err(e) => return Err(refused(e.to_string())),
        }
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let local = if bytes.is_empty() {
        Vec::new()
    } else {
        read_lines(path, 0)?
    };
    let mut prev = String::new();
    for (i, line) in copy.iter().enumerate() {
        let n = i as u64 + 1;
        let why = if line.seq != n {
            Some(format!("the copy has line {} where {n} belongs", line.seq))
        } else if line.prev != prev || !line.hash_holds() || !numbers_canonical(&line.data) {
            Some(format!(
                "the copy's line {n} does not hold its place in the chain"
            ))
        } else if local.get(i).is_some_and(|l| l.hash != line.hash) {
            Some(format!(
                "line {n} differs between the local log and the copy"
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(refused(why));
        }
        prev = line.hash.clone();
    }
    let Some(next) = copy.get(local.len()) else {
        return Ok(None);
    };
    let mut restored = Vec::new();
    for line in &copy[local.len()..] {
        let start = restored.len();
        serde_json::to_writer(&mut restored, line).map_err(std::io::Error::from)?;
        // Read back as verify will, before anything is written.
        if serde_json::from_slice::<Line>(&restored[start..])
            .ok()
            .as_ref()
            != Some(line)
        {
            return Err(refused(format!(
                "the copy's line {} does not read back as written",
                line.seq
            )));
        }
        restored.push(b'\n');
    }
    let torn = &bytes[keep..];
    if !restored.starts_with(torn) {
        return Err(refused(format!(
            "line {} was cut off mid-write and does not start as the copy's line {} does",
            next.seq, next.seq
        )));
    }
    // The whole lines stay; the cut-off start of the next goes. Never
    // through a link: the log is the session directory's own file.
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.set_len(keep as u64)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
    file.write_all(&restored)?;
    file.sync_all()?;
    if keep == 0 {
        // A log made anew is only there once its directory says so.
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    verify(path, None).map_err(|e| refused(format!("after restoring: {e}")))?;
    Ok(Some(Restored {
        from: next.seq,
        to: copy.len() as u64,
        torn_bytes: torn.len() as u64,
    }))
}

/// Each approval request a log filed, as the log last recorded it (filed,
/// approved, rejected, expired or voided), in the order they were filed.
pub fn last_approvals(events: &[Recorded]) -> Vec<super::event::ApprovalRecord> {
    let mut last: Vec<super::event::ApprovalRecord> = Vec::new();
    for e in events {
        if let Event::Approval(a) = &e.event {
            last.retain(|l| l.id != a.id);
            last.push(a.clone());
        }
    }
    last
}

/// Every event of a log, for reports (no verification).
pub fn read_events(path: &Path) -> std::io::Result<Vec<Recorded>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .map(|l| Recorded {
            seq: l.seq,
            ts_ms: l.ts_ms,
            event: Event::from_parts(&l.kind, l.data),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_nul_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        log.append_raw(
            "run",
            serde_json::json!({"output_tail": "bin\u{0}ary", "a\u{0}": ["x\u{0}"]}),
            1,
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\\u0000"), "{text}");
        let line = &read_lines(&path, 0).unwrap()[0];
        assert_eq!(line.data["output_tail"], "bin\u{FFFD}ary");
        assert!(line.hash_holds());
        verify(&path, None).unwrap();
    }

    /// A log of session `s1`: its start, then a line per note.
    fn log_of(path: &std::path::Path, notes: &[&str]) -> Vec<Line> {
        let mut log = AuditLog::open(path).unwrap();
        log.append_raw("session-start", serde_json::json!({ "session": "s1" }), 1)
            .unwrap();
        for (i, note) in notes.iter().enumerate() {
            log.append_raw(
                "note",
                serde_json::json!({ "note": note, "i": i }),
                10 + i as u64,
            )
            .unwrap();
        }
        read_lines(path, 0).unwrap()
    }

    /// Lines the team copy has and the disk lost come back byte for byte,
    /// a line cut off mid-write included; the log then verifies.
    #[test]
    fn lost_lines_come_back_from_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let copy = log_of(&path, &["a", "b", "c", "d"]);
        let whole = std::fs::read(&path).unwrap();
        let third = whole
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(1)
            .unwrap()
            .0
            + 1;
        std::fs::write(&path, &whole[..third + 7]).unwrap();
        let head = Head {
            seq: 4,
            hash: copy[3].hash.clone(),
        };
        let r = restore(&path, "s1", Some(&head), &copy).unwrap().unwrap();
        assert_eq!((r.from, r.to, r.torn_bytes), (3, 5, 7));
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        assert_eq!(verify(&path, Some(&head)).unwrap().seq, 5);
        // Whole again: nothing more to put back.
        assert!(restore(&path, "s1", None, &copy).unwrap().is_none());
        // A log gone altogether comes back too.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(restore(&path, "s1", None, &copy).unwrap().unwrap().from, 1);
        assert_eq!(std::fs::read(&path).unwrap(), whole);
    }

    /// Anything but lost lines is evidence: refused, the file untouched.
    #[test]
    fn a_log_that_went_another_way_is_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let copy = log_of(&path, &["a", "b", "c"]);
        let other = dir.path().join("other.jsonl");
        log_of(&other, &["a", "B"]);
        let before = std::fs::read(&other).unwrap();
        let refused = |p: &std::path::Path, copy: &[Line]| match restore(p, "s1", None, copy) {
            Err(RestoreError::Refused(why)) => why,
            r => panic!("restored: {r:?}"),
        };
        assert!(refused(&other, &copy).contains("line 3 differs"));
        assert_eq!(std::fs::read(&other).unwrap(), before);
        // A cut-off line that is not the copy's next line.
        let mut torn = std::fs::read(&path).unwrap();
        let second = torn.iter().position(|&b| b == b'\n').unwrap() + 1;
        torn.truncate(second);
        torn.extend_from_slice(b"{\"seq\":2,\"ts_ms\":99");
        std::fs::write(&path, &torn).unwrap();
        assert!(refused(&path, &copy).contains("cut off mid-write"));
        assert_eq!(std::fs::read(&path).unwrap(), torn);
        // A copy whose own chain does not hold.
        let mut edited = copy.clone();
        edited[2].data = serde_json::json!({ "note": "C", "i": 2 });
        std::fs::write(&path, &torn[..second]).unwrap();
        assert!(refused(&path, &edited).contains("line 3 does not hold"));
        let mut gap = copy.clone();
        gap.remove(1);
        assert!(refused(&path, &gap).contains("line 3 where 2 belongs"));
        assert_eq!(std::fs::read(&path).unwrap(), &torn[..second]);
        // Damage inside the local log is not mended from anywhere.
        std::fs::write(&path, [&torn[..second], b"garbage\n".as_slice()].concat()).unwrap();
        assert!(refused(&path, &copy).contains("not an audit line"));
        let start = &torn[..second];
        std::fs::write(&path, start).unwrap();
        // Another session's copy, or one that is not the line the session
        // recorded as its last.
        assert!(matches!(
            restore(&path, "s2", None, &copy),
            Err(RestoreError::Refused(why)) if why.contains("does not start session s2")
        ));
        let head = Head {
            seq: 3,
            hash: copy[1].hash.clone(),
        };
        assert!(matches!(
            restore(&path, "s1", Some(&head), &copy),
            Err(RestoreError::Refused(why)) if why.contains("line 3 of the copy is not")
        ));
        // A line whose chain holds yet would not read back (nested past
        // serde_json's depth) is refused before the file is touched.
        let mut deep = serde_json::json!(1);
        for _ in 0..200 {
            deep = serde_json::json!([deep]);
        }
        let mut nested = copy[..2].to_vec();
        let prev = nested[1].hash.clone();
        nested.push(Line {
            seq: 3,
            ts_ms: 3,
            kind: "note".into(),
            hash: line_hash(3, 3, "note", &deep, &prev),
            data: deep,
            prev,
        });
        assert!(refused(&path, &nested).contains("does not read back"));
        assert_eq!(std::fs::read(&path).unwrap(), start);
        // Never written through a link.
        let elsewhere = dir.path().join("elsewhere.jsonl");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        assert!(restore(&link, "s1", None, &copy).is_err());
        assert!(!elsewhere.exists());
    }

    /// Verification re-reads each line's data and hashes it again, so
    /// every number must read back as the very number written (a ranked
    /// runbook's confidence is any f64; a float read one ulp off broke a
    /// walk's chain).
    #[test]
    fn every_float_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        let mut x = 0.001_646_113_920_688_787_6_f64;
        for _ in 0..200 {
            let data = (0..50)
                .map(|i| {
                    x = (x * 1.618_033_988_749_895 + f64::from(i) * 1e-7).fract();
                    serde_json::json!(x / (1.0 + f64::from(i)).exp())
                })
                .collect::<Vec<_>>();
            log.append_raw("ranked", serde_json::json!({ "confidence": data }), 1)
                .unwrap();
        }
        verify(&path, None).unwrap();
    }

    /// What jsonb gives back for the numbers it keeps in another form
    /// (checked against PostgreSQL 15: `SELECT '{"a":1e16,"b":-0.0}'::jsonb`
    /// is `{"a": 10000000000000000, "b": 0.0}`): the digits, never an
    /// exponent, and no negative zero.
    fn as_jsonb_gives_it_back(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        let number = regex::Regex::new(r"-?[0-9][0-9.]*e[+-]?[0-9]+|-0\.0\b").unwrap();
        while let Some(m) = number.find(rest) {
            out.push_str(&rest[..m.start()]);
            let f: f64 = m.as_str().parse().unwrap();
            let plain = if f == 0.0 {
                "0.0".to_string()
            } else {
                format!("{f}")
            };
            out.push_str(&plain);
            rest = &rest[m.end()..];
        }
        out + rest
    }

    /// A line in a form stepguard never writes (a number jsonb would give
    /// back otherwise), chained and hashed as if it were, is refused by the
    /// local check too, so it and the team copy's check cannot disagree.
    #[test]
    fn a_non_canonical_line_is_refused_locally() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        for data in [
            serde_json::json!({ "x": -0.0 }),
            serde_json::json!({ "x": [1, { "y": 1e16 }] }),
        ] {
            let hash = line_hash(1, 1, "quit", &data, "");
            let line = Line {
                seq: 1,
                ts_ms: 1,
                kind: "quit".into(),
                data,
                prev: String::new(),
                hash,
            };
            std::fs::write(&path, serde_json::to_string(&line).unwrap() + "\n").unwrap();
            let err = verify(&path, None).unwrap_err();
            assert!(err.why.contains("never writes"), "{err:?}");
        }
    }

    /// A line read back from the team database holds its hash, whatever
    /// numbers it carries (a hostile model's reply can carry any).
    #[test]
    fn numbers_read_back_from_jsonb_hold_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        let numbers = serde_json::json!([
            1e16,
            -1e16,
            1.5e17,
            1e19,
            1.8446744073709552e19,
            -9.3e18,
            1e300,
            -1e300,
            -0.0,
            0.0,
            5.0,
            1e-7,
            5e-324,
            123.456,
            0.30000000000000004,
            9007199254740993u64,
            -42,
            u64::MAX,
            i64::MIN
        ]);
        log.append_raw("numbers", serde_json::json!({ "n": numbers }), 1)
            .unwrap();
        let mut back = read_lines(&path, 0).unwrap().remove(0);
        // The data as the team database gives it back (no strings in it).
        let written = serde_json::to_string(&back.data).unwrap();
        back.data = serde_json::from_str(&as_jsonb_gives_it_back(&written)).unwrap();
        assert!(back.hash_holds(), "{written}");
        verify(&path, None).unwrap();
    }

    #[test]
    fn read_lines_takes_only_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for step in ["a", "b"] {
            log.append_raw("edit", serde_json::json!({ "step": step }), 1)
                .unwrap();
        }
        let whole = std::fs::read(&path).unwrap();
        assert_eq!(read_lines(&path, 0).unwrap().len(), 2);
        assert_eq!(read_lines(&path, 1).unwrap()[0].seq, 2);
        // The last line's newline never made it to disk.
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        let lines = read_lines(&path, 0).unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].hash_holds());
    }

    use super::*;
    use serde_json::json;

    fn log_with(n: u64) -> (tempfile::TempDir, PathBuf, Head) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for i in 0..n {
            log.append_raw(
                "event",
                json!({"i": i, "text": format!("line {i}")}),
                1_000 + i,
            )
            .unwrap();
        }
        let head = log.head().clone();
        (dir, path, head)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn write(path: &Path, lines: &[String]) {
        std::fs::write(
            path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    #[test]
    fn intact_log_verifies_and_reopens() {
        let (_d, path, head) = log_with(5);
        assert_eq!(verify(&path, Some(&head)).unwrap(), head);
        let mut log = AuditLog::open(&path).unwrap();
        log.append_raw("more", json!({}), 9).unwrap();
        assert_eq!(verify(&path, None).unwrap().seq, 6);
    }

    #[test]
    fn tampering_names_the_first_bad_line() {
        type Tamper = Box<dyn Fn(&mut Vec<String>)>;
        let cases: Vec<(&str, Tamper, u64)> = vec![
            (
                "edit",
                Box::new(|l: &mut Vec<String>| l[2] = l[2].replace("line 2", "line X")),
                3,
            ),
            (
                "delete",
                Box::new(|l: &mut Vec<String>| {
                    l.remove(1);
                }),
                2,
            ),
            ("reorder", Box::new(|l: &mut Vec<String>| l.swap(1, 3)), 2),
            (
                "truncate a line",
                Box::new(|l: &mut Vec<String>| {
                    let s = l[3].clone();
                    l[3] = s[..s.len() / 2].to_string();
                }),
                4,
            ),
        ];
        for (what, tamper, line) in cases {
            let (_d, path, head) = log_with(5);
            let mut l = lines(&path);
            tamper(&mut l);
            write(&path, &l);
            let err = verify(&path, Some(&head)).unwrap_err();
            assert_eq!(err.line, line, "{what}: {err}");
        }
        // Cutting lines off the end is caught against the recorded head.
        let (_d, path, head) = log_with(5);
        let l = lines(&path);
        write(&path, &l[..4]);
        assert!(verify(&path, None).is_ok());
        assert_eq!(verify(&path, Some(&head)).unwrap_err().line, 5);
        // A last line cut mid-way (no newline).
        let (_d, path, _) = log_with(3);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 5]).unwrap();
        assert_eq!(verify(&path, None).unwrap_err().line, 3);
    }
}
