//! The kernel's half of "the tool runs only reads" (SPEC §1.1).
//!
//! The guard is a parser of other programs' argv, and no such parser is ever
//! complete. So every pre-flight and verify also runs under Linux Landlock:
//! the whole filesystem is readable, nothing outside a private scratch
//! directory (created per run, removed after) can be written, programs run
//! only from system locations and the directories the user lists
//! (`exec_dirs`, where cloud auth plugins live), never from the scratch
//! directory; no new privileges, no listening TCP socket, no signal or
//! abstract socket outside the sandbox. The ruleset is built here, in
//! stepguard, and applied in the child right before `exec` (see the
//! runner), because Landlock restrictions can never be lifted.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// `sandbox: required` needs at least this ABI: the first under which every
/// change to a file's content (truncation included) is Landlock's to refuse.
pub const MIN_REQUIRED_ABI: i32 = 3;

/// The ABI whose rights we ask for: the one this code is tested against.
/// Older kernels get what they support (best effort); see [`status`].
const TESTED_ABI: ABI = ABI::V6;

/// Forces the "kernel has no Landlock" path, to test what a user on such a
/// kernel sees. It can only weaken the sandbox to guard-only, which the
/// screen and the audit log then say; `sandbox: required` still refuses.
pub const FORCE_UNAVAILABLE_ENV: &str = "STEPGUARD_SANDBOX_UNAVAILABLE";

/// Where programs may be run from besides the user's `exec_dirs`.
pub const SYSTEM_EXEC_DIRS: [&str; 10] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/snap",
    "/nix/store",
];

/// `sandbox:` in the config file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Landlock where the kernel has it; elsewhere guard-only, and said so.
    #[default]
    Auto,
    /// No Landlock, no run.
    Required,
}

/// How pre-flights are confined: set once by the binary from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    /// Extra directories programs may run from (`~/.krew/bin`).
    pub exec_dirs: Vec<PathBuf>,
    /// Where a config file that can run programs (`--kubeconfig`) may be
    /// loaded from: [`default_config_dirs`] and the config's `config_dirs`.
    pub config_dirs: Vec<PathBuf>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            mode: SandboxMode::default(),
            exec_dirs: Vec::new(),
            config_dirs: default_config_dirs(),
        }
    }
}

/// Where kubectl, helm and docker keep the user's own configuration, and
/// /etc: places a checkout, a download or a pre-flight cannot put a file.
pub fn default_config_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/etc")];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        dirs.extend([".kube", ".docker", ".config/helm"].map(|d| home.join(d)));
    }
    dirs
}

/// What protects a run, as the header, the card and the audit log say it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SandboxStatus {
    /// Landlock enforced, with the kernel's ABI version.
    Enforced { abi: i32 },
    /// Only the guard stands: the kernel has no Landlock (why).
    GuardOnly { why: String },
}

impl SandboxStatus {
    pub fn enforced(&self) -> bool {
        matches!(self, SandboxStatus::Enforced { .. })
    }

    /// Short words for a header: `sandbox: landlock` or `sandbox: guard only`.
    pub fn label(&self) -> &'static str {
        match self {
            SandboxStatus::Enforced { .. } => "landlock",
            SandboxStatus::GuardOnly { .. } => "guard only",
        }
    }

    /// What this kernel's Landlock cannot hold, by ABI (empty from ABI 6).
    pub fn missing(&self) -> Vec<&'static str> {
        let SandboxStatus::Enforced { abi } = self else {
            return Vec::new();
        };
        [
            (3, "truncating files"),
            (4, "listening on TCP ports"),
            (5, "device ioctls"),
            (6, "signals and abstract sockets outside the sandbox"),
        ]
        .into_iter()
        .filter(|(since, _)| abi < since)
        .map(|(_, what)| what)
        .collect()
    }

    /// One line for a banner or the doctor.
    pub fn describe(&self) -> String {
        match self {
            SandboxStatus::Enforced { abi } if !self.missing().is_empty() => format!(
                "partly enforced (Landlock ABI {abi}): pre-flights cannot write outside their \
                 scratch directory, but this kernel does not confine {}",
                self.missing().join(", ")
            ),
            SandboxStatus::Enforced { abi } => format!(
                "enforced (Landlock ABI {abi}): pre-flights cannot write outside their scratch \
                 directory"
            ),
            SandboxStatus::GuardOnly { why } => {
                format!("NOT enforced ({why}): pre-flights are checked by the guard alone")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("refused: the config requires the sandbox, and {0}")]
    Required(String),
    #[error("could not create the scratch directory: {0}")]
    Scratch(std::io::Error),
    #[error("could not build the Landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// The kernel's Landlock support, probed once per process.
pub fn status() -> SandboxStatus {
    static STATUS: OnceLock<SandboxStatus> = OnceLock::new();
    STATUS.get_or_init(probe_kernel).clone()
}

fn probe_kernel() -> SandboxStatus {
    if std::env::var_os(FORCE_UNAVAILABLE_ENV).is_some_and(|v| !v.is_empty()) {
        return SandboxStatus::GuardOnly {
            why: format!("Landlock disabled by {FORCE_UNAVAILABLE_ENV}"),
        };
    }
    #[cfg(target_os = "linux")]
    {
        // The landlock crate keeps its version probe private (rules must not
        // depend on it); we only report it. LANDLOCK_CREATE_RULESET_VERSION = 1.
        // SAFETY: with a null attr and size 0 the call only returns a number.
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32,
            )
        };
        if v >= 1 {
            return SandboxStatus::Enforced { abi: v as i32 };
        }
        let why = match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EOPNOTSUPP) => "Landlock is built into this kernel but not enabled at boot",
            _ => "this kernel has no Landlock",
        };
        SandboxStatus::GuardOnly { why: why.into() }
    }
    #[cfg(not(target_os = "linux"))]
    SandboxStatus::GuardOnly {
        why: "Landlock exists only on Linux".into(),
    }
}

/// Scratch directories are named so, then the owning stepguard's pid: the
/// reaper removes one left behind, and so does the next stepguard that
/// runs anything once its owner is gone.
pub const SCRATCH_PREFIX: &str = "stepguard-run-";

/// Remove scratch directories whose stepguard is gone: a SIGKILL between
/// creating one and starting its watcher leaves it (once per process).
fn sweep_scratch() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok())
                .filter(|pid| *pid > 0)
            else {
                continue;
            };
            // Ours, a directory (not a link), and its owner gone: kill(pid, 0)
            // fails with ESRCH only when no process has that pid.
            let ours = std::fs::symlink_metadata(entry.path())
                .is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == uid);
            // SAFETY: signal 0 sends nothing; it only checks the pid.
            let gone = unsafe { libc::kill(pid, 0) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if ours && gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// Everything one run needs before the fork: its scratch directory, the
/// ruleset to apply in the child, and what protects it.
pub struct Prepared {
    pub scratch: tempfile::TempDir,
    pub ruleset: Option<RulesetCreated>,
    pub status: SandboxStatus,
}

/// Environment for the command: temp files and tools' caches go to the
/// scratch directory, the one place it may write.
pub fn scratch_env(scratch: &Path) -> [(&'static str, PathBuf); 4] {
    [
        ("TMPDIR", scratch.to_path_buf()),
        ("KUBECACHEDIR", scratch.join("kube-cache")),
        ("XDG_CACHE_HOME", scratch.join("cache")),
        ("HELM_CACHE_HOME", scratch.join("helm-cache")),
    ]
}

/// Builds one run's sandbox. Refuses when the policy requires Landlock and
/// the kernel has none.
pub fn prepare(policy: &SandboxPolicy) -> Result<Prepared, SandboxError> {
    let status = status();
    if policy.mode == SandboxMode::Required {
        match &status {
            SandboxStatus::GuardOnly { why } => return Err(SandboxError::Required(why.clone())),
            SandboxStatus::Enforced { abi } if *abi < MIN_REQUIRED_ABI => {
                return Err(SandboxError::Required(format!(
                    "this kernel's Landlock (ABI {abi}) cannot stop a pre-flight from truncating \
                     files (ABI {MIN_REQUIRED_ABI}, Linux 6.2, can)"
                )))
            }
            SandboxStatus::Enforced { .. } => {}
        }
    }
    sweep_scratch();
    let scratch = tempfile::Builder::new()
        .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(SandboxError::Scratch)?;
    let ruleset = match status {
        SandboxStatus::Enforced { .. } => Some(ruleset(policy, scratch.path())?),
        SandboxStatus::GuardOnly { .. } => None,
    };
    Ok(Prepared {
        scratch,
        ruleset,
        status,
    })
}

/// The directories programs may run from: the system's and the user's,
/// never one that holds the scratch directory (which could then run what a
/// pre-flight wrote).
pub fn exec_dirs(policy: &SandboxPolicy, scratch: &Path) -> Vec<PathBuf> {
    let scratch = scratch.canonicalize().unwrap_or_else(|_| scratch.into());
    SYSTEM_EXEC_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(policy.exec_dirs.iter().cloned())
        .filter_map(|d| d.canonicalize().ok())
        .filter(|d| !scratch.starts_with(d))
        .collect()
}

fn ruleset(policy: &SandboxPolicy, scratch: &Path) -> Result<RulesetCreated, SandboxError> {
    confine(&exec_dirs(policy, scratch), &[scratch])
}

/// A ruleset that lets a process read everything, run programs from
/// `exec_dirs` only, and write only beneath `writable` (and `/dev/null`).
/// Pre-flights get their scratch directory; tests that must observe what a
/// command would write get a throwaway tree.
pub fn confine(exec_dirs: &[PathBuf], writable: &[&Path]) -> Result<RulesetCreated, SandboxError> {
    let abi = TESTED_ABI;
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let created = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::BindTcp)?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(["/"], read))?
        .add_rules(path_beneath_rules(exec_dirs, read | AccessFs::Execute))?
        // Shells open /dev/null for `2>/dev/null`; writes there go nowhere.
        .add_rules(path_beneath_rules(
            ["/dev/null"],
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate,
        ))?
        .add_rules(path_beneath_rules(
            writable,
            AccessFs::from_all(abi) & !AccessFs::Execute,
        ))?;
    Ok(created)
}

/// Everything a pre-flight's child gets before `exec`: Landlock (when the
/// kernel has it), then every capability but a few read-only ones dropped,
/// the syscall filter, and inherited descriptors closed at exec. The same
/// without Landlock, so a guard-only run still cannot set the clock.
pub fn confine_child(ruleset: Option<RulesetCreated>) -> std::io::Result<()> {
    if let Some(ruleset) = ruleset {
        match ruleset.restrict_self() {
            Ok(s) if s.ruleset != RulesetStatus::NotEnforced && s.no_new_privs => {}
            _ => return Err(std::io::Error::from_raw_os_error(libc::EPERM)),
        }
    }
    super::hardening::drop_capabilities()?;
    super::hardening::apply_filters(super::hardening::filters())?;
    super::hardening::cloexec_inherited_fds();
    Ok(())
}

/// At most this many entries are looked at beneath a config directory;
/// more is refused rather than half checked.
const MAX_TRUSTED_ENTRIES: usize = 2_000;

/// Files a command loads configuration from that can run programs (a
/// kubeconfig's `exec` credential plugin, docker's config directory with
/// its helpers and plugins). Ownership cannot tell a file the user wrote
/// from one that arrived with a checkout, so each must lie in one of
/// `config_dirs` (the user's own config locations), be named by a path no
/// one else can redirect (no `/proc` or `/dev` alias, no component another
/// user could replace), be the user's own or root's, and neither it, nor a
/// directory above it, nor anything beneath it (for a directory) be
/// writable by anyone else. The sandbox keeps a pre-flight from writing
/// there, so what was checked is what the program reads.
pub fn check_trusted_files(paths: &[String], config_dirs: &[PathBuf]) -> Result<(), String> {
    for p in paths {
        let path = Path::new(p);
        check_trusted(path, config_dirs)
            .map_err(|why| format!("config file {} is not safe to load: {why}", shown(path)))?;
    }
    Ok(())
}

fn check_trusted(path: &Path, config_dirs: &[PathBuf]) -> Result<(), String> {
    let aliases = [Path::new("/proc"), Path::new("/dev")];
    if aliases.iter().any(|a| path.starts_with(a)) {
        return Err("a /proc or /dev path names whatever file a descriptor holds".into());
    }
    // Every component as written: a symlink on the way must be one only
    // the user or root could have put there, in a directory only they can
    // change (checked for each directory in turn).
    for (n, cur) in path.ancestors().enumerate() {
        let meta = std::fs::symlink_metadata(cur).map_err(|e| format!("{}: {e}", shown(cur)))?;
        closed_to_others(cur, &meta, n > 0)?;
    }
    let real = path.canonicalize().map_err(|e| e.to_string())?;
    if aliases.iter().any(|a| real.starts_with(a)) {
        return Err(format!("it resolves to {}", shown(&real)));
    }
    let trusted = config_dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .any(|d| real.starts_with(d));
    if !trusted {
        let listed: Vec<String> = config_dirs.iter().map(|d| shown(d)).collect();
        return Err(format!(
            "{} is outside the config directories ({}; add one with config_dirs in the config \
             file)",
            shown(&real),
            listed.join(", ")
        ));
    }
    // The file it resolves to, then every directory above that.
    for (n, cur) in real.ancestors().enumerate() {
        let meta = std::fs::metadata(cur).map_err(|e| format!("{}: {e}", shown(cur)))?;
        closed_to_others(cur, &meta, n > 0)?;
    }
    if !real.is_dir() {
        return Ok(());
    }
    let mut walked = std::collections::HashSet::from([real.clone()]);
    let mut pending = vec![real];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", shown(&dir)))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", shown(&dir)))?;
            seen += 1;
            if seen > MAX_TRUSTED_ENTRIES {
                return Err(format!(
                    "{} holds more than {MAX_TRUSTED_ENTRIES} entries to check",
                    shown(path)
                ));
            }
            let at = entry.path();
            let meta =
                std::fs::symlink_metadata(&at).map_err(|e| format!("{}: {e}", shown(&at)))?;
            if meta.file_type().is_symlink() {
                // Where it points must hold up the same way, and a
                // directory it points to is walked like one of ours.
                let target = at
                    .canonicalize()
                    .map_err(|e| format!("{}: {e}", shown(&at)))?;
                for (n, cur) in target.ancestors().enumerate() {
                    let m = std::fs::metadata(cur).map_err(|e| format!("{}: {e}", shown(cur)))?;
                    closed_to_others(cur, &m, n > 0)?;
                }
                if target.is_dir() && walked.insert(target.clone()) {
                    pending.push(target);
                }
                continue;
            }
            closed_to_others(&at, &meta, false)?;
            if meta.is_dir() {
                pending.push(at);
            }
        }
    }
    Ok(())
}

/// Owned by the user or root, and not writable by group or others; a
/// sticky directory above the file (`/tmp`) is fine, since others may add
/// files there but not replace ours.
fn closed_to_others(at: &Path, meta: &std::fs::Metadata, above: bool) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{} belongs to another user (uid {})",
            shown(at),
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode();
    let sticky_above = above && meta.is_dir() && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_above {
        return Err(format!("{} is writable by others", shown(at)));
    }
    Ok(())
}

fn shown(p: &Path) -> String {
    crate::sanitize::sanitize_line(&p.to_string_lossy(), 200).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_directory_never_becomes_executable() {
        let policy = SandboxPolicy {
            exec_dirs: vec![std::env::temp_dir()],
            ..SandboxPolicy::default()
        };
        let scratch = tempfile::tempdir().unwrap();
        let dirs = exec_dirs(&policy, scratch.path());
        assert!(dirs.iter().all(|d| !scratch.path().starts_with(d)));
        assert!(dirs.iter().any(|d| d.ends_with("usr")));
    }

    #[test]
    fn trusted_files_must_be_ours_and_not_writable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        let file = dir.path().join("kubeconfig");
        std::fs::write(&file, "apiVersion: v1\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = file.to_string_lossy().into_owned();
        assert_eq!(check_trusted_files(std::slice::from_ref(&p), &dirs), Ok(()));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = check_trusted_files(std::slice::from_ref(&p), &dirs).unwrap_err();
        assert!(e.contains("writable by others"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_trusted_files(std::slice::from_ref(&p), &dirs).unwrap_err();
        assert!(e.contains("writable by others"), "{e}");
        let missing =
            check_trusted_files(&["/nonexistent/kubeconfig".into()], &[PathBuf::from("/")])
                .unwrap_err();
        assert!(missing.contains("/nonexistent/kubeconfig"), "{missing}");
    }

    #[test]
    fn a_config_directory_is_checked_beneath_too() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        let plugins = dir.path().join("cli-plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let p = dir.path().to_string_lossy().into_owned();
        assert_eq!(check_trusted_files(std::slice::from_ref(&p), &dirs), Ok(()));
        std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_trusted_files(std::slice::from_ref(&p), &dirs).unwrap_err();
        assert!(
            e.contains("cli-plugins") && e.contains("writable by others"),
            "{e}"
        );
        std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A link out of the directory to a file others can write.
        let shared = tempfile::tempdir().unwrap();
        let helper = shared.path().join("docker-credential-x");
        std::fs::write(&helper, "").unwrap();
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink(&helper, plugins.join("docker-x")).unwrap();
        let e = check_trusted_files(std::slice::from_ref(&p), &dirs).unwrap_err();
        assert!(e.contains("writable by others"), "{e}");
        std::fs::remove_file(plugins.join("docker-x")).unwrap();
        // A linked directory is walked: what is inside counts.
        let elsewhere = tempfile::tempdir().unwrap();
        let plugin = elsewhere.path().join("docker-evil");
        std::fs::write(&plugin, "").unwrap();
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("more-plugins")).unwrap();
        let e = check_trusted_files(std::slice::from_ref(&p), &dirs).unwrap_err();
        assert!(
            e.contains("docker-evil") && e.contains("writable by others"),
            "{e}"
        );
    }

    #[test]
    fn only_the_users_config_locations_named_directly_are_trusted() {
        let home = tempfile::tempdir().unwrap();
        let kube = home.path().join(".kube");
        std::fs::create_dir(&kube).unwrap();
        std::fs::write(kube.join("config"), "apiVersion: v1\n").unwrap();
        let dirs = [kube.clone()];
        let ok = kube.join("config").to_string_lossy().into_owned();
        assert_eq!(
            check_trusted_files(std::slice::from_ref(&ok), &dirs),
            Ok(())
        );
        // A file that came with a checkout is the user's too, but elsewhere.
        let checkout = home.path().join("repo");
        std::fs::create_dir(&checkout).unwrap();
        std::fs::write(checkout.join("kubeconfig"), "").unwrap();
        let planted = checkout.join("kubeconfig").to_string_lossy().into_owned();
        let e = check_trusted_files(&[planted], &dirs).unwrap_err();
        assert!(e.contains("outside the config directories"), "{e}");
        // Aliases that name a descriptor or another process's view.
        for alias in ["/proc/self/cwd/kubeconfig", "/dev/stdout", "/dev/fd/0"] {
            let e = check_trusted_files(&[alias.into()], &[PathBuf::from("/")]).unwrap_err();
            assert!(e.contains("/proc or /dev"), "{alias}: {e}");
        }
        // A symlink in a directory others can write could be flipped after
        // the check.
        let shared = home.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::os::unix::fs::symlink(&kube, shared.join("link")).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let via_link = shared.join("link/config").to_string_lossy().into_owned();
        let e = check_trusted_files(&[via_link], &dirs).unwrap_err();
        assert!(e.contains("writable by others"), "{e}");
    }
}
