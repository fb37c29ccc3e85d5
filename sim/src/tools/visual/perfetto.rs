//! The run in the Trace Event Format (the JSON that Perfetto's UI and
//! chrome://tracing open).
//!
//! - One process per node (`pid` = node number + 1), with one thread for
//!   its engine, and for each job one for the main thread and one per work
//!   thread. Process 0, `cluster`, holds one track per lasting fault.
//! - Slices (`ph: X`): each work thread's ACK waits (round start to its
//!   last ACK) and local steps (between rounds); each packet's send and
//!   delivery on the engines; each ACK a main thread took.
//! - Flows (`ph: s` / `f`, bound to the enclosing slice): every delivered
//!   packet from engine to engine, every ACK from the work thread that sent
//!   it to the main thread that took it.
//! - Instant events (`ph: i`): faults, view installs, membership changes,
//!   check failures.
//!
//! Times are in microseconds of simulated time (`ts`, `dur`), with
//! nanosecond precision.

use super::{Carries, Fate, JobLane, MarkKind, Place, Story};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use vigil_engine::{MemberId, NodeId, Time};

/// Microseconds, to the nanosecond.
fn us(t: Time) -> f64 {
    t.0 as f64 / 1000.0
}

fn pid(n: NodeId) -> u64 {
    u64::from(n.0) + 1
}

/// Thread ids within each node's process.
struct Threads {
    engine: u64,
    main: BTreeMap<JobLane, u64>,
    work: BTreeMap<(JobLane, u16), u64>,
}

/// What to export.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub from: Time,
    pub to: Time,
    /// Heartbeats and link acks too.
    pub heartbeats: bool,
}

/// The document, and how many events it holds.
pub struct Export {
    pub json: String,
    pub events: usize,
}

/// Events, written one by one into the document as they come.
struct Events {
    json: String,
    count: usize,
}

impl Events {
    fn push(&mut self, v: Value) {
        if self.count > 0 {
            self.json.push_str(",\n");
        }
        self.json.push_str(&v.to_string());
        self.count += 1;
    }
}

/// The Trace Event Format document of `story` within `opts`' window.
/// Member packets are left out: each ACK's flow, from work thread to main
/// thread, already shows it (a dropped one stays, as an instant event).
pub fn export(story: &Story, opts: Options) -> Export {
    let Options {
        from,
        to,
        heartbeats,
    } = opts;
    let within = |a: Time, b: Time| b >= from && a <= to;
    let mut ev = Events {
        json: String::from("{\"traceEvents\":[\n"),
        count: 0,
    };
    let mut threads = Threads {
        engine: 1,
        main: BTreeMap::new(),
        work: BTreeMap::new(),
    };
    let meta = |name: &str, pid: u64, tid: u64, args: Value| json!({"name": name, "ph": "M", "pid": pid, "tid": tid, "ts": 0, "args": args});
    ev.push(meta("process_name", 0, 0, json!({"name": "cluster"})));
    ev.push(meta("process_sort_index", 0, 0, json!({"sort_index": 0})));
    for n in &story.nodes {
        let p = pid(*n);
        ev.push(meta("process_name", p, 0, json!({"name": n.to_string()})));
        ev.push(meta("process_sort_index", p, 0, json!({"sort_index": p})));
        ev.push(meta("thread_name", p, 1, json!({"name": "engine"})));
        ev.push(meta("thread_sort_index", p, 1, json!({"sort_index": 1})));
        let mut tid = 2;
        for lane in story.jobs.get(n).into_iter().flatten() {
            threads.main.insert(lane.clone(), tid);
            ev.push(meta(
                "thread_name",
                p,
                tid,
                json!({"name": format!("{} main", lane.job)}),
            ));
            ev.push(meta(
                "thread_sort_index",
                p,
                tid,
                json!({"sort_index": tid}),
            ));
            tid += 1;
            for t in story.threads.get(lane).into_iter().flatten() {
                threads.work.insert((lane.clone(), *t), tid);
                ev.push(meta(
                    "thread_name",
                    p,
                    tid,
                    json!({"name": format!("{} work {t}", lane.job)}),
                ));
                ev.push(meta(
                    "thread_sort_index",
                    p,
                    tid,
                    json!({"sort_index": tid}),
                ));
                tid += 1;
            }
        }
    }

    // Work threads: ACK waits and the local steps between them. A step is
    // drawn between two rounds of one member only: a lane's next member
    // (its node restarted, its job registered again) starts afresh, and
    // the thread did not step while its node was down.
    let mut last_end: BTreeMap<(JobLane, u16), (Time, MemberId)> = BTreeMap::new();
    // Each work thread's slices, so that an ACK's flow starts inside one.
    let mut spans: BTreeMap<(JobLane, u16), Vec<(Time, Time)>> = BTreeMap::new();
    for r in &story.rounds {
        if !within(r.start, r.end.unwrap_or(story.end)) {
            continue;
        }
        let lane = JobLane::of(&r.member);
        let Some(tid) = threads.work.get(&(lane.clone(), r.thread)) else {
            continue;
        };
        let p = pid(r.member.node);
        let thread_spans = spans.entry((lane.clone(), r.thread)).or_default();
        if let Some((prev, _)) = last_end
            .get(&(lane.clone(), r.thread))
            .filter(|(_, member)| *member == r.member)
        {
            if *prev < r.start {
                ev.push(json!({
                    "name": "step", "cat": "step", "ph": "X", "pid": p, "tid": tid,
                    "ts": us(*prev), "dur": us(r.start) - us(*prev),
                    "args": {"member": format!("{:?}", r.member)},
                }));
            }
            thread_spans.push((*prev, r.start));
        }
        let end = r.end.unwrap_or(story.end);
        thread_spans.push((r.start, end));
        ev.push(json!({
            "name": format!("ACK wait {}", r.label()), "cat": "round", "ph": "X", "pid": p, "tid": tid,
            "ts": us(r.start), "dur": us(end) - us(r.start),
            "args": {"member": format!("{:?}", r.member), "round": r.round, "completed": r.completed},
        }));
        last_end.insert((lane, r.thread), (end, r.member.clone()));
    }

    // ACKs: out of the work thread, into the main thread.
    let mut flow = 0u64;
    for a in story.acks.iter().filter(|a| within(a.sent, a.taken)) {
        let from = threads.work.get(&(JobLane::of(&a.from), a.thread));
        let to = threads.main.get(&JobLane::of(&a.to));
        let (Some(from), Some(to)) = (from, to) else {
            continue;
        };
        flow += 1;
        let name = a.label();
        ev.push(json!({
            "name": format!("take {name} from {}", a.from), "cat": "ack", "ph": "X",
            "pid": pid(a.to.node), "tid": to, "ts": us(a.taken), "dur": 0,
            "args": {"from": a.from.to_string(), "round": a.round, "thread": a.thread,
                     "latency_ms": (a.taken.0 - a.sent.0) as f64 / 1e6},
        }));
        // The packet may leave a moment after its member's last slice
        // ended (it left its group as the ACK went out): bind the flow to
        // that slice's end.
        let sent = spans
            .get(&(JobLane::of(&a.from), a.thread))
            .and_then(|s| {
                let inside = s.iter().any(|(x, y)| *x <= a.sent && a.sent <= *y);
                (!inside)
                    .then(|| {
                        s.iter()
                            .filter(|(_, y)| *y <= a.sent)
                            .map(|(_, y)| *y)
                            .max()
                    })
                    .flatten()
            })
            .unwrap_or(a.sent);
        ev.push(json!({"name": name, "cat": "ack", "ph": "s", "id": flow, "pid": pid(a.from.node), "tid": from, "ts": us(sent)}));
        ev.push(json!({"name": name, "cat": "ack", "ph": "f", "bp": "e", "id": flow, "pid": pid(a.to.node), "tid": to, "ts": us(a.taken)}));
    }

    // Packets: engine to engine.
    for p in &story.packets {
        let arrived = match p.fate {
            Fate::Delivered(at) => at,
            _ => p.sent,
        };
        if (!heartbeats && p.is_chatter())
            || !within(p.sent, arrived)
            || (p.carries() == Carries::Members && !matches!(p.fate, Fate::Dropped(_)))
        {
            continue;
        }
        let cat = match p.carries() {
            Carries::Heartbeat | Carries::LinkAck => "heartbeat",
            Carries::Members => "member-packet",
            Carries::Engine => "engine",
        };
        let mut args = json!({"id": p.id, "from": p.from.to_string(), "to": p.to.to_string(), "what": p.what.to_string()});
        if let Fate::Dropped(cause) = p.fate {
            args["dropped"] = json!(cause);
        }
        ev.push(json!({
            "name": format!("send {}", p.what), "cat": cat, "ph": "X",
            "pid": pid(p.from), "tid": threads.engine, "ts": us(p.sent), "dur": 0, "args": args,
        }));
        match p.fate {
            Fate::Delivered(at) => {
                flow += 1;
                ev.push(json!({
                    "name": format!("receive {}", p.what), "cat": cat, "ph": "X",
                    "pid": pid(p.to), "tid": threads.engine, "ts": us(at), "dur": 0,
                    "args": {"id": p.id, "from": p.from.to_string(), "latency_ms": (at.0 - p.sent.0) as f64 / 1e6},
                }));
                ev.push(json!({"name": p.what.to_string(), "cat": cat, "ph": "s", "id": flow, "pid": pid(p.from), "tid": threads.engine, "ts": us(p.sent)}));
                ev.push(json!({"name": p.what.to_string(), "cat": cat, "ph": "f", "bp": "e", "id": flow, "pid": pid(p.to), "tid": threads.engine, "ts": us(at)}));
            }
            Fate::Dropped(cause) => ev.push(json!({
                "name": format!("dropped ({cause}): {}", p.what), "cat": cat, "ph": "i", "s": "t",
                "pid": pid(p.from), "tid": threads.engine, "ts": us(p.sent),
            })),
            Fate::InFlight => {}
        }
    }

    // Lasting faults, one track each in the cluster process.
    for (i, b) in story.bands.iter().enumerate() {
        if !within(b.from, b.to) {
            continue;
        }
        let tid = i as u64 + 1;
        ev.push(meta(
            "thread_name",
            0,
            tid,
            json!({"name": format!("{} {}", b.kind.as_str(), i + 1)}),
        ));
        ev.push(json!({
            "name": b.text, "cat": "fault", "ph": "X", "pid": 0, "tid": tid,
            "ts": us(b.from), "dur": us(b.to) - us(b.from),
            "args": {"nodes": b.nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>()},
        }));
    }

    // Faults, views, changes, check failures.
    for m in story.marks.iter().filter(|m| within(m.at, m.at)) {
        let cat = match m.kind {
            MarkKind::Fault | MarkKind::Unregister | MarkKind::Killed => "fault",
            MarkKind::View | MarkKind::Change | MarkKind::NodeView => "view",
            MarkKind::Check => "check",
            MarkKind::Register | MarkKind::Boot | MarkKind::Outcome => "event",
            MarkKind::Task => "task",
        };
        let (p, tid, scope) = match &m.place {
            Place::All => (0, 0, "g"),
            Place::Engine(n) => (pid(*n), threads.engine, "p"),
            Place::Job(j) => match threads.main.get(j) {
                Some(t) => (pid(j.node), *t, "t"),
                None => (pid(j.node), threads.engine, "p"),
            },
        };
        ev.push(json!({
            "name": m.label, "cat": cat, "ph": "i", "s": scope, "pid": p, "tid": tid,
            "ts": us(m.at), "args": {"detail": m.detail},
        }));
    }

    let other = json!({"title": story.title, "heartbeats": heartbeats,
        "from_ms": from.as_millis_f64(), "to_ms": to.as_millis_f64()});
    let mut json = ev.json;
    json.push_str(&format!(
        "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{other}}}\n"
    ));
    Export {
        json,
        events: ev.count,
    }
}
