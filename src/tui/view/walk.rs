//! The walk: header, steps, state, the card, streaming output, verdict, keys.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{clean, footer, footer_height, span, Theme};
use crate::draft::card::{CardCheck, CardRollback};
use crate::exec::{Stream, Verdict};
use crate::tui::model::{DraftSlot, Focus, Model, Phase, StepStatus, Walk};
use crate::tui::msg::CheckKind;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let Some(walk) = &model.walk else { return };
    let keys = crate::tui::keys::footer(walk, model.model_enabled);
    let [header, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(footer_height(&keys, area.width)),
    ])
    .areas(area);
    draw_header(frame, header, model, walk, theme);

    // Narrow terminals give the card the whole width; the header still
    // says which step this is and how much state was pasted.
    let left_width = match body.width {
        0..90 => 0,
        90..120 => 24,
        _ => 34,
    };
    let [left, main] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(20)]).areas(body);
    if left_width > 0 {
        let [steps_area, state_area] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(left);
        draw_steps(frame, steps_area, walk, theme);
        draw_state(frame, state_area, model, theme);
    }

    // Before anything ran the card gets the room; output takes 2/5 once it streams.
    let idle = walk.output.lines.is_empty() && !matches!(walk.phase, Phase::Checking { .. });
    let output_height = if idle {
        4
    } else {
        (main.height * 2 / 5).max(5)
    };
    let [card_area, output_area] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(output_height)]).areas(main);
    draw_card(frame, card_area, model, walk, theme);
    draw_output(frame, output_area, model, walk, theme);
    footer(frame, foot, model, &keys, theme);
}

fn draw_header(frame: &mut Frame, area: Rect, model: &Model, walk: &Walk, theme: Theme) {
    let mut spans = vec![
        Span::styled(" stepguard ", theme.heading()),
        span(&walk.runbook.id, theme.command()),
        Span::raw(format!(
            " · step {}/{} · ",
            walk.index + 1,
            walk.runbook.steps.len()
        )),
        Span::styled(
            format!("risk {}", walk.risk()),
            risk_style(walk.risk(), theme),
        ),
    ];
    if model.unsandboxed.is_some() {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled("NO SANDBOX", theme.danger()));
    }
    spans.extend([Span::raw(" · "), span(&model.drafter, Style::default())]);
    if model.state.lines > 0 {
        spans.push(Span::raw(format!(" · state {} lines", model.state.lines)));
    }
    if !model.target.is_empty() {
        spans.push(Span::raw(" · target "));
        spans.push(span(&model.target, Style::default()));
    }
    if !model.session_id.is_empty() {
        spans.push(Span::raw(" · session "));
        spans.push(span(&model.session_id, theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn risk_style(risk: crate::runbook::Risk, theme: Theme) -> Style {
    use crate::runbook::Risk::*;
    match risk {
        Low => theme.ok(),
        Medium => theme.warn(),
        High | Critical => theme.danger(),
    }
}

fn draw_steps(frame: &mut Frame, area: Rect, walk: &Walk, theme: Theme) {
    let width = area.width.saturating_sub(6) as usize;
    let lines: Vec<Line> = walk
        .runbook
        .steps
        .iter()
        .zip(&walk.steps)
        .enumerate()
        .map(|(i, (step, record))| {
            let (mark, style) = if i == walk.index && walk.end().is_none() {
                ("▶", theme.selected())
            } else {
                match record.status {
                    StepStatus::Pending => ("·", theme.dim()),
                    StepStatus::Proceeded(Some(Verdict::Stop)) => ("!", theme.danger()),
                    StepStatus::Proceeded(_) => ("✓", theme.ok()),
                    StepStatus::Skipped => ("↷", theme.warn()),
                    StepStatus::Halted => ("■", theme.danger()),
                }
            };
            let title: String = clean(&step.title).chars().take(width).collect();
            Line::from(Span::styled(format!("{mark} {:>2} {title}", i + 1), style))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" steps ")),
        area,
    );
}

fn draw_state(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let title = if model.state.lines == 0 {
        " state (i) ".to_string()
    } else {
        format!(" state · {} lines (i) ", model.state.lines)
    };
    let lines: Vec<Line> = if model.state.lines == 0 {
        vec![Line::from(span("none: press i, then paste", theme.dim()))]
    } else {
        let rows = area.height.saturating_sub(2) as usize;
        model
            .state
            .preview
            .iter()
            .take(rows)
            .map(|l| Line::from(Span::raw(l.clone())))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn check_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    heading: &str,
    who: &str,
    check: &CardCheck,
    theme: Theme,
) {
    lines.push(Line::from(vec![
        Span::styled(heading.to_string(), theme.heading()),
        Span::styled(format!("  {who}"), theme.dim()),
    ]));
    lines.push(Line::from(vec![
        Span::styled("$ ", theme.dim()),
        span(&check.command, theme.command()),
    ]));
    let mut rules = Vec::new();
    if let Some(p) = &check.stop_if {
        rules.push(Span::styled("  stop if ", theme.danger()));
        rules.push(span(&format!("/{p}/"), Style::default()));
    }
    if let Some(p) = &check.proceed_if {
        rules.push(Span::styled("  proceed if ", theme.ok()));
        rules.push(span(&format!("/{p}/"), Style::default()));
    }
    if !rules.is_empty() {
        lines.push(Line::from(rules));
    }
    if !check.explain.is_empty() {
        lines.push(Line::from(span(
            &format!("  rule: {}", check.explain),
            Style::default(),
        )));
    }
    if !check.guard.allowed {
        // A check waiting for values was not judged: its reason says `missing: …`.
        let label = if check.missing.is_empty() {
            "guard: "
        } else {
            ""
        };
        lines.push(Line::from(span(
            &format!("  {label}{}", check.guard.reason),
            theme.danger(),
        )));
    }
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// One line on the model's draft of this step: streaming, done, or nothing.
fn draft_status(walk: &Walk, drafter: &str, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match walk.drafts.get(&walk.index) {
        Some(DraftSlot::InFlight {
            elapsed_ms,
            chars,
            tail,
            usage,
            note,
        }) => {
            let mut text = format!(
                "{} drafting with {drafter} · {:.1}s · {chars} chars",
                SPINNER[(*elapsed_ms / 100) as usize % SPINNER.len()],
                *elapsed_ms as f64 / 1000.0
            );
            if let Some((p, c)) = usage {
                text.push_str(&format!(" · tokens {p} in, {c} out"));
            }
            text.push_str(
                " · the card below is the runbook's own until the draft lands (Esc stops it)",
            );
            lines.push(Line::from(span(&text, theme.warn())));
            if let Some(n) = note {
                lines.push(Line::from(span(&format!("  {n}"), theme.dim())));
            }
            let last = tail.lines().last().unwrap_or("").trim();
            if !last.is_empty() {
                lines.push(Line::from(span(&format!("  … {last}"), theme.dim())));
            }
        }
        Some(DraftSlot::Ready(outcome)) => {
            let mut text = format!("drafted by {}", outcome.model);
            if outcome.cached {
                text.push_str(" (cached)");
            }
            if let Some((p, c)) = outcome.usage {
                text.push_str(&format!(" · tokens {p} in, {c} out"));
            }
            text.push_str(if walk.card.model_commands {
                " · the commands are the model's: read them; the guard checks every run"
            } else {
                " · values and flags only; commands are code's"
            });
            lines.push(Line::from(span(&text, theme.dim())));
        }
        _ => {}
    }
    lines
}

fn card_lines(model: &Model, walk: &Walk, theme: Theme) -> Vec<Line<'static>> {
    let card = &walk.card;
    let mut lines: Vec<Line> = draft_status(walk, &model.drafter, theme);
    for r in model
        .rejections_for(&walk.runbook.id, &card.step_id)
        .into_iter()
        .take(3)
    {
        let what = if r.decision == "halt" {
            "halted"
        } else {
            "skipped"
        };
        lines.push(Line::from(span(
            &format!(
                "{what} {} (session {}): {}",
                crate::tui::model::ago(model.now_ms, r.at_ms),
                r.session,
                r.reason
            ),
            theme.warn(),
        )));
    }
    if !card.intent.is_empty() {
        lines.push(Line::from(span(&card.intent, Style::default())));
    }
    if card.manual {
        lines.push(Line::from(span(
            "MANUAL STEP: no commands in the runbook; do it by hand, then p and note what you did.",
            theme.warn(),
        )));
    }
    if let Some(check) = &card.preflight {
        let who = if model.unsandboxed.is_some() {
            "stepguard runs this (r) · NOT sandboxed: the guard alone checks it"
        } else {
            "stepguard runs this (r)"
        };
        check_lines(&mut lines, "PRE-FLIGHT", who, check, theme);
    }
    if let Some(action) = &card.action {
        let who = if walk.edited_action.is_some() {
            "you run this (a copies) · EDITED"
        } else {
            "you run this (a copies)"
        };
        lines.push(Line::from(vec![
            Span::styled("ACTION", theme.warn()),
            Span::styled(format!("  {who}"), theme.dim()),
        ]));
        lines.push(Line::from(vec![
            Span::styled("$ ", theme.dim()),
            span(walk.action().unwrap_or(&action.command), theme.command()),
        ]));
        lines.push(Line::from(vec![
            Span::styled("  blast radius ", theme.warn()),
            span(&action.blast_radius, Style::default()),
        ]));
    }
    if let Some(check) = &card.verify {
        check_lines(&mut lines, "VERIFY", "after the action (v)", check, theme);
    }
    match &card.rollback {
        CardRollback::Command { command } => {
            lines.push(Line::from(vec![
                Span::styled("ROLLBACK", theme.heading()),
                Span::styled("  copy it before you act (y)", theme.dim()),
            ]));
            lines.push(Line::from(vec![
                Span::styled("$ ", theme.dim()),
                span(command, theme.command()),
            ]));
        }
        CardRollback::None { reason } => {
            lines.push(Line::from(vec![
                Span::styled("ROLLBACK none", theme.danger()),
                span(&format!("  {reason}"), Style::default()),
            ]));
        }
        CardRollback::NotNeeded => {}
    }
    if !card.values.is_empty() {
        lines.push(Line::from(Span::styled("VALUES", theme.heading())));
        for v in &card.values {
            let mut spans = vec![span(&format!("  {} = ", v.name), Style::default())];
            match (&v.value, &v.evidence) {
                (Some(value), Some(ev)) => {
                    spans.push(span(value, theme.command()));
                    if !v.verified {
                        spans.push(Span::styled(" UNVERIFIED", theme.danger()));
                    }
                    spans.push(span(&format!("  ← {}", ev.text), theme.dim()));
                }
                _ => spans.push(Span::styled("<missing>", theme.danger())),
            }
            lines.push(Line::from(spans));
        }
    }
    if !card.flags.is_empty() {
        for flag in &card.flags {
            lines.push(Line::from(span(&format!("! {flag}"), theme.warn())));
        }
    }
    if !card.notes.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("NOTES", theme.heading()),
            Span::styled("  the model's advice, not a decision  ", theme.dim()),
            span(&card.notes, Style::default()),
        ]));
    }
    lines
}

fn draw_card(frame: &mut Frame, area: Rect, model: &Model, walk: &Walk, theme: Theme) {
    let lines = card_lines(model, walk, theme);
    let mut title = format!(
        " {}/{} · {} ",
        walk.index + 1,
        walk.runbook.steps.len(),
        clean(&walk.card.title)
    );
    // Rows once wrapped (close enough: a word may wrap a little earlier).
    let inner = area.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let page = area.height.saturating_sub(2) as usize;
    // G and PgDn stop at the last page, not in blank space below it.
    let max = u16::try_from(rows.saturating_sub(page)).unwrap_or(u16::MAX);
    walk.card_max_scroll.set(max);
    let scroll = walk.card_scroll.min(max);
    if rows > page + scroll as usize {
        title.push_str("· more below: Tab, ↓ ");
    }
    let mut block = Block::bordered().title(Span::styled(title, theme.heading()));
    if walk.focus == Focus::Card {
        block = block.border_style(theme.key());
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(block),
        area,
    );
}

fn draw_output(frame: &mut Frame, area: Rect, model: &Model, walk: &Walk, theme: Theme) {
    let [out_area, verdict_area] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(1)]).areas(area);
    let pane = &walk.output;
    let rows = out_area.height.saturating_sub(2) as usize;
    let end = pane.lines.len().saturating_sub(pane.scroll);
    let start = end.saturating_sub(rows);
    // Only the visible lines are sanitized and styled: a 50 MB pre-flight
    // costs the same per frame as a short one.
    let lines: Vec<Line> = pane
        .lines
        .range(start..end)
        .map(|(stream, text)| {
            let style = if *stream == Stream::Stderr {
                theme.warn()
            } else {
                Style::default()
            };
            Line::from(span(text, style))
        })
        .collect();
    let mut title = if pane.title.is_empty() {
        " output ".to_string()
    } else {
        format!(" {} ", clean(&pane.title))
    };
    if pane.dropped > 0 {
        title.push_str(&format!("· {} earlier lines not kept ", pane.dropped));
    }
    if pane.scroll > 0 {
        title.push_str(&format!("· scrolled {} (End follows) ", pane.scroll));
    }
    let mut block = Block::bordered().title(title);
    if walk.focus == Focus::Output {
        block = block.border_style(theme.key());
    }
    frame.render_widget(Paragraph::new(lines).block(block), out_area);

    let verdict_line = match (walk.running(), walk.current_preflight(), &walk.verify) {
        (Some((_, kind)), _, _) => Line::from(Span::styled(
            format!(" {kind} running… Esc cancels"),
            theme.warn(),
        )),
        (_, pre, verify) if pre.is_some() || verify.is_some() => {
            let mut spans = Vec::new();
            for (kind, judged) in [
                (CheckKind::Preflight, pre),
                (CheckKind::Verify, verify.as_ref()),
            ] {
                if let Some(j) = judged {
                    spans.push(Span::raw(format!(" {kind} ")));
                    spans.push(Span::styled(
                        format!(" {} ", j.judgement.verdict),
                        theme
                            .verdict(j.judgement.verdict)
                            .add_modifier(ratatui::style::Modifier::REVERSED),
                    ));
                    spans.push(span(&format!(" {} ", j.judgement.reason), Style::default()));
                    if !j.suspicious.is_empty() {
                        spans.push(Span::styled(
                            format!(
                                " ⚠ {} suspicious line(s) in the output ",
                                j.suspicious.len()
                            ),
                            theme.danger(),
                        ));
                    }
                }
            }
            Line::from(spans)
        }
        _ if walk.card.preflight.is_some() => {
            Line::from(span(" no verdict yet: r runs the pre-flight", theme.dim()))
        }
        _ => Line::from(span(" no pre-flight in this step", theme.dim())),
    };
    // What `p` will ask for, decided by the policy from what is known now.
    let mut verdict_line = verdict_line;
    if matches!(walk.phase, Phase::Reading) {
        let outcome = crate::tui::step::decision(model, walk);
        // First, so a narrow screen cuts the reasons, not the decision.
        let mut spans = match &outcome.wait {
            Some(wait) => vec![
                Span::styled(
                    " p: WAIT ",
                    theme
                        .warn()
                        .add_modifier(ratatui::style::Modifier::REVERSED),
                ),
                span(&format!(" {wait} "), theme.warn()),
            ],
            None => {
                let style = match outcome.decision {
                    crate::policy::Decision::Proceed => theme.ok(),
                    crate::policy::Decision::Confirm => theme.warn(),
                    _ => theme.danger(),
                };
                vec![
                    Span::styled(
                        format!(" p: {} ", outcome.decision),
                        style.add_modifier(ratatui::style::Modifier::REVERSED),
                    ),
                    Span::raw(" "),
                ]
            }
        };
        // Waiting for a first verdict: the reason already says so.
        if outcome.wait.is_none() || walk.current_preflight().is_some() {
            spans.append(&mut verdict_line.spans);
        }
        if outcome.wait.is_none() {
            spans.push(span(&format!(" · {}", outcome.why.join("; ")), theme.dim()));
        }
        verdict_line.spans = spans;
    }
    frame.render_widget(Paragraph::new(verdict_line), verdict_area);
}
