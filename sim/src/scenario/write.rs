//! Writes a [`Scenario`] back out as a scenario file, so that a scenario
//! built in code (a generated fault schedule, a shrunk failure) can be saved
//! and replayed with `vigil run`.
//!
//! Invariant: `parse(to_toml(s))` gives back `s` (fault line numbers aside).

use super::faults::Writer;
use super::{Expectation, Rate, Scenario};
use std::fmt::Write as _;
use std::time::Duration;

/// A duration in the largest unit that keeps it exact.
pub fn duration_text(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns != 0 && ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

fn dur(d: Duration) -> String {
    quote(&duration_text(d))
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn float(x: f64) -> String {
    let s = format!("{x}");
    if s.contains(['.', 'e', 'E']) || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

fn node(n: u16) -> String {
    quote(&format!("n{n}"))
}

fn nodes(ns: &[u16]) -> String {
    let items: Vec<String> = ns.iter().map(|n| node(*n)).collect();
    format!("[{}]", items.join(", "))
}

impl Scenario {
    /// This scenario as a scenario file.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "name = {}", quote(&self.name));
        if let Some(d) = &self.description {
            let _ = writeln!(s, "description = {}", quote(d));
        }
        if let Some(seed) = self.seed {
            let _ = writeln!(s, "seed = {seed}");
        }
        let _ = writeln!(s, "duration = {}", dur(self.duration));
        let c = &self.cluster;
        let _ = writeln!(s, "\n[cluster]\nnodes = {}", c.nodes);
        let _ = writeln!(s, "heartbeat_interval = {}", dur(c.heartbeat_interval));
        let _ = writeln!(s, "failure_timeout = {}", dur(c.failure_timeout));
        let _ = writeln!(s, "latency = [{}, {}]", dur(c.latency.0), dur(c.latency.1));
        let _ = writeln!(s, "loss = {}", float(c.loss));
        if !c.addresses.is_empty() {
            let list: Vec<String> = c.addresses.iter().map(|a| quote(&a.to_string())).collect();
            let _ = writeln!(s, "addresses = [{}]", list.join(", "));
        }
        if let Some(q) = &c.quorum {
            let _ = writeln!(s, "quorum = \"majority\"");
            let votes: Vec<String> = q.votes.iter().map(u32::to_string).collect();
            let _ = writeln!(s, "votes = [{}]", votes.join(", "));
            let _ = writeln!(s, "wait_for_all = {}", q.wait_for_all);
        }
        for j in &self.jobs {
            let _ = writeln!(
                s,
                "\n[[job]]\nname = {}\ngroup = {}",
                quote(&j.name),
                quote(&j.group)
            );
            let _ = writeln!(s, "nodes = {}", nodes(&j.nodes));
            let _ = writeln!(s, "work_threads = {}", j.work_threads);
            let _ = writeln!(s, "work_deadline = {}", dur(j.work_deadline));
            let _ = writeln!(s, "protocol = {}", quote(&j.protocol));
            for (key, value) in &j.options.0 {
                let _ = writeln!(s, "{key} = {}", option_value(value));
            }
            let _ = writeln!(s, "step_time = {}", dur(j.step_time));
            if let Some(every) = j.ordered_every {
                let _ = writeln!(s, "ordered_every = {}", dur(every));
            }
        }
        for f in &self.faults {
            let _ = writeln!(
                s,
                "\n[[fault]]\nat = {}\nkind = {}",
                dur(f.at),
                quote(f.kind.name())
            );
            let mut w = Writer::default();
            f.kind.write(&mut w);
            s.push_str(&w.text);
        }
        for t in &self.tasks {
            let _ = writeln!(
                s,
                "\n[[task]]\nat = {}\nmember = {}\nprotocol = {}",
                dur(t.at),
                quote(&t.member.to_string()),
                quote(&t.protocol)
            );
            if t.priority {
                let _ = writeln!(s, "priority = true");
            }
            for (key, value) in &t.options.0 {
                let _ = writeln!(s, "{key} = {}", option_value(value));
            }
        }
        if let Some(r) = &self.random {
            let _ = writeln!(
                s,
                "\n[random]\nafter = {}\nbefore = {}",
                dur(r.after),
                dur(r.before)
            );
            for k in &r.kinds {
                let _ = writeln!(s, "\n[random.{}]", k.fault.name());
                match k.rate {
                    Rate::Count { min, max } => {
                        let _ = writeln!(s, "count = [{min}, {max}]");
                    }
                    Rate::Every { mean, max } => {
                        let _ = writeln!(s, "every = {}\nmax = {max}", dur(mean));
                    }
                }
                let mut w = Writer::default();
                k.fault.write(&mut w);
                s.push_str(&w.text);
            }
        }
        for e in &self.expectations {
            let _ = writeln!(s, "\n[[expect]]\nkind = {}", quote(e.name()));
            match e {
                Expectation::MembershipChange {
                    member,
                    reason,
                    within,
                    group,
                    primary,
                    occurrence,
                } => {
                    let _ = writeln!(s, "member = {}", quote(&member.to_string()));
                    if let Some(r) = reason {
                        let _ = writeln!(s, "reason = {}", quote(r.name()));
                    }
                    if let Some(w) = within {
                        let _ = writeln!(s, "within = {}", dur(*w));
                    }
                    if let Some(g) = group {
                        let _ = writeln!(s, "group = {}", quote(g));
                    }
                    if let Some(p) = primary {
                        let _ = writeln!(s, "primary = {p}");
                    }
                    if let Some(n) = occurrence {
                        let _ = writeln!(s, "occurrence = {n}");
                    }
                }
                Expectation::Joined {
                    member,
                    group,
                    after,
                    within,
                    members,
                    occurrence,
                } => {
                    let _ = writeln!(s, "member = {}", quote(&member.to_string()));
                    if let Some(g) = group {
                        let _ = writeln!(s, "group = {}", quote(g));
                    }
                    if let Some(a) = after {
                        let _ = writeln!(s, "after = {}", dur(*a));
                    }
                    if let Some(w) = within {
                        let _ = writeln!(s, "within = {}", dur(*w));
                    }
                    if let Some(ms) = members {
                        let items: Vec<String> = ms.iter().map(|m| quote(&m.to_string())).collect();
                        let _ = writeln!(s, "members = [{}]", items.join(", "));
                    }
                    if let Some(n) = occurrence {
                        let _ = writeln!(s, "occurrence = {n}");
                    }
                }
                Expectation::NoMembershipChange { group } => {
                    if let Some(g) = group {
                        let _ = writeln!(s, "group = {}", quote(g));
                    }
                }
                Expectation::ProtocolOutcome {
                    member,
                    protocol,
                    instance,
                    outcome,
                } => {
                    if let Some(m) = member {
                        let _ = writeln!(s, "member = {}", quote(&m.to_string()));
                    }
                    let _ = writeln!(
                        s,
                        "protocol = {}\ninstance = {instance}\noutcome = {}",
                        quote(protocol),
                        quote(outcome)
                    );
                }
                Expectation::FinalView {
                    group,
                    members,
                    primary,
                } => {
                    let items: Vec<String> =
                        members.iter().map(|m| quote(&m.to_string())).collect();
                    let _ = writeln!(
                        s,
                        "group = {}\nmembers = [{}]",
                        quote(group),
                        items.join(", ")
                    );
                    if let Some(p) = primary {
                        let _ = writeln!(s, "primary = {p}");
                    }
                }
            }
        }
        s
    }
}

fn option_value(value: &crate::protocols::OptionValue) -> String {
    use crate::protocols::OptionValue;
    match value {
        OptionValue::Int(v) => v.to_string(),
        OptionValue::Bool(v) => v.to_string(),
        OptionValue::Text(v) => quote(v),
        OptionValue::Float(v) => float(*v),
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::super::parse;
    use super::*;

    fn without_lines(mut s: Scenario) -> Scenario {
        for f in &mut s.faults {
            f.line = 0;
        }
        for t in &mut s.tasks {
            t.line = 0;
        }
        s
    }

    fn every_example_scenario_round_trips() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("scenarios/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a scenario");
            let original = parse("original.toml", &text).unwrap_or_else(|e| panic!("{e}"));
            let written = original.to_toml();
            let again = parse("written.toml", &written)
                .unwrap_or_else(|e| panic!("{}:\n{e}\n{written}", path.display()));
            assert_eq!(
                without_lines(again),
                without_lines(original),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 10);
    }

    fn every_fault_kind_round_trips() {
        let text = super::super::tests::FULL;
        let original = parse("full.toml", text).unwrap_or_else(|e| panic!("{e}"));
        let again = parse("written.toml", &original.to_toml()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(without_lines(again), without_lines(original));
    }

    fn durations_keep_their_exact_value() {
        for (d, text) in [
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_secs(7200), "2h"),
        ] {
            assert_eq!(duration_text(d), text);
        }
    }

    unit_tests![
        every_example_scenario_round_trips,
        every_fault_kind_round_trips,
        durations_keep_their_exact_value,
    ];
}
