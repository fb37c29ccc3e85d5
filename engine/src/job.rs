//! A job's main thread, as a state machine: it takes everything the engine
//! hands the job, routes it to a work thread, watches the work threads for
//! faults and hangs, and unregisters the job when one faults.
//!
//! Invariant (IBM US 6,625,639): routing never blocks and needs nothing but
//! the main thread's own state. A message that answers the ACK round a work
//! thread is waiting in goes to that thread's *response* queue; anything
//! else (a message for a later round, a membership change while the thread
//! is between rounds) goes to its *work* queue. A membership change goes to
//! every work thread, since each may be waiting on a member that just left.

use crate::engine::{Event, MembershipChange};
use crate::ids::{LeaveReason, MemberId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long the watchdog waits, after a step's deadline passed, to confirm
/// the step is still running. A node that wakes from a pause fires every
/// overdue timer at once; the short second look lets a step that finished in
/// that same instant report it, so frozen time is not mistaken for a hang.
pub const HANG_CONFIRM: crate::ids::Dur = crate::ids::Dur::from_millis(1);

/// Most work threads one job runs.
pub const WORK_THREADS_MAX: u16 = 64;

/// What job threads send each other through the engine: an ACK (or other
/// message) of one work thread's protocol instance, for one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMsg {
    /// Which work thread's protocol instance this belongs to; thread `t` of
    /// one member talks to thread `t` of the others.
    pub thread: u16,
    pub round: u64,
    /// The protocol's payload, serialized by the protocol layer.
    pub payload: Arc<[u8]>,
}

/// Which of a work thread's two queues an item goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    Response,
    Work,
}

/// What a work thread receives from its main thread.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkItem {
    View(MembershipChange),
    Message { from: MemberId, msg: JobMsg },
}

/// How a work thread faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    Panic,
    Error,
    /// A local step ran past the work deadline.
    Hang,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Error => "error",
            FaultKind::Hang => "hang",
        }
    }
}

/// What a main thread takes from its inbox.
#[derive(Clone, Debug)]
pub enum MainInput {
    Engine(Event<JobMsg>),
    /// Work thread `thread` now waits for the ACKs of `round`.
    EnteredRound {
        thread: u16,
        round: u64,
    },
    /// Work thread `thread` began local step number `step`.
    StepStarted {
        thread: u16,
        step: u64,
    },
    StepFinished {
        thread: u16,
        step: u64,
    },
    /// The watchdog's timer for step `step` of `thread` fired. `confirm`
    /// marks the second, short timer that confirms a hang.
    Deadline {
        thread: u16,
        step: u64,
        confirm: bool,
    },
    Faulted {
        thread: u16,
        kind: FaultKind,
    },
    /// The job is asked to leave its group gracefully.
    Leave,
}

/// What a main thread does about an input.
#[derive(Clone, Debug, PartialEq)]
pub enum MainOutput {
    Route {
        thread: u16,
        queue: Queue,
        item: WorkItem,
    },
    /// Unregister from the engine, with this reason.
    Unregister {
        reason: LeaveReason,
        fault: Option<(u16, FaultKind)>,
    },
    /// Arm the watchdog: deliver `Deadline { thread, step, confirm }` after
    /// the work deadline (`confirm: false`) or after [`HANG_CONFIRM`] (`true`).
    ArmWatchdog {
        thread: u16,
        step: u64,
        confirm: bool,
    },
}

#[derive(Clone, Debug, Default)]
struct Slot {
    waiting_round: Option<u64>,
    running_step: Option<u64>,
}

/// The main thread of one job.
#[derive(Debug)]
pub struct MainThread {
    slots: Vec<Slot>,
    me: Option<MemberId>,
    /// Set once the job has unregistered; nothing is routed after that.
    gone: bool,
}

impl MainThread {
    pub fn new(work_threads: u16) -> MainThread {
        assert!((1..=WORK_THREADS_MAX).contains(&work_threads));
        MainThread {
            slots: vec![Slot::default(); usize::from(work_threads)],
            me: None,
            gone: false,
        }
    }

    pub fn me(&self) -> Option<&MemberId> {
        self.me.as_ref()
    }
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    /// Takes one input; never blocks, never waits.
    pub fn step(&mut self, input: MainInput, out: &mut Vec<MainOutput>) {
        if self.gone {
            return;
        }
        match input {
            MainInput::Engine(Event::Registered { me }) => self.me = Some(me),
            MainInput::Engine(Event::View(change)) => {
                self.me = Some(change.me.clone());
                for (t, slot) in self.slots.iter().enumerate() {
                    let queue = if slot.waiting_round.is_some() {
                        Queue::Response
                    } else {
                        Queue::Work
                    };
                    out.push(MainOutput::Route {
                        thread: t as u16,
                        queue,
                        item: WorkItem::View(change.clone()),
                    });
                }
            }
            MainInput::Engine(Event::Message { from, payload }) => {
                let Some(slot) = self.slots.get(usize::from(payload.thread)) else {
                    return;
                };
                let queue = if slot.waiting_round == Some(payload.round) {
                    Queue::Response
                } else {
                    Queue::Work
                };
                out.push(MainOutput::Route {
                    thread: payload.thread,
                    queue,
                    item: WorkItem::Message { from, msg: payload },
                });
            }
            MainInput::EnteredRound { thread, round } => {
                let slot = &mut self.slots[usize::from(thread)];
                slot.waiting_round = Some(round);
            }
            MainInput::StepStarted { thread, step } => {
                let slot = &mut self.slots[usize::from(thread)];
                slot.waiting_round = None;
                slot.running_step = Some(step);
                out.push(MainOutput::ArmWatchdog {
                    thread,
                    step,
                    confirm: false,
                });
            }
            MainInput::StepFinished { thread, step } => {
                let slot = &mut self.slots[usize::from(thread)];
                if slot.running_step == Some(step) {
                    slot.running_step = None;
                }
            }
            MainInput::Deadline {
                thread,
                step,
                confirm,
            } => {
                if self.slots[usize::from(thread)].running_step != Some(step) {
                    return;
                }
                if confirm {
                    self.unregister(LeaveReason::Fault, Some((thread, FaultKind::Hang)), out);
                } else {
                    out.push(MainOutput::ArmWatchdog {
                        thread,
                        step,
                        confirm: true,
                    });
                }
            }
            MainInput::Faulted { thread, kind } => {
                self.unregister(LeaveReason::Fault, Some((thread, kind)), out);
            }
            MainInput::Leave => self.unregister(LeaveReason::Leave, None, out),
        }
    }

    fn unregister(
        &mut self,
        reason: LeaveReason,
        fault: Option<(u16, FaultKind)>,
        out: &mut Vec<MainOutput>,
    ) {
        assert!(!self.gone);
        self.gone = true;
        out.push(MainOutput::Unregister { reason, fault });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Incarnation, Name, NodeId, ViewId};

    fn member(node: u16) -> MemberId {
        MemberId {
            job: Name::new("db"),
            node: NodeId(node),
            node_incarnation: Incarnation(1),
            registration: 1,
        }
    }
    fn ack(thread: u16, round: u64) -> MainInput {
        MainInput::Engine(Event::Message {
            from: member(1),
            payload: JobMsg {
                thread,
                round,
                payload: Arc::from([]),
            },
        })
    }
    fn queues(out: &[MainOutput]) -> Vec<(u16, Queue)> {
        out.iter()
            .filter_map(|o| match o {
                MainOutput::Route { thread, queue, .. } => Some((*thread, *queue)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reply_to_current_round_goes_to_response_queue_else_work_queue() {
        let mut main = MainThread::new(2);
        let mut out = vec![];
        main.step(
            MainInput::EnteredRound {
                thread: 1,
                round: 4,
            },
            &mut out,
        );
        main.step(ack(1, 4), &mut out);
        main.step(ack(1, 5), &mut out);
        main.step(ack(0, 4), &mut out);
        assert_eq!(
            queues(&out),
            vec![(1, Queue::Response), (1, Queue::Work), (0, Queue::Work)]
        );
    }

    #[test]
    fn view_change_reaches_every_thread() {
        let mut main = MainThread::new(2);
        let mut out = vec![];
        main.step(
            MainInput::EnteredRound {
                thread: 0,
                round: 1,
            },
            &mut out,
        );
        let change = MembershipChange {
            group: Name::new("g"),
            view: ViewId(3),
            me: member(0),
            members: vec![member(0)],
            joined: vec![],
            left: vec![(member(1), LeaveReason::Fault)],
        };
        main.step(MainInput::Engine(Event::View(change)), &mut out);
        assert_eq!(queues(&out), vec![(0, Queue::Response), (1, Queue::Work)]);
    }

    #[test]
    fn a_step_that_ends_between_deadline_and_confirmation_is_no_hang() {
        // As when a paused node wakes and all its overdue timers fire at once.
        let mut main = MainThread::new(1);
        let mut out = vec![];
        main.step(MainInput::StepStarted { thread: 0, step: 1 }, &mut out);
        main.step(
            MainInput::Deadline {
                thread: 0,
                step: 1,
                confirm: false,
            },
            &mut out,
        );
        main.step(MainInput::StepFinished { thread: 0, step: 1 }, &mut out);
        main.step(
            MainInput::Deadline {
                thread: 0,
                step: 1,
                confirm: true,
            },
            &mut out,
        );
        assert!(!main.is_gone());
    }

    #[test]
    fn a_step_past_its_deadline_is_a_hang_fault_and_unregisters_once() {
        let mut main = MainThread::new(1);
        let mut out = vec![];
        main.step(MainInput::StepStarted { thread: 0, step: 1 }, &mut out);
        main.step(MainInput::StepFinished { thread: 0, step: 1 }, &mut out);
        main.step(
            MainInput::Deadline {
                thread: 0,
                step: 1,
                confirm: false,
            },
            &mut out,
        );
        assert!(!main.is_gone(), "a finished step's deadline is no fault");
        main.step(MainInput::StepStarted { thread: 0, step: 2 }, &mut out);
        main.step(
            MainInput::Deadline {
                thread: 0,
                step: 2,
                confirm: false,
            },
            &mut out,
        );
        assert!(!main.is_gone(), "a hang is confirmed by a second look");
        main.step(
            MainInput::Deadline {
                thread: 0,
                step: 2,
                confirm: true,
            },
            &mut out,
        );
        main.step(
            MainInput::Faulted {
                thread: 0,
                kind: FaultKind::Panic,
            },
            &mut out,
        );
        let unregisters: Vec<_> = out
            .iter()
            .filter(|o| matches!(o, MainOutput::Unregister { .. }))
            .collect();
        assert_eq!(
            unregisters,
            vec![&MainOutput::Unregister {
                reason: LeaveReason::Fault,
                fault: Some((0, FaultKind::Hang))
            }]
        );
    }
}
