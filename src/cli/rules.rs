//! `stepguard rules`: the engineer's standing rules (SPEC §7).

use anyhow::Result;
use clap::Subcommand;
use stepguard::sanitize::sanitize_line;

use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Allow `-- PROGRAM ARG...` with exactly these arguments, each a literal,
    /// `re:REGEX` (the whole argument) or `*` (any one argument not starting with '-').
    Add {
        /// PROGRAM then its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "PROGRAM ARG")]
        form: Vec<String>,
        /// Why this form is safe (required; recorded).
        #[arg(long)]
        reason: String,
        /// Stop allowing it after N uses.
        #[arg(long, value_name = "N")]
        max_uses: Option<u32>,
        /// Stop allowing it after this long: 30m, 2h, 7d.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Every rule with its state and uses.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop allowing a rule at once.
    Revoke { id: String },
}

pub fn rules(command: RulesCommand) -> Result<u8> {
    use stepguard::standing;
    let store = standing::RuleStore::default_store().map_err(|e| anyhow::anyhow!(e))?;
    let now = standing::now();
    match command {
        RulesCommand::Add {
            form,
            reason,
            max_uses,
            expires,
        } => {
            let (program, args) = form.split_first().expect("clap requires PROGRAM");
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            match standing::add(
                &store,
                program,
                args,
                max_uses,
                expires.as_deref(),
                &reason,
                &user,
                now,
            ) {
                Ok(rule) => {
                    println!(
                        "added standing rule {}: {}",
                        rule.id,
                        sanitize_line(&rule.form(), 500)
                    );
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    eprintln!("stepguard: {}", sanitize_line(&e, 500));
                    Ok(EXIT_FAILED)
                }
            }
        }
        RulesCommand::List { json } => {
            let list = store.list().map_err(|e| anyhow::anyhow!(e))?;
            if json {
                println!(
                    "{}",
                    stepguard::sanitize::escape_json(&standing::list_json(&list, now))
                );
            } else {
                print!(
                    "{}",
                    stepguard::sanitize::sanitize_text(&standing::list_text(&list, now))
                );
            }
            Ok(EXIT_OK)
        }
        RulesCommand::Revoke { id } => match standing::revoke(&store, &id, now) {
            Ok(rule) => {
                println!("revoked standing rule {}", rule.id);
                Ok(EXIT_OK)
            }
            Err(e) => {
                eprintln!("stepguard: {}", sanitize_line(&e, 500));
                Ok(EXIT_FAILED)
            }
        },
    }
}
