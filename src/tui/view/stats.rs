//! The stats screen: approval latency as a chart, rates per runbook as
//! bars, the rubber-stamp warning on top.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Paragraph};
use ratatui::Frame;

use super::{span, Theme};
use crate::report::human_ms;
use crate::stats::Stats;

pub fn draw(frame: &mut Frame, area: Rect, stats: &Stats, theme: Theme) {
    let [head, charts, foot] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(8),
        Constraint::Length(1),
    ])
    .areas(area);
    let o = &stats.overall;
    let mut lines = vec![Line::from(vec![
        Span::styled(" stepguard stats ", theme.heading()),
        Span::raw(format!(
            "· {} sessions · {} decisions · approval p50 {} p95 {} p99 {}",
            stats.sessions,
            o.decisions,
            human_ms(o.latency_p50_ms),
            human_ms(o.latency_p95_ms),
            human_ms(o.latency_p99_ms)
        )),
    ])];
    lines.push(Line::from(span(
        &format!(
            " rejection {:.0}% · modification {:.0}% · override {:.0}% · STOP trips {} of {} pre-flights",
            o.rejection_rate * 100.0,
            o.modification_rate * 100.0,
            o.override_rate * 100.0,
            o.stop_trips,
            o.preflights
        ),
        Style::default(),
    )));
    match &stats.rubber_stamp {
        Some(flag) => lines.push(Line::from(span(&format!(" !!! {flag}"), theme.danger()))),
        None => lines.push(Line::from(span(" no sign of rubber-stamping", theme.ok()))),
    }
    frame.render_widget(Paragraph::new(lines), head);

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(charts);
    let bars: Vec<Bar> = stats
        .latency_histogram
        .iter()
        .map(|(label, n)| Bar::default().label(Line::from(label.clone())).value(*n))
        .collect();
    frame.render_widget(
        BarChart::default()
            .block(Block::bordered().title(" approval latency (proceeds) "))
            .bar_width(6)
            .bar_gap(1)
            .data(BarGroup::default().bars(&bars)),
        left,
    );
    let width = right.width.saturating_sub(4) as usize;
    let mut rate_lines = vec![Line::from(span(
        &format!(
            "{:<24} {:>6} {:>6} {:>6}",
            "runbook", "reject", "modify", "overr"
        ),
        theme.dim(),
    ))];
    for (name, r) in &stats.per_runbook {
        let bar = |x: f64| "█".repeat((x * 6.0).round() as usize);
        let line = format!(
            "{:<24} {:>5.0}% {:>5.0}% {:>5.0}% {}",
            name.chars().take(24).collect::<String>(),
            r.rejection_rate * 100.0,
            r.modification_rate * 100.0,
            r.override_rate * 100.0,
            bar(r.rejection_rate)
        );
        rate_lines.push(Line::from(span(
            &line.chars().take(width).collect::<String>(),
            Style::default(),
        )));
    }
    frame.render_widget(
        Paragraph::new(rate_lines).block(Block::bordered().title(" rates per runbook ")),
        right,
    );
    frame.render_widget(
        Paragraph::new(Line::from(span(" q quits", theme.dim()))),
        foot,
    );
}
