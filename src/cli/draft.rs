//! `stepguard draft`: one step's guarded card without the screen, and with
//! `--preflight` its pre-flight run and judged.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use stepguard::draft::Card;
use stepguard::exec::{self, judge, OutputLimits, Predicates, RunRequest};
use stepguard::llm::{compose, DraftJob, Drafter};
use stepguard::sanitize::sanitize_line;
use stepguard::verdict::display_rule;

use super::inputs::{find_runbook, load_context, model_config, Doubtful};
use super::{ContextArgs, ModelArgs};
use crate::{Runtime, EXIT_FAILED, EXIT_OK};

#[derive(Args, Debug)]
pub struct DraftArgs {
    /// A runbook file or id.
    runbook: String,
    /// Step id or 1-based number.
    #[arg(long)]
    step: String,
    #[command(flatten)]
    context: ContextArgs,
    #[command(flatten)]
    drafting: ModelArgs,
    /// Print the card as JSON.
    #[arg(long)]
    json: bool,
    /// Also run the step's pre-flight (guarded) and print its output and verdict.
    #[arg(long)]
    preflight: bool,
}

pub fn draft(runtime: &mut Runtime, dirs: &[PathBuf], args: DraftArgs) -> Result<u8> {
    let runbook = find_runbook(dirs, &args.runbook)?;
    let (index, _) = runbook.find_step(&args.step).with_context(|| {
        format!(
            "runbook '{}' has no step '{}' (ids: {})",
            runbook.id,
            args.step,
            runbook
                .steps
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let ctx = load_context(&args.context, &runbook, Doubtful::Refuse)?;
    // One card is printed: it waits for the whole state to be read.
    if let Some(state) = &ctx.state {
        state.facts();
    }
    let cfg = model_config(args.drafting.offline, args.drafting.model.clone())?;
    let mut card = match Drafter::from_config(&cfg) {
        Err(_offline) => compose(&runbook, index, &ctx, None),
        Ok(drafter) => {
            let job = DraftJob {
                runbook: runbook.clone(),
                step_index: index,
                ctx: ctx.clone(),
                history: Vec::new(),
                hint: None,
                fresh: false,
            };
            match runtime.block_on(drafter.draft(&job, None, None))? {
                Ok(outcome) => compose(&runbook, index, &ctx, Some(&outcome)),
                Err(e) => {
                    // An answer that was not usable is not an unavailable model.
                    let why = if e.metrics.is_some() {
                        format!("model draft not used ({e}): drafted offline from the runbook's templates")
                    } else {
                        format!(
                            "model unavailable ({e}): drafted offline from the runbook's templates"
                        )
                    };
                    eprintln!("stepguard: {}", sanitize_line(&why, 500));
                    let mut card = compose(&runbook, index, &ctx, None);
                    card.flags.insert(0, why);
                    card.draft = e.metrics;
                    card
                }
            }
        }
    };
    card.flags
        .iter_mut()
        .for_each(|f| *f = sanitize_line(f, 1_000).into_owned());
    // The card says what running would say: the guard with the standing
    // rules, and whether a config file it names (a kubeconfig) may be used,
    // which only the filesystem can tell.
    let rules = super::inputs::rule_store();
    for check in [card.preflight.as_mut(), card.verify.as_mut()]
        .into_iter()
        .flatten()
        .filter(|c| c.missing.is_empty() && c.guard.allowed)
    {
        check.guard = exec::guard_to_run(&check.command, rules.as_ref());
        check.runnable = check.guard.allowed;
    }
    if !args.preflight {
        if args.json {
            println!("{}", stepguard::sanitize::to_json_pretty(&card)?);
        } else {
            print!("{}", card_text(&card));
        }
        return Ok(EXIT_OK);
    }
    if !args.json {
        print!("{}", card_text(&card));
    }
    let result = run_preflight(runtime, &card, !args.json)?;
    if args.json {
        let out = serde_json::json!({ "card": card, "preflight_result": result });
        println!("{}", stepguard::sanitize::to_json_pretty(&out)?);
    }
    let stopped = result
        .get("verdict")
        .and_then(|v| v.as_str())
        .is_none_or(|v| v == "STOP");
    Ok(if stopped { EXIT_FAILED } else { EXIT_OK })
}

/// The card as text, its rules shown as a reader reads them
/// ([`display_rule`]); JSON and the pre-flight keep them as written.
fn card_text(card: &Card) -> String {
    let mut shown = card.clone();
    for check in [shown.preflight.as_mut(), shown.verify.as_mut()]
        .into_iter()
        .flatten()
    {
        for rule in [&mut check.proceed_if, &mut check.stop_if]
            .into_iter()
            .flatten()
        {
            *rule = display_rule(rule).into_owned();
        }
    }
    shown.to_text()
}

/// Run a card's pre-flight, streaming its output when `stream` is set.
fn run_preflight(runtime: &mut Runtime, card: &Card, stream: bool) -> Result<serde_json::Value> {
    let Some(card_check) = card.preflight.as_ref() else {
        if stream {
            println!("\nno pre-flight in this step");
        }
        return Ok(serde_json::json!({ "verdict": null, "reason": "no pre-flight in this step" }));
    };
    if !card_check.missing.is_empty() {
        let reason = format!("not run: missing values: {}", card_check.missing.join(", "));
        if stream {
            println!("\nVERDICT STOP — {reason}");
        }
        return Ok(serde_json::json!({ "verdict": "STOP", "reason": reason }));
    }
    let predicates = Predicates::new(
        card_check.proceed_if.as_deref(),
        card_check.stop_if.as_deref(),
    )?;
    let request = RunRequest {
        command: card_check.command.clone(),
        timeout: std::time::Duration::from_millis(card_check.timeout_ms),
        limits: OutputLimits::default(),
        predicates: predicates.clone(),
        rules: super::inputs::rule_store(),
    };
    if stream {
        println!("\nOUTPUT  $ {}", sanitize_line(&request.command, 2_000));
    }
    let outcome = runtime.block_on(exec::run_check(request, None, move |_, text| {
        if stream {
            let _ = writeln!(
                std::io::stdout().lock(),
                "  │ {}",
                sanitize_line(&text, 500)
            );
        }
        std::future::ready(ControlFlow::Continue(()))
    }))?;
    let outcome = match outcome {
        Ok(o) => o,
        Err(exec::RunError::Refused(reason)) => {
            if stream {
                println!(
                    "\nVERDICT STOP — refused by the guard: {}",
                    sanitize_line(&reason, 500)
                );
            }
            return Ok(
                serde_json::json!({ "verdict": "STOP", "reason": format!("refused by the guard: {reason}") }),
            );
        }
        Err(exec::RunError::Sandbox(e)) => {
            if stream {
                println!(
                    "\nVERDICT STOP — not run: {}",
                    sanitize_line(&e.to_string(), 500)
                );
            }
            return Ok(serde_json::json!({ "verdict": "STOP", "reason": format!("not run: {e}") }));
        }
        Err(e) => return Err(e.into()),
    };
    let judgement = judge(&outcome, &predicates);
    if stream {
        if outcome.output.truncated() {
            println!(
                "  ({} not kept)",
                stepguard::words::count(
                    outcome.output.dropped_lines,
                    "earlier line",
                    "earlier lines"
                )
            );
        }
        println!(
            "\nVERDICT {} — {} ({} ms)",
            judgement.verdict,
            sanitize_line(&judgement.reason, 500),
            outcome.duration.as_millis()
        );
        println!("sandbox: {}", outcome.sandbox.describe());
    }
    Ok(serde_json::json!({
        "verdict": judgement.verdict,
        "reason": judgement.reason,
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "duration_ms": outcome.duration.as_millis() as u64,
        "dropped_lines": outcome.output.dropped_lines,
        "sandbox": outcome.sandbox,
        "output": outcome.output.lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
    }))
}
