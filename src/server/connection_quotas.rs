//! Connection limits, as Kafka's `ConnectionQuotas`: at max.connections the
//! acceptors wait for a connection to close before accepting again; a new
//! connection beyond max.connections.per.ip is closed at once.

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
        }
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
