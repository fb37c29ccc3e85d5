//! A job as madsim tasks: one main thread and its work threads.
//!
//! The main thread's decisions live in `vigil_engine::job::MainThread`; this
//! module only moves messages between tasks and queues, and injects the
//! scenario's work-thread faults.
//!
//! Invariant: the main thread awaits nothing but its inbox. Every queue it
//! writes to is unbounded, so routing never blocks; the watchdog is a timer
//! task that posts into that same inbox.

use super::super::faults::{self, JobEnded};
use super::super::threads::{self, Ran, Take};
use super::chan::{unbounded, Receiver as UnboundedReceiver, Sender as UnboundedSender};
use super::wires::{EngineIn, FaultFlag, JobHandle, MainMsg, Pending};
use super::world::World;
use crate::mutation::mutated;
use crate::trace::TraceEvent;
use futures::{FutureExt, StreamExt};

use std::sync::{Arc, Mutex};
use vigil_engine::job::{
    MainInput, MainOutput, MakeRounds, Queue, StepEnd, WorkInput, WorkItem, WorkOutput, WorkThread,
};
use vigil_engine::{Input, LocalKey, MemberId, Name, NodeId};

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
    world: Arc<World>,
    node: NodeId,
    armed: bool,
}
impl Drop for CloseGuard {
    fn drop(&mut self) {
        if self.armed {
            let closed = EngineIn::Local(Input::Closed { key: self.key });
            self.world.to_engine(self.node, closed);
        }
    }
}

/// Starts job `name` on `node` at once, from the node or from off it (a
/// fault's `job-join`: the job runs as soon as the fault has struck, for
/// the next fault at the instant). Its main thread is spawned on the node.
pub fn start(world: &Arc<World>, node: NodeId, name: &str) {
    let Some(on) = madsim::runtime::Handle::current().get_node(world.madsim_id(node.0)) else {
        return;
    };
    let shared = &world.nodes[usize::from(node.0)];
    let mut live = shared.live.lock().expect("live");
    if live.engine_tx.is_none() || live.jobs.contains_key(name) {
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
    let pending: Pending = Arc::default();
    let faults: Vec<FaultFlag> = (0..spec.work_threads)
        .map(|t| Arc::new(Mutex::new(live.armed.remove(&(name.to_string(), t)))))
        .collect();
    let member = Arc::new(Mutex::new(None));
    let (job, group) = (Name::new(&spec.name), Name::new(&spec.group));
    let ctx = JobCtx {
        world: world.clone(),
        node,
        key,
        job,
        group,
        inbox_tx: inbox_tx.clone(),
        step_time: spec.step_time,
        member: member.clone(),
        pending: pending.clone(),
    };
    let main = on.spawn(main_thread(ctx, inbox_rx, faults.clone()));
    live.jobs.insert(
        name.to_string(),
        JobHandle {
            key,
            inbox: inbox_tx,
            main: main.abort_handle(),
            faults,
            member,
            pending,
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
    inbox_tx: UnboundedSender<MainMsg>,
    step_time: std::time::Duration,
    member: Arc<Mutex<Option<MemberId>>>,
    pending: Pending,
}

impl JobCtx {
    /// Hands the node's engine `msg`, if it has one now.
    fn to_engine(&self, msg: EngineIn) {
        self.world.to_engine(self.node, msg);
    }

    /// Registers the job with the node's engine; its inbox comes along.
    fn register(&self) {
        let register = Input::Register {
            key: self.key,
            job: self.job.clone(),
            group: self.group.clone(),
        };
        self.to_engine(EngineIn::Register {
            input: register,
            inbox: self.inbox_tx.clone(),
            pending: self.pending.clone(),
        });
    }
}

async fn main_thread(ctx: JobCtx, mut inbox: UnboundedReceiver<MainMsg>, faults: Vec<FaultFlag>) {
    let mut guard = CloseGuard {
        key: ctx.key,
        world: ctx.world.clone(),
        node: ctx.node,
        armed: true,
    };
    ctx.register();
    #[allow(unused_mut)]
    let spec = ctx
        .world
        .scenario
        .job(ctx.job.as_str())
        .expect("a scenario job");
    let mut main = super::super::threads::main_machine(spec);
    #[cfg(feature = "mutations")]
    if let Some(m) = ctx.world.mutation.and_then(|m| m.engine()) {
        main.mutate(m);
    }
    let mut queues = Vec::new();
    let mut workers = AbortOnDrop(Vec::new());
    for (t, flag) in faults.into_iter().enumerate() {
        // One channel carries both queues' items, in the order they were
        // routed: the work thread's machine keeps the two queues.
        let (routed_tx, routed_rx) = unbounded::<(Queue, WorkItem)>();
        queues.push(routed_tx);
        let handle = madsim::task::spawn(work_thread(ctx.clone(), t as u16, flag, routed_rx));
        workers.0.push(handle);
    }
    let mut out = Vec::new();
    // The broken variant `main-blocks-until-leave`: set once the main
    // thread blocks; it takes nothing more but the word to leave.
    let mut blocked = false;
    while let Some(msg) = inbox.next().await {
        let mut now = ctx.world.now();
        if blocked && !matches!(msg, MainMsg::Signal(MainInput::Leave)) {
            continue;
        }
        let input = match msg {
            MainMsg::Engine { event, queued_at } => {
                ctx.pending.lock().expect("pending").pop_front();
                match threads::take(ctx.world.mutation, &event) {
                    Take::Read => {}
                    Take::Ignore => continue,
                    Take::Block => {
                        // It stops taking events, as if waiting on a local
                        // resource, until its job is asked to leave.
                        ctx.pending.lock().expect("pending").push_front(queued_at);
                        blocked = true;
                        continue;
                    }
                }
                let me = main.me().cloned();
                let (record, member) = threads::taken(&event, me.as_ref(), &ctx.group);
                if let Some(member) = member {
                    *ctx.member.lock().expect("member") = Some(member);
                }
                ctx.world.record(record);
                if let Some(lag) = threads::inbox_lag(now, queued_at, main.me().cloned().or(me)) {
                    ctx.world.record(lag);
                }
                if mutated!(ctx.world.mutation, BlockingMain) {
                    madsim::time::sleep(std::time::Duration::from_millis(10)).await;
                    now = ctx.world.now();
                }
                MainInput::Engine(event)
            }
            MainMsg::Signal(input) => input,
        };
        // The main thread reads its node's clock.
        main.step(ctx.world.local_at(ctx.node, now), input, &mut out);
        for o in out.drain(..) {
            match o {
                MainOutput::Route {
                    thread,
                    queue,
                    item,
                } => {
                    let _ = queues[usize::from(thread)].unbounded_send((queue, item));
                }
                MainOutput::Probe(name) => {
                    if let Some(member) = main.me() {
                        let node = member.node;
                        ctx.world.record(TraceEvent::Probe { node, name });
                    }
                }
                MainOutput::Timer { at, input } => {
                    let inbox = ctx.inbox_tx.clone();
                    let (world, node) = (ctx.world.clone(), ctx.node);
                    madsim::task::spawn(async move {
                        // A timer on the node's clock: a change of the clock
                        // sets it again.
                        loop {
                            let when = world.deadline(node, at);
                            if !world.nodes[usize::from(node.0)].clock_faulted {
                                madsim::time::sleep_until(when).await;
                                break;
                            }
                            let changed = world.clock_changed(node);
                            futures::select_biased! {
                                _ = madsim::time::sleep_until(when).fuse() => break,
                                _ = changed.fuse() => {}
                            }
                        }
                        let _ = inbox.unbounded_send(MainMsg::Signal(input));
                    });
                }
                MainOutput::Send { to, msg } => ctx.to_engine(EngineIn::Local(Input::Send {
                    key: ctx.key,
                    to,
                    payload: msg,
                })),
                MainOutput::Register => ctx.register(),
                MainOutput::Unregister { reason, fault } => {
                    guard.armed = false;
                    let unregister = EngineIn::Local(Input::Unregister {
                        key: ctx.key,
                        reason,
                    });
                    let record = threads::unregistered(&main, ctx.node, &ctx.job, reason, fault);
                    if let Some(member) = main.me() {
                        ctx.world.record_unread(member, &ctx.pending);
                    }
                    if mutated!(ctx.world.mutation, LateUnregister) && fault.is_some() {
                        // The broken variant: the engine hears a second late.
                        let (world, node) = (ctx.world.clone(), ctx.node);
                        madsim::task::spawn(async move {
                            madsim::time::sleep(std::time::Duration::from_secs(1)).await;
                            world.to_engine(node, unregister);
                            if let Some(record) = record {
                                world.record(record);
                            }
                        });
                    } else {
                        ctx.to_engine(unregister);
                        if let Some(record) = record {
                            ctx.world.record(record);
                        }
                    }
                    let job = ctx.job.as_str();
                    if let Some(asked) = ctx.world.job_gone(ctx.node, job, ctx.key) {
                        let shared = &ctx.world.nodes[usize::from(ctx.node.0)];
                        let wanted = shared.wanted.lock().expect("wanted").contains(job);
                        match faults::job_ended(asked, wanted) {
                            JobEnded::StartsAgain => start(&ctx.world, ctx.node, job),
                            JobEnded::NotWanted => {
                                shared.wanted.lock().expect("wanted").remove(job);
                            }
                        }
                    }
                }
            }
        }
        if main.is_gone() {
            return; // dropping `workers` stops the work threads
        }
    }
}

/// A work thread as a task: it moves what the main thread routed into the
/// [`WorkThread`] state machine, runs the local steps it starts (catching a
/// panic, injecting the scenario's faults, taking `step_time`), and carries
/// out what it asks. It decides nothing itself.
async fn work_thread(
    ctx: JobCtx,
    thread: u16,
    fault: FaultFlag,
    mut routed: UnboundedReceiver<(Queue, WorkItem)>,
) {
    let make: MakeRounds = {
        let (world, job) = (ctx.world.clone(), ctx.job.clone());
        std::sync::Arc::new(move |me| {
            threads::protocol(
                &world.registry,
                &world.scenario,
                world.mutation,
                &job,
                thread,
                me,
            )
        })
    };
    #[allow(unused_mut)]
    let mut machine = WorkThread::new(thread, make);
    #[cfg(feature = "mutations")]
    if let Some(m) = ctx.world.mutation.and_then(|m| m.engine()) {
        machine.mutate(m);
    }
    let mut out = Vec::new();
    loop {
        // Everything routed so far goes into the machine's queues; it
        // chooses what to take.
        drain(&mut machine, &mut routed, &mut out);
        machine.poll(&mut out);
        let mut start = None;
        for o in out.drain(..) {
            match o {
                WorkOutput::StartStep { step } => start = Some(step),
                o => carry_out(&ctx, thread, o),
            }
        }
        if machine.has_faulted() {
            return;
        }
        if let Some(step) = start {
            let end = run_step(&ctx, thread, &fault, &mut machine, step).await;
            drain(&mut machine, &mut routed, &mut out);
            machine.step(WorkInput::StepEnded { step, end }, &mut out);
            continue;
        }
        // Nothing to take and no step to run: wait for the main thread.
        let Some((queue, item)) = routed.next().await else {
            return;
        };
        machine.step(WorkInput::Routed { queue, item }, &mut out);
    }
}

/// Moves everything the main thread routed so far into the machine's queues.
fn drain(
    machine: &mut WorkThread,
    routed: &mut UnboundedReceiver<(Queue, WorkItem)>,
    out: &mut Vec<WorkOutput>,
) {
    while let Some((queue, item)) = routed.try_recv() {
        machine.step(WorkInput::Routed { queue, item }, out);
    }
}

/// Runs local step `step`: its body (with the scenario's fault, if one is
/// armed, and a panic caught), then its time. A hang never returns.
async fn run_step(
    ctx: &JobCtx,
    thread: u16,
    fault: &FaultFlag,
    machine: &mut WorkThread,
    step: u64,
) -> StepEnd {
    let injected = fault.lock().expect("fault").take();
    if let Some((kind, index)) = injected {
        ctx.world
            .record(threads::step_fault(machine, thread, step, kind, index));
    }
    let end = match threads::run_step(machine, step, injected.map(|(kind, _)| kind)) {
        Ran::Hung => {
            // The step never returns; the main thread's watchdog notices.
            std::future::pending::<()>().await;
            unreachable!("a hung step never returns")
        }
        Ran::Ended(end, body) => {
            // What the step decided is decided now.
            for o in body {
                carry_out(ctx, thread, o);
            }
            end
        }
    };
    // A slow node's step takes longer.
    let slow = ctx.world.slow(ctx.node);
    let step_time = threads::slowed(threads::step_time(ctx.step_time, ctx.world.mutation), slow);
    madsim::time::sleep(step_time).await;
    end
}

/// Does what the work thread asked: signals to the main thread, ACKs to
/// the engine, and the trace.
fn carry_out(ctx: &JobCtx, thread: u16, o: WorkOutput) {
    match o {
        WorkOutput::Signal(input) => {
            let _ = ctx.inbox_tx.unbounded_send(MainMsg::Signal(input));
        }
        WorkOutput::StartStep { .. } => unreachable!("steps are run by the task"),
        WorkOutput::Send { to, msg } => {
            let send = Input::Send {
                key: ctx.key,
                to,
                payload: msg,
            };
            ctx.to_engine(EngineIn::Local(send));
        }
        o => {
            if let Some(record) = threads::record(thread, o, ctx.world.detail) {
                ctx.world.record(record);
            }
        }
    }
}
