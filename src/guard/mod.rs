//! The read-only guard (SPEC §5). Placeholder until the real module lands.

/// The guard's answer for one command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Would stepguard run this command line?
pub fn check(_command: &str) -> Decision {
    Decision { allowed: false, reason: "guard not built".into() }
}
