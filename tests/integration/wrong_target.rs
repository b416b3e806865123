//! The wrong-target guard as a table: where an action points against the
//! session's kube context and the step's namespace/region values.

use std::path::Path;

use stepguard::draft::Context;
use stepguard::runbook::parse_str;
use stepguard::tui::update::wrong_target;
use stepguard::tui::Model;

const RUNBOOK: &str = "id: t\ntitle: t\nvariables:\n  namespace: {pattern: '^[a-z-]+$'}\n  region: {pattern: '^[a-z0-9-]+$'}\nsteps:\n  - id: s\n    title: s\n    intent: s\n    action: {run: 'echo {{namespace}} {{region}}', blast_radius: none}\n    rollback: none\n    reason: none\n";

#[test]
fn table() {
    let rb = parse_str(RUNBOOK, Path::new("t.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("namespace".into(), "payments".into());
    ctx.vars.insert("region".into(), "eu-west-1".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.start_walk(rb);
    let walk = m.walk.as_ref().unwrap();
    #[rustfmt::skip]
    let table: &[(&str, &str, bool)] = &[
        // action,                                                      context,      refused?
        ("kubectl -n payments rollout undo deploy/x",                  "prod",       false),
        ("kubectl --namespace payments rollout undo deploy/x",         "prod",       false),
        ("kubectl --namespace=payments rollout undo deploy/x",         "prod",       false),
        ("kubectl -n billing rollout undo deploy/x",                   "prod",       true),
        ("kubectl --namespace=billing delete pod x",                   "prod",       true),
        ("kubectl --context prod -n payments delete pod x",            "prod",       false),
        ("kubectl --context=staging -n payments delete pod x",         "prod",       true),
        ("kubectl --context staging delete pod x",                     "",           false),
        ("helm --kube-context staging rollback x 3",                   "prod",       true),
        ("aws --region eu-west-1 ec2 reboot-instances --instance-ids i-1", "",       false),
        ("aws --region us-east-1 ec2 reboot-instances --instance-ids i-1", "",       true),
        ("aws ec2 reboot-instances --region=us-east-1",                "",           true),
        ("kubectl rollout undo deploy/x",                              "prod",       false),
        ("redis-cli -h 127.0.0.1 CONFIG SET maxmemory 2gb",            "prod",       false),
    ];
    let mut wrong = Vec::new();
    for (action, context, refused) in table {
        let got = wrong_target(action, walk, context);
        if got.is_some() != *refused {
            wrong.push(format!("{action:?} with context {context:?}: {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
