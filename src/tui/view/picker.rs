//! The runbook picker: type to filter, Enter to open.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{clean, footer, span, Theme};
use crate::tui::model::{Model, Rerank};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let [header, filter, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(area);
    let state = if model.state.lines == 0 {
        "state: none yet (paste it any time)".to_string()
    } else {
        format!("state: {} lines pasted", model.state.lines)
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" stepguard ", theme.heading()),
            Span::raw(format!("· pick a runbook · {} · {}", model.drafter, state)),
        ])),
        header,
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" filter> ", theme.key()),
            span(&model.picker.filter, theme.command()),
            Span::styled("▏", theme.dim()),
        ])),
        filter,
    );

    let [list_area, preview_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    let filtered = model.filtered();
    let height = list_area.height.saturating_sub(2) as usize;
    // Keep the selection visible.
    let first = model
        .picker
        .selected
        .saturating_sub(height.saturating_sub(1));
    let mut lines: Vec<Line> = Vec::new();
    for (row, &i) in filtered.iter().enumerate().skip(first).take(height) {
        let rb = &model.catalog[i];
        let style = if row == model.picker.selected {
            theme.selected()
        } else {
            Default::default()
        };
        let confidence = model
            .confidence(i)
            .map_or("    ".to_string(), |c| format!("{c:.2}"));
        lines.push(Line::from(vec![
            Span::styled(format!("{confidence} "), style.patch(theme.dim())),
            Span::styled(
                format!("{:<30}", clean(&rb.id)),
                style.patch(theme.command()),
            ),
            Span::styled(format!(" {}", clean(&rb.title)), style),
        ]));
    }
    if filtered.is_empty() {
        lines.push(Line::from(span("no runbook matches", theme.dim())));
    }
    let by = model
        .rank_query
        .as_ref()
        .map_or("alert and state", |(by, _)| by);
    let opinion = match &model.rerank {
        Rerank::Asking { .. } => " · asking the model…".to_string(),
        Rerank::Answered(r) => match &r.picked {
            Some(id) => format!(" · model's pick first: {}", clean(id)),
            None => " · the model did not change it".to_string(),
        },
        Rerank::NotAsked => String::new(),
    };
    let title = if model.ranking.is_empty() {
        format!(" runbooks {}/{} ", filtered.len(), model.catalog.len())
    } else {
        format!(
            " runbooks {}/{} · ranked by the {by}{opinion} ",
            filtered.len(),
            model.catalog.len()
        )
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        list_area,
    );

    let mut preview: Vec<Line> = Vec::new();
    if let Some(rb) = filtered
        .get(model.picker.selected)
        .map(|&i| &model.catalog[i])
    {
        preview.push(Line::from(span(&rb.title, theme.heading())));
        if !rb.summary.is_empty() {
            preview.push(Line::from(span(&rb.summary, Default::default())));
        }
        if !rb.alerts.is_empty() {
            preview.push(Line::from(span(
                &format!("alerts: {}", rb.alerts.join(", ")),
                theme.dim(),
            )));
        }
        preview.push(Line::from(span(
            &format!("risk: {} · {} steps", rb.risk, rb.steps.len()),
            theme.dim(),
        )));
        preview.push(Line::default());
        for (n, step) in rb.steps.iter().enumerate() {
            preview.push(Line::from(span(
                &format!("{:>2}. {}", n + 1, step.title),
                Default::default(),
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(preview)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" preview ")),
        preview_area,
    );
    let mut keys = vec![
        ("↑↓", "select"),
        ("Enter", "open"),
        ("type", "filter (every key, q and ? too, is text here)"),
        ("paste", "cluster state"),
        (
            "Esc",
            if model.picker.filter.is_empty() {
                "quit"
            } else {
                "clear the filter"
            },
        ),
        ("Ctrl-C", "quit"),
    ];
    if model.model_enabled && !model.ranking.is_empty() {
        keys.insert(3, ("Ctrl-R", "ask the model which of the five best fits"));
    }
    footer(frame, foot, model, &keys, theme);
}
