//! The walk: header, steps, state, the card, streaming output, verdict, keys.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
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
    // Wide terminals give the state a third: a `kubectl get pods` table
    // needs its columns, not just NAME.
    let left_width = match body.width {
        0..90 => 0,
        90..120 => 24,
        120..150 => 34,
        w => w / 3,
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
    let decision = decision_rows(model, walk, main.width);
    let output_height = if idle {
        3 + decision
    } else {
        (main.height * 2 / 5).max(4 + decision)
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
            Line::from(Span::styled(
                format!("{mark} {:>2} {}", i + 1, clean(&step.title)),
                style,
            ))
        })
        .collect();
    // Titles wrap; the list scrolls so the current step is in view.
    let inner = area.width.saturating_sub(2).max(1);
    let rows = area.height.saturating_sub(2) as usize;
    let before = Paragraph::new(lines[..walk.index.min(lines.len())].to_vec())
        .wrap(Wrap { trim: false })
        .line_count(inner);
    let total = Paragraph::new(lines.clone())
        .wrap(Wrap { trim: false })
        .line_count(inner);
    let scroll = before
        .saturating_sub(rows / 2)
        .min(total.saturating_sub(rows));
    let mut block = Block::bordered().title(" steps ");
    if scroll > 0 {
        block = block.title(Span::styled("↑ more ", theme.dim()));
    }
    if total > scroll + rows {
        block = block.title_bottom(Span::styled(" ↓ more ", theme.dim()));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(block),
        area,
    );
}

fn draw_state(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let title = if model.state.lines == 0 {
        " state (i) ".to_string()
    } else {
        format!(" state · {} lines ", model.state.lines)
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
    let mut block = Block::bordered().title(title);
    if model.state.lines > 0 {
        block = block.title_bottom(Span::styled(" S views all · i replaces ", theme.dim()));
    }
    // The preview is cut, not wrapped (a table keeps its rows); S shows all.
    let mut paragraph = Paragraph::new(lines).block(block);
    if model.state.lines == 0 {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(paragraph, area);
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
    // Flags that do not change what matches (`(?m)`) are not shown.
    let shown = |p: &str| format!("/{}/", crate::verdict::display_rule(p));
    if let Some(p) = &check.stop_if {
        rules.push(Span::styled("  stop if ", theme.danger()));
        rules.push(span(&shown(p), Style::default()));
    }
    if let Some(p) = &check.proceed_if {
        rules.push(Span::styled("  proceed if ", theme.ok()));
        rules.push(span(&shown(p), Style::default()));
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

/// The card's lines, and the index of the ROLLBACK line if it has one.
fn card_lines(model: &Model, walk: &Walk, theme: Theme) -> (Vec<Line<'static>>, Option<usize>) {
    let card = &walk.card;
    let mut lines: Vec<Line> = draft_status(walk, &model.drafter, theme);
    for r in model
        .rejections_for(&walk.runbook.id, &card.step_id)
        .into_iter()
        .take(3)
    {
        // The team's rejections name their request, this machine's its session.
        let from = if r.session.starts_with("approval ") {
            r.session.clone()
        } else {
            format!("session {}", r.session)
        };
        lines.push(Line::from(span(
            &format!(
                "{} {} ({from}): {}",
                r.said(),
                crate::tui::model::ago(model.now_ms, r.at_ms),
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
    let rollback_at = card.rollback.command().map(|_| lines.len());
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
                _ => spans.push(Span::styled("<missing> (= sets it)", theme.danger())),
            }
            lines.push(Line::from(spans));
            // The other values the context offers: `=` then ↑/↓ picks one.
            let others: Vec<String> = v
                .candidates
                .iter()
                .filter(|c| Some(&c.value) != v.value.as_ref())
                .take(4)
                .map(|c| match (c.line, c.evidence.source) {
                    (Some(n), _) => format!("{} (line {n})", c.value),
                    // A model's suggestion says so: nothing code found.
                    (None, crate::draft::Source::Model) => {
                        format!("{} (model's suggestion)", c.value)
                    }
                    (None, _) => c.value.clone(),
                })
                .collect();
            if !others.is_empty() {
                let more = v.candidates.len().saturating_sub(others.len() + 1);
                let mut text = format!("      also: {}", others.join(", "));
                if more > 0 {
                    text.push_str(&format!(" and {more} more"));
                }
                text.push_str(" — = picks another");
                lines.push(Line::from(span(&text, theme.dim())));
            }
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
    (lines, rollback_at)
}

fn draw_card(frame: &mut Frame, area: Rect, model: &Model, walk: &Walk, theme: Theme) {
    let (mut lines, rollback_at) = card_lines(model, walk, theme);
    // The full title first (wrapped): the border only numbers the step.
    lines.insert(
        0,
        Line::from(span(
            &walk.card.title,
            theme.heading().add_modifier(Modifier::BOLD),
        )),
    );
    let rollback_at = rollback_at.map(|i| i + 1);
    let inner = area.width.saturating_sub(2).max(1);
    let rows_of = |lines: &[Line<'static>]| {
        Paragraph::new(lines.to_vec())
            .wrap(Wrap { trim: false })
            .line_count(inner)
    };
    let rows = rows_of(&lines);
    let rollback_row = rollback_at.map(|at| rows_of(&lines[..at]));
    let layout = |height: u16| {
        let page = height.saturating_sub(2) as usize;
        // G and PgDn stop at the last page, not in blank space below it.
        let max = u16::try_from(rows.saturating_sub(page)).unwrap_or(u16::MAX);
        let scroll = walk.card_scroll.min(max);
        let hidden = rollback_row
            .is_some_and(|row| row < scroll as usize || row + 1 >= scroll as usize + page);
        (page, max, scroll, hidden)
    };
    // The rollback is always on screen: pinned under the card when the
    // card's own ROLLBACK lines are scrolled out of view.
    let pinned = match (layout(area.height).3, walk.card.rollback.command()) {
        (true, Some(command)) => Some(Line::from(vec![
            Span::styled("ROLLBACK (y copies) ", theme.heading()),
            span(&format!("$ {command}"), theme.command()),
        ])),
        _ => None,
    };
    let pinned_rows = pinned.as_ref().map_or(0, |l| {
        (Paragraph::new(l.clone())
            .wrap(Wrap { trim: false })
            .line_count(area.width.max(1)) as u16)
            .min(3)
    });
    let [area, pin_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(pinned_rows)]).areas(area);
    let (page, max, scroll, _) = layout(area.height);
    walk.card_max_scroll.set(max);
    let mut title = format!(" step {}/{} ", walk.index + 1, walk.runbook.steps.len());
    if scroll > 0 {
        title.push_str("· ↑ more above ");
    }
    let mut block = Block::bordered().title(Span::styled(title, theme.heading()));
    if rows > page + scroll as usize {
        block = block.title_bottom(Span::styled(" ↓ more below (PgDn, G) ", theme.key()));
    }
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
    if let Some(line) = pinned {
        frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), pin_area);
    }
}

fn draw_output(frame: &mut Frame, area: Rect, model: &Model, walk: &Walk, theme: Theme) {
    let [out_area, verdict_area] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(decision_rows(model, walk, area.width)),
    ])
    .areas(area);
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
    // Long lines are scrolled sideways, not cut or wrapped (a table keeps
    // its columns): say so when a visible line runs past the edge.
    let width = out_area.width.saturating_sub(2) as usize + pane.hscroll as usize;
    let hidden_right = lines.iter().any(|l| l.width() > width);
    let mut block = Block::bordered().title(title);
    if pane.hscroll > 0 || hidden_right {
        let mut note = String::from(" ");
        if pane.hscroll > 0 {
            note.push_str(&format!("← {} columns ", pane.hscroll));
        }
        if hidden_right {
            note.push_str("→ lines run on ");
        }
        note.push_str("(←/→ scroll) ");
        block = block.title_bottom(Span::styled(note, theme.dim()));
    }
    if walk.focus == Focus::Output {
        block = block.border_style(theme.key());
    }
    frame.render_widget(
        Paragraph::new(lines).scroll((0, pane.hscroll)).block(block),
        out_area,
    );

    let line = decision_line(model, walk, theme);
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), verdict_area);
}

/// Rows the decision line takes at this width (it wraps; at most 5).
fn decision_rows(model: &Model, walk: &Walk, width: u16) -> u16 {
    let rows = Paragraph::new(decision_line(model, walk, Theme { color: false }))
        .wrap(Wrap { trim: true })
        .line_count(width.max(1));
    (rows as u16).clamp(1, 5)
}

/// The line under the output: first what `p` will do or ask for, then
/// why, then the verdicts it rests on. It is computed from the same
/// [`crate::tui::step::decision`] that `p` obeys, and wraps rather than cut.
pub fn decision_line(model: &Model, walk: &Walk, theme: Theme) -> Text<'static> {
    let reversed = |style: Style| style.add_modifier(Modifier::REVERSED);
    let mut spans = Vec::new();
    match &walk.phase {
        Phase::Checking { kind, .. } => {
            spans.push(Span::styled(" p: WAIT ", reversed(theme.warn())));
            spans.push(Span::styled(
                format!(" {kind} running… Esc cancels it"),
                theme.warn(),
            ));
            return Text::from(Line::from(spans));
        }
        Phase::Gating { gates, .. } => {
            let left = gates
                .iter()
                .map(|g| g.asks())
                .collect::<Vec<_>>()
                .join(", then ");
            spans.push(Span::styled(" p: ASKING ", reversed(theme.warn())));
            spans.push(span(&format!(" {left} (Esc cancels)"), theme.warn()));
            return Text::from(Line::from(spans));
        }
        Phase::Decided(_) => return Text::default(),
        Phase::Reading => {}
    }
    let outcome = crate::tui::step::decision(model, walk);
    match &outcome.wait {
        Some(wait) => {
            spans.push(Span::styled(" p: WAIT ", reversed(theme.warn())));
            spans.push(span(&format!(" {wait}"), theme.warn()));
        }
        None => {
            let style = match outcome.decision {
                crate::policy::Decision::Proceed => theme.ok(),
                crate::policy::Decision::Confirm => theme.warn(),
                _ => theme.danger(),
            };
            spans.push(Span::styled(
                format!(" p: {} ", outcome.decision),
                reversed(style),
            ));
            let next = if walk.index + 1 >= walk.runbook.steps.len() {
                "ends the runbook".to_string()
            } else {
                format!("goes to step {}", walk.index + 2)
            };
            let what = if outcome.gates.is_empty() {
                format!(" {next}")
            } else {
                let asks: Vec<String> = outcome.gates.iter().map(|g| g.asks()).collect();
                format!(" asks {}, then {next}", asks.join(", then "))
            };
            spans.push(span(&what, style));
            spans.push(span(
                &format!(" · because {}", outcome.why.join("; ")),
                theme.dim(),
            ));
        }
    }
    // The verdicts on a line of their own: "pre-flight  PASS" is never
    // split across rows.
    let mut text = Text::from(Line::from(spans));
    let mut spans = Vec::new();
    for (kind, judged) in [
        (CheckKind::Preflight, walk.current_preflight()),
        (CheckKind::Verify, walk.verify.as_ref()),
    ] {
        let Some(j) = judged else { continue };
        spans.push(Span::raw(format!(" {kind} ")));
        spans.push(Span::styled(
            format!(" {} ", j.judgement.verdict),
            reversed(theme.verdict(j.judgement.verdict)),
        ));
        spans.push(span(
            &format!(
                " {} ({})",
                j.judgement.reason,
                crate::tui::model::ago(model.now_ms, j.at_ms)
            ),
            Style::default(),
        ));
        if !j.suspicious.is_empty() {
            spans.push(Span::styled(
                format!(" ⚠ {} suspicious line(s) in the output", j.suspicious.len()),
                theme.danger(),
            ));
        }
    }
    if !spans.is_empty() {
        text.push_line(Line::from(spans));
    }
    text
}
