//! The whole behaviour of the screen as one pure function: a message in,
//! the model changed, effects out. Keys are routed here; the step's phase
//! changes only in `super::step` (the step closes on `p` through its gates,
//! or on a typed skip or halt, and nothing else).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::keys::{self, Command};
use super::model::*;
use super::msg::DraftJob;
use super::msg::{CheckKind, Effect, Msg};
use super::step;
use crate::digest::sha256_hex;
use crate::draft::compose;
use crate::sanitize::sanitize_line;
use crate::session::event::{ContextValue, Copied, DraftResult, IncidentContext};
use crate::session::Event;

pub fn update(model: &mut Model, msg: Msg) -> Vec<Effect> {
    let mut effects = handle(model, msg);
    // One place for every path that leaves what a request asked about.
    effects.extend(super::approval::still_asked(model));
    effects
}

fn handle(model: &mut Model, msg: Msg) -> Vec<Effect> {
    // Cards judge standing rules at the time the runtime handed in.
    model.ctx.now_secs = model.now_ms / 1000;
    match msg {
        Msg::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        Msg::Key(key) => on_key(model, key),
        Msg::Paste(text) => on_paste(model, text),
        Msg::Resize(..) => Vec::new(),
        Msg::Signal(name) => {
            let mut effects = Vec::new();
            if let Some((run_id, _)) = model.walk.as_ref().and_then(|w| w.running()) {
                effects.extend(cancel_check(run_id));
            }
            effects.push(Effect::Audit(Event::Quit {
                signal: Some(name.to_string()),
            }));
            effects.push(Effect::Quit);
            effects
        }
        Msg::Tick => {
            // A standing rule may have expired, or a large state been read:
            // the card says so now.
            let pending = model.walk.as_ref().is_some_and(|w| w.card.state_pending);
            if !model.ctx.rules.is_empty() || pending {
                step::recompose(model);
            }
            super::approval::tick(model)
        }
        Msg::ApprovalFiled { attempt, result } => super::approval::filed(model, attempt, result),
        Msg::ApprovalState { id, result } => super::approval::state(model, &id, result.map(|s| *s)),
        Msg::TeamRejections(team) => {
            // Merged with this machine's own, newest first; the card shows them.
            model
                .rejections
                .retain(|r| !r.decision.starts_with("rejected by"));
            model.rejections.extend(team);
            model.rejections.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
            Vec::new()
        }
        Msg::CheckLine {
            run_id,
            stream,
            text,
        } => {
            if let Some(walk) = running_walk(model, run_id) {
                walk.output.push(stream, text);
            }
            Vec::new()
        }
        Msg::CheckDone { run_id, result } => step::check_done(model, run_id, result),
        Msg::Copied {
            what,
            step,
            text,
            result,
        } => {
            // Recorded on the step it was copied from, even when the
            // result arrives after the walk moved on.
            let step_id = model
                .walk
                .as_ref()
                .and_then(|w| w.runbook.steps.get(step))
                .map(|s| s.id.clone())
                .unwrap_or_default();
            let event = Effect::Audit(Event::Copy(
                Copied::new(what, text, &result).on_step(step_id),
            ));
            model.status = Some(match result {
                Ok(method) => {
                    // Recorded on the step it was copied from.
                    if let Some(record) = model.walk.as_mut().and_then(|w| w.steps.get_mut(step)) {
                        record.copied.push(what.to_string());
                    }
                    format!("{what} copied ({method})")
                }
                Err(e) => format!("could not copy the {what}: {e}"),
            });
            vec![event]
        }
        Msg::Edited { step, result } => on_edited(model, step, result),
        Msg::Target(context) => {
            let context = sanitize_line(context.trim(), 100).into_owned();
            if context.is_empty() || !model.target.is_empty() {
                return Vec::new();
            }
            model.target = context.clone();
            vec![Effect::Audit(Event::Target { context })]
        }
        Msg::Rules(rules) => {
            model.ctx.rules = rules;
            step::recompose(model);
            Vec::new()
        }
        Msg::DraftProgress {
            step_index,
            generation,
            elapsed_ms,
            progress,
        } => {
            if let Some(slot) = draft_slot(model, step_index, generation) {
                slot.apply(elapsed_ms, progress);
            }
            Vec::new()
        }
        Msg::DraftDone {
            step_index,
            generation,
            result,
        } => on_draft_done(model, step_index, generation, result),
        Msg::Reranked {
            generation,
            asked,
            answer,
        } => {
            on_reranked(model, generation, asked, answer);
            Vec::new()
        }
    }
}

/// `Ctrl-R` in the picker: ask the model which of the five best runbooks
/// fits what the ranking read. Only the order can change; confidences stay
/// the ranker's, so a weak match still escalates.
fn ask_rerank(model: &mut Model) -> Vec<Effect> {
    if !model.model_enabled {
        model.status = Some("Ctrl-R asks the model about the ranking: no model (offline)".into());
        return Vec::new();
    }
    let Some((_, query)) = model
        .rank_query
        .clone()
        .filter(|_| !model.ranking.is_empty())
    else {
        model.status =
            Some("nothing is ranked yet: paste the cluster state, or open from an alert".into());
        return Vec::new();
    };
    if matches!(model.rerank, Rerank::Asking { .. }) {
        return Vec::new();
    }
    let ids = model
        .ranking
        .iter()
        .map(|&(i, _)| model.catalog[i].id.as_str());
    let candidates = crate::llm::rerank::candidates(ids, &model.catalog);
    model.rerank_asks += 1;
    let generation = model.rerank_asks;
    model.rerank = Rerank::Asking { generation };
    model.status = Some(format!(
        "asking the model which of the {} best fits…",
        candidates.len()
    ));
    vec![Effect::Rerank {
        generation,
        query,
        candidates,
    }]
}

fn on_reranked(
    model: &mut Model,
    generation: u64,
    asked: Vec<String>,
    answer: Result<crate::llm::rerank::Verdict, String>,
) {
    if model.rerank != (Rerank::Asking { generation }) {
        return;
    }
    let first = model
        .ranking
        .first()
        .map(|&(i, _)| model.catalog[i].id.clone())
        .unwrap_or_default();
    let said = crate::llm::rerank::describe(&answer, &first);
    let picked = match answer {
        Ok(crate::llm::rerank::Verdict::Picked(id)) if asked.contains(&id) => Some(id),
        _ => None,
    };
    if let Some(id) = &picked {
        let at = model
            .ranking
            .iter()
            .position(|&(i, _)| &model.catalog[i].id == id);
        if let Some(at) = at {
            let entry = model.ranking.remove(at);
            model.ranking.insert(0, entry);
            model.picker.selected = 0;
        }
    }
    model.status = Some(sanitize_line(&said, 200).into_owned());
    model.rerank = Rerank::Answered(crate::session::event::Reranked {
        model: model.drafter.clone(),
        asked,
        picked,
        said,
    });
}

/// The record of a runbook opened from a ranking: the five best with their
/// confidences, the model's answer if it was asked. None without a ranking.
fn matched_event(model: &Model, opened: &str) -> Option<Effect> {
    let (by, query) = model.rank_query.as_ref()?;
    if model.ranking.is_empty() {
        return None;
    }
    let ranked = model
        .ranking
        .iter()
        .take(5)
        .map(|&(i, confidence)| crate::session::event::RankedRunbook {
            id: model.catalog[i].id.clone(),
            confidence,
        })
        .collect();
    let rerank = match &model.rerank {
        Rerank::Answered(r) => Some(r.clone()),
        _ => None,
    };
    Some(Effect::Audit(Event::Matched(
        crate::session::event::Matched {
            by: by.to_string(),
            query_sha256: sha256_hex(query.as_bytes()),
            ranked,
            opened: opened.to_string(),
            rerank,
        },
    )))
}

fn draft_slot(model: &mut Model, step_index: usize, generation: u64) -> Option<&mut DraftSlot> {
    let walk = model.walk.as_mut().filter(|w| w.generation == generation)?;
    walk.drafts.get_mut(&step_index)
}

/// Ask for the current step's draft and prefetch the next one, unless they
/// are already here or on the way.
pub fn request_drafts(model: &mut Model, hint: Option<String>, fresh: bool) -> Vec<Effect> {
    if !model.model_enabled {
        return Vec::new();
    }
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    if walk.end().is_some() {
        return Vec::new();
    }
    let mut effects = Vec::new();
    let last = if model.prefetch {
        walk.index + 1
    } else {
        walk.index
    };
    for step_index in walk.index..=last {
        if step_index >= walk.runbook.steps.len() || walk.drafts.contains_key(&step_index) {
            continue;
        }
        walk.drafts.insert(
            step_index,
            DraftSlot::InFlight {
                elapsed_ms: 0,
                chars: 0,
                tail: String::new(),
                usage: None,
                note: None,
            },
        );
        let current = step_index == walk.index;
        // The human's earlier rejections of this very step, with their age.
        let mut history = walk.history();
        let step_id = &walk.runbook.steps[step_index].id;
        for r in model
            .rejections
            .iter()
            .filter(|r| r.runbook_id == walk.runbook.id && &r.step_id == step_id)
        {
            history.push(crate::llm::HistoryItem {
                step: format!("{step_id} in an earlier session ({})", r.session),
                outcome: format!("{} {}", r.said(), ago(model.now_ms, r.at_ms)),
                reason: r.reason.clone(),
            });
        }
        effects.push(Effect::RequestDraft {
            generation: walk.generation,
            job: Box::new(DraftJob {
                runbook: walk.runbook.clone(),
                step_index,
                ctx: model.ctx.clone(),
                history,
                hint: if current { hint.clone() } else { None },
                fresh: current && fresh,
            }),
        });
    }
    effects
}

fn on_draft_done(
    model: &mut Model,
    step_index: usize,
    generation: u64,
    result: Result<Box<crate::llm::ModelOutcome>, crate::llm::DraftFailure>,
) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut().filter(|w| w.generation == generation) else {
        return Vec::new();
    };
    // Only a draft still awaited counts (not one cancelled or superseded).
    if !matches!(
        walk.drafts.get(&step_index),
        Some(DraftSlot::InFlight { .. })
    ) {
        return Vec::new();
    }
    let step = walk.runbook.steps[step_index].id.clone();
    let event = Effect::Audit(Event::Draft(DraftResult::new(step, &result)));
    match result {
        Ok(outcome) => {
            walk.drafts.insert(step_index, DraftSlot::Ready(outcome));
            if step_index == walk.index {
                step::recompose(model);
            }
        }
        Err(failure) => {
            let e = sanitize_line(&failure.reason, 200).into_owned();
            // A reply that came but was not usable is not an unavailable model.
            model.banner = Some(if failure.metrics.is_some() {
                format!("model draft not used ({e}): this card is offline, from the runbook's templates")
            } else {
                format!("model unavailable ({e}): drafting offline from the runbook's templates")
            });
            model.drafter = "offline (fallback)".into();
            walk.drafts.insert(step_index, DraftSlot::Failed(e));
        }
    }
    vec![event]
}

fn running_walk(model: &mut Model, run_id: u64) -> Option<&mut Walk> {
    model
        .walk
        .as_mut()
        .filter(|w| w.running().is_some_and(|(id, _)| id == run_id))
}

fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
}

fn on_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    match &model.overlay {
        Overlay::Help => {
            model.overlay = Overlay::None;
            return Vec::new();
        }
        Overlay::Prompt(_) => return on_prompt_key(model, key),
        Overlay::State { .. } => return on_state_key(model, key),
        Overlay::Viewer(_) => {
            on_viewer_key(model, key);
            return Vec::new();
        }
        Overlay::None => {}
    }
    if model
        .walk
        .as_ref()
        .is_some_and(|w| matches!(w.phase, Phase::Gating { .. }))
        && model.nav == Screen::Walk
    {
        return on_gate_key(model, key);
    }
    match model.screen() {
        Screen::Alerts => on_alerts_key(model, key),
        Screen::Picker => on_picker_key(model, key),
        Screen::Walk => on_walk_key(model, key),
        Screen::End => match key.code {
            KeyCode::Char('q') | KeyCode::Enter | KeyCode::Esc => quit(),
            _ if is_ctrl_c(&key) => quit(),
            _ => Vec::new(),
        },
    }
}

fn on_picker_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    if is_ctrl_c(&key) {
        return quit();
    }
    let count = model.filtered().len();
    match key.code {
        KeyCode::Esc if model.picker.filter.is_empty() => return quit(),
        KeyCode::Esc => model.picker.filter.clear(),
        KeyCode::Up => model.picker.selected = model.picker.selected.saturating_sub(1),
        KeyCode::Down => {
            model.picker.selected = (model.picker.selected + 1).min(count.saturating_sub(1))
        }
        KeyCode::Backspace => {
            model.picker.filter.pop();
        }
        KeyCode::Char('r') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            return ask_rerank(model);
        }
        KeyCode::Enter => {
            if let Some(&i) = model.filtered().get(model.picker.selected) {
                let runbook = model.catalog[i].clone();
                let matched = matched_event(model, &runbook.id);
                model.start_walk(runbook);
                let mut effects = vec![Effect::StartSession];
                effects.extend(matched);
                effects.extend(request_drafts(model, None, false));
                return effects;
            }
            return Vec::new();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            model.picker.filter.push(c)
        }
        _ => {}
    }
    model.picker.selected = model
        .picker
        .selected
        .min(model.filtered().len().saturating_sub(1));
    Vec::new()
}

fn on_walk_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let running = walk.running().is_some();
    if is_ctrl_c(&key) || key.code == KeyCode::Esc {
        if let Some((run_id, _)) = walk.running() {
            model.status = Some("cancelling…".into());
            return cancel_check(run_id);
        }
        if let Some(DraftSlot::InFlight { .. }) = walk.drafts.get(&walk.index) {
            let (step_index, generation) = (walk.index, walk.generation);
            walk.drafts
                .insert(step_index, DraftSlot::Failed("cancelled".into()));
            model.status = Some(
                "draft cancelled: the card shows the runbook's templates (d drafts again)".into(),
            );
            return vec![Effect::CancelDraft {
                step_index,
                generation,
            }];
        }
        model.status = Some("nothing is running (q quits; the session is kept)".into());
        return Vec::new();
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) || key.modifiers.contains(KeyModifiers::ALT) {
        return Vec::new();
    }
    let Some(command) = keys::command(key.code) else {
        return Vec::new();
    };
    if running && !keys::applies(command, walk, model.model_enabled) {
        model.status = Some("a command is running: wait, or Esc to cancel it".into());
        return Vec::new();
    }
    match command {
        Command::RunPreflight => return step::start_check(model, CheckKind::Preflight),
        Command::RunVerify => return step::start_check(model, CheckKind::Verify),
        Command::Proceed => return step::proceed(model),
        Command::CopyAction => match walk.action() {
            Some(_) if !walk.missing_for(false).is_empty() => {
                model.status = Some(format!(
                    "not copied: the action lacks {} (= sets a value)",
                    walk.missing_for(false).join(", ")
                ))
            }
            Some(text) => {
                // An action aimed elsewhere than this session is not copied
                // without a reason.
                if let Some(mismatch) = wrong_target(text, walk, &model.target) {
                    model.overlay =
                        Overlay::Prompt(Prompt::new(PromptKind::CopyOverride { mismatch }));
                    return Vec::new();
                }
                return vec![Effect::Copy {
                    what: "action",
                    step: walk.index,
                    text: text.to_string(),
                }];
            }
            None => model.status = Some("this step has no action".into()),
        },
        Command::CopyRollback => match walk.card.rollback.command() {
            Some(_) if !walk.missing_for(true).is_empty() => {
                model.status = Some(format!(
                    "not copied: the rollback lacks {} (= sets a value)",
                    walk.missing_for(true).join(", ")
                ))
            }
            Some(text) => {
                return vec![Effect::Copy {
                    what: "rollback",
                    step: walk.index,
                    text: text.to_string(),
                }]
            }
            None => {
                model.status = Some(match &walk.card.rollback {
                    crate::draft::card::CardRollback::None { reason } => {
                        format!("no rollback: {reason}")
                    }
                    _ => "this step has no rollback".into(),
                })
            }
        },
        Command::EditAction => match walk.action() {
            Some(text) => {
                return vec![Effect::EditAction {
                    step: walk.index,
                    text: text.to_string(),
                }]
            }
            None => model.status = Some("this step has no action to edit".into()),
        },
        Command::Skip => model.overlay = Overlay::Prompt(Prompt::new(PromptKind::SkipReason)),
        Command::Redraft if model.model_enabled => {
            model.overlay = Overlay::Prompt(Prompt::new(PromptKind::RedraftHint))
        }
        Command::Redraft => model.status = Some("no model configured: drafting is offline".into()),
        Command::Halt => model.overlay = Overlay::Prompt(Prompt::new(PromptKind::HaltReason)),
        Command::PasteState => {
            model.overlay = Overlay::State {
                pending: None,
                lines: 0,
                warning: None,
            }
        }
        Command::Help => model.overlay = Overlay::Help,
        Command::ViewState => match model.ctx.state_text() {
            Some(text) => model.overlay = Overlay::Viewer(Box::new(Viewer::of(text))),
            None => model.status = Some("no state pasted yet: i pastes it".into()),
        },
        Command::SetValue => match set_value_prompt(walk, None) {
            Some(prompt) => model.overlay = Overlay::Prompt(prompt),
            None => model.status = Some("this step uses no values".into()),
        },
        Command::Quit => {
            let mut effects = Vec::new();
            if let Some((run_id, _)) = walk.running() {
                effects.extend(cancel_check(run_id));
            }
            effects.extend(quit());
            return effects;
        }
        // Handled above, before the table: it must work whatever runs.
        Command::Cancel => {}
        Command::Focus => {
            walk.focus = match walk.focus {
                Focus::Card => Focus::Output,
                Focus::Output => Focus::Card,
            }
        }
        Command::Up => scroll(walk, 1, true),
        Command::Down => scroll(walk, 1, false),
        Command::PageUp => scroll(walk, 10, true),
        Command::PageDown => scroll(walk, 10, false),
        Command::Top => scroll(walk, usize::MAX, true),
        Command::Bottom => scroll(walk, usize::MAX, false),
        Command::Left => walk.output.hscroll = walk.output.hscroll.saturating_sub(8),
        Command::Right => {
            // No further than the longest line's end stays in view.
            let longest = walk
                .output
                .lines
                .iter()
                .map(|(_, l)| l.chars().count())
                .max()
                .unwrap_or(0);
            let limit = u16::try_from(longest.saturating_sub(20)).unwrap_or(u16::MAX);
            walk.output.hscroll = walk.output.hscroll.saturating_add(8).min(limit);
        }
    }
    Vec::new()
}

/// The `=` prompt for `name`, or for the step's first missing value, else
/// its first unverified one, else its first.
fn set_value_prompt(walk: &Walk, name: Option<&str>) -> Option<Prompt> {
    let values = &walk.card.values;
    let value = match name {
        Some(name) => values.iter().find(|v| v.name == name)?,
        None => values
            .iter()
            .find(|v| v.value.is_none())
            .or_else(|| values.iter().find(|v| !v.verified))
            .or_else(|| values.first())?,
    };
    let var = walk.runbook.variables.get(&value.name);
    let mut about = var
        .map(|v| sanitize_line(&v.description, 80).into_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "a value of this step".into());
    match &value.value {
        Some(current) => about.push_str(&format!(" (now {})", sanitize_line(current, 60))),
        None => about.push_str(" (missing)"),
    }
    let mut choices: Vec<String> = value.value.iter().cloned().collect();
    for c in value_choices(value) {
        if !choices.contains(&c) {
            choices.push(c);
        }
    }
    // Kept as they are (each valid for the variable): a choice cut or
    // escaped for the screen would be another value once picked. The
    // prompt's title sanitizes and cuts them where it shows them.
    let choices = choices.into_iter().take(8).collect();
    Some(Prompt::new(PromptKind::SetValue {
        name: value.name.clone(),
        about,
        choices,
    }))
}

/// Other values the context offers for a variable: its valid candidates
/// (`--var`, alert labels, what the state shows, ranked; the default).
/// Rejected values are never offered.
fn value_choices(value: &crate::draft::ResolvedValue) -> Vec<String> {
    value.candidates.iter().map(|c| c.value.clone()).collect()
}

/// Enter on `=`: the value is taken only if the variable's pattern accepts
/// it; then it is the engineer's (like `--var`), recorded, every command is
/// rendered again, and a verdict on the old command no longer counts.
fn set_value(model: &mut Model, name: String, input: String) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let checked = match walk.runbook.variables.get(&name) {
        Some(var) => var.validate(&input),
        None => Err("not a variable of this runbook".into()),
    };
    if let Err(why) = checked {
        if let Overlay::Prompt(prompt) = &mut model.overlay {
            prompt.error = Some(format!("not taken: {why}"));
        }
        return Vec::new();
    }
    model.overlay = Overlay::None;
    let previous = walk
        .card
        .values
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.value.clone());
    if previous.as_deref() == Some(input.as_str()) && model.ctx.vars.get(&name) == Some(&input) {
        model.status = Some(format!("{name} is already {input}"));
        return Vec::new();
    }
    model.ctx.vars.insert(name.clone(), input.clone());
    // Drafts were made with the old values.
    walk.generation += 1;
    walk.drafts.clear();
    let dropped = walk.replace_card(compose(&walk.runbook, walk.index, &model.ctx, None));
    walk.preflight = None;
    walk.verify = None;
    let step = walk.card.step_id.clone();
    model.status = Some(format!(
        "{name} set to {} (recorded); r runs the pre-flight with it{}",
        sanitize_line(&input, 60),
        if dropped {
            "; the edited action was for the old value and is dropped (e edits again)"
        } else {
            ""
        }
    ));
    let mut effects = vec![
        Effect::Audit(Event::Value {
            step,
            name,
            value: input,
            previous,
            found: None,
            voided: false,
        }),
        context_event(model),
    ];
    effects.extend(request_drafts(model, None, false));
    effects
}

/// The state viewer: scroll, sideways, search (`/`, `n`, `N`), Esc/q close.
fn on_viewer_key(model: &mut Model, key: KeyEvent) {
    let Overlay::Viewer(viewer) = &mut model.overlay else {
        return;
    };
    let text = model.ctx.state_text().unwrap_or("");
    if let Some(typing) = &mut viewer.typing {
        match key.code {
            KeyCode::Esc => viewer.typing = None,
            KeyCode::Backspace => {
                typing.pop();
            }
            KeyCode::Enter => {
                viewer.query = std::mem::take(typing);
                viewer.typing = None;
                let from = viewer.hit.unwrap_or(viewer.top).wrapping_sub(1);
                jump(viewer, text, from.min(viewer.starts.len() - 1), true);
            }
            KeyCode::Char(c)
                if !key.modifiers.contains(KeyModifiers::CONTROL)
                    && typing.chars().count() < 200 =>
            {
                typing.push(c)
            }
            _ if is_ctrl_c(&key) => viewer.typing = None,
            _ => {}
        }
        return;
    }
    let last = viewer.starts.len().saturating_sub(1);
    let page = viewer.page.get().max(1);
    let max_top = viewer.starts.len().saturating_sub(page);
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') => model.overlay = Overlay::None,
        _ if is_ctrl_c(&key) => model.overlay = Overlay::None,
        KeyCode::Char('/') => viewer.typing = Some(String::new()),
        KeyCode::Char('n') => jump(viewer, text, viewer.hit.unwrap_or(viewer.top), true),
        KeyCode::Char('N') => jump(viewer, text, viewer.hit.unwrap_or(viewer.top), false),
        KeyCode::Up | KeyCode::Char('k') => viewer.top = viewer.top.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => viewer.top = (viewer.top + 1).min(max_top),
        KeyCode::PageUp => viewer.top = viewer.top.saturating_sub(page),
        KeyCode::PageDown | KeyCode::Char(' ') => viewer.top = (viewer.top + page).min(max_top),
        KeyCode::Home | KeyCode::Char('g') => viewer.top = 0,
        KeyCode::End | KeyCode::Char('G') => viewer.top = max_top.min(last),
        KeyCode::Left => viewer.hscroll = viewer.hscroll.saturating_sub(8),
        KeyCode::Right => viewer.hscroll = viewer.hscroll.saturating_add(8).min(4096),
        _ => {}
    }
}

/// Move the viewer to the next match of its query from line `from`.
fn jump(viewer: &mut Viewer, text: &str, from: usize, forward: bool) {
    match viewer.find(text, from, forward) {
        Some(i) => {
            viewer.hit = Some(i);
            // The match a few lines below the top, so its context shows.
            viewer.top = i.saturating_sub(3);
            viewer.note = None;
        }
        None if viewer.query.is_empty() => viewer.note = Some("/ types a search".into()),
        None => {
            viewer.hit = None;
            viewer.note = Some(format!("not found: {}", sanitize_line(&viewer.query, 60)));
        }
    }
}

fn scroll(walk: &mut Walk, by: usize, up: bool) {
    match walk.focus {
        Focus::Output => {
            let max = walk.output.lines.len();
            walk.output.scroll = if up {
                walk.output.scroll.saturating_add(by).min(max)
            } else {
                walk.output.scroll.saturating_sub(by)
            };
        }
        Focus::Card => {
            let by = u16::try_from(by).unwrap_or(u16::MAX);
            // From where the card is drawn (the last page may have grown
            // since: the pinned rollback leaves once it is in view).
            let max = walk.card_max_scroll.get();
            let at = walk.card_scroll.min(max);
            walk.card_scroll = if up {
                at.saturating_sub(by)
            } else {
                at.saturating_add(by).min(max)
            };
        }
    }
}

fn on_prompt_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    let Overlay::Prompt(prompt) = &mut model.overlay else {
        return Vec::new();
    };
    if is_ctrl_c(&key) || key.code == KeyCode::Esc {
        model.overlay = Overlay::None;
        model.status = Some("cancelled: nothing changed".into());
        return Vec::new();
    }
    if let PromptKind::SetValue { name, choices, .. } = &prompt.kind {
        match key.code {
            KeyCode::Tab => {
                let Some(walk) = model.walk.as_ref() else {
                    return Vec::new();
                };
                let values = &walk.card.values;
                // A restored prompt may sit on a step with no values.
                if values.is_empty() {
                    return Vec::new();
                }
                let at = values.iter().position(|v| &v.name == name).unwrap_or(0);
                let next = &values[(at + 1) % values.len()].name;
                if let Some(p) = set_value_prompt(walk, Some(next)) {
                    model.overlay = Overlay::Prompt(p);
                }
                return Vec::new();
            }
            KeyCode::Up | KeyCode::Down if !choices.is_empty() => {
                let at = choices.iter().position(|c| *c == prompt.input);
                let next = match (at, key.code == KeyCode::Down) {
                    (None, _) => 0,
                    (Some(i), true) => (i + 1) % choices.len(),
                    (Some(i), false) => (i + choices.len() - 1) % choices.len(),
                };
                prompt.input = choices[next].clone();
                prompt.error = None;
                return Vec::new();
            }
            _ => {}
        }
    }
    match key.code {
        KeyCode::Enter => {}
        KeyCode::Backspace => {
            prompt.input.pop();
            return Vec::new();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            if prompt.input.chars().count() < 500 {
                prompt.input.push(c);
            }
            prompt.error = None;
            return Vec::new();
        }
        _ => return Vec::new(),
    }
    // Enter.
    let input = prompt.input.trim().to_string();
    match prompt.kind.clone() {
        // Gates are answered in `on_gate_key`, never through the overlay.
        PromptKind::Gate(_) => {
            model.overlay = Overlay::None;
            Vec::new()
        }
        PromptKind::SkipReason | PromptKind::HaltReason | PromptKind::CopyOverride { .. }
            if input.is_empty() =>
        {
            prompt.error = Some("a reason is required".into());
            Vec::new()
        }
        PromptKind::SkipReason => step::finish_step(model, StepStatus::Skipped, input),
        PromptKind::HaltReason => step::finish_step(model, StepStatus::Halted, input),
        PromptKind::CopyOverride { mismatch } => {
            model.overlay = Overlay::None;
            let Some((step, text)) = model
                .walk
                .as_ref()
                .and_then(|w| Some((w.index, w.action()?.to_string())))
            else {
                return Vec::new();
            };
            vec![
                Effect::Audit(Event::Override {
                    what: "copy to another target".into(),
                    mismatch,
                    reason: input,
                }),
                Effect::Copy {
                    what: "action",
                    step,
                    text,
                },
            ]
        }
        PromptKind::SetValue { .. } if input.is_empty() => {
            prompt.error = Some("type a value, or ↑/↓ to pick one (Esc cancels)".into());
            Vec::new()
        }
        PromptKind::SetValue { name, .. } => set_value(model, name, input),
        PromptKind::RedraftHint => {
            model.overlay = Overlay::None;
            let Some(walk) = model.walk.as_mut() else {
                return Vec::new();
            };
            walk.drafts.remove(&walk.index);
            model.status = Some("re-drafting…".into());
            let hint = (!input.is_empty()).then_some(input);
            request_drafts(model, hint, true)
        }
    }
}

fn on_state_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    let Overlay::State { pending, .. } = &mut model.overlay else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Enter => {
            let pending = pending.take();
            model.overlay = Overlay::None;
            if let Some(text) = pending {
                return set_state(model, text);
            }
        }
        KeyCode::Esc => {
            model.overlay = Overlay::None;
            model.status = Some("state unchanged".into());
        }
        _ if is_ctrl_c(&key) => model.overlay = Overlay::None,
        _ => {}
    }
    Vec::new()
}

/// A paste is text for whatever asks for text. It never acts as a key:
/// a "p" or an Enter inside it does nothing but become text.
fn on_paste(model: &mut Model, text: String) -> Vec<Effect> {
    // tmux and some terminals send CR for newlines inside a paste.
    // In place: a 50 MB paste must not be copied twice over.
    let text = crate::draft::pasted::normalize_newlines(text);
    let gating = model
        .walk
        .as_ref()
        .is_some_and(|w| matches!(w.phase, Phase::Gating { .. }));
    if gating && matches!(model.overlay, Overlay::None) {
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        step::gate_input(model, &line, true);
        return Vec::new();
    }
    match &mut model.overlay {
        Overlay::Prompt(prompt) => {
            let accepts = match &prompt.kind {
                PromptKind::Gate(g) => g.accepts_paste(),
                _ => true,
            };
            if accepts {
                let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
                prompt
                    .input
                    .push_str(&line.chars().take(500).collect::<String>());
            } else {
                prompt.error = Some("type it: a paste does not confirm".into());
            }
        }
        Overlay::State { .. } | Overlay::Help | Overlay::Viewer(_) | Overlay::None => {
            model.overlay = Overlay::State {
                lines: text.lines().count(),
                warning: crate::draft::pasted::assess(&text).map(|w| w.to_string()),
                pending: Some(text),
            };
        }
    }
    Vec::new()
}

/// Replace the pasted state and re-draft the card from it. A pre-flight
/// verdict stays valid only if the command it judged is still the one shown.
fn set_state(model: &mut Model, text: String) -> Vec<Effect> {
    model.ctx.state = Some(std::sync::Arc::new(text.into()));
    model.state = StateView::of(model.ctx.state_text());
    let mut dropped = false;
    if let Some(walk) = model.walk.as_mut() {
        // Drafts (prefetched ones too) were made from the old state.
        walk.generation += 1;
        walk.drafts.clear();
        dropped = walk.replace_card(compose(&walk.runbook, walk.index, &model.ctx, None));
    }
    model.status = Some(format!(
        "state replaced: {} lines; values re-drafted{}",
        model.state.lines,
        if dropped {
            "; the edited action was for the old values and is dropped (e edits again)"
        } else {
            ""
        }
    ));
    model.state_version += 1;
    if model.nav == Screen::Picker {
        model.rank_catalog();
        model.picker.selected = 0;
    }
    let mut effects = vec![context_event(model)];
    effects.extend(request_drafts(model, None, false));
    effects
}

/// What the human told us, for the audit log: a digest of the state (never
/// the state itself) and the values in use with where they came from.
pub fn context_event(model: &Model) -> Effect {
    let state_sha256 = model
        .ctx
        .state
        .as_ref()
        .map_or_else(|| sha256_hex(b""), |s| s.sha256().to_string());
    let values = model
        .walk
        .as_ref()
        .map(|w| w.card.values.iter().map(ContextValue::from).collect())
        .unwrap_or_default();
    Effect::Audit(Event::Context(IncidentContext {
        state_sha256,
        state_lines: model.state.lines,
        state_bytes: model.state.bytes,
        vars: model.ctx.vars.clone(),
        alert: model.ctx.alert.as_ref().map(|a| a.labels.clone()),
        values,
    }))
}

fn on_edited(model: &mut Model, step: usize, result: Result<String, String>) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    if step != walk.index || walk.end().is_some() {
        model.status = Some("edit dropped: it was for another step (e edits this one)".into());
        return Vec::new();
    }
    match result {
        Ok(text) => {
            let text = text.trim_end_matches('\n').to_string();
            if walk.action() == Some(text.as_str()) {
                model.status = Some("action unchanged".into());
                return Vec::new();
            }
            let before = walk.action().unwrap_or_default().to_string();
            walk.edited_action = Some(text.clone());
            walk.steps[walk.index].edited = true;
            // The approval was for another action: judge the world again,
            // and gates asked for the old action are asked again by `p`.
            walk.preflight = None;
            if matches!(walk.phase, Phase::Gating { .. }) {
                walk.phase = Phase::Reading;
            }
            model.status = Some("action edited (recorded); run the pre-flight again (r)".into());
            vec![Effect::Audit(Event::Edit {
                step: walk.card.step_id.clone(),
                before,
                after: text,
            })]
        }
        Err(e) => {
            model.status = Some(format!("edit failed: {e}"));
            Vec::new()
        }
    }
}

/// Where an action points (`--context`, `-n`/`--namespace`, `--region`) when
/// that differs from this session's target: the kube context, and the
/// step's own `namespace`/`region` values.
pub fn wrong_target(action: &str, walk: &Walk, context: &str) -> Option<String> {
    let words = shlex::split(action)?;
    let value_of = |name: &str| {
        walk.card
            .values
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.value.clone())
    };
    let expected = |flag: &str| -> Option<String> {
        match flag {
            "context" => (!context.is_empty()).then(|| context.to_string()),
            "namespace" => value_of("namespace"),
            "region" => value_of("region"),
            _ => None,
        }
    };
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let (flag, value) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (w.clone(), words.get(i + 1).cloned()),
        };
        let name = match flag.as_str() {
            "--context" | "--kube-context" => "context",
            "-n" | "--namespace" => "namespace",
            "--region" => "region",
            _ => {
                i += 1;
                continue;
            }
        };
        if let (Some(value), Some(want)) = (value, expected(name)) {
            if value != want {
                return Some(format!(
                    "the action's {name} is '{value}' but this session's is '{want}'"
                ));
            }
        }
        i += 1;
    }
    None
}

/// The alert list: ↑↓ choose, Enter starts from that alert (its labels are
/// values, the runbook it matches opens; below the threshold the picker
/// opens ranked by it), Esc goes to the runbook picker.
fn on_alerts_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    if is_ctrl_c(&key) {
        return quit();
    }
    let count = model.alerts.len();
    match key.code {
        KeyCode::Up => model.alert_selected = model.alert_selected.saturating_sub(1),
        KeyCode::Down => {
            model.alert_selected = (model.alert_selected + 1).min(count.saturating_sub(1))
        }
        KeyCode::Esc => model.nav = Screen::Picker,
        KeyCode::Char('q') => return quit(),
        KeyCode::Enter => {
            let Some(alert) = model.alerts.get(model.alert_selected).cloned() else {
                return Vec::new();
            };
            let best = model.best_for(&alert);
            let answering = best.map_or(0, |(_, _, ties)| ties);
            let name = alert.name().unwrap_or_default().to_string();
            model.ctx.alert = Some(alert);
            model.rank_catalog();
            model.picker.selected = 0;
            match best {
                // Several runbooks list the alert: which one is for the
                // human to pick, not for the order of their words.
                Some(_) if answering > 1 => {
                    model.nav = Screen::Picker;
                    model.status = Some(format!(
                        "{answering} runbooks answer {} equally: pick one (the best match is first)",
                        sanitize_line(&name, 60)
                    ));
                }
                Some((i, c, _)) if c >= model.policy.match_threshold => {
                    let runbook = model.catalog[i].clone();
                    let matched = matched_event(model, &runbook.id);
                    model.start_walk(runbook);
                    let mut effects = vec![Effect::StartSession];
                    effects.extend(matched);
                    effects.push(context_event(model));
                    effects.extend(request_drafts(model, None, false));
                    return effects;
                }
                _ => {
                    model.nav = Screen::Picker;
                    model.status = Some(
                        "no runbook matches this alert well: pick one, or halt and escalate".into(),
                    );
                }
            }
        }
        _ => {}
    }
    Vec::new()
}

/// A gate of `p` is asked: type, Enter answers, Esc cancels the whole `p`.
fn on_gate_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    if is_ctrl_c(&key) || key.code == KeyCode::Esc {
        step::cancel_gates(model);
        return Vec::new();
    }
    match key.code {
        KeyCode::Enter => return step::gate_enter(model),
        KeyCode::Backspace => step::gate_backspace(model),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            step::gate_input(model, &c.to_string(), false)
        }
        _ => {}
    }
    Vec::new()
}

/// Quitting, recorded (the session is kept).
fn quit() -> Vec<Effect> {
    vec![Effect::Audit(Event::Quit { signal: None }), Effect::Quit]
}

/// Cancelling a running check, recorded.
fn cancel_check(run_id: u64) -> Vec<Effect> {
    vec![
        Effect::CancelCheck { run_id },
        Effect::Audit(Event::Cancel { run_id }),
    ]
}
