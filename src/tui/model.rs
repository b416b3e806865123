//! Everything the screen shows, and nothing else. `update` changes it;
//! `view` reads it. No IO, no clocks, no handles.

use std::collections::VecDeque;

use std::collections::BTreeMap;

use crate::draft::{Card, Context};
use crate::exec::{Judgement, Stream, Verdict};
use crate::llm::{compose, DraftProgress, HistoryItem, ModelOutcome};
use crate::runbook::{Risk, Runbook};

use super::msg::CheckKind;

/// Lines kept in the output pane (the runner keeps its own bounded copy).
pub const OUTPUT_PANE_LINES: usize = 5_000;
/// Lines of the pasted state shown in the state pane.
pub const STATE_PREVIEW_LINES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The firing alerts of an Alertmanager, to start from one.
    Alerts,
    Picker,
    Walk,
    /// The walk ended (derived from its phase, never set).
    End,
}

#[derive(Debug)]
pub struct Model {
    /// Where the human navigated: alerts, picker or the walk. What the
    /// screen shows is [`Model::screen`].
    pub nav: Screen,
    pub catalog: Vec<Runbook>,
    pub picker: Picker,
    pub ctx: Context,
    pub state: StateView,
    pub walk: Option<Walk>,
    pub overlay: Overlay,
    /// One line of feedback in the footer: what just happened or why not.
    pub status: Option<String>,
    /// How `a`/`y` copy: "tmux buffer", "wl-copy", "OSC 52", ...
    pub clipboard: String,
    /// `offline` or a model name (header).
    pub drafter: String,
    /// Shown above everything (e.g. why drafting is offline).
    pub banner: Option<String>,
    /// Why the session is not being saved right now; cleared by the
    /// recorder as soon as writing works again (shown before the banner).
    pub save_error: Option<String>,
    /// Why pre-flights run without the kernel sandbox (header and card);
    /// None when Landlock confines them.
    pub unsandboxed: Option<String>,
    pub session_id: String,
    /// Where commands go (header), e.g. a kube context.
    pub target: String,
    pub next_run_id: u64,
    /// A model is configured: steps are drafted.
    pub model_enabled: bool,
    /// Draft the next step while the human works on this one.
    pub prefetch: bool,
    /// The wall clock, set by the runtime before each message (update
    /// itself never reads a clock).
    pub now_ms: u64,
    /// The escalation rules (SPEC §7), from the config file.
    pub policy: crate::policy::PolicyConfig,
    /// Who runs stepguard (the runtime sets it from the session's user): a
    /// second person must be someone else.
    pub operator: String,
    /// A team database is configured: a critical step's second person
    /// approves from their own terminal (`Gate::TeamApproval`).
    pub team: bool,
    /// The team's audit is not reaching the database: how many lines wait
    /// and why (the runtime sets it; the local log keeps them).
    pub team_audit: Option<String>,
    /// Approval requests filed so far (the attempt of the next).
    pub approval_attempts: u64,
    /// Bumped whenever the pasted state is replaced (the runtime saves it).
    pub state_version: u64,
    /// Skips and halts of runbook steps in the last 24 h (all sessions).
    pub rejections: Vec<crate::session::Rejection>,
    /// The catalogue's index, to rank the picker by the alert and state.
    pub matcher: Option<std::sync::Arc<crate::matching::Matcher>>,
    /// Catalogue indices with their match confidence, best first (empty:
    /// catalogue order).
    pub ranking: Vec<(usize, f64)>,
    /// What the ranking read (`alert` or `state`) and its query text: the
    /// model is asked about it (`Ctrl-R` in the picker), its digest recorded.
    pub rank_query: Option<(&'static str, String)>,
    /// The model's answer on the current ranking.
    pub rerank: Rerank,
    /// Asks of the model about a ranking so far (the generation of the next).
    pub rerank_asks: u64,
    /// Firing alerts from `--alertmanager`, and the one under the cursor.
    pub alerts: Vec<crate::draft::Alert>,
    pub alert_selected: usize,
}

/// The model's second opinion on the picker's ranking. A new ranking
/// forgets it, so a late answer about an old one is dropped.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Rerank {
    #[default]
    NotAsked,
    Asking {
        generation: u64,
    },
    Answered(crate::session::event::Reranked),
}

#[derive(Debug, Default)]
pub struct Picker {
    pub filter: String,
    pub selected: usize,
}

/// A cheap summary of the pasted state, computed once per paste (a 10 MB
/// paste must not be rescanned every frame).
#[derive(Debug, Default, Clone)]
pub struct StateView {
    pub lines: usize,
    pub bytes: usize,
    pub preview: Vec<String>,
}

impl StateView {
    pub fn of(text: Option<&str>) -> Self {
        let Some(text) = text else {
            return StateView::default();
        };
        StateView {
            lines: text.lines().count(),
            bytes: text.len(),
            preview: text
                .lines()
                .take(STATE_PREVIEW_LINES)
                .map(|l| crate::sanitize::sanitize_line(l, 400).into_owned())
                .collect(),
        }
    }
}

#[derive(Debug)]
pub struct Walk {
    pub runbook: Runbook,
    pub index: usize,
    pub card: Card,
    pub steps: Vec<StepRecord>,
    /// Where the current step is: the one place that says what `p`, `r`
    /// and the prompts may do (transitions in `super::step`).
    pub phase: Phase,
    pub output: OutputPane,
    /// The last pre-flight verdict of this step, for the command it judged.
    pub preflight: Option<Judged>,
    pub verify: Option<Judged>,
    /// The action as the human edited it with `e`.
    pub edited_action: Option<String>,
    pub focus: Focus,
    pub card_scroll: u16,
    /// The card's last scroll position with a full page below, as last
    /// drawn (the view knows the wrapped height; `update` clamps with it).
    pub card_max_scroll: std::cell::Cell<u16>,
    /// When this step's card was first shown (decision latency, SPEC §7).
    pub shown_at_ms: u64,
    /// Model drafts by step index, for the current context generation.
    pub drafts: BTreeMap<usize, DraftSlot>,
    /// Bumped when the state changes: drafts of an older generation are dropped.
    pub generation: u64,
    /// The team's approval asked for the current step's `p`.
    pub approval: Option<Approval>,
}

/// A request to the team database for the step's `p`, bound to what the
/// approver is shown: the action and pre-flight digests at filing.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// Which filing this is (a late answer about an earlier one is voided).
    pub attempt: u64,
    pub step: usize,
    /// None until the database has it.
    pub id: Option<String>,
    pub action_sha256: String,
    pub preflight_sha256: String,
    /// When it expires, on `now_ms`'s clock (from the database's time left).
    pub deadline_ms: Option<u64>,
    pub requested_by: String,
    pub required: i32,
    pub approvers: Vec<String>,
    /// The database cannot be reached: still waiting, and why.
    pub trouble: Option<String>,
}

/// A model draft for one step.
#[derive(Debug, Clone, PartialEq)]
pub enum DraftSlot {
    InFlight {
        elapsed_ms: u64,
        chars: usize,
        tail: String,
        usage: Option<(u64, u64)>,
        note: Option<String>,
    },
    Ready(Box<ModelOutcome>),
    Failed(String),
}

impl DraftSlot {
    pub fn ready(&self) -> Option<&ModelOutcome> {
        match self {
            DraftSlot::Ready(o) => Some(o),
            _ => None,
        }
    }

    pub fn apply(&mut self, elapsed: u64, progress: Option<DraftProgress>) {
        if let DraftSlot::InFlight {
            elapsed_ms,
            chars,
            tail,
            usage,
            note,
        } = self
        {
            *elapsed_ms = elapsed;
            match progress {
                Some(DraftProgress::Text { chars: c, tail: t }) => {
                    *chars = c;
                    *tail = t;
                }
                Some(DraftProgress::Usage { prompt, completion }) => {
                    *usage = Some((prompt, completion))
                }
                Some(DraftProgress::Note(n)) => *note = Some(n),
                None => {}
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WalkEnd {
    Completed,
    Halted { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Card,
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
    pub status: StepStatus,
    /// Reasons and confirmations typed for this step.
    pub note: String,
    pub copied: Vec<String>,
    pub edited: bool,
}

impl StepRecord {
    pub fn pending() -> Self {
        StepRecord {
            status: StepStatus::Pending,
            note: String::new(),
            copied: Vec::new(),
            edited: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StepStatus {
    Pending,
    /// Proceeded with `p`, on this pre-flight verdict (None: no pre-flight).
    Proceeded(Option<Verdict>),
    Skipped,
    Halted,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Judged {
    pub command: String,
    pub judgement: Judgement,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Instruction-like lines in the output (shown; never acted on).
    pub suspicious: Vec<String>,
    /// When it finished (the model's clock).
    #[serde(default)]
    pub at_ms: u64,
}

/// The current step's phase: reading the card, a check running, `p`'s
/// gates being answered, or the walk decided (ended) here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Reading,
    Checking {
        run_id: u64,
        kind: CheckKind,
        /// The rules as they were when the command started.
        proceed_if: Option<String>,
        stop_if: Option<String>,
    },
    Gating {
        /// Every gate `p` asked, as the policy decided it when pressed.
        asked: Vec<Gate>,
        /// Still to pass, the first one asked now.
        gates: Vec<Gate>,
        /// What was typed at each gate passed so far (kept for the record).
        answers: Vec<String>,
        /// What is typed at the current gate, and why it was refused.
        input: String,
        error: Option<String>,
    },
    Decided(WalkEnd),
}

#[derive(Debug, Default)]
pub struct OutputPane {
    pub title: String,
    pub lines: VecDeque<(Stream, String)>,
    /// Lines that scrolled out of the pane.
    pub dropped: u64,
    /// Lines scrolled up from the bottom (0 follows new output).
    pub scroll: usize,
    /// Columns scrolled to the right (long lines are not wrapped: a table
    /// keeps its columns).
    pub hscroll: u16,
}

impl OutputPane {
    pub fn push(&mut self, stream: Stream, text: String) {
        if self.lines.len() == OUTPUT_PANE_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back((stream, text));
        if self.scroll > 0 {
            // Keep the view still while the human reads scrolled-up output.
            self.scroll = (self.scroll + 1).min(self.lines.len());
        }
    }
}

pub use crate::policy::Gate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Prompt(Prompt),
    /// The whole pasted state, full screen (`S`).
    Viewer(Box<Viewer>),
    /// Pasting the cluster state: `pending` holds a paste until Enter.
    State {
        pending: Option<String>,
        /// Lines in `pending`, counted once at paste time: a 10 MB paste
        /// must not be rescanned on every frame.
        lines: usize,
        /// Why the paste may not be state (binary, very large): the dialog
        /// says so and Enter keeps it only as an answer to that.
        warning: Option<String>,
    },
}

/// The state viewer: every line of the pasted state, scrolled, searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Where each line starts (bytes), counted once when the viewer opens.
    pub starts: Vec<usize>,
    /// The first line on screen.
    pub top: usize,
    /// Columns scrolled to the right (lines are not wrapped).
    pub hscroll: u16,
    /// A search being typed after `/`.
    pub typing: Option<String>,
    /// The last search, and the line it found.
    pub query: String,
    pub hit: Option<usize>,
    /// What the last search or key did (e.g. "not found").
    pub note: Option<String>,
    /// Lines on screen, as last drawn (the view knows the height).
    pub page: std::cell::Cell<usize>,
}

impl Viewer {
    pub fn of(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1)
                .filter(|&i| i < text.len()),
        );
        Viewer {
            starts,
            top: 0,
            hscroll: 0,
            typing: None,
            query: String::new(),
            hit: None,
            note: None,
            page: std::cell::Cell::new(20),
        }
    }

    /// Line `i` of `text` (without its newline).
    pub fn line<'t>(&self, text: &'t str, i: usize) -> &'t str {
        let start = self.starts[i];
        // Every line ends before its newline, the last one too.
        let end = self
            .starts
            .get(i + 1)
            .map_or_else(|| text.len() - usize::from(text.ends_with('\n')), |e| e - 1);
        &text[start..end.max(start)]
    }

    /// The next line after (or before) `from` containing the query,
    /// ignoring ASCII case, wrapping around.
    pub fn find(&self, text: &str, from: usize, forward: bool) -> Option<usize> {
        let needle = self.query.as_bytes();
        if needle.is_empty() {
            return None;
        }
        let n = self.starts.len();
        (1..=n)
            .map(|k| {
                if forward {
                    (from + k) % n
                } else {
                    (from + n * 2 - k) % n
                }
            })
            .find(|&i| {
                self.line(text, i)
                    .as_bytes()
                    .windows(needle.len())
                    .any(|w| w.eq_ignore_ascii_case(needle))
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    pub error: Option<String>,
    /// Where the gate stands (a team approval being waited for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PromptKind {
    /// A gate of `p` (shown from the walk's phase; saved in snapshots).
    Gate(Gate),
    SkipReason,
    HaltReason,
    /// `d`: an optional hint for a new draft.
    RedraftHint,
    /// `a` on an action aimed at another target: a reason to copy anyway.
    CopyOverride {
        mismatch: String,
    },
    /// `=`: a value for one of the step's variables, typed or picked.
    SetValue {
        name: String,
        /// What the variable is, and its current value.
        about: String,
        /// Values the context offers (↑/↓ put one in the input).
        choices: Vec<String>,
    },
}

impl Prompt {
    pub fn new(kind: PromptKind) -> Self {
        Prompt {
            kind,
            input: String::new(),
            error: None,
            note: None,
        }
    }

    pub fn title(&self) -> String {
        match &self.kind {
            PromptKind::Gate(g) => g.prompt(),
            PromptKind::SkipReason => "skip this step — why?".into(),
            PromptKind::HaltReason => "halt the runbook and escalate — why?".into(),
            PromptKind::CopyOverride { mismatch } => {
                format!("{mismatch} — type a reason to copy it anyway")
            }
            PromptKind::RedraftHint => {
                "re-draft this step — a hint for the model (optional, Enter to send)".into()
            }
            PromptKind::SetValue {
                name,
                about,
                choices,
            } => {
                let mut title = format!("set {name} — {about}");
                if !choices.is_empty() {
                    let shown: Vec<String> = choices
                        .iter()
                        .map(|c| crate::sanitize::sanitize_line(c, 40).into_owned())
                        .collect();
                    title.push_str(&format!(
                        " · offered: {} (↑/↓ picks; the card says where each is from)",
                        shown.join(", ")
                    ));
                }
                title.push_str(" · Tab: another value");
                title
            }
        }
    }
}

impl Model {
    pub fn new(catalog: Vec<Runbook>, ctx: Context) -> Self {
        let state = StateView::of(ctx.state_text());
        Model {
            nav: Screen::Picker,
            catalog,
            picker: Picker::default(),
            ctx,
            state,
            walk: None,
            overlay: Overlay::None,
            status: None,
            clipboard: String::new(),
            drafter: "offline".into(),
            banner: None,
            save_error: None,
            unsandboxed: None,
            session_id: String::new(),
            target: String::new(),
            next_run_id: 1,
            model_enabled: false,
            prefetch: true,
            now_ms: 0,
            policy: crate::policy::PolicyConfig::default(),
            operator: String::new(),
            team: false,
            team_audit: None,
            approval_attempts: 0,
            state_version: 0,
            rejections: Vec::new(),
            matcher: None,
            ranking: Vec::new(),
            rank_query: None,
            rerank: Rerank::NotAsked,
            rerank_asks: 0,
            alerts: Vec::new(),
            alert_selected: 0,
        }
    }

    /// Indices of the runbooks matching the picker's filter (every word must
    /// appear in the id, title, alerts or symptoms).
    /// Rank the catalogue by the alert (if any), else the pasted state.
    pub fn rank_catalog(&mut self) {
        let Some(matcher) = &self.matcher else { return };
        let (by, query) = match (&self.ctx.alert, self.ctx.state_text()) {
            (Some(alert), _) => ("alert", crate::matching::query_from_alert(alert)),
            // The head of a huge paste says what it is; ranking all of it
            // would cost a frame budget many times over.
            (None, Some(state)) => {
                let mut end = state.len().min(64 * 1024);
                while !state.is_char_boundary(end) {
                    end -= 1;
                }
                ("state", crate::matching::query_from_text(&state[..end]))
            }
            (None, None) => return,
        };
        // What the model would be asked about changed: its answer is void.
        self.rerank = Rerank::NotAsked;
        self.rank_query = Some((by, query.text.clone()));
        self.ranking = matcher
            .rank(&query)
            .into_iter()
            .filter_map(|m| {
                Some((
                    self.catalog.iter().position(|r| r.id == m.id)?,
                    m.confidence,
                ))
            })
            .collect();
    }

    /// The best runbook for an alert, with its confidence.
    /// The best runbook for an alert, its confidence, and how many runbooks
    /// share that confidence when it rests on the alert itself (its name,
    /// its link, its name written in its text): more than one, and which
    /// opens would be the order of their words, so the human chooses.
    pub fn best_for(&self, alert: &crate::draft::Alert) -> Option<(usize, f64, usize)> {
        let ranked = self
            .matcher
            .as_ref()?
            .rank(&crate::matching::query_from_alert(alert));
        let m = ranked.first()?;
        let structural = m.confidence >= crate::matching::RUNBOOK_URL_CONFIDENCE;
        let ties = if structural {
            ranked
                .iter()
                .filter(|r| r.confidence == m.confidence)
                .count()
        } else {
            1
        };
        Some((
            self.catalog.iter().position(|r| r.id == m.id)?,
            m.confidence,
            ties,
        ))
    }

    /// Catalogue order: ranked runbooks first (best first), then the rest.
    fn ordered(&self) -> Vec<usize> {
        let ranked: Vec<usize> = self.ranking.iter().map(|(i, _)| *i).collect();
        let rest = (0..self.catalog.len()).filter(|i| !ranked.contains(i));
        ranked.iter().copied().chain(rest).collect()
    }

    pub fn confidence(&self, index: usize) -> Option<f64> {
        self.ranking
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, c)| *c)
    }

    pub fn filtered(&self) -> Vec<usize> {
        let words: Vec<String> = self
            .picker
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.ordered()
            .into_iter()
            .map(|i| (i, &self.catalog[i]))
            .filter(|(_, rb)| {
                let hay = format!(
                    "{} {} {} {}",
                    rb.id,
                    rb.title,
                    rb.alerts.join(" "),
                    rb.symptoms.join(" ")
                )
                .to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Open a runbook at its first step.
    pub fn start_walk(&mut self, runbook: Runbook) {
        let card = compose(&runbook, 0, &self.ctx, None);
        let steps = vec![StepRecord::pending(); runbook.steps.len()];
        self.walk = Some(Walk {
            runbook,
            index: 0,
            card,
            steps,
            phase: Phase::Reading,
            output: OutputPane::default(),
            preflight: None,
            verify: None,
            edited_action: None,
            focus: Focus::Card,
            card_scroll: 0,
            card_max_scroll: std::cell::Cell::new(u16::MAX),
            shown_at_ms: self.now_ms,
            drafts: BTreeMap::new(),
            generation: 0,
            approval: None,
        });
        self.nav = Screen::Walk;
        self.overlay = Overlay::None;
    }

    /// What the screen shows: the end screen once the walk is decided.
    pub fn screen(&self) -> Screen {
        match (&self.nav, &self.walk) {
            (Screen::Walk, Some(walk)) if walk.end().is_some() => Screen::End,
            (nav, _) => *nav,
        }
    }

    /// The prompt on screen: an overlay's, else the gate `p` asks now.
    pub fn prompt(&self) -> Option<Prompt> {
        if let Overlay::Prompt(p) = &self.overlay {
            return Some(p.clone());
        }
        let walk = self.walk.as_ref()?;
        match &walk.phase {
            Phase::Gating {
                gates,
                input,
                error,
                ..
            } => Some(Prompt {
                kind: PromptKind::Gate(gates.first()?.clone()),
                input: input.clone(),
                error: error.clone(),
                note: walk
                    .approval
                    .as_ref()
                    .map(|a| super::approval::waiting_line(self, a)),
            }),
            _ => None,
        }
    }
}

/// "20 min ago", for people.
pub fn ago(now_ms: u64, at_ms: u64) -> String {
    let s = now_ms.saturating_sub(at_ms) / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

impl Model {
    /// Earlier skips and halts of this runbook step (newest first).
    pub fn rejections_for(
        &self,
        runbook_id: &str,
        step_id: &str,
    ) -> Vec<&crate::session::Rejection> {
        self.rejections
            .iter()
            .filter(|r| r.runbook_id == runbook_id && r.step_id == step_id)
            .collect()
    }
}

impl Walk {
    /// How the walk ended, once it has.
    pub fn end(&self) -> Option<&WalkEnd> {
        match &self.phase {
            Phase::Decided(end) => Some(end),
            _ => None,
        }
    }

    /// The check running now, if any.
    pub fn running(&self) -> Option<(u64, CheckKind)> {
        match &self.phase {
            Phase::Checking { run_id, kind, .. } => Some((*run_id, *kind)),
            _ => None,
        }
    }

    /// What happened at the steps before the current one, for the model.
    pub fn history(&self) -> Vec<HistoryItem> {
        self.runbook
            .steps
            .iter()
            .zip(&self.steps)
            .take(self.index)
            .map(|(step, record)| HistoryItem {
                step: format!("{} ({})", step.id, step.title),
                outcome: match record.status {
                    StepStatus::Pending => "not done".into(),
                    StepStatus::Proceeded(Some(v)) => format!("proceeded after pre-flight {v}"),
                    StepStatus::Proceeded(None) => "proceeded without a pre-flight".into(),
                    StepStatus::Skipped => "skipped".into(),
                    StepStatus::Halted => "halted".into(),
                },
                reason: record.note.clone(),
            })
            .collect()
    }

    pub fn risk(&self) -> Risk {
        self.card.risk
    }

    /// Put a card built again (another value, another state, a draft) on
    /// screen. An edit counts only for the action it edited: when the
    /// card's action changed, the edit is dropped (it aimed at the old
    /// values) and true is returned, for the screen to say so.
    pub fn replace_card(&mut self, card: Card) -> bool {
        let action = |c: &Card| c.action.as_ref().map(|a| a.command.clone());
        let changed = action(&self.card) != action(&card);
        self.card = card;
        changed && self.edited_action.take().is_some()
    }

    /// The action as it will be copied: the human's edit, else the card's.
    pub fn action(&self) -> Option<&str> {
        self.edited_action
            .as_deref()
            .or(self.card.action.as_ref().map(|a| a.command.as_str()))
    }

    /// Values the action (`rollback: false`) or the rollback needs that
    /// nothing supplied: such a command is not copied, and `p` waits.
    /// An action the human edited is theirs as written.
    pub fn missing_for(&self, rollback: bool) -> Vec<String> {
        let step = &self.runbook.steps[self.index];
        let template = if rollback {
            match &step.rollback {
                Some(crate::runbook::Rollback::Command(c)) => Some(c.run.as_str()),
                _ => None,
            }
        } else if self.edited_action.is_some() {
            None
        } else {
            step.action.as_ref().map(|a| a.run.as_str())
        };
        let Some(template) = template else {
            return Vec::new();
        };
        let used: Vec<&str> = crate::runbook::render::placeholders(template).collect();
        self.card
            .missing
            .iter()
            .filter(|m| used.contains(&m.as_str()))
            .cloned()
            .collect()
    }

    /// The pre-flight verdict, if it judged the command the card shows now.
    pub fn current_preflight(&self) -> Option<&Judged> {
        let shown = self.card.preflight.as_ref()?;
        self.preflight
            .as_ref()
            .filter(|j| j.command == shown.command)
    }

    /// The name a high-risk confirmation asks for: the first value the
    /// action acts on, else the first it uses, else the step id. A value
    /// handed over as a setting (`-v minutes={{m}}`, `--timeout={{t}}`) is
    /// not what the action acts on.
    pub fn target_name(&self) -> String {
        let step = &self.runbook.steps[self.index];
        let action = step.action.as_ref().map(|a| a.run.as_str()).unwrap_or("");
        let value = |name: &str| {
            self.card
                .values
                .iter()
                .find(|v| v.name == name)
                .and_then(|v| v.value.clone())
        };
        let operand = action.split_whitespace().find_map(|word| {
            let at = word.find("{{")?;
            if word[..at].contains('=') {
                return None;
            }
            crate::runbook::render::placeholders(&word[at..])
                .next()
                .and_then(value)
        });
        operand
            .or_else(|| crate::runbook::render::placeholders(action).find_map(value))
            .unwrap_or_else(|| step.id.clone())
    }
}
