//! A graceful stop ([`Input::Stop`]): the node's jobs leave first, then
//! the engine tells its view it is going, so the survivors drop it at
//! once instead of after the failure timeout.

use super::*;

impl<P: Clone> Engine<P> {
    /// Stops if it is stopping and ready (its jobs gone and what it sent
    /// its peers acknowledged), or its time is up: tells every node of its
    /// view it is leaving. Whether it stopped.
    pub(super) fn try_stop(&mut self, now: Time, out: &mut Vec<Output<P>>) -> bool {
        let Some(by) = self.stopping else {
            return false;
        };
        let ready = mutated!(self, StopBeforeJobsLeave)
            || (self.locals.is_empty() && self.links.values().all(|p| p.link.idle()));
        if !ready && now < by {
            return false;
        }
        // What the links still hold goes first (an unregistration, say).
        self.flush_links(now, out);
        let view = self.view.id;
        out.push(Output::Probe(probe::STOP_ANNOUNCED));
        for node in self.peers() {
            out.push(self.packet(node, Body::Leaving { view }));
        }
        self.stopped = true;
        true
    }

    /// A member of our view says it is stopping: a leader drops it now, a
    /// member whose leader it is looks for a new one now.
    pub(super) fn on_leaving(&mut self, from: NodeId) {
        if self.view.leader() == self.me {
            self.heard.set(from, Time(0));
        } else if self.view.leader() == from {
            self.leader_heard = Time(0);
        }
    }
}
