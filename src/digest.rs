//! One way to name bytes: SHA-256 in lowercase hex (audit chain, output and
//! prompt digests, session and rule ids).

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a finished digest (or any bytes).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
