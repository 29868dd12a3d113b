//! Rate quotas enforced, as Kafka's `ClientQuotaManager`,
//! `ClientRequestQuotaManager` and the IP connection rate of `ConnectionQuotas`:
//! each rate is measured over quota.window.num samples of
//! quota.window.size.seconds, and whoever is over its quota gets a throttle
//! time: how long it must stay silent to be back within it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::QuotaSection;
use crate::quota::ClientQuota;

/// Sensors unused this long are dropped (Kafka's inactive sensor expiry).
const SENSOR_EXPIRY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaType {
    /// Bytes of produce requests per second.
    Produce,
    /// Bytes of fetch responses per second.
    Fetch,
    /// Percent of one request handler's time (KIP-124).
    Request,
    /// New connections per second from one IP address, on one listener or
    /// across the broker (KIP-612).
    ConnectionCreation,
    /// Partitions created or deleted per second (KIP-599).
    ControllerMutation,
}

impl QuotaType {
    /// The client quotas, in the order a connection resolves them.
    pub const CLIENT: [QuotaType; 3] = [QuotaType::Produce, QuotaType::Fetch, QuotaType::Request];

    /// The quota's key in the quota table.
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => "producer_byte_rate",
            QuotaType::Fetch => "consumer_byte_rate",
            QuotaType::Request => "request_percentage",
            QuotaType::ConnectionCreation => "connection_creation_rate",
            QuotaType::ControllerMutation => "controller_mutation_rate",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            QuotaType::Produce => "Produce",
            QuotaType::Fetch => "Fetch",
            QuotaType::Request => "Request",
            QuotaType::ConnectionCreation => "ConnectionCreation",
            QuotaType::ControllerMutation => "ControllerMutation",
        }
    }

    /// Whether a throttle time is capped at one quota window, as Kafka caps
    /// request-time and connection-rate throttling (boundedThrottleTime).
    fn bounded(self) -> bool {
        matches!(self, QuotaType::Request | QuotaType::ConnectionCreation)
    }
}

/// Request time as KIP-124 counts it: percent of one thread for a second.
pub fn request_percentage(handling: Duration) -> f64 {
    handling.as_secs_f64() * 100.0
}

pub struct ClientQuotaManager {
    samples: usize,
    window_ms: u64,
    started: Instant,
    sensors: Mutex<Sensors>,
}

#[derive(Default)]
struct Sensors {
    rates: HashMap<(QuotaType, String, String), Rate>,
    /// controller_mutation_rate, per (user, client id) as its quota counts them.
    buckets: HashMap<(String, String), TokenBucket>,
    swept_ms: u64,
}

impl ClientQuotaManager {
    pub fn new(config: &QuotaSection) -> ClientQuotaManager {
        ClientQuotaManager {
            samples: config.window_num.max(2) as usize,
            window_ms: u64::from(config.window_size_seconds.max(1)) * 1000,
            started: Instant::now(),
            sensors: Mutex::new(Sensors::default()),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The most bytes a client may take in one quota window (Kafka's
    /// getMaxValueInQuotaWindow): a bound for one fetch response.
    pub fn max_value_in_window(&self, quota: &ClientQuota) -> f64 {
        quota.bound * (self.samples - 1) as f64 * (self.window_ms / 1000) as f64
    }

    /// Counts `amount` (bytes, or request percentage) against `quota` and
    /// answers the throttle time in ms (0 while the client is within its quota).
    pub fn record(&self, quota_type: QuotaType, quota: &ClientQuota, amount: f64) -> u64 {
        let key = (quota_type, quota.user.clone(), quota.client_id.clone());
        self.record_sensor(key, quota.bound, amount)
    }

    /// Counts a new connection from `ip` against its connection_creation_rate
    /// `bound`: the throttle time in ms if it is over (the connection is then
    /// not counted, as Kafka does not count a connection it refuses).
    pub fn record_connection(&self, ip: IpAddr, bound: f64) -> u64 {
        let key = (QuotaType::ConnectionCreation, ip.to_string(), String::new());
        let ms = self.record_sensor(key.clone(), bound, 1.0);
        if ms > 0 {
            self.unrecord_sensor(&key, 1.0);
        }
        ms
    }

    /// Counts a new connection on the listener named `listener` against the
    /// broker-wide max.connection.creation.rate `broker` and the listener's own
    /// rate `own` (KIP-612): how long in ms the listener must wait before
    /// taking it, the longer of the two throttles (at most one window; 0 while
    /// within both). The connection is counted either way, as Kafka's sensors
    /// count the connection they delay.
    pub fn record_accept(&self, listener: &str, broker: f64, own: Option<f64>) -> u64 {
        let (broker_key, listener_key) = accept_keys(listener);
        let broker_ms = self.record_sensor(broker_key, broker, 1.0);
        let own = own.unwrap_or(f64::from(i32::MAX));
        let listener_ms = self.record_sensor(listener_key, own, 1.0);
        broker_ms.max(listener_ms)
    }

    /// Takes back a connection `record_accept` counted: one its IP's
    /// connection_creation_rate then refused (Kafka un-records it too).
    pub fn unrecord_accept(&self, listener: &str) {
        let (broker_key, listener_key) = accept_keys(listener);
        self.unrecord_sensor(&broker_key, 1.0);
        self.unrecord_sensor(&listener_key, 1.0);
    }

    fn record_sensor(&self, key: (QuotaType, String, String), bound: f64, amount: f64) -> u64 {
        let quota_type = key.0;
        let now = self.now_ms();
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_sub(sensors.swept_ms) > SENSOR_EXPIRY.as_millis() as u64 / 60 {
            let expiry = SENSOR_EXPIRY.as_millis() as u64;
            sensors
                .rates
                .retain(|_, r| now.saturating_sub(r.last_ms) < expiry);
            sensors
                .buckets
                .retain(|_, b| now.saturating_sub(b.last_ms) < expiry);
            sensors.swept_ms = now;
        }
        let rate = sensors.rates.entry(key).or_insert_with(|| Rate::new(now));
        rate.record(amount, now, self.samples, self.window_ms);
        let window = rate.window_ms(now, self.samples, self.window_ms);
        let observed = rate.total() * 1000.0 / window as f64;
        if observed <= bound {
            return 0;
        }
        // Kafka's QuotaUtils.throttleTime: the silence that brings the rate
        // over the window back down to the bound.
        let ms = ((observed - bound) / bound * window as f64).round() as u64;
        if quota_type.bounded() {
            ms.min(self.window_ms)
        } else {
            ms
        }
    }

    /// Counts `permits` (partitions created or deleted) against a
    /// controller_mutation_rate `quota` (KIP-599): a token bucket that refills
    /// at the quota and holds at most quota × window_num × window seconds.
    /// `strict` (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+):
    /// refused while the bucket is in debt, `Err` with the throttle time in ms;
    /// else taken, even into debt. Permissive: always taken, `Ok` with the
    /// throttle time once in debt.
    pub fn record_mutation(
        &self,
        quota: &ClientQuota,
        permits: f64,
        strict: bool,
    ) -> Result<u64, u64> {
        let now = self.now_ms();
        let burst = quota.bound * (self.samples as u64 * self.window_ms) as f64 / 1000.0;
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let key = (quota.user.clone(), quota.client_id.clone());
        let bucket = sensors.buckets.entry(key).or_insert(TokenBucket {
            tokens: burst,
            last_ms: now,
        });
        let elapsed = now.saturating_sub(bucket.last_ms) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + quota.bound * elapsed).min(burst);
        bucket.last_ms = now;
        let debt = |tokens: f64| (-tokens / quota.bound * 1000.0).round().max(0.0) as u64;
        if strict && bucket.tokens < 0.0 {
            return Err(debt(bucket.tokens));
        }
        bucket.tokens -= permits;
        Ok(if strict { 0 } else { debt(bucket.tokens) })
    }

    /// Takes back what `record` counted (a fetch answered empty because it was throttled).
    pub fn unrecord(&self, quota_type: QuotaType, quota: &ClientQuota, bytes: f64) {
        let key = (quota_type, quota.user.clone(), quota.client_id.clone());
        self.unrecord_sensor(&key, bytes);
    }

    fn unrecord_sensor(&self, key: &(QuotaType, String, String), amount: f64) {
        let now = self.now_ms();
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rate) = sensors.rates.get_mut(key) {
            rate.record(-amount, now, self.samples, self.window_ms);
        }
    }
}

/// The connection creation rate sensors of the broker and of a listener. An
/// IP's sensor is keyed by its address, never empty, in the first place.
fn accept_keys(listener: &str) -> ((QuotaType, String, String), (QuotaType, String, String)) {
    let kind = QuotaType::ConnectionCreation;
    (
        (kind, String::new(), String::new()),
        (kind, String::new(), listener.to_string()),
    )
}

/// Kafka's `TokenBucket` stat.
struct TokenBucket {
    tokens: f64,
    last_ms: u64,
}

/// Kafka's `Rate` over a `SampledStat`: up to `samples` windows, the current
/// one advanced when it is `window_ms` old, windows older than all of them
/// forgotten.
struct Rate {
    /// (start of the window in ms, bytes counted in it)
    windows: Vec<(u64, f64)>,
    current: usize,
    last_ms: u64,
}

impl Rate {
    fn new(now: u64) -> Rate {
        Rate {
            windows: vec![(now, 0.0)],
            current: 0,
            last_ms: now,
        }
    }

    fn record(&mut self, value: f64, now: u64, samples: usize, window_ms: u64) {
        self.purge(now, samples, window_ms);
        if now.saturating_sub(self.windows[self.current].0) >= window_ms {
            self.current = (self.current + 1) % samples;
            if self.current >= self.windows.len() {
                self.windows.push((now, 0.0));
            } else {
                self.windows[self.current] = (now, 0.0);
            }
        }
        self.windows[self.current].1 += value;
        self.last_ms = now;
    }

    fn purge(&mut self, now: u64, samples: usize, window_ms: u64) {
        let expire = samples as u64 * window_ms;
        for w in &mut self.windows {
            if now.saturating_sub(w.0) >= expire {
                *w = (now, 0.0);
            }
        }
    }

    fn total(&self) -> f64 {
        self.windows.iter().map(|w| w.1).sum()
    }

    /// The span the rate is measured over: from the oldest window to now, and
    /// never less than `samples - 1` whole windows, so a new client's first
    /// burst is not taken for a rate.
    fn window_ms(&mut self, now: u64, samples: usize, window_ms: u64) -> u64 {
        self.purge(now, samples, window_ms);
        let oldest = self.windows.iter().map(|w| w.0).min().unwrap_or(now);
        let elapsed = now.saturating_sub(oldest);
        let full = elapsed / window_ms;
        let min_full = samples as u64 - 1;
        if full < min_full {
            elapsed + (min_full - full) * window_ms
        } else {
            elapsed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(bound: f64) -> ClientQuota {
        ClientQuota {
            bound,
            user: String::new(),
            client_id: "app".into(),
        }
    }

    #[test]
    fn rate_is_measured_over_the_sampled_window() {
        let mut r = Rate::new(0);
        r.record(1000.0, 0, 11, 1000);
        // One window old: the rate is still taken over 10 whole windows.
        assert_eq!(r.window_ms(0, 11, 1000), 10_000);
        for s in 1..=20u64 {
            r.record(1000.0, s * 1000, 11, 1000);
        }
        // 11 windows of 1000 bytes, the oldest started 10 s ago.
        assert_eq!(r.total(), 11_000.0);
        assert_eq!(r.window_ms(20_000, 11, 1000), 10_000);
        // Silence longer than every window forgets them.
        assert_eq!(r.window_ms(40_000, 11, 1000), 10_000);
        assert_eq!(r.total(), 0.0);
    }

    #[test]
    fn throttle_time_brings_the_rate_back_to_the_quota() {
        let config = QuotaSection {
            window_num: 11,
            window_size_seconds: 1,
        };
        let m = ClientQuotaManager::new(&config);
        let q = quota(1000.0);
        // 10 s worth at once is exactly the quota over the minimum window.
        assert_eq!(m.record(QuotaType::Produce, &q, 10_000.0), 0);
        // Another 5000 bytes: 15000 over 10 s is 1500/s; 5 s of silence
        // brings it back to 1000/s.
        assert_eq!(m.record(QuotaType::Produce, &q, 5000.0), 5000);
        m.unrecord(QuotaType::Produce, &q, 5000.0);
        assert_eq!(m.record(QuotaType::Produce, &q, 1.0), 1);
        // Fetch is measured apart from produce.
        assert_eq!(m.record(QuotaType::Fetch, &q, 100.0), 0);
        assert_eq!(m.max_value_in_window(&q), 10_000.0);
    }

    #[test]
    fn request_and_connection_throttling_is_capped_at_one_window() {
        let config = QuotaSection {
            window_num: 2,
            window_size_seconds: 1,
        };
        let m = ClientQuotaManager::new(&config);
        // 50% of a thread over the (one window) minimum: 0.5 s of handling.
        let q = quota(50.0);
        assert_eq!(
            m.record(
                QuotaType::Request,
                &q,
                request_percentage(Duration::from_millis(500))
            ),
            0
        );
        // Ten seconds of handling would call for far more than one window.
        let ms = m.record(
            QuotaType::Request,
            &q,
            request_percentage(Duration::from_secs(10)),
        );
        assert_eq!(ms, 1000);
        // Five connections a second are let in, the sixth is throttled and not counted.
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..5 {
            assert_eq!(m.record_connection(ip, 5.0), 0);
        }
        let ms = m.record_connection(ip, 5.0);
        assert!(ms > 0 && ms <= 1000, "{ms}");
        assert!(m.record_connection(ip, 5.0) > 0);
        // Another address has its own rate.
        assert_eq!(m.record_connection([10, 0, 0, 2].into(), 5.0), 0);
    }

    #[test]
    fn connections_are_counted_broker_wide_and_per_listener() {
        let config = QuotaSection {
            window_num: 2,
            window_size_seconds: 1,
        };
        let m = ClientQuotaManager::new(&config);
        // Three a second across the broker: the fourth waits, on any listener.
        for listener in ["A", "B", "A"] {
            assert_eq!(m.record_accept(listener, 3.0, None), 0);
        }
        let ms = m.record_accept("B", 3.0, None);
        assert!(ms > 0 && ms <= 1000, "{ms}");
        // Taken back (its IP refused it), the count is below the bound again.
        m.unrecord_accept("B");
        m.unrecord_accept("B");
        assert_eq!(m.record_accept("A", 3.0, None), 0);
        // A listener's own rate bounds it alone: C has seen one connection.
        assert_eq!(m.record_accept("C", f64::from(i32::MAX), Some(1.0)), 0);
        assert!(m.record_accept("C", f64::from(i32::MAX), Some(1.0)) > 0);
        assert_eq!(m.record_accept("D", f64::from(i32::MAX), Some(1.0)), 0);
    }

    #[test]
    fn controller_mutations_draw_on_a_token_bucket() {
        let config = QuotaSection {
            window_num: 10,
            window_size_seconds: 1,
        };
        let m = ClientQuotaManager::new(&config);
        // 10 partitions a second: a burst of 100.
        let q = quota(10.0);
        assert_eq!(m.record_mutation(&q, 90.0, true), Ok(0));
        // Strict: taken while the bucket is not in debt, even into debt ...
        assert_eq!(m.record_mutation(&q, 90.0, true), Ok(0));
        // ... then refused until it has refilled: 80 in debt at 10/s is 8 s.
        let refused = m.record_mutation(&q, 1.0, true).unwrap_err();
        assert!((7_900..=8_000).contains(&refused), "{refused}");
        // Permissive: taken, with the throttle the debt calls for.
        let ms = m.record_mutation(&q, 10.0, false).unwrap();
        assert!((8_900..=9_000).contains(&ms), "{ms}");
    }
}
