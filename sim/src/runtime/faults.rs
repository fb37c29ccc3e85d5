//! What each of the scenario's faults does: the one definition both drivers
//! carry out. A fault is written here against [`Plant`], the few things a
//! driver can do to its world (crash a node, pause it, cut a link, start or
//! kill a job, arm a work thread's fault, come back later), and it records
//! in the trace what it did ([`Effect`]): the truth the checks judge by. It
//! decides nothing about membership.

use super::clock::NodeClock;
use super::net::{Net, NetFault};
use crate::scenario::{FaultKind as ScenarioFault, JobAction, WorkThreadFault};
use crate::trace::{Effect, NoEffect, NodeStatus, TraceEvent};
use std::time::Duration;
use vigil_engine::job::{FaultKind, JobMsg};
use vigil_engine::{Dur, MemberId, Name, NodeId, Time};

/// The primitives of a driver's world that faults are made of.
pub(super) trait Plant {
    fn now(&self) -> Time;
    /// The kind of the scenario's fault number `index`.
    fn fault_name(&self, index: usize) -> &'static str;
    fn record(&mut self, event: TraceEvent);
    fn status(&self, node: u16) -> NodeStatus;
    fn set_status(&mut self, node: u16, status: NodeStatus);
    fn net<R>(&mut self, f: impl FnOnce(&mut Net) -> R) -> R;
    /// The network now drops what crosses these links (a driver whose
    /// network keeps its own cuts applies them here).
    fn links_cut(&mut self, links: &[(u16, u16)]);
    fn links_restored(&mut self, links: &[(u16, u16)]);

    /// Whether `job` runs on `node` (again after a restart, or on a join).
    fn is_wanted(&self, node: u16, job: &str) -> bool;
    /// The jobs that run on `node` (again after a restart), by name.
    fn wanted(&self, node: u16) -> Vec<String>;
    /// The cluster's failure timeout.
    fn failure_timeout(&self) -> Dur;
    /// Hands the node's engine [`vigil_engine::Input::Stop`].
    fn stop_engine(&mut self, node: u16, by: Time);
    fn set_wanted(&mut self, node: u16, job: &str, wanted: bool);
    /// `Some(member)` if `job` runs on `node` now (`member` once registered).
    fn running(&mut self, node: u16, job: &str) -> Option<Option<MemberId>>;
    /// Arms a fault on a work thread of a running job: its next local step.
    fn arm(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize);
    /// Arms a fault on a work thread of a job that starts with its node.
    fn arm_at_start(&mut self, node: u16, job: &str, thread: u16, kind: FaultKind, index: usize);
    /// Ends a running job at once, without unregistering (its connection
    /// closes, as a process's would).
    fn kill_job(&mut self, node: u16, job: &str);
    /// Asks a running job's main thread to leave; `for_good`: a
    /// `job-leave` asks (the job is no longer wanted), not a graceful stop
    /// (the job comes back with its node). The driver keeps `for_good`
    /// with the running job, for [`job_ended`] when it has left.
    fn ask_leave(&mut self, node: u16, job: &str, for_good: bool);
    /// Hands a running job's main thread an ordered message to submit.
    fn submit(&mut self, node: u16, job: &str, msg: JobMsg);
    /// Starts `job` on `node`, which is up.
    fn start_job(&mut self, node: u16, job: &str);

    /// The node and everything on it stops; what its jobs left unread goes
    /// to the trace.
    fn crash(&mut self, node: u16);
    /// The node's disk is lost: it boots from a blank one.
    fn lose_disk(&mut self, node: u16);
    /// The node boots again from its disk and starts its wanted jobs.
    fn restart(&mut self, node: u16);
    /// Whether the node's engine is down while the node is up.
    fn engine_down(&self, node: u16) -> bool;
    /// The node's engine dies (its state but the disk's is gone) and its
    /// jobs live on: each main thread is handed `MainInput::EngineLost`.
    /// The members its jobs were, by then (a job not registered yet has
    /// none).
    fn crash_engine(&mut self, node: u16) -> Vec<MemberId>;
    /// A new engine boots from the node's disk; each job still running is
    /// handed `MainInput::EngineBack`, and wanted jobs not running start.
    fn restart_engine(&mut self, node: u16);
    /// Every task and timer of the node freezes; packets to it wait.
    fn pause(&mut self, node: u16);
    fn resume(&mut self, node: u16);

    /// The faults that set a node's clock rate or slowness and still last.
    fn layers<R>(&mut self, f: impl FnOnce(&mut Layers) -> R) -> R;
    /// The node's work steps take `factor_milli / 1000` times as long and
    /// its engine spends `factor - 1` ms on each input from now on.
    fn set_slowness(&mut self, node: u16, factor_milli: u32);
    /// The node's clock.
    fn clock(&self, node: u16) -> NodeClock;
    /// The node's engine and main threads read `clock` from now on (their
    /// deadlines move with it).
    fn set_clock(&mut self, node: u16, clock: NodeClock);

    /// Calls [`follow`] with `then` once `delay` has passed.
    fn after(&mut self, delay: Duration, then: Later);
}

/// What a node runs at while faults overlap: each fault that sets a clock's
/// rate or a node's slowness and still lasts, in the order they struck.
/// The newest rules; when it ends, the newest one still lasting rules
/// again (or none: full speed, true rate).
#[derive(Clone, Debug, Default, Hash)]
pub struct Layers {
    by_node: std::collections::BTreeMap<(u16, Layer), Vec<(usize, u32)>>,
    /// The fault whose end stands for a node's pause, stop or engine
    /// outage: an end set by an older one (a pause the node's crash cut
    /// short, a stop a crash overtook, an engine restart a newer
    /// engine-crash replaced) does nothing.
    owners: std::collections::BTreeMap<(u16, Owned), usize>,
    /// The pauses a crash of their node cut short, by fault number (how
    /// many: the explorer numbers all it adds to a node alike): their ends
    /// give nothing back (the node was up again, or down, already).
    cut: std::collections::BTreeMap<usize, u32>,
}

/// What of a node a fault's end gives back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Owned {
    Pause,
    Stop,
    Engine,
}

/// What a layer sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    ClockRate,
    Slowness,
}

impl Layers {
    /// Fault `index` sets `value` on `node` from now; what rules now.
    fn push(&mut self, node: u16, layer: Layer, index: usize, value: u32) -> u32 {
        let stack = self.by_node.entry((node, layer)).or_default();
        stack.push((index, value));
        value
    }

    /// Fault `index` ends on `node`; what rules now (`plain` if none).
    fn end(&mut self, node: u16, layer: Layer, index: usize, plain: u32) -> u32 {
        let stack = self.by_node.entry((node, layer)).or_default();
        stack.retain(|(i, _)| *i != index);
        stack.last().map_or(plain, |(_, v)| *v)
    }

    /// Fault `index` now owns `what` of `node`: only its end gives it back.
    fn own(&mut self, node: u16, what: Owned, index: usize) {
        self.owners.insert((node, what), index);
    }

    /// Whether fault `index`'s end still stands for `what` of `node`
    /// (and, if so, it gives it back: the end is taken).
    fn end_owned(&mut self, node: u16, what: Owned, index: usize) -> bool {
        let owns = self.owners.get(&(node, what)) == Some(&index);
        if owns {
            self.owners.remove(&(node, what));
        }
        owns
    }

    /// The node went down: what was under way on it (a stop, a pause)
    /// ends with it.
    fn crashed(&mut self, node: u16) {
        self.owners.remove(&(node, Owned::Stop));
        if let Some(pause) = self.owners.remove(&(node, Owned::Pause)) {
            *self.cut.entry(pause).or_default() += 1;
        }
    }

    /// Whether a crash cut pause `index` short (and, if so, forgets it).
    fn cut_by_crash(&mut self, index: usize) -> bool {
        match self.cut.get_mut(&index) {
            Some(1) => self.cut.remove(&index).is_some(),
            Some(n) => {
                *n -= 1;
                true
            }
            None => false,
        }
    }

    /// Whether a stop is under way on `node`.
    fn stopping(&self, node: u16) -> bool {
        self.owners.contains_key(&(node, Owned::Stop))
    }

    /// What rules on `node` now (`plain` if nothing).
    fn top(&self, node: u16, layer: Layer, plain: u32) -> u32 {
        self.by_node
            .get(&(node, layer))
            .and_then(|s| s.last())
            .map_or(plain, |(_, v)| *v)
    }
}

/// What a fault does later, when its time is up.
#[derive(Clone, Debug, Hash)]
pub(super) enum Later {
    Restart {
        index: usize,
        node: u16,
    },
    Resume {
        index: usize,
        node: u16,
    },
    EngineRestart {
        index: usize,
        node: u16,
    },
    Heal {
        index: usize,
        links: Vec<(u16, u16)>,
    },
    NetRestored {
        index: usize,
        nodes: Option<Vec<NodeId>>,
    },
    /// A slow node's time is up (unless a later fault slowed it again).
    SlowEnds {
        index: usize,
        node: u16,
    },
    /// A clock fault's rate ends (unless a later one set another).
    ClockBack {
        index: usize,
        node: u16,
    },
    /// A stopping node's time is up: it goes down; `jobs` start again
    /// when it restarts (though they left).
    Stopped {
        index: usize,
        node: u16,
        restart_after: Option<Duration>,
        jobs: Vec<String>,
    },
}

/// How long a stopping node has, from the stop to going down: its engine
/// stops as soon as its jobs' leaves are acknowledged, within this.
pub(super) fn stop_grace(failure_timeout: Dur) -> Dur {
    Dur(failure_timeout.0 / 2)
}

/// Applies fault number `index` now and records what it did.
pub(super) fn apply(plant: &mut impl Plant, index: usize, fault: &ScenarioFault) {
    let effect = strike(plant, index, fault);
    plant.record(TraceEvent::Fault {
        index,
        kind: fault.name(),
        text: fault.describe(),
        effect,
    });
}

fn link(l: &(u16, u16)) -> (NodeId, NodeId) {
    (NodeId(l.0), NodeId(l.1))
}

/// What a node does once the end of a fault is recorded: the node, and
/// the plant's step for it (`Plant::restart` and the like).
type Then<P> = (u16, fn(&mut P, u16));

/// Carries out what fault number `index` left for later, and records it.
pub(super) fn follow<P: Plant>(plant: &mut P, later: Later) {
    // A node that comes back does so once the end is recorded.
    let mut then: Option<Then<P>> = None;
    let (index, effect) = match later {
        Later::Restart { index, node } => {
            if plant.status(node) != NodeStatus::Crashed {
                return; // restarted already
            }
            plant.set_status(node, NodeStatus::Up);
            then = Some((node, P::restart));
            (index, Effect::NodeUp { node: NodeId(node) })
        }
        Later::EngineRestart { index, node } => {
            if plant.status(node) != NodeStatus::Up || !plant.engine_down(node) {
                return; // the node crashed meanwhile: it boots whole
            }
            if !plant.layers(|l| l.end_owned(node, Owned::Engine, index)) {
                // The engine is down by a newer engine-crash, which says
                // whether it comes back.
                (index, Effect::None(NoEffect::Superseded))
            } else {
                then = Some((node, P::restart_engine));
                (index, Effect::EngineUp { node: NodeId(node) })
            }
        }
        Later::Resume { index, node } => {
            if plant.layers(|l| l.cut_by_crash(index)) {
                // The node crashed in the pause: the crash ended it.
                (index, Effect::None(NoEffect::CrashedMeanwhile))
            } else if !plant.layers(|l| l.end_owned(node, Owned::Pause, index)) {
                // Nothing of the node is this pause's to give back (a
                // crash ends a pause, and only an unpaused node pauses).
                (index, Effect::None(NoEffect::Superseded))
            } else {
                if plant.status(node) == NodeStatus::Paused {
                    plant.set_status(node, NodeStatus::Up);
                }
                then = Some((node, P::resume));
                (index, Effect::NodeResumed { node: NodeId(node) })
            }
        }
        Later::Heal { index, links } => {
            let restored = plant.net(|net| net.heal(index, &links));
            plant.links_restored(&restored);
            let links = restored.iter().map(link).collect();
            (index, Effect::LinksRestored { links })
        }
        Later::NetRestored { index, nodes } => (index, Effect::NetworkRestored { nodes }),
        Later::SlowEnds { index, node } => {
            let factor_milli = plant.layers(|l| l.end(node, Layer::Slowness, index, 1000));
            plant.set_slowness(node, factor_milli);
            let effect = Effect::NodeSlowed {
                node: NodeId(node),
                factor_milli,
            };
            (index, effect)
        }
        Later::ClockBack { index, node } => {
            let rate = plant.layers(|l| l.end(node, Layer::ClockRate, index, 1_000_000));
            let mut clock = plant.clock(node);
            if rate != clock.rate_ppm() {
                clock.set(plant.now(), Dur(0), rate);
                plant.set_clock(node, clock);
            }
            let effect = Effect::Clock {
                node: NodeId(node),
                offset: Dur(0),
                rate_ppm: clock.rate_ppm(),
            };
            (index, effect)
        }
        Later::Stopped {
            index,
            node,
            restart_after,
            jobs,
        } => {
            if !plant.layers(|l| l.end_owned(node, Owned::Stop, index)) {
                return; // it crashed meanwhile (and maybe came back): that crash stands
            }
            for job in &jobs {
                plant.set_wanted(node, job, true);
            }
            plant.set_status(node, NodeStatus::Crashed);
            plant.layers(|l| l.crashed(node));
            plant.crash(node);
            if let Some(d) = restart_after {
                plant.after(d, Later::Restart { index, node });
            }
            (index, Effect::NodeStopped { node: NodeId(node) })
        }
    };
    plant.record(TraceEvent::FaultEnd {
        index,
        kind: plant.fault_name(index),
        effect,
    });
    if let Some((node, back)) = then {
        back(plant, node);
    }
}

/// Carries out fault number `index`: one arm per kind, no catch-all, so a
/// new kind is listed here by the compiler.
fn strike(plant: &mut impl Plant, index: usize, fault: &ScenarioFault) -> Effect {
    match fault {
        ScenarioFault::WorkThread(w) => {
            let (node, job, thread) = (w.node, w.job.as_str(), w.thread);
            let kind = match w.fault {
                WorkThreadFault::Panic => FaultKind::Panic,
                WorkThreadFault::Error => FaultKind::Error,
                WorkThreadFault::Hang => FaultKind::Hang,
            };
            let armed = |starting| Effect::Armed {
                node: NodeId(node),
                job: Name::new(job),
                thread,
                kind,
                starting,
            };
            let up = plant.status(node) == NodeStatus::Up;
            if plant.running(node, job).is_some() {
                plant.arm(node, job, thread, kind, index);
                armed(false)
            } else if up && plant.is_wanted(node, job) {
                // The node is booting (as at time 0): the job's first step faults.
                plant.arm_at_start(node, job, thread, kind, index);
                armed(true)
            } else {
                Effect::None(NoEffect::JobNotRunning)
            }
        }
        ScenarioFault::Job(f) => match f.action {
            JobAction::Kill => kill(plant, f.node, &f.job),
            JobAction::Leave => leave(plant, f.node, &f.job),
            JobAction::Join => join(plant, f.node, &f.job),
        },
        ScenarioFault::NodeCrash(c) => {
            let node = c.node;
            if plant.status(node) == NodeStatus::Crashed {
                // A node that is down cannot crash again; its pending restart stands.
                return Effect::None(NoEffect::NodeDown);
            }
            plant.set_status(node, NodeStatus::Crashed);
            plant.layers(|l| l.crashed(node));
            plant.crash(node);
            if c.lose_disk {
                plant.lose_disk(node);
            }
            if let Some(d) = c.restart_after {
                plant.after(d, Later::Restart { index, node });
            }
            Effect::NodeDown {
                node: NodeId(node),
                disk_lost: c.lose_disk,
            }
        }
        ScenarioFault::EngineCrash(c) => {
            let node = c.node;
            if let Some(why) = not_running(plant, node) {
                return Effect::None(why);
            }
            let members = plant.crash_engine(node);
            plant.layers(|l| l.own(node, Owned::Engine, index));
            if let Some(d) = c.restart_after {
                plant.after(d, Later::EngineRestart { index, node });
            }
            Effect::EngineDown {
                node: NodeId(node),
                members,
            }
        }
        ScenarioFault::NodeStop(c) => {
            let node = c.node;
            if let Some(why) = not_running(plant, node) {
                return Effect::None(why);
            }
            if plant.layers(|l| l.stopping(node)) {
                return Effect::None(NoEffect::NodeStopping);
            }
            plant.layers(|l| l.own(node, Owned::Stop, index));
            // Its jobs leave first (they start again on a restart); the
            // engine goes once their leaves are through.
            let mut members = Vec::new();
            let jobs = plant.wanted(node);
            for job in &jobs {
                if let Some(member) = plant.running(node, job) {
                    members.extend(member);
                    plant.ask_leave(node, job, false);
                }
            }
            let grace = stop_grace(plant.failure_timeout());
            plant.stop_engine(node, plant.now() + grace);
            let restart_after = c.restart_after;
            plant.after(
                Duration::from_nanos(grace.0),
                Later::Stopped {
                    index,
                    node,
                    restart_after,
                    jobs,
                },
            );
            Effect::NodeStopping {
                node: NodeId(node),
                members,
            }
        }
        // The load is the host's: it stays while the node is down.
        ScenarioFault::NodeSlow(s) => {
            let node = s.node;
            let factor_milli = crate::scenario::slow_milli(s.factor);
            plant.layers(|l| l.push(node, Layer::Slowness, index, factor_milli));
            plant.set_slowness(node, factor_milli);
            if let Some(d) = s.duration {
                plant.after(d, Later::SlowEnds { index, node });
            }
            Effect::NodeSlowed {
                node: NodeId(node),
                factor_milli,
            }
        }
        // The clock is the machine's: it runs on while the node is down.
        ScenarioFault::Clock(c) => {
            let node = c.node;
            let offset = Dur::from_std(c.offset);
            // A step alone leaves the rate as it is; a rate rules until it
            // ends (then the one it overlaid, if that still lasts).
            let set = crate::scenario::clock_ppm(c.rate);
            let rate_ppm = if set == 1_000_000 {
                plant.layers(|l| l.top(node, Layer::ClockRate, 1_000_000))
            } else {
                plant.layers(|l| l.push(node, Layer::ClockRate, index, set))
            };
            let mut clock = plant.clock(node);
            clock.set(plant.now(), offset, rate_ppm);
            plant.set_clock(node, clock);
            if let (Some(d), false) = (c.duration, set == 1_000_000) {
                plant.after(d, Later::ClockBack { index, node });
            }
            Effect::Clock {
                node: NodeId(node),
                offset,
                rate_ppm,
            }
        }
        ScenarioFault::NodePause(p) => {
            let node = p.node;
            if let Some(why) = not_running(plant, node) {
                return Effect::None(why);
            }
            plant.set_status(node, NodeStatus::Paused);
            plant.layers(|l| l.own(node, Owned::Pause, index));
            plant.pause(node);
            plant.after(p.duration, Later::Resume { index, node });
            Effect::NodePaused { node: NodeId(node) }
        }
        ScenarioFault::Partition(p) => {
            let links = plant.net(|net| net.cut(index, &p.sides));
            plant.links_cut(&links);
            let cut = links.iter().map(link).collect();
            if let Some(d) = p.heal_after {
                plant.after(d, Later::Heal { index, links });
            }
            Effect::LinksCut {
                sides: p
                    .sides
                    .iter()
                    .map(|s| s.iter().map(|n| NodeId(*n)).collect())
                    .collect(),
                links: cut,
            }
        }
        ScenarioFault::OneWayCut(c) => {
            let links = plant.net(|net| net.cut_links(index, &c.links()));
            plant.links_cut(&links);
            if let Some(d) = c.heal_after {
                plant.after(
                    d,
                    Later::Heal {
                        index,
                        links: links.clone(),
                    },
                );
            }
            let ids = |ns: &[u16]| ns.iter().map(|n| NodeId(*n)).collect();
            Effect::LinksCutOneWay {
                from: ids(&c.from),
                to: ids(&c.to),
            }
        }
        ScenarioFault::Heal(_) => {
            let restored = plant.net(|net| net.heal_all());
            plant.links_restored(&restored);
            Effect::LinksRestored {
                links: restored.iter().map(link).collect(),
            }
        }
        ScenarioFault::Delay(d) => {
            let delay = (Dur::from_std(d.latency.0), Dur::from_std(d.latency.1));
            let how = NetFault::delay((delay.0 .0, delay.1 .0));
            degrade(plant, index, &d.nodes, how, d.duration)
        }
        ScenarioFault::Loss(l) => {
            degrade(plant, index, &l.nodes, NetFault::loss(l.rate), l.duration)
        }
        ScenarioFault::Duplicate(d) => degrade(
            plant,
            index,
            &d.nodes,
            NetFault::duplicate(d.rate),
            d.duration,
        ),
    }
}

/// The scenario's `[[task]]` number `index`: its member's main thread is
/// handed the task to submit to the group, if the job runs and is
/// registered; the trace says which.
pub(super) fn submit_task(plant: &mut impl Plant, index: usize, task: &crate::scenario::Task) {
    let (node, job) = (task.member.node, task.member.job.as_str());
    let member = plant.running(node, job).flatten();
    let id = u32::try_from(index).expect("a scenario holds at most 10,000 tasks");
    if member.is_some() {
        let msg = vigil_protocols::TaskMsg::submission(id, task.priority);
        plant.submit(node, job, msg);
    }
    plant.record(TraceEvent::TaskSubmitted {
        task: id,
        by: task.member.to_string(),
        member,
        priority: task.priority,
    });
}

/// Why a fault that needs `node` and its engine running has no effect, if
/// it has none: the node is down or paused, or its engine is down.
fn not_running(plant: &impl Plant, node: u16) -> Option<NoEffect> {
    match plant.status(node) {
        NodeStatus::Up if plant.engine_down(node) => Some(NoEffect::EngineDown),
        NodeStatus::Up => None,
        NodeStatus::Crashed => Some(NoEffect::NodeDown),
        NodeStatus::Paused => Some(NoEffect::NodePaused),
    }
}

/// `job-kill`: the job dies without unregistering (and stays down).
fn kill(plant: &mut impl Plant, node: u16, job: &str) -> Effect {
    plant.set_wanted(node, job, false);
    let running = plant.running(node, job);
    if running.is_some() {
        plant.kill_job(node, job);
    }
    Effect::JobKilled {
        node: NodeId(node),
        job: Name::new(job),
        running: running.is_some(),
        member: running.flatten(),
    }
}

/// `job-leave`: the job is asked to unregister.
fn leave(plant: &mut impl Plant, node: u16, job: &str) -> Effect {
    plant.set_wanted(node, job, false);
    match plant.running(node, job) {
        Some(member) => {
            plant.ask_leave(node, job, true);
            Effect::LeaveAsked {
                node: NodeId(node),
                job: Name::new(job),
                member,
            }
        }
        None => Effect::None(NoEffect::JobNotRunning),
    }
}

/// What becomes of a job whose main thread unregistered it and ended (a
/// work-thread fault, a leave): `asked`, a `job-leave` had asked it to
/// leave (see [`Plant::ask_leave`]); `wanted`, whether the node wants it
/// now. A job that ends is no longer wanted, unless a `job-join` came
/// while the word to leave was on its way: then it starts again at once,
/// as where the leave was taken before the join ([`join`]).
pub(super) fn job_ended(asked: bool, wanted: bool) -> JobEnded {
    if asked && wanted {
        JobEnded::StartsAgain
    } else {
        JobEnded::NotWanted
    }
}

/// What [`job_ended`] asks of the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JobEnded {
    /// Start the job again on its node, now.
    StartsAgain,
    /// The job no longer runs there: not on a restart of its node either.
    NotWanted,
}

/// `job-join`: the job starts again, now or when its node is back.
fn join(plant: &mut impl Plant, node: u16, job: &str) -> Effect {
    // A running job that is not wanted was asked to leave and has not yet
    // (madsim: its main thread has the word in its inbox): it starts again
    // once it has left, as where the leave was taken at once.
    let leaving = !plant.is_wanted(node, job);
    plant.set_wanted(node, job, true);
    if plant.running(node, job).is_some() {
        if leaving {
            return Effect::JobStarts {
                node: NodeId(node),
                job: Name::new(job),
                later: true,
            };
        }
        return Effect::None(NoEffect::JobRunning);
    }
    // A job starts with its engine: after a restart of either.
    let up = plant.status(node) == NodeStatus::Up && !plant.engine_down(node);
    if up {
        plant.start_job(node, job);
    }
    Effect::JobStarts {
        node: NodeId(node),
        job: Name::new(job),
        later: !up,
    }
}

/// `how` (its loss, delay or duplication) on the links touching `nodes`
/// (all if `None`), for `duration` (for good if `None`).
fn degrade(
    plant: &mut impl Plant,
    index: usize,
    nodes: &Option<Vec<u16>>,
    how: NetFault,
    duration: Option<Duration>,
) -> Effect {
    let until = duration.map(|d| plant.now() + Dur::from_std(d));
    let ids: Option<Vec<NodeId>> = nodes
        .as_ref()
        .map(|n| n.iter().map(|k| NodeId(*k)).collect());
    if let Some(d) = duration {
        let nodes = ids.clone();
        plant.after(d, Later::NetRestored { index, nodes });
    }
    let effect = Effect::NetworkDegraded {
        nodes: ids.clone(),
        loss: how.loss,
        delay: how.delay_ns.map(|(lo, hi)| (Dur(lo), Dur(hi))),
        duplicate: how.duplicate,
    };
    plant.net(|net| {
        net.degrade(NetFault {
            nodes: ids.as_ref().map(|n| n.iter().copied().collect()),
            until,
            ..how
        })
    });
    effect
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::{Layer, Layers};

    /// A short fault over a longer one: when it ends, the longer one rules
    /// again; when that ends, nothing does.
    fn the_newest_lasting_layer_rules_and_its_end_uncovers_the_one_below() {
        let mut l = Layers::default();
        assert_eq!(l.top(1, Layer::Slowness, 1000), 1000);
        assert_eq!(l.push(1, Layer::Slowness, 0, 3000), 3000);
        assert_eq!(l.push(1, Layer::Slowness, 4, 5000), 5000);
        assert_eq!(
            l.top(1, Layer::ClockRate, 1_000_000),
            1_000_000,
            "layers apart"
        );
        assert_eq!(l.top(2, Layer::Slowness, 1000), 1000, "nodes apart");
        assert_eq!(l.end(1, Layer::Slowness, 4, 1000), 3000);
        assert_eq!(l.end(1, Layer::Slowness, 0, 1000), 1000);
        // An older layer that ends under a newer one leaves the newer.
        l.push(1, Layer::Slowness, 5, 2000);
        l.push(1, Layer::Slowness, 6, 4000);
        assert_eq!(l.end(1, Layer::Slowness, 5, 1000), 4000);
    }

    unit_tests![the_newest_lasting_layer_rules_and_its_end_uncovers_the_one_below,];
}
