//! A job on a node: its main thread's inbox and machine, and its
//! work threads' machines, stepped when something reaches them. What a
//! thread records and how a step runs is [`super::super::threads`]'s; this
//! file only says when.

use super::super::faults::{self, JobEnded};
use super::super::threads::MAIN_INBOX_MAX;
use super::super::threads::{self, Ran, Take};
use super::{Host, Local, Stepper};
use crate::mutation::mutated;
use crate::trace::TraceEvent;
use std::collections::VecDeque;
use vigil_engine::job::{
    FaultKind, MainInput, MainOutput, MainThread, MakeRounds, Queue, StepEnd, WorkInput, WorkItem,
    WorkOutput, WorkThread,
};
use vigil_engine::{Dur, Event, Input, LocalKey, MemberId, Name, NodeId, Time};

/// What a main thread takes from its inbox.
#[derive(Clone, Debug, Hash)]
pub(in crate::runtime) enum MainMsg {
    Engine {
        event: Event<vigil_engine::job::JobMsg>,
        queued_at: Time,
    },
    Signal(MainInput),
}

/// One running job.
#[derive(Clone, Hash)]
pub(in crate::runtime) struct Job {
    name: String,
    group: Name,
    step_time: std::time::Duration,
    main: MainThread,
    pub(in crate::runtime) inbox: VecDeque<MainMsg>,
    /// When each engine event in the inbox was queued, oldest first.
    pending: VecDeque<Time>,
    pub(in crate::runtime) member: Option<MemberId>,
    /// The broken variant `main-blocks-until-leave` has it take nothing
    /// but the word to leave.
    blocked: bool,
    /// A `job-leave` asked it to leave (`for_good` in
    /// [`faults::Plant::ask_leave`]): what [`faults::job_ended`] decides by
    /// once it has left.
    pub(in crate::runtime) leaving: bool,
    /// Its main thread has run: it has registered (a job killed before
    /// that never reached the engine).
    pub(in crate::runtime) started: bool,
    /// The broken variant `blocking-main`: the input it waits to take, and
    /// when it took it.
    busy: Option<(Time, MainInput)>,
    pub(in crate::runtime) workers: Vec<Worker>,
}

/// One work thread.
#[derive(Clone, Hash)]
pub(in crate::runtime) struct Worker {
    machine: WorkThread,
    routed: VecDeque<(Queue, WorkItem)>,
    out: Vec<WorkOutput>,
    /// The fault armed on its next local step, with its number.
    pub(in crate::runtime) fault: Option<(FaultKind, usize)>,
    /// The local step under way.
    running: Option<u64>,
    /// It faulted, or hung: it takes nothing more.
    stopped: bool,
}

impl Job {
    /// The job's name, as the scenario gives it.
    pub(in crate::runtime) fn name(&self) -> &str {
        &self.name
    }
}

impl<H: Host> Stepper<'_, H> {
    /// Starts job `name` on `node`, which is up, unless it runs already.
    pub(in crate::runtime) fn start_job(&mut self, name: &str) {
        let protocols = self.kit.protocols.clone();
        let spec = protocols
            .scenario
            .job(name)
            .expect("jobs started are in the scenario");
        let n = &mut *self.node;
        if n.engine.is_none() || n.names.contains_key(name) {
            return;
        }
        n.next_key += 1;
        let key = LocalKey(n.next_key);
        let job_name = Name::new(&spec.name);
        let workers = (0..spec.work_threads)
            .map(|t| {
                let make: MakeRounds = {
                    let (p, job) = (protocols.clone(), job_name.clone());
                    std::sync::Arc::new(move |me| {
                        threads::protocol(&p.registry, &p.scenario, p.mutation, &job, t, me)
                    })
                };
                #[allow(unused_mut)]
                let mut machine = WorkThread::new(t, make);
                #[cfg(feature = "mutations")]
                if let Some(m) = protocols.mutation.and_then(|m| m.engine()) {
                    machine.mutate(m);
                }
                Worker {
                    machine,
                    routed: VecDeque::new(),
                    out: Vec::new(),
                    fault: n.armed.remove(&(name.to_string(), t)),
                    running: None,
                    stopped: false,
                }
            })
            .collect();
        #[allow(unused_mut)]
        let mut main = threads::main_machine(spec);
        #[cfg(feature = "mutations")]
        if let Some(m) = protocols.mutation.and_then(|m| m.engine()) {
            main.mutate(m);
        }
        n.names.insert(name.to_string(), key);
        n.jobs.insert(
            key,
            Job {
                name: name.to_string(),
                group: Name::new(&spec.group),
                step_time: spec.step_time,
                main,
                inbox: VecDeque::new(),
                pending: VecDeque::new(),
                member: None,
                blocked: false,
                leaving: false,
                started: false,
                busy: None,
                workers,
            },
        );
        // Its main thread registers when it first runs, after what is
        // struck at this instant.
        self.post(Local::StartMain { key });
    }

    /// The main thread of `key` runs for the first time: it registers.
    pub(in crate::runtime) fn start_main(&mut self, key: LocalKey) {
        let Some(job) = self.node.jobs.get_mut(&key) else {
            return; // killed before it ran
        };
        job.started = true;
        let register = Input::Register {
            key,
            job: Name::new(&job.name),
            group: job.group.clone(),
        };
        self.engine_step(register);
    }

    /// Puts `input` in the inbox of the main thread of `key`, which takes
    /// it when it next runs (a fault's word arrives as it strikes).
    pub(in crate::runtime) fn signal(&mut self, key: LocalKey, input: MainInput) {
        let Some(job) = self.node.jobs.get_mut(&key) else {
            return;
        };
        job.inbox.push_back(MainMsg::Signal(input));
        self.post(Local::RunMain { key });
    }

    /// The engine hands `event` to the main thread of registration `key`.
    pub(in crate::runtime) fn deliver(
        &mut self,
        key: LocalKey,
        event: Event<vigil_engine::job::JobMsg>,
    ) {
        let n = &mut *self.node;
        if !n.registered.contains(&key) {
            return;
        }
        let Some(job) = n.jobs.get_mut(&key) else {
            return;
        };
        assert!(
            job.pending.len() < MAIN_INBOX_MAX,
            "the main thread of {key:?} left {MAIN_INBOX_MAX} engine events unread (MAIN_INBOX_MAX)"
        );
        job.pending.push_back(self.host.now());
        job.inbox.push_back(MainMsg::Engine {
            event,
            queued_at: self.host.now(),
        });
        self.host.soon(Local::RunMain { key });
    }

    /// Records the engine events the main thread of `key` never took.
    pub(in crate::runtime) fn record_unread(&mut self, key: LocalKey) {
        let Some(job) = self.node.jobs.get(&key) else {
            return;
        };
        if let (Some(member), Some(oldest)) = (&job.member, job.pending.front()) {
            let event = TraceEvent::InboxUnread {
                member: member.clone(),
                count: job.pending.len() as u64,
                oldest: *oldest,
            };
            self.host.record(event);
        }
    }

    /// The main thread takes what its inbox holds, one input at a time.
    pub(in crate::runtime) fn run_main(&mut self, key: LocalKey) {
        let mutation = self.kit.protocols.mutation;
        loop {
            let now = self.host.now();
            let Some(job) = self.node.jobs.get_mut(&key) else {
                return;
            };
            if job.busy.is_some() {
                return;
            }
            let Some(msg) = job.inbox.pop_front() else {
                return;
            };
            if job.blocked && !matches!(msg, MainMsg::Signal(MainInput::Leave)) {
                continue;
            }
            let input = match msg {
                MainMsg::Signal(input) => input,
                MainMsg::Engine { event, queued_at } => {
                    job.pending.pop_front();
                    match threads::take(mutation, &event) {
                        Take::Read => {}
                        Take::Ignore => continue,
                        Take::Block => {
                            job.pending.push_front(queued_at);
                            job.blocked = true;
                            continue;
                        }
                    }
                    let me = job.main.me().cloned();
                    let (record, member) = threads::taken(&event, me.as_ref(), &job.group);
                    if let Some(member) = member {
                        job.member = Some(member);
                    }
                    let lagged = threads::inbox_lag(now, queued_at, job.main.me().cloned().or(me));
                    let input = MainInput::Engine(event);
                    let blocking = mutated!(mutation, BlockingMain);
                    if blocking {
                        job.busy = Some((now, input.clone()));
                    }
                    self.host.record(record);
                    if let Some(lagged) = lagged {
                        self.host.record(lagged);
                    }
                    if blocking {
                        let at = now + Dur::from_millis(10);
                        self.host.later(at, Local::MainWake { key });
                        return;
                    }
                    input
                }
            };
            self.main_step(key, now, input);
        }
    }

    /// A main thread's timer for `at` on its node's clock.
    pub(in crate::runtime) fn main_timer(&mut self, key: LocalKey, at: Time, input: MainInput) {
        let n = &mut *self.node;
        let id = n.next_timer;
        n.next_timer += 1;
        n.timers.insert(id, (at, key, input));
        let due = n.clock.global(at, self.host.now());
        self.host.later(due, Local::MainTimer { id });
    }

    /// The main thread of the broken variant `blocking-main` is back.
    pub(in crate::runtime) fn main_wake(&mut self, key: LocalKey) {
        let Some(job) = self.node.jobs.get_mut(&key) else {
            return;
        };
        if let Some((took, input)) = job.busy.take() {
            self.main_step(key, took, input);
            self.run_main(key);
        }
    }

    /// The main thread's machine takes `input` (taken at `took`).
    fn main_step(&mut self, key: LocalKey, took: Time, input: MainInput) {
        let mutation = self.kit.protocols.mutation;
        // The main thread reads its node's clock.
        let took = self.node.clock.local(took);
        let Some(job) = self.node.jobs.get_mut(&key) else {
            return;
        };
        // (A buffer taken from the run, and put back below: a nested step
        // would find it taken and use one of its own.)
        let mut out = std::mem::take(&mut self.kit.main_out);
        job.main.step(took, input, &mut out);
        for o in out.drain(..) {
            match o {
                MainOutput::Route {
                    thread,
                    queue,
                    item,
                } => {
                    let job = self.node.jobs.get_mut(&key).expect("the job runs");
                    job.workers[usize::from(thread)]
                        .routed
                        .push_back((queue, item));
                    self.host.soon(Local::RunWorker { key, thread });
                }
                MainOutput::Probe(name) => self.host.record(TraceEvent::Probe {
                    node: NodeId(self.node.id),
                    name,
                }),
                MainOutput::Timer { at, input } => self.main_timer(key, at, input),
                MainOutput::Send { to, msg } => {
                    let input = Input::Send {
                        key,
                        to,
                        payload: msg,
                    };
                    self.host.soon(Local::Engine(Box::new(input)));
                }
                MainOutput::Register => {
                    let job = &self.node.jobs[&key];
                    let input = Input::Register {
                        key,
                        job: Name::new(&job.name),
                        group: job.group.clone(),
                    };
                    self.host.soon(Local::Engine(Box::new(input)));
                }
                MainOutput::Unregister { reason, fault } => {
                    let job = &self.node.jobs[&key];
                    let name = job.name.clone();
                    let job_name = Name::new(&name);
                    let record = threads::unregistered(
                        &job.main,
                        NodeId(self.node.id),
                        &job_name,
                        reason,
                        fault,
                    );
                    // What the main thread leaves unread, as it leaves.
                    self.record_unread(key);
                    let input = Input::Unregister { key, reason };
                    if mutated!(mutation, LateUnregister) && fault.is_some() {
                        // The broken variant: the engine hears a second late.
                        let at = self.host.now() + Dur::from_millis(1000);
                        self.host.later(
                            at,
                            Local::Late(Box::new((input, record.map(super::Recorded)))),
                        );
                    } else {
                        self.host.soon(Local::Engine(Box::new(input)));
                        if let Some(record) = record {
                            self.host.record(record);
                        }
                    }
                    let n = &mut *self.node;
                    if n.names.get(&name) == Some(&key) {
                        n.names.remove(&name);
                        let asked = n.jobs.get(&key).is_some_and(|j| j.leaving);
                        match faults::job_ended(asked, n.wanted.contains(&name)) {
                            JobEnded::StartsAgain => self.start_job(&name),
                            JobEnded::NotWanted => {
                                n.wanted.remove(&name);
                            }
                        }
                    }
                }
            }
        }
        self.kit.main_out = out;
        let n = &mut *self.node;
        if n.jobs.get(&key).is_some_and(|j| j.main.is_gone()) {
            // Its work threads end with it.
            n.jobs.remove(&key);
        }
    }

    /// Work thread `thread` takes what was routed to it and starts its next
    /// local step, if it has one and none is under way.
    pub(in crate::runtime) fn run_worker(&mut self, key: LocalKey, thread: u16) {
        let mutation = self.kit.protocols.mutation;
        let detail = self.kit.detail;
        let Some(job) = self.node.jobs.get_mut(&key) else {
            return;
        };
        let step_time = job.step_time;
        let w = &mut job.workers[usize::from(thread)];
        if w.stopped || w.running.is_some() {
            return;
        }
        let mut done = std::mem::take(&mut self.kit.work_done);
        while let Some((queue, item)) = w.routed.pop_front() {
            w.machine
                .step(WorkInput::Routed { queue, item }, &mut w.out);
        }
        w.machine.poll(&mut w.out);
        let mut start = None;
        for o in w.out.drain(..) {
            match o {
                WorkOutput::StartStep { step } => start = Some(step),
                o => done.push(o),
            }
        }
        let faulted = w.machine.has_faulted();
        let mut step_fault = None;
        let mut ran = None;
        if faulted {
            w.stopped = true;
        } else if let Some(step) = start {
            let injected = w.fault.take();
            if let Some((kind, index)) = injected {
                step_fault = Some(threads::step_fault(&w.machine, thread, step, kind, index));
            }
            match threads::run_step(&mut w.machine, step, injected.map(|(kind, _)| kind)) {
                Ran::Hung => w.stopped = true,
                Ran::Ended(end, body) => {
                    w.running = Some(step);
                    ran = Some((step, end, body));
                }
            }
        }
        for o in done.drain(..) {
            self.carry_out(key, thread, o, detail);
        }
        self.kit.work_done = done;
        if let Some(record) = step_fault {
            self.host.record(record);
        }
        if let Some((step, end, body)) = ran {
            // What the step decided is decided now; it ends when its time is up.
            for o in body {
                self.carry_out(key, thread, o, detail);
            }
            // A slow node's step takes longer.
            let slow = self.node.slow;
            let took = threads::slowed(threads::step_time(step_time, mutation), slow);
            let at = self.host.now() + Dur::from_std(took);
            self.host.later(
                at,
                Local::StepEnded {
                    key,
                    thread,
                    step,
                    end,
                },
            );
        }
    }

    /// Local step `step` of work thread `thread` is over.
    pub(in crate::runtime) fn step_ended(
        &mut self,
        key: LocalKey,
        thread: u16,
        step: u64,
        end: StepEnd,
    ) {
        let Some(job) = self.node.jobs.get_mut(&key) else {
            return;
        };
        let w = &mut job.workers[usize::from(thread)];
        w.running = None;
        while let Some((queue, item)) = w.routed.pop_front() {
            w.machine
                .step(WorkInput::Routed { queue, item }, &mut w.out);
        }
        w.machine
            .step(WorkInput::StepEnded { step, end }, &mut w.out);
        self.run_worker(key, thread);
    }

    /// Does what a work thread asked: signals to the main thread, messages
    /// to the engine, and the trace.
    fn carry_out(&mut self, key: LocalKey, thread: u16, o: WorkOutput, detail: bool) {
        match o {
            WorkOutput::Signal(input) => {
                let msg = MainMsg::Signal(input);
                self.host.soon(Local::Main {
                    key,
                    msg: Box::new(msg),
                });
            }
            WorkOutput::Send { to, msg } => {
                let send = Input::Send {
                    key,
                    to,
                    payload: msg,
                };
                self.host.soon(Local::Engine(Box::new(send)));
            }
            o => {
                if let Some(record) = threads::record(thread, o, detail) {
                    self.host.record(record);
                }
            }
        }
    }
}
