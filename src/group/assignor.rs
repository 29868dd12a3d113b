//! Server-side assignors of the consumer group protocol (KIP-848): `uniform`
//! (balanced and sticky: a partition stays with its owner while that keeps
//! the balance) and `range` (contiguous ranges per topic, as the classic
//! RangeAssignor).

use std::collections::{BTreeMap, BTreeSet};

/// topic → partitions.
pub type Assignment = BTreeMap<String, BTreeSet<i32>>;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";

pub fn is_known(name: &str) -> bool {
    name == UNIFORM || name == RANGE
}

/// One member's view for the assignor: what it subscribes to and what it was
/// given last time.
pub struct AssignorMember<'a> {
    pub id: &'a str,
    pub topics: &'a BTreeSet<String>,
    pub previous: Option<&'a Assignment>,
}

/// Assigns every partition of every subscribed topic (`partitions`: topic →
/// partition count) to one of the members subscribing to it.
pub fn assign(
    assignor: &str,
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let subscribers: Vec<&AssignorMember<'_>> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let owners = if assignor == RANGE {
            range_topic(&subscribers, count)
        } else {
            uniform_topic(topic, &subscribers, count)
        };
        for (member, partition) in owners {
            out.entry(member)
                .or_default()
                .entry(topic.clone())
                .or_default()
                .insert(partition);
        }
    }
    out
}

/// Member i of n gets the i-th contiguous range; the first `count % n` get one more.
fn range_topic(subscribers: &[&AssignorMember<'_>], count: i32) -> Vec<(String, i32)> {
    let n = subscribers.len() as i32;
    let (quota, extra) = (count / n, count % n);
    let mut out = Vec::new();
    let mut next = 0;
    for (i, m) in subscribers.iter().enumerate() {
        let take = quota + i32::from((i as i32) < extra);
        for p in next..next + take {
            out.push((m.id.to_string(), p));
        }
        next += take;
    }
    out
}

/// Balanced per topic; previous owners keep what they had up to their quota.
fn uniform_topic(
    topic: &str,
    subscribers: &[&AssignorMember<'_>],
    count: i32,
) -> Vec<(String, i32)> {
    let n = subscribers.len();
    let quota = count as usize / n;
    let mut extra = count as usize % n;
    let mut owner: BTreeMap<i32, usize> = BTreeMap::new();
    let mut load = vec![0usize; n];
    let mut cap = vec![quota; n];
    // Members that already hold more than the quota get the +1 slots first.
    let mut order: Vec<usize> = (0..n).collect();
    let held = |i: usize| {
        subscribers[i]
            .previous
            .and_then(|a| a.get(topic))
            .map(|s| s.len())
            .unwrap_or(0)
    };
    order.sort_by_key(|&i| std::cmp::Reverse(held(i)));
    for &i in &order {
        if extra > 0 && held(i) > quota {
            cap[i] += 1;
            extra -= 1;
        }
    }
    for &i in &order {
        if extra > 0 && cap[i] == quota {
            cap[i] += 1;
            extra -= 1;
        }
    }
    for (i, m) in subscribers.iter().enumerate() {
        let Some(previous) = m.previous.and_then(|a| a.get(topic)) else {
            continue;
        };
        for &p in previous {
            if p < count && load[i] < cap[i] && !owner.contains_key(&p) {
                owner.insert(p, i);
                load[i] += 1;
            }
        }
    }
    for p in 0..count {
        if owner.contains_key(&p) {
            continue;
        }
        if let Some(i) = (0..n)
            .filter(|&i| load[i] < cap[i])
            .min_by_key(|&i| load[i])
        {
            owner.insert(p, i);
            load[i] += 1;
        }
    }
    owner
        .into_iter()
        .map(|(p, i)| (subscribers[i].id.to_string(), p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(|s| s.len()).sum()
    }

    #[test]
    fn uniform_balances_and_keeps_owners() {
        let t = topics(&["t"]);
        let parts: BTreeMap<String, i32> = [("t".to_string(), 6)].into();
        let one = [AssignorMember {
            id: "a",
            topics: &t,
            previous: None,
        }];
        let first = assign(UNIFORM, &one, &parts);
        assert_eq!(count(&first["a"]), 6);
        let two = [
            AssignorMember {
                id: "a",
                topics: &t,
                previous: Some(&first["a"]),
            },
            AssignorMember {
                id: "b",
                topics: &t,
                previous: None,
            },
        ];
        let second = assign(UNIFORM, &two, &parts);
        assert_eq!((count(&second["a"]), count(&second["b"])), (3, 3));
        assert!(
            second["a"]["t"].is_subset(&first["a"]["t"]),
            "a keeps what it had"
        );
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let t = topics(&["t"]);
        let parts: BTreeMap<String, i32> = [("t".to_string(), 5)].into();
        let members = [
            AssignorMember {
                id: "a",
                topics: &t,
                previous: None,
            },
            AssignorMember {
                id: "b",
                topics: &t,
                previous: None,
            },
        ];
        let out = assign(RANGE, &members, &parts);
        assert_eq!(out["a"]["t"], [0, 1, 2].into());
        assert_eq!(out["b"]["t"], [3, 4].into());
    }

    #[test]
    fn only_subscribers_get_a_topic() {
        let (ta, tb) = (topics(&["x"]), topics(&["x", "y"]));
        let parts: BTreeMap<String, i32> = [("x".to_string(), 2), ("y".to_string(), 2)].into();
        let members = [
            AssignorMember {
                id: "a",
                topics: &ta,
                previous: None,
            },
            AssignorMember {
                id: "b",
                topics: &tb,
                previous: None,
            },
        ];
        let out = assign(UNIFORM, &members, &parts);
        assert!(!out["a"].contains_key("y"));
        assert_eq!(out["b"]["y"].len(), 2);
    }
}
