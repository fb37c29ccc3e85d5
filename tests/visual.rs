//! The pictures of a run, checked from outside: every example's diagram is
//! rendered by a real SVG renderer (resvg) and must be well-formed,
//! self-contained, non-empty, with a drawn lane for every member and an
//! arrow for every message; every example's Perfetto export must meet the
//! Trace Event Format's requirements (fields, metadata, flows bound to
//! slices); the HTML report must embed what it promises. Each checker is
//! shown to bite on a broken variant. The README's diagram must be what the
//! tool draws today.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use vigil_sim::protocols::Registry;
use vigil_sim::run::{self, Execution, Request};
use vigil_sim::tools::visual::{self, perfetto, svg, Fate, Story};
use vigil_sim::trace::TraceEvent;
use vigil_tests::{example, load, root, vigil};

/// The example run with every packet recorded, at the file's seed.
fn detailed(name: &str) -> Execution {
    let scenario = load(name);
    run::execute(Request {
        registry: Registry::builtin_ref(),
        scenario: &scenario,
        seed: scenario.seed.unwrap_or(0),
        mutation: None,
        swarm: false,
        detail: true,
        driver: Default::default(),
    })
}

fn story_of(name: &str, e: &Execution) -> Story {
    Story::of_execution(&visual::title(&e.scenario.name, name, e.seed), e).expect("a whole run")
}

/// Every member's lane name (`job@node`), read from the trace itself.
fn members(e: &Execution) -> BTreeSet<String> {
    let out = e.out.as_ref().expect("a whole run");
    out.entries
        .iter()
        .filter_map(|x| match &x.event {
            TraceEvent::Registered { member, .. } => Some(member.to_string()),
            TraceEvent::View { change } => Some(change.me.to_string()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- SVG

/// What a rendered diagram showed.
#[derive(Debug)]
struct Rendered {
    lanes: usize,
    /// Non-white pixels in the rendered strip.
    inked: usize,
}

/// Checks a diagram: well-formed XML, self-contained, a `data-lane` line
/// for exactly the lanes in `expected`, and, rendered by resvg, each of
/// those lanes visibly drawn (dark pixels down its column in a strip of
/// the plot).
fn check_svg(svg: &str, expected: &BTreeSet<String>) -> Result<Rendered, String> {
    let doc = roxmltree::Document::parse(svg).map_err(|e| format!("not well-formed: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "svg" {
        return Err("the root element is not <svg>".into());
    }
    // (Read from the parsed document: five scans of the text for these
    // took a tenth of these tests' time.)
    for n in doc.descendants() {
        let bad = match n.tag_name().name() {
            "script" | "image" if n.is_element() => Some(n.tag_name().name()),
            _ if n.is_text() => ["@import", "@font-face"]
                .into_iter()
                .find(|at| n.text().is_some_and(|t| t.contains(at))),
            _ => (n.attributes())
                .find(|a| a.name() == "href" && a.value().starts_with("http"))
                .map(|_| "a link out"),
        };
        if let Some(bad) = bad {
            return Err(format!("not self-contained: it has `{bad}`"));
        }
    }
    let mut lanes: BTreeMap<String, f32> = BTreeMap::new();
    let (mut top, mut bottom) = (f32::MAX, 0f32);
    for n in doc.descendants().filter(|n| n.has_attribute("data-lane")) {
        let num = |k: &str| n.attribute(k).and_then(|v| v.parse::<f32>().ok());
        let (Some(x), Some(y1), Some(y2)) = (num("x1"), num("y1"), num("y2")) else {
            return Err("a lane without coordinates".into());
        };
        lanes.insert(n.attribute("data-lane").unwrap_or_default().to_string(), x);
        top = top.min(y1);
        bottom = bottom.max(y2);
    }
    let drawn: BTreeSet<String> = lanes.keys().cloned().collect();
    if &drawn != expected {
        return Err(format!(
            "lanes {drawn:?}, but the run's members are {expected:?}"
        ));
    }

    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default())
        .map_err(|e| format!("resvg cannot read it: {e}"))?;
    let size = tree.size();
    if size.width() < 100.0 || size.height() < 100.0 {
        return Err(format!("too small: {}x{}", size.width(), size.height()));
    }
    // A strip of the plot, at full resolution.
    let (w, h) = (
        size.width().ceil() as u32,
        240u32.min((bottom - top) as u32).max(1),
    );
    let y0 = top + ((bottom - top) - h as f32) / 2.0;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h).ok_or("no pixmap")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_translate(0.0, -y0),
        &mut pixmap.as_mut(),
    );
    let dark = |x: u32, y: u32| {
        pixmap.pixel(x, y).is_some_and(|p| {
            p.alpha() > 0
                && (u32::from(p.red()) + u32::from(p.green()) + u32::from(p.blue())) < 3 * 175
        })
    };
    for (lane, x) in &lanes {
        let x = x.round() as u32;
        let rows = (0..h)
            .filter(|y| (x.saturating_sub(1)..=x + 1).any(|xx| dark(xx, *y)))
            .count();
        if rows * 2 < h as usize {
            return Err(format!(
                "lane {lane} is not drawn: dark in {rows} of {h} rows"
            ));
        }
    }
    let inked = pixmap
        .pixels()
        .iter()
        .filter(|p| p.alpha() > 0 && (p.red(), p.green(), p.blue()) != (255, 255, 255))
        .count();
    Ok(Rendered {
        lanes: lanes.len(),
        inked,
    })
}

/// Elements of `class` drawn in the plot (the legend's sample excluded).
fn count_class(doc: &roxmltree::Document, element: &str, class: &str) -> usize {
    doc.descendants()
        .filter(|n| n.tag_name().name() == element && n.attribute("class") == Some(class))
        .count()
        - 1
}

/// An example's diagram has a lane for every member and an arrow for
/// every message; its trace event file is valid. Both come from one
/// detailed run, one test per example (so they run side by side).
fn draws_and_exports(name: &str) {
    let e = detailed(name);
    let story = story_of(name, &e);
    draws_a_lane_for_every_member_and_an_arrow_for_every_message(name, &e, &story);
    exports_a_valid_trace_event_file(name, &e, &story);
}

mod every_example {
    vigil_tests::each_example!(super::draws_and_exports);
}

fn draws_a_lane_for_every_member_and_an_arrow_for_every_message(
    name: &str,
    e: &Execution,
    story: &Story,
) {
    let d = svg::draw(story, svg::Options::default());
    let members = members(e);
    let r = check_svg(&d.svg, &members).unwrap_or_else(|err| panic!("{name}: {err}"));
    assert_eq!(r.lanes, members.len(), "{name}");
    assert!(r.inked > 1000, "{name}: the plot is blank");

    let doc = roxmltree::Document::parse(&d.svg).expect("well-formed");
    // An arrow for every ACK a main thread took from another member.
    let out = e.out.as_ref().expect("a whole run");
    let taken = out
        .entries
        .iter()
        .filter(|x| matches!(&x.event, TraceEvent::Message { to, from, .. } if to != from))
        .count();
    let drops = out
        .entries
        .iter()
        .filter(|x| match &x.event {
            TraceEvent::Drop { what, .. } => {
                d.heartbeats
                    || !matches!(
                        what,
                        vigil_sim::trace::PacketKind::Heartbeat
                            | vigil_sim::trace::PacketKind::LinkAck
                    )
            }
            _ => false,
        })
        .count();
    if d.left_out.is_empty() {
        assert_eq!(
            count_class(&doc, "line", "ack"),
            taken,
            "{name}: ACK arrows"
        );
    }
    assert_eq!(
        count_class(&doc, "path", "cross"),
        drops,
        "{name}: dropped packets"
    );
    // Engine messages: every one delivered (or still on its way).
    let engine = story
        .packets
        .iter()
        .filter(|p| p.carries() == visual::Carries::Engine && !matches!(p.fate, Fate::Dropped(_)))
        .count();
    assert_eq!(
        count_class(&doc, "line", "eng"),
        engine,
        "{name}: engine messages"
    );
}

#[test]
fn the_svg_check_bites() {
    let e = detailed("quickstart");
    let d = svg::draw(&story_of("quickstart", &e), svg::Options::default());
    let members = members(&e);
    check_svg(&d.svg, &members).expect("the real diagram passes");

    // A member without a lane.
    let start = d.svg.find("<line class=\"lane\"").expect("a lane");
    let end = start + d.svg[start..].find("</line>").expect("its end") + "</line>".len();
    let missing = format!("{}{}", &d.svg[..start], &d.svg[end..]);
    let err = check_svg(&missing, &members).expect_err("a missing lane");
    assert!(err.contains("lanes"), "{err}");

    // A lane in the markup that is not drawn.
    let invisible = d
        .svg
        .replace(".vd .lane { stroke: #333;", ".vd .lane { stroke: none;");
    let err = check_svg(&invisible, &members).expect_err("an invisible lane");
    assert!(err.contains("is not drawn"), "{err}");

    // Not well-formed, and not self-contained.
    let mut half = d.svg.len() / 2;
    while !d.svg.is_char_boundary(half) {
        half -= 1;
    }
    assert!(check_svg(&d.svg[..half], &members).is_err());
    let linked = d
        .svg
        .replace("<style>", "<style>@import url(https://example.com/x.css);");
    assert!(check_svg(&linked, &members)
        .unwrap_err()
        .contains("self-contained"));
    for outside in [
        "<script>alert(1)</script>",
        "<image href=\"x.png\" width=\"1\" height=\"1\"/>",
        "<a xmlns:xlink=\"http://www.w3.org/1999/xlink\" xlink:href=\"https://example.com\"/>",
        "<style>@font-face { font-family: x; src: url(x.woff) }</style>",
    ] {
        let linked = d.svg.replacen("</svg>", &format!("{outside}</svg>"), 1);
        let err = check_svg(&linked, &members).expect_err(outside);
        assert!(err.contains("self-contained"), "{outside}: {err}");
    }
}

#[test]
fn a_failing_run_names_every_failed_check_on_its_diagram() {
    let scenario = load("job-kill");
    let e = run::execute(Request {
        registry: Registry::builtin_ref(),
        scenario: &scenario,
        seed: 5,
        mutation: Some(vigil_sim::mutation::Mutation::DeafToDepartures),
        swarm: false,
        detail: true,
        driver: Default::default(),
    });
    assert!(!e.violations.is_empty(), "the mutation is caught");
    let d = svg::draw(&story_of("job-kill", &e), svg::Options::default());
    let doc = roxmltree::Document::parse(&d.svg).expect("well-formed");
    let labels: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("checklabel"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect();
    for v in &e.violations {
        assert!(
            labels.iter().any(|l| l
                .split(" · ")
                .any(|c| c.trim_start_matches("✗ ").trim_end_matches(" failed") == v.check)),
            "{} is not named: {labels:?}",
            v.check
        );
    }
    // One line per moment, not one per violation.
    let moments: BTreeSet<_> = e.violations.iter().map(|v| v.at).collect();
    assert_eq!(labels.len(), moments.len(), "{labels:?}");
}

#[test]
fn a_window_draws_only_its_time_and_50_nodes_stay_readable() {
    let e = detailed("quickstart");
    let story = story_of("quickstart", &e);
    let whole = svg::draw(&story, svg::Options::default());
    let t = |ms: u64| Some(vigil_engine::Time(ms * 1_000_000));
    let part = svg::draw(
        &story,
        svg::Options {
            from: t(9_900),
            to: t(10_400),
            heartbeats: Some(false),
            ..Default::default()
        },
    );
    assert!(
        part.arrows < whole.arrows / 20,
        "{} of {}",
        part.arrows,
        whole.arrows
    );
    assert!(part.svg.contains("membership change") && part.svg.contains("v25 −db@n2 (fault)"));
    assert!(
        part.svg.contains("work-thread-panic"),
        "the fault is marked"
    );
    assert!(!part.svg.contains("heartbeat · sent"), "--no-heartbeats");
    check_svg(&part.svg, &members(&e)).expect("a window is a whole diagram");

    // 50 nodes: heartbeats left out by default, every lane still there.
    let big = vigil_tests::parse(
        r#"
        name = "fifty"
        duration = "3s"
        [cluster]
        nodes = 50
        [[job]]
        name = "db"
        group = "g"
        [[fault]]
        at = "2s"
        kind = "node-crash"
        node = "n7"
        "#,
    );
    let e = run::execute(Request {
        registry: Registry::builtin_ref(),
        scenario: &big,
        seed: 1,
        mutation: None,
        swarm: false,
        detail: true,
        driver: Default::default(),
    });
    let d = svg::draw(&story_of("fifty", &e), svg::Options::default());
    assert!(!d.heartbeats);
    assert_eq!(d.lanes, 100, "an engine and a member lane per node");
    check_svg(&d.svg, &members(&e)).expect("50 nodes");
}

// ---------------------------------------------------------------- Perfetto

/// Checks a Trace Event Format document: the fields every event needs, a
/// name for every process and thread used, a process per node, and every
/// flow begun and ended, each end inside a slice on its thread.
fn check_trace_events(doc: &Value, nodes: usize) -> Result<usize, String> {
    let events = doc["traceEvents"]
        .as_array()
        .ok_or("no traceEvents array")?;
    if events.is_empty() {
        return Err("no events".into());
    }
    let mut process_names: BTreeMap<u64, String> = BTreeMap::new();
    let mut thread_names: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut used: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut slices: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    // Each flow's begin and end: (pid, tid, ts).
    type End = Option<(u64, u64, f64)>;
    let mut flows: BTreeMap<u64, (End, End)> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let ph = e["ph"]
            .as_str()
            .ok_or_else(|| format!("event {i}: no ph"))?;
        e["name"]
            .as_str()
            .ok_or_else(|| format!("event {i}: no name"))?;
        let pid = e["pid"]
            .as_u64()
            .ok_or_else(|| format!("event {i}: no pid"))?;
        let tid = e["tid"]
            .as_u64()
            .ok_or_else(|| format!("event {i}: no tid"))?;
        let ts = e["ts"]
            .as_f64()
            .ok_or_else(|| format!("event {i}: no ts"))?;
        if ts < 0.0 {
            return Err(format!("event {i}: negative ts"));
        }
        match ph {
            "M" => {
                let name = e["args"]["name"].as_str();
                match e["name"].as_str() {
                    Some("process_name") => {
                        process_names
                            .insert(pid, name.ok_or("process_name without a name")?.into());
                    }
                    Some("thread_name") => {
                        name.ok_or("thread_name without a name")?;
                        thread_names.insert((pid, tid));
                    }
                    _ => {}
                }
            }
            "X" => {
                let dur = e["dur"]
                    .as_f64()
                    .ok_or_else(|| format!("event {i}: X without dur"))?;
                if dur < 0.0 {
                    return Err(format!("event {i}: negative dur"));
                }
                slices.entry((pid, tid)).or_default().push((ts, ts + dur));
                used.insert((pid, tid));
            }
            "i" | "I" => {
                if !matches!(e["s"].as_str(), None | Some("g" | "p" | "t")) {
                    return Err(format!("event {i}: instant scope is not g, p or t"));
                }
                used.insert((pid, tid));
            }
            "s" | "f" => {
                let id = e["id"]
                    .as_u64()
                    .ok_or_else(|| format!("event {i}: flow without id"))?;
                let end = flows.entry(id).or_default();
                let slot = if ph == "s" { &mut end.0 } else { &mut end.1 };
                if slot.replace((pid, tid, ts)).is_some() {
                    return Err(format!("flow {id}: two {ph} events"));
                }
                if ph == "f" && e["bp"].as_str() != Some("e") {
                    return Err(format!("flow {id}: its end does not bind to its slice"));
                }
                used.insert((pid, tid));
            }
            other => return Err(format!("event {i}: unknown ph {other}")),
        }
    }
    for (pid, tid) in &used {
        if !process_names.contains_key(pid) {
            return Err(format!("pid {pid} has no process_name"));
        }
        if !thread_names.contains(&(*pid, *tid)) && *tid != 0 {
            return Err(format!("thread {pid}/{tid} has no thread_name"));
        }
    }
    for n in 0..nodes {
        if !process_names.values().any(|p| *p == format!("n{n}")) {
            return Err(format!("no process for n{n}"));
        }
    }
    // A thread's slices by start, each with the latest end of those that
    // start no later: some slice holds `ts` exactly when the latest end of
    // those starting at or before it reaches it.
    let reach: BTreeMap<(u64, u64), Vec<(f64, f64)>> = slices
        .into_iter()
        .map(|(thread, mut s)| {
            s.sort_by(|x, y| x.0.total_cmp(&y.0));
            let mut latest = f64::MIN;
            for x in &mut s {
                latest = latest.max(x.1);
                x.1 = latest;
            }
            (thread, s)
        })
        .collect();
    let inside = |(pid, tid, ts): (u64, u64, f64)| {
        reach.get(&(pid, tid)).is_some_and(|s| {
            let starting = s.partition_point(|(a, _)| *a <= ts);
            starting > 0 && s[starting - 1].1 >= ts
        })
    };
    for (id, (s, f)) in &flows {
        let (Some(s), Some(f)) = (s, f) else {
            return Err(format!("flow {id} is not both begun and ended"));
        };
        if f.2 < s.2 {
            return Err(format!("flow {id} ends before it begins"));
        }
        if !inside(*s) || !inside(*f) {
            return Err(format!("flow {id} is not bound to a slice at both ends"));
        }
    }
    Ok(events.len())
}

fn exported(name: &str) -> (Value, usize, Story) {
    let e = detailed(name);
    let story = story_of(name, &e);
    let (value, nodes) = export(&e, &story);
    (value, nodes, story)
}

/// The trace event file of `story` (of `e`), parsed, and the run's node count.
fn export(e: &Execution, story: &Story) -> (Value, usize) {
    let doc = perfetto::export(
        story,
        perfetto::Options {
            from: vigil_engine::Time(0),
            to: story.end,
            heartbeats: false,
        },
    );
    let value: Value = serde_json::from_str(&doc.json).expect("the export is JSON");
    (value, e.scenario.cluster.nodes.into())
}

fn exports_a_valid_trace_event_file(name: &str, e: &Execution, story: &Story) {
    let (doc, nodes) = export(e, story);
    let events = check_trace_events(&doc, nodes).unwrap_or_err_panic(name);
    assert!(events > 10, "{name}");
    // A thread per engine, main thread and work thread.
    let names: BTreeSet<&str> = doc["traceEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert!(names.contains("engine"), "{name}");
    for (lane, threads) in &story.threads {
        assert!(
            names.contains(format!("{} main", lane.job).as_str()),
            "{name}"
        );
        for t in threads {
            assert!(
                names.contains(format!("{} work {t}", lane.job).as_str()),
                "{name}"
            );
        }
    }
    // ACK waits and faults are there.
    let events = doc["traceEvents"].as_array().expect("checked above");
    // (A task runner's rounds say their task: "ACK wait r1 (task 0)".)
    assert!(
        events.iter().any(|e| e["name"]
            .as_str()
            .is_some_and(|n| n == "ACK wait r1" || n.starts_with("ACK wait r1 (task "))),
        "{name}"
    );
    if !e.scenario.faults.is_empty() {
        assert!(events.iter().any(|e| e["cat"] == "fault"), "{name}");
    }
}

trait OrPanic<T> {
    fn unwrap_or_err_panic(self, name: &str) -> T;
}

impl<T> OrPanic<T> for Result<T, String> {
    fn unwrap_or_err_panic(self, name: &str) -> T {
        self.unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

#[test]
fn the_trace_event_check_bites() {
    let (doc, nodes, _) = exported("quickstart");
    check_trace_events(&doc, nodes).expect("the real export passes");
    let events = doc["traceEvents"].as_array().expect("events").clone();
    let with = |events: Vec<Value>| serde_json::json!({ "traceEvents": events });
    let first = |ph: &str| events.iter().position(|e| e["ph"] == ph).expect("one");

    let mut no_ph = events.clone();
    no_ph[first("X")]
        .as_object_mut()
        .expect("object")
        .remove("ph");
    assert!(check_trace_events(&with(no_ph), nodes)
        .unwrap_err()
        .contains("no ph"));

    let mut orphan = events.clone();
    orphan.remove(first("f"));
    assert!(check_trace_events(&with(orphan), nodes)
        .unwrap_err()
        .contains("not both begun and ended"));

    let mut unbound = events.clone();
    let f = first("f");
    let ts = unbound[f]["ts"].as_f64().expect("ts");
    unbound[f]["ts"] = serde_json::json!(ts + 0.5);
    assert!(check_trace_events(&with(unbound), nodes)
        .unwrap_err()
        .contains("not bound to a slice"));

    let unnamed: Vec<Value> = events
        .iter()
        .filter(|e| e["name"] != "thread_name")
        .cloned()
        .collect();
    assert!(check_trace_events(&with(unnamed), nodes)
        .unwrap_err()
        .contains("no thread_name"));
}

/// A scenario's name is any TOML string: control characters in it, which
/// XML allows in no form, are drawn as their pictures, so the diagram and
/// the HTML report stay well-formed.
#[test]
fn control_characters_in_a_name_leave_the_pictures_well_formed() {
    let text = std::fs::read_to_string(example("quickstart.toml"))
        .expect("the quickstart")
        .replacen(
            "name = \"work thread panics in an ACK round\"",
            "name = \"a \\u0007 bell & <tag>\"",
            1,
        )
        .replacen("duration = \"60s\"", "duration = \"12s\"", 1);
    assert!(text.contains("\\u0007"), "the name was replaced");
    let file = vigil_tests::Scratch::file("bell.toml", &text);
    let dir = file.parent().expect("its folder");
    let svg_path = dir.join("bell.svg");
    let o = vigil(&[
        "replay",
        file.to_str().expect("utf-8"),
        "--svg",
        svg_path.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let drawn = std::fs::read_to_string(&svg_path).expect("the diagram");
    roxmltree::Document::parse(&drawn).expect("a well-formed diagram");
    assert!(
        drawn.contains("a \u{2407} bell &amp; &lt;tag&gt;"),
        "the name, drawn"
    );
    let html = dir.join("bell.html");
    let o = vigil(&[
        "explore",
        file.to_str().expect("utf-8"),
        "--seeds",
        "1",
        "--html",
        html.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let page = std::fs::read_to_string(&html).expect("the report");
    assert!(
        !page.contains('\u{7}'),
        "no raw control character in the report"
    );
}

/// A work thread draws nothing while its node is down: n4 crashes at 5 s
/// and boots again at 8 s, and no slice on its threads covers any of that
/// time (a step used to run from its last round before the crash to its
/// next member's first round after).
#[test]
fn a_crashed_nodes_threads_draw_nothing_while_it_is_down() {
    let (doc, _, _) = exported("node-crash-restart");
    let events = doc["traceEvents"].as_array().expect("events");
    let n4 = events
        .iter()
        .find(|e| e["name"] == "process_name" && e["args"]["name"] == "n4")
        .map(|e| e["pid"].clone())
        .expect("a process for n4");
    let (down, up) = (5_000_000.0, 8_000_000.0);
    let through: Vec<&Value> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == n4 && e["cat"] != "fault")
        .filter(|e| {
            let ts = e["ts"].as_f64().expect("ts");
            let end = ts + e["dur"].as_f64().expect("dur");
            ts < up && end > down
        })
        .collect();
    assert!(
        through.is_empty(),
        "slices on n4 while it was down: {through:?}"
    );
}

#[test]
fn replay_writes_the_diagram_and_the_trace_event_file() {
    let dir = std::env::temp_dir().join(format!("vigil-visual-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (svg_path, json_path) = (dir.join("q.svg"), dir.join("q.json"));
    let o = vigil(&[
        "replay",
        &example("quickstart.toml"),
        "--svg",
        svg_path.to_str().expect("utf-8"),
        "--perfetto",
        json_path.to_str().expect("utf-8"),
        "--from",
        "9.9s",
        "--to",
        "10.4s",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("diagram: 10 lanes"), "{}", o.stdout);
    assert!(o.stdout.contains("perfetto: "), "{}", o.stdout);
    assert!(
        !o.stdout.contains("node-view"),
        "no readable trace with --svg"
    );
    let svg = std::fs::read_to_string(&svg_path).expect("the diagram");
    let mut lanes = BTreeSet::new();
    for n in 0..5 {
        lanes.insert(format!("db@n{n}"));
    }
    check_svg(&svg, &lanes).expect("the diagram");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("the file"))
        .expect("JSON");
    check_trace_events(&doc, 5).expect("the trace events");
    // Only the window: nothing before 9.9 s but metadata.
    assert!(doc["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["ph"] != "M")
        .all(|e| e["ts"].as_f64().expect("ts") + e["dur"].as_f64().unwrap_or(0.0) >= 9_900_000.0));

    // Bad windows are bad input.
    let quickstart = example("quickstart.toml");
    for (window, why) in [
        (
            &["--from", "5s", "--to", "2s"][..],
            "--from 5000ms is not before --to 2000ms",
        ),
        (&["--from", "70s"][..], "end of the run"),
        // As `--from 0s --to 0s` is, `--to 0s` alone: the window is empty.
        (&["--to", "0s"][..], "nothing to draw"),
    ] {
        let mut args = vec!["replay", quickstart.as_str(), "--svg", "x.svg"];
        args.extend(window);
        let bad = vigil(&args);
        assert_eq!(bad.code, 2, "{window:?}");
        assert!(bad.stderr.contains(why), "{window:?}: {}", bad.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- HTML

/// Checks an HTML report against the sweep's JSON lines: the counts, every
/// failure group with its fingerprint, smallest seed and replay command and
/// a diagram that renders, and a latency histogram per departure reason
/// holding every departure. Returns the number of diagrams.
fn check_report(html: &str, lines: &[Value]) -> Result<usize, String> {
    let summary = lines
        .iter()
        .find(|l| l["type"] == "summary")
        .ok_or("no summary line")?;
    let runs = lines.iter().filter(|l| l["type"] == "run").count();
    if !html.contains(&format!("<b class=\"\">{runs}</b>runs")) {
        return Err(format!("the run count {runs} is not shown"));
    }
    let esc = visual::escape;
    let mut ids = BTreeSet::new();
    let groups = summary["groups"].as_array().ok_or("no groups")?;
    for (i, g) in groups.iter().enumerate() {
        for key in ["fingerprint", "replay"] {
            let v = g[key]
                .as_str()
                .ok_or_else(|| format!("group without {key}"))?;
            if !html.contains(&esc(v)) {
                return Err(format!("group {}: its {key} is missing", i + 1));
            }
        }
        let section = html
            .split(&format!("<div class=\"group\" id=\"group-{}\">", i + 1))
            .nth(1)
            .ok_or_else(|| format!("no section for group {}", i + 1))?;
        let section = section
            .split("<div class=\"group\"")
            .next()
            .unwrap_or(section);
        let start = section
            .find("<svg xmlns")
            .ok_or_else(|| format!("group {}: no diagram", i + 1))?;
        let end = section[start..]
            .find("</svg>")
            .ok_or("an unclosed diagram")?
            + start
            + 6;
        let svg = &section[start..end];
        let doc = roxmltree::Document::parse(svg).map_err(|e| format!("group {}: {e}", i + 1))?;
        for id in doc.descendants().filter_map(|n| n.attribute("id")) {
            if !ids.insert(id.to_string()) {
                return Err(format!("the id {id} is used twice on the page"));
            }
        }
        resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default())
            .map_err(|e| format!("group {}: resvg cannot read its diagram: {e}", i + 1))?;
    }
    // Per reason: departures told in time (binned) and not (counted apart).
    let mut told: BTreeMap<String, usize> = BTreeMap::new();
    let mut untold: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines.iter().filter(|l| l["type"] == "run") {
        for n in l["notify_ms"].as_array().ok_or("a run without notify_ms")? {
            let reason = n["reason"].as_str().unwrap_or("").to_string();
            let counts = if n["ms"].is_null() {
                &mut untold
            } else {
                &mut told
            };
            *counts.entry(reason).or_default() += 1;
        }
    }
    let section = |reason: &str| -> Result<&str, String> {
        let rest = html
            .split(&format!("<h3 id=\"latency-{reason}\">"))
            .nth(1)
            .ok_or_else(|| format!("no latency section for {reason}"))?;
        Ok(rest.split("<h3").next().unwrap_or(rest))
    };
    for (reason, count) in &untold {
        let wanted = format!(
            "{count} departure{} not told to every survivor in time",
            if *count == 1 { "" } else { "s" }
        );
        if !section(reason)?.contains(&wanted) {
            return Err(format!("the {reason} section does not say `{wanted}`"));
        }
    }
    for (reason, count) in &told {
        let part = section(reason)?;
        let svg = &part[..part.find("</svg>").ok_or("no histogram")?];
        let binned: usize = svg
            .split("</title>")
            .filter_map(|t| t.rsplit(": ").next()?.parse::<usize>().ok())
            .sum();
        if binned != *count {
            return Err(format!(
                "the {reason} histogram holds {binned} of {count} departures"
            ));
        }
    }
    Ok(groups.len())
}

fn explore_report(args: &[&str]) -> (String, Vec<Value>) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vigil-html-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let html = dir.join("report.html");
    let mut all = vec![
        "explore",
        "--json",
        "--jobs",
        "2",
        "--html",
        html.to_str().expect("utf-8"),
    ];
    all.extend_from_slice(args);
    let o = vigil(&all);
    assert!(o.code <= 1, "{}", o.stderr);
    let lines = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let text = std::fs::read_to_string(&html).expect("the report");
    let _ = std::fs::remove_dir_all(&dir);
    (text, lines)
}

#[test]
fn the_html_report_embeds_each_failure_group_with_its_diagram() {
    let (html, lines) = explore_report(&[
        &example("job-kill.toml"),
        &example("work-thread-error.toml"),
        "--seeds",
        "0..4",
        "--mutation",
        "deaf-to-departures",
    ]);
    let groups = check_report(&html, &lines).expect("the report");
    assert!(groups >= 2, "both scenarios fail: {groups} groups");
    assert!(
        html.contains("not told to every survivor in time"),
        "the deaf members' departures"
    );
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src=\"http"));

    // A page without its diagrams is caught.
    let stripped: String = {
        let mut s = html.clone();
        while let Some(start) = s.find("<svg xmlns") {
            let end = s[start..].find("</svg>").expect("closed") + start + 6;
            s.replace_range(start..end, "");
        }
        s
    };
    assert!(check_report(&stripped, &lines)
        .unwrap_err()
        .contains("no diagram"));
}

#[test]
fn merge_writes_the_report_from_shards() {
    let dir = std::env::temp_dir().join(format!("vigil-merge-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let mut lines: Vec<Value> = Vec::new();
    let mut shards = Vec::new();
    for k in 1..=2 {
        let o = vigil(&[
            "explore",
            &example("job-kill.toml"),
            &example("quickstart.toml"),
            "--seeds",
            "0..4",
            "--shard",
            &format!("{k}/2"),
            "--mutation",
            "deaf-to-departures",
            "--json",
        ]);
        assert_eq!(o.code, 1, "{}", o.stderr);
        let path = dir.join(format!("shard-{k}.jsonl"));
        std::fs::write(&path, &o.stdout).expect("write the shard");
        lines.extend(
            o.stdout
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
                .filter(|l| l["type"] == "run"),
        );
        shards.push(path.display().to_string());
    }
    let html = dir.join("merged.html");
    let o = vigil(&[
        "merge",
        &shards[0],
        &shards[1],
        "--json",
        "--html",
        html.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    lines.push(serde_json::from_str(o.stdout.trim()).expect("the summary"));
    let text = std::fs::read_to_string(&html).expect("the report");
    assert!(check_report(&text, &lines).expect("the merged report") >= 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_html_report_has_a_latency_histogram_per_departure_reason() {
    let (html, lines) = explore_report(&[
        &example("job-kill.toml"),
        &example("quickstart.toml"),
        &example("node-crash-restart.toml"),
        &example("job-leave-join.toml"),
        "--seeds",
        "0..3",
    ]);
    assert_eq!(check_report(&html, &lines).expect("the report"), 0);
    for reason in ["fault", "job-lost", "node-down", "leave"] {
        assert!(
            html.contains(&format!("id=\"latency-{reason}\"")),
            "{reason}"
        );
    }
    // A histogram that lost a departure is caught.
    let broken = html.replacen(": 1</title>", ": 0</title>", 1);
    assert_ne!(broken, html, "some bin holds one departure");
    assert!(check_report(&broken, &lines)
        .unwrap_err()
        .contains("histogram holds"));
}

// ---------------------------------------------------------------- README

/// The README's diagram is `docs/quickstart.svg`, made by
/// `vigil replay scenarios/quickstart.toml --svg docs/quickstart.svg --from 9.95s --to 10.25s`.
/// It must be what the tool draws today; `VIGIL_BLESS=1` redraws it.
#[test]
fn the_readme_diagram_is_what_the_tool_draws() {
    let e = detailed("quickstart");
    let story = Story::of_execution(
        &visual::title(&e.scenario.name, "scenarios/quickstart.toml", e.seed),
        &e,
    )
    .expect("a whole run");
    let t = |ms: u64| Some(vigil_engine::Time(ms * 1_000_000));
    let d = svg::draw(
        &story,
        svg::Options {
            from: t(9_950),
            to: t(10_250),
            ..Default::default()
        },
    );
    let path = root().join("docs").join("quickstart.svg");
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &d.svg).expect("write the diagram");
    }
    let committed = std::fs::read_to_string(&path).expect("docs/quickstart.svg");
    assert!(
        committed == d.svg,
        "docs/quickstart.svg is not what the tool draws now; redraw it with \
         `VIGIL_BLESS=1 cargo test -p vigil-tests --test suite visual::` and review the picture"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(
        readme.contains("docs/quickstart.svg"),
        "the README shows it"
    );
    assert!(
        readme.contains("--svg docs/quickstart.svg --from 9.95s --to 10.25s"),
        "the README says how it was made"
    );
}
