//! Drafts cached on disk by request digest: asking again for the same step
//! with the same context (a resumed session, a second look) costs no tokens.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct DraftCache {
    dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedReply {
    pub text: String,
    pub model: String,
    pub usage: Option<(u64, u64)>,
    #[serde(default)]
    pub mode: Option<super::ResponseMode>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub pieces: u64,
}

impl DraftCache {
    pub fn new(dir: PathBuf) -> Self {
        DraftCache { dir }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        // Digests are hex; anything else never touches the filesystem.
        (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join(format!("{digest}.json")))
    }

    pub fn get(&self, digest: &str) -> Option<CachedReply> {
        let text = std::fs::read_to_string(self.path(digest)?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Written to a temp file and renamed, so a crash never leaves half a draft.
    pub fn put(&self, digest: &str, reply: &CachedReply) -> std::io::Result<()> {
        let Some(path) = self.path(digest) else {
            return Ok(());
        };
        // Owner-only, like everything under the state directory; the temp
        // file is created 0600.
        crate::paths::create_private_dir(&self.dir)?;
        let tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        serde_json::to_writer(&tmp, reply)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
