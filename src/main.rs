//! The `stepguard` binary: the command line (SPEC §4) over the library. It
//! parses arguments, owns the one tokio runtime, and maps every error to a
//! message and an exit code.

mod cli;

use std::future::Future;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, CliError, Command};

/// Exit codes (SPEC §4).
const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The one tokio runtime ([`stepguard::exec::runtime`]), built the first
/// time a subcommand needs it: most never do. Dropping it ends whatever it
/// still runs.
#[derive(Default)]
pub struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub fn block_on<F: Future>(&mut self, future: F) -> anyhow::Result<F::Output> {
        let runtime = match &self.0 {
            Some(runtime) => runtime,
            None => self.0.insert(stepguard::exec::runtime()?),
        };
        Ok(runtime.block_on(future))
    }
}

/// The subcommands that only read files and print.
fn only_prints(cli: &Cli) -> bool {
    matches!(
        cli.command,
        Some(
            Command::Check { .. }
                | Command::Guard { .. }
                | Command::Import { .. }
                | Command::Eval { .. }
                | Command::Report { .. }
                | Command::Sessions { command: None, .. }
                | Command::Audit { .. }
                | Command::Match {
                    alertmanager: None,
                    rerank: false,
                    ..
                }
        )
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if only_prints(&cli) {
        // Their output may go to a pipe that closes early (`stepguard match
        // … | head -1`): end quietly then, as Unix tools do, instead of a
        // panic on the next print. Commands with a screen, a runner or a
        // model connection keep SIGPIPE ignored (a closed socket is an error
        // they report).
        // SAFETY: called before any thread starts; SIG_DFL is a valid handler.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        stepguard::exec::set_watcher(exe);
    }
    if let Some(dir) = stepguard::paths::state_dir() {
        // A state directory an older stepguard left open to others is made
        // owner-only on first use (doctor reports what it finds instead).
        // Best effort: what cannot be tightened here fails where it is used.
        if !matches!(cli.command, Some(Command::Doctor)) {
            let _ = stepguard::paths::tighten_state_dir(&dir);
        }
    }
    // A broken config stops here, before any screen, as path:line:col.
    match cli::inputs::config_file() {
        Ok(file) => stepguard::exec::set_sandbox_policy(file.sandbox_policy()),
        Err(err) => {
            eprintln!("stepguard: {err:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let mut runtime = Runtime::default();
    let result = cli::dispatch(cli, &mut runtime);
    drop(runtime);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(CliError::Invalid(load)) = err.downcast_ref::<CliError>() {
                for line in load.problems() {
                    eprintln!("{line}");
                }
                return ExitCode::from(EXIT_FAILED);
            }
            eprintln!("stepguard: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
