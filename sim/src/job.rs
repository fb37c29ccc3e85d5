//! A job as madsim tasks: one main thread and its work threads.
//!
//! The main thread's decisions live in `vigil_engine::job::MainThread`; this
//! module only moves messages between tasks and queues, and injects the
//! scenario's work-thread faults.
//!
//! Invariant: the main thread awaits nothing but its inbox. Every queue it
//! writes to is unbounded, so routing never blocks; the watchdog is a timer
//! task that posts into that same inbox.

use crate::node::EngineIn;
use crate::trace::TraceEvent;
use crate::world::{Mutation, World};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use vigil_engine::job::{FaultKind, JobMsg, MainInput, MainOutput, MainThread, Queue, WorkItem};
use vigil_engine::{Dest, Event, Input, LocalKey, MemberId, Name, NodeId, Time};
use vigil_protocols::{ErasedDriver, Next};

/// The payload of an injected panic; the panic hook keeps it quiet.
pub const INJECTED_PANIC: &str = "vigil: injected work-thread panic";

/// Inbox lags from this long up are recorded in the trace.
const INBOX_LAG_TRACED: vigil_engine::Dur = vigil_engine::Dur::from_millis(1);

/// What the main thread takes from its inbox.
pub enum MainMsg {
    Engine {
        event: Event<JobMsg>,
        queued_at: Time,
    },
    Signal(MainInput),
}

/// A fault the controller has armed on a work thread; it strikes at the
/// thread's next local step.
pub type FaultFlag = Arc<Mutex<Option<FaultKind>>>;

/// The controller's handle on a running job.
pub struct JobHandle {
    pub key: LocalKey,
    pub inbox: UnboundedSender<MainMsg>,
    pub main: madsim::task::AbortHandle,
    pub faults: Vec<FaultFlag>,
    pub member: Arc<Mutex<Option<MemberId>>>,
}

/// Aborts the work threads when the main thread ends, however it ends.
struct AbortOnDrop(Vec<madsim::task::JoinHandle<()>>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Tells the engine the job's connection closed if the main thread dies
/// without unregistering (a job kill), as a process exit would.
struct CloseGuard {
    key: LocalKey,
    engine: UnboundedSender<EngineIn>,
    armed: bool,
}
impl Drop for CloseGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self
                .engine
                .unbounded_send(EngineIn::Local(Input::Closed { key: self.key }));
        }
    }
}

/// Starts job `name` on `node`. Must run on that node.
pub fn start(world: &Arc<World>, node: NodeId, name: &str) {
    let shared = &world.nodes[usize::from(node.0)];
    let mut live = shared.live.lock().expect("live");
    let Some(engine) = live.engine_tx.clone() else {
        return;
    };
    if live.jobs.contains_key(name) {
        return;
    }
    let spec = world
        .scenario
        .job(name)
        .expect("jobs started are in the scenario")
        .clone();
    live.next_key += 1;
    let key = LocalKey(live.next_key);
    let (inbox_tx, inbox_rx) = unbounded::<MainMsg>();
    let faults: Vec<FaultFlag> = (0..spec.work_threads)
        .map(|t| Arc::new(Mutex::new(live.armed.remove(&(name.to_string(), t)))))
        .collect();
    let member = Arc::new(Mutex::new(None));
    let ctx = JobCtx {
        world: world.clone(),
        node,
        key,
        job: Name::new(&spec.name),
        group: Name::new(&spec.group),
        engine,
        inbox_tx: inbox_tx.clone(),
        work_deadline: spec.work_deadline,
        step_time: spec.step_time,
        member: member.clone(),
    };
    let main = madsim::task::spawn(main_thread(
        ctx,
        inbox_rx,
        faults.clone(),
        spec.work_threads,
    ));
    live.jobs.insert(
        name.to_string(),
        JobHandle {
            key,
            inbox: inbox_tx,
            main: main.abort_handle(),
            faults,
            member,
        },
    );
}

#[derive(Clone)]
struct JobCtx {
    world: Arc<World>,
    node: NodeId,
    key: LocalKey,
    job: Name,
    group: Name,
    engine: UnboundedSender<EngineIn>,
    inbox_tx: UnboundedSender<MainMsg>,
    work_deadline: std::time::Duration,
    step_time: std::time::Duration,
    member: Arc<Mutex<Option<MemberId>>>,
}

async fn main_thread(
    ctx: JobCtx,
    mut inbox: UnboundedReceiver<MainMsg>,
    faults: Vec<FaultFlag>,
    threads: u16,
) {
    let mut guard = CloseGuard {
        key: ctx.key,
        engine: ctx.engine.clone(),
        armed: true,
    };
    let register = Input::Register {
        key: ctx.key,
        job: ctx.job.clone(),
        group: ctx.group.clone(),
    };
    let _ = ctx.engine.unbounded_send(EngineIn::Register {
        input: register,
        inbox: ctx.inbox_tx.clone(),
    });
    let mut main = MainThread::new(threads, vigil_engine::Dur::from_std(ctx.work_deadline));
    let mut queues = Vec::new();
    let mut workers = AbortOnDrop(Vec::new());
    for (t, flag) in faults.into_iter().enumerate() {
        let (resp_tx, resp_rx) = unbounded::<WorkItem>();
        let (work_tx, work_rx) = unbounded::<WorkItem>();
        queues.push((resp_tx, work_tx));
        let handle =
            madsim::task::spawn(work_thread(ctx.clone(), t as u16, flag, resp_rx, work_rx));
        workers.0.push(handle);
    }
    let mut out = Vec::new();
    while let Some(msg) = inbox.next().await {
        let now = ctx.world.now();
        let input = match msg {
            MainMsg::Engine { event, queued_at } => {
                if ctx.world.mutation == Some(Mutation::DeafToDepartures)
                    && matches!(&event, Event::View(c) if !c.left.is_empty())
                {
                    continue;
                }
                let me = main.me().cloned();
                match &event {
                    Event::Registered { me } => {
                        *ctx.member.lock().expect("member") = Some(me.clone());
                        ctx.world.record(TraceEvent::Registered {
                            member: me.clone(),
                            group: ctx.group.clone(),
                        });
                    }
                    Event::View(change) => {
                        *ctx.member.lock().expect("member") = Some(change.me.clone());
                        ctx.world.record(TraceEvent::View {
                            change: change.clone(),
                        });
                    }
                    Event::Message { from, payload } => ctx.world.record(TraceEvent::Message {
                        to: me.clone().expect("registered before any message"),
                        from: from.clone(),
                        thread: payload.thread,
                        round: payload.round,
                    }),
                }
                // Only lags worth a look reach the trace; the check's bound is larger.
                let lag = now.saturating_sub(queued_at);
                if lag >= INBOX_LAG_TRACED {
                    let member = main.me().cloned().or(me);
                    if let Some(member) = member {
                        ctx.world.record(TraceEvent::InboxLag {
                            member,
                            lag_ns: lag.0,
                        });
                    }
                }
                if ctx.world.mutation == Some(Mutation::BlockingMain) {
                    madsim::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                MainInput::Engine(event)
            }
            MainMsg::Signal(input) => input,
        };
        main.step(now, input, &mut out);
        for o in out.drain(..) {
            match o {
                MainOutput::Route {
                    thread,
                    queue,
                    item,
                } => {
                    let (resp, work) = &queues[usize::from(thread)];
                    let q = if queue == Queue::Response { resp } else { work };
                    let _ = q.unbounded_send(item);
                }
                MainOutput::ArmWatchdog {
                    thread,
                    at,
                    confirm,
                } => {
                    let inbox = ctx.inbox_tx.clone();
                    let when = ctx.world.instant(at);
                    madsim::task::spawn(async move {
                        madsim::time::sleep_until(when).await;
                        let _ = inbox.unbounded_send(MainMsg::Signal(MainInput::Watchdog {
                            thread,
                            confirm,
                        }));
                    });
                }
                MainOutput::Unregister { reason, fault } => {
                    let _ = ctx
                        .engine
                        .unbounded_send(EngineIn::Local(Input::Unregister {
                            key: ctx.key,
                            reason,
                        }));
                    guard.armed = false;
                    if let Some(member) = main.me().cloned() {
                        ctx.world.record(TraceEvent::Unregistered {
                            member,
                            reason,
                            fault,
                        });
                    }
                    ctx.world.job_gone(ctx.node, ctx.job.as_str(), ctx.key);
                }
            }
        }
        if main.is_gone() {
            return; // dropping `workers` stops the work threads
        }
    }
}

/// Sends this work thread's ACK for `round` through the engine.
fn send_ack(ctx: &JobCtx, thread: u16, round: u64, payload: std::sync::Arc<[u8]>, to: Dest) {
    let send = Input::Send {
        key: ctx.key,
        to,
        payload: JobMsg {
            thread,
            round,
            payload,
        },
    };
    let _ = ctx.engine.unbounded_send(EngineIn::Local(send));
}

/// Records the decisions and the completed round of the step just run.
fn record_step(ctx: &JobCtx, thread: u16, me: &MemberId, d: &mut dyn ErasedDriver) {
    if let Some(c) = d.take_completion() {
        ctx.world.record(TraceEvent::RoundCompleted {
            member: me.clone(),
            thread,
            round: c.round,
            view: c.view,
            state: c.state,
        });
    }
    for decision in d.take_decisions() {
        ctx.world.record(TraceEvent::ProtocolOutcome {
            member: me.clone(),
            thread,
            protocol: d.protocol_name(),
            instance: decision.instance,
            outcome: decision.outcome,
            rounds: decision.rounds,
            proposal: decision.proposal,
            agreement: d.agreement(),
            binding: decision.binding,
        });
    }
}

async fn work_thread(
    ctx: JobCtx,
    thread: u16,
    fault: FaultFlag,
    mut resp: UnboundedReceiver<WorkItem>,
    mut work: UnboundedReceiver<WorkItem>,
) {
    let signal = |input: MainInput| {
        let _ = ctx.inbox_tx.unbounded_send(MainMsg::Signal(input));
    };
    let mut driver: Option<Box<dyn ErasedDriver>> = None;
    let mut step_seq: u64 = 0;
    // Set when the protocol restarts its round after a view change.
    let mut force_step = false;
    // Set when the protocol finished: the thread no longer steps, but still
    // answers members behind it.
    let mut finished = false;
    let early = ctx.world.mutation == Some(Mutation::EarlyRound);
    // Before its first view, a thread has no round to run: it waits for work.
    loop {
        let in_round = driver.as_deref().map(|d| {
            // The broken variant: go on when one other member is missing.
            let early_ok = early && {
                let missing = d.missing();
                let me = ctx.member.lock().expect("member").clone();
                missing.len() == 1 && Some(&missing[0]) != me.as_ref()
            };
            let complete = d.round_complete() || early_ok;
            finished || (d.round() > 0 && !complete && !force_step)
        });
        let item = match in_round {
            None => match work.next().await {
                Some(item) => item,
                None => return,
            },
            Some(true) => {
                // In a round: anything queued for later is looked at first.
                match work.try_recv() {
                    Ok(item) => item,
                    Err(_) => match futures::future::select(resp.next(), work.next()).await {
                        futures::future::Either::Left((Some(item), _)) => item,
                        futures::future::Either::Right((Some(item), _)) => item,
                        _ => return,
                    },
                }
            }
            Some(false) => {
                // Items routed while the thread waited in its round come
                // before the step: a view change among them must be taken
                // before any view routed during the step, which goes to the
                // work queue and would otherwise be read first (random-faults
                // swarm seed 70: a member applied view 155, then the older
                // 145, and ignored a member that only 155 held).
                if let Ok(item) = resp.try_recv() {
                    item
                } else {
                    // Between rounds: the local step.
                    force_step = false;
                    step_seq += 1;
                    signal(MainInput::StepStarted {
                        thread,
                        step: step_seq,
                    });
                    let me = ctx
                        .member
                        .lock()
                        .expect("member")
                        .clone()
                        .expect("a member runs steps");
                    let injected = fault.lock().expect("fault").take();
                    let next = {
                        let d = driver.as_mut().expect("driver");
                        if injected == Some(FaultKind::Hang) {
                            None
                        } else {
                            let next = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                if injected == Some(FaultKind::Panic) {
                                    std::panic::panic_any(INJECTED_PANIC);
                                }
                                if injected == Some(FaultKind::Error) {
                                    return Next::Fault("injected work-thread error".into());
                                }
                                d.step()
                            }));
                            // What the step decided is decided now; a crash
                            // during the rest of the step cannot undo it.
                            if next.is_ok() {
                                record_step(&ctx, thread, &me, d.as_mut());
                            }
                            Some(next)
                        }
                    };
                    let Some(next) = next else {
                        // A hang: the step never returns; the watchdog notices.
                        std::future::pending::<()>().await;
                        return;
                    };
                    let mut step_time = ctx.step_time;
                    if ctx.world.mutation == Some(Mutation::UnseededRandom) {
                        // The bug this mutation plants: randomness outside the seed.
                        use rand::Rng;
                        step_time += std::time::Duration::from_nanos(
                            rand::rngs::OsRng.gen_range(0..1_000_000),
                        );
                    }
                    madsim::time::sleep(step_time).await;
                    signal(MainInput::StepFinished {
                        thread,
                        step: step_seq,
                    });
                    match next {
                        Err(_) => {
                            signal(MainInput::Faulted {
                                thread,
                                kind: FaultKind::Panic,
                            });
                            return;
                        }
                        Ok(Next::Fault(_)) => {
                            signal(MainInput::Faulted {
                                thread,
                                kind: FaultKind::Error,
                            });
                            return;
                        }
                        Ok(Next::Done(outcome)) => {
                            ctx.world.record(TraceEvent::ProtocolDone {
                                member: me,
                                thread,
                                outcome,
                            });
                            finished = true;
                        }
                        Ok(Next::Restart) => continue,
                        Ok(Next::Send { round, payload }) => {
                            let view = driver.as_deref().expect("driver").view_id();
                            ctx.world.record(TraceEvent::RoundStarted {
                                member: me,
                                thread,
                                round,
                                view,
                            });
                            signal(MainInput::EnteredRound { thread, round });
                            send_ack(&ctx, thread, round, payload, Dest::View);
                        }
                    }
                    continue;
                }
            }
        };
        match item {
            WorkItem::View(change) => {
                if ctx.world.mutation == Some(Mutation::IgnoreDepartures) && !change.left.is_empty()
                {
                    continue;
                }
                let d = driver.get_or_insert_with(|| {
                    ctx.world
                        .protocol_driver(&ctx.job, thread, change.me.clone())
                });
                match d.on_view(&change) {
                    // A finished protocol still resends its last ACK in a
                    // new view, for the members behind it.
                    Some(Next::Send { round, payload }) => {
                        send_ack(&ctx, thread, round, payload, Dest::View);
                    }
                    _ if finished => {}
                    Some(Next::Restart) => force_step = true,
                    Some(Next::Done(outcome)) => {
                        ctx.world.record(TraceEvent::ProtocolDone {
                            member: change.me.clone(),
                            thread,
                            outcome,
                        });
                        finished = true;
                    }
                    Some(Next::Fault(_)) => {
                        signal(MainInput::Faulted {
                            thread,
                            kind: FaultKind::Error,
                        });
                        return;
                    }
                    None => {}
                }
            }
            WorkItem::Message { from, msg } => {
                if let Some(d) = driver.as_mut() {
                    if let Some((to, round, payload)) = d.on_ack(from, msg.round, &msg.payload) {
                        if ctx.world.detail {
                            let me = ctx.member.lock().expect("member").clone();
                            if let Some(me) = me {
                                ctx.world.record(TraceEvent::Answer {
                                    from: me,
                                    to: to.clone(),
                                    thread,
                                    round,
                                });
                            }
                        }
                        send_ack(&ctx, thread, round, payload, Dest::Member(to));
                    }
                }
            }
        }
    }
}
