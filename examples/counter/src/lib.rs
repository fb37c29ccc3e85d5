//! `counter`, a user-written protocol: each round every member ACKs its
//! increments and its copy of the totals; after the round all adopt the most
//! advanced copy and add the round's increments (`state-agrees`), and every
//! `checkpoint_every` rounds decide a checkpoint (`checkpoints-agree`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_protocols::{Decision, Proposal, Protocol, Step, StepCtx};
use vigil_sim::protocols::{OptionKind, OptionSpec, ProbeDef, Registry};

/// A coverage probe: a member adopted a copy more advanced than its own.
pub const CAUGHT_UP: &str = "counter-caught-up";

#[derive(Clone, Debug, Hash, Serialize, Deserialize)]
pub struct CounterAck {
    pub applied: u64, // the sender's copy: rounds applied, and the totals
    pub totals: BTreeMap<String, u64>,
    pub add: u64, // its increments this round
}

#[derive(Clone, Debug, Default, Hash)]
pub struct Counter {
    checkpoint_every: u64,
    applied: u64,
    totals: BTreeMap<String, u64>,
}

impl Counter {
    pub fn new(checkpoint_every: u64) -> Counter {
        let totals = BTreeMap::new();
        Counter {
            checkpoint_every,
            applied: 0,
            totals,
        }
    }
}

impl Protocol for Counter {
    type Ack = CounterAck;

    fn name(&self) -> &'static str {
        "counter"
    }

    fn step(&mut self, mut ctx: StepCtx<'_, CounterAck>) -> Step<CounterAck> {
        if let Some(best) = ctx.acks.values().max_by_key(|a| a.applied) {
            if best.applied > self.applied {
                // A rare path worth knowing a sweep reached: this member's
                // copy was behind (it joined late, or came back).
                ctx.sometimes(CAUGHT_UP);
            }
            // `max_by_key` keeps the last maximum: the highest member's.
            self.applied = best.applied + 1;
            self.totals = best.totals.clone();
            for (member, ack) in ctx.acks {
                *self.totals.entry(member.to_string()).or_insert(0) += ack.add;
            }
            // A checkpoint: those that completed the round in the same view
            // read the same ACKs, so they agree on it. Numbered by the round
            // whose ACKs it read (`acks_round`), not the round this step
            // opens: a member that catches up jumps ahead, and reads an old
            // round's ACKs in a step that opens a late one.
            let every = self.checkpoint_every.max(1);
            let after = ctx.acks_round + 1;
            if after.is_multiple_of(every) {
                let total: u64 = self.totals.values().sum();
                let mut checkpoint = Decision::new(after / every, format!("total {total}"));
                let (by, view) = (ctx.view[0].clone(), ctx.view_id);
                checkpoint.proposal = Some(Proposal { by, view });
                ctx.decide(checkpoint);
            }
        }
        // The local work of this round: one increment per node number + 1.
        let add = u64::from(ctx.me.node.0) + 1;
        Step::Ack(CounterAck {
            applied: self.applied,
            totals: self.totals.clone(),
            add,
        })
    }

    fn catch_up(&self) -> bool {
        true
    }

    fn group_state(&self) -> Option<serde_json::Value> {
        serde_json::to_value((&self.applied, &self.totals)).ok()
    }

    fn agreement(&self) -> Option<&'static str> {
        Some("checkpoints-agree")
    }
}

/// vigil's protocols plus `counter`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register(
        "counter",
        "a replicated counter with agreed checkpoints",
        &[OptionSpec {
            key: "checkpoint_every",
            kind: OptionKind::Int { min: 1, max: 1000 },
            default: "10",
            doc: "rounds between checkpoints",
        }],
        |setup| Counter::new(setup.options.int("checkpoint_every").unwrap_or(10) as u64),
    );
    registry.set_probes(
        "counter",
        &[ProbeDef::new(
            CAUGHT_UP,
            "counter",
            "a member adopted a copy of the totals more advanced than its own",
        )],
    );
    registry
}
