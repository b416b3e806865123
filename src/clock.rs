//! The one clock. Only the runtime and the CLI read it; everything else is
//! handed the time as data (`update` never reads a clock).
//!
//! Within a process the clock cannot run backwards: it is the wall clock
//! read once, moved on by the boot-time clock (which counts suspend, unlike
//! the monotonic one: a laptop closed for an hour must age a verdict by an
//! hour). Setting the wall clock back or forward while stepguard runs
//! changes neither a verdict's age nor the order of audit timestamps.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock and the boot-time clock, read together once.
static ANCHOR: OnceLock<(u128, u128)> = OnceLock::new();

fn wall_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// CLOCK_BOOTTIME in nanoseconds: never goes back, counts suspend.
fn boot_nanos() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Nanoseconds since the Unix epoch on this process's clock.
pub fn now_nanos() -> u128 {
    let (wall, boot) = *ANCHOR.get_or_init(|| (wall_nanos(), boot_nanos()));
    wall + boot_nanos().saturating_sub(boot)
}

/// Milliseconds since the Unix epoch (0 before 1970).
pub fn now_ms() -> u64 {
    (now_nanos() / 1_000_000) as u64
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// `HH:MM:SS` UTC of a unix time in milliseconds.
pub fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// `YYYY-MM-DD` (UTC) of a unix time in milliseconds (civil-from-days).
pub fn date(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a unix time in milliseconds.
pub fn format_utc(ms: u64) -> String {
    format!("{} {} UTC", date(ms), clock(ms))
}

#[cfg(test)]
mod tests {
    #[test]
    fn never_goes_back_and_follows_the_wall_clock_at_start() {
        let wall = super::wall_nanos() / 1_000_000;
        let mut last = super::now_ms();
        assert!(last.abs_diff(wall as u64) < 5_000, "{last} vs {wall}");
        for _ in 0..10_000 {
            let now = super::now_ms();
            assert!(now >= last);
            last = now;
        }
    }
}
