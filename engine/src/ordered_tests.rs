//! Ordered messages on an in-memory network: one order for every group
//! member, shared with the views (view synchrony), across loss, a leader
//! crash, a partition and its heal.

use crate::engine::{Event, MembershipChange};
use crate::ids::{MemberId, NodeId, ViewId};
use crate::testnet::{ms, Net, Payload};
use std::collections::{BTreeMap, BTreeSet};

/// What one member took, in order: views and ordered messages.
#[derive(Debug)]
enum Took {
    View(MembershipChange),
    Ordered {
        from: MemberId,
        view: ViewId,
        seq: u64,
        payload: Payload,
    },
}

fn took(net: &Net) -> BTreeMap<(NodeId, u64), Vec<Took>> {
    let mut all: BTreeMap<(NodeId, u64), Vec<Took>> = BTreeMap::new();
    for (_, node, key, e) in &net.delivered {
        let t = match e {
            Event::View(c) => Took::View((**c).clone()),
            Event::Ordered {
                from,
                view,
                seq,
                payload,
            } => Took::Ordered {
                from: from.clone(),
                view: *view,
                seq: *seq,
                payload: *payload,
            },
            _ => continue,
        };
        all.entry((*node, key.0)).or_default().push(t);
    }
    all
}

/// Every rule of ordered delivery, as violations (empty: all hold; at
/// most the first five).
fn violations(net: &Net) -> Vec<String> {
    let mut v = all_violations(net);
    v.truncate(5);
    v
}

fn all_violations(net: &Net) -> Vec<String> {
    let mut v = Vec::new();
    // (view, seq) -> (from, payload), as the first member took it.
    let mut numbered: BTreeMap<(ViewId, u64), (MemberId, Payload)> = BTreeMap::new();
    // (member, view) -> how many it took in the view, and the view after.
    let mut spans: Vec<(MemberId, ViewId, Option<ViewId>, u64)> = Vec::new();
    for (who, items) in took(net) {
        let mut current: Option<&MembershipChange> = None;
        let mut count = 0;
        let mut seen: BTreeSet<(MemberId, Payload)> = BTreeSet::new();
        for item in &items {
            match item {
                Took::View(c) => {
                    if let Some(prev) = current {
                        spans.push((prev.me.clone(), prev.view, Some(c.view), count));
                    }
                    current = Some(c);
                    count = 0;
                }
                Took::Ordered {
                    from,
                    view,
                    seq,
                    payload,
                } => {
                    let Some(c) = current else {
                        v.push(format!("{who:?} took a message before any view"));
                        continue;
                    };
                    if *view != c.view {
                        v.push(format!(
                            "{who:?} took a message of view {view} in view {}",
                            c.view
                        ));
                    }
                    if !c.members.contains(from) {
                        v.push(format!(
                            "{who:?} took a message from {from} not in view {view}"
                        ));
                    }
                    count += 1;
                    if *seq != count {
                        v.push(format!(
                            "{who:?} took seq {seq} as its message {count} of view {view}"
                        ));
                    }
                    match numbered.get(&(*view, *seq)) {
                        Some(first) if *first != (from.clone(), *payload) => v.push(format!(
                            "view {view} seq {seq}: {first:?} for one member, {:?} for {who:?}",
                            (from, payload)
                        )),
                        Some(_) => {}
                        None => {
                            numbered.insert((*view, *seq), (from.clone(), *payload));
                        }
                    }
                    if !seen.insert((from.clone(), *payload)) {
                        v.push(format!("{who:?} took {payload} from {from} twice"));
                    }
                }
            }
        }
        if let Some(c) = current {
            spans.push((c.me.clone(), c.view, None, count));
        }
    }
    // View synchrony: members that install the same two views in a row
    // took the same messages between them.
    let mut between: BTreeMap<(ViewId, ViewId), (MemberId, u64)> = BTreeMap::new();
    for (m, a, b, n) in &spans {
        let Some(b) = b else { continue };
        match between.get(&(*a, *b)) {
            Some((other, k)) if k != n => v.push(format!(
                "views {a} then {b}: {other} took {k} messages in {a}, {m} took {n}"
            )),
            Some(_) => {}
            None => {
                between.insert((*a, *b), (m.clone(), *n));
            }
        }
    }
    v
}

/// The payloads each member took, in order.
fn payloads(net: &Net, node: u16, key: u64) -> Vec<Payload> {
    took(net)
        .remove(&(NodeId(node), key))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Took::Ordered { payload, .. } => Some(payload),
            Took::View(_) => None,
        })
        .collect()
}

fn cluster(nodes: u16, seed: u64) -> Net {
    Net::cluster(nodes, seed)
}

/// Every member sends messages `from..to`, one every `gap_ms`,
/// round-robin; payload = node * 100_000 + i.
fn traffic(net: &mut Net, senders: &[u16], (from, to): (u32, u32), gap_ms: u64) {
    for i in from..to {
        for &n in senders {
            if net.engines.contains_key(&NodeId(n)) {
                net.send_ordered(n, u64::from(n), u32::from(n) * 100_000 + i);
            }
        }
        net.run_for(ms(gap_ms));
    }
}

#[test]
fn every_member_takes_every_message_in_one_order() {
    let mut net = cluster(5, 11);
    net.loss = 0.1;
    traffic(&mut net, &[0, 1, 2, 3, 4], (0, 300), 3);
    net.loss = 0.0;
    net.run_for(ms(3000));
    assert_eq!(violations(&net), Vec::<String>::new());
    let first = payloads(&net, 0, 0);
    assert_eq!(first.len(), 1500, "every message, once");
    for n in 1..5 {
        assert_eq!(
            payloads(&net, n, u64::from(n)),
            first,
            "n{n} took another order"
        );
    }
}

#[test]
fn a_leader_crash_keeps_views_and_messages_in_one_order() {
    for seed in 0..20 {
        let mut net = cluster(5, seed);
        net.loss = 0.05;
        traffic(&mut net, &[0, 1, 2, 3, 4], (0, 40), 2);
        net.crash(NodeId(0)); // the leader and sequencer
        traffic(&mut net, &[1, 2, 3, 4], (40, 120), 2);
        net.loss = 0.0;
        net.run_for(ms(5000));
        assert_eq!(violations(&net), Vec::<String>::new(), "seed {seed}");
        // Survivors took the same messages, in one order, and each
        // survivor's own messages all arrived.
        let first = payloads(&net, 1, 1);
        for n in 2..5 {
            let other = payloads(&net, n, u64::from(n));
            if other != first {
                let at = first.iter().zip(&other).position(|(a, b)| a != b);
                let views = |k: u16| -> Vec<(u64, usize)> {
                    net.views(k, u64::from(k))
                        .iter()
                        .map(|(_, c)| (c.view.0, c.members.len()))
                        .collect()
                };
                panic!(
                    "seed {seed}: n{n} differs at {at:?} (lengths {} and {}): n1 views {:?}, n{n} views {:?}",
                    first.len(),
                    other.len(),
                    views(1),
                    views(n)
                );
            }
        }
        for n in 1..5u32 {
            let own = first.iter().filter(|p| **p / 100_000 == n).count();
            assert_eq!(own, 120, "seed {seed}: n{n}'s messages");
        }
    }
}

#[test]
fn a_partition_and_its_heal_keep_each_side_in_one_order() {
    for seed in 0..10 {
        let mut net = cluster(5, seed);
        traffic(&mut net, &[0, 1, 2, 3, 4], (0, 20), 5);
        net.partition(&[&[0, 1], &[2, 3, 4]]);
        traffic(&mut net, &[0, 1, 2, 3, 4], (20, 320), 10);
        net.blocked.clear();
        traffic(&mut net, &[0, 1, 2, 3, 4], (320, 520), 10);
        net.run_for(ms(3000));
        assert_eq!(violations(&net), Vec::<String>::new(), "seed {seed}");
        let views = net.views(0, 0);
        assert_eq!(
            views.last().map(|(_, c)| c.members.len()),
            Some(5),
            "healed"
        );
        // After the heal, one view and one order again: the last messages
        // every member took are the same.
        let tail = |n: u16| -> Vec<Payload> {
            let all = payloads(&net, n, u64::from(n));
            all[all.len() - 100..].to_vec()
        };
        for n in 1..5 {
            assert_eq!(tail(n), tail(0), "seed {seed}: n{n} after the heal");
        }
    }
}

#[test]
fn view_synchrony_needs_the_flush() {
    // Without the flush, some seed leaves a survivor with fewer of the
    // crashed leader's messages than another before the next view.
    let broken = (0..20).any(|seed| {
        let mut net = cluster(5, seed);
        for n in 0..5 {
            net.engines
                .get_mut(&NodeId(n))
                .expect("up")
                .mutate(crate::Mutation::NoOrderedFlush);
        }
        net.loss = 0.05;
        traffic(&mut net, &[0, 1, 2, 3, 4], (0, 40), 2);
        net.crash(NodeId(0));
        traffic(&mut net, &[1, 2, 3, 4], (40, 60), 2);
        net.loss = 0.0;
        net.run_for(ms(5000));
        violations(&net).iter().any(|v| v.starts_with("views "))
    });
    assert!(
        broken,
        "the checker never saw a survivor miss a flushed message"
    );
}

#[test]
fn the_checker_bites_on_a_reordered_member() {
    let mut net = cluster(3, 1);
    traffic(&mut net, &[0, 1, 2], (0, 5), 5);
    net.run_for(ms(500));
    assert_eq!(violations(&net), Vec::<String>::new());
    // Swap two ordered messages one member took.
    let at: Vec<usize> = net
        .delivered
        .iter()
        .enumerate()
        .filter(|(_, (_, n, _, e))| *n == NodeId(2) && matches!(e, Event::Ordered { .. }))
        .map(|(i, _)| i)
        .take(2)
        .collect();
    let (a, b) = (at[0], at[1]);
    let ea = net.delivered[a].3.clone();
    let eb = net.delivered[b].3.clone();
    net.delivered[a].3 = eb;
    net.delivered[b].3 = ea;
    assert!(!violations(&net).is_empty());
}
