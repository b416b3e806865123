//! Overlays: help, typed prompts (reasons, confirmations) and the state paste.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, span, Theme};
use crate::tui::model::{Model, Overlay, Prompt};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    // A prompt: an overlay's, or the gate `p` asks now (from the phase).
    if let Some(prompt) = model.prompt() {
        return draw_prompt(frame, area, &prompt, theme);
    }
    match &model.overlay {
        Overlay::None | Overlay::Prompt(_) => {}
        Overlay::Help => {
            // The keys that apply now, from the table that dispatches them.
            let mut lines: Vec<Line> =
                crate::tui::keys::help(model.walk.as_ref(), model.model_enabled)
                    .iter()
                    .map(|(k, what)| {
                        Line::from(vec![
                            Span::styled(format!(" {k:<7}"), theme.key()),
                            Span::raw(what.to_string()),
                        ])
                    })
                    .collect();
            lines.push(Line::default());
            lines.push(Line::from(span(
                " The model drafts. Code guards. You decide. stepguard runs only reads.",
                theme.dim(),
            )));
            popup(frame, area, 70, 3, lines, " keys (any key closes) ");
        }
        Overlay::State {
            pending,
            lines: count,
        } => {
            let mut lines = vec![Line::from(span(
                "Paste the cluster state now (your terminal's paste). Nothing in it acts as a key.",
                Style::default(),
            ))];
            lines.push(Line::default());
            match pending {
                None => lines.push(Line::from(span("waiting for a paste…", theme.dim()))),
                Some(text) => {
                    lines.push(Line::from(span(
                        &format!("{count} lines, {} bytes received:", text.len()),
                        theme.ok(),
                    )));
                    for l in text.lines().take(6) {
                        lines.push(Line::from(span(&format!("  {l}"), theme.dim())));
                    }
                }
            }
            lines.push(Line::default());
            lines.push(Line::from(span(
                "Enter keeps it (replaces the current state) · Esc cancels",
                theme.dim(),
            )));
            popup(frame, area, 76, 3, lines, " cluster state ");
        }
    }
}

fn draw_prompt(frame: &mut Frame, area: Rect, prompt: &Prompt, theme: Theme) {
    let mut lines = vec![
        Line::from(span(&prompt.title(), theme.warn())),
        Line::default(),
        Line::from(vec![
            Span::styled("> ", theme.key()),
            span(&prompt.input, theme.command()),
            Span::styled("▏", theme.dim()),
        ]),
    ];
    if let Some(e) = &prompt.error {
        lines.push(Line::from(span(e, theme.danger())));
    }
    lines.push(Line::default());
    lines.push(Line::from(span(
        "Enter confirms · Esc cancels",
        theme.dim(),
    )));
    // Two spare rows: a long title wraps.
    popup(frame, area, 72, 4, lines, " confirm ");
}

/// A bordered box over the screen, sized to its lines (plus `spare` rows).
fn popup(frame: &mut Frame, area: Rect, width: u16, spare: u16, lines: Vec<Line>, title: &str) {
    let rect = centered(area, width, lines.len() as u16 + spare);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title.to_string())),
        rect,
    );
}
