//! Model drafting over any OpenAI-compatible endpoint (SPEC §3). The model
//! drafts; everything it returns is data, validated by code before it can
//! reach a card, and nothing it says is ever executed.

pub mod cache;
pub mod client;

pub mod prompt;
pub mod reply;
pub mod rerank;
pub mod schema;

use tokio::sync::{mpsc, oneshot};

use crate::draft::Context;
use crate::runbook::Runbook;

pub use crate::config::ModelConfig;
pub use client::{DraftProgress, ModelClient, ModelError, ModelReply, ResponseMode};
pub use prompt::{BuiltPrompt, DraftInput, HistoryItem, Prompts};
pub use reply::{
    accept, compose, parse_reply, DraftFailure, DraftMetrics, ModelDraft, ModelOutcome,
    RejectedPart,
};

/// Everything a worker needs to draft one step: a snapshot, since the
/// screen's model keeps changing while the request is in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftJob {
    pub runbook: Runbook,
    pub step_index: usize,
    pub ctx: Context,
    pub history: Vec<HistoryItem>,
    pub hint: Option<String>,
    /// Skip the cache: the human asked for a new draft.
    pub fresh: bool,
}

/// A configured model: the client, the prompts and the state budget.
pub struct Drafter {
    pub client: ModelClient,
    pub prompts: Prompts,
    pub budget_tokens: usize,
}

impl Drafter {
    /// None (with the reason) when drafting is offline.
    pub fn from_config(cfg: &ModelConfig) -> Result<Drafter, String> {
        if let Some(why) = cfg.offline_reason() {
            return Err(why);
        }
        let prompts =
            Prompts::load(cfg.prompts_dir.as_deref()).map_err(|e| format!("prompts: {e}"))?;
        let client = ModelClient::new(cfg).map_err(|e| e.to_string())?;
        Ok(Drafter {
            client,
            prompts,
            budget_tokens: cfg.state_budget_tokens,
        })
    }

    /// Build the request, ask the model, parse the reply. The result is
    /// data for `compose`; nothing in it is acted on.
    pub async fn draft(
        &self,
        job: &DraftJob,
        progress: Option<mpsc::Sender<DraftProgress>>,
        cancel: Option<oneshot::Receiver<()>>,
    ) -> Result<ModelOutcome, DraftFailure> {
        // Building the prompt redacts the whole state (up to megabytes):
        // a blocking thread, not the async ones that keep the screen live.
        let (prompts, owned, budget_tokens) =
            (self.prompts.clone(), job.clone(), self.budget_tokens);
        let built = tokio::task::spawn_blocking(move || {
            let input = DraftInput {
                runbook: &owned.runbook,
                step_index: owned.step_index,
                ctx: &owned.ctx,
                history: &owned.history,
                hint: owned.hint.as_deref(),
                budget_tokens,
            };
            prompt::build(&prompts, &input)
        })
        .await
        .map_err(|e| DraftFailure::from(format!("building the request failed: {e}")))?;
        let reply = self
            .client
            .complete(&built, progress, cancel, !job.fresh)
            .await
            .map_err(|e| DraftFailure::from(e.to_string()))?;
        let (completion_tokens, tokens_counted) = reply.completion_tokens();
        let mut metrics = DraftMetrics {
            latency_ms: reply.elapsed.as_millis() as u64,
            // The server's count, else about four characters a token.
            prompt_tokens: reply
                .usage
                .map(|(p, _)| p)
                .filter(|&p| p > 0)
                .or(Some(((built.system.len() + built.user.len()) / 4) as u64)),
            completion_tokens,
            tokens_counted,
            max_tokens: reply.max_tokens,
            response_format: match reply.mode {
                ResponseMode::JsonSchema => "json_schema",
                ResponseMode::JsonObject => "json_object",
                ResponseMode::Plain => "plain",
            }
            .into(),
            finish_reason: reply.finish_reason.clone(),
            contract_keys: reply::has_contract_keys(&reply.text),
            cached: reply.cached,
            rejected: Vec::new(),
        };
        let fail = |reason: String, metrics: &DraftMetrics| DraftFailure {
            reason,
            metrics: Some(metrics.clone()),
        };
        if reply.cut() {
            return Err(fail(
                format!(
                    "the reply was cut at {completion_tokens} tokens (the cap is {}): not a draft",
                    reply.max_tokens
                ),
                &metrics,
            ));
        }
        let draft = parse_reply(&reply.text)
            .map_err(|e| fail(format!("the model's reply is not a draft: {e}"), &metrics))?;
        let (draft, rejected) = accept(draft, &job.runbook, job.step_index);
        metrics.rejected = rejected;
        if draft.is_empty() {
            let why = match metrics.rejected.as_slice() {
                [] => "it held no values, flags or notes".to_string(),
                parts => parts
                    .iter()
                    .take(3)
                    .map(|p| format!("{}: {}", p.what, p.why))
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            return Err(fail(
                format!("nothing in the model's reply passed the checks ({why})"),
                &metrics,
            ));
        }
        let prompt_sha256 = built.digest(&format!(
            "{} {}",
            self.client.endpoint(),
            self.client.model()
        ));
        Ok(ModelOutcome {
            draft,
            model: reply.model,
            evidence: built.evidence,
            suspicious: built.suspicious,
            usage: reply.usage,
            cached: reply.cached,
            redactions: built.redactions,
            prompt_sha256,
            elapsed_ms: reply.elapsed.as_millis() as u64,
            metrics,
        })
    }
}
