//! Reliable FIFO links between two engines, over a network that drops,
//! delays and reorders packets.
//!
//! Invariant: within one sender session every message is delivered at most
//! once and in send order. A sender opens a new session whenever it
//! recreates the link (a new view that changed the peer's incarnation, or
//! the peer's return after it left the view); the receiver drops anything
//! from an older session, so nothing from a previous life leaks into the
//! next one.

use crate::ids::{Dur, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Most messages a link holds unacknowledged; beyond it new messages are
/// dropped (the peer is about to be declared down anyway).
pub const LINK_UNACKED_MAX: usize = 4096;
/// Most messages one packet carries, first sends and retransmissions alike.
pub const PACKET_MSGS_MAX: usize = 256;
/// Most out-of-order messages a receiver buffers.
pub const RECV_BUFFER_MAX: usize = 4096;

/// Acknowledges every message of `session` up to, not including, `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct LinkAck {
    pub session: u64,
    pub next: u64,
}

/// The part of a packet that the link layer owns.
#[derive(Clone, Debug, Serialize, Deserialize, Hash)]
pub struct LinkData<M> {
    pub session: u64,
    pub first_seq: u64,
    pub msgs: Vec<M>,
}

/// One direction of sending and one of receiving, towards one peer.
#[derive(Clone, Debug, Hash)]
pub struct Link<M> {
    send_session: u64,
    next_seq: u64,
    /// Sent but not yet acknowledged, oldest first: (seq, message).
    unacked: VecDeque<(u64, M)>,
    /// How many of `unacked` (from the front) have been sent at least once.
    sent_count: usize,
    /// When the retransmission clock of the oldest message in flight
    /// started: its first send, the last ack that made progress, or its
    /// last resend. New messages do not restart it, or a steady stream
    /// would hold back the resend of a lost one for good.
    rto_from: Time,
    recv_session: u64,
    recv_next: u64,
    recv_buffer: BTreeMap<u64, M>,
    /// Set when we received data whose acknowledgement we still owe.
    ack_owed_since: Option<Time>,
    pub dropped_overflow: u64,
    /// Broken variant `DuplicatesDelivered`: a message that arrives again
    /// is delivered again.
    #[cfg(any(test, feature = "mutations"))]
    pub(crate) redeliver: bool,
}

impl<M: Clone> Link<M> {
    /// A link whose sends belong to `session`. Sessions must grow for a given
    /// sender and peer incarnation.
    pub fn new(session: u64) -> Link<M> {
        Link {
            send_session: session,
            next_seq: 0,
            unacked: VecDeque::new(),
            sent_count: 0,
            rto_from: Time(0),
            recv_session: 0,
            recv_next: 0,
            recv_buffer: BTreeMap::new(),
            ack_owed_since: None,
            dropped_overflow: 0,
            #[cfg(any(test, feature = "mutations"))]
            redeliver: false,
        }
    }

    /// Starts a new sending session (the peer came back into our view):
    /// what was queued for its old membership is dropped; the receiving half
    /// keeps its place in the peer's session.
    pub fn restart_send(&mut self, session: u64) {
        assert!(session > self.send_session, "send sessions only grow");
        self.send_session = session;
        self.next_seq = 0;
        self.unacked.clear();
        self.sent_count = 0;
    }

    /// Queues a message; `take_new` or `take_retransmit` puts it in a packet.
    pub fn push(&mut self, msg: M) {
        if self.unacked.len() >= LINK_UNACKED_MAX {
            self.dropped_overflow += 1;
            return;
        }
        self.unacked.push_back((self.next_seq, msg));
        self.next_seq += 1;
    }

    pub fn has_unsent(&self) -> bool {
        self.sent_count < self.unacked.len()
    }

    /// Messages queued since the last send, as one packet's worth.
    pub fn take_new(&mut self, now: Time) -> Option<LinkData<M>> {
        if !self.has_unsent() {
            return None;
        }
        let start = self.sent_count;
        if start == 0 {
            self.rto_from = now;
        }
        let end = self.unacked.len().min(start + PACKET_MSGS_MAX);
        let first_seq = self.unacked[start].0;
        let msgs = self
            .unacked
            .range(start..end)
            .map(|(_, m)| m.clone())
            .collect();
        self.sent_count = end;
        Some(LinkData {
            session: self.send_session,
            first_seq,
            msgs,
        })
    }

    /// The oldest unacknowledged messages again, if they have waited `rto`.
    pub fn take_retransmit(&mut self, now: Time, rto: Dur) -> Option<LinkData<M>> {
        if self.sent_count == 0 || now < self.rto_from + rto {
            return None;
        }
        let end = self.sent_count.min(PACKET_MSGS_MAX);
        let first_seq = self.unacked[0].0;
        let msgs = self.unacked.range(0..end).map(|(_, m)| m.clone()).collect();
        self.rto_from = now;
        Some(LinkData {
            session: self.send_session,
            first_seq,
            msgs,
        })
    }

    /// When this link next needs attention for a retransmission.
    pub fn retransmit_at(&self, rto: Dur) -> Option<Time> {
        (self.sent_count > 0).then(|| self.rto_from + rto)
    }

    pub fn on_ack(&mut self, now: Time, ack: LinkAck) {
        if ack.session != self.send_session {
            return;
        }
        while let Some((seq, _)) = self.unacked.front() {
            if *seq >= ack.next {
                break;
            }
            self.unacked.pop_front();
            self.sent_count = self.sent_count.saturating_sub(1);
            self.rto_from = now; // progress: the clock starts again
        }
        assert!(self.sent_count <= self.unacked.len());
    }

    /// Accepts a data packet; returns the messages now deliverable, in order.
    pub fn on_data(&mut self, now: Time, data: LinkData<M>, delivered: &mut Vec<M>) {
        if data.session < self.recv_session {
            return;
        }
        if data.session > self.recv_session {
            self.recv_session = data.session;
            self.recv_next = 0;
            self.recv_buffer.clear();
        }
        self.ack_owed_since.get_or_insert(now);
        for (i, msg) in data.msgs.into_iter().enumerate() {
            let seq = data.first_seq + i as u64;
            if seq < self.recv_next {
                #[cfg(any(test, feature = "mutations"))]
                if self.redeliver {
                    delivered.push(msg);
                }
                continue; // a duplicate: delivered already
            }
            // The next in order, with nothing held back: straight through,
            // as the buffer would hand it out below (and without making
            // the buffer a node for it).
            if seq == self.recv_next && self.recv_buffer.is_empty() {
                delivered.push(msg);
                self.recv_next += 1;
                continue;
            }
            if self.recv_buffer.len() < RECV_BUFFER_MAX || self.recv_buffer.contains_key(&seq) {
                self.recv_buffer.insert(seq, msg);
            }
        }
        while let Some(msg) = self.recv_buffer.remove(&self.recv_next) {
            delivered.push(msg);
            self.recv_next += 1;
        }
    }

    /// Whether everything sent was acknowledged.
    pub fn idle(&self) -> bool {
        self.unacked.is_empty()
    }

    /// The acknowledgement to piggyback on anything sent to the peer.
    pub fn ack(&self) -> Option<LinkAck> {
        (self.recv_session != 0 || self.recv_next != 0).then_some(LinkAck {
            session: self.recv_session,
            next: self.recv_next,
        })
    }

    /// Called when an ack went out to the peer.
    pub fn ack_sent(&mut self) {
        self.ack_owed_since = None;
    }

    /// When a standalone ack must go out if nothing else carried one.
    pub fn ack_due_at(&self, delay: Dur) -> Option<Time> {
        self.ack_owed_since.map(|t| t + delay)
    }

    /// When the link next needs anything on its own: a resend or a
    /// standalone ack, whichever comes first.
    pub fn due_at(&self, rto: Dur, ack_delay: Dur) -> Option<Time> {
        match (self.retransmit_at(rto), self.ack_due_at(ack_delay)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_order_once_despite_reorder_and_duplicates() {
        let mut tx: Link<u32> = Link::new(5);
        let mut rx: Link<u32> = Link::new(1);
        for m in 0..6 {
            tx.push(m);
        }
        let first = tx.take_new(Time(0)).expect("data");
        let split = LinkData {
            session: 5,
            first_seq: 3,
            msgs: first.msgs[3..].to_vec(),
        };
        let head = LinkData {
            session: 5,
            first_seq: 0,
            msgs: first.msgs[..3].to_vec(),
        };
        let mut got = vec![];
        rx.on_data(Time(1), split.clone(), &mut got);
        assert!(got.is_empty(), "nothing before the gap fills");
        rx.on_data(Time(2), head.clone(), &mut got);
        rx.on_data(Time(3), head, &mut got);
        rx.on_data(Time(3), split, &mut got);
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        tx.on_ack(Time(4), rx.ack().expect("ack"));
        assert!(tx.take_retransmit(Time(u64::MAX / 2), Dur(1)).is_none());
    }

    #[test]
    fn a_restarted_sender_session_starts_over_and_the_receiver_keeps_its_place() {
        let mut a: Link<u32> = Link::new(1);
        let mut b: Link<u32> = Link::new(1);
        let mut got = vec![];
        a.push(1);
        b.on_data(Time(0), a.take_new(Time(0)).expect("data"), &mut got);
        // b drops a from its view and takes it back; a never noticed and
        // goes on with its session: b's receiving half must still fit it.
        b.restart_send(2);
        a.push(2);
        b.on_data(Time(1), a.take_new(Time(1)).expect("data"), &mut got);
        assert_eq!(got, vec![1, 2]);
        // a restarts its session: b starts over with it.
        a.restart_send(3);
        a.push(3);
        b.on_data(Time(2), a.take_new(Time(2)).expect("data"), &mut got);
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[test]
    fn older_session_is_dropped_newer_resets() {
        let mut rx: Link<u32> = Link::new(1);
        let mut got = vec![];
        rx.on_data(
            Time(0),
            LinkData {
                session: 7,
                first_seq: 0,
                msgs: vec![1],
            },
            &mut got,
        );
        rx.on_data(
            Time(0),
            LinkData {
                session: 6,
                first_seq: 1,
                msgs: vec![2],
            },
            &mut got,
        );
        rx.on_data(
            Time(0),
            LinkData {
                session: 9,
                first_seq: 0,
                msgs: vec![3],
            },
            &mut got,
        );
        assert_eq!(got, vec![1, 3]);
    }

    #[test]
    fn retransmits_after_rto_until_acked() {
        let mut tx: Link<u32> = Link::new(1);
        tx.push(1);
        assert!(tx.take_new(Time(0)).is_some());
        assert!(tx.take_retransmit(Time(5), Dur(10)).is_none());
        let again = tx.take_retransmit(Time(10), Dur(10)).expect("retransmit");
        assert_eq!(again.msgs, vec![1]);
        tx.on_ack(
            Time(11),
            LinkAck {
                session: 1,
                next: 1,
            },
        );
        assert!(tx.retransmit_at(Dur(10)).is_none());
    }

    #[test]
    fn a_steady_stream_does_not_hold_back_a_resend() {
        let mut tx: Link<u32> = Link::new(1);
        tx.push(1);
        assert!(tx.take_new(Time(0)).is_some()); // lost
        for t in 1..=10 {
            tx.push(t as u32 + 1);
            assert!(tx.take_new(Time(t)).is_some());
        }
        let again = tx
            .take_retransmit(Time(10), Dur(10))
            .expect("a resend at 10");
        assert_eq!(again.msgs[0], 1, "the oldest first");
    }
}
