//! What a job's threads record and how a local step runs, for every
//! driver: the drivers differ in how they wait (tasks, or an agenda of
//! events), not in what a thread does.

use crate::mutation::{mutated, Mutation};
use crate::protocols::{Registry, Setup, TaskDef};
use crate::scenario::Scenario;
use crate::trace::{Outcome, TraceEvent};
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use vigil_engine::job::{FaultKind, JobMsg, Rounds, StepEnd, WorkInput, WorkOutput, WorkThread};
use vigil_engine::{Dur, Event, MemberId, Name, Time};

/// The payload of an injected panic; the panic hook keeps it quiet.
pub const INJECTED_PANIC: &str = "vigil: injected work-thread panic";

/// Inbox lags from this long up are recorded in the trace.
pub(super) const INBOX_LAG_TRACED: Dur = Dur::from_millis(1);

/// Most engine events one main thread's inbox holds. The engine never waits
/// for a main thread (routing must not block it), so the inbox is a queue
/// without back-pressure; a main thread this far behind has stopped taking
/// its events (the `main-thread-responsive` check reports far less), so
/// reaching the bound ends the run as a failure naming it rather than
/// letting memory grow.
pub(super) const MAIN_INBOX_MAX: usize = 1 << 16;

/// What a main thread does with an engine event, before its machine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Take {
    /// It reads it.
    Read,
    /// It drops it (the broken variant `deaf-to-departures`).
    Ignore,
    /// It stops taking events until its job is asked to leave (the broken
    /// variant `main-blocks-until-leave`); the event stays unread.
    Block,
}

/// How a main thread under `mutation` takes `event`.
pub(super) fn take(mutation: Option<Mutation>, event: &Event<JobMsg>) -> Take {
    let departure = matches!(event, Event::View(c) if !c.left.is_empty());
    if departure && mutated!(mutation, MainBlocksUntilLeave) {
        Take::Block
    } else if departure && mutated!(mutation, DeafToDepartures) {
        Take::Ignore
    } else {
        Take::Read
    }
}

/// What the trace says of an engine event a main thread took, and the
/// member it names this job (once registered): `me` is the job's member
/// before the event.
pub(super) fn taken(
    event: &Event<JobMsg>,
    me: Option<&MemberId>,
    group: &Name,
) -> (TraceEvent, Option<MemberId>) {
    match event {
        Event::Registered { me } => (
            TraceEvent::Registered {
                member: me.clone(),
                group: group.clone(),
            },
            Some(me.clone()),
        ),
        Event::View(change) => (
            TraceEvent::View {
                change: change.clone(),
            },
            Some(change.me.clone()),
        ),
        Event::Ordered {
            from,
            view,
            seq,
            payload,
        } => (
            TraceEvent::Ordered {
                to: me.cloned().expect("registered before any message"),
                from: from.clone(),
                view: *view,
                seq: *seq,
                n: payload.round,
            },
            None,
        ),
        Event::Message { from, n, payload } => (
            TraceEvent::Message {
                to: me.cloned().expect("registered before any message"),
                from: from.clone(),
                n: *n,
                thread: payload.thread,
                round: payload.round,
            },
            None,
        ),
    }
}

/// What the trace says of an engine event a main thread took `now`,
/// queued at `queued_at`, if it waited long enough to be worth a look (the
/// check's bound is larger): `member` is the job's member as it took it.
pub(super) fn inbox_lag(
    now: Time,
    queued_at: Time,
    member: Option<MemberId>,
) -> Option<TraceEvent> {
    let lag = now.saturating_sub(queued_at);
    (lag >= INBOX_LAG_TRACED).then_some(())?;
    Some(TraceEvent::InboxLag {
        member: member?,
        lag_ns: lag.0,
    })
}

/// What the trace says of a fault injected into local step `step` of
/// work thread `thread` (fault number `index` of the scenario armed it).
pub(super) fn step_fault(
    machine: &WorkThread,
    thread: u16,
    step: u64,
    kind: FaultKind,
    index: usize,
) -> TraceEvent {
    TraceEvent::StepFault {
        member: machine
            .member()
            .cloned()
            .expect("steps start after the first view"),
        thread,
        step,
        kind,
        fault: index,
    }
}

/// What the trace says of a main thread that unregistered its job: who
/// left and why; or, for a job whose engine was gone (no membership to
/// leave), that the job ended.
pub(super) fn unregistered(
    main: &vigil_engine::job::MainThread,
    node: vigil_engine::NodeId,
    job: &vigil_engine::Name,
    reason: vigil_engine::LeaveReason,
    fault: Option<(u16, FaultKind)>,
) -> Option<TraceEvent> {
    match main.me() {
        Some(member) => Some(TraceEvent::Unregistered {
            member: member.clone(),
            reason,
            fault,
        }),
        None if main.is_detached() => Some(TraceEvent::JobEnded {
            node,
            job: job.clone(),
            reason,
            fault,
        }),
        None => None,
    }
}

/// The main thread of a job as the scenario describes it: it sends an
/// ordered message every `ordered_every`, and routes the group's ordered
/// messages to the work thread of a job that runs tasks.
pub(super) fn main_machine(spec: &crate::scenario::Job) -> vigil_engine::job::MainThread {
    let main =
        vigil_engine::job::MainThread::new(spec.work_threads, Dur::from_std(spec.work_deadline))
            .sending_every(spec.ordered_every.map(Dur::from_std));
    if spec.protocol == crate::scenario::TASKS_PROTOCOL {
        main.taking_ordered(0)
    } else {
        main
    }
}

/// A new protocol instance for work thread `thread` of `job`, as member `me`.
pub(super) fn protocol(
    registry: &Registry,
    scenario: &Scenario,
    mutation: Option<Mutation>,
    job: &Name,
    thread: u16,
    me: MemberId,
) -> Box<dyn Rounds> {
    let spec = scenario.job(job.as_str()).expect("a scenario job");
    let def = registry
        .get(&spec.protocol)
        .expect("scenarios name registered protocols");
    // The tasks submitted to the job's group, each by its number.
    let tasks: Vec<TaskDef> = (scenario.tasks.iter().enumerate())
        .filter(|(_, t)| {
            scenario
                .job(&t.member.job)
                .is_some_and(|j| j.group == spec.group)
        })
        .map(|(i, t)| TaskDef {
            id: i as u32,
            protocol: t.protocol.clone(),
            options: t.options.clone(),
        })
        .collect();
    let setup = Setup {
        options: &spec.options,
        job: &spec.name,
        thread,
        tasks: &tasks,
        registry,
        mutation,
    };
    def.driver(&setup, me)
}

/// How a local step ended, or that it never will.
pub(super) enum Ran {
    /// A hang: the step never returns; the main thread's watchdog notices.
    Hung,
    /// The step is over (once its time has passed), with what its body
    /// decided.
    Ended(StepEnd, Vec<WorkOutput>),
}

/// Runs local step `step`'s body, or the fault armed on it, catching a panic.
pub(super) fn run_step(machine: &mut WorkThread, step: u64, injected: Option<FaultKind>) -> Ran {
    match injected {
        Some(FaultKind::Hang) => Ran::Hung,
        Some(FaultKind::Error) => Ran::Ended(StepEnd::Errored, Vec::new()),
        Some(FaultKind::Panic) => {
            let caught = std::panic::catch_unwind(|| std::panic::panic_any(INJECTED_PANIC));
            assert!(caught.is_err());
            Ran::Ended(StepEnd::Panicked, Vec::new())
        }
        None => {
            let mut body = Vec::new();
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                machine.step(WorkInput::RunStep { step }, &mut body)
            }));
            match ran {
                Ok(()) => Ran::Ended(StepEnd::Ran, body),
                Err(_) => Ran::Ended(StepEnd::Panicked, Vec::new()),
            }
        }
    }
}

/// How long a local step takes.
/// How long a node that runs `slow` thousandths slower takes for `d`.
pub(super) fn slowed(d: Duration, slow: u32) -> Duration {
    if slow <= 1000 {
        return d;
    }
    Duration::from_nanos((d.as_nanos() * u128::from(slow) / 1000) as u64)
}

/// What a slow node's engine spends on each input: `factor - 1` ms.
pub(super) fn engine_cost(slow: u32) -> Duration {
    Duration::from_micros(u64::from(slow.saturating_sub(1000)))
}

pub(super) fn step_time(base: Duration, mutation: Option<Mutation>) -> Duration {
    if mutated!(mutation, UnseededRandom) {
        // The bug this mutation plants: randomness outside the seed.
        use rand::Rng;
        // layout-allow: the planted bug is unseeded randomness.
        return base + Duration::from_nanos(rand::rngs::OsRng.gen_range(0..1_000_000));
    }
    base
}

/// What the trace says of a work thread's report, if it is one (signals,
/// sends and steps are the driver's to carry out).
pub(super) fn record(thread: u16, o: WorkOutput, detail: bool) -> Option<TraceEvent> {
    Some(match o {
        WorkOutput::Signal(_) | WorkOutput::StartStep { .. } | WorkOutput::Send { .. } => {
            return None
        }
        WorkOutput::RoundStarted {
            member,
            round,
            view,
        } => TraceEvent::RoundStarted {
            member,
            thread,
            round,
            view,
        },
        WorkOutput::Completed { member, completion } => TraceEvent::RoundCompleted {
            member,
            thread,
            round: completion.round,
            view: completion.view,
            state: completion.state,
        },
        WorkOutput::Decided {
            member,
            protocol,
            agreement,
            decision,
        } => TraceEvent::ProtocolOutcome(Box::new(Outcome {
            member,
            thread,
            protocol,
            instance: decision.instance,
            outcome: decision.outcome,
            rounds: decision.rounds,
            proposal: decision.proposal,
            agreement,
            binding: decision.binding,
            unanimous: decision.unanimous,
        })),
        WorkOutput::Voted { member, vote } => TraceEvent::Vote {
            member,
            thread,
            instance: vote.instance,
            proposal: vote.proposal,
            yes: vote.yes,
        },
        WorkOutput::Done { member, outcome } => TraceEvent::ProtocolDone {
            member,
            thread,
            outcome,
        },
        WorkOutput::Probe { member, name } => TraceEvent::Probe {
            node: member.node,
            name,
        },
        WorkOutput::Task { member, event } => TraceEvent::Task {
            member,
            thread,
            event,
        },
        WorkOutput::Detached {
            member,
            thread,
            round,
        } => TraceEvent::Detached {
            member,
            thread,
            round,
        },
        WorkOutput::Answered { from, to, round } => {
            if !detail {
                return None;
            }
            TraceEvent::Answer {
                from,
                to,
                thread,
                round,
            }
        }
    })
}
