//! Replays the kept fuzz corpora (`fuzz/corpus/<target>/`) through the same
//! properties the fuzz targets check (`fuzz/props.rs`), on the stable
//! toolchain: every input a fuzz run found interesting stays a regression
//! test, without nightly or cargo-fuzz.

use std::path::Path;

#[allow(dead_code)] // shared with the fuzz targets
#[path = "../../fuzz/props.rs"]
mod props;

fn replay(target: &str, property: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| property(&data)) {
            eprintln!("failing input: {}", path.display());
            std::panic::resume_unwind(panic);
        }
        count += 1;
    }
    assert!(count >= 4, "{target}: only {count} corpus inputs");
}

#[test]
fn yaml_runbook_corpus() {
    replay("yaml_runbook", props::yaml_runbook);
}

#[test]
fn markdown_runbook_corpus() {
    replay("markdown_runbook", props::markdown_runbook);
}

#[test]
fn guard_line_corpus() {
    replay("guard_line", props::guard_line);
}

#[test]
fn sanitize_corpus() {
    replay("sanitize", props::sanitize);
}

#[test]
fn alert_payload_corpus() {
    replay("alert_payload", props::alert_payload);
}

#[test]
fn redact_text_corpus() {
    replay("redact_text", props::redact_text);
}
