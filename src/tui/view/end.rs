//! The end screen: what happened at each step, for the handover.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{footer, span, Theme};
use crate::tui::model::{Model, StepStatus, WalkEnd};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let Some(walk) = &model.walk else { return };
    let [body, foot] = Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(area);
    let mut lines = Vec::new();
    match walk.end() {
        Some(WalkEnd::Completed) => {
            lines.push(Line::from(Span::styled("Runbook completed.", theme.ok())))
        }
        Some(WalkEnd::Halted { reason }) => {
            lines.push(Line::from(Span::styled(
                "HALTED — escalate.",
                theme.danger(),
            )));
            lines.push(Line::from(span(
                &format!("reason: {reason}"),
                Style::default(),
            )));
        }
        None => {}
    }
    lines.push(Line::default());
    let (mut proceeded, mut skipped, mut edited) = (0, 0, 0);
    // One column for the titles, by display width (a long or wide-character
    // title is cut with "…", never pushing its status out of line).
    let titles: Vec<String> = walk
        .runbook
        .steps
        .iter()
        .map(|s| super::clean(&s.title).into_owned())
        .collect();
    let column = titles
        .iter()
        .map(|t| Span::raw(t.as_str()).width())
        .max()
        .unwrap_or(0)
        .min(48);
    for (i, (title, record)) in titles.iter().zip(&walk.steps).enumerate() {
        let (what, style) = match record.status {
            StepStatus::Pending => ("not reached".to_string(), theme.dim()),
            StepStatus::Proceeded(v) => {
                proceeded += 1;
                (
                    format!(
                        "proceeded ({})",
                        v.map_or("no pre-flight".to_string(), |v| v.to_string())
                    ),
                    theme.ok(),
                )
            }
            StepStatus::Skipped => {
                skipped += 1;
                ("skipped".to_string(), theme.warn())
            }
            StepStatus::Halted => ("halted".to_string(), theme.danger()),
        };
        edited += usize::from(record.edited);
        lines.push(Line::from(vec![
            Span::raw(format!("{:>2}. {} ", i + 1, fit(title, column))),
            Span::styled(what, style),
        ]));
        let mut details = Vec::new();
        if !record.note.is_empty() {
            details.push(record.note.clone());
        }
        if record.edited {
            details.push("action edited".into());
        }
        if !record.copied.is_empty() {
            details.push(format!("copied {}", record.copied.join(", ")));
        }
        if !details.is_empty() {
            lines.push(Line::from(span(
                &format!("      {}", details.join(" · ")),
                theme.dim(),
            )));
        }
    }
    lines.push(Line::default());
    lines.push(Line::from(span(
        &format!(
            "{proceeded} proceeded · {skipped} skipped · {edited} edited · of {} steps",
            walk.runbook.steps.len()
        ),
        Style::default(),
    )));
    let title = format!(" {} — summary ", walk.runbook.title);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(span(&title, theme.heading()))),
        body,
    );
    footer(
        frame,
        foot,
        model,
        &[("q", "quit"), ("Enter", "quit")],
        theme,
    );
}

/// `text` cut or padded to exactly `width` columns.
fn fit(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let over = Span::raw(text).width() > width;
    let room = if over { width.saturating_sub(1) } else { width };
    for c in text.chars() {
        let w = Span::raw(c.to_string()).width();
        if used + w > room {
            break;
        }
        out.push(c);
        used += w;
    }
    if over {
        out.push('…');
        used += 1;
    }
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}
