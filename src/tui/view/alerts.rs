//! The firing alerts of an Alertmanager, each with the runbook it matches.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{clean, footer, span, Theme};
use crate::tui::model::Model;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let [header, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" stepguard ", theme.heading()),
            Span::raw(format!(
                "· {} firing alerts · Enter starts from one",
                model.alerts.len()
            )),
        ])),
        header,
    );
    let mut lines = Vec::new();
    for (i, alert) in model.alerts.iter().enumerate() {
        let style = if i == model.alert_selected {
            theme.selected()
        } else {
            Default::default()
        };
        let labels: Vec<String> = alert
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let matched = match model.best_for(alert) {
            Some((idx, c, n)) if n > 1 => {
                format!("{c:.2} {} (+{} more)", model.catalog[idx].id, n - 1)
            }
            Some((idx, c, _)) => format!("{c:.2} {}", model.catalog[idx].id),
            None => "no runbook".into(),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<32}", clean(alert.name().unwrap_or("?"))),
                style.patch(theme.command()),
            ),
            Span::styled(format!(" {:<40}", clean(&matched)), style),
            span(&format!(" {}", labels.join(" ")), theme.dim()),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::from(span("no firing alerts", theme.dim())));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" alerts ")),
        body,
    );
    footer(
        frame,
        foot,
        model,
        &[
            ("↑↓", "select"),
            ("Enter", "open"),
            ("Esc", "runbooks"),
            ("q", "quit"),
        ],
        theme,
    );
}
