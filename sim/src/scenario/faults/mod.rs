//! Fault kinds, one home each. A kind's file holds everything about it:
//! its data, the keys of its `[[fault]]` table and their validation, how
//! it is written back, described and shrunk, and its `[random.KIND]`
//! table: its keys, how a seed draws it, and what `--swarm` draws without
//! one. This module lists the kinds: [`FaultKind`] and [`RandomFault`],
//! with one exhaustive `match` per concern, so that a new kind is a new
//! file, a variant here, and the arms the compiler asks for (here, and
//! where the driver applies it: `runtime::faults`).
//!
//! The driver records what a fault did as a `trace::Effect`; the checks
//! and pictures read that, never a kind.

mod clock;
mod crash;
mod job;
mod network;
mod one_way;
mod partition;
mod pause;
mod slow;
mod task;
mod work_thread;

pub use clock::{
    ppm as clock_ppm, Clock, RandomClock, RATE_MAX as CLOCK_RATE_MAX, RATE_MIN as CLOCK_RATE_MIN,
};
pub use crash::{NodeCrash, NodeOut, NodeStop, RandomNodeCrash, RandomNodeOut};
pub use job::{JobAction, JobFault, RandomJobKill};
pub use network::{Delay, Duplicate, LinkRate, Loss, RandomDelay, RandomRate};
pub use one_way::{OneWayCut, RandomOneWayCut};
pub use partition::{Heal, Partition, RandomPartition};
pub use pause::{NodePause, RandomNodePause};
pub use slow::{milli as slow_milli, NodeSlow, RandomNodeSlow, FACTOR_MAX as SLOW_FACTOR_MAX};
pub use task::RandomTask;
pub use work_thread::{RandomWorkThread, WorkThread, WorkThreadFault};

use super::draw::Dice;
use super::error::ScenarioError;
use super::table::{Key, Keys, Shape, Table};
use super::{RandomKind, Rate, Scenario, Task};
use std::fmt::Write as _;
use std::time::Duration;

type Result<T> = std::result::Result<T, ScenarioError>;

/// The faults a scenario can inject. Node fields are node indexes, job
/// fields job names (validated to exist and run on that node).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// `work-thread-panic`, `work-thread-error`, `work-thread-hang`.
    WorkThread(WorkThread),
    /// `job-kill`, `job-leave`, `job-join`.
    Job(JobFault),
    /// `node-crash`.
    NodeCrash(NodeCrash),
    /// `node-stop`.
    NodeStop(NodeStop),
    /// `engine-crash`.
    EngineCrash(NodeOut),
    /// `node-pause`.
    NodePause(NodePause),
    /// `partition`.
    Partition(Partition),
    /// `one-way-cut`.
    OneWayCut(OneWayCut),
    /// `heal`.
    Heal(Heal),
    /// `delay`.
    Delay(Delay),
    /// `loss`.
    Loss(Loss),
    /// `duplicate`.
    Duplicate(Duplicate),
    /// `clock`.
    Clock(Clock),
    /// `node-slow`.
    NodeSlow(NodeSlow),
}

/// How a `[[fault]]` table of one kind is read: the kind's name as
/// written, the keys it takes besides `at` and `kind`, and its parser.
/// This table is the only place a name meets its parser: a kind missing
/// from it cannot be written in a file, and the tests that round-trip
/// every kind through the writer and the parser fail
/// (`tools::props::tests::every_fault_kind_is_drawn`).
pub(super) struct Spec {
    pub name: &'static str,
    pub keys: Keys,
    pub parse: fn(&Table<'_>) -> Result<FaultKind>,
}

/// One [`Spec`] per kind name, in the order messages list them.
const SPECS: &[Spec] = &[
    Spec {
        name: "work-thread-panic",
        keys: WorkThread::KEYS,
        parse: |t| WorkThread::parse("work-thread-panic", t).map(FaultKind::WorkThread),
    },
    Spec {
        name: "work-thread-error",
        keys: WorkThread::KEYS,
        parse: |t| WorkThread::parse("work-thread-error", t).map(FaultKind::WorkThread),
    },
    Spec {
        name: "work-thread-hang",
        keys: WorkThread::KEYS,
        parse: |t| WorkThread::parse("work-thread-hang", t).map(FaultKind::WorkThread),
    },
    Spec {
        name: "job-kill",
        keys: JobFault::KEYS,
        parse: |t| JobFault::parse("job-kill", t).map(FaultKind::Job),
    },
    Spec {
        name: "job-leave",
        keys: JobFault::KEYS,
        parse: |t| JobFault::parse("job-leave", t).map(FaultKind::Job),
    },
    Spec {
        name: "job-join",
        keys: JobFault::KEYS,
        parse: |t| JobFault::parse("job-join", t).map(FaultKind::Job),
    },
    Spec {
        name: NodeOut::CRASH,
        keys: NodeOut::CRASH_KEYS,
        parse: |t| NodeOut::parse(t, true).map(FaultKind::NodeCrash),
    },
    Spec {
        name: NodeOut::STOP,
        keys: NodeOut::KEYS,
        parse: |t| NodeOut::parse(t, false).map(FaultKind::NodeStop),
    },
    Spec {
        name: NodeOut::ENGINE,
        keys: NodeOut::ENGINE_KEYS,
        parse: |t| NodeOut::parse(t, false).map(FaultKind::EngineCrash),
    },
    Spec {
        name: NodePause::NAME,
        keys: NodePause::KEYS,
        parse: |t| NodePause::parse(t).map(FaultKind::NodePause),
    },
    Spec {
        name: Partition::NAME,
        keys: Partition::KEYS,
        parse: |t| Partition::parse(t).map(FaultKind::Partition),
    },
    Spec {
        name: OneWayCut::NAME,
        keys: OneWayCut::KEYS,
        parse: |t| OneWayCut::parse(t).map(FaultKind::OneWayCut),
    },
    Spec {
        name: Heal::NAME,
        keys: Heal::KEYS,
        parse: |_| Ok(FaultKind::Heal(Heal)),
    },
    Spec {
        name: Delay::NAME,
        keys: Delay::KEYS,
        parse: |t| Delay::parse(t).map(FaultKind::Delay),
    },
    Spec {
        name: LinkRate::LOSS,
        keys: LinkRate::KEYS,
        parse: |t| LinkRate::parse(t, LinkRate::LOSS).map(FaultKind::Loss),
    },
    Spec {
        name: LinkRate::DUPLICATE,
        keys: LinkRate::KEYS,
        parse: |t| LinkRate::parse(t, LinkRate::DUPLICATE).map(FaultKind::Duplicate),
    },
    Spec {
        name: Clock::NAME,
        keys: Clock::KEYS,
        parse: |t| Clock::parse(t).map(FaultKind::Clock),
    },
    Spec {
        name: NodeSlow::NAME,
        keys: NodeSlow::KEYS,
        parse: |t| NodeSlow::parse(t).map(FaultKind::NodeSlow),
    },
];

impl FaultKind {
    /// Every fault kind name, as written in files.
    pub fn names() -> Vec<&'static str> {
        SPECS.iter().map(|s| s.name).collect()
    }

    /// The kebab-case kind name as written in files (`"work-thread-panic"`).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::WorkThread(f) => f.name(),
            FaultKind::Job(f) => f.name(),
            FaultKind::NodeCrash(_) => NodeOut::CRASH,
            FaultKind::NodeStop(_) => NodeOut::STOP,
            FaultKind::EngineCrash(_) => NodeOut::ENGINE,
            FaultKind::NodePause(_) => NodePause::NAME,
            FaultKind::Partition(_) => Partition::NAME,
            FaultKind::OneWayCut(_) => OneWayCut::NAME,
            FaultKind::Heal(_) => Heal::NAME,
            FaultKind::Delay(_) => Delay::NAME,
            FaultKind::Loss(_) => LinkRate::LOSS,
            FaultKind::Duplicate(_) => LinkRate::DUPLICATE,
            FaultKind::Clock(_) => Clock::NAME,
            FaultKind::NodeSlow(_) => NodeSlow::NAME,
        }
    }

    /// How kind `name` is read; `None` for an unknown kind.
    pub(super) fn spec(name: &str) -> Option<&'static Spec> {
        SPECS.iter().find(|s| s.name == name)
    }

    /// Its keys, as a scenario file writes them (after `at` and `kind`).
    pub(super) fn write(&self, w: &mut Writer) {
        match self {
            FaultKind::WorkThread(f) => f.write(w),
            FaultKind::Job(f) => f.write(w),
            FaultKind::NodeCrash(f) | FaultKind::NodeStop(f) | FaultKind::EngineCrash(f) => {
                f.write(w)
            }
            FaultKind::NodePause(f) => f.write(w),
            FaultKind::Partition(f) => f.write(w),
            FaultKind::OneWayCut(f) => f.write(w),
            FaultKind::Heal(_) => {}
            FaultKind::Delay(f) => f.write(w),
            FaultKind::Loss(f) => f.write(w),
            FaultKind::Duplicate(f) => f.write(w),
            FaultKind::Clock(f) => f.write(w),
            FaultKind::NodeSlow(f) => f.write(w),
        }
    }

    /// One line, as the report and the trace show it.
    pub fn describe(&self) -> String {
        match self {
            FaultKind::WorkThread(f) => f.describe(),
            FaultKind::Job(f) => f.describe(),
            FaultKind::NodeCrash(f) => f.describe(NodeOut::CRASH),
            FaultKind::NodeStop(f) => f.describe(NodeOut::STOP),
            FaultKind::EngineCrash(f) => f.describe(NodeOut::ENGINE),
            FaultKind::NodePause(f) => f.describe(),
            FaultKind::Partition(f) => f.describe(),
            FaultKind::OneWayCut(f) => f.describe(),
            FaultKind::Heal(f) => f.describe(),
            FaultKind::Delay(f) => f.describe(),
            FaultKind::Loss(f) => f.describe(LinkRate::LOSS),
            FaultKind::Duplicate(f) => f.describe(LinkRate::DUPLICATE),
            FaultKind::Clock(f) => f.describe(),
            FaultKind::NodeSlow(f) => f.describe(),
        }
    }

    /// The same fault lasting half as long, for shrinking; `None` if it has
    /// no length to halve.
    pub fn shorter(&self) -> Option<FaultKind> {
        match self {
            FaultKind::NodeCrash(f) => f.shorter().map(FaultKind::NodeCrash),
            FaultKind::NodeStop(f) => f.shorter().map(FaultKind::NodeStop),
            FaultKind::EngineCrash(f) => f.shorter().map(FaultKind::EngineCrash),
            FaultKind::NodePause(f) => f.shorter().map(FaultKind::NodePause),
            FaultKind::Partition(f) => f.shorter().map(FaultKind::Partition),
            FaultKind::OneWayCut(f) => f.shorter().map(FaultKind::OneWayCut),
            FaultKind::Delay(f) => f.shorter().map(FaultKind::Delay),
            FaultKind::Loss(f) => f.shorter().map(FaultKind::Loss),
            FaultKind::Duplicate(f) => f.shorter().map(FaultKind::Duplicate),
            FaultKind::Clock(f) => f.shorter().map(FaultKind::Clock),
            FaultKind::NodeSlow(f) => f.shorter().map(FaultKind::NodeSlow),
            FaultKind::WorkThread(_) | FaultKind::Job(_) | FaultKind::Heal(_) => None,
        }
    }

    /// The member (job, node) the fault strikes, if it strikes one.
    pub fn member(&self) -> Option<(&str, u16)> {
        match self {
            FaultKind::WorkThread(f) => Some((&f.job, f.node)),
            FaultKind::Job(f) => Some((&f.job, f.node)),
            FaultKind::NodeCrash(_)
            | FaultKind::NodeStop(_)
            | FaultKind::EngineCrash(_)
            | FaultKind::NodePause(_)
            | FaultKind::Partition(_)
            | FaultKind::OneWayCut(_)
            | FaultKind::Heal(_)
            | FaultKind::Delay(_)
            | FaultKind::Loss(_)
            | FaultKind::Duplicate(_)
            | FaultKind::Clock(_)
            | FaultKind::NodeSlow(_) => None,
        }
    }

    /// The fault in a cluster without its last node `last`; `None` if it
    /// no longer makes sense there.
    pub fn without_node(&self, last: u16) -> Option<FaultKind> {
        match self {
            FaultKind::NodeCrash(f) | FaultKind::NodeStop(f) | FaultKind::EngineCrash(f) => {
                (f.node != last).then(|| self.clone())
            }
            FaultKind::NodePause(f) => (f.node != last).then(|| self.clone()),
            FaultKind::Clock(f) => (f.node != last).then(|| self.clone()),
            FaultKind::NodeSlow(f) => (f.node != last).then(|| self.clone()),
            FaultKind::Partition(f) => f.without_node(last).map(FaultKind::Partition),
            FaultKind::OneWayCut(f) => f.without_node(last).map(FaultKind::OneWayCut),
            FaultKind::Heal(_) => Some(self.clone()),
            FaultKind::Delay(f) => f.without_node(last).map(FaultKind::Delay),
            FaultKind::Loss(f) => f.without_node(last).map(FaultKind::Loss),
            FaultKind::Duplicate(f) => f.without_node(last).map(FaultKind::Duplicate),
            FaultKind::WorkThread(_) | FaultKind::Job(_) => self
                .member()
                .is_none_or(|(_, n)| n != last)
                .then(|| self.clone()),
        }
    }

    /// The fault once the jobs `jobs` run a single work thread.
    pub fn with_one_thread(&self, jobs: &[String]) -> FaultKind {
        let mut kind = self.clone();
        if let FaultKind::WorkThread(f) = &mut kind {
            f.one_thread(jobs);
        }
        kind
    }
}

/// What one `[random.KIND]` table draws, with the bounds of each draw.
#[derive(Debug, Clone, PartialEq)]
pub enum RandomFault {
    WorkThread(RandomWorkThread),
    JobKill(RandomJobKill),
    NodeCrash(RandomNodeOut),
    NodeStop(RandomNodeOut),
    EngineCrash(RandomNodeOut),
    NodePause(RandomNodePause),
    Partition(RandomPartition),
    OneWayCut(RandomOneWayCut),
    Delay(RandomDelay),
    Loss(RandomRate),
    Duplicate(RandomRate),
    Clock(RandomClock),
    NodeSlow(RandomNodeSlow),
    /// Not a fault: tasks submitted at random times.
    Task(RandomTask),
}

/// What one draw of a `[random.KIND]` table yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Drawn {
    Fault(FaultKind),
    Task(Task),
    /// A task with no member left to submit it.
    Nothing,
}

/// How a `[random.KIND]` table is read, and what `--swarm` draws of the
/// kind without one: the table's name, the keys it takes besides `count`,
/// `every` and `max`, its parser, and its default menu entry (`None` where
/// the kind does not apply, as a partition of one node). As with
/// [`Spec`], the only place a name meets its parser; the tests round-trip
/// every kind of the default menu.
pub(super) struct RandomSpec {
    pub name: &'static str,
    pub keys: Keys,
    pub parse: fn(&Table<'_>) -> Result<RandomFault>,
    pub menu: fn(&Scenario) -> Option<(Rate, RandomFault)>,
}

/// One [`RandomSpec`] per kind, in the order kinds are drawn.
const RANDOM_SPECS: &[RandomSpec] = &[
    RandomSpec {
        name: RandomWorkThread::NAME,
        keys: RandomWorkThread::KEYS,
        parse: |t| RandomWorkThread::parse(t).map(RandomFault::WorkThread),
        menu: |s| Some(on(RandomWorkThread::menu(s), RandomFault::WorkThread)),
    },
    RandomSpec {
        name: RandomJobKill::NAME,
        keys: RandomJobKill::KEYS,
        parse: |t| RandomJobKill::parse(t).map(RandomFault::JobKill),
        menu: |s| Some(on(RandomJobKill::menu(s), RandomFault::JobKill)),
    },
    RandomSpec {
        name: NodeOut::CRASH,
        keys: RandomNodeOut::CRASH_KEYS,
        parse: |t| RandomNodeOut::parse(t, true).map(RandomFault::NodeCrash),
        menu: |s| {
            let (rate, mut kind) = RandomNodeOut::menu(s, 2);
            kind.lose_disk = Some(0.3);
            Some((rate, RandomFault::NodeCrash(kind)))
        },
    },
    RandomSpec {
        name: RandomNodePause::NAME,
        keys: RandomNodePause::KEYS,
        parse: |t| RandomNodePause::parse(t).map(RandomFault::NodePause),
        menu: |s| Some(on(RandomNodePause::menu(s), RandomFault::NodePause)),
    },
    RandomSpec {
        name: RandomPartition::NAME,
        keys: RandomPartition::KEYS,
        parse: |t| RandomPartition::parse(t).map(RandomFault::Partition),
        menu: |s| RandomPartition::menu(s).map(|m| on(m, RandomFault::Partition)),
    },
    RandomSpec {
        name: RandomDelay::NAME,
        keys: RandomDelay::KEYS,
        parse: |t| RandomDelay::parse(t).map(RandomFault::Delay),
        menu: |s| Some(on(RandomDelay::menu(s), RandomFault::Delay)),
    },
    RandomSpec {
        name: LinkRate::LOSS,
        keys: RandomRate::KEYS,
        parse: |t| RandomRate::parse(t).map(RandomFault::Loss),
        menu: |s| Some(on(RandomRate::menu(s, 2), RandomFault::Loss)),
    },
    RandomSpec {
        name: RandomTask::NAME,
        keys: RandomTask::KEYS,
        parse: |t| RandomTask::parse(t).map(RandomFault::Task),
        menu: |s| RandomTask::menu(s).map(|m| on(m, RandomFault::Task)),
    },
    RandomSpec {
        name: RandomOneWayCut::NAME,
        keys: RandomOneWayCut::KEYS,
        parse: |t| RandomOneWayCut::parse(t).map(RandomFault::OneWayCut),
        menu: |s| RandomOneWayCut::menu(s).map(|m| on(m, RandomFault::OneWayCut)),
    },
    RandomSpec {
        name: LinkRate::DUPLICATE,
        keys: RandomRate::KEYS,
        parse: |t| RandomRate::parse(t).map(RandomFault::Duplicate),
        menu: |s| Some(on(RandomRate::menu(s, 4), RandomFault::Duplicate)),
    },
    RandomSpec {
        name: NodeOut::STOP,
        keys: RandomNodeOut::KEYS,
        parse: |t| RandomNodeOut::parse(t, false).map(RandomFault::NodeStop),
        menu: |s| Some(on(RandomNodeOut::menu(s, 3), RandomFault::NodeStop)),
    },
    RandomSpec {
        name: NodeOut::ENGINE,
        keys: RandomNodeOut::ENGINE_KEYS,
        parse: |t| RandomNodeOut::parse(t, false).map(RandomFault::EngineCrash),
        menu: |s| Some(on(RandomNodeOut::menu(s, 3), RandomFault::EngineCrash)),
    },
    RandomSpec {
        name: RandomClock::NAME,
        keys: RandomClock::KEYS,
        parse: |t| RandomClock::parse(t).map(RandomFault::Clock),
        menu: |s| Some(on(RandomClock::menu(s), RandomFault::Clock)),
    },
    RandomSpec {
        name: RandomNodeSlow::NAME,
        keys: RandomNodeSlow::KEYS,
        parse: |t| RandomNodeSlow::parse(t).map(RandomFault::NodeSlow),
        menu: |s| Some(on(RandomNodeSlow::menu(s), RandomFault::NodeSlow)),
    },
];

impl RandomFault {
    /// The `[random.KIND]` table names, in the order kinds are drawn.
    pub fn names() -> Vec<&'static str> {
        RANDOM_SPECS.iter().map(|s| s.name).collect()
    }

    /// This kind's table name.
    pub fn name(&self) -> &'static str {
        match self {
            RandomFault::WorkThread(_) => RandomWorkThread::NAME,
            RandomFault::JobKill(_) => RandomJobKill::NAME,
            RandomFault::NodeCrash(_) => NodeOut::CRASH,
            RandomFault::NodeStop(_) => NodeOut::STOP,
            RandomFault::EngineCrash(_) => NodeOut::ENGINE,
            RandomFault::NodePause(_) => RandomNodePause::NAME,
            RandomFault::Partition(_) => RandomPartition::NAME,
            RandomFault::OneWayCut(_) => RandomOneWayCut::NAME,
            RandomFault::Delay(_) => RandomDelay::NAME,
            RandomFault::Loss(_) => LinkRate::LOSS,
            RandomFault::Duplicate(_) => LinkRate::DUPLICATE,
            RandomFault::Clock(_) => RandomClock::NAME,
            RandomFault::NodeSlow(_) => RandomNodeSlow::NAME,
            RandomFault::Task(_) => RandomTask::NAME,
        }
    }

    /// How `[random.name]` is read; `None` for an unknown kind.
    pub(super) fn spec(name: &str) -> Option<&'static RandomSpec> {
        RANDOM_SPECS.iter().find(|s| s.name == name)
    }

    pub(super) fn write(&self, w: &mut Writer) {
        match self {
            RandomFault::WorkThread(f) => f.write(w),
            RandomFault::JobKill(f) => f.write(w),
            RandomFault::NodeCrash(f) | RandomFault::NodeStop(f) | RandomFault::EngineCrash(f) => {
                f.write(w)
            }
            RandomFault::NodePause(f) => f.write(w),
            RandomFault::Partition(f) => f.write(w),
            RandomFault::OneWayCut(f) => f.write(w),
            RandomFault::Delay(f) => f.write(w),
            RandomFault::Loss(f) => f.write(w),
            RandomFault::Duplicate(f) => f.write(w),
            RandomFault::Clock(f) => f.write(w),
            RandomFault::NodeSlow(f) => f.write(w),
            RandomFault::Task(f) => f.write(w),
        }
    }

    /// One fault (or task) of this kind at `at`, drawn with `dice`.
    pub(super) fn draw(&self, dice: &mut Dice<'_>, at: Duration) -> Drawn {
        let fault = match self {
            RandomFault::WorkThread(f) => FaultKind::WorkThread(f.draw(dice)),
            RandomFault::JobKill(f) => FaultKind::Job(f.draw(dice)),
            RandomFault::NodeCrash(f) => FaultKind::NodeCrash(f.draw(dice)),
            RandomFault::NodeStop(f) => FaultKind::NodeStop(f.draw(dice)),
            RandomFault::EngineCrash(f) => FaultKind::EngineCrash(f.draw(dice)),
            RandomFault::NodePause(f) => FaultKind::NodePause(f.draw(dice)),
            RandomFault::Partition(f) => FaultKind::Partition(f.draw(dice)),
            RandomFault::OneWayCut(f) => FaultKind::OneWayCut(f.draw(dice)),
            RandomFault::Delay(f) => FaultKind::Delay(f.draw(dice)),
            RandomFault::Loss(f) => FaultKind::Loss(f.draw(dice)),
            RandomFault::Duplicate(f) => FaultKind::Duplicate(f.draw(dice)),
            RandomFault::Clock(f) => FaultKind::Clock(f.draw(dice)),
            RandomFault::NodeSlow(f) => FaultKind::NodeSlow(f.draw(dice)),
            RandomFault::Task(f) => return f.draw(dice, at).map_or(Drawn::Nothing, Drawn::Task),
        };
        Drawn::Fault(fault)
    }

    /// Every kind, with rates and bounds scaled to `scenario`'s timing, in
    /// draw order: what `--swarm` draws from without a `[random]` section.
    pub(super) fn menu(s: &Scenario) -> Vec<RandomKind> {
        RANDOM_SPECS
            .iter()
            .filter_map(|spec| (spec.menu)(s))
            .map(|(rate, fault)| RandomKind { rate, fault })
            .collect()
    }
}

fn on<T>((rate, kind): (Rate, T), wrap: impl FnOnce(T) -> RandomFault) -> (Rate, RandomFault) {
    (rate, wrap(kind))
}

/// `count = [min, max]` faults per run.
fn count(min: u32, max: u32) -> Rate {
    Rate::Count { min, max }
}

/// A fault every `duration / div` on average.
fn every(s: &Scenario, div: u32) -> Rate {
    Rate::Every {
        mean: (s.duration / div).max(Duration::from_millis(1)),
        max: Rate::MAX_EVERY,
    }
}

/// Half of `d`, on whole milliseconds; `None` if that is not shorter.
fn half(d: Duration) -> Option<Duration> {
    let h = Duration::from_millis((d / 2).as_millis() as u64);
    (h >= Duration::from_millis(1) && h < d).then_some(h)
}

/// `n0,n2` for messages.
fn nodes_text(nodes: &[u16]) -> String {
    let names: Vec<String> = nodes.iter().map(|n| super::node_name(*n)).collect();
    names.join(",")
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn duration_toml(d: Duration) -> String {
    quote(&super::duration_text(d))
}

fn float_toml(x: f64) -> String {
    let s = format!("{x}");
    if s.contains(['.', 'e', 'E']) || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

fn nodes_toml(nodes: &[u16]) -> String {
    let items: Vec<String> = nodes.iter().map(|n| quote(&super::node_name(*n))).collect();
    format!("[{}]", items.join(", "))
}

/// Writes a kind's keys as TOML lines.
#[derive(Default)]
pub(super) struct Writer {
    pub(super) text: String,
}

impl Writer {
    pub(super) fn raw(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{key} = {value}");
    }
    /// A `[min, max]` pair of rates, as `Table::rate_range` reads it.
    pub(super) fn rates(&mut self, key: &str, (lo, hi): (f64, f64)) {
        self.raw(key, format!("[{}, {}]", float_toml(lo), float_toml(hi)));
    }
    pub(super) fn text(&mut self, key: &str, value: &str) {
        self.raw(key, quote(value));
    }
    pub(super) fn texts(&mut self, key: &str, values: &[String]) {
        let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
        self.raw(key, format!("[{}]", items.join(", ")));
    }
    pub(super) fn node(&mut self, key: &str, node: u16) {
        self.raw(key, quote(&super::node_name(node)));
    }
    pub(super) fn nodes(&mut self, key: &str, nodes: &[u16]) {
        self.raw(key, nodes_toml(nodes));
    }
    pub(super) fn duration(&mut self, key: &str, d: Duration) {
        self.raw(key, duration_toml(d));
    }
    pub(super) fn range(&mut self, key: &str, (a, b): (Duration, Duration)) {
        self.raw(key, format!("[{}, {}]", duration_toml(a), duration_toml(b)));
    }
}
