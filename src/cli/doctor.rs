//! `stepguard doctor`: what protects you here.

use std::path::PathBuf;

use anyhow::Result;
use stepguard::doctor::{examine, to_text, Inputs, Level};

use super::inputs::{config_file, model_config};
use crate::{Runtime, EXIT_FAILED, EXIT_OK};

pub fn doctor(runtime: &mut Runtime, runbook_dirs: Vec<PathBuf>) -> Result<u8> {
    let inputs = Inputs {
        sandbox: config_file()?.sandbox_policy(),
        model: model_config(false, None)?,
        state_dir: stepguard::paths::state_dir(),
        runbook_dirs,
        clipboard: stepguard::tui::clipboard::Method::detect().label(),
    };
    let findings = runtime.block_on(examine(&inputs))?;
    print!("{}", to_text(&findings));
    let failed = findings.iter().any(|f| f.level == Level::Fail);
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}
