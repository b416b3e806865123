//! The guard against a corpus of hostile and benign command lines
//! (`tests/guard/*.txt`, one command per line). Every command is checked and
//! every misclassification is reported, not just the first.

use stepguard::guard::{check, Decision};

const HOSTILE: &str = include_str!("../guard/hostile.txt");
const BENIGN: &str = include_str!("../guard/benign.txt");

/// `(line number, command)` for every line that is not blank or a comment.
fn corpus(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(n, l)| (n + 1, l))
        .collect()
}

/// Inputs that cannot be written into a text file line.
fn hostile_bytes() -> Vec<(&'static str, String)> {
    vec![
        ("empty line", String::new()),
        ("only blanks", "   \t ".into()),
        ("only a comment", "# kubectl get pods".into()),
        ("NUL byte", "ls\0; rm -rf /".into()),
        ("NUL inside quotes", "echo 'a\0b'".into()),
        ("carriage return", "ls\r rm -rf /".into()),
        ("escape sequence", "echo \x1b[2J".into()),
        ("bell", "echo \x07".into()),
        ("DEL", "ls \x7f".into()),
        ("C1 control", "ls \u{9b}31m".into()),
        ("bidi override", "echo \u{202e}fdp.exe".into()),
        ("bidi isolate", "kubectl get \u{2066}pods".into()),
        (
            "zero-width space in name",
            "kube\u{200b}ctl get pods".into(),
        ),
        ("zero-width joiner", "ls \u{200d}".into()),
        ("byte-order mark", "\u{feff}ls".into()),
        (
            "no-break space as separator",
            "kubectl\u{a0}delete pod x".into(),
        ),
        ("ideographic space", "ls\u{3000}-la".into()),
        ("line separator", "ls\u{2028}rm x".into()),
        ("tag characters", "ls \u{e0041}".into()),
        ("fullwidth program name", "ｒｍ -rf /".into()),
        ("homoglyph program name", "kubеctl get pods".into()),
        (
            "100 KB line",
            format!("kubectl get pods {}", "a".repeat(100 * 1024)),
        ),
        ("100 KB of pipes", "ls | ".repeat(20 * 1024) + "ls"),
        ("deep nesting", "(".repeat(10_000)),
        ("many separators", ";".repeat(50_000)),
        // awk continues a print statement on the next line after these.
        (
            "awk print continued after ','",
            "awk '{print $1,\n> \"/tmp/f\"}'".into(),
        ),
        (
            "awk printf continued after ','",
            "awk '{printf \"%s\", $1,\n  $2 > \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued after '&&'",
            "awk '{print $1 &&\n1 > \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued after '||'",
            "awk '{print $1 ||\n0 > \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued after '?'",
            "awk '{print $1 ?\n$2 : $3 > \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued after '\\'",
            "awk '{print $1 \\\n> \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued after a comment",
            "awk '{print $1, # c\n> \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued inside parentheses",
            "awk '{print (\"x\"\n) > \"/tmp/f\"}'".into(),
        ),
        (
            "awk print continued in if",
            "awk 'BEGIN { if (1) print \"a\",\n\"b\" > \"/tmp/f\" }'".into(),
        ),
        // A redirection number split by a line continuation is still '10>'.
        (
            "multi-digit fd across a continuation",
            "awk -F 1\\\n0>/dev/null 'BEGIN{system(\"id\")}' f".into(),
        ),
        // Line breaks inside one argument: a second request, or a line of
        // another protocol, behind a GET.
        (
            "curl header smuggles a POST",
            "curl -s -m 3 -H 'X: y\n\nPOST /api/v2/silences HTTP/1.1\nHost: x\n\
             Content-Length: 17\n\n{\"matchers\":[1]}' http://127.0.0.1:9093/api/v2/status"
                .into(),
        ),
        (
            "curl header carries a Redis command",
            "curl -s -m 2 -H 'X: y\nFLUSHALL' http://127.0.0.1:6379/".into(),
        ),
        (
            "curl header with CRLF",
            "curl -H 'X: y\r\nFLUSHALL' http://127.0.0.1:6379/".into(),
        ),
        (
            "curl attached header",
            "curl '-HX: y\nFLUSHALL' http://127.0.0.1:6379/".into(),
        ),
        (
            "curl user agent",
            "curl -A 'a\nFLUSHALL' http://127.0.0.1:6379/".into(),
        ),
        (
            "curl referer",
            "curl --referer 'a\nFLUSHALL' http://127.0.0.1:6379/".into(),
        ),
        (
            "curl cookie",
            "curl -b 'a=b\nFLUSHALL' http://127.0.0.1:6379/".into(),
        ),
        (
            "curl proxy header",
            "curl --proxy-header 'X: y\nZ: w' -x http://p:3128 http://x/".into(),
        ),
        ("curl URL", "curl 'http://127.0.0.1:6379/\nFLUSHALL'".into()),
        ("curl tab in a header", "curl -H 'X: a\tb' http://x/".into()),
        (
            "newline in a kubectl argument",
            "kubectl get pods -l 'a\nb'".into(),
        ),
        (
            "newline in a redis-cli argument",
            "redis-cli GET 'a\nFLUSHALL'".into(),
        ),
        (
            "newline in a psql host",
            "psql -h 'db\nx' -c 'select 1'".into(),
        ),
        ("newline in an awk operand", "awk '{print}' 'f\ng'".into()),
        ("newline in a sed operand", "sed -n p 'f\ng'".into()),
        (
            "newline in a timeout option",
            "timeout -s 'KILL\n' 5 ls".into(),
        ),
        (
            "newline inside a command timeout wraps",
            "timeout 5 kubectl get 'a\nb'".into(),
        ),
        ("newline in an env value", "TZ='UTC\n' date".into()),
    ]
}

fn reason_problem(d: &Decision) -> Option<&'static str> {
    if d.reason.trim().is_empty() {
        Some("empty reason")
    } else if d.reason.contains('\n') || d.reason.contains('\r') {
        Some("reason has a line break")
    } else if d.reason.chars().any(char::is_control) {
        Some("reason has a control character")
    } else if !d
        .reason
        .starts_with(if d.allowed { "allowed: " } else { "refused: " })
    {
        Some("reason prefix does not match the verdict")
    } else if d.reason.len() > 400 {
        Some("reason is too long")
    } else {
        None
    }
}

fn show(s: &str) -> String {
    let shown: String = s.chars().take(100).collect();
    format!("{shown:?}")
}

#[test]
fn hostile_commands_are_refused() {
    let cases = corpus(HOSTILE);
    assert!(cases.len() >= 150, "only {} hostile cases", cases.len());
    let mut failures = Vec::new();
    for (line, cmd) in &cases {
        let d = check(cmd);
        if d.allowed {
            failures.push(format!(
                "  hostile.txt:{line}: ALLOWED {}\n      {}",
                show(cmd),
                d.reason
            ));
        } else if let Some(p) = reason_problem(&d) {
            failures.push(format!(
                "  hostile.txt:{line}: {p}: {} -> {:?}",
                show(cmd),
                d.reason
            ));
        }
    }
    for (what, cmd) in hostile_bytes() {
        let d = check(&cmd);
        if d.allowed {
            failures.push(format!(
                "  [{what}]: ALLOWED {}\n      {}",
                show(&cmd),
                d.reason
            ));
        } else if let Some(p) = reason_problem(&d) {
            failures.push(format!("  [{what}]: {p}: {:?}", d.reason));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile commands misclassified:\n{}",
        failures.len(),
        cases.len() + hostile_bytes().len(),
        failures.join("\n")
    );
}

#[test]
fn benign_commands_are_allowed() {
    let cases = corpus(BENIGN);
    // The read-only forms SREs use must never shrink: raise this when the
    // corpus grows, never lower it.
    const BENIGN_FLOOR: usize = 209;
    assert!(
        cases.len() >= BENIGN_FLOOR,
        "the benign corpus shrank: {} cases, at least {BENIGN_FLOOR} expected",
        cases.len()
    );
    let mut failures = Vec::new();
    for (line, cmd) in &cases {
        let d = check(cmd);
        if !d.allowed {
            failures.push(format!(
                "  benign.txt:{line}: REFUSED {}\n      {}",
                show(cmd),
                d.reason
            ));
        } else if let Some(p) = reason_problem(&d) {
            failures.push(format!(
                "  benign.txt:{line}: {p}: {} -> {:?}",
                show(cmd),
                d.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} benign commands misclassified:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_reason_is_one_specific_line() {
    let mut failures = Vec::new();
    let all = corpus(HOSTILE)
        .into_iter()
        .chain(corpus(BENIGN))
        .map(|(_, c)| c.to_owned())
        .chain(hostile_bytes().into_iter().map(|(_, c)| c));
    for cmd in all {
        let d = check(&cmd);
        if let Some(p) = reason_problem(&d) {
            failures.push(format!("  {p}: {} -> {:?}", show(&cmd), d.reason));
        }
        if !d.allowed && d.reason == "refused: " {
            failures.push(format!("  bare refusal: {}", show(&cmd)));
        }
    }
    assert!(failures.is_empty(), "bad reasons:\n{}", failures.join("\n"));
}

#[test]
fn reasons_name_the_offending_piece() {
    let cases = [
        ("kubectl get pods; kubectl delete pod x", "'kubectl delete'"),
        ("kubectl -n get delete pods", "'kubectl delete'"),
        ("kubectl rollout undo deploy/x", "'kubectl rollout undo'"),
        ("ls $(rm -rf /)", "command substitution $(...)"),
        ("echo `id`", "command substitution `...`"),
        (
            "cat x > /etc/passwd",
            "output redirection to '/etc/passwd' writes a file",
        ),
        ("LD_PRELOAD=/tmp/x.so ls", "'LD_PRELOAD=/tmp/x.so'"),
        ("sh -c id", "'sh' escapes to a shell"),
        ("python3 -c 1", "'python3' starts an interpreter"),
        (
            "foo --bar",
            "unknown program 'foo' (not in the read-only allowlist)",
        ),
        ("./kubectl get pods", "relative program path './kubectl'"),
        ("sort --outp=out in", "abbreviates --output"),
        ("sed -ni 's/a/b/p' f", "'sed -i' edits files in place"),
        ("redis-cli KEYS '*'", "use SCAN"),
        ("redis-cli config set maxmemory 1", "'redis-cli config set'"),
        (
            "psql -c 'select 1; drop table t'",
            "psql statement 2 starts with 'DROP'",
        ),
        (
            "psql -c 'select pg_terminate_backend(1)'",
            "'pg_terminate_backend'",
        ),
        (
            "curl -X POST http://x",
            "'curl -X POST' changes the request method",
        ),
        ("awk 'BEGIN{system(\"id\")}'", "system()"),
        ("find / -delete", "'find -delete' deletes files"),
        ("ls *", "unquoted glob '*'"),
        ("if true; then ls; fi", "shell keyword 'if'"),
        ("ls & rm x", "background"),
        ("cat <<EOF", "here-document"),
        ("", "nothing to run"),
        ("kube\u{200b}ctl get pods", "U+200B"),
        ("awk -F 10>/dev/null 'BEGIN{}' f", "'10>'"),
        ("ls {fd}>/dev/null", "'{fd}>'"),
        ("ls 2>&10", "'2>&10'"),
        ("echo X 1</tmp/v >/dev/stdout", "'1</tmp/v'"),
        ("echo X </tmp/v 1<&0 >/dev/stdout", "'>/dev/stdout'"),
        ("curl -H 'Host:' http://x/", "Host header"),
        ("curl -H 'X: y\nZ' http://x/", "U+000A"),
        (
            "curl --unix-socket /run/docker.sock http://x/",
            "'curl --unix-socket'",
        ),
        ("nawk -eBEGIN 'BEGIN{}'", "'awk -e'"),
        ("gawk '{ARGV[ARGC++]=\"x\"}' f", "ARGV"),
        ("LC_ALL=/tmp/loc ls", "'LC_ALL=/tmp/loc'"),
        ("kubectl --kuberc=./k get pods", "'kubectl --kuberc'"),
        ("printf -v PATH /tmp", "'printf -v'"),
    ];
    let mut failures = Vec::new();
    for (cmd, want) in cases {
        let d = check(cmd);
        if d.allowed || !d.reason.contains(want) {
            failures.push(format!(
                "  {}: want {want:?}, got {:?}",
                show(cmd),
                d.reason
            ));
        }
    }
    assert!(failures.is_empty(), "reasons:\n{}", failures.join("\n"));
}

#[test]
fn decisions_serialize_as_the_documented_json() {
    let json = serde_json::to_value(check("kubectl get pods")).unwrap();
    assert_eq!(json["allowed"], true);
    assert!(json["reason"].as_str().unwrap().starts_with("allowed: "));
    let json = serde_json::to_value(check("rm -rf /")).unwrap();
    assert_eq!(json["allowed"], false);
    assert_eq!(json.as_object().unwrap().len(), 2);
}

#[test]
fn config_files_that_can_run_programs_are_reported() {
    for (cmd, want) in [
        (
            "kubectl --kubeconfig=/etc/kube/config get nodes",
            vec!["/etc/kube/config"],
        ),
        (
            "KUBECONFIG=/etc/kube/prod kubectl get pods",
            vec!["/etc/kube/prod"],
        ),
        (
            "KUBECONFIG=/etc/kube/prod:/etc/kube/staging kubectl config get-contexts",
            vec!["/etc/kube/prod", "/etc/kube/staging"],
        ),
        (
            "helm --kubeconfig /etc/kube/config list -n payments",
            vec!["/etc/kube/config"],
        ),
        ("docker --config /etc/docker ps", vec!["/etc/docker"]),
    ] {
        let d = check(cmd);
        assert!(d.allowed, "{cmd}: {}", d.reason);
        assert_eq!(d.trust_files, want, "{cmd}");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["trust_files"], serde_json::json!(want), "{cmd}");
    }
}

/// `cargo test --test integration guard_corpus::print_every_decision --
/// --ignored --nocapture` prints every decision, for reviewing the reasons
/// by eye. With `GUARD_PROBE=FILE` it
/// prints the decisions for the commands in that file instead.
#[test]
#[ignore]
fn print_every_decision() {
    if let Ok(path) = std::env::var("GUARD_PROBE") {
        let text = std::fs::read_to_string(&path).expect("GUARD_PROBE file");
        for (line, cmd) in corpus(&text) {
            println!("{path}:{line}: {} => {}", show(cmd), check(cmd).reason);
        }
        return;
    }
    for (file, text) in [("hostile", HOSTILE), ("benign", BENIGN)] {
        for (line, cmd) in corpus(text) {
            let d = check(cmd);
            println!("{file}:{line}: {} => {}", show(cmd), d.reason);
        }
    }
    for (what, cmd) in hostile_bytes() {
        println!("[{what}] => {}", check(&cmd).reason);
    }
}
