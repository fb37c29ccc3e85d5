//! `barrier`: repeated ACK rounds in which every member waits for every
//! other. The simplest protocol that can wait forever for a departed member,
//! and so the first one vigil checks.

use crate::{Decision, Protocol, Step, StepCtx};

/// Every round, every member ACKs and waits for all others' ACKs.
#[derive(Clone, Debug, Default, Hash)]
pub struct Barrier {
    /// Stop after this many rounds (`None`: run until the scenario ends).
    pub rounds: Option<u64>,
}

impl Protocol for Barrier {
    type Ack = ();

    fn name(&self) -> &'static str {
        "barrier"
    }

    fn step(&mut self, mut ctx: StepCtx<'_, ()>) -> Step<()> {
        match self.rounds {
            Some(limit) if ctx.round > limit => {
                let mut passed = Decision::new(0, "passed");
                passed.rounds = limit;
                ctx.decide(passed);
                Step::Done(format!("passed {limit} rounds"))
            }
            _ => Step::Ack(()),
        }
    }

    /// A member that joins has no stake in rounds it missed.
    fn catch_up(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Next, RoundDriver};
    use vigil_engine::{
        Incarnation, LeaveReason, MemberId, MembershipChange, Name, NodeId, ViewId,
    };

    fn m(n: u16) -> MemberId {
        MemberId {
            job: Name::new("db"),
            node: NodeId(n),
            node_incarnation: Incarnation(1),
            registration: 1,
        }
    }
    fn ack(_round: u64, prev: Option<u64>) -> Vec<u8> {
        crate::WireAck {
            ack: crate::Sent::Ack(()),
            prev: prev.map(|p| (p, ())),
            answer: false,
            current: 0,
        }
        .encode()
        .to_vec()
    }
    fn view(id: u64, me: u16, members: &[u16], joined: &[u16], left: &[u16]) -> MembershipChange {
        MembershipChange {
            group: Name::new("g"),
            view: ViewId(id),
            me: m(me),
            members: members.iter().map(|n| m(*n)).collect(),
            joined: joined.iter().map(|n| m(*n)).collect(),
            left: left.iter().map(|n| (m(*n), LeaveReason::Fault)).collect(),
            rejoined: vec![],
            primary: None,
        }
    }
    fn round_of(next: Next) -> u64 {
        match next {
            Next::Send { round, .. } => round,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn a_departure_completes_the_round_that_waited_on_it() {
        let mut d = RoundDriver::new(Barrier::default(), m(0));
        d.on_view(&view(1, 0, &[0, 1, 2], &[0, 1, 2], &[]));
        let r = round_of(d.step());
        let _ = d.on_ack(m(0), r, &ack(r, None));
        let _ = d.on_ack(m(1), r, &ack(r, None));
        assert!(!d.round_complete());
        assert_eq!(d.missing(), vec![m(2)]);
        assert!(matches!(
            d.on_view(&view(2, 0, &[0, 1], &[], &[2])),
            Some(Next::Send { round: 1, .. })
        ));
        assert!(d.round_complete(), "db@n2 left: nobody is missing");
        assert_eq!(round_of(d.step()), 2);
        assert_eq!(d.rounds_completed(), 1);
    }

    #[test]
    fn a_joiner_catches_up_and_gets_our_ack_again() {
        let mut d = RoundDriver::new(Barrier::default(), m(0));
        d.on_view(&view(1, 0, &[0, 1], &[0, 1], &[]));
        for _ in 0..5 {
            let r = d.round() + 1;
            let _ = d.on_ack(m(1), r, &ack(r, None));
            let r = round_of(d.step());
            let _ = d.on_ack(m(0), r, &ack(r, None));
            assert!(d.round_complete());
        }
        let resend = d.on_view(&view(2, 0, &[0, 1, 2], &[2], &[]));
        assert!(
            matches!(resend, Some(Next::Send { round: 5, .. })),
            "{resend:?}"
        );
        assert!(!d.round_complete(), "the joiner must ACK too");
        // The joiner itself starts where the others are.
        let mut j = RoundDriver::new(Barrier::default(), m(2));
        j.on_view(&view(2, 2, &[0, 1, 2], &[0, 1, 2], &[]));
        let _ = j.on_ack(m(0), 5, &ack(5, None));
        let _ = j.on_ack(m(1), 5, &ack(5, None));
        assert_eq!(round_of(j.step()), 5);
    }

    #[test]
    fn an_ack_from_a_member_behind_is_answered_with_ours_for_its_round() {
        let mut d = RoundDriver::new(Barrier::default(), m(0));
        d.on_view(&view(1, 0, &[0, 1], &[0, 1], &[]));
        let _ = d.on_ack(m(1), 1, &ack(1, None));
        let r = round_of(d.step());
        let _ = d.on_ack(m(0), r, &ack(r, None));
        let _ = d.on_ack(m(1), 2, &ack(2, None));
        assert_eq!(round_of(d.step()), 2);
        let reply = d
            .on_ack(m(1), 1, &ack(1, None))
            .expect("a reply to the laggard");
        assert_eq!((reply.0, reply.1), (m(1), 1), "our ACK for its round");
        assert_eq!(d.on_ack(m(3), 1, &ack(1, None)), None, "not to strangers");
    }

    #[test]
    fn limited_barrier_finishes() {
        let mut d = RoundDriver::new(Barrier { rounds: Some(1) }, m(0));
        d.on_view(&view(1, 0, &[0], &[0], &[]));
        let r = round_of(d.step());
        let _ = d.on_ack(m(0), r, &ack(r, None));
        assert_eq!(d.step(), Next::Done("passed 1 rounds".into()));
    }
}
