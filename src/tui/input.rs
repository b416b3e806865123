//! Terminal events on a thread of their own, sent as `Msg`. The thread can
//! be paused so that an editor gets every key (STYLE habit 2).
//!
//! The thread reads the terminal's bytes itself rather than through
//! crossterm's event reader: that reader gathers a bracketed paste in its
//! parse buffer, copies it into the event, and keeps the buffer's memory
//! (crossterm-rs/crossterm#1060), so a 50 MiB paste cost over twice its size.
//! Here a paste is read straight into the one buffer that becomes
//! `Msg::Paste`; every other sequence goes through terminput, a port of
//! crossterm's own parser, so keys arrive exactly as crossterm would give
//! them.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::msg::Msg;

pub struct Input {
    paused: Arc<AtomicBool>,
    /// Set by the thread while it is paused and not reading.
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Input {
    pub fn spawn(tx: mpsc::Sender<Msg>) -> Self {
        let paused = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, i, s) = (paused.clone(), idle.clone(), stop.clone());
        std::thread::Builder::new()
            .name("stepguard-input".into())
            .spawn(move || read_loop(tx, p, i, s))
            .expect("spawn the input thread");
        Input { paused, idle, stop }
    }

    /// Stop reading and wait until the thread is no longer in `poll`.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        while !self.idle.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        self.idle.store(false, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Where keys come from: stdin when it is the terminal, else the
/// controlling terminal (`--state -` pipes the state on stdin). The same
/// choice crossterm makes for raw mode, so both act on one terminal.
enum Tty {
    Stdin,
    Dev(File),
}

impl Tty {
    fn open() -> io::Result<Self> {
        if io::stdin().is_terminal() {
            Ok(Tty::Stdin)
        } else {
            File::options()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .map(Tty::Dev)
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Tty::Stdin => io::stdin().as_raw_fd(),
            Tty::Dev(f) => f.as_raw_fd(),
        }
    }

    /// Whether bytes are waiting, within `timeout`.
    fn ready(&self, timeout: Duration) -> io::Result<bool> {
        let mut poll = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, its count is 1.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            0 => Ok(false),
            _ if poll.revents & (libc::POLLERR | libc::POLLNVAL) != 0 => {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            _ => Ok(true),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Tty::Stdin => io::stdin().lock().read(buf),
            Tty::Dev(f) => f.read(buf),
        }
    }
}

const READ_SIZE: usize = 64 * 1024;
/// How often the thread looks at the pause flag and the terminal's size.
const POLL: Duration = Duration::from_millis(50);
/// How long an ESC waits for the rest of a sequence, and a paste's end
/// marker for bytes behind it: a terminal writes a sequence or a paste at
/// once, and no one types within this of seeing it.
const QUIET: Duration = Duration::from_millis(30);
/// How long bytes behind a paste's end marker wait for the terminal's own
/// marker; then the paste ends at its last marker and they are dropped
/// (keys typed behind the paste, never taken as keys).
const STALE: Duration = Duration::from_secs(1);

fn read_loop(
    tx: mpsc::Sender<Msg>,
    paused: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    // The terminal is gone (closed without a hang-up signal reaching us):
    // end the walk as a hang-up would, session saved.
    let lost = || {
        let _ = tx.blocking_send(Msg::Signal("terminal-lost"));
    };
    let Ok(mut tty) = Tty::open() else {
        return lost();
    };
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; READ_SIZE];
    // Resizes are noticed by asking the size at every turn (at least every
    // 50 ms): no signal handler to share with the runtime's.
    let mut size = crossterm::terminal::size().ok();
    // When the last byte was read: how long the terminal has been quiet.
    let mut last = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if paused.load(Ordering::SeqCst) {
            // The editor takes the terminal: what was half read before it
            // (an ESC, a paste whose rest the editor reads) is not finished
            // by the keys typed after it.
            decoder = Decoder::default();
            idle.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            // The editor may have resized the terminal.
            size = None;
            continue;
        }
        let mut out = Vec::new();
        let now = crossterm::terminal::size().ok();
        if now != size {
            if let Some((w, h)) = now {
                out.push(Msg::Resize(w, h));
            }
            size = now;
        }
        // An ESC, or a paste's end marker, means what it says only when
        // nothing follows it soon.
        let wait = if decoder.undecided() { QUIET } else { POLL };
        match tty.ready(wait) {
            Ok(true) => match tty.read(&mut buf) {
                Ok(0) => return lost(),
                Ok(n) => {
                    last = Instant::now();
                    decoder.feed(&buf[..n], &mut |m| out.push(m));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return lost(),
            },
            Ok(false) => decoder.flush(last.elapsed(), &mut |m| out.push(m)),
            Err(_) => return lost(),
        }
        for msg in out {
            if tx.blocking_send(msg).is_err() {
                return;
            }
        }
    }
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";
/// An escape sequence longer than this is not one: drop it rather than
/// grow without bound on a terminal that sends garbage.
const MAX_SEQUENCE: usize = 1024;

/// Turns the terminal's bytes into messages, keeping state across reads: a
/// sequence or a paste may be split anywhere.
///
/// A paste ends at its end marker only when nothing follows the marker
/// until the terminal goes quiet ([`Decoder::flush`]). A terminal writes a
/// paste in one go, so bytes right behind the marker came from the
/// clipboard: pasted text that carries its own `ESC[201~` (a terminal that
/// does not strip it) stays text, and cannot type `Enter` or `p` into the
/// walk. Bytes behind the last end marker that the terminal does not end
/// with a marker of its own within [`STALE`] were typed behind the paste
/// (a lagging link delivers them together): they are dropped, never keys,
/// and the walk hears keys again.
#[derive(Default)]
pub struct Decoder {
    /// The bytes of a key or escape sequence not yet complete.
    pending: Vec<u8>,
    /// Inside a bracketed paste: its bytes so far, markers within included.
    paste: Option<Vec<u8>>,
}

impl Decoder {
    /// Feed one read. What it leaves undecided (an ESC or a paste's end
    /// marker at its end) waits for the next read or for [`Decoder::flush`].
    pub fn feed(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(Msg)) {
        while !bytes.is_empty() {
            if let Some(paste) = &mut self.paste {
                paste.extend_from_slice(bytes);
                return;
            }
            let mut consumed = bytes.len();
            for (i, &b) in bytes.iter().enumerate() {
                // An ESC always starts a sequence (ECMA-48): what is pending
                // ends there. Else an Esc, or half a key, in the same read as
                // a paste (a lagging link) would hide the paste's start marker
                // and the paste would be typed as keys.
                if b == 0x1b && !self.pending.is_empty() {
                    self.key(true, emit);
                    self.pending.clear();
                }
                self.pending.push(b);
                if self.pending == PASTE_START {
                    self.pending.clear();
                    self.paste = Some(Vec::new());
                    consumed = i + 1;
                    break;
                }
                self.key(false, emit);
            }
            bytes = &bytes[consumed..];
        }
    }

    /// Whether the last bytes read wait for quiet to mean something: an ESC
    /// that may start a sequence, or a paste's end marker.
    pub fn undecided(&self) -> bool {
        match &self.paste {
            Some(paste) => paste.ends_with(PASTE_END),
            None => self.pending == [0x1b],
        }
    }

    /// The terminal has been quiet for `quiet` (at least [`QUIET`]): a held
    /// ESC was the Esc key, and a paste whose bytes end with its end marker
    /// is whole; after [`STALE`], a paste ends at its last end marker.
    pub fn flush(&mut self, quiet: Duration, emit: &mut impl FnMut(Msg)) {
        let Some(paste) = &mut self.paste else {
            if self.pending == [0x1b] {
                self.key(true, emit);
            }
            return;
        };
        let end = if paste.ends_with(PASTE_END) {
            Some(paste.len() - PASTE_END.len())
        } else if quiet >= STALE {
            // Only a few keys' worth behind it: a long run of bytes is the
            // paste's own, still arriving.
            let from = paste.len().saturating_sub(MAX_SEQUENCE);
            paste[from..]
                .windows(PASTE_END.len())
                .rposition(|w| w == PASTE_END)
                .map(|at| from + at)
        } else {
            None
        };
        if let Some(end) = end {
            paste.truncate(end);
            let text = self.paste.take().unwrap_or_default();
            emit(Msg::Paste(into_text(text)));
        }
    }

    /// Try to read a key from the pending bytes; `alone` says no more bytes
    /// came after them.
    fn key(&mut self, alone: bool, emit: &mut impl FnMut(Msg)) {
        let waiting = match self.pending.as_slice() {
            [0x1b] => !alone,
            // A paste's start marker, not yet whole.
            p => PASTE_START.starts_with(p),
        };
        if waiting {
            return;
        }
        // A whole mouse report (never asked for) is dropped unparsed:
        // terminput subtracts 1 from its coordinates unchecked, a panic on
        // a 0 in a build with overflow checks.
        if matches!(
            self.pending.as_slice(),
            [0x1b, b'[', b'<', .., b'M' | b'm'] | [0x1b, b'[', b'0'..=b'9', .., b'M']
        ) {
            self.pending.clear();
            return;
        }
        match terminput::Event::parse_from(&self.pending) {
            Ok(Some(terminput::Event::Key(key))) => {
                emit(Msg::Key(terminput_crossterm::to_crossterm_key(key)));
                self.pending.clear();
            }
            Ok(Some(_)) | Err(_) => self.pending.clear(),
            Ok(None) if self.pending.len() > MAX_SEQUENCE => self.pending.clear(),
            Ok(None) => {}
        }
    }
}

/// The paste as text, without a copy when it is UTF-8 (a binary paste is
/// questioned by the state dialog, so its lossy copy is rare).
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    /// Each write arrives in the reads given, with the terminal quiet after
    /// each write.
    fn writes(writes: &[&[&[u8]]]) -> Vec<Msg> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for reads in writes {
            for r in *reads {
                d.feed(r, &mut |m| out.push(m));
            }
            d.flush(QUIET, &mut |m| out.push(m));
        }
        out
    }

    /// One write in these reads.
    fn decode(reads: &[&[u8]]) -> Vec<Msg> {
        writes(&[reads])
    }

    fn keys(msgs: &[Msg]) -> Vec<String> {
        msgs.iter()
            .map(|m| match m {
                Msg::Key(KeyEvent {
                    code, modifiers, ..
                }) if modifiers.is_empty() => format!("{code}"),
                Msg::Key(KeyEvent {
                    code, modifiers, ..
                }) => format!("{modifiers}+{code}"),
                Msg::Paste(t) => format!("paste:{t}"),
                _ => "other".into(),
            })
            .collect()
    }

    #[test]
    fn keys_and_sequences_read_as_crossterm_reads_them() {
        let got = decode(&[b"p\r\x1b[A\x1b[6~\x1b[Z\x03=\t\x7f"]);
        assert_eq!(
            keys(&got),
            [
                "p",
                "Enter",
                "Up",
                "Page Down",
                "Shift+Back Tab",
                "Control+c",
                "=",
                "Tab",
                "Backspace"
            ]
        );
    }

    #[test]
    fn a_lone_esc_is_esc_and_a_split_sequence_waits_for_its_end() {
        assert_eq!(keys(&decode(&[b"\x1b"])), ["Esc"]);
        assert_eq!(keys(&decode(&[b"\x1b", b"[B"])), ["Down"]);
        assert_eq!(
            keys(&writes(&[&[b"q\x1b"], &[b"\x1b"]])),
            ["q", "Esc", "Esc"]
        );
        assert_eq!(keys(&decode(&[b"\x1b[", b"1;5C"])), ["Control+Right"]);
    }

    #[test]
    fn multibyte_characters_split_across_reads() {
        let bytes = "é→".as_bytes();
        assert_eq!(
            keys(&decode(&[&bytes[..1], &bytes[1..4], &bytes[4..]])),
            ["é", "→"]
        );
    }

    #[test]
    fn a_paste_is_one_message_with_its_bytes_verbatim() {
        let got = writes(&[
            &[b"i\x1b[200~line 1\r\nq\x1b[2D\x1b\ttab\x1b[201~"],
            &[b"\r"],
        ]);
        assert_eq!(
            keys(&got),
            ["i", "paste:line 1\r\nq\x1b[2D\x1b\ttab", "Enter"]
        );
    }

    #[test]
    fn markers_split_at_every_position_across_reads() {
        let whole: &[u8] = b"a\x1b[200~x\x1b[201~";
        for cut in 0..=whole.len() {
            for cut2 in cut..=whole.len() {
                let write: &[&[u8]] = &[&whole[..cut], &whole[cut..cut2], &whole[cut2..]];
                let got = writes(&[write, &[b"b"]]);
                assert_eq!(keys(&got), ["a", "paste:x", "b"], "cut at {cut} and {cut2}");
            }
        }
    }

    #[test]
    fn a_start_marker_cut_by_a_quiet_is_still_a_paste() {
        // Cut anywhere past its ESC, the marker waits for its rest. Cut
        // right after the ESC, the ESC has been Esc by then and the rest is
        // typed: the price of a lone ESC meaning Esc. A terminal writes the
        // marker at once; it takes a writer that splits it and 30 ms between.
        let whole: &[u8] = b"\x1b[200~pq\x1b[201~";
        for cut in 2..PASTE_START.len() {
            let got = writes(&[&[&whole[..cut]], &[&whole[cut..]]]);
            assert_eq!(keys(&got), ["paste:pq"], "cut at {cut}");
        }
    }

    #[test]
    fn a_paste_in_many_reads_and_an_empty_one() {
        let mut reads: Vec<Vec<u8>> = vec![b"\x1b[200~".to_vec()];
        reads.extend((0..1000).map(|i| format!("row {i}\n").into_bytes()));
        reads.push(b"\x1b[201~".to_vec());
        let refs: Vec<&[u8]> = reads.iter().map(Vec::as_slice).collect();
        let got = writes(&[&refs, &[b"\x1b[200~\x1b[201~"]]);
        let expected: String = (0..1000).map(|i| format!("row {i}\n")).collect();
        assert_eq!(keys(&got), [format!("paste:{expected}"), "paste:".into()]);
    }

    #[test]
    fn pasted_text_carrying_an_end_marker_types_no_key() {
        // A clipboard holding `ESC[201~` then keys, from a terminal that does
        // not strip it: everything up to the last marker is the paste.
        let hostile: &[u8] = b"\x1b[200~ns payments\x1b[201~\rrp\x1b[201~x\x1b[201~";
        for cut in 0..=hostile.len() {
            let got = decode(&[&hostile[..cut], &hostile[cut..]]);
            assert_eq!(
                keys(&got),
                ["paste:ns payments\x1b[201~\rrp\x1b[201~x"],
                "cut at {cut}"
            );
        }
        // What comes after the paste is a key once the terminal was quiet.
        let got = writes(&[&[hostile], &[b"p"]]);
        assert_eq!(keys(&got)[1..], ["p"]);
    }

    #[test]
    fn a_paste_that_is_not_utf8_is_replaced_not_lost() {
        let got = decode(&[b"\x1b[200~ok\xff\xfeok\x1b[201~"]);
        assert_eq!(keys(&got), ["paste:ok\u{fffd}\u{fffd}ok"]);
    }

    #[test]
    fn garbage_never_grows_without_bound() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        let junk = [b'\x1b', b'[']
            .into_iter()
            .chain(std::iter::repeat_n(b'1', 10_000));
        for b in junk {
            d.feed(&[b], &mut |m| out.push(m));
        }
        assert!(d.pending.len() <= MAX_SEQUENCE + 1);
        d.feed(b"\x1b[B", &mut |m| out.push(m));
        assert!(
            matches!(out.last(), Some(Msg::Key(k)) if k.code == KeyCode::Down && k.modifiers == KeyModifiers::NONE)
        );
    }

    /// A small deterministic PRNG (xorshift64*): no new dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Bytes a terminal (or garbage) may send, biased to the ones escape
        /// sequences are made of.
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            const BYTES: &[u8] =
                b"\x1b\x1b[[O012359;:<?>Mm~uAZpq\r\x00\x03\x7f\xc3\xa9\xe2\x86\x92\xff";
            const PIECES: &[&[u8]] = &[
                b"\x1b[200~",
                b"\x1b[201~",
                b"\x1b[20",
                b"\x1b[1;5C",
                b"\x1b[<0;0;0M",
            ];
            let mut out = Vec::new();
            while out.len() < len {
                match self.below(10) {
                    0 => out.push(self.next() as u8),
                    1 => out.extend_from_slice(PIECES[self.below(PIECES.len())]),
                    _ => out.push(BYTES[self.below(BYTES.len())]),
                }
            }
            out
        }

        /// `bytes` cut at random points.
        fn split<'a>(&mut self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
            let mut cuts: Vec<usize> = (0..self.below(6))
                .map(|_| self.below(bytes.len() + 1))
                .collect();
            cuts.sort_unstable();
            let mut reads = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                reads.push(&bytes[at..c]);
                at = c;
            }
            reads
        }
    }

    /// The messages of one write, whatever its reads, as comparable text.
    fn one_write(reads: &[&[u8]]) -> Vec<String> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for r in reads {
            d.feed(r, &mut |m| out.push(format!("{m:?}")));
            assert!(
                d.pending.len() <= MAX_SEQUENCE + 1,
                "pending grew to {}",
                d.pending.len()
            );
        }
        d.flush(QUIET, &mut |m| out.push(format!("{m:?}")));
        out
    }

    #[test]
    fn random_streams_decode_the_same_whatever_the_reads() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for case in 0..3000 {
            let len = rng.below(120);
            let stream = rng.bytes(len);
            let whole = one_write(&[&stream]);
            for _ in 0..4 {
                let reads = rng.split(&stream);
                let split = one_write(&reads);
                assert_eq!(whole, split, "case {case}: {stream:?} read as {reads:?}");
            }
        }
    }

    #[test]
    fn nothing_inside_a_paste_is_a_key_whatever_the_reads() {
        let mut rng = Rng(0x5eed_1234_abcd_0002);
        for case in 0..2000 {
            let before = b"ab\x1b[A";
            let len = rng.below(80);
            let text = rng.bytes(len);
            let mut stream = before.to_vec();
            stream.extend_from_slice(PASTE_START);
            stream.extend_from_slice(&text);
            stream.extend_from_slice(PASTE_END);
            let reads = rng.split(&stream);
            let got = writes(&[&reads, &[b"z"]]);
            let expected = format!("paste:{}", String::from_utf8_lossy(&text));
            assert_eq!(
                keys(&got),
                ["a", "b", "Up", expected.as_str(), "z"],
                "case {case}: {stream:?} read as {reads:?}"
            );
        }
    }

    #[test]
    fn an_unfinished_key_just_before_a_paste_does_not_turn_it_into_keys() {
        // An Esc, an Alt+[, half a character, an SS3 half read, each then a
        // paste in the same read (a lagging link delivers them together).
        for before in [&b"\x1b"[..], b"\x1b[", b"\xc3", b"\x1bO", b"\x1b[1;5"] {
            let mut stream = before.to_vec();
            stream.extend_from_slice(b"\x1b[200~pq\r\x1b[201~");
            let got = keys(&decode(&[&stream]));
            assert_eq!(
                got.last().map(String::as_str),
                Some("paste:pq\r"),
                "{before:?}: {got:?}"
            );
            assert!(
                got.len() <= 2 && !got.iter().any(|k| k == "p" || k == "q"),
                "{before:?}: {got:?}"
            );
        }
    }

    #[test]
    fn mouse_reports_at_column_zero_do_not_panic() {
        for report in [
            &b"\x1b[<0;0;0M"[..],
            b"\x1b[<0;0;0m",
            b"\x1b[32;0;0M",
            b"\x1b[32;1;0M",
        ] {
            assert!(keys(&decode(&[report])).is_empty());
        }
    }

    #[test]
    fn keys_typed_right_behind_a_paste_do_not_deafen_the_walk() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        // A lagging link delivers the paste and the keys typed after it in
        // one read: they wait for the terminal's own end marker a while…
        d.feed(b"\x1b[200~x\x1b[201~q\r", &mut |m| out.push(m));
        d.flush(QUIET, &mut |m| out.push(m));
        d.flush(STALE - QUIET, &mut |m| out.push(m));
        assert!(out.is_empty(), "{:?}", keys(&out));
        // …then the paste ends at its marker; what followed is no key.
        d.flush(STALE, &mut |m| out.push(m));
        assert_eq!(keys(&out), ["paste:x"]);
        d.feed(b"q", &mut |m| out.push(m));
        assert_eq!(keys(&out), ["paste:x", "q"]);
    }

    #[test]
    fn a_paste_still_arriving_is_not_cut_short() {
        // The terminal's marker late behind a pasted one: all text.
        let got = writes(&[&[b"\x1b[200~a\x1b[201~\r"], &[b"p\x1b[201~"], &[b"q"]]);
        assert_eq!(keys(&got), ["paste:a\x1b[201~\rp", "q"]);
        // No marker yet, or a long run of bytes behind one: still the paste.
        let mut long = b"\x1b[200~a\x1b[201~".to_vec();
        long.resize(long.len() + MAX_SEQUENCE, b'p');
        for stalled in [&b"\x1b[200~abc"[..], &long] {
            let mut d = Decoder::default();
            let mut out = Vec::new();
            d.feed(stalled, &mut |m| out.push(m));
            d.flush(STALE * 10, &mut |m| out.push(m));
            d.feed(b"q\x1b[201~", &mut |m| out.push(m));
            d.flush(QUIET, &mut |m| out.push(m));
            let text = String::from_utf8_lossy(&stalled[PASTE_START.len()..]);
            assert_eq!(keys(&out), [format!("paste:{text}q")]);
        }
    }

    /// What crossterm 0.29's own parser (`event/sys/unix/parse.rs`, raw
    /// mode) gives for the sequences terminals send, read off its source.
    #[test]
    fn keys_are_the_events_crossterm_gives() {
        use crossterm::event::{
            KeyEventKind as K, KeyEventState as S, MediaKeyCode, ModifierKeyCode,
        };
        const N: KeyModifiers = KeyModifiers::NONE;
        const SH: KeyModifiers = KeyModifiers::SHIFT;
        const ALT: KeyModifiers = KeyModifiers::ALT;
        const CTL: KeyModifiers = KeyModifiers::CONTROL;
        let k = KeyEvent::new;
        let ks = |c, m, kind, state| KeyEvent::new_with_kind_and_state(c, m, kind, state);
        use KeyCode::*;
        let table: Vec<(&[u8], KeyEvent)> = vec![
            (b"\x1b[A", k(Up, N)),
            (b"\x1b[B", k(Down, N)),
            (b"\x1b[C", k(Right, N)),
            (b"\x1b[D", k(Left, N)),
            (b"\x1bOA", k(Up, N)),
            (b"\x1bOD", k(Left, N)),
            (b"\x1bOH", k(Home, N)),
            (b"\x1bOF", k(End, N)),
            (b"\x1bOP", k(F(1), N)),
            (b"\x1bOS", k(F(4), N)),
            (b"\x1b[H", k(Home, N)),
            (b"\x1b[F", k(End, N)),
            (b"\x1b[1~", k(Home, N)),
            (b"\x1b[7~", k(Home, N)),
            (b"\x1b[4~", k(End, N)),
            (b"\x1b[8~", k(End, N)),
            (b"\x1b[2~", k(Insert, N)),
            (b"\x1b[3~", k(Delete, N)),
            (b"\x1b[5~", k(PageUp, N)),
            (b"\x1b[6~", k(PageDown, N)),
            (b"\x1b[3;5~", k(Delete, CTL)),
            (b"\x1b[5;3~", k(PageUp, ALT)),
            (b"\x1b[6;2~", k(PageDown, SH)),
            (b"\x1b[1;2A", k(Up, SH)),
            (b"\x1b[1;3B", k(Down, ALT)),
            (b"\x1b[1;5C", k(Right, CTL)),
            (b"\x1b[1;6D", k(Left, SH | CTL)),
            (b"\x1b[1;5H", k(Home, CTL)),
            (b"\x1b[1;2F", k(End, SH)),
            (b"\x1b[1;10A", k(Up, SH | KeyModifiers::SUPER)),
            (b"\x1b[11~", k(F(1), N)),
            (b"\x1b[15~", k(F(5), N)),
            (b"\x1b[17~", k(F(6), N)),
            (b"\x1b[20~", k(F(9), N)),
            (b"\x1b[21~", k(F(10), N)),
            (b"\x1b[23~", k(F(11), N)),
            (b"\x1b[24~", k(F(12), N)),
            (b"\x1b[15;2~", k(F(5), SH)),
            (b"\x1b[24;5~", k(F(12), CTL)),
            (b"\x1b[[A", k(F(1), N)),
            (b"\x1b[[E", k(F(5), N)),
            (b"\x1b[P", k(F(1), N)),
            (b"\x1b[Q", k(F(2), N)),
            (b"\x1b[S", k(F(4), N)),
            (b"\x1b[1;2P", k(F(1), SH)),
            (b"\x1b[Z", k(BackTab, SH)),
            (b"\x1ba", k(Char('a'), ALT)),
            (b"\x1bA", k(Char('A'), SH | ALT)),
            (b"\x1b\r", k(Enter, ALT)),
            (b"\x1b\x7f", k(Backspace, ALT)),
            (b"\x1b\x01", k(Char('a'), CTL | ALT)),
            (b"\x01", k(Char('a'), CTL)),
            (b"\x1a", k(Char('z'), CTL)),
            (b"\x08", k(Char('h'), CTL)),
            (b"\n", k(Char('j'), CTL)),
            (b"\t", k(Tab, N)),
            (b"\r", k(Enter, N)),
            (b"\x7f", k(Backspace, N)),
            (b"\x00", k(Char(' '), CTL)),
            (b"\x1c", k(Char('4'), CTL)),
            (b"\x1f", k(Char('7'), CTL)),
            (b"q", k(Char('q'), N)),
            (b"Q", k(Char('Q'), SH)),
            ("é".as_bytes(), k(Char('é'), N)),
            ("É".as_bytes(), k(Char('É'), SH)),
            ("→".as_bytes(), k(Char('→'), N)),
            ("😀".as_bytes(), k(Char('😀'), N)),
            // Kitty's CSI u, and its event kinds and lock states.
            (b"\x1b[97u", k(Char('a'), N)),
            (b"\x1b[97;5u", k(Char('a'), CTL)),
            (b"\x1b[97;1:2u", ks(Char('a'), N, K::Repeat, S::NONE)),
            (b"\x1b[97;1:3u", ks(Char('a'), N, K::Release, S::NONE)),
            (b"\x1b[97;65u", ks(Char('a'), N, K::Press, S::CAPS_LOCK)),
            (b"\x1b[97;129u", ks(Char('a'), N, K::Press, S::NUM_LOCK)),
            (b"\x1b[97:65;2u", k(Char('A'), N)),
            (b"\x1b[13u", k(Enter, N)),
            (b"\x1b[27u", k(Esc, N)),
            (b"\x1b[9u", k(Tab, N)),
            (b"\x1b[9;2u", k(BackTab, SH)),
            (b"\x1b[127u", k(Backspace, N)),
            (b"\x1b[57399u", ks(Char('0'), N, K::Press, S::KEYPAD)),
            (b"\x1b[57414u", ks(Enter, N, K::Press, S::KEYPAD)),
            (b"\x1b[57376u", k(F(13), N)),
            (b"\x1b[57428u", k(Media(MediaKeyCode::Play), N)),
            (b"\x1b[57441u", k(Modifier(ModifierKeyCode::LeftShift), SH)),
            (
                b"\x1b[57442;5u",
                k(Modifier(ModifierKeyCode::LeftControl), CTL),
            ),
            (b"\x1b[1;5:3A", ks(Up, CTL, K::Release, S::NONE)),
            (b"\x1b[3;1:3~", ks(Delete, N, K::Release, S::NONE)),
        ];
        let events = |msgs: Vec<Msg>| -> Vec<KeyEvent> {
            msgs.into_iter()
                .map(|m| match m {
                    Msg::Key(k) => k,
                    other => panic!("not a key: {other:?}"),
                })
                .collect()
        };
        for (bytes, expected) in &table {
            for cut in 0..=bytes.len() {
                let got = events(decode(&[&bytes[..cut], &bytes[cut..]]));
                assert_eq!(got, [*expected], "{bytes:?} cut at {cut}");
            }
        }
        // All of them in one read, and a lone Esc after them.
        let mut all: Vec<u8> = table.iter().flat_map(|(b, _)| b.to_vec()).collect();
        all.push(0x1b);
        let mut expected: Vec<KeyEvent> = table.iter().map(|(_, e)| *e).collect();
        expected.push(k(Esc, N));
        assert_eq!(events(decode(&[&all])), expected);
        // Where it differs, on purpose: crossterm reads ESC ESC as one Esc
        // and drops the second ESC (with it, the start of whatever followed);
        // each is an Esc here. Crossterm takes `ESC[1;5R` for the answer to
        // a cursor position query, never asked here: Ctrl+F3 as xterm means.
        assert_eq!(events(decode(&[b"\x1b\x1b"])), [k(Esc, N), k(Esc, N)]);
        assert_eq!(events(decode(&[b"\x1b\x1b[A"])), [k(Esc, N), k(Up, N)]);
        assert_eq!(events(decode(&[b"\x1b[1;5R"])), [k(F(3), CTL)]);
    }
}
