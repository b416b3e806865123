//! Drawing the model. Every string from outside (runbook, state, output,
//! values) passes through the sanitizer before it becomes a `Span`.

mod alerts;
mod end;
mod overlay;
mod picker;
pub mod stats;
mod walk;

use std::borrow::Cow;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::model::{Model, Screen};
use crate::exec::Verdict;
use crate::sanitize::sanitize_line;

/// Colours, or none at all under `NO_COLOR`.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn from_env() -> Self {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    pub fn heading(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        if self.color {
            self.fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    pub fn command(&self) -> Style {
        self.fg(Color::White).add_modifier(Modifier::BOLD)
    }
    pub fn danger(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn ok(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn verdict(&self, v: Verdict) -> Style {
        match v {
            Verdict::Pass => self.ok(),
            Verdict::Stop => self.danger(),
            Verdict::Check => self.warn(),
        }
    }
}

/// Sanitize outside text for one line of the screen.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    sanitize_line(text, 2_000)
}

pub(crate) fn span<'a>(text: &str, style: Style) -> Span<'a> {
    Span::styled(clean(text).into_owned(), style)
}

/// The line under the output as plain text: what `p` will do or ask for,
/// why, and the verdicts it rests on (empty outside a walk).
pub fn decision_text(model: &Model) -> String {
    model.walk.as_ref().map_or_else(String::new, |walk| {
        walk::decision_line(model, walk, Theme { color: false })
            .lines
            .iter()
            .map(|line| {
                line.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, model: &Model, theme: Theme) {
    let area = frame.area();
    let text = [&model.save_error, &model.team_audit, &model.banner]
        .into_iter()
        .flatten()
        .cloned()
        .reduce(|a, b| format!("{a} · {b}"));
    // A banner is a warning: it wraps (up to three rows) rather than lose
    // its end to the terminal's width.
    let paragraph = text.as_ref().map(|t| {
        Paragraph::new(Line::from(span(t, theme.warn())))
            .wrap(ratatui::widgets::Wrap { trim: false })
    });
    let banner_height = paragraph
        .as_ref()
        .map_or(0, |p| p.line_count(area.width).min(3) as u16);
    let [banner, body] =
        Layout::vertical([Constraint::Length(banner_height), Constraint::Min(0)]).areas(area);
    if let Some(paragraph) = paragraph {
        frame.render_widget(paragraph, banner);
    }
    match model.screen() {
        Screen::Alerts => alerts::draw(frame, body, model, theme),
        Screen::Picker => picker::draw(frame, body, model, theme),
        Screen::Walk => walk::draw(frame, body, model, theme),
        Screen::End => end::draw(frame, body, model, theme),
    }
    overlay::draw(frame, area, model, theme);
}

/// Rows the footer needs at this width: the status line, then the keys
/// (wrapped onto a second row on narrow terminals).
pub(crate) fn footer_height(keys: &[(&str, &str)], width: u16) -> u16 {
    let len: usize = keys
        .iter()
        .map(|(k, w)| k.chars().count() + w.chars().count() + 3)
        .sum();
    if len > width as usize {
        3
    } else {
        2
    }
}

/// Footer: the status line, then the keys that apply now.
pub(crate) fn footer(
    frame: &mut Frame,
    area: Rect,
    model: &Model,
    keys: &[(&str, &str)],
    theme: Theme,
) {
    let [status, keys_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    if let Some(text) = &model.status {
        frame.render_widget(Paragraph::new(Line::from(span(text, theme.dim()))), status);
    }
    let mut spans = Vec::new();
    for (i, (key, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(key.to_string(), theme.key()));
        spans.push(Span::raw(format!(" {what}")));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).wrap(ratatui::widgets::Wrap { trim: true }),
        keys_area,
    );
}

/// A rectangle of `width`×`height` centred in `area` (clamped).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
