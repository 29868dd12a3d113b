//! Connection limits, as Kafka's `ConnectionQuotas`: at max.connections the
//! acceptors wait for a connection to close before accepting again; a new
//! connection beyond max.connections.per.ip is closed at once. The connection
//! creation rates (max.connection.creation.rate, broker-wide and per listener)
//! are kept here too; `crate::quota_manager` measures them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::SocketConfig;

pub struct ConnectionQuotas {
    slots: Arc<Semaphore>,
    /// Dynamic: a new limit applies to the next connection.
    max_per_ip: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Dynamic: max.connection.creation.rate and each listener's own.
    creation_rates: Mutex<CreationRates>,
}

/// Connection creation rates, new connections per second (KIP-612).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationRates {
    /// max.connection.creation.rate, across every listener.
    pub broker: i32,
    /// listener.name.<listener>.max.connection.creation.rate, by listener
    /// index; None: the listener has no bound of its own.
    pub listeners: Vec<Option<i32>>,
}

/// A broker-wide slot, held before accepting.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// One open connection's place in the counts; freed when dropped.
pub struct ConnectionSlot {
    _slot: Slot,
    ip: IpAddr,
    quotas: Arc<ConnectionQuotas>,
}

impl ConnectionQuotas {
    pub fn new(config: &SocketConfig) -> ConnectionQuotas {
        let max = (config.max_connections.max(1) as usize).min(Semaphore::MAX_PERMITS);
        ConnectionQuotas {
            slots: Arc::new(Semaphore::new(max)),
            max_per_ip: AtomicUsize::new(config.max_connections_per_ip.max(1) as usize),
            per_ip: Mutex::new(HashMap::new()),
            creation_rates: Mutex::new(CreationRates {
                broker: config.max_connection_creation_rate,
                listeners: Vec::new(),
            }),
        }
    }

    /// New connection creation rates; a connection already waiting keeps its wait.
    pub fn set_creation_rates(&self, rates: CreationRates) {
        *self
            .creation_rates
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = rates;
    }

    /// The creation rates a new connection on listener number `listener`
    /// counts against: the broker's, and the listener's own if it has one.
    pub fn creation_rates(&self, listener: usize) -> (f64, Option<f64>) {
        let rates = self
            .creation_rates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let own = rates.listeners.get(listener).copied().flatten();
        (f64::from(rates.broker), own.map(f64::from))
    }

    /// Waits until fewer than max.connections are open (`None` only if the
    /// slots were closed, which they never are).
    pub async fn wait_for_slot(&self) -> Option<Slot> {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .ok()
            .map(|permit| Slot { _permit: permit })
    }

    /// A new max.connections.per.ip; connections already open stay open.
    pub fn set_max_per_ip(&self, max: i32) {
        self.max_per_ip
            .store(max.max(1) as usize, Ordering::Relaxed);
    }

    /// Counts a new connection from `ip`, or `None` when that IP is at
    /// max.connections.per.ip.
    pub fn inc(self: &Arc<Self>, slot: Slot, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip.load(Ordering::Relaxed) {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            _slot: slot,
            ip,
            quotas: self.clone(),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_ip = self.quotas.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn counts_per_ip_and_frees_on_drop() {
        let config = SocketConfig {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..crate::config::Config::load(None, Vec::new(), &[])
                .unwrap()
                .socket
        };
        let q = Arc::new(ConnectionQuotas::new(&config));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = q.inc(q.wait_for_slot().await.unwrap(), a).unwrap();
        let _a2 = q.inc(q.wait_for_slot().await.unwrap(), a).unwrap();
        assert!(q.inc(q.wait_for_slot().await.unwrap(), a).is_none());
        let _b1 = q.inc(q.wait_for_slot().await.unwrap(), b).unwrap();
        // Three open: the fourth waits until one closes.
        let waiting = tokio::time::timeout(Duration::from_millis(50), q.wait_for_slot()).await;
        assert!(waiting.is_err());
        drop(a1);
        let slot = q.wait_for_slot().await.unwrap();
        assert!(q.inc(slot, a).is_some());
    }
}
