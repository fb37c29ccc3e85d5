//! `group-state`: a replicated key-value group state, updated at ACK rounds
//! (IBM's US 6,625,639).
//!
//! Every ACK carries the sender's copy of the state (with its version) and
//! the updates it proposes. The step after a round, on every member:
//! 1. adopts the copy with the highest version among the round's ACKs
//!    (ties: the lowest member's), its own included;
//! 2. applies every proposed update of the round, in member order, and
//!    counts one version up.
//!
//! The new copy is a function of the round's ACKs alone, and members that
//! complete a round in the same view read the same ACKs, so their copies are
//! identical after every round (checked as `state-agrees`). A member that
//! joins ACKs an empty copy and proposes nothing until it has adopted the
//! group's copy: it gets the state before it takes part. After a partition
//! heals, the side with the higher version wins; the other side's updates
//! since the split are dropped, in one agreed order.

use crate::{Decision, Protocol, Step, StepCtx};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One member's ACK: its copy of the state (version 0 and empty until it
/// has the group's) and its proposed updates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct StateAck {
    pub version: u64,
    pub state: BTreeMap<String, String>,
    pub puts: Vec<(String, String)>,
}

/// A replicated key-value state updated at ACK rounds.
#[derive(Clone, Debug, Hash)]
pub struct GroupState {
    /// Stop after the state reaches this version (`None`: until the end).
    pub updates: Option<u64>,
    /// How many distinct keys members write (each member writes one key a
    /// round, chosen from its name and the round).
    pub keys: u64,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
    version: u64,
    state: BTreeMap<String, String>,
    synced: bool,
}

impl Default for GroupState {
    fn default() -> Self {
        GroupState::new(None, 8)
    }
}

impl GroupState {
    pub fn new(updates: Option<u64>, keys: u64) -> GroupState {
        GroupState {
            updates,
            keys: keys.max(1),
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
            version: 0,
            state: BTreeMap::new(),
            synced: false,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn state(&self) -> &BTreeMap<String, String> {
        &self.state
    }

    /// The update a synced member named `member` proposes in `round`.
    pub fn update_for(&self, member: &str, round: u64) -> (String, String) {
        let key = format!("k{}", mix(member, round) % self.keys);
        (key, format!("{member}:{round}"))
    }
}

/// A small deterministic mix of a member's name and a round, to spread keys.
fn mix(text: &str, round: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// What [`Protocol::group_state`] shows of it. Its fields are in JSON's
/// key order (a value's object is sorted by key), so that the digest
/// written straight from it is the digest of the value.
#[derive(Serialize)]
struct Shown<'a> {
    state: &'a BTreeMap<String, String>,
    version: u64,
}

impl GroupState {
    fn shown(&self) -> Shown<'_> {
        Shown {
            state: &self.state,
            version: self.version,
        }
    }
}

impl Protocol for GroupState {
    #[cfg(any(test, feature = "mutations"))]
    fn mutate(&mut self, mutation: crate::Mutation) {
        if mutation == crate::Mutation::OwnUpdateFirst {
            self.mutation = Some(mutation);
        }
    }

    type Ack = StateAck;

    fn name(&self) -> &'static str {
        "group-state"
    }

    fn catch_up(&self) -> bool {
        true
    }

    fn group_state(&self) -> Option<serde_json::Value> {
        Some(serde_json::to_value(self.shown()).expect("a group state is JSON"))
    }

    /// The digest of `group_state`'s JSON, written straight into the hash.
    fn state_digest(&self) -> Option<String> {
        Some(crate::digest_of(&self.shown()))
    }

    fn step(&mut self, mut ctx: StepCtx<'_, StateAck>) -> Step<StateAck> {
        if !ctx.acks.is_empty() {
            // 1. The most advanced copy (the map is in member order, so the
            //    first maximum is the lowest member's).
            let base = ctx
                .acks
                .values()
                .fold(None::<&StateAck>, |best, a| match best {
                    Some(b) if b.version >= a.version => Some(b),
                    _ => Some(a),
                })
                .expect("non-empty");
            self.version = base.version;
            self.state = base.state.clone();
            // 2. This round's updates, in member order.
            let mut order: Vec<_> = ctx.acks.iter().collect();
            if mutated!(self, OwnUpdateFirst) {
                order.sort_by_key(|(m, _)| *m != ctx.me);
            }
            for (_, ack) in order {
                for (k, v) in &ack.puts {
                    self.state.insert(k.clone(), v.clone());
                }
            }
            self.version += 1;
            // The copy is the group's once it came from a synced member
            // (version above 0) or every member of the view took part.
            let full = ctx.view.iter().all(|m| ctx.acks.contains_key(m));
            self.synced |= full || base.version > 0;
        }
        if let Some(limit) = self.updates {
            if self.version >= limit {
                let digest = self.state_digest().expect("kept");
                let mut done = Decision::new(0, format!("version {} state {digest}", self.version));
                done.rounds = ctx.round.saturating_sub(1);
                ctx.decide(done);
                return Step::Done(format!("reached version {}", self.version));
            }
        }
        let puts = if self.synced {
            vec![self.update_for(&ctx.me.to_string(), ctx.round)]
        } else {
            Vec::new()
        };
        // A member without the group's copy claims nothing: version 0 never
        // wins over a synced copy.
        Step::Ack(StateAck {
            version: if self.synced { self.version } else { 0 },
            state: if self.synced {
                self.state.clone()
            } else {
                BTreeMap::new()
            },
            puts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest written straight from the state is the digest of the
    /// JSON value `group_state` gives (the one `state-agrees` reads), for
    /// an empty state and for texts JSON must escape.
    #[test]
    fn the_streamed_digest_is_the_digest_of_the_value() {
        let mut g = GroupState::new(None, 4);
        let check = |g: &GroupState| {
            let value = g.group_state().expect("kept");
            assert_eq!(g.state_digest(), Some(crate::digest(&value)), "{value}");
        };
        check(&g);
        for (k, v) in [
            ("k0", "db@n1:3"),
            ("k\"quoted\"", "line\nbreak\ttab"),
            ("é", "\u{1}\u{7f}\\"),
            ("a", ""),
        ] {
            g.state.insert(k.to_string(), v.to_string());
            g.version += 7;
            check(&g);
        }
    }
}
