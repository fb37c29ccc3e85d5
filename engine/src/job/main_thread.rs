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

use super::{FaultKind, JobMsg, Queue, WorkItem};
use crate::engine::{Dest, Event};
use crate::ids::{Dur, LeaveReason, MemberId, Time};

/// How long the watchdog waits, after a step's deadline passed, to confirm
/// the step is still running. A node that wakes from a pause fires every
/// overdue timer at once; the short second look lets a step that finished in
/// that same instant report it, so frozen time is not mistaken for a hang.
pub const HANG_CONFIRM: Dur = Dur::from_millis(1);

/// Most work threads one job runs.
pub const WORK_THREADS_MAX: u16 = 64;

/// What a main thread takes from its inbox.
#[derive(Clone, Debug, PartialEq, Hash)]
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
    /// A watchdog timer of `thread` fired; `confirm` names the step whose
    /// hang the (short) second timer confirms.
    Watchdog {
        thread: u16,
        confirm: Option<u64>,
    },
    Faulted {
        thread: u16,
        kind: FaultKind,
    },
    /// The job is asked to leave its group gracefully.
    Leave,
    /// Time for the job's next ordered message (see
    /// [`MainThread::sending_every`]).
    SendTick,
    /// Submit this ordered message to the group: a task handed to the job
    /// (by the scenario, on the job's behalf). The main thread numbers it
    /// in `round`, with the job's other ordered messages.
    Submit(JobMsg),
    /// The node's engine is gone (the job's connection to it closed) while
    /// the job lives on: the job is no member of anything now.
    EngineLost,
    /// The node's engine is back (a new one, from the node's disk).
    EngineBack,
}

/// What a main thread does about an input.
#[derive(Clone, Debug, PartialEq, Hash)]
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
    /// Deliver `input` to the inbox at time `at`: a watchdog
    /// ([`MainInput::Watchdog`]) or the next ordered message's turn
    /// ([`MainInput::SendTick`]).
    Timer { at: Time, input: MainInput },
    /// Hand the engine this message for `to` (a local request: it never
    /// waits).
    Send { to: Dest, msg: JobMsg },
    /// The main thread took the rare path named (a [`crate::probe`]).
    Probe(&'static str),
    /// Register the job with the engine again, in its group: the engine
    /// it had is gone and a new one is up. (A job's first registration is
    /// its start's, made by the driver that starts it.)
    Register,
}

#[derive(Clone, Debug, Default, Hash)]
struct Slot {
    waiting_round: Option<u64>,
    /// The step running now, and when it started.
    running_step: Option<(u64, Time)>,
    /// Whether a (regular) watchdog timer is pending for this thread. One
    /// timer per thread at a time: it re-arms for whatever step runs when it
    /// fires, instead of one timer per step.
    watchdog_armed: bool,
    /// When that timer is due.
    watchdog_at: Time,
    /// When it was set: the watchdog's last look (or the step's start).
    looked_at: Time,
    /// How long the last step took (for the broken variant
    /// `adaptive-watchdog`).
    last_took: Option<Dur>,
}

/// Sets `slot`'s one watchdog timer: the next look at thread `thread`'s
/// running step, at `at`.
fn arm_look(slot: &mut Slot, thread: u16, at: Time, out: &mut Vec<MainOutput>) {
    slot.watchdog_armed = true;
    slot.watchdog_at = at;
    out.push(MainOutput::Timer {
        at,
        input: MainInput::Watchdog {
            thread,
            confirm: None,
        },
    });
}

/// How long a step of `slot`'s thread may run: `work_deadline` (the broken
/// variant `adaptive-watchdog`: three times its last step, if shorter).
fn deadline(work_deadline: Dur, slot: &Slot, adaptive: bool) -> Dur {
    match slot.last_took {
        Some(took) if adaptive && took.0 > 0 => Dur(took.0.saturating_mul(3).min(work_deadline.0)),
        _ => work_deadline,
    }
}

fn item_priority(item: &WorkItem) -> bool {
    matches!(item, WorkItem::Ordered { msg, .. } if msg.priority)
}

/// The main thread of one job.
#[derive(Clone, Debug, Hash)]
pub struct MainThread {
    slots: Vec<Slot>,
    work_deadline: Dur,
    me: Option<MemberId>,
    /// Set once the job has unregistered; nothing is routed after that.
    gone: bool,
    /// The engine is gone and the job has not registered with a new one:
    /// it is in no group, sends nothing and takes no word of its threads'
    /// rounds.
    detached: bool,
    /// Send an ordered message to the group this often (Corosync's
    /// `cpg_mcast_joined` in a loop), numbered from 0 in `JobMsg::round`.
    send_every: Option<Dur>,
    sent: u64,
    /// The threads that take the group's ordered messages, by index.
    ordered: Vec<bool>,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
}

impl MainThread {
    /// How far apart the watchdog looks at a running step: a quarter of
    /// its deadline. A look that comes later than that after the one due
    /// tells the node's own absence.
    fn look(&self) -> Dur {
        Dur(self.work_deadline.0 / 4).max(HANG_CONFIRM)
    }

    pub fn new(work_threads: u16, work_deadline: Dur) -> MainThread {
        assert!((1..=WORK_THREADS_MAX).contains(&work_threads));
        assert!(work_deadline > HANG_CONFIRM);
        MainThread {
            slots: vec![Slot::default(); usize::from(work_threads)],
            work_deadline,
            me: None,
            gone: false,
            detached: false,
            send_every: None,
            sent: 0,
            ordered: vec![false; usize::from(work_threads)],
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
        }
    }

    /// Runs a deliberately broken variant of the main thread (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn mutate(&mut self, mutation: crate::Mutation) {
        self.mutation = Some(mutation);
    }

    /// Once registered, the job sends its group an ordered message every
    /// `every`: traffic whose one order every member must share.
    pub fn sending_every(mut self, every: Option<Dur>) -> MainThread {
        assert!(every.is_none_or(|e| e > Dur(0)));
        self.send_every = every;
        self
    }

    /// Work thread `thread` takes the group's ordered messages (it runs
    /// ordered tasks): they are routed to it, a priority message to both
    /// of its queues.
    pub fn taking_ordered(mut self, thread: u16) -> MainThread {
        self.ordered[usize::from(thread)] = true;
        self
    }

    pub fn me(&self) -> Option<&MemberId> {
        self.me.as_ref()
    }
    pub fn is_gone(&self) -> bool {
        self.gone
    }
    /// Its engine is gone and it has not registered with a new one.
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// Takes one input at time `now`; never blocks, never waits.
    pub fn step(&mut self, now: Time, input: MainInput, out: &mut Vec<MainOutput>) {
        if self.gone {
            return;
        }
        match input {
            MainInput::Engine(Event::Registered { me }) => {
                self.me = Some(me);
                self.detached = false;
                if let Some(every) = self.send_every {
                    out.push(MainOutput::Timer {
                        at: now + every,
                        input: MainInput::SendTick,
                    });
                }
            }
            // Detached, the job sends nothing; its new registration starts
            // the ticks again.
            MainInput::SendTick if self.detached => {}
            MainInput::Submit(_) if self.detached => {}
            // A round a thread entered in the membership that is gone: no
            // ACK of it comes, and the thread leaves it at its next take.
            MainInput::EnteredRound { .. } if self.detached => {}
            MainInput::EngineLost if mutated!(self, EngineLossUnseen) => {}
            MainInput::EngineBack if mutated!(self, EngineLossUnseen) => {}
            // Every thread learns it at its next take, in a round or
            // between: it drops its protocol instance, so none waits for
            // ACKs of a membership that is gone.
            MainInput::EngineLost => {
                let member = self.me.take();
                self.detached = true;
                self.to_every_thread(&WorkItem::EngineLost { member }, out);
                for slot in &mut self.slots {
                    slot.waiting_round = None;
                }
            }
            MainInput::EngineBack => {
                if self.detached {
                    out.push(MainOutput::Register);
                }
            }
            MainInput::SendTick => {
                let Some(every) = self.send_every else { return };
                out.push(MainOutput::Send {
                    to: Dest::Ordered,
                    msg: JobMsg {
                        thread: 0,
                        round: self.sent,
                        payload: std::sync::Arc::from([]),
                        priority: false,
                    },
                });
                self.sent += 1;
                out.push(MainOutput::Timer {
                    at: now + every,
                    input: MainInput::SendTick,
                });
            }
            MainInput::Engine(Event::View(change)) => {
                self.me = Some(change.me.clone());
                self.to_every_thread(&WorkItem::View(change), out);
            }
            MainInput::Engine(Event::Message { from, payload, .. }) => {
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
            // Numbered with the job's other ordered messages: `round` names
            // a sender's ordered message once.
            MainInput::Submit(mut msg) => {
                msg.round = self.sent;
                self.sent += 1;
                out.push(MainOutput::Send {
                    to: Dest::Ordered,
                    msg,
                });
            }
            // An ordered message goes to the thread it names if that thread
            // takes them (else its trace entry is all it leaves): a priority
            // message to both queues, so the thread sees it whether it waits
            // in a round or is between tasks (US 6,823,512); anything else to
            // the work queue, in the group's order.
            MainInput::Engine(Event::Ordered {
                from,
                view,
                seq,
                payload,
            }) => {
                let thread = payload.thread;
                if !self.ordered.get(usize::from(thread)).is_some_and(|t| *t) {
                    return;
                }
                let item = WorkItem::Ordered {
                    from,
                    view,
                    seq,
                    msg: payload,
                };
                let routed = |queue, item| MainOutput::Route {
                    thread,
                    queue,
                    item,
                };
                if item_priority(&item) {
                    out.push(routed(Queue::Response, item.clone()));
                }
                out.push(routed(Queue::Work, item));
            }
            MainInput::EnteredRound { thread, round } => {
                self.slots[usize::from(thread)].waiting_round = Some(round);
            }
            MainInput::StepStarted { thread, step } => {
                let (adaptive, look) = (self.adaptive(), self.look());
                let slot = &mut self.slots[usize::from(thread)];
                slot.waiting_round = None;
                slot.running_step = Some((step, now));
                let deadline = deadline(self.work_deadline, slot, adaptive);
                if !slot.watchdog_armed {
                    slot.looked_at = now;
                    arm_look(slot, thread, now + deadline.min(look), out);
                }
            }
            MainInput::StepFinished { thread, step } => {
                let slot = &mut self.slots[usize::from(thread)];
                if let Some((s, started)) = slot.running_step {
                    if s == step {
                        slot.running_step = None;
                        slot.last_took = Some(now.saturating_sub(started));
                    }
                }
            }
            MainInput::Watchdog {
                thread,
                confirm: None,
            } => {
                let (adaptive, look) = (self.adaptive(), self.look());
                let slot = &mut self.slots[usize::from(thread)];
                slot.watchdog_armed = false;
                let Some((step, started)) = slot.running_step else {
                    return;
                };
                // A look that comes more than a look's spacing late says
                // this node was away (paused, its clock stepped ahead) for
                // some of the time since its last look, when and how long
                // unknown: none of that time counts for the step, and its
                // deadline moves on by all of it. So a clock step or a
                // pause inside a step is not taken for a hang, and a step
                // that really hangs is caught at most one spacing later.
                // (An absence can go unseen if it is shorter than twice the
                // spacing: a look due soon after it comes late by less.)
                let late = now.saturating_sub(slot.watchdog_at);
                let mut started = started;
                if late > look && !mutated!(self, WatchdogCountsAbsence) {
                    started = (started + now.saturating_sub(slot.looked_at)).min(now);
                    slot.running_step = Some((step, started));
                    out.push(MainOutput::Probe(crate::probe::WATCHDOG_WAS_AWAY));
                }
                slot.looked_at = now;
                let due = started + deadline(self.work_deadline, slot, adaptive);
                if now >= due {
                    // Past its deadline: confirm with a second, short look.
                    out.push(MainOutput::Timer {
                        at: now + HANG_CONFIRM,
                        input: MainInput::Watchdog {
                            thread,
                            confirm: Some(step),
                        },
                    });
                } else {
                    arm_look(slot, thread, due.min(now + look), out);
                }
            }
            MainInput::Watchdog {
                thread,
                confirm: Some(step),
            } => {
                if self.slots[usize::from(thread)]
                    .running_step
                    .is_some_and(|(s, _)| s == step)
                {
                    if mutated!(self, HangAsLeave) {
                        // The broken variant: a hang reads as a graceful leave.
                        self.unregister(LeaveReason::Leave, None, out);
                    } else {
                        out.push(MainOutput::Probe(crate::probe::WATCHDOG_CAUGHT_HANG));
                        self.unregister(LeaveReason::Fault, Some((thread, FaultKind::Hang)), out);
                    }
                }
            }
            MainInput::Faulted { thread, kind } => {
                self.unregister(LeaveReason::Fault, Some((thread, kind)), out);
            }
            MainInput::Leave => self.unregister(LeaveReason::Leave, None, out),
        }
    }

    /// Routes `item` to every thread: to the response queue of one that
    /// waits in a round, else to its work queue (as a view goes).
    fn to_every_thread(&self, item: &WorkItem, out: &mut Vec<MainOutput>) {
        for (t, slot) in self.slots.iter().enumerate() {
            let queue = if slot.waiting_round.is_some() {
                Queue::Response
            } else {
                Queue::Work
            };
            out.push(MainOutput::Route {
                thread: t as u16,
                queue,
                item: item.clone(),
            });
        }
    }

    fn adaptive(&self) -> bool {
        mutated!(self, AdaptiveWatchdog)
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
    use crate::engine::MembershipChange;
    use crate::ids::{Incarnation, Name, NodeId, ViewId};
    use std::sync::Arc;

    const T: Time = Time(0);
    const DEADLINE: Dur = Dur::from_millis(1000);

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
            n: 0,
            payload: JobMsg {
                thread,
                round,
                payload: Arc::from([]),
                priority: false,
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
        let mut main = MainThread::new(2, DEADLINE);
        let mut out = vec![];
        main.step(
            T,
            MainInput::EnteredRound {
                thread: 1,
                round: 4,
            },
            &mut out,
        );
        main.step(T, ack(1, 4), &mut out);
        main.step(T, ack(1, 5), &mut out);
        main.step(T, ack(0, 4), &mut out);
        assert_eq!(
            queues(&out),
            vec![(1, Queue::Response), (1, Queue::Work), (0, Queue::Work)]
        );
    }

    fn ordered(thread: u16, seq: u64, priority: bool) -> MainInput {
        MainInput::Engine(Event::Ordered {
            from: member(1),
            view: ViewId(3),
            seq,
            payload: JobMsg {
                thread,
                round: seq,
                payload: Arc::from([]),
                priority,
            },
        })
    }

    #[test]
    fn a_priority_message_goes_to_both_queues_of_a_thread_that_takes_ordered_ones() {
        let mut main = MainThread::new(2, DEADLINE).taking_ordered(1);
        let mut out = vec![];
        main.step(T, ordered(1, 1, false), &mut out);
        main.step(T, ordered(1, 2, true), &mut out);
        // Thread 0 takes no ordered messages: its traffic ends here.
        main.step(T, ordered(0, 3, true), &mut out);
        assert_eq!(
            queues(&out),
            vec![(1, Queue::Work), (1, Queue::Response), (1, Queue::Work)]
        );
    }

    #[test]
    fn a_submitted_task_is_numbered_with_the_jobs_ordered_messages() {
        let mut main = MainThread::new(1, DEADLINE);
        let mut out = vec![];
        let msg = |round| JobMsg {
            thread: 0,
            round,
            payload: Arc::from([7u8]),
            priority: true,
        };
        main.step(T, MainInput::Submit(msg(40)), &mut out);
        main.step(T, MainInput::Submit(msg(40)), &mut out);
        let sent: Vec<(u64, bool)> = out
            .iter()
            .filter_map(|o| match o {
                MainOutput::Send {
                    to: Dest::Ordered,
                    msg,
                } => Some((msg.round, msg.priority)),
                _ => None,
            })
            .collect();
        assert_eq!(sent, vec![(0, true), (1, true)]);
    }

    #[test]
    fn view_change_reaches_every_thread() {
        let mut main = MainThread::new(2, DEADLINE);
        let mut out = vec![];
        main.step(
            T,
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
            rejoined: vec![],
            primary: None,
        };
        main.step(
            T,
            MainInput::Engine(Event::View(Box::new(change))),
            &mut out,
        );
        assert_eq!(queues(&out), vec![(0, Queue::Response), (1, Queue::Work)]);
    }

    fn at(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }
    fn watchdog(out: &[MainOutput]) -> Vec<(Time, Option<u64>)> {
        out.iter()
            .filter_map(|o| match o {
                MainOutput::Timer {
                    at,
                    input: MainInput::Watchdog { confirm, .. },
                } => Some((*at, *confirm)),
                _ => None,
            })
            .collect()
    }

    /// A main thread of one work thread whose step 1 started at 0, and
    /// what it asked.
    fn step_one_running() -> (MainThread, Vec<MainOutput>) {
        let mut main = MainThread::new(1, DEADLINE);
        let mut out = vec![];
        main.step(
            at(0),
            MainInput::StepStarted { thread: 0, step: 1 },
            &mut out,
        );
        (main, out)
    }

    /// The watchdog of thread 0 looks at `t` (`confirm`: its second look
    /// at that step).
    fn look(main: &mut MainThread, t: u64, confirm: Option<u64>, out: &mut Vec<MainOutput>) {
        main.step(at(t), MainInput::Watchdog { thread: 0, confirm }, out)
    }

    #[test]
    fn one_watchdog_timer_per_thread_follows_the_running_step() {
        let (mut main, mut out) = step_one_running();
        main.step(
            at(100),
            MainInput::StepFinished { thread: 0, step: 1 },
            &mut out,
        );
        main.step(
            at(200),
            MainInput::StepStarted { thread: 0, step: 2 },
            &mut out,
        );
        assert_eq!(
            watchdog(&out),
            vec![(at(250), None)],
            "the first look, a quarter deadline in, and no second timer while it is pending"
        );
        // Step 2 is looked at every quarter deadline, up to its own.
        for (now, next) in [(250, 500), (500, 750), (750, 1000), (1000, 1200)] {
            out.clear();
            look(&mut main, now, None, &mut out);
            assert_eq!(watchdog(&out), vec![(at(next), None)], "the look at {now}");
        }
        out.clear();
        look(&mut main, 1200, None, &mut out);
        assert_eq!(
            watchdog(&out),
            vec![(at(1201), Some(2))],
            "step 2 is overdue: confirm"
        );
        look(&mut main, 1201, Some(2), &mut out);
        assert!(main.is_gone());
    }

    /// A clock that steps ahead (or a pause) fires the watchdog's look long
    /// past its time: the step's deadline moves on by the absence, and a
    /// step that really hangs is caught once it has run a deadline without
    /// it. The broken variant reads the step as hung.
    #[test]
    fn a_look_that_fires_late_moves_the_deadline_by_the_absence() {
        for broken in [false, true] {
            let (mut main, mut out) = step_one_running();
            if broken {
                main.mutate(crate::Mutation::WatchdogCountsAbsence);
            }
            out.clear();
            // The look due at 250 comes at 5000: the node was away for some
            // of the 5,000 ms since the step began, and none of it counts.
            look(&mut main, 5000, None, &mut out);
            if broken {
                assert_eq!(watchdog(&out), vec![(at(5001), Some(1))]);
                continue;
            }
            assert_eq!(watchdog(&out), vec![(at(5250), None)], "looks go on");
            assert!(out.contains(&MainOutput::Probe(crate::probe::WATCHDOG_WAS_AWAY)));
            for (now, next) in [(5250, 5500), (5500, 5750), (5750, 6000)] {
                out.clear();
                look(&mut main, now, None, &mut out);
                assert_eq!(watchdog(&out), vec![(at(next), None)], "the look at {now}");
            }
            out.clear();
            look(&mut main, 6000, None, &mut out);
            assert_eq!(
                watchdog(&out),
                vec![(at(6001), Some(1))],
                "a hang once the step has run a deadline, the absence not counted"
            );
            look(&mut main, 6001, Some(1), &mut out);
            assert!(main.is_gone());
        }
    }

    /// Step 1 runs from 0, looked at on time at `looks`; the clock then
    /// steps ahead, so the next look comes at `late`; the step ends at
    /// `ends`, and is no hang: the late look gives no verdict, and the look
    /// after it (a quarter deadline on) finds the step over.
    fn a_late_look_in_a_step(looks: &[u64], late: u64, ends: u64) {
        let (mut main, mut out) = step_one_running();
        for t in looks {
            look(&mut main, *t, None, &mut out);
        }
        out.clear();
        look(&mut main, late, None, &mut out);
        assert_eq!(watchdog(&out), vec![(at(late + 250), None)], "no verdict");
        main.step(
            at(ends),
            MainInput::StepFinished { thread: 0, step: 1 },
            &mut out,
        );
        look(&mut main, late + 250, None, &mut out);
        assert!(!main.is_gone());
    }

    /// A clock step shorter than the deadline, in the middle of a step,
    /// is no hang: the look it makes late tells it. (A single look at the
    /// deadline came 300 ms late, under the half deadline that told an
    /// absence, and the step, 1.3 s in by its clock, was taken for hung.)
    #[test]
    fn a_clock_step_in_a_step_is_no_hang() {
        // The clock steps 900 ms ahead at 400: the look due at 500 comes at
        // 1300 by the clock.
        a_late_look_in_a_step(&[250], 1300, 1350);
    }

    /// A clock step late in a long step: the look due at the deadline
    /// comes late, and the whole time since the look before does not
    /// count (the step is 770 ms in when the clock steps 900 ms ahead;
    /// counting only the look's lateness, 670 ms, left the step due at
    /// once, and it was taken for hung).
    #[test]
    fn a_clock_step_late_in_a_long_step_is_no_hang() {
        a_late_look_in_a_step(&[250, 500, 750], 1670, 1700);
    }

    #[test]
    fn a_step_that_ends_between_deadline_and_confirmation_is_no_hang() {
        // As when a paused node wakes and all its overdue timers fire at once.
        let mut main = MainThread::new(1, DEADLINE);
        let mut out = vec![];
        main.step(
            at(0),
            MainInput::StepStarted { thread: 0, step: 1 },
            &mut out,
        );
        main.step(
            at(5000),
            MainInput::Watchdog {
                thread: 0,
                confirm: None,
            },
            &mut out,
        );
        main.step(
            at(5000),
            MainInput::StepFinished { thread: 0, step: 1 },
            &mut out,
        );
        main.step(
            at(5001),
            MainInput::Watchdog {
                thread: 0,
                confirm: Some(1),
            },
            &mut out,
        );
        assert!(!main.is_gone());
    }

    #[test]
    fn faults_unregister_once() {
        let mut main = MainThread::new(2, DEADLINE);
        let mut out = vec![];
        main.step(
            T,
            MainInput::Faulted {
                thread: 1,
                kind: FaultKind::Panic,
            },
            &mut out,
        );
        main.step(
            T,
            MainInput::Faulted {
                thread: 0,
                kind: FaultKind::Error,
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
                fault: Some((1, FaultKind::Panic))
            }]
        );
    }
}
