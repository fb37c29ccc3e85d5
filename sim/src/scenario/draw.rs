//! Random faults: each seed draws its own concrete fault schedule from a
//! scenario's `[random]` section, and with swarm testing also which fault
//! kinds are on and how often they strike.
//!
//! Invariant: a draw depends only on the scenario and the seed, through a
//! ChaCha generator of its own (not madsim's, so the draw does not shift
//! when the simulation's use of randomness changes). The result is a plain
//! scenario whose `[[fault]]` list holds every fault; written out with
//! [`Scenario::to_toml`], it replays the same faults without this module.

use crate::scenario::faults::Drawn;
pub use crate::scenario::Swarm;
use crate::scenario::{Fault, RandomFault, RandomFaults, RandomKind, Rate, Scenario, Task};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Stream numbers, so that the fault draw and the swarm draw of one seed
/// are independent.
const FAULT_STREAM: u64 = 0x7669_6769_6c5f_6661; // "vigil_fa"
const SWARM_STREAM: u64 = 0x7669_6769_6c5f_7377; // "vigil_sw"

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The concrete scenario seed `seed` runs: `scenario` with its `[random]`
/// section (or, with `swarm`, a swarm draw from it or from
/// [`default_menu`]) replaced by the faults it drew, merged into the fixed
/// ones. Without `[random]` and without `swarm`, the scenario itself.
pub fn draw(scenario: &Scenario, seed: u64, swarm: bool) -> (Scenario, Option<Swarm>) {
    let mut concrete = scenario.clone();
    concrete.random = None;
    let (spec, swarm) = if swarm {
        let menu = scenario
            .random
            .clone()
            .unwrap_or_else(|| default_menu(scenario));
        let (spec, drawn) = swarm_draw(&menu, seed);
        (Some(spec), Some(drawn))
    } else {
        (scenario.random.clone(), None)
    };
    if let Some(spec) = spec {
        let (faults, tasks) = draw_faults(scenario, &spec, seed);
        // Stable sorts: fixed faults and tasks first at equal times.
        concrete.faults.extend(faults);
        concrete.faults.sort_by_key(|f| f.at);
        concrete.tasks.extend(tasks);
        concrete.tasks.sort_by_key(|t| t.at);
    }
    (concrete, swarm)
}

/// The scenario seed `seed` runs without swarm testing: `scenario` itself,
/// or, with a `[random]` section, its draw. For callers that take a file's
/// scenario as it is ([`crate::runtime::run`], [`crate::check::check`]).
pub fn concrete(scenario: &Scenario, seed: u64) -> std::borrow::Cow<'_, Scenario> {
    if scenario.random.is_some() {
        std::borrow::Cow::Owned(draw(scenario, seed, false).0)
    } else {
        std::borrow::Cow::Borrowed(scenario)
    }
}

/// The fault kinds `--swarm` draws from when a scenario has no `[random]`:
/// every kind, with bounds scaled to the scenario's timing (each kind's
/// home says how).
pub fn default_menu(scenario: &Scenario) -> RandomFaults {
    RandomFaults {
        after: Duration::ZERO,
        before: scenario.duration,
        kinds: RandomFault::menu(scenario),
    }
}

/// Swarm testing (Groce et al.; TigerBeetle's VOPR): each kind is on with
/// probability 1/2 (at least one is), a `count` kind's maximum is drawn in
/// its range, and an `every` kind's mean interval is scaled by 1/2 to 4.
fn swarm_draw(menu: &RandomFaults, seed: u64) -> (RandomFaults, Swarm) {
    let mut rng = rng(seed, SWARM_STREAM);
    let mut on_flags: Vec<bool> = menu.kinds.iter().map(|_| rng.gen_bool(0.5)).collect();
    if !on_flags.iter().any(|on| *on) {
        let pick = rng.gen_range(0..on_flags.len());
        on_flags[pick] = true;
    }
    let mut on = Vec::new();
    let mut off = Vec::new();
    for (kind, flag) in menu.kinds.iter().zip(on_flags) {
        if !flag {
            off.push(kind.fault.name());
            continue;
        }
        let rate = match kind.rate {
            Rate::Count { min, max } => Rate::Count {
                min,
                max: rng.gen_range(min..=max),
            },
            Rate::Every { mean, max } => {
                let factor = 2f64.powf(rng.gen_range(-1.0..=2.0));
                let ms = (mean.as_secs_f64() * factor * 1000.0).round().max(1.0);
                Rate::Every {
                    mean: Duration::from_millis(ms as u64),
                    max,
                }
            }
        };
        on.push(RandomKind {
            rate,
            fault: kind.fault.clone(),
        });
    }
    let spec = RandomFaults {
        after: menu.after,
        before: menu.before,
        kinds: on.clone(),
    };
    (spec, Swarm { on, off })
}

/// The times one kind strikes, in `[after, before)`, sorted.
fn times(rng: &mut ChaCha8Rng, rate: Rate, after: Duration, before: Duration) -> Vec<Duration> {
    let (lo, hi) = (after.as_millis() as u64, before.as_millis() as u64);
    if hi <= lo {
        return Vec::new();
    }
    let mut out = Vec::new();
    match rate {
        Rate::Count { min, max } => {
            let n = rng.gen_range(min..=max);
            for _ in 0..n {
                out.push(Duration::from_millis(rng.gen_range(lo..hi)));
            }
            out.sort();
        }
        Rate::Every { mean, max } => {
            let mean_ms = mean.as_secs_f64() * 1000.0;
            let mut t = lo as f64;
            while (out.len() as u32) < max {
                // Exponential gaps: a Poisson process with the mean interval.
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                t += -u.ln() * mean_ms;
                if t >= hi as f64 {
                    break;
                }
                out.push(Duration::from_millis(t as u64));
            }
        }
    }
    out
}

/// What a kind's draw uses: the seed's generator and the scenario.
pub struct Dice<'a> {
    rng: &'a mut ChaCha8Rng,
    pub scenario: &'a Scenario,
}

impl Dice<'_> {
    /// One of `items`, uniformly.
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.gen_range(0..items.len())].clone()
    }

    /// A number in `0..n`. The type matters: the generator draws a `u16`
    /// and a `usize` differently, and a seed's draw must not change.
    pub fn below<T>(&mut self, n: T) -> T
    where
        T: rand::distributions::uniform::SampleUniform + PartialOrd + From<u8>,
    {
        self.rng.gen_range(T::from(0)..n)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u16, hi: u16) -> u16 {
        self.rng.gen_range(lo..=hi)
    }

    /// A rate in `[lo, hi]`.
    pub fn rate_in(&mut self, (lo, hi): (f64, f64)) -> f64 {
        if hi > lo {
            self.rng.gen_range(lo..=hi)
        } else {
            lo
        }
    }

    /// True with probability `p` (in `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// A time in `[lo, hi]`, in whole milliseconds (so written schedules
    /// read well): faults land on the millisecond grid.
    pub fn ms_in(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
        Duration::from_millis(if hi > lo {
            self.rng.gen_range(lo..=hi)
        } else {
            lo
        })
        .max(Duration::from_millis(1))
    }

    /// `items` in a random order.
    pub fn shuffled<T>(&mut self, mut items: Vec<T>) -> Vec<T> {
        items.shuffle(self.rng);
        items
    }

    /// Every node of the cluster.
    pub fn nodes(&self) -> Vec<u16> {
        (0..self.scenario.cluster.nodes).collect()
    }

    /// Every job of the scenario.
    pub fn jobs(&self) -> Vec<String> {
        self.scenario.jobs.iter().map(|j| j.name.clone()).collect()
    }
}

/// Every fault and task `spec` draws for `seed`, in kind order then time
/// order.
fn draw_faults(scenario: &Scenario, spec: &RandomFaults, seed: u64) -> (Vec<Fault>, Vec<Task>) {
    let mut rng = rng(seed, FAULT_STREAM);
    let (mut faults, mut tasks) = (Vec::new(), Vec::new());
    for kind in &spec.kinds {
        for at in times(&mut rng, kind.rate, spec.after, spec.before) {
            let mut dice = Dice {
                rng: &mut rng,
                scenario,
            };
            match kind.fault.draw(&mut dice, at) {
                Drawn::Fault(kind) => faults.push(Fault { at, kind, line: 0 }),
                Drawn::Task(task) => tasks.push(task),
                Drawn::Nothing => {}
            }
        }
    }
    (faults, tasks)
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;
    use crate::scenario::{parse, FaultKind};

    const FILE: &str = r#"
name = "random"
duration = "20s"
[cluster]
nodes = 4
[[job]]
name = "db"
group = "g"
work_threads = 2
[[fault]]
at = "1s"
kind = "work-thread-panic"
node = "n0"
job = "db"
[random]
after = "2s"
before = "18s"
[random.work-thread]
count = [1, 3]
[random.node-crash]
every = "4s"
restart_after = ["1s", "3s"]
[random.partition]
every = "5s"
heal_after = ["500ms", "2s"]
sides = [2, 3]
[random.loss]
count = 1
rate = [0.1, 0.5]
for = ["1s", "2s"]
nodes = ["n1", "n2"]
"#;

    fn a_seed_draws_the_same_schedule_every_time_and_seeds_differ() {
        let s = parse("r.toml", FILE).unwrap_or_else(|e| panic!("{e}"));
        let (a, _) = draw(&s, 7, false);
        let (b, _) = draw(&s, 7, false);
        assert_eq!(a, b);
        let distinct: std::collections::BTreeSet<String> = (0..20)
            .map(|seed| draw(&s, seed, false).0.to_toml())
            .collect();
        assert!(distinct.len() > 15, "{}", distinct.len());
    }

    fn drawn_faults_keep_to_their_bounds_and_the_fixed_ones_stay() {
        let s = parse("r.toml", FILE).unwrap_or_else(|e| panic!("{e}"));
        for seed in 0..200 {
            let (c, swarm) = draw(&s, seed, false);
            assert!(swarm.is_none() && c.random.is_none());
            assert_eq!(
                c.faults[0].at,
                Duration::from_secs(1),
                "the fixed fault stays"
            );
            let mut wt = 0;
            let mut loss = 0;
            for f in &c.faults[1..] {
                assert!(f.at >= Duration::from_secs(2) && f.at < Duration::from_secs(18));
                match &f.kind {
                    FaultKind::WorkThread(w) => {
                        wt += 1;
                        assert!(w.thread < 2);
                    }
                    FaultKind::NodeCrash(c) => {
                        let r = c.restart_after.expect("restarts");
                        assert!(r >= Duration::from_secs(1) && r <= Duration::from_secs(3));
                    }
                    FaultKind::Partition(p) => {
                        assert!((2..=3).contains(&p.sides.len()));
                        assert!(p.sides.iter().all(|s| !s.is_empty()));
                        assert_eq!(p.sides.iter().map(Vec::len).sum::<usize>(), 4);
                        assert!(p.heal_after.is_some());
                    }
                    FaultKind::Loss(l) => {
                        loss += 1;
                        assert!((0.1..=0.5).contains(&l.rate));
                        let n = l.nodes.as_ref().expect("one node")[0];
                        assert!(n == 1 || n == 2);
                    }
                    other => panic!("not in the spec: {other:?}"),
                }
            }
            assert!((1..=3).contains(&wt), "count [1, 3], got {wt}");
            assert_eq!(loss, 1);
            // The concrete schedule is a valid scenario file on its own.
            let again = parse("c.toml", &c.to_toml()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again.faults.len(), c.faults.len());
        }
    }

    fn swarm_turns_kinds_on_and_off_per_seed() {
        let s = parse("r.toml", FILE).unwrap_or_else(|e| panic!("{e}"));
        let mut seen_off = std::collections::BTreeSet::new();
        for seed in 0..100 {
            let (_, swarm) = draw(&s, seed, true);
            let swarm = swarm.expect("a swarm draw");
            assert!(!swarm.on.is_empty());
            assert_eq!(swarm.on.len() + swarm.off.len(), 4);
            seen_off.extend(swarm.off.iter().copied());
        }
        assert_eq!(seen_off.len(), 4, "every kind is off for some seed");
        // Without [random], swarm draws from the default menu.
        let mut plain = s.clone();
        plain.random = None;
        let (c, swarm) = draw(&plain, 3, true);
        assert!(swarm.is_some());
        assert!(parse("c.toml", &c.to_toml()).is_ok());
    }

    /// A drawn slowness is written on the tenth, and a `node-slow` fault
    /// needs a factor above 1: a range from 1 never draws 1 (the file
    /// `run --emit-scenario` or `shrink` writes of it would not load),
    /// and a range that could only draw 1 is refused.
    fn a_drawn_slowness_is_one_the_loader_takes() {
        let file = |factor: &str| {
            format!(
                "name = \"s\"\nduration = \"20s\"\n[cluster]\nnodes = 3\n[[job]]\nname = \"db\"\ngroup = \"g\"\n\
                 [random.node-slow]\nevery = \"1s\"\nfactor = {factor}\nfor = [\"1s\", \"2s\"]\n"
            )
        };
        let s = parse("s.toml", &file("[1.0, 1.3]")).unwrap_or_else(|e| panic!("{e}"));
        let mut least = f64::MAX;
        for seed in 0..50 {
            let (c, _) = draw(&s, seed, false);
            for f in &c.faults {
                if let FaultKind::NodeSlow(n) = &f.kind {
                    least = least.min(n.factor);
                }
            }
            parse("c.toml", &c.to_toml()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        assert_eq!(least, 1.1, "the least draw is the least factor above 1");
        let refused = parse("s.toml", &file("[1.0, 1.04]")).expect_err("only full speed");
        assert!(refused.to_string().contains("must reach 1.1"), "{refused}");
        // Every draw of a range short of 1.1 would be 1.1, above the range.
        let refused = parse("s.toml", &file("[1.0, 1.05]")).expect_err("short of 1.1");
        assert!(refused.to_string().contains("must reach 1.1"), "{refused}");
        assert!(parse("s.toml", &file("[1.0, 1.1]")).is_ok());
    }

    unit_tests![
        a_seed_draws_the_same_schedule_every_time_and_seeds_differ,
        drawn_faults_keep_to_their_bounds_and_the_fixed_ones_stay,
        swarm_turns_kinds_on_and_off_per_seed,
        a_drawn_slowness_is_one_the_loader_takes,
    ];
}
