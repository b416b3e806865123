//! Bounded output: the last N lines / bytes are kept, the rest counted.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy)]
pub struct OutputLimits {
    /// Lines kept for display and multi-line predicates.
    pub max_lines: usize,
    /// Bytes kept across those lines.
    pub max_bytes: usize,
    /// Longer lines are cut; the cut bytes are counted as dropped.
    pub max_line_bytes: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_lines: 5_000,
            max_bytes: 1 << 20,
            max_line_bytes: 4_096,
        }
    }
}

/// The tail of a command's output, bounded by `OutputLimits`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KeptOutput {
    pub lines: VecDeque<(Stream, String)>,
    kept_bytes: usize,
    /// Lines that scrolled out of the kept window.
    pub dropped_lines: u64,
    /// Bytes never kept: scrolled-out lines and cut tails of long lines.
    pub dropped_bytes: u64,
    pub total_bytes: u64,
}

impl KeptOutput {
    pub fn push(&mut self, stream: Stream, line: String, limits: &OutputLimits) {
        self.kept_bytes += line.len();
        self.lines.push_back((stream, line));
        while self.lines.len() > limits.max_lines || self.kept_bytes > limits.max_bytes {
            let Some((_, old)) = self.lines.pop_front() else {
                break;
            };
            self.kept_bytes -= old.len();
            self.dropped_lines += 1;
            self.dropped_bytes += old.len() as u64 + 1;
        }
    }

    /// The kept stdout, joined, for predicates that span lines.
    pub fn stdout_text(&self) -> String {
        let mut text = String::new();
        for (stream, line) in &self.lines {
            if *stream == Stream::Stdout {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    pub fn truncated(&self) -> bool {
        self.dropped_bytes > 0
    }
}

/// Splits a byte stream into lines, cutting any line at `max_line_bytes`
/// so one endless line cannot grow memory.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    partial: Vec<u8>,
    partial_dropped: u64,
}

pub(crate) struct SplitLine {
    pub text: String,
    /// Bytes cut from the end of this line.
    pub cut: u64,
}

impl LineSplitter {
    pub fn feed(&mut self, mut chunk: &[u8], max_line_bytes: usize, out: &mut Vec<SplitLine>) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            self.append(&chunk[..nl], max_line_bytes);
            out.push(self.take());
            chunk = &chunk[nl + 1..];
        }
        self.append(chunk, max_line_bytes);
    }

    pub fn finish(&mut self) -> Option<SplitLine> {
        (!self.partial.is_empty() || self.partial_dropped > 0).then(|| self.take())
    }

    fn append(&mut self, bytes: &[u8], max_line_bytes: usize) {
        let room = max_line_bytes.saturating_sub(self.partial.len());
        let keep = bytes.len().min(room);
        self.partial.extend_from_slice(&bytes[..keep]);
        self.partial_dropped += (bytes.len() - keep) as u64;
    }

    fn take(&mut self) -> SplitLine {
        let mut bytes = std::mem::take(&mut self.partial);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let cut = std::mem::take(&mut self.partial_dropped);
        SplitLine {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_tail() {
        let limits = OutputLimits {
            max_lines: 3,
            max_bytes: 1000,
            max_line_bytes: 10,
        };
        let mut kept = KeptOutput::default();
        for i in 0..10 {
            kept.push(Stream::Stdout, format!("line {i}"), &limits);
        }
        assert_eq!(kept.lines.len(), 3);
        assert_eq!(kept.lines[0].1, "line 7");
        assert_eq!(kept.dropped_lines, 7);
        assert!(kept.truncated());
    }

    #[test]
    fn cuts_long_lines_and_joins_chunks() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.feed(b"abc", 4, &mut out);
        s.feed(b"defgh\nxy\r\nz", 4, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].text.as_str(), out[0].cut), ("abcd", 4));
        assert_eq!((out[1].text.as_str(), out[1].cut), ("xy", 0));
        assert_eq!(s.finish().map(|l| l.text), Some("z".to_string()));
        assert!(s.finish().is_none());
    }
}
