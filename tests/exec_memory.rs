//! A pre-flight printing 100 MB keeps memory bounded: the runner keeps only
//! the tail. Alone in its binary so no other test moves the high-water mark.

use std::time::Duration;

use stepguard::exec::{run, OutputLimits, Predicates, RunRequest};

/// Peak resident set size of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn hundred_megabytes_of_output_stay_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = vm_hwm_kib();
    let limits = OutputLimits::default();
    for command in [
        // 100+ MB of 76-character lines.
        "head -c 78643200 /dev/zero | base64",
        // 100 MB in one line with no newline at all.
        "head -c 104857600 /dev/zero | tr '\\000' x",
    ] {
        let req = RunRequest {
            command: command.into(),
            timeout: Duration::from_secs(120),
            limits,
            predicates: Predicates::new(Some("AAAA"), None).unwrap(),
            rules: None,
        };
        let outcome = rt.block_on(run(req, None, None)).unwrap();
        assert_eq!(outcome.exit_code, Some(0), "{command}");
        assert!(
            outcome.output.total_bytes >= 104_857_600,
            "{command}: {}",
            outcome.output.total_bytes
        );
        let kept: usize = outcome.output.lines.iter().map(|(_, l)| l.len()).sum();
        assert!(kept <= limits.max_bytes, "{command}: kept {kept}");
        assert!(outcome.output.lines.len() <= limits.max_lines);
    }
    let grown_mib = (vm_hwm_kib() - before) / 1024;
    assert!(grown_mib < 40, "peak RSS grew by {grown_mib} MiB");
}
