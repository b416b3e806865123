//! Overlays: help, typed prompts (reasons, confirmations) and the state paste.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, span, Theme};
use crate::tui::model::{Model, Overlay, Prompt, Viewer};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    // A prompt: an overlay's, or the gate `p` asks now (from the phase).
    if let Some(prompt) = model.prompt() {
        return draw_prompt(frame, area, &prompt, theme);
    }
    match &model.overlay {
        Overlay::None | Overlay::Prompt(_) => {}
        Overlay::Viewer(viewer) => draw_viewer(frame, area, model, viewer, theme),
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
            popup(frame, area, 78, lines, " keys ", "any key closes");
        }
        Overlay::State {
            pending,
            lines: count,
            warning,
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
                        &format!(
                            "{}, {} received:",
                            crate::words::count(*count as u64, "line", "lines"),
                            crate::words::count(text.len() as u64, "byte", "bytes")
                        ),
                        theme.ok(),
                    )));
                    // One row each, cut: a long line must not push the
                    // dialog's own keys out of view.
                    let inner = 76usize.min(area.width as usize).saturating_sub(6);
                    for l in text.lines().take(6) {
                        let cut = crate::sanitize::sanitize_line(l, inner);
                        lines.push(Line::from(span(&format!("  {cut}"), theme.dim())));
                    }
                }
            }
            if let Some(w) = warning {
                lines.push(Line::default());
                lines.push(Line::from(span(
                    &format!("This {w}: is it really the state? Esc drops it."),
                    theme.danger(),
                )));
            }
            let keys = match (pending, warning) {
                (Some(_), Some(_)) => "Enter keeps it anyway · Esc cancels",
                (Some(_), None) => "Enter keeps it (replaces the current state) · Esc cancels",
                (None, _) => "Esc cancels",
            };
            popup(frame, area, 76, lines, " cluster state ", keys);
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
    if let Some(note) = &prompt.note {
        lines.push(Line::from(span(note, theme.command())));
    }
    if let Some(e) = &prompt.error {
        lines.push(Line::from(span(e, theme.danger())));
    }
    popup(
        frame,
        area,
        72,
        lines,
        " confirm ",
        "Enter confirms · Esc cancels",
    );
}

/// A bordered box over the screen, sized to its lines once wrapped, with
/// its keys on the bottom border: always in view, however long the text.
pub(super) fn popup(
    frame: &mut Frame,
    area: Rect,
    width: u16,
    lines: Vec<Line>,
    title: &str,
    keys: &str,
) {
    let width = width.min(area.width);
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = paragraph.line_count(width.saturating_sub(2)) as u16;
    let rect = centered(area, width, rows.saturating_add(2));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        paragraph.block(
            Block::bordered()
                .title(title.to_string())
                .title_bottom(Line::from(format!(" {keys} ")).right_aligned()),
        ),
        rect,
    );
}

/// The whole pasted state over the whole screen: line numbers, the search
/// hit marked, long lines scrolled sideways rather than cut.
fn draw_viewer(frame: &mut Frame, area: Rect, model: &Model, viewer: &Viewer, theme: Theme) {
    use ratatui::layout::{Constraint, Layout};
    let text = model.ctx.state_text().unwrap_or("");
    frame.render_widget(Clear, area);
    let total = viewer.starts.len();
    let [body, foot] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let rows = body.height.saturating_sub(2) as usize;
    viewer.page.set(rows.max(1));
    let top = viewer.top.min(total.saturating_sub(1));
    let end = (top + rows).min(total);
    let gutter = total.to_string().len() as u16 + 1;
    let mut numbers = Vec::new();
    let mut lines = Vec::new();
    let mut wider = false;
    for i in top..end {
        let raw = viewer.line(text, i);
        let clean = crate::sanitize::sanitize_line(raw, 4096);
        let style = if viewer.hit == Some(i) {
            theme.selected()
        } else {
            Style::default()
        };
        wider |= clean.chars().count() > viewer.hscroll as usize + body.width as usize;
        numbers.push(Line::from(Span::styled(
            format!("{:>w$}", i + 1, w = gutter as usize - 1),
            theme.dim(),
        )));
        lines.push(Line::from(Span::styled(clean.into_owned(), style)));
    }
    let mut title = format!(
        " state · {total} lines · {}–{end} ",
        if total == 0 { 0 } else { top + 1 }
    );
    if end < total {
        title.push_str("· ↓ more below ");
    }
    if top > 0 {
        title.push_str("· ↑ more above ");
    }
    if viewer.hscroll > 0 {
        title.push_str(&format!("· ← {} columns ", viewer.hscroll));
    }
    if wider {
        title.push_str("· → more ");
    }
    let block = Block::bordered().title(Span::styled(title, theme.heading()));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let [num_area, text_area] =
        Layout::horizontal([Constraint::Length(gutter + 1), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(numbers), num_area);
    frame.render_widget(Paragraph::new(lines).scroll((0, viewer.hscroll)), text_area);
    let footer = match (&viewer.typing, &viewer.note) {
        (Some(typing), _) => Line::from(vec![
            Span::styled(" / ", theme.key()),
            span(typing, theme.command()),
            Span::styled("▏  Enter searches · Esc cancels", theme.dim()),
        ]),
        (None, note) => {
            let mut spans = vec![Span::styled(
                " ↑↓ PgUp PgDn g G · ←→ sideways · / search · n/N next/previous · Esc closes",
                theme.dim(),
            )];
            if let Some(note) = note {
                spans.push(span(&format!("  {note}"), theme.warn()));
            } else if !viewer.query.is_empty() {
                spans.push(span(&format!("  searching: {}", viewer.query), theme.dim()));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(footer).wrap(Wrap { trim: true }), foot);
}
