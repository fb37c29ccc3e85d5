//! A job's work thread, as a state machine: it takes what its main thread
//! routed to its two queues, feeds views and ACKs to its protocol, runs
//! the protocol's local step between ACK rounds, and says what to send.
//!
//! The thread does only local work; everything it waits for arrives as an
//! input. A driver feeds it three things: an item the main thread routed
//! ([`WorkInput::Routed`]), the body of a local step it asked for
//! ([`WorkInput::RunStep`], where the driver may catch a panic), and the
//! end of that step ([`WorkInput::StepEnded`]: it ran, it panicked, it
//! returned an error). A step that hangs simply never ends; the main
//! thread's watchdog notices. After each batch of inputs the driver calls
//! [`WorkThread::poll`], where the thread takes items and starts steps.
//!
//! Which item the thread takes next is this machine's rule, not the
//! driver's:
//! - before its first view it has no round: it reads only its work queue;
//! - in a round it reads its work queue first (anything queued for later
//!   is looked at before the replies it waits for), then its response
//!   queue;
//! - between rounds it takes everything left in its response queue before
//!   it starts the next step. A view routed to the response queue while
//!   the thread waited must reach the protocol before any view routed
//!   during the step, which goes to the work queue and would otherwise be
//!   read first (random-faults swarm seed 70: a member applied view 155,
//!   then the older 145, and ignored a member that only 155 held);
//! - a view is never overtaken: nothing routed after it is taken while it
//!   waits in the other queue. The main thread routes by what it last
//!   heard from the thread, which can be late: a view routed to the
//!   response queue just after the step began (the thread's word that it
//!   left its round still on its way) would otherwise be read after a
//!   newer view routed to the work queue during the step (found by this
//!   module's model test). Ordered messages (a task runner's) are held
//!   to the same rule, so views and ordered messages reach the protocol
//!   in the engine's one order; a priority message, routed to both
//!   queues, is handed over once, at its first copy;
//! - a protocol that is idle (a task runner with no task) is not stepped:
//!   the thread reads its queues until an ordered message gives it work;
//!   at a task boundary (a step that left the protocol idle) it takes
//!   everything queued, views and the priority queue included, before it
//!   begins the next task.
//!
//! The thread numbers items as they are routed, so the driver must feed
//! them in the order the main thread routed them, across both queues.
//!
//! Invariants: at most one local step runs at a time and steps are
//! numbered from 1 without gaps; nothing is taken from a queue while a
//! step runs; views reach the protocol in the order the main thread
//! routed them; once the thread has faulted it takes and sends nothing.

use super::rounds::{MakeRounds, Next, Rounds};
use super::{FaultKind, JobMsg, MainInput, Queue, TaskEvent, WorkItem};
use crate::engine::{Dest, MembershipChange};
use crate::ids::{MemberId, ViewId};
use std::collections::VecDeque;
use std::hash::Hash;

/// Most items a work thread's queues hold together. A thread this far
/// behind is not coming back in time: the item that would exceed it is
/// dropped and the thread reports itself hung, so its job leaves the group
/// and nobody waits for it.
pub const QUEUE_ITEMS_MAX: usize = 1 << 16;

/// What a work thread takes.
#[derive(Clone, Debug, Hash)]
pub enum WorkInput {
    /// The main thread routed `item` to `queue`.
    Routed { queue: Queue, item: WorkItem },
    /// The driver runs the body of local step `step` (the protocol's step),
    /// as the thread asked with [`WorkOutput::StartStep`]. A driver that
    /// injects a fault into the step does not send this.
    RunStep { step: u64 },
    /// Local step `step` is over.
    StepEnded { step: u64, end: StepEnd },
}

/// How a local step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepEnd {
    /// Its body ran ([`WorkInput::RunStep`]) and returned.
    Ran,
    /// It panicked.
    Panicked,
    /// It returned an error.
    Errored,
}

/// What a work thread asks its driver to do, or reports.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum WorkOutput {
    /// Put this into the main thread's inbox.
    Signal(MainInput),
    /// Start local step `step`: run its body ([`WorkInput::RunStep`]),
    /// then, when its time is up, end it ([`WorkInput::StepEnded`]).
    StartStep { step: u64 },
    /// Send this message through the engine.
    Send { to: Dest, msg: JobMsg },
    /// `member` sent its ACK for `round`, in `view` (its protocol's view).
    RoundStarted {
        member: MemberId,
        round: u64,
        view: ViewId,
    },
    /// The step just run completed a round.
    Completed {
        member: MemberId,
        completion: super::Completion,
    },
    /// The step just run decided an instance of the protocol. (Boxed:
    /// rare, and the other outputs are a few words.)
    Decided {
        member: MemberId,
        protocol: &'static str,
        agreement: Option<&'static str>,
        decision: Box<super::Decision>,
    },
    /// The step just run cast a vote.
    Voted { member: MemberId, vote: super::Vote },
    /// The protocol finished; the thread steps no more but still answers
    /// members behind it.
    Done { member: MemberId, outcome: String },
    /// `member`'s protocol took the rare path named (a [`crate::probe`]).
    Probe {
        member: MemberId,
        name: &'static str,
    },
    /// An ACK answered a member that asked, or was behind.
    Answered {
        from: MemberId,
        to: MemberId,
        round: u64,
    },
    /// What happened to a task (a task runner's report).
    Task { member: MemberId, event: TaskEvent },
    /// The thread took word that its engine is gone and dropped its
    /// protocol instance: `round` is the round it was waiting in, if any.
    Detached {
        member: MemberId,
        thread: u16,
        round: Option<u64>,
    },
}

/// The step that runs now.
#[derive(Clone, Debug, Hash)]
struct Running {
    step: u64,
    /// What its body returned, once [`WorkInput::RunStep`] ran it.
    next: Option<Next>,
}

/// One work thread of a job. (Its protocol factory is shared by its
/// copies and left out of its hash: it is the same for the whole run.)
#[derive(Clone)]
pub struct WorkThread {
    thread: u16,
    make: MakeRounds,
    /// The protocol instance, made at the thread's first view.
    rounds: Option<Box<dyn Rounds>>,
    /// This member, as its latest view names it.
    me: Option<MemberId>,
    /// Each queue holds items with the number of their routing.
    response: VecDeque<(u64, WorkItem)>,
    work: VecDeque<(u64, WorkItem)>,
    /// Items routed so far.
    routed: u64,
    /// Local steps started so far.
    steps: u64,
    running: Option<Running>,
    /// The protocol restarted its round: step again without waiting.
    restart: bool,
    finished: bool,
    faulted: bool,
    /// Views handed to the protocol, the latest: they only grow.
    last_view: Option<ViewId>,
    /// The last ordered message handed to the protocol, as (view, number):
    /// a priority message routed to both queues is handed over once.
    last_ordered: Option<(ViewId, u64)>,
    /// Ordered messages this thread submitted.
    ordered_sent: u64,
    /// At a task boundary (the protocol went idle): the thread takes
    /// everything queued before it steps again.
    boundary: bool,
    /// Its engine went: the thread waits for the first view of the job's
    /// next registration, wherever the main thread routed it, and drops
    /// what waits before it (the old instance's). Not the same as having
    /// no instance yet: before its first view a thread keeps what waits in
    /// its response queue for that view.
    detached: bool,
    /// Word that the engine went waits in a queue: the thread sends
    /// nothing meanwhile (what it would send belongs to the membership
    /// that is gone, and a new engine would pass it on as the new member's).
    lost_queued: u32,
    #[cfg(any(test, feature = "mutations"))]
    mutation: Option<crate::Mutation>,
}

impl std::hash::Hash for WorkThread {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let WorkThread {
            thread,
            make: _,
            rounds,
            me,
            response,
            work,
            routed,
            steps,
            running,
            restart,
            finished,
            faulted,
            last_view,
            last_ordered,
            ordered_sent,
            boundary,
            detached,
            lost_queued,
            #[cfg(any(test, feature = "mutations"))]
                mutation: _,
        } = self;
        (thread, rounds, me, response, work, routed, steps, running).hash(state);
        (restart, finished, faulted, last_view, last_ordered).hash(state);
        (ordered_sent, boundary, detached, lost_queued).hash(state);
    }
}

impl std::fmt::Debug for WorkThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkThread")
            .field("thread", &self.thread)
            .field("rounds", &self.rounds)
            .field("me", &self.me)
            .field("response", &self.response.len())
            .field("work", &self.work.len())
            .field("steps", &self.steps)
            .field("running", &self.running)
            .field("finished", &self.finished)
            .field("faulted", &self.faulted)
            .finish()
    }
}

impl WorkThread {
    /// Work thread `thread`; `make` makes its protocol instance at its
    /// first view.
    pub fn new(thread: u16, make: MakeRounds) -> WorkThread {
        assert!(thread < super::WORK_THREADS_MAX);
        WorkThread {
            thread,
            make,
            rounds: None,
            me: None,
            response: VecDeque::new(),
            work: VecDeque::new(),
            routed: 0,
            steps: 0,
            running: None,
            restart: false,
            finished: false,
            faulted: false,
            last_view: None,
            last_ordered: None,
            ordered_sent: 0,
            boundary: false,
            detached: false,
            lost_queued: 0,
            #[cfg(any(test, feature = "mutations"))]
            mutation: None,
        }
    }

    /// Runs a deliberately broken variant of the thread (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn mutate(&mut self, mutation: crate::Mutation) {
        self.mutation = Some(mutation);
    }

    /// The thread faulted: it takes and sends nothing more.
    pub fn has_faulted(&self) -> bool {
        self.faulted
    }

    /// This member, as the thread's latest view names it.
    pub fn member(&self) -> Option<&MemberId> {
        self.me.as_ref()
    }

    /// The step running now, if any.
    pub fn running_step(&self) -> Option<u64> {
        self.running.as_ref().map(|r| r.step)
    }

    /// Items waiting in the response queue and in the work queue.
    pub fn queued(&self) -> (usize, usize) {
        (self.response.len(), self.work.len())
    }

    /// The number of the oldest item queued (items are numbered from 1 as
    /// they are routed), for the model test.
    #[cfg(test)]
    pub(crate) fn oldest_queued(&self) -> Option<u64> {
        let head = |q: &VecDeque<(u64, WorkItem)>| q.front().map(|(n, _)| *n);
        [head(&self.response), head(&self.work)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Takes one input. An item routed only joins its queue: what the
    /// thread takes, and when it steps, is up to [`WorkThread::poll`].
    pub fn step(&mut self, input: WorkInput, out: &mut Vec<WorkOutput>) {
        if self.faulted {
            return;
        }
        match input {
            WorkInput::Routed { queue, item } => self.on_routed(queue, item, out),
            WorkInput::RunStep { step } => self.on_run_step(step, out),
            WorkInput::StepEnded { step, end } => self.on_step_ended(step, end, out),
        }
    }

    /// Does everything the inputs so far allow: takes items from the
    /// queues, in this machine's order, until a step starts or there is
    /// nothing left to take. A driver polls after every batch of inputs:
    /// the thread sees at once everything routed to it by then.
    pub fn poll(&mut self, out: &mut Vec<WorkOutput>) {
        self.advance(out);
    }

    fn on_routed(&mut self, queue: Queue, item: WorkItem, out: &mut Vec<WorkOutput>) {
        if self.response.len() + self.work.len() >= QUEUE_ITEMS_MAX {
            self.fault(FaultKind::Hang, out);
            return;
        }
        self.routed += 1;
        if matches!(item, WorkItem::EngineLost { .. }) {
            self.lost_queued += 1;
        }
        match queue {
            Queue::Response => self.response.push_back((self.routed, item)),
            Queue::Work => self.work.push_back((self.routed, item)),
        }
    }

    fn on_run_step(&mut self, step: u64, out: &mut Vec<WorkOutput>) {
        let running = self
            .running
            .as_mut()
            .expect("a step runs only once started");
        assert_eq!(running.step, step, "the step started is the step run");
        assert!(running.next.is_none(), "a step's body runs once");
        let rounds = self
            .rounds
            .as_mut()
            .expect("steps start after the first view");
        let me = self.me.clone().expect("steps start after the first view");
        let next = rounds.step();
        // What the step decided is decided now: a crash later in the step
        // cannot undo it.
        if let Some(completion) = rounds.take_completion() {
            out.push(WorkOutput::Completed {
                member: me.clone(),
                completion,
            });
        }
        for vote in rounds.take_votes() {
            out.push(WorkOutput::Voted {
                member: me.clone(),
                vote,
            });
        }
        for (protocol, agreement, decision) in rounds.take_named_decisions() {
            out.push(WorkOutput::Decided {
                member: me.clone(),
                protocol,
                agreement,
                decision: Box::new(decision),
            });
        }
        running.next = Some(next);
        self.drain(out);
    }

    /// Sends what the protocol submitted to the group's order and reports
    /// what happened to its tasks.
    fn drain(&mut self, out: &mut Vec<WorkOutput>) {
        let Some(rounds) = self.rounds.as_mut() else {
            return;
        };
        for name in rounds.take_probes() {
            let member = self.me.clone().expect("a protocol has a member");
            out.push(WorkOutput::Probe { member, name });
        }
        let submissions = rounds.take_submissions();
        let answers = rounds.take_answers();
        let events = rounds.take_task_events();
        if submissions.is_empty() && answers.is_empty() && events.is_empty() {
            return; // the common case: a protocol that runs no tasks
        }
        let me = self.me.clone().expect("a protocol has a member");
        for event in events {
            // A task that begins on an ordered message (not at the end of
            // a step that left the protocol idle) is a task boundary too:
            // what is queued, a newer view included, comes before its
            // first step (tasks.toml swarm seed 173: a task's first step
            // began with a view queued behind the message that chose it).
            if matches!(event, TaskEvent::Started { .. }) {
                self.boundary = !mutated!(self, NoTaskBoundary);
            }
            out.push(WorkOutput::Task {
                member: me.clone(),
                event,
            });
        }
        for (to, round, payload) in answers {
            self.answer(&me, to, round, payload, out);
        }
        for payload in submissions {
            // A sender's ordered messages are numbered once each: the work
            // thread's apart from its main thread's.
            self.ordered_sent += 1;
            let n = (u64::from(self.thread) + 1) << 48 | self.ordered_sent;
            self.send(Dest::Ordered, n, payload, out);
        }
    }

    fn on_step_ended(&mut self, step: u64, end: StepEnd, out: &mut Vec<WorkOutput>) {
        let running = self.running.take().expect("only a started step ends");
        assert_eq!(running.step, step, "the step that ends is the one running");
        out.push(WorkOutput::Signal(MainInput::StepFinished {
            thread: self.thread,
            step,
        }));
        let next = match end {
            StepEnd::Panicked => return self.fault(FaultKind::Panic, out),
            StepEnd::Errored => return self.fault(FaultKind::Error, out),
            StepEnd::Ran => running.next.expect("a step that ran returned"),
        };
        let me = self.me.clone().expect("steps start after the first view");
        match next {
            Next::Fault(_) => self.fault(FaultKind::Error, out),
            Next::Done(outcome) => {
                out.push(WorkOutput::Done {
                    member: me,
                    outcome,
                });
                self.finished = true;
            }
            Next::Restart => {}
            // A task boundary: the thread reads all it holds first.
            Next::Idle => self.boundary = !mutated!(self, NoTaskBoundary),
            Next::Send { round, payload } => {
                let view = self.rounds.as_ref().expect("a protocol").view_id();
                out.push(WorkOutput::RoundStarted {
                    member: me,
                    round,
                    view,
                });
                out.push(WorkOutput::Signal(MainInput::EnteredRound {
                    thread: self.thread,
                    round,
                }));
                self.send(Dest::View, round, payload, out);
            }
        }
    }

    /// Takes items, in this machine's order, until a step starts or there
    /// is nothing to take.
    fn advance(&mut self, out: &mut Vec<WorkOutput>) {
        while !self.faulted && self.running.is_none() {
            let Some(rounds) = self.rounds.as_deref() else {
                if self.detached {
                    // Whichever queue the main thread thought right, the
                    // next view is the only thing to wait for.
                    match self.pop(Queue::Work).or_else(|| self.pop(Queue::Response)) {
                        Some(item) => self.take(item, out),
                        None => return,
                    }
                    continue;
                }
                // No view yet, so no round: only new work can start one.
                match self.work.pop_front() {
                    Some((_, item)) => self.take(item, out),
                    None => return,
                }
                continue;
            };
            if self.boundary {
                match self.pop(Queue::Work).or_else(|| self.pop(Queue::Response)) {
                    Some(item) => self.take(item, out),
                    None => self.boundary = false,
                }
                continue;
            }
            let waiting = self.finished
                || rounds.idle()
                || (rounds.round() > 0 && !self.round_complete(rounds) && !self.restart);
            if waiting {
                match self.pop(Queue::Work).or_else(|| self.pop(Queue::Response)) {
                    Some(item) => self.take(item, out),
                    None => return,
                }
                continue;
            }
            if !self.reads_work_first_after_a_round() {
                if let Some(item) = self.pop(Queue::Response) {
                    self.take(item, out);
                    continue;
                }
            }
            self.start_step(out);
        }
    }

    /// The head of `queue`; but if a view routed before it waits in the
    /// other queue, the other queue's head: a view (or an ordered message)
    /// is never overtaken.
    fn pop(&mut self, queue: Queue) -> Option<WorkItem> {
        let (this, other) = match queue {
            Queue::Response => (&mut self.response, &mut self.work),
            Queue::Work => (&mut self.work, &mut self.response),
        };
        let head = this.front()?.0;
        let overtaken = mutated!(self, ViewsOvertaken) || mutated!(self, StepBeforeResponses);
        let view_first = !overtaken
            && other
                .iter()
                .take_while(|(n, _)| *n < head)
                .any(|(_, item)| is_barrier(item));
        let from = if view_first { other } else { this };
        from.pop_front().map(|(_, item)| item)
    }

    fn round_complete(&self, rounds: &dyn Rounds) -> bool {
        if mutated!(self, EarlyRound) {
            // Go on when one other member is missing.
            let missing = rounds.missing();
            if missing.len() == 1 && Some(&missing[0]) != self.me.as_ref() {
                return true;
            }
        }
        rounds.round_complete()
    }

    /// The bug of random-faults swarm seed 70: between rounds, step before
    /// the response queue is empty.
    fn reads_work_first_after_a_round(&self) -> bool {
        mutated!(self, StepBeforeResponses)
    }

    fn start_step(&mut self, out: &mut Vec<WorkOutput>) {
        assert!(self.running.is_none(), "one step at a time");
        self.restart = false;
        self.steps += 1;
        self.running = Some(Running {
            step: self.steps,
            next: None,
        });
        out.push(WorkOutput::Signal(MainInput::StepStarted {
            thread: self.thread,
            step: self.steps,
        }));
        out.push(WorkOutput::StartStep { step: self.steps });
    }

    fn take(&mut self, item: WorkItem, out: &mut Vec<WorkOutput>) {
        match item {
            WorkItem::EngineLost { member } => {
                self.lost_queued -= 1;
                self.detach(member, out)
            }
            WorkItem::View(change) => {
                self.detached = false;
                let fresh = self.rounds.is_none();
                self.take_view(*change, out);
                // A new instance's first view is a task boundary: what was
                // queued behind it (a newer view) comes before its first
                // step (random-faults seed 384: a thread back from a lost
                // engine stepped in a view its main thread had left).
                self.boundary |= fresh && self.rounds.is_some();
                self.drain(out);
            }
            WorkItem::Ordered {
                from,
                view,
                seq,
                msg,
            } => {
                if self.last_ordered.is_some_and(|last| last >= (view, seq))
                    && !mutated!(self, PriorityTakenTwice)
                {
                    return; // the other copy of a priority message
                }
                self.last_ordered = Some((view, seq));
                let Some(rounds) = self.rounds.as_mut() else {
                    return; // delivered in a view, which came first
                };
                rounds.on_ordered(&from, view, seq, &msg);
                self.drain(out);
            }
            WorkItem::Message { from, msg } => {
                let Some(rounds) = self.rounds.as_mut() else {
                    return; // before the first view: nothing to answer with
                };
                if let Some((to, round, payload)) = rounds.on_ack(from, msg.round, &msg.payload) {
                    let me = self.me.clone().expect("a protocol has a member");
                    self.answer(&me, to, round, payload, out);
                }
                self.drain(out);
            }
        }
    }

    fn take_view(&mut self, change: MembershipChange, out: &mut Vec<WorkOutput>) {
        if mutated!(self, IgnoreDepartures) && !change.left.is_empty() {
            return;
        }
        if mutated!(self, StaleView) && self.last_view.is_some() {
            return;
        }
        assert!(
            change.members.contains(&change.me),
            "a view handed to a work thread holds its member"
        );
        assert!(
            self.last_view.is_none_or(|v| v < change.view),
            "views reach the protocol in the order they were issued"
        );
        self.last_view = Some(change.view);
        self.me = Some(change.me.clone());
        let rounds = match self.rounds.as_mut() {
            Some(rounds) => rounds,
            None => {
                let made = (self.make)(change.me.clone());
                self.rounds.insert(made)
            }
        };
        match rounds.on_view(&change) {
            // A finished protocol still resends its last ACK in a new view,
            // for the members behind it.
            Some(Next::Send { round, payload }) => self.send(Dest::View, round, payload, out),
            _ if self.finished => {}
            Some(Next::Restart) => self.restart = true,
            Some(Next::Done(outcome)) => {
                out.push(WorkOutput::Done {
                    member: change.me,
                    outcome,
                });
                self.finished = true;
            }
            Some(Next::Fault(_)) => self.fault(FaultKind::Error, out),
            Some(Next::Idle) | None => {}
        }
    }

    /// The engine is gone: the protocol instance goes with the membership
    /// it ran in (no ACK of it can come), and the thread starts afresh at
    /// the job's next first view, as the new member it will be.
    fn detach(&mut self, member: Option<MemberId>, out: &mut Vec<WorkOutput>) {
        let waiting = self
            .rounds
            .as_deref()
            .filter(|r| !self.finished && r.round() > 0 && !r.round_complete())
            .map(|r| r.round());
        if let Some(member) = member.or_else(|| self.me.clone()) {
            out.push(WorkOutput::Detached {
                member,
                thread: self.thread,
                round: waiting,
            });
        }
        self.rounds = None;
        self.me = None;
        self.last_view = None;
        self.last_ordered = None;
        self.restart = false;
        self.finished = false;
        self.boundary = false;
        self.detached = true;
    }

    fn send(&self, to: Dest, round: u64, payload: std::sync::Arc<[u8]>, out: &mut Vec<WorkOutput>) {
        if self.lost_queued > 0 {
            return;
        }
        out.push(WorkOutput::Send {
            to,
            msg: JobMsg {
                thread: self.thread,
                round,
                payload,
                priority: false,
            },
        });
    }

    /// Sends the protocol's answer to one member, and reports it.
    fn answer(
        &self,
        me: &MemberId,
        to: MemberId,
        round: u64,
        payload: std::sync::Arc<[u8]>,
        out: &mut Vec<WorkOutput>,
    ) {
        out.push(WorkOutput::Answered {
            from: me.clone(),
            to: to.clone(),
            round,
        });
        self.send(Dest::Member(to), round, payload, out);
    }

    fn fault(&mut self, kind: FaultKind, out: &mut Vec<WorkOutput>) {
        assert!(!self.faulted, "a thread faults once");
        self.faulted = true;
        self.running = None;
        out.push(WorkOutput::Signal(MainInput::Faulted {
            thread: self.thread,
            kind,
        }));
    }
}

/// Views and ordered messages: nothing routed after one is taken while it
/// waits, so they reach the protocol in the one order the engine gave them.
fn is_barrier(item: &WorkItem) -> bool {
    matches!(
        item,
        WorkItem::View(_) | WorkItem::Ordered { .. } | WorkItem::EngineLost { .. }
    )
}
