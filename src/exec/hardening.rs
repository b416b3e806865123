//! What Landlock does not govern, held in the child beside it: capabilities
//! and a syscall filter. Landlock confines file *writes*; a pre-flight that
//! got code running (a guard bypass) could still, as root, change file
//! modes, owners and times, set the clock or the hostname, load kernel
//! modules, run code from memory, or leave the run's session to outlive it.
//! Applied between fork and exec, so nothing here allocates.

use std::sync::OnceLock;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

/// Capabilities a root pre-flight keeps: reading what root may read
/// (`du /var/lib/postgresql`), ICMP (`ping`; the filter refuses other raw
/// sockets), and reading the kernel log (`dmesg`; the filter refuses
/// clearing it). Every other capability is dropped. (Ptrace-mode access to
/// other processes, as `ss -p` and `lsof` need, Landlock refuses anyway.)
const KEEP: [u32; 3] = [
    2,  // CAP_DAC_READ_SEARCH
    13, // CAP_NET_RAW
    34, // CAP_SYSLOG
];

/// Not in the libc crate for Linux.
const PR_CAPBSET_DROP: libc::c_int = 24;
const PR_CAP_AMBIENT: libc::c_int = 47;
const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const LAST_CAP: u32 = 63;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// System calls a read-only command never needs; each fails with EPERM.
fn denied_syscalls() -> Vec<i64> {
    let mut calls = vec![
        // File metadata (Landlock governs content, not these).
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_utimensat,
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        libc::SYS_removexattr,
        libc::SYS_lremovexattr,
        libc::SYS_fremovexattr,
        // The machine's identity, clock and state.
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_reboot,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        // Other processes, namespaces, and code from memory.
        libc::SYS_ptrace,
        libc::SYS_process_vm_writev,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_memfd_create,
        libc::SYS_userfaultfd,
        libc::SYS_open_by_handle_at,
        // io_uring does file work the filter would not see.
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        // Leaving the run's session would let a process outlive the run.
        libc::SYS_setsid,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_utime,
        libc::SYS_utimes,
        libc::SYS_futimesat,
    ]);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    calls.extend([libc::SYS_fchmodat2, libc::SYS_memfd_secret]);
    // The x32 ABI shares x86_64's audit arch: the same calls with the x32
    // bit set would pass a filter keyed on numbers alone.
    #[cfg(target_arch = "x86_64")]
    {
        const X32: i64 = 0x4000_0000;
        let x32: Vec<i64> = calls.iter().map(|n| n | X32).collect();
        calls.extend(x32);
    }
    calls
}

/// `clone` flags that make new namespaces (a user namespace would hand the
/// process every capability inside it).
const CLONE_NEW: [u64; 7] = [
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

/// The filters, compiled once: the denylist (EPERM), and `clone3`, whose
/// flags a filter cannot read, answered ENOSYS so libc falls back to
/// `clone`, whose flags it can. Empty where seccompiler has no backend
/// for this architecture (then only Landlock and the capability drop hold).
pub fn filters() -> &'static [BpfProgram] {
    static FILTERS: OnceLock<Vec<BpfProgram>> = OnceLock::new();
    FILTERS.get_or_init(|| compile().unwrap_or_default())
}

/// Calls newer than the libc crate's tables, numbered alike on every
/// architecture since 424: changing extended attributes (an ACL is a
/// chmod) and file attributes by path, and the LSM's own attributes.
const NEWER_DENIED: [i64; 5] = [
    460, // lsm_set_self_attr
    463, // setxattrat
    466, // removexattrat
    467, // open_tree_attr
    469, // file_setattr
];

/// The newest call this build knows; numbers above it, up to a bound, are
/// answered ENOSYS (as an older kernel would), so what a future kernel adds
/// is refused until someone has looked at it.
const NEWEST_KNOWN: i64 = 469;
const UNKNOWN_UNTIL: i64 = 560;

fn compile() -> Option<Vec<BpfProgram>> {
    let arch: seccompiler::TargetArch = std::env::consts::ARCH.try_into().ok()?;
    let arg = |index: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).ok()
    };
    let rule = |conditions: Vec<Option<SeccompCondition>>| {
        SeccompRule::new(conditions.into_iter().collect::<Option<Vec<_>>>()?).ok()
    };
    let mut denied: std::collections::BTreeMap<i64, Vec<SeccompRule>> = denied_syscalls()
        .into_iter()
        .chain(NEWER_DENIED)
        .map(|n| (n, Vec::new()))
        .collect();
    // New namespaces, one flag at a time.
    let namespaces = CLONE_NEW
        .iter()
        .map(|&flag| rule(vec![arg(0, SeccompCmpOp::MaskedEq(flag), flag)]))
        .collect::<Option<Vec<_>>>()?;
    denied.insert(libc::SYS_clone, namespaces);
    // Limits of any process but this one (same uid is enough to cripple
    // sshd or the kubelet).
    denied.insert(
        libc::SYS_prlimit64,
        vec![rule(vec![arg(0, SeccompCmpOp::Ne, 0)])?],
    );
    // Sniffing: packet sockets, and raw IP sockets other than ICMP (ping).
    const SOCK_TYPE: u64 = 0xf;
    let raw = libc::SOCK_RAW as u64;
    denied.insert(
        libc::SYS_socket,
        vec![
            rule(vec![arg(0, SeccompCmpOp::Eq, libc::AF_PACKET as u64)])?,
            rule(vec![
                arg(0, SeccompCmpOp::Eq, libc::AF_INET as u64),
                arg(1, SeccompCmpOp::MaskedEq(SOCK_TYPE), raw),
                arg(2, SeccompCmpOp::Ne, libc::IPPROTO_ICMP as u64),
            ])?,
            rule(vec![
                arg(0, SeccompCmpOp::Eq, libc::AF_INET6 as u64),
                arg(1, SeccompCmpOp::MaskedEq(SOCK_TYPE), raw),
                arg(2, SeccompCmpOp::Ne, libc::IPPROTO_ICMPV6 as u64),
            ])?,
        ],
    );
    // The kernel log may be read, not cleared or silenced.
    denied.insert(
        libc::SYS_syslog,
        (4..=8)
            .map(|action| rule(vec![arg(0, SeccompCmpOp::Eq, action)]))
            .collect::<Option<Vec<_>>>()?,
    );
    let deny = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .ok()?;
    let not_there = SeccompFilter::new(
        std::iter::once(libc::SYS_clone3)
            .chain(NEWEST_KNOWN + 1..=UNKNOWN_UNTIL)
            .map(|n| (n, Vec::new()))
            .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .ok()?;
    Some(vec![
        BpfProgram::try_from(deny).ok()?,
        BpfProgram::try_from(not_there).ok()?,
    ])
}

/// Drops every capability but [`KEEP`] from the bounding, permitted,
/// effective, inheritable and ambient sets. A process with no capabilities
/// (not root) has nothing to drop. Call only between fork and exec.
pub fn drop_capabilities() -> std::io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array are what capget(2)
    // expects for version 3.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if data.iter().all(|d| d.permitted == 0) {
        return Ok(());
    }
    for cap in 0..=LAST_CAP {
        if KEEP.contains(&cap) {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        // EINVAL: a capability this kernel does not know.
        if r != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: as above. Old kernels without ambient capabilities say EINVAL.
    unsafe { libc::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) };
    let mut keep = [0u32; 2];
    for cap in KEEP {
        keep[(cap / 32) as usize] |= 1 << (cap % 32);
    }
    for (d, k) in data.iter_mut().zip(keep) {
        d.permitted &= k;
        d.effective = d.permitted;
        d.inheritable = 0;
    }
    // SAFETY: same layout as capget.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Installs the filters on the calling thread (no_new_privs first).
pub fn apply_filters(filters: &[BpfProgram]) -> std::io::Result<()> {
    for filter in filters {
        seccompiler::apply_filter(filter)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))?;
    }
    Ok(())
}

/// Marks every descriptor above stderr close-on-exec: stepguard's own are
/// already, but ones it inherited from whoever started it are not.
pub fn cloexec_inherited_fds() {
    // SAFETY: close_range with the CLOEXEC flag only sets flags. Kernels
    // before 5.11 return an error, and those fds stay as they were.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile_here() {
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert_eq!(filters().len(), 2);
        }
    }
}
