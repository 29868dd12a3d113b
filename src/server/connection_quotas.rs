//! Connection limits, as Kafka's `ConnectionQuotas`: at max.connections, or at
//! a listener's own listener.name.<listener>.max.connections, the listener
//! waits for a connection to close before taking another; a new connection
//! beyond max.connections.per.ip (or its address's entry in
//! max.connections.per.ip.overrides) is closed at once. The connection
//! creation rates (max.connection.creation.rate, broker-wide and per listener)
//! are kept here too; `crate::quota_manager` measures them. Every limit is
//! dynamic: a change wakes the waiting listeners, and a max.connections lowered
//! below the connections open closes the least recently active ones until it
//! holds again (Kafka's `closeExcessConnections`).

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, watch};

use crate::config::parse_ip_overrides;

/// No limits until [`ConnectionQuotas::set_limits`].
#[derive(Default)]
pub struct ConnectionQuotas {
    state: Mutex<State>,
    /// Woken when a connection closes or the limits change.
    changed: Notify,
}

/// The limits in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// max.connections, across every listener.
    pub max_connections: i32,
    /// max.connections.per.ip ...
    pub max_per_ip: i32,
    /// ... unless max.connections.per.ip.overrides names the address.
    pub per_ip_overrides: PerIpOverrides,
    /// max.connection.creation.rate, new connections per second (KIP-612)
    /// across every listener.
    pub creation_rate: i32,
    /// Each listener's own, by listener index.
    pub listeners: Vec<ListenerLimits>,
}

/// A listener's own limits (listener.name.<listener>.*); None: only the broker's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerLimits {
    pub max_connections: Option<i32>,
    pub creation_rate: Option<i32>,
}

/// Kafka's defaults: no limit.
impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: i32::MAX,
            max_per_ip: i32::MAX,
            per_ip_overrides: PerIpOverrides::default(),
            creation_rate: i32::MAX,
            listeners: Vec::new(),
        }
    }
}

/// max.connections.per.ip.overrides as configured, and by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerIpOverrides {
    pub configured: String,
    pub by_ip: HashMap<IpAddr, i32>,
}

impl PerIpOverrides {
    /// The overrides `configured` gives: these if they came from it, else
    /// `configured` resolved anew, leaving out (with a warning) hosts that do
    /// not resolve. As in Kafka's DynamicConnectionQuota, host names are looked
    /// up when the overrides change, not on every change of another config.
    pub fn for_config(self, configured: &str) -> PerIpOverrides {
        if self.configured == configured {
            return self;
        }
        let (by_ip, unresolved) =
            resolve_overrides(&parse_ip_overrides(configured).unwrap_or_default());
        if !unresolved.is_empty() {
            tracing::warn!(
                hosts = unresolved.join(","),
                "max.connections.per.ip.overrides: hosts that do not resolve are left out"
            );
        }
        PerIpOverrides {
            configured: configured.to_string(),
            by_ip,
        }
    }
}

/// max.connections.per.ip.overrides by address: an IP stands for itself, a
/// host name for each address it resolves to (Kafka takes the first); and
/// the hosts that do not resolve.
pub fn resolve_overrides(overrides: &[(String, i32)]) -> (HashMap<IpAddr, i32>, Vec<String>) {
    let mut by_ip = HashMap::new();
    let mut unresolved = Vec::new();
    for (host, max) in overrides {
        match (host.as_str(), 0).to_socket_addrs() {
            Ok(addrs) => by_ip.extend(addrs.map(|a| (a.ip(), *max))),
            Err(_) => unresolved.push(host.clone()),
        }
    }
    (by_ip, unresolved)
}

#[derive(Default)]
struct State {
    limits: ConnectionLimits,
    total: usize,
    by_listener: HashMap<usize, usize>,
    by_ip: HashMap<IpAddr, usize>,
    /// The connections counted in `total` and not being closed, by slot id.
    open: HashMap<u64, Arc<OpenConnection>>,
    next_id: u64,
}

/// Ticks of activity, in the order connections were active: orders them
/// exactly, where two clock readings may be equal.
static ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// An open connection as the limits see it: when it was last active, the order
/// in which Kafka's Selector keeps its channels, and whether the broker closes
/// it to get back under max.connections.
pub struct OpenConnection {
    last_active: AtomicU64,
    closed: watch::Sender<bool>,
}

impl OpenConnection {
    fn new() -> Self {
        OpenConnection {
            last_active: AtomicU64::new(ACTIVITY.fetch_add(1, Ordering::Relaxed)),
            closed: watch::Sender::new(false),
        }
    }

    /// A request read or a response written (Kafka counts any I/O).
    pub fn touch(&self) {
        let now = ACTIVITY.fetch_add(1, Ordering::Relaxed);
        self.last_active.store(now, Ordering::Relaxed);
    }

    /// Returns once the broker closes this connection for max.connections.
    pub async fn closed(&self) {
        // The sender is `self`'s, so it outlives this wait.
        let _ = self.closed.subscribe().wait_for(|closed| *closed).await;
    }
}

/// Whether `open` connections are under `max` (a negative max is 0).
fn under(open: usize, max: i32) -> bool {
    open < usize::try_from(max).unwrap_or(0)
}

impl State {
    fn slot_free(&self, listener: usize) -> bool {
        let own = self
            .limits
            .listeners
            .get(listener)
            .and_then(|l| l.max_connections);
        let open_here = self.by_listener.get(&listener).copied().unwrap_or(0);
        under(self.total, self.limits.max_connections)
            && own.is_none_or(|max| under(open_here, max))
    }

    /// Kafka's closeExcessConnections: while more connections are open than
    /// max.connections, closes the least recently active (whatever it is
    /// doing, as Kafka's lowestPriorityChannel). Being closed, a connection
    /// counts against new ones until its task ends, but not here again.
    fn close_excess(&mut self) {
        let max = usize::try_from(self.limits.max_connections).unwrap_or(0);
        let excess = self.open.len().saturating_sub(max);
        if excess == 0 {
            return;
        }
        let mut by_activity: Vec<(u64, u64)> = self
            .open
            .iter()
            .map(|(id, c)| (c.last_active.load(Ordering::Relaxed), *id))
            .collect();
        by_activity.sort_unstable();
        tracing::info!(
            excess,
            max,
            "closing the least recently active connections: over max.connections"
        );
        for (_, id) in by_activity.into_iter().take(excess) {
            if let Some(connection) = self.open.remove(&id) {
                connection.closed.send_replace(true);
            }
        }
    }
}

/// One connection's place in the counts (max.connections, its listener's,
/// and once counted, its address's); freed when dropped.
pub struct Slot {
    quotas: Arc<ConnectionQuotas>,
    listener: usize,
    ip: Option<IpAddr>,
    id: u64,
    connection: Arc<OpenConnection>,
}

impl ConnectionQuotas {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// max.connections.per.ip.overrides in force.
    pub fn per_ip_overrides(&self) -> PerIpOverrides {
        self.lock().limits.per_ip_overrides.clone()
    }

    /// New limits: a listener waiting for a slot looks again (a connection
    /// already waiting out a creation rate keeps its wait), and connections
    /// beyond a lowered max.connections are closed.
    pub fn set_limits(&self, limits: ConnectionLimits) {
        let mut state = self.lock();
        state.limits = limits;
        state.close_excess();
        drop(state);
        self.changed.notify_waiters();
    }

    /// The creation rates a new connection on listener number `listener`
    /// counts against: the broker's, and the listener's own if it has one.
    pub fn creation_rates(&self, listener: usize) -> (f64, Option<f64>) {
        let state = self.lock();
        let own = state
            .limits
            .listeners
            .get(listener)
            .and_then(|l| l.creation_rate);
        (f64::from(state.limits.creation_rate), own.map(f64::from))
    }

    /// A slot on listener number `listener`, if it and the broker are under
    /// their max.connections.
    pub fn try_slot(self: &Arc<Self>, listener: usize) -> Option<Slot> {
        let mut state = self.lock();
        if !state.slot_free(listener) {
            return None;
        }
        state.total += 1;
        *state.by_listener.entry(listener).or_insert(0) += 1;
        let id = state.next_id;
        state.next_id += 1;
        let connection = Arc::new(OpenConnection::new());
        state.open.insert(id, connection.clone());
        Some(Slot {
            quotas: self.clone(),
            listener,
            ip: None,
            id,
            connection,
        })
    }

    /// Waits until listener number `listener` may take a connection: until a
    /// connection closes or the limits change enough.
    pub async fn wait_for_slot(self: &Arc<Self>, listener: usize) -> Slot {
        loop {
            // Registered before looking, so a close in between is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(slot) = self.try_slot(listener) {
                return slot;
            }
            changed.await;
        }
    }
}

impl Slot {
    /// Counts this connection from `ip`, or `None` (the slot freed) when that
    /// address is at its max.connections.per.ip.
    pub fn inc(mut self, ip: IpAddr) -> Option<Slot> {
        let quotas = self.quotas.clone();
        let mut state = quotas.lock();
        let max = match state.limits.per_ip_overrides.by_ip.get(&ip) {
            Some(max) => *max,
            None => state.limits.max_per_ip,
        };
        let open = state.by_ip.get(&ip).copied().unwrap_or(0);
        if !under(open, max) {
            // Unlocked before the slot is dropped (which locks).
            drop(state);
            return None;
        }
        state.by_ip.insert(ip, open + 1);
        self.ip = Some(ip);
        Some(self)
    }

    /// The connection this slot counts, for its task to watch and touch.
    pub fn connection(&self) -> Arc<OpenConnection> {
        self.connection.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.quotas.lock();
        state.total -= 1;
        state.open.remove(&self.id);
        if let Some(count) = state.by_listener.get_mut(&self.listener) {
            *count -= 1;
        }
        if let Some(ip) = self.ip
            && let Some(count) = state.by_ip.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                state.by_ip.remove(&ip);
            }
        }
        drop(state);
        self.quotas.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn quotas(limits: ConnectionLimits) -> Arc<ConnectionQuotas> {
        let q = Arc::new(ConnectionQuotas::default());
        q.set_limits(limits);
        q
    }

    async fn waits(q: &Arc<ConnectionQuotas>, listener: usize) -> bool {
        tokio::time::timeout(Duration::from_millis(50), q.wait_for_slot(listener))
            .await
            .is_err()
    }

    #[tokio::test]
    async fn counts_per_ip_and_frees_on_drop() {
        let q = quotas(ConnectionLimits {
            max_connections: 3,
            max_per_ip: 2,
            ..ConnectionLimits::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = q.wait_for_slot(0).await.inc(a).unwrap();
        let _a2 = q.wait_for_slot(0).await.inc(a).unwrap();
        assert!(q.wait_for_slot(0).await.inc(a).is_none());
        let _b1 = q.wait_for_slot(0).await.inc(b).unwrap();
        // Three open: the fourth waits until one closes.
        assert!(waits(&q, 0).await);
        drop(a1);
        let slot = q.wait_for_slot(0).await;
        assert!(slot.inc(a).is_some());
    }

    #[test]
    fn overrides_resolve_to_addresses() {
        let overrides = [
            ("10.0.0.1".to_string(), 5),
            ("::1".to_string(), 6),
            ("localhost".to_string(), 7),
            ("no-such-host.invalid".to_string(), 8),
        ];
        let (by_ip, unresolved) = resolve_overrides(&overrides);
        assert_eq!(by_ip.get(&"10.0.0.1".parse().unwrap()), Some(&5));
        assert_eq!(by_ip.get(&"127.0.0.1".parse().unwrap()), Some(&7));
        assert_eq!(unresolved, ["no-such-host.invalid"]);
    }

    #[test]
    fn overrides_are_looked_up_again_only_when_they_change() {
        let elsewhere: IpAddr = "10.9.9.9".parse().unwrap();
        let held = PerIpOverrides {
            configured: "localhost:5".into(),
            by_ip: HashMap::from([(elsewhere, 5)]),
        };
        assert_eq!(held.clone().for_config("localhost:5"), held);
        let changed = held.for_config("localhost:6");
        assert_eq!(changed.by_ip.get(&"127.0.0.1".parse().unwrap()), Some(&6));
        assert!(!changed.by_ip.contains_key(&elsewhere));
        assert_eq!(changed.configured, "localhost:6");
    }

    #[tokio::test]
    async fn an_override_replaces_max_per_ip_for_its_address() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let q = quotas(ConnectionLimits {
            max_per_ip: 0,
            per_ip_overrides: PerIpOverrides {
                configured: "10.0.0.1:2".into(),
                by_ip: HashMap::from([(a, 2)]),
            },
            ..ConnectionLimits::default()
        });
        assert!(q.wait_for_slot(0).await.inc(b).is_none());
        let _a1 = q.wait_for_slot(0).await.inc(a).unwrap();
        let _a2 = q.wait_for_slot(0).await.inc(a).unwrap();
        assert!(q.wait_for_slot(0).await.inc(a).is_none());
        // The refused ones took no slot.
        assert_eq!(q.lock().total, 2);
    }

    #[tokio::test]
    async fn a_listener_at_its_own_max_waits_and_the_others_do_not() {
        let limits = ConnectionLimits {
            max_connections: 3,
            listeners: vec![
                ListenerLimits {
                    max_connections: Some(1),
                    creation_rate: None,
                },
                ListenerLimits::default(),
            ],
            ..ConnectionLimits::default()
        };
        let q = quotas(limits.clone());
        let first = q.wait_for_slot(0).await;
        assert!(waits(&q, 0).await);
        let _other = q.wait_for_slot(1).await;
        // Raised, the waiting listener goes on at once.
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.wait_for_slot(0).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut raised = limits;
        raised.listeners[0].max_connections = Some(2);
        q.set_limits(raised);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        // Three open: the broker's max holds every listener.
        assert!(waits(&q, 1).await);
        drop((first, second));
        assert!(!waits(&q, 1).await);
    }

    #[tokio::test]
    async fn lowered_max_connections_closes_the_least_recently_active() {
        let q = quotas(ConnectionLimits::default());
        let mut open: Vec<Option<Slot>> = (0..4).map(|_| q.try_slot(0)).collect();
        let closed = |open: &[Option<Slot>]| -> Vec<bool> {
            let flag = |s: &Slot| *s.connection.closed.borrow();
            open.iter().map(|s| s.as_ref().is_some_and(flag)).collect()
        };
        for i in [2, 0, 3, 1] {
            open[i].as_ref().unwrap().connection.touch();
        }
        let lowered = |max_connections| ConnectionLimits {
            max_connections,
            ..ConnectionLimits::default()
        };
        q.set_limits(lowered(2));
        assert_eq!(closed(&open), [true, false, true, false]);
        let first = open[2].as_ref().unwrap().connection.clone();
        tokio::time::timeout(Duration::from_secs(5), first.closed())
            .await
            .unwrap();
        // Until their tasks end they count against new connections, but are
        // not closed again in place of others.
        q.set_limits(lowered(2));
        assert_eq!(closed(&open), [true, false, true, false]);
        assert!(q.try_slot(0).is_none());
        open[2] = None;
        open[0] = None;
        assert!(q.try_slot(0).is_none(), "two open: at the new limit");
        q.set_limits(lowered(1));
        assert_eq!(closed(&open), [false, false, false, true]);
        open[3] = None;
        assert!(q.try_slot(0).is_none(), "one open: at the new limit");
        open[1] = None;
        assert!(q.try_slot(0).is_some());
    }
}
