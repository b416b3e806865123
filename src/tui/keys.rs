//! The walk's keys, once: this table drives dispatch (`update`), the footer
//! and `?` (both list the keys that apply now), so a key cannot do one
//! thing and be described as another.

use crossterm::event::KeyCode;

use super::model::Walk;

/// What a key asks for on the walk screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    RunPreflight,
    RunVerify,
    Proceed,
    CopyAction,
    CopyRollback,
    EditAction,
    Redraft,
    Skip,
    Halt,
    PasteState,
    Help,
    Quit,
    Cancel,
    Focus,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    SetValue,
    ViewState,
}

pub struct Binding {
    pub codes: &'static [KeyCode],
    /// How the key is written in the footer and the help.
    pub key: &'static str,
    /// The footer's word for it (empty: help only).
    pub short: &'static str,
    pub help: &'static str,
    pub command: Command,
}

const fn bind(
    codes: &'static [KeyCode],
    key: &'static str,
    short: &'static str,
    help: &'static str,
    command: Command,
) -> Binding {
    Binding {
        codes,
        key,
        short,
        help,
        command,
    }
}

use Command::*;
use KeyCode::Char;

pub const WALK: &[Binding] = &[
    bind(
        &[Char('r')],
        "r",
        "run",
        "run (or re-run) the pre-flight — read-only, guarded",
        RunPreflight,
    ),
    bind(
        &[Char('p')],
        "p",
        "proceed",
        "proceed to the next step (needs a fresh verdict)",
        Proceed,
    ),
    bind(
        &[Char('a')],
        "a",
        "copy action",
        "copy the action (you run it; stepguard never does)",
        CopyAction,
    ),
    bind(
        &[Char('y')],
        "y",
        "copy rollback",
        "copy the rollback — before you act",
        CopyRollback,
    ),
    bind(
        &[Char('e')],
        "e",
        "edit",
        "edit the action in $EDITOR (recorded)",
        EditAction,
    ),
    bind(
        &[Char('v')],
        "v",
        "verify",
        "run the verify (after you ran the action)",
        RunVerify,
    ),
    bind(
        &[Char('d')],
        "d",
        "re-draft",
        "re-draft with the model, optionally with a hint",
        Redraft,
    ),
    bind(&[Char('s')], "s", "skip", "skip the step (asks why)", Skip),
    bind(
        &[Char('h')],
        "h",
        "halt",
        "halt: stop the runbook and escalate",
        Halt,
    ),
    bind(
        &[Char('=')],
        "=",
        "set value",
        "set or pick a value (checked by its pattern, recorded; r runs again)",
        SetValue,
    ),
    bind(
        &[Char('i')],
        "i",
        "paste state",
        "paste / replace the cluster state",
        PasteState,
    ),
    bind(
        &[Char('S')],
        "S",
        "",
        "the whole pasted state, full screen, with search (/)",
        ViewState,
    ),
    bind(
        &[KeyCode::Esc],
        "Esc",
        "cancel",
        "cancel a running command or draft",
        Cancel,
    ),
    bind(
        &[KeyCode::Tab],
        "Tab",
        "focus",
        "focus the card or the output",
        Focus,
    ),
    bind(&[KeyCode::Up, Char('k')], "↑/k", "", "scroll up", Up),
    bind(&[KeyCode::Down, Char('j')], "↓/j", "", "scroll down", Down),
    bind(&[KeyCode::PageUp], "PgUp", "", "scroll up a page", PageUp),
    bind(
        &[KeyCode::PageDown],
        "PgDn",
        "",
        "scroll down a page",
        PageDown,
    ),
    bind(
        &[KeyCode::Left],
        "←/→",
        "",
        "scroll the output sideways (long lines)",
        Left,
    ),
    bind(&[KeyCode::Right], "→", "", "", Right),
    bind(&[KeyCode::Home, Char('g')], "g", "", "to the top", Top),
    bind(
        &[KeyCode::End, Char('G')],
        "G",
        "",
        "to the bottom (the output follows new lines)",
        Bottom,
    ),
    bind(&[Char('?')], "?", "help", "these keys", Help),
    bind(
        &[Char('q')],
        "q",
        "quit",
        "quit (the session is kept: run --resume)",
        Quit,
    ),
];

/// The command a key stands for on the walk screen.
pub fn command(code: KeyCode) -> Option<Command> {
    WALK.iter()
        .find(|b| b.codes.contains(&code))
        .map(|b| b.command)
}

/// Does the command do something on this card now?
pub fn applies(command: Command, walk: &Walk, model_enabled: bool) -> bool {
    let running = walk.running().is_some();
    match command {
        Cancel | Focus | Up | Down | PageUp | PageDown | Top | Bottom | Left | Right | Quit
        | ViewState => true,
        _ if running => false,
        SetValue => !walk.card.values.is_empty(),
        RunPreflight => walk.card.preflight.is_some(),
        RunVerify => walk.card.verify.is_some(),
        CopyAction | EditAction => walk.card.action.is_some(),
        CopyRollback => walk.card.rollback.command().is_some(),
        Redraft => model_enabled,
        Proceed | Skip | Halt | PasteState | Help => true,
    }
}

/// The footer: the keys that apply now, with their short words.
pub fn footer(walk: &Walk, model_enabled: bool) -> Vec<(&'static str, &'static str)> {
    WALK.iter()
        .filter(|b| !b.short.is_empty() && applies(b.command, walk, model_enabled))
        // Cancel and focus are the footer's words only while a check runs.
        .filter(|b| !matches!(b.command, Cancel | Focus) || walk.running().is_some())
        .map(|b| (b.key, b.short))
        .collect()
}

/// `?`: every key that applies now, with what it does.
pub fn help(walk: Option<&Walk>, model_enabled: bool) -> Vec<(&'static str, &'static str)> {
    WALK.iter()
        .filter(|b| !b.help.is_empty())
        .filter(|b| walk.is_none_or(|w| applies(b.command, w, model_enabled)))
        .map(|b| (b.key, b.help))
        .collect()
}
