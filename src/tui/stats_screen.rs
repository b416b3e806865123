//! `stepguard stats --screen`: the stats as charts, until a key is pressed.

use crossterm::event::{self, Event, KeyCode};

use super::terminal::TerminalGuard;
use super::view::{stats::draw, Theme};
use crate::stats::Stats;

pub fn show(stats: &Stats) -> std::io::Result<()> {
    let mut term = TerminalGuard::enter()?;
    let theme = Theme::from_env();
    loop {
        term.terminal.draw(|f| {
            let area = f.area();
            draw(f, area, stats, theme)
        })?;
        match event::read()? {
            Event::Key(k)
                if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter) =>
            {
                return Ok(())
            }
            Event::Key(k)
                if k.modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL)
                    && k.code == KeyCode::Char('c') =>
            {
                return Ok(())
            }
            _ => {}
        }
    }
}
