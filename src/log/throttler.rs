//! The log cleaner's IO throttle (Kafka's `Throttler`, as `LogCleaner` uses it for
//! `log.cleaner.io.max.bytes.per.second`): the cleaner reports every byte it reads
//! and writes; once a check interval (300 ms) has passed, if the bytes of that
//! interval came faster than the rate, it sleeps for as long as they should have
//! taken, and a new interval starts. The rate can change at any time (a dynamic
//! broker config); the next check uses it. [`Throttler::stop`] cuts a sleep short
//! and tells the cleaner to give up (as Kafka aborts a cleaning at shutdown), so a
//! low rate never holds up a broker's shutdown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Kafka's default for the cleaner: Double.MaxValue, no limit.
pub const UNLIMITED: f64 = f64::MAX;

/// Kafka's cleaner checks its rate every 300 ms.
const CHECK_INTERVAL: Duration = Duration::from_millis(300);

/// A sleep is taken in slices of at most this, checking for a stop in between.
const SLEEP_SLICE: Duration = Duration::from_millis(100);

/// Where the throttler reads the time and how it waits (tests step it by hand).
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

/// The real time and `thread::sleep`.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

pub struct Throttler {
    /// Bytes per second, an f64's bits.
    rate: AtomicU64,
    check_interval: Duration,
    clock: Box<dyn Clock>,
    period: Mutex<Period>,
    stopped: AtomicBool,
}

/// The check interval under way: when it started and the bytes seen since.
struct Period {
    start: Instant,
    observed: f64,
}

impl Throttler {
    /// A throttler holding `rate` bytes per second, on the real clock.
    pub fn new(rate: f64) -> Throttler {
        Throttler::with_clock(rate, CHECK_INTERVAL, Box::new(SystemClock))
    }

    pub fn with_clock(rate: f64, check_interval: Duration, clock: Box<dyn Clock>) -> Throttler {
        let start = clock.now();
        Throttler {
            rate: AtomicU64::new(rate.to_bits()),
            check_interval,
            clock,
            period: Mutex::new(Period {
                start,
                observed: 0.0,
            }),
            stopped: AtomicBool::new(false),
        }
    }

    /// The rate in bytes per second.
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// A new rate; the next check holds it.
    pub fn set_rate(&self, rate: f64) {
        self.rate.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// From now on no sleep, and [`Throttler::is_stopped`] is true: the cleaner
    /// gives up its cleaning.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Counts `bytes` read or written and, at the end of a check interval in which
    /// they came too fast, sleeps until the interval's rate is the desired one.
    /// Returns how long it slept.
    pub fn maybe_throttle(&self, bytes: u64) -> Duration {
        let rate = self.rate();
        let mut period = self.period.lock().unwrap_or_else(|p| p.into_inner());
        period.observed += bytes as f64;
        let elapsed = self.clock.now().saturating_duration_since(period.start);
        if elapsed <= self.check_interval || period.observed <= 0.0 {
            return Duration::ZERO;
        }
        let mut slept = Duration::ZERO;
        let elapsed_secs = elapsed.as_secs_f64();
        // Not above rate > 0: a zero or NaN rate (refused by the configs) never sleeps.
        if rate > 0.0 && period.observed / elapsed_secs > rate {
            // The time these bytes should have taken, less the time they took.
            let wanted = period.observed / rate - elapsed_secs;
            if let Ok(nap) = Duration::try_from_secs_f64(wanted) {
                while slept < nap && !self.is_stopped() {
                    let slice = (nap - slept).min(SLEEP_SLICE);
                    self.clock.sleep(slice);
                    slept += slice;
                }
            }
        }
        period.start = self.clock.now();
        period.observed = 0.0;
        slept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A clock that moves only when told to, or by the time slept.
    #[derive(Clone)]
    struct ManualClock {
        start: Instant,
        offset: Arc<Mutex<Duration>>,
    }

    impl ManualClock {
        fn new() -> ManualClock {
            ManualClock {
                start: Instant::now(),
                offset: Arc::default(),
            }
        }

        fn advance(&self, d: Duration) {
            *self.offset.lock().unwrap() += d;
        }

        fn elapsed(&self) -> Duration {
            *self.offset.lock().unwrap()
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            self.start + *self.offset.lock().unwrap()
        }

        fn sleep(&self, d: Duration) {
            self.advance(d);
        }
    }

    const MS: Duration = Duration::from_millis(1);

    fn assert_close(d: Duration, secs: f64) {
        assert!(
            (d.as_secs_f64() - secs).abs() < 1e-6,
            "{d:?} is not {secs} s"
        );
    }

    fn throttler(rate: f64) -> (Throttler, ManualClock) {
        let clock = ManualClock::new();
        let t = Throttler::with_clock(rate, 300 * MS, Box::new(clock.clone()));
        (t, clock)
    }

    #[test]
    fn sleeps_only_at_the_end_of_an_interval() {
        let (t, clock) = throttler(1_000_000.0);
        // 3 MB within the first interval: far too fast, but the interval is not over.
        clock.advance(100 * MS);
        assert_eq!(t.maybe_throttle(3_000_000), Duration::ZERO);
        clock.advance(200 * MS);
        assert_eq!(t.maybe_throttle(0), Duration::ZERO);
        // Past 300 ms: 3 MB at 1 MB/s should have taken 3 s, 301 ms went by.
        clock.advance(MS);
        assert_close(t.maybe_throttle(0), 2.699);
        assert_close(clock.elapsed(), 3.0);
    }

    #[test]
    fn holds_the_rate_over_many_intervals() {
        let (t, clock) = throttler(10_000_000.0);
        // 1 MiB every 10 ms of work, 100 MB/s unthrottled, for 200 MiB.
        for _ in 0..200 {
            clock.advance(10 * MS);
            t.maybe_throttle(1 << 20);
        }
        // The bytes of the interval under way are checked once it is over.
        clock.advance(301 * MS);
        t.maybe_throttle(0);
        let secs = clock.elapsed().as_secs_f64();
        let rate = 200.0 * (1 << 20) as f64 / secs;
        assert!(rate <= 10_000_000.0 * 1.0001, "{rate}");
        assert!(rate > 10_000_000.0 * 0.99, "{rate}");
    }

    #[test]
    fn slower_than_the_rate_never_sleeps() {
        let (t, clock) = throttler(10_000_000.0);
        for _ in 0..100 {
            clock.advance(100 * MS);
            assert_eq!(t.maybe_throttle(500_000), Duration::ZERO);
        }
    }

    #[test]
    fn a_stopped_throttler_never_sleeps() {
        let (t, clock) = throttler(1000.0);
        assert!(!t.is_stopped());
        t.stop();
        assert!(t.is_stopped());
        clock.advance(400 * MS);
        assert_eq!(t.maybe_throttle(1 << 30), Duration::ZERO);
    }

    #[test]
    fn unlimited_never_sleeps() {
        let (t, clock) = throttler(UNLIMITED);
        for _ in 0..10 {
            clock.advance(400 * MS);
            assert_eq!(t.maybe_throttle(u64::MAX / 16), Duration::ZERO);
        }
    }

    #[test]
    fn a_new_rate_applies_from_the_next_check() {
        let (t, clock) = throttler(UNLIMITED);
        clock.advance(400 * MS);
        assert_eq!(t.maybe_throttle(4_000_000), Duration::ZERO);
        t.set_rate(2_000_000.0);
        assert_eq!(t.rate(), 2_000_000.0);
        clock.advance(400 * MS);
        // 4 MB at 2 MB/s: 2 s, of which 400 ms went by.
        assert_close(t.maybe_throttle(4_000_000), 1.6);
        t.set_rate(UNLIMITED);
        clock.advance(400 * MS);
        assert_eq!(t.maybe_throttle(4_000_000), Duration::ZERO);
    }
}
