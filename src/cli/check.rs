//! The subcommands on runbooks and commands, without a session: `check`,
//! `guard`, `import`, `match`, `eval`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use stepguard::draft::Alerts;
use stepguard::matching::{self, Match, Query};
use stepguard::runbook::{self, LoadError};
use stepguard::sanitize::sanitize_line;
use stepguard::words::count;

use super::inputs::{fetch_alertmanager, load_catalog, read_text};
use super::CliError;
use crate::{Runtime, EXIT_FAILED, EXIT_OK};

pub fn check(paths: &[PathBuf]) -> Result<u8> {
    if paths.is_empty() {
        bail!("no runbook directory found (pass PATH or --runbooks DIR)");
    }
    for p in paths {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    let loaded = runbook::load_paths_lenient(paths).map_err(|e| anyhow::anyhow!(e))?;
    let steps: usize = loaded.runbooks.iter().map(|r| r.steps.len()).sum();
    let found = format!(
        "{}, {}",
        count(loaded.runbooks.len() as u64, "runbook", "runbooks"),
        count(steps as u64, "step", "steps")
    );
    if !loaded.skipped.is_empty() {
        let shown: Vec<String> = loaded
            .skipped
            .iter()
            .take(5)
            .map(|p| sanitize_line(&p.display().to_string(), 200).into_owned())
            .collect();
        let more = loaded.skipped.len().saturating_sub(shown.len());
        eprintln!(
            "note: {} by content (no `# Title` and `## Section`; YAML without two of id, title, steps): {}{}",
            count(
                loaded.skipped.len() as u64,
                "file is not a runbook",
                "files are not runbooks"
            ),
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
    }
    if !loaded.broken.is_empty() {
        let broken = loaded.broken_files().len();
        for p in &loaded.broken {
            eprintln!("{p}");
        }
        eprintln!(
            "failed: {} ({found} load)",
            count(broken as u64, "broken runbook", "broken runbooks")
        );
        return Ok(EXIT_FAILED);
    }
    if loaded.runbooks.is_empty() {
        eprintln!("failed: {}", super::inputs::no_runbooks(paths));
        return Ok(EXIT_FAILED);
    }
    println!("ok: {found}");
    Ok(EXIT_OK)
}

pub fn guard(words: &[String], json: bool) -> u8 {
    let line = match words {
        [one] => one.clone(),
        many => shlex::try_join(many.iter().map(String::as_str)).unwrap_or_else(|_| many.join(" ")),
    };
    let decision = stepguard::exec::guard_to_run(&line, super::inputs::rule_store().as_ref());
    if json {
        println!(
            "{}",
            stepguard::sanitize::to_json(&decision).expect("decision serializes")
        );
    } else {
        println!("{}", sanitize_line(&decision.reason, 1_000));
    }
    if decision.allowed {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

pub fn import(file: &Path) -> Result<u8> {
    let src = read_text(file)?;
    let runbook = runbook::markdown::parse_markdown(&src, file).map_err(|e| match e {
        LoadError::Io { .. } => anyhow::anyhow!(e),
        e => CliError::Invalid(e).into(),
    })?;
    print!("{}", runbook::markdown::to_yaml(&runbook));
    Ok(EXIT_OK)
}

/// What `match` is asked.
pub struct MatchArgs {
    pub text: Option<String>,
    pub alert: Option<PathBuf>,
    pub alertmanager: Option<String>,
    pub json: bool,
    pub threshold: f64,
    pub rerank: bool,
}

pub fn match_runbooks(runtime: &mut Runtime, dirs: &[PathBuf], args: MatchArgs) -> Result<u8> {
    let MatchArgs {
        text,
        alert,
        alertmanager,
        json,
        threshold,
        rerank,
    } = args;
    // Asked first, so a missing model is said before any work.
    let client = if rerank {
        let cfg = super::inputs::model_config(false, None)?;
        if let Some(why) = cfg.offline_reason() {
            bail!("--rerank needs a model: {why}");
        }
        Some(stepguard::llm::ModelClient::new(&cfg)?)
    } else {
        None
    };
    let catalog = load_catalog(dirs)?;
    if catalog.is_empty() {
        bail!("{}", super::inputs::no_runbooks(dirs));
    }
    let matcher = matching::Matcher::new(&catalog);
    let queries: Vec<(String, Query)> = match (text, alert, alertmanager) {
        (Some(text), _, _) => vec![(String::new(), matching::query_from_text(&text))],
        (_, Some(path), _) => {
            let alerts =
                Alerts::parse(&read_text(&path)?).with_context(|| path.display().to_string())?;
            alerts
                .0
                .iter()
                .map(|a| {
                    (
                        a.name().unwrap_or("").to_string(),
                        matching::query_from_alert(a),
                    )
                })
                .collect()
        }
        (_, _, Some(url)) => {
            let alerts = fetch_alertmanager(runtime, &url)?;
            alerts
                .0
                .iter()
                .filter(|a| a.firing)
                .map(|a| {
                    (
                        a.name().unwrap_or("").to_string(),
                        matching::query_from_alert(a),
                    )
                })
                .collect()
        }
        _ => bail!("give TEXT, --alert FILE or --alertmanager URL"),
    };
    if queries.is_empty() {
        bail!("no firing alerts");
    }
    // Several alerts: the one whose best runbook is most certain leads.
    let mut ranked: Vec<(String, Vec<Match>)> = queries
        .into_iter()
        .map(|(_, q)| {
            let m = matcher.rank(&q);
            (q.text, m)
        })
        .collect();
    ranked.sort_by(|a, b| {
        let top = |m: &Vec<Match>| m.first().map_or(0.0, |m| m.confidence);
        top(&b.1).total_cmp(&top(&a.1))
    });
    let (query_text, matches) = &ranked[0];
    let mut top: Vec<Match> = matches.iter().take(10).cloned().collect();
    let mut said = None;
    if let Some(client) = &client {
        said = Some(rerank_top(runtime, client, query_text, &catalog, &mut top)?);
    }
    let matched = top.first().is_some_and(|m| m.confidence >= threshold);
    if json {
        println!(
            "{}",
            stepguard::sanitize::to_json_pretty(&matching::match_json(&top, threshold))?
        );
    } else {
        if let Some(said) = &said {
            println!("{}", sanitize_line(said, 200));
        }
        if !matched {
            println!("no runbook matches with confidence ≥ {threshold:.2}: escalate");
        }
        for m in top.iter().take(5) {
            println!(
                "{:.2}  {:<36} {}  ({})",
                m.confidence,
                sanitize_line(&m.id, 36),
                sanitize_line(&m.title, 60),
                sanitize_line(&m.why, 60)
            );
            // Which fields hold the words that decided a lexical match.
            let Some(rb) = catalog.iter().find(|r| r.id == m.id) else {
                continue;
            };
            if m.why.starts_with("lexical") {
                let fields: Vec<String> = matching::explain(rb, query_text)
                    .into_iter()
                    .map(|(field, words)| format!("{field}: {}", words.join(" ")))
                    .collect();
                println!("      {}", sanitize_line(&fields.join(" · "), 120));
            }
        }
    }
    Ok(if matched { EXIT_OK } else { EXIT_FAILED })
}

/// The model's pick among the five best moves to the front, its confidence
/// the ranker's; an answer outside them, or no answer, leaves the ranking.
/// Returns what to say about it.
fn rerank_top(
    runtime: &mut Runtime,
    client: &stepguard::llm::ModelClient,
    query: &str,
    catalog: &[stepguard::runbook::Runbook],
    top: &mut Vec<Match>,
) -> Result<String> {
    use stepguard::llm::rerank::{self, Verdict};
    let candidates = rerank::candidates(top.iter().map(|m| m.id.as_str()), catalog);
    if candidates.is_empty() {
        return Ok("model: nothing to choose from".into());
    }
    let first = top[0].id.clone();
    let answer = runtime.block_on(rerank::rerank(client, query, &candidates))?;
    if let Ok(Verdict::Picked(id)) = &answer {
        if let Some(at) = top.iter().position(|m| &m.id == id).filter(|&at| at > 0) {
            let mut picked = top.remove(at);
            picked.why = format!("model's pick of the five; {}", picked.why);
            top.insert(0, picked);
        }
    }
    Ok(rerank::describe(&answer, &first))
}

pub fn eval(
    dirs: &[PathBuf],
    dir: &Path,
    json: bool,
    features: bool,
    threshold: f64,
) -> Result<u8> {
    let catalog = load_catalog(dirs)?;
    if features {
        let scenarios = stepguard::eval::load_scenarios(dir).map_err(|e| anyhow::anyhow!(e))?;
        let matcher = matching::Matcher::new(&catalog);
        for s in &scenarios {
            let line = serde_json::json!({
                "scenario": s.path.display().to_string(),
                "category": s.category.as_str(),
                "expect": s.expect,
                "structural": matcher.rank(&s.query()).first().is_some_and(|m| m.confidence >= matching::RUNBOOK_URL_CONFIDENCE),
                "lexical": matcher.lexical(&s.query()),
            });
            println!("{line}");
        }
        return Ok(EXIT_OK);
    }
    let report =
        stepguard::eval::run_eval(dir, &catalog, threshold).map_err(|e| anyhow::anyhow!(e))?;
    if json {
        println!("{}", stepguard::sanitize::to_json_pretty(&report)?);
    } else {
        print!("{}", stepguard::sanitize::sanitize_text(&report.to_text()));
    }
    Ok(if report.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
