//! `stepguard approvals` on a terminal: the requests waiting, oldest first,
//! with the time each has left, kept current by the database's
//! notifications. Enter shows the whole request; deciding is
//! `stepguard approve ID` / `reject ID --reason`, as shown.

use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::terminal::TerminalGuard;
use super::view::Theme;
use crate::team::approval::{self, describe, left, Status};

/// What the screen shows.
#[derive(Debug, Default)]
pub struct Screen {
    pub pending: Vec<Status>,
    pub selected: usize,
    /// The request opened with Enter.
    pub open: bool,
    /// Why the list may be stale.
    pub trouble: Option<String>,
}

pub fn draw(frame: &mut Frame, screen: &Screen, theme: Theme) {
    // Whole (wrapped), never cut: the approver reads all of it.
    let clean = |t: &str| crate::sanitize::sanitize_line(t, 10_000).into_owned();
    let [top, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let title = match &screen.trouble {
        Some(t) => format!(
            " approvals waiting: {} · {}",
            screen.pending.len(),
            clean(t)
        ),
        None => format!(" approvals waiting: {}", screen.pending.len()),
    };
    frame.render_widget(Paragraph::new(Span::styled(title, theme.warn())), top);
    let lines: Vec<Line> = match screen.pending.get(screen.selected) {
        Some(s) if screen.open => describe(s)
            .iter()
            .map(|l| Line::from(Span::raw(clean(l))))
            .collect(),
        _ if screen.pending.is_empty() => vec![Line::from(Span::styled(
            "nothing waits for a decision",
            theme.dim(),
        ))],
        _ => screen
            .pending
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let text = format!(
                    "{} {:>7}  {:<12} {} {}/{}  {}",
                    s.id,
                    left(s.expires_in_ms),
                    clean(&s.requested_by),
                    clean(&s.request.runbook),
                    s.request.step_number,
                    s.request.steps,
                    crate::sanitize::sanitize_line(&s.request.action, 100)
                );
                if i == screen.selected {
                    Line::from(Span::styled(format!("> {text}"), theme.key()))
                } else {
                    Line::from(Span::raw(format!("  {text}")))
                }
            })
            .collect(),
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::TOP)),
        body,
    );
    let keys = if screen.open {
        "Esc back · q quits"
    } else {
        "↑/↓ choose · Enter shows the whole request · q quits"
    };
    frame.render_widget(Paragraph::new(Span::styled(keys, theme.dim())), foot);
}

/// Until `q`: the list, refreshed on each notification (and every 2 s).
pub async fn show(team: crate::team::Settings) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Status>, String>>(16);
    let feed = tokio::spawn(async move {
        loop {
            let (client, mut notes) = match approval::listen(&team).await {
                Ok(c) => c,
                Err(e) => {
                    if tx.send(Err(e.to_string())).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            loop {
                let list = approval::pending(&client).await.map_err(|e| e.to_string());
                let failed = list.is_err();
                if tx.send(list).await.is_err() {
                    return;
                }
                if failed {
                    break;
                }
                tokio::select! {
                    note = notes.recv() => if note.is_none() { break },
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    });
    let mut term = TerminalGuard::enter()?;
    let theme = Theme::from_env();
    let mut screen = Screen::default();
    let result = loop {
        while let Ok(update) = rx.try_recv() {
            match update {
                Ok(list) => {
                    screen.pending = list;
                    screen.trouble = None;
                    screen.selected = screen.selected.min(screen.pending.len().saturating_sub(1));
                }
                Err(e) => screen.trouble = Some(format!("cannot reach the team database: {e}")),
            }
        }
        if let Err(e) = term.terminal.draw(|f| draw(f, &screen, theme)) {
            break Err(e);
        }
        // Keys are read off the runtime's threads' way: a short poll.
        let key = tokio::task::block_in_place(|| -> std::io::Result<Option<Event>> {
            if event::poll(Duration::from_millis(200))? {
                event::read().map(Some)
            } else {
                Ok(None)
            }
        });
        match key {
            Err(e) => break Err(e),
            Ok(Some(Event::Key(k))) => match k.code {
                KeyCode::Char('q') => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break Ok(()),
                KeyCode::Esc if screen.open => screen.open = false,
                KeyCode::Esc => break Ok(()),
                KeyCode::Enter if !screen.pending.is_empty() => screen.open = true,
                KeyCode::Up | KeyCode::Char('k') if !screen.open => {
                    screen.selected = screen.selected.saturating_sub(1)
                }
                KeyCode::Down | KeyCode::Char('j') if !screen.open => {
                    screen.selected =
                        (screen.selected + 1).min(screen.pending.len().saturating_sub(1))
                }
                _ => {}
            },
            Ok(_) => {}
        }
    };
    feed.abort();
    drop(term);
    result
}
