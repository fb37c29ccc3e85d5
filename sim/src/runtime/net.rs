//! The network's conditions as the scenario's faults set them: which links
//! partitions cut, and the loss and extra delay on the others. Both drivers
//! keep one [`Net`] and ask it about every packet, so a fault means the same
//! on both.

use crate::trace::{Carried, PacketKind};
use std::collections::{BTreeMap, BTreeSet};
use vigil_engine::job::JobMsg;
use vigil_engine::{NodeId, Time};

/// Loss, extra delay or duplication on the links that touch `nodes` (all
/// if `None`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct NetFault {
    pub(super) nodes: Option<BTreeSet<NodeId>>,
    pub(super) loss: f64,
    pub(super) delay_ns: Option<(u64, u64)>,
    #[serde(default)]
    pub(super) duplicate: f64,
    pub(super) until: Option<Time>,
}

impl NetFault {
    /// Loss `rate` on every link (narrowed and timed by the caller).
    pub(super) fn loss(rate: f64) -> NetFault {
        NetFault {
            loss: rate,
            ..NetFault::none()
        }
    }

    /// Extra delay drawn from `ns`.
    pub(super) fn delay(ns: (u64, u64)) -> NetFault {
        NetFault {
            delay_ns: Some(ns),
            ..NetFault::none()
        }
    }

    /// Packets delivered twice with probability `rate`.
    pub(super) fn duplicate(rate: f64) -> NetFault {
        NetFault {
            duplicate: rate,
            ..NetFault::none()
        }
    }

    fn none() -> NetFault {
        NetFault {
            nodes: None,
            loss: 0.0,
            delay_ns: None,
            duplicate: 0.0,
            until: None,
        }
    }
}

/// What the network does to one packet, as the faults of the moment say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Conditions {
    /// The probability it is lost.
    pub(super) loss: f64,
    /// Extra delay (ns), drawn from this range.
    pub(super) delay: Option<(u64, u64)>,
    /// The probability it also arrives a second time.
    pub(super) duplicate: f64,
}

/// What the faults did to the network, now.
#[derive(Clone, Debug, Default)]
pub(super) struct Net {
    /// The cluster's own loss rate, under every fault.
    pub(super) base_loss: f64,
    faults: Vec<NetFault>,
    /// Links cut by partitions and one-way cuts, with the faults (by
    /// number) that cut each: a fault's heal restores only the links no
    /// other fault still cuts, and a heal that a `heal` fault overtook
    /// restores nothing a newer fault cut.
    clogged: BTreeMap<(u16, u16), std::collections::BTreeSet<usize>>,
}

impl Net {
    pub(super) fn new(base_loss: f64) -> Net {
        Net {
            base_loss,
            ..Net::default()
        }
    }

    pub(super) fn degrade(&mut self, fault: NetFault) {
        self.faults.push(fault);
    }

    /// Every loss or delay fault so far, oldest first.
    pub(super) fn faults(&self) -> &[NetFault] {
        &self.faults
    }

    /// Every link a partition cuts now.
    pub(super) fn clogged(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.clogged.keys().copied()
    }

    /// What happens to a packet `from -> to` sent at `now`.
    pub(super) fn conditions(&self, now: Time, from: NodeId, to: NodeId) -> Conditions {
        let mut keep = 1.0 - self.base_loss;
        let mut single = 1.0;
        let mut delay = None;
        for f in &self.faults {
            if f.until.is_some_and(|u| now >= u) {
                continue;
            }
            if f.nodes
                .as_ref()
                .is_some_and(|n| !n.contains(&from) && !n.contains(&to))
            {
                continue;
            }
            keep *= 1.0 - f.loss;
            single *= 1.0 - f.duplicate;
            if f.delay_ns.is_some() {
                delay = f.delay_ns;
            }
        }
        Conditions {
            loss: 1.0 - keep,
            delay,
            duplicate: 1.0 - single,
        }
    }

    /// Feeds its whole state to `state` (for an exhaustive explorer's
    /// fingerprint of a run's state).
    pub(super) fn hash_state(&self, state: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        self.base_loss.to_bits().hash(state);
        bincode::serialize(&self.faults)
            .expect("network faults encode")
            .hash(state);
        self.clogged.hash(state);
    }

    /// Whether a partition cuts the link `from -> to` now.
    pub(super) fn is_clogged(&self, from: u16, to: u16) -> bool {
        self.clogged.contains_key(&(from, to))
    }

    /// Cuts every link between two different sides, both ways; returns the
    /// links, in order.
    pub(super) fn cut(&mut self, index: usize, sides: &[Vec<u16>]) -> Vec<(u16, u16)> {
        let mut links = Vec::new();
        for (i, a) in sides.iter().enumerate() {
            for (j, b) in sides.iter().enumerate() {
                if i == j {
                    continue;
                }
                for x in a {
                    for y in b {
                        self.clogged.entry((*x, *y)).or_default().insert(index);
                        links.push((*x, *y));
                    }
                }
            }
        }
        links
    }

    /// Cuts the links `links` (one direction each); returns them, in
    /// order. A one-way cut heals as a partition does ([`Net::heal`]).
    pub(super) fn cut_links(&mut self, index: usize, links: &[(u16, u16)]) -> Vec<(u16, u16)> {
        for l in links {
            self.clogged.entry(*l).or_default().insert(index);
        }
        links.to_vec()
    }

    /// Ends fault `index`'s cut: restores those of its `links` that no
    /// other fault cuts; returns them.
    pub(super) fn heal(&mut self, index: usize, links: &[(u16, u16)]) -> Vec<(u16, u16)> {
        let mut restored = Vec::new();
        for l in links {
            if let Some(by) = self.clogged.get_mut(l) {
                if by.remove(&index) && by.is_empty() {
                    self.clogged.remove(l);
                    restored.push(*l);
                }
            }
        }
        restored
    }

    /// Restores every cut link; returns them.
    pub(super) fn heal_all(&mut self) -> Vec<(u16, u16)> {
        std::mem::take(&mut self.clogged).into_keys().collect()
    }
}

/// A packet's kind, as the trace records it.
pub(super) fn packet_kind(body: &vigil_engine::Body<JobMsg>) -> PacketKind {
    use vigil_engine::engine::LinkMsg;
    use vigil_engine::Body;
    match body {
        Body::Heartbeat { .. } => PacketKind::Heartbeat,
        Body::NotMember { .. } => PacketKind::NotMember,
        Body::Leaving { .. } => PacketKind::Leaving,
        Body::Probe { reply: false, .. } => PacketKind::Probe,
        Body::Probe { reply: true, .. } => PacketKind::ProbeReply,
        Body::Gather { reply: false, .. } => PacketKind::Gather,
        Body::Gather { reply: true, .. } => PacketKind::GatherReply,
        Body::Install { view } => PacketKind::Install(view.id),
        Body::InstallAck { .. } => PacketKind::InstallAck,
        Body::Ack { .. } => PacketKind::LinkAck,
        Body::Data { data, .. } => PacketKind::Data(
            data.msgs
                .iter()
                .map(|m| match m {
                    LinkMsg::State(_) => Carried::State,
                    LinkMsg::GroupView(v) => Carried::GroupView(v.group.clone()),
                    LinkMsg::Member(m) => Carried::Member {
                        thread: m.payload.thread,
                        round: m.payload.round,
                    },
                    LinkMsg::Submit(s) => Carried::Submit(s.group.clone()),
                    LinkMsg::Ordered { msg, .. } => Carried::Ordered {
                        group: msg.group.clone(),
                        seq: msg.seq,
                    },
                    LinkMsg::Delivered { group, .. } => Carried::Delivered(group.clone()),
                    LinkMsg::Numbered { .. } => Carried::Numbered,
                })
                .collect(),
        ),
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn a_link_two_partitions_cut_heals_with_the_last() {
        let mut net = Net::new(0.0);
        let first = net.cut(0, &[vec![0], vec![1, 2]]);
        let second = net.cut(1, &[vec![0, 1], vec![2]]);
        assert!(net.is_clogged(0, 2) && net.is_clogged(2, 0));
        assert_eq!(net.heal(0, &first), vec![(0, 1), (1, 0)]);
        assert!(net.is_clogged(0, 2), "the second partition still cuts it");
        assert_eq!(net.heal(1, &second).len(), 4);
        assert!(!net.is_clogged(0, 2));
    }

    /// A `heal` fault restores every link; the heal a partition had set for
    /// later then restores nothing a newer cut holds (it lifted it).
    fn a_heal_overtaken_by_a_heal_all_leaves_a_newer_cut() {
        let mut net = Net::new(0.0);
        let old = net.cut(0, &[vec![0], vec![1, 2]]);
        assert_eq!(net.heal_all().len(), 4);
        net.cut_links(2, &[(0, 2)]);
        assert_eq!(net.heal(0, &old), Vec::<(u16, u16)>::new());
        assert!(net.is_clogged(0, 2), "the newer cut stands");
    }

    fn a_one_way_cut_leaves_the_reverse_link_and_heals_like_a_partition() {
        let mut net = Net::new(0.0);
        let one_way = net.cut_links(0, &[(0, 1), (0, 2)]);
        assert!(net.is_clogged(0, 1) && !net.is_clogged(1, 0));
        let both = net.cut(1, &[vec![0], vec![1, 2]]);
        assert_eq!(
            net.heal(0, &one_way),
            Vec::<(u16, u16)>::new(),
            "the partition still cuts them"
        );
        assert_eq!(net.heal(1, &both).len(), 4);
        assert_eq!(net.clogged().count(), 0);
    }

    fn loss_compounds_and_faults_expire() {
        let mut net = Net::new(0.5);
        net.degrade(NetFault {
            nodes: Some([NodeId(1)].into()),
            loss: 0.5,
            delay_ns: Some((10, 20)),
            duplicate: 0.0,
            until: Some(Time(100)),
        });
        net.degrade(NetFault {
            nodes: Some([NodeId(0)].into()),
            loss: 0.0,
            delay_ns: None,
            duplicate: 0.5,
            until: None,
        });
        let c = |t, a, b| {
            let c = net.conditions(Time(t), NodeId(a), NodeId(b));
            (c.loss, c.delay, c.duplicate)
        };
        assert_eq!(c(0, 0, 1), (0.75, Some((10, 20)), 0.5));
        assert_eq!(c(0, 1, 2), (0.75, Some((10, 20)), 0.0));
        assert_eq!(c(0, 2, 3), (0.5, None, 0.0));
        assert_eq!(c(100, 0, 1), (0.5, None, 0.5));
    }

    unit_tests![
        a_link_two_partitions_cut_heals_with_the_last,
        a_heal_overtaken_by_a_heal_all_leaves_a_newer_cut,
        a_one_way_cut_leaves_the_reverse_link_and_heals_like_a_partition,
        loss_compounds_and_faults_expire,
    ];
}
