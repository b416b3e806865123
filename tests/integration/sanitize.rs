//! SPEC §1.6: nothing from outside reaches the terminal raw.

use std::borrow::Cow;

use stepguard::sanitize::{
    escape_json, sanitize_bytes, sanitize_line, sanitize_text, to_json, to_json_pretty,
};

const WIDE: usize = 10_000;

fn line(s: &str) -> String {
    sanitize_line(s, WIDE).into_owned()
}

/// The bidi and invisible format characters SPEC §1.6 names, listed here
/// independently of the implementation.
fn is_bidi_or_format(c: char) -> bool {
    matches!(
        c as u32,
        0x061C
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060
            | 0x2066..=0x2069
            | 0xFEFF
    )
}

fn assert_safe(out: &str) {
    for c in out.chars() {
        assert!(
            !c.is_control() && !is_bidi_or_format(c),
            "{:?} (U+{:04X}) survived in {out:?}",
            c,
            c as u32
        );
    }
}

#[test]
fn clean_ascii_is_borrowed() {
    let input = "NAMESPACE   NAME                      READY   STATUS    RESTARTS   AGE";
    let out = sanitize_line(input, 200);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert_eq!(out, input);
}

#[test]
fn clean_unicode_is_borrowed() {
    assert!(matches!(
        sanitize_line("état ✓ — 東京", 200),
        Cow::Borrowed(_)
    ));
}

#[test]
fn csi_color_is_visible() {
    assert_eq!(line("\x1b[1;31mERROR\x1b[0m"), "^[[1;31mERROR^[[0m");
}

#[test]
fn csi_cursor_movement_is_visible() {
    assert_eq!(line("ok\x1b[2A\x1b[10;5Hgotcha"), "ok^[[2A^[[10;5Hgotcha");
}

#[test]
fn clear_screen_is_visible() {
    assert_eq!(line("\x1b[2J\x1b[H"), "^[[2J^[[H");
    assert_eq!(line("\x1bc"), "^[c");
}

#[test]
fn osc_title_is_visible() {
    assert_eq!(line("\x1b]0;pwned\x07"), "^[]0;pwned^G");
    assert_eq!(line("\x1b]2;title\x1b\\"), "^[]2;title^[\\");
}

#[test]
fn osc52_clipboard_write_is_visible() {
    let out = line("\x1b]52;c;cm0gLXJmIC8K\x07");
    assert_eq!(out, "^[]52;c;cm0gLXJmIC8K^G");
    assert_safe(&out);
}

#[test]
fn osc8_hyperlink_is_visible() {
    let out = line("\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\");
    assert_eq!(out, "^[]8;;https://evil.example/^[\\click^[]8;;^[\\");
}

#[test]
fn dcs_is_visible() {
    assert_eq!(line("\x1bP+q544e\x1b\\"), "^[P+q544e^[\\");
}

#[test]
fn c1_csi_and_other_c1_are_placeholders() {
    assert_eq!(line("\u{9b}31mred"), "<U+009B>31mred");
    assert_eq!(line("\u{9d}0;t\u{9c}"), "<U+009D>0;t<U+009C>");
    assert_eq!(line("a\u{85}b"), "a<U+0085>b");
    assert_eq!(line("\u{80}\u{9f}"), "<U+0080><U+009F>");
}

#[test]
fn nul_and_bel_are_visible() {
    assert_eq!(line("a\0b"), "a^@b");
    assert_eq!(line("ding\x07"), "ding^G");
}

#[test]
fn backspace_overwrite_trick_is_visible() {
    // On a terminal this reads "ls"; it must read as what it is.
    assert_eq!(line("rm\x08\x08ls"), "rm^H^Hls");
    assert_eq!(line("safe\r#evil"), "safe^M#evil");
    assert_eq!(line("del\x7f"), "del^?");
}

#[test]
fn trojan_source_bidi_is_visible() {
    let input = "if access_level != \"user\u{202E} \u{2066}// Check if admin\u{2069} \u{2066}\" {";
    let out = line(input);
    assert_eq!(
        out,
        "if access_level != \"user<U+202E> <U+2066>// Check if admin<U+2069> <U+2066>\" {"
    );
    assert_safe(&out);
    assert_eq!(line("\u{200E}\u{200F}\u{061C}"), "<U+200E><U+200F><U+061C>");
}

#[test]
fn zero_width_chars_are_visible() {
    assert_eq!(
        line("kube\u{200B}ctl de\u{200C}le\u{200D}te \u{2060}x\u{FEFF}"),
        "kube<U+200B>ctl de<U+200C>le<U+200D>te <U+2060>x<U+FEFF>"
    );
    assert_eq!(line("a\u{2028}b\u{2029}c"), "a<U+2028>b<U+2029>c");
}

#[test]
fn tab_expands_to_multiple_of_four() {
    assert_eq!(line("\t|"), "    |");
    assert_eq!(line("a\t|"), "a   |");
    assert_eq!(line("abc\t|"), "abc |");
    assert_eq!(line("abcd\t|"), "abcd    |");
    assert_eq!(line("a\t\t|"), "a       |");
}

#[test]
fn newline_in_a_line_is_visible() {
    assert_eq!(line("a\nb\r\nc"), "a^Jb^M^Jc");
}

#[test]
fn text_keeps_lines_and_handles_crlf() {
    assert_eq!(sanitize_text("one\r\ntwo\r\n"), "one\ntwo\n");
    assert_eq!(sanitize_text("a\rb\n"), "a^Mb\n");
    assert_eq!(sanitize_text("end\r"), "end^M");
    assert_eq!(sanitize_text("\r\r\n"), "^M\n");
    assert_eq!(sanitize_text("x\tx\n\ty"), "x   x\n    y");
    assert_eq!(sanitize_text("\x1b[2J\n\u{202E}"), "^[[2J\n<U+202E>");
    assert_eq!(sanitize_text(""), "");
}

#[test]
fn long_line_is_capped_and_cheap() {
    let big = "x".repeat(1 << 20);
    let out = sanitize_line(&big, 200);
    assert_eq!(
        out,
        format!("{}… (+{} chars)", "x".repeat(200), (1 << 20) - 200)
    );

    let mut hostile = "\x1b".repeat(1 << 20);
    hostile.push('\u{202E}');
    let out = sanitize_line(&hostile, 100);
    assert!(out.starts_with("^[^[^["));
    assert!(out.ends_with(&format!("… (+{} chars)", (1 << 20) + 1 - 50)));
    assert!(out.chars().count() < 130);
}

#[test]
fn cap_is_in_chars_not_bytes() {
    let out = sanitize_line("ééééé", 3);
    assert_eq!(out, "ééé… (+2 chars)");
}

#[test]
fn invalid_utf8_becomes_replacement_char() {
    assert_eq!(
        sanitize_bytes(b"ok \xff\xfe \xc3", 80),
        "ok \u{FFFD}\u{FFFD} \u{FFFD}"
    );
    assert_eq!(sanitize_bytes(b"\x1b[31m\xc2\x9b", 80), "^[[31m<U+009B>");
    // An 8-bit CSI byte on its own is not UTF-8, so it cannot pass either.
    assert_eq!(sanitize_bytes(b"\x9b2J", 80), "\u{FFFD}2J");
    assert_eq!(
        sanitize_bytes(&[b'a'; 50], 10),
        format!("{}… (+40 chars)", "a".repeat(10))
    );
}

#[test]
fn no_control_or_format_char_survives() {
    let interesting = (0x0000u32..=0x00A0)
        .chain(0x0600..=0x0620)
        .chain(0x2000..=0x2070)
        .chain(0xFEF0..=0xFFFF)
        .chain(0xE0000..=0xE0080);
    for cp in interesting {
        let Some(c) = char::from_u32(cp) else {
            continue;
        };
        for s in [c.to_string(), format!("a{c}b"), format!("{c}{c}\t{c}")] {
            assert_safe(&sanitize_line(&s, WIDE));
            assert_safe(&sanitize_line(&s, 3));
            let text = sanitize_text(&s);
            assert_safe(&text.replace('\n', ""));
            assert_safe(&sanitize_bytes(s.as_bytes(), WIDE));
        }
    }
}

#[test]
fn never_panics_on_any_bytes() {
    // Deterministic pseudo-random bytes, biased towards the interesting ones.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let specials: &[u8] = b"\x1b\x07\x08\t\r\n\x00\x7f\xc2\x9b\xe2\x80\xae\xff";
    for round in 0..2_000 {
        let len = (next() % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 3 == 0 {
                    specials[(r >> 8) as usize % specials.len()]
                } else {
                    (r >> 16) as u8
                }
            })
            .collect();
        let cap = round % 40;
        let out = sanitize_bytes(&bytes, cap);
        assert_safe(&out);
        let lossy = String::from_utf8_lossy(&bytes);
        assert_safe(&sanitize_text(&lossy).replace('\n', ""));
    }
}

/// Machine output (`--json`) is read by people too (`| less`, CI logs): no
/// control, bidi or invisible character in its bytes, whatever the strings
/// hold, and every string parses back to what it was.
#[test]
fn json_output_escapes_every_control_and_invisible_char() {
    let mut hostile: Vec<String> = (0x0000u32..=0x00A0)
        .chain(0x061C..=0x061C)
        .chain(0x2000..=0x2070)
        .chain(0xFEFF..=0xFEFF)
        .chain(0xFFF9..=0xFFFB)
        .chain(0xE0000..=0xE0080)
        .chain(0xE0100..=0xE0102)
        .filter_map(char::from_u32)
        .map(|c| format!("a{c}b"))
        .collect();
    hostile.push("\u{1b}[2J\u{9b}31m\u{202e}evil\u{2066}\u{200b}".into());
    hostile.push("naïve café ✓ — 東京 \"quoted\" back\\slash".into());
    let value = serde_json::json!({
        "list": hostile,
        "key\u{202e}\u{85}": "v\u{7f}",
        "nested": {"n": 1, "s": "\u{2028}"}
    });
    for out in [to_json(&value).unwrap(), to_json_pretty(&value).unwrap()] {
        for c in out.chars() {
            // Newlines between members (pretty) are outside any string.
            assert!(
                c == '\n' || !c.is_control(),
                "raw {:?} (U+{:04X}) in {out:?}",
                c,
                c as u32
            );
            assert!(
                !is_bidi_or_format(c),
                "raw U+{:04X} in the output",
                c as u32
            );
            assert!(!matches!(c as u32, 0x80..=0x9F | 0xE0000..=0xE0FFF));
        }
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, value, "the strings changed");
    }
    // Already serialized (a writer that is not ours): the same escaping.
    let raw = serde_json::to_string(&value).unwrap();
    assert!(raw.contains('\u{9b}'), "serde_json leaves C1 raw");
    let escaped = escape_json(&raw);
    assert!(escaped.contains("\\u009b") && escaped.contains("\\udb40\\udc01"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&escaped).unwrap(),
        value
    );
    // Clean JSON is not copied.
    assert!(matches!(escape_json("{\"a\":\"é\"}"), Cow::Borrowed(_)));
}

/// Every `--json` output of the command line goes through the escaping
/// writer: runbook text, a guarded command, a session's names and a
/// standing rule's reason, each with C1 and bidi characters in it.
#[test]
fn every_json_output_of_the_cli_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let runbooks = dir.path().join("runbooks");
    std::fs::create_dir_all(&runbooks).unwrap();
    // YAML escapes put C1 and bidi characters into the runbook's strings.
    std::fs::write(
        runbooks.join("hostile.yaml"),
        r#"id: hostile-walk
title: "Pods crash looping \x9b2J \u202Ekcab"
summary: "Roll back \u2066a bad\u2069 rollout"
alerts: [KubePodCrashLooping]
risk: low
steps:
  - id: look
    title: "Look \x85at the pods"
    intent: "See the crash loop \u200B\u202E."
    preflight:
      run: kubectl get pods
      proceed_if: 'Running'
      explain: "Proceed \x9b if running \u2067."
"#,
    )
    .unwrap();
    let state = dir.path().join("state");
    let sessions = state.join("sessions/0a1b2c3d");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::write(
        sessions.join("session.json"),
        serde_json::to_string(&serde_json::json!({"summary": {
            "id": "0a1b2c3d", "runbook_id": "run\u{9b}book\u{202e}", "step": 1, "steps": 2,
            "status": "open\u{85}", "created_ms": 1, "updated_ms": 2
        }}))
        .unwrap(),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stepguard"))
            .args(args)
            .env("STEPGUARD_STATE_DIR", &state)
            .env("STEPGUARD_RUNBOOKS", &runbooks)
            .env("STEPGUARD_CONFIG", "/dev/null")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("wrong.yaml"),
        "name: \"no runbook \\x9b fits \\u202Ethis\"\ncategory: no-runbook\ntext: pods crash looping rollout\nexpect: null\n",
    )
    .unwrap();
    let added = run(&[
        "rules",
        "add",
        "--reason",
        "safe \u{202e}\u{2066}",
        "--",
        "consul",
        "status",
    ]);
    assert!(added.contains("added standing rule"), "{added}");
    for (args, needle) in [
        (
            &[
                "draft",
                "hostile-walk",
                "--step",
                "1",
                "--offline",
                "--json",
            ][..],
            "\u{202e}",
        ),
        (
            &["match", "--json", "pods crash looping rollout"][..],
            "\u{9b}",
        ),
        (
            // Refused, naming the character rather than echoing it.
            &["guard", "--json", "--", "ls \u{202e}\u{9b}x"][..],
            "U+202E",
        ),
        (&["sessions", "--json"][..], "\u{9b}"),
        (
            &["eval", scenarios.to_str().unwrap(), "--json"][..],
            "\u{202e}",
        ),
        (&["rules", "list", "--json"][..], "\u{202e}"),
    ] {
        let out = run(args);
        assert!(!out.trim().is_empty(), "{args:?} printed nothing");
        for c in out.chars() {
            assert!(
                c == '\n' || !(c.is_control() || is_bidi_or_format(c)),
                "{args:?}: raw U+{:04X} in\n{out}",
                c as u32
            );
        }
        // The characters are there, escaped: parsed back, the text is whole
        // (serde_json writes them raw again).
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            value.to_string().contains(needle),
            "{args:?}: {needle:?} lost in {value}"
        );
    }
}
