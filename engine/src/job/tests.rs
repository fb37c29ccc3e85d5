//! The work thread's rules, unit by unit, and a model-based test of a main
//! thread and a work thread together: random interleavings of engine
//! events (views, ACKs, ordered messages and priority messages), signals
//! between the threads and the ends of local steps and tasks, checked after
//! every operation against what the patent's queues promise: the response
//! queue, the work queue, and the priority queue of US 6,823,512 (a
//! priority message routed to both, taken once, at the next task boundary
//! at the latest).

use super::*;
use crate::engine::{Dest, Event, MembershipChange};
use crate::ids::{Dur, Incarnation, Name, NodeId, Time, ViewId};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

const T0: Time = Time(0);

fn member(node: u16) -> MemberId {
    MemberId {
        job: Name::new("db"),
        node: NodeId(node),
        node_incarnation: Incarnation(1),
        registration: 1,
    }
}

fn view(id: u64, nodes: &[u16]) -> MembershipChange {
    MembershipChange {
        group: Name::new("g"),
        view: ViewId(id),
        me: member(0),
        members: nodes.iter().map(|n| member(*n)).collect(),
        joined: vec![],
        left: vec![],
        rejoined: vec![],
        primary: None,
    }
}

fn ack(from: u16, round: u64) -> WorkItem {
    tagged_ack(from, round, 0)
}

/// An ACK whose payload carries `tag`, which the protocol logs.
fn tagged_ack(from: u16, round: u64, tag: u64) -> WorkItem {
    WorkItem::Message {
        from: member(from),
        msg: JobMsg {
            thread: 0,
            round,
            payload: Arc::from(tag.to_le_bytes()),
            priority: false,
        },
    }
}

/// What the protocol saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    View(u64),
    Ack(u16, u64),
    Step(u64),
    /// The tag of an ACK's payload (see [`tagged_ack`]).
    Tag(u64),
    /// An ordered message, by its number.
    Ordered(u64),
    /// The protocol went idle: a task boundary.
    Idle,
}

/// A protocol of ACK rounds reduced to its bookkeeping: a round completes
/// when every member of the view has ACKed it. It logs what it sees.
#[derive(Clone, Debug)]
struct Script {
    log: Arc<Mutex<Vec<Seen>>>,
    view: Vec<MemberId>,
    view_id: ViewId,
    round: u64,
    acks: BTreeMap<u64, BTreeSet<MemberId>>,
    /// Whether it runs tasks: after every round it goes idle (a task
    /// boundary) until an ordered message gives it work.
    tasks: bool,
    idle: bool,
    /// The step that followed the last round went idle already.
    rested: bool,
    /// Whether an ordered message begins a new task at once (a task
    /// runner that abandons its task for the one the group chose).
    ordered_starts_task: bool,
    events: Vec<TaskEvent>,
}

impl Script {
    fn new(log: Arc<Mutex<Vec<Seen>>>) -> Script {
        Script {
            log,
            view: vec![],
            view_id: ViewId(0),
            round: 0,
            acks: BTreeMap::new(),
            tasks: false,
            idle: false,
            rested: false,
            ordered_starts_task: false,
            events: vec![],
        }
    }
}

impl Rounds for Script {
    fn clone_box(&self) -> Box<dyn Rounds> {
        Box::new(self.clone())
    }
    fn hash_state(&self, mut state: &mut dyn std::hash::Hasher) {
        use std::hash::Hash;
        (&self.view, self.view_id, self.round, &self.acks).hash(&mut state);
        (self.tasks, self.idle, self.rested, self.ordered_starts_task).hash(&mut state);
        self.events.hash(&mut state);
    }
    fn protocol_name(&self) -> &'static str {
        "script"
    }
    fn agreement(&self) -> Option<&'static str> {
        None
    }
    fn on_view(&mut self, change: &MembershipChange) -> Option<Next> {
        self.log.lock().unwrap().push(Seen::View(change.view.0));
        self.view = change.members.clone();
        self.view_id = change.view;
        (self.round > 0 && !self.idle).then(|| Next::Send {
            round: self.round,
            payload: Arc::from([]),
        })
    }
    fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        let mut log = self.log.lock().unwrap();
        log.push(Seen::Ack(from.node.0, round));
        if let Ok(tag) = <[u8; 8]>::try_from(payload) {
            log.push(Seen::Tag(u64::from_le_bytes(tag)));
        }
        drop(log);
        self.acks.entry(round).or_default().insert(from);
        None
    }
    fn round_complete(&self) -> bool {
        self.round > 0
            && self
                .view
                .iter()
                .all(|m| self.acks.get(&self.round).is_some_and(|a| a.contains(m)))
    }
    fn missing(&self) -> Vec<MemberId> {
        let acked = self.acks.get(&self.round);
        self.view
            .iter()
            .filter(|m| !acked.is_some_and(|a| a.contains(m)))
            .cloned()
            .collect()
    }
    fn round(&self) -> u64 {
        self.round
    }
    fn view_id(&self) -> ViewId {
        self.view_id
    }
    fn rounds_completed(&self) -> u64 {
        self.round.saturating_sub(1)
    }
    fn step(&mut self) -> Next {
        if self.tasks && self.round > 0 && !self.rested {
            self.rested = true;
            self.idle = true;
            self.log.lock().unwrap().push(Seen::Idle);
            return Next::Idle;
        }
        self.rested = false;
        self.round += 1;
        self.log.lock().unwrap().push(Seen::Step(self.round));
        Next::Send {
            round: self.round,
            payload: Arc::from([]),
        }
    }
    fn take_decisions(&mut self) -> Vec<Decision> {
        vec![]
    }
    fn take_votes(&mut self) -> Vec<Vote> {
        vec![]
    }
    fn take_completion(&mut self) -> Option<Completion> {
        None
    }
    fn on_ordered(&mut self, _from: &MemberId, _view: ViewId, seq: u64, _msg: &JobMsg) {
        self.log.lock().unwrap().push(Seen::Ordered(seq));
        self.idle = false;
        if self.ordered_starts_task {
            self.round = 0;
            self.events.push(TaskEvent::Started { task: seq as u32 });
        }
    }
    fn take_task_events(&mut self) -> Vec<TaskEvent> {
        std::mem::take(&mut self.events)
    }
    fn idle(&self) -> bool {
        self.idle
    }
}

fn thread_with_log() -> (WorkThread, Arc<Mutex<Vec<Seen>>>) {
    thread_running(false)
}

/// A work thread whose protocol runs tasks (see [`Script::tasks`]) or not.
fn thread_running(tasks: bool) -> (WorkThread, Arc<Mutex<Vec<Seen>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let thread = WorkThread::new(
        0,
        Arc::new(move |_| {
            let mut script = Script::new(l.clone());
            script.tasks = tasks;
            Box::new(script)
        }),
    );
    (thread, log)
}

fn route(t: &mut WorkThread, queue: Queue, item: WorkItem) -> Vec<WorkOutput> {
    let mut out = vec![];
    t.step(WorkInput::Routed { queue, item }, &mut out);
    t.poll(&mut out);
    out
}

fn started(out: &[WorkOutput]) -> Option<u64> {
    out.iter().find_map(|o| match o {
        WorkOutput::StartStep { step } => Some(*step),
        _ => None,
    })
}

/// Runs the step that `out` started, to its end, and polls.
fn finish_step(t: &mut WorkThread, out: &[WorkOutput]) -> Vec<WorkOutput> {
    let step = started(out).expect("a step was started");
    let mut next = vec![];
    t.step(WorkInput::RunStep { step }, &mut next);
    t.step(
        WorkInput::StepEnded {
            step,
            end: StepEnd::Ran,
        },
        &mut next,
    );
    t.poll(&mut next);
    next
}

/// `items` routed to the work queue while step `step` runs; then the step
/// runs and ends, and the thread takes what it may.
fn routed_during_step(t: &mut WorkThread, step: u64, items: Vec<WorkItem>) -> Vec<WorkOutput> {
    let mut out = vec![];
    for item in items {
        t.step(
            WorkInput::Routed {
                queue: Queue::Work,
                item,
            },
            &mut out,
        );
    }
    t.step(WorkInput::RunStep { step }, &mut out);
    t.step(
        WorkInput::StepEnded {
            step,
            end: StepEnd::Ran,
        },
        &mut out,
    );
    t.poll(&mut out);
    out
}

/// A thread in round 1 of view 1 with members n0 and n1, waiting for n1.
fn in_round_one() -> (WorkThread, Arc<Mutex<Vec<Seen>>>) {
    in_round_one_of(thread_with_log())
}

fn in_round_one_of(
    (mut t, log): (WorkThread, Arc<Mutex<Vec<Seen>>>),
) -> (WorkThread, Arc<Mutex<Vec<Seen>>>) {
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
    let out = finish_step(&mut t, &out);
    assert!(started(&out).is_none());
    let out = route(&mut t, Queue::Response, ack(0, 1));
    assert!(started(&out).is_none(), "still waiting for n1");
    log.lock().unwrap().clear();
    (t, log)
}

#[test]
fn before_its_first_view_a_thread_reads_only_its_work_queue() {
    let (mut t, log) = thread_with_log();
    let out = route(&mut t, Queue::Response, ack(1, 1));
    assert!(out.is_empty());
    assert!(log.lock().unwrap().is_empty());
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
    assert_eq!(
        started(&out),
        Some(1),
        "its first view starts its first step"
    );
    assert_eq!(
        log.lock().unwrap().clone(),
        vec![Seen::View(1), Seen::Ack(1, 1), Seen::Tag(0)],
        "the view, then what waited in the response queue, then the step"
    );
}

#[test]
fn in_a_round_the_work_queue_is_read_first() {
    let (mut t, log) = in_round_one();
    let mut out = vec![];
    t.step(
        WorkInput::Routed {
            queue: Queue::Response,
            item: ack(1, 1),
        },
        &mut out,
    );
    t.step(
        WorkInput::Routed {
            queue: Queue::Work,
            item: ack(1, 2),
        },
        &mut out,
    );
    t.poll(&mut out);
    assert_eq!(
        log.lock().unwrap().clone(),
        vec![Seen::Ack(1, 2), Seen::Tag(0), Seen::Ack(1, 1), Seen::Tag(0)],
        "the later round's ACK, queued for later, is looked at first"
    );
    assert_eq!(started(&out), Some(2), "then the round is complete");
}

#[test]
fn between_rounds_the_response_queue_is_emptied_before_the_step() {
    // The order rule of random-faults swarm seed 70: view 3, routed to the
    // response queue while the thread waited, must reach the protocol
    // before the step, or the view routed during the step (to the work
    // queue) overtakes it.
    let (mut t, log) = in_round_one();
    let mut out = vec![];
    t.step(
        WorkInput::Routed {
            queue: Queue::Work,
            item: ack(1, 1),
        },
        &mut out,
    );
    t.step(
        WorkInput::Routed {
            queue: Queue::Response,
            item: WorkItem::View(view(3, &[0, 1]).into()),
        },
        &mut out,
    );
    t.poll(&mut out);
    assert_eq!(
        log.lock().unwrap().clone(),
        vec![Seen::Ack(1, 1), Seen::Tag(0), Seen::View(3)],
    );
    assert_eq!(started(&out), Some(2), "then the step");
    let during = route(&mut t, Queue::Work, WorkItem::View(view(5, &[0, 1]).into()));
    assert!(during.is_empty(), "nothing is taken while the step runs");
    let _ = finish_step(&mut t, &out);
    let views: Vec<Seen> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::View(_)))
        .cloned()
        .collect();
    assert_eq!(views, vec![Seen::View(3), Seen::View(5)]);
}

#[test]
fn a_view_is_never_overtaken_by_a_newer_one_in_the_other_queue() {
    // The main thread still thinks the thread waits in round 1 (its word
    // that the step began is on its way): view 3 goes to the response
    // queue while step 2 runs; then view 5, to the work queue.
    let (mut t, log) = in_round_one();
    let out = route(&mut t, Queue::Response, ack(1, 1));
    assert_eq!(started(&out), Some(2));
    let mut during = vec![];
    t.step(
        WorkInput::Routed {
            queue: Queue::Response,
            item: WorkItem::View(view(3, &[0, 1]).into()),
        },
        &mut during,
    );
    t.step(
        WorkInput::Routed {
            queue: Queue::Work,
            item: WorkItem::View(view(5, &[0, 1]).into()),
        },
        &mut during,
    );
    let _ = finish_step(&mut t, &out);
    let views: Vec<Seen> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::View(_)))
        .cloned()
        .collect();
    assert_eq!(views, vec![Seen::View(3), Seen::View(5)]);
}

#[test]
fn the_overtaking_test_bites_a_thread_that_reads_its_queues_apart() {
    let (mut t, _) = in_round_one();
    t.mutate(crate::Mutation::ViewsOvertaken);
    let out = route(&mut t, Queue::Response, ack(1, 1));
    let mut during = vec![];
    t.step(
        WorkInput::Routed {
            queue: Queue::Response,
            item: WorkItem::View(view(3, &[0, 1]).into()),
        },
        &mut during,
    );
    t.step(
        WorkInput::Routed {
            queue: Queue::Work,
            item: WorkItem::View(view(5, &[0, 1]).into()),
        },
        &mut during,
    );
    let ended =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish_step(&mut t, &out)));
    assert!(
        ended.is_err(),
        "view 5 overtakes view 3: the thread's assertion stops it"
    );
}

#[test]
fn the_order_rule_test_bites_a_thread_that_steps_before_its_responses() {
    let (mut t, _) = in_round_one();
    t.mutate(crate::Mutation::StepBeforeResponses);
    let mut out = vec![];
    t.step(
        WorkInput::Routed {
            queue: Queue::Work,
            item: ack(1, 1),
        },
        &mut out,
    );
    t.step(
        WorkInput::Routed {
            queue: Queue::Response,
            item: WorkItem::View(view(3, &[0, 1]).into()),
        },
        &mut out,
    );
    t.poll(&mut out);
    assert_eq!(
        t.queued(),
        (1, 0),
        "the broken thread stepped with view 3 still queued"
    );
    let _ = route(&mut t, Queue::Work, WorkItem::View(view(5, &[0, 1]).into()));
    let ended =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish_step(&mut t, &out)));
    assert!(
        ended.is_err(),
        "view 5 overtakes view 3: the thread's assertion stops it"
    );
}

#[test]
fn steps_run_one_at_a_time_and_are_numbered_without_gaps() {
    let (mut t, _) = thread_with_log();
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0]).into()));
    assert_eq!(started(&out), Some(1));
    let mut more = vec![];
    t.poll(&mut more);
    assert!(started(&more).is_none(), "no second step while one runs");
    let out = finish_step(&mut t, &out);
    let out = [out, route(&mut t, Queue::Response, ack(0, 1))].concat();
    assert_eq!(started(&out), Some(2));
}

#[test]
fn a_step_that_panics_or_errs_faults_the_thread_once_and_for_all() {
    for (end, kind) in [
        (StepEnd::Panicked, FaultKind::Panic),
        (StepEnd::Errored, FaultKind::Error),
    ] {
        let (mut t, log) = thread_with_log();
        let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
        let step = started(&out).unwrap();
        let mut out = vec![];
        t.step(WorkInput::StepEnded { step, end }, &mut out);
        t.poll(&mut out);
        assert_eq!(
            out,
            vec![
                WorkOutput::Signal(MainInput::StepFinished { thread: 0, step }),
                WorkOutput::Signal(MainInput::Faulted { thread: 0, kind }),
            ]
        );
        assert!(t.has_faulted());
        let n = log.lock().unwrap().len();
        assert!(route(&mut t, Queue::Work, WorkItem::View(view(2, &[0]).into())).is_empty());
        assert_eq!(
            log.lock().unwrap().len(),
            n,
            "a faulted thread takes nothing"
        );
    }
}

#[test]
fn a_thread_that_falls_hopelessly_behind_reports_itself_hung() {
    let (mut t, _) = thread_with_log();
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
    assert!(
        started(&out).is_some(),
        "a step runs: nothing is taken meanwhile"
    );
    let mut out = vec![];
    for _ in 0..QUEUE_ITEMS_MAX {
        t.step(
            WorkInput::Routed {
                queue: Queue::Work,
                item: ack(1, 9),
            },
            &mut out,
        );
    }
    assert!(out.is_empty());
    t.step(
        WorkInput::Routed {
            queue: Queue::Work,
            item: ack(1, 9),
        },
        &mut out,
    );
    assert_eq!(
        out,
        vec![WorkOutput::Signal(MainInput::Faulted {
            thread: 0,
            kind: FaultKind::Hang
        })]
    );
}

#[test]
fn sends_carry_the_thread_and_round() {
    let (mut t, _) = thread_with_log();
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
    let out = finish_step(&mut t, &out);
    let sends: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            WorkOutput::Send { to, msg } => Some((to.clone(), msg.round, msg.thread)),
            _ => None,
        })
        .collect();
    assert_eq!(sends, vec![(Dest::View, 1, 0)]);
    assert!(out.contains(&WorkOutput::Signal(MainInput::EnteredRound {
        thread: 0,
        round: 1
    })));
}

/// A view naming this member as `me` (another incarnation than `member(0)`).
fn view_as(id: u64, me: MemberId, others: &[u16]) -> MembershipChange {
    let mut members: Vec<MemberId> = others.iter().map(|n| member(*n)).collect();
    members.push(me.clone());
    MembershipChange {
        me,
        members,
        ..view(id, &[])
    }
}

/// Its engine died while the thread waited in a round: it lets go of the
/// round, sends nothing more of that membership (not even the ACK of a
/// step that ends after the word came), and makes a new protocol
/// instance at the first view of the job's next registration, whichever
/// queue that view was routed to.
#[test]
fn a_thread_whose_engine_died_lets_go_of_its_round_and_starts_afresh() {
    let (mut t, log) = in_round_one();
    let lost = WorkItem::EngineLost {
        member: Some(member(0)),
    };
    let out = route(&mut t, Queue::Response, lost);
    assert_eq!(
        out,
        vec![WorkOutput::Detached {
            member: member(0),
            thread: 0,
            round: Some(1)
        }]
    );
    assert!(t.member().is_none());
    // An ACK of the old round that was still on its way is nobody's now.
    let out = route(&mut t, Queue::Response, ack(1, 1));
    assert!(out.is_empty(), "{out:?}");
    // The new registration's first view, routed where the main thread's
    // stale word put it.
    let again = MemberId {
        node_incarnation: Incarnation(2),
        ..member(0)
    };
    let out = route(
        &mut t,
        Queue::Response,
        WorkItem::View(view_as(9, again.clone(), &[1]).into()),
    );
    assert_eq!(started(&out), Some(2), "a fresh instance steps at once");
    assert_eq!(t.member(), Some(&again));
    assert_eq!(
        log.lock().unwrap().clone(),
        vec![Seen::View(9)],
        "the new instance's first view"
    );
    // The new instance runs from its first round.
    let out = finish_step(&mut t, &out);
    assert!(
        out.iter()
            .any(|o| matches!(o, WorkOutput::Send { msg, .. } if msg.round == 1)),
        "{out:?}"
    );
}

/// Its engine died during a step, and the next registration's first two
/// views came before the step ended: the fresh instance takes both before
/// its first step, rather than step in a view already gone
/// (random-faults seed 384, round-views).
#[test]
fn a_fresh_instance_takes_every_view_queued_before_its_first_step() {
    let (mut t, log) = thread_with_log();
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
    let step = started(&out).expect("first step");
    let again = MemberId {
        node_incarnation: Incarnation(2),
        ..member(0)
    };
    let out = routed_during_step(
        &mut t,
        step,
        vec![
            WorkItem::EngineLost {
                member: Some(member(0)),
            },
            WorkItem::View(view_as(9, again.clone(), &[]).into()),
            WorkItem::View(view_as(10, again.clone(), &[1]).into()),
        ],
    );
    assert!(started(&out).is_some(), "{out:?}");
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen[seen.len() - 2..].to_vec(),
        vec![Seen::View(9), Seen::View(10)],
        "both views before the first step: {seen:?}"
    );
}

#[test]
fn a_thread_sends_nothing_while_word_of_its_engine_waits() {
    let (mut t, _) = thread_with_log();
    let out = route(&mut t, Queue::Work, WorkItem::View(view(1, &[0, 1]).into()));
    let step = started(&out).expect("first step");
    // The word comes while the step runs; the step then ends with an ACK.
    let out = routed_during_step(
        &mut t,
        step,
        vec![WorkItem::EngineLost {
            member: Some(member(0)),
        }],
    );
    assert!(
        !out.iter().any(|o| matches!(o, WorkOutput::Send { .. })),
        "{out:?}"
    );
    assert!(out
        .iter()
        .any(|o| matches!(o, WorkOutput::Detached { round: Some(1), .. })));
}

#[test]
fn a_main_thread_tells_every_thread_its_engine_died_and_registers_with_the_next() {
    let mut main =
        MainThread::new(2, Dur::from_millis(1000)).sending_every(Some(Dur::from_millis(50)));
    let mut out = vec![];
    main.step(
        T0,
        MainInput::Engine(Event::Registered { me: member(0) }),
        &mut out,
    );
    main.step(
        T0,
        MainInput::EnteredRound {
            thread: 1,
            round: 4,
        },
        &mut out,
    );
    out.clear();
    main.step(T0, MainInput::EngineLost, &mut out);
    let lost = |thread, queue| MainOutput::Route {
        thread,
        queue,
        item: WorkItem::EngineLost {
            member: Some(member(0)),
        },
    };
    assert_eq!(out, vec![lost(0, Queue::Work), lost(1, Queue::Response)]);
    assert!(main.is_detached() && main.me().is_none());
    // Detached, it sends nothing and keeps no ticking.
    out.clear();
    main.step(T0, MainInput::SendTick, &mut out);
    main.step(
        T0,
        MainInput::Submit(JobMsg {
            thread: 0,
            round: 0,
            payload: Arc::from([]),
            priority: false,
        }),
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    main.step(T0, MainInput::EngineBack, &mut out);
    assert_eq!(out, vec![MainOutput::Register]);
    out.clear();
    main.step(
        T0,
        MainInput::Engine(Event::Registered { me: member(0) }),
        &mut out,
    );
    assert!(!main.is_detached());
    assert!(matches!(
        out[..],
        [MainOutput::Timer {
            input: MainInput::SendTick,
            ..
        }]
    ));
}

#[test]
fn the_engine_loss_test_bites_a_main_thread_deaf_to_it() {
    let mut main = MainThread::new(1, Dur::from_millis(1000));
    main.mutate(crate::Mutation::EngineLossUnseen);
    let mut out = vec![];
    main.step(
        T0,
        MainInput::Engine(Event::Registered { me: member(0) }),
        &mut out,
    );
    main.step(T0, MainInput::EngineLost, &mut out);
    main.step(T0, MainInput::EngineBack, &mut out);
    assert!(out.is_empty(), "{out:?}");
}

// ----- the model -----

/// What happens next, in the model's one process.
#[derive(Clone, Debug)]
enum Op {
    /// The engine hands the main thread a view of n0 and these members.
    View(BTreeSet<u16>),
    /// The engine hands the main thread an ACK from `from` for the work
    /// thread's current round plus `offset`.
    Ack { from: u16, offset: i8 },
    /// The main thread takes the oldest signal of its work thread.
    Signal,
    /// The work thread wakes: everything routed so far joins its queues,
    /// and it polls.
    Wake,
    /// The local step running ends.
    EndStep,
    /// The engine hands the main thread the group's next ordered message
    /// (a task), a priority message (US 6,823,512) or not.
    Ordered { priority: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => proptest::collection::btree_set(1u16..4, 0..3).prop_map(Op::View),
        5 => (0u16..4, -1i8..2).prop_map(|(from, offset)| Op::Ack { from, offset }),
        4 => Just(Op::Signal),
        4 => Just(Op::Wake),
        3 => Just(Op::EndStep),
        2 => any::<bool>().prop_map(|priority| Op::Ordered { priority }),
    ]
}

/// A main thread and its work thread, wired as a driver wires them.
struct Model {
    main: MainThread,
    work: WorkThread,
    log: Arc<Mutex<Vec<Seen>>>,
    /// Routed by the main thread, not yet taken into the work thread's queues.
    routed: VecDeque<(Queue, WorkItem)>,
    /// Signals from the work thread, not yet taken by the main thread.
    signals: VecDeque<MainInput>,
    running: Option<u64>,
    next_view: u64,
    /// Views the main thread took, in order.
    views_taken: Vec<u64>,
    /// The tags of the ACKs routed to each queue, in order.
    acks_routed: BTreeMap<Queue, Vec<u64>>,
    next_tag: u64,
    /// The round the work thread last entered.
    round: u64,
    /// Views (`View`) and ordered messages (`Ordered`) in the order the
    /// main thread took them: the engine's one order.
    order: Vec<Seen>,
    next_seq: u64,
    /// Items routed to the work thread so far (it numbers them from 1).
    items_routed: u64,
    /// At a task boundary: the items routed before it, all of which the
    /// thread must take before it begins the next task.
    boundary: Option<u64>,
}

impl Model {
    fn new(mutation: Option<crate::Mutation>) -> Model {
        let (mut work, log) = thread_running(true);
        if let Some(m) = mutation {
            work.mutate(m);
        }
        Model {
            main: MainThread::new(1, Dur::from_millis(1000)).taking_ordered(0),
            work,
            log,
            routed: VecDeque::new(),
            signals: VecDeque::new(),
            running: None,
            next_view: 1,
            views_taken: vec![],
            acks_routed: BTreeMap::new(),
            next_tag: 1,
            round: 0,
            order: vec![],
            next_seq: 1,
            items_routed: 0,
            boundary: None,
        }
    }

    /// Feeds the work thread what the main thread routed, in order.
    fn feed(&mut self, out: &mut Vec<WorkOutput>) {
        for (queue, item) in std::mem::take(&mut self.routed) {
            self.items_routed += 1;
            self.work.step(WorkInput::Routed { queue, item }, out);
        }
    }

    fn main_takes(&mut self, input: MainInput) {
        let mut out = vec![];
        self.main.step(Time(0), input, &mut out);
        for o in out {
            if let MainOutput::Route { queue, item, .. } = o {
                if let WorkItem::Message { msg, .. } = &item {
                    let tag =
                        u64::from_le_bytes(<[u8; 8]>::try_from(&*msg.payload).expect("tagged"));
                    self.acks_routed.entry(queue).or_default().push(tag);
                }
                self.routed.push_back((queue, item));
            }
        }
    }

    fn work_outputs(&mut self, out: Vec<WorkOutput>) -> Result<(), String> {
        for o in out {
            match o {
                WorkOutput::Signal(s) => self.signals.push_back(s),
                WorkOutput::StartStep { step } => {
                    let (response, _) = self.work.queued();
                    if response > 0 {
                        return Err(format!(
                            "step {step} started with {response} item(s) in the response queue"
                        ));
                    }
                    if let Some(mark) = self.boundary.take() {
                        if self.work.oldest_queued().is_some_and(|n| n <= mark) {
                            return Err(format!(
                                "step {step} began the next task with item(s) queued \
                                 before the task boundary still untaken"
                            ));
                        }
                    }
                    self.running = Some(step);
                }
                WorkOutput::RoundStarted { round, .. } => self.round = round,
                _ => {}
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::View(others) => {
                let mut nodes = vec![0];
                nodes.extend(others.iter().copied());
                let change = view(self.next_view, &nodes);
                self.views_taken.push(self.next_view);
                self.order.push(Seen::View(self.next_view));
                self.next_view += 1 + u64::from(*others.first().unwrap_or(&0));
                self.main_takes(MainInput::Engine(Event::View(Box::new(change))));
            }
            Op::Ack { from, offset } => {
                let round = self.round.saturating_add_signed(i64::from(*offset)).max(1);
                self.next_tag += 1;
                if let WorkItem::Message { from, msg } = tagged_ack(*from, round, self.next_tag) {
                    self.main_takes(MainInput::Engine(Event::Message {
                        from,
                        n: 0,
                        payload: msg,
                    }));
                }
            }
            Op::Ordered { priority } => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.order.push(Seen::Ordered(seq));
                let view = ViewId(*self.views_taken.last().expect("a view first"));
                self.main_takes(MainInput::Engine(Event::Ordered {
                    from: member(1),
                    view,
                    seq,
                    payload: JobMsg {
                        thread: 0,
                        round: seq,
                        payload: Arc::from([]),
                        priority: *priority,
                    },
                }));
            }
            Op::Signal => {
                if let Some(s) = self.signals.pop_front() {
                    self.main_takes(s);
                }
            }
            Op::Wake => {
                let mut out = vec![];
                self.feed(&mut out);
                self.work.poll(&mut out);
                self.work_outputs(out)?;
            }
            Op::EndStep => {
                if let Some(step) = self.running.take() {
                    let mut out = vec![];
                    let idle_before = self.idle_count();
                    self.work.step(WorkInput::RunStep { step }, &mut out);
                    // What was routed during the step is queued when it ends.
                    self.feed(&mut out);
                    self.work.step(
                        WorkInput::StepEnded {
                            step,
                            end: StepEnd::Ran,
                        },
                        &mut out,
                    );
                    if self.idle_count() > idle_before {
                        // The step went idle: a task boundary, with all
                        // routed so far queued behind it.
                        self.boundary = Some(self.items_routed);
                    }
                    self.work.poll(&mut out);
                    self.work_outputs(out)?;
                }
            }
        }
        self.check()
    }

    fn idle_count(&self) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|s| **s == Seen::Idle).count()
    }

    /// What the queues promise, checked against what the protocol saw.
    fn check(&self) -> Result<(), String> {
        let seen = self.log.lock().unwrap().clone();
        // Views reach the protocol in the order the main thread took them,
        // none twice.
        let views: Vec<u64> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::View(v) => Some(*v),
                _ => None,
            })
            .collect();
        if views.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "views reached the protocol out of order: {views:?}"
            ));
        }
        if !views.iter().all(|v| self.views_taken.contains(v)) {
            return Err(format!("a view the main thread never took: {views:?}"));
        }
        // Views and ordered messages reach the protocol in the engine's one
        // order, each once (a priority message's two copies included).
        let barriers: Vec<Seen> = seen
            .iter()
            .filter(|s| matches!(s, Seen::View(_) | Seen::Ordered(_)))
            .cloned()
            .collect();
        if !self.order.starts_with(&barriers) {
            return Err(format!(
                "views and ordered messages reached the protocol as {barriers:?}, \
                 the engine's order is {:?}",
                self.order
            ));
        }
        // No ACK reaches the protocol twice, and each queue is FIFO: an
        // ACK never reaches it before one routed to the same queue ahead
        // of it.
        let tags: Vec<u64> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Tag(t) => Some(*t),
                _ => None,
            })
            .collect();
        let unique: BTreeSet<u64> = tags.iter().copied().collect();
        if unique.len() != tags.len() {
            return Err(format!("an ACK reached the protocol twice: {tags:?}"));
        }
        for routed in self.acks_routed.values() {
            let order: Vec<usize> = tags
                .iter()
                .filter_map(|t| routed.iter().position(|r| r == t))
                .collect();
            if order.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!(
                    "a queue's ACKs reached the protocol out of order: {tags:?}"
                ));
            }
        }
        Ok(())
    }

    /// Runs the model until nothing moves, then every view the main thread
    /// took must have reached the protocol (the thread never hangs here).
    fn settle(&mut self) -> Result<(), String> {
        for _ in 0..10_000 {
            if self.signals.is_empty() && self.routed.is_empty() && self.running.is_none() {
                break;
            }
            for op in [Op::Signal, Op::Wake, Op::EndStep] {
                self.apply(&op)?;
            }
        }
        let barriers: Vec<Seen> = self
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Seen::View(_) | Seen::Ordered(_)))
            .cloned()
            .collect();
        if barriers != self.order {
            return Err(format!(
                "took {:?}, the protocol saw {barriers:?}",
                self.order
            ));
        }
        Ok(())
    }
}

/// Runs `ops` on a fresh model; `Err` names the first broken promise.
fn run_model(ops: &[Op], mutation: Option<crate::Mutation>) -> Result<(), String> {
    let mut m = Model::new(mutation);
    m.apply(&Op::View(BTreeSet::from([1])))?;
    for op in ops {
        m.apply(op)?;
    }
    m.settle()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn main_and_work_thread_keep_the_queues_promises(ops in proptest::collection::vec(op(), 0..60)) {
        prop_assert_eq!(run_model(&ops, None), Ok(()));
    }
}

/// The model test bites: with the bug of seed 70 put back, it finds a
/// schedule that breaks a promise (the thread's own assertion counts).
#[test]
fn the_model_catches_a_thread_that_steps_before_its_responses() {
    assert!(model_finds(crate::Mutation::StepBeforeResponses));
}

#[test]
fn the_model_catches_a_thread_whose_views_are_overtaken() {
    assert!(model_finds(crate::Mutation::ViewsOvertaken));
}

#[test]
fn the_model_catches_a_thread_that_takes_a_priority_message_twice() {
    assert!(model_finds(crate::Mutation::PriorityTakenTwice));
}

#[test]
fn the_model_catches_a_thread_that_begins_a_task_before_its_boundary() {
    assert!(model_finds(crate::Mutation::NoTaskBoundary));
}

/// Whether 2000 random schedules find a broken promise in `mutation`.
fn model_finds(mutation: crate::Mutation) -> bool {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 2000,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let found = runner.run(&proptest::collection::vec(op(), 0..60), |ops| {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_model(&ops, Some(mutation))
        }));
        match caught {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(proptest::test_runner::TestCaseError::fail(e)),
            Err(_) => Err(proptest::test_runner::TestCaseError::fail(
                "the thread panicked",
            )),
        }
    });
    found.is_err()
}

fn ordered(seq: u64, priority: bool) -> WorkItem {
    WorkItem::Ordered {
        from: member(1),
        view: ViewId(1),
        seq,
        msg: JobMsg {
            thread: 0,
            round: seq,
            payload: Arc::from([]),
            priority,
        },
    }
}

#[test]
fn ordered_messages_reach_the_protocol_once_each_in_their_order() {
    // A priority message is routed to both queues (US 6,823,512). With the
    // ACK that ends the round first, the thread goes on between rounds,
    // where it empties its response queue before it steps: there the
    // priority message's copy must not overtake the older ordered message
    // in the work queue; the other copy is not handed over again.
    let (mut t, log) = in_round_one();
    let mut out = vec![];
    for (queue, item) in [
        (Queue::Work, ack(1, 1)),
        (Queue::Work, ordered(1, false)),
        (Queue::Response, ordered(2, true)),
        (Queue::Work, ordered(2, true)),
        (Queue::Work, ordered(3, false)),
    ] {
        t.step(WorkInput::Routed { queue, item }, &mut out);
    }
    t.poll(&mut out);
    let _ = finish_step(&mut t, &out);
    let _ = route(&mut t, Queue::Response, ack(1, 2));
    let seen: Vec<Seen> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::Ordered(_)))
        .cloned()
        .collect();
    assert_eq!(
        seen,
        vec![Seen::Ordered(1), Seen::Ordered(2), Seen::Ordered(3)]
    );
}

#[test]
fn a_task_begun_on_an_ordered_message_takes_what_is_queued_before_its_first_step() {
    // tasks.toml swarm seed 173: waiting in a round, the thread takes an
    // ordered message that makes its protocol abandon the task and begin
    // another (no round open). A view routed behind it must reach the
    // protocol before the new task's first step, as at any task boundary.
    let run = |mutation: Option<crate::Mutation>| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let mut t = WorkThread::new(
            0,
            Arc::new(move |_| {
                let mut script = Script::new(l.clone());
                script.ordered_starts_task = true;
                Box::new(script)
            }),
        );
        if let Some(m) = mutation {
            t.mutate(m);
        }
        let (mut t, log) = in_round_one_of((t, log));
        let mut out = vec![];
        t.step(
            WorkInput::Routed {
                queue: Queue::Work,
                item: ordered(1, false),
            },
            &mut out,
        );
        t.step(
            WorkInput::Routed {
                queue: Queue::Work,
                item: WorkItem::View(view(2, &[0, 1]).into()),
            },
            &mut out,
        );
        t.poll(&mut out);
        assert!(started(&out).is_some(), "the new task's first step began");
        let seen = log.lock().unwrap().clone();
        seen
    };
    assert_eq!(
        run(None),
        vec![Seen::Ordered(1), Seen::View(2)],
        "the view reached the protocol before the step"
    );
    assert_eq!(
        run(Some(crate::Mutation::NoTaskBoundary)),
        vec![Seen::Ordered(1)],
        "without the boundary the step begins with the view queued"
    );
}
