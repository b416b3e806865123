//! Counts in words: `1 runbook`, `2 runbooks`, `0 runbooks`.

/// `n` and the noun that agrees with it.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn the_noun_agrees() {
        assert_eq!(count(1u32, "runbook", "runbooks"), "1 runbook");
        assert_eq!(count(0u32, "runbook", "runbooks"), "0 runbooks");
        assert_eq!(count(2u64, "entry", "entries"), "2 entries");
    }
}
