//! CPU time figures the benches print beside criterion's.

use std::time::Duration;

/// CPU time (user + system) used so far by this thread and by the whole process.
pub fn cpu_times() -> (Duration, Duration) {
    fn of(who: libc::c_int) -> Duration {
        // SAFETY: getrusage writes into the zeroed struct it is handed.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }
    (of(libc::RUSAGE_THREAD), of(libc::RUSAGE_SELF))
}
