//! Runbooks: the format (SPEC §2), loading with `path:line:col` errors, rendering.

mod format;
mod load;
pub mod markdown;
pub mod render;

pub use format::*;
pub use load::{
    has_runbook_extension, load_dir, load_file, load_paths, load_paths_lenient, load_text,
    parse_str, LoadError, Loaded, Located, DEFAULT_VALUE_PATTERN, MAX_RUNBOOK_BYTES,
    MAX_WALK_ENTRIES,
};
pub use markdown::{parse_markdown, to_yaml};
