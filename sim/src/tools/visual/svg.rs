//! A space-time (Lamport) diagram of a run, as one self-contained SVG.
//!
//! One lane per node's engine and per job on it, nodes side by side,
//! simulated time flowing down on a linear axis in ms. Arrows: each ACK
//! from the work thread that sent it to the main thread that took it, and
//! each engine packet from send to delivery (a dropped one ends in a
//! cross). Shaded bands: crashes, pauses, partitions (over the side cut
//! off), delay and loss. Marks: faults, unregistrations, view installs
//! (membership changes highlighted), check failures. Every element has a
//! `<title>`, so a browser shows its details on hover. No scripts, no
//! external fonts: generic font families only.

use super::{escape, BandKind, Carries, Fate, JobLane, MarkKind, Place, Story};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use vigil_engine::{NodeId, Time};

/// What to draw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The window: from this time (default: the start).
    pub from: Option<Time>,
    /// To this time (default: the end of the run).
    pub to: Option<Time>,
    /// Draw heartbeats and link acks (default: for clusters of up to 8 nodes).
    pub heartbeats: Option<bool>,
    /// The tallest the plot may be, in pixels (default [`MAX_HEIGHT`]); a
    /// longer window is drawn at a smaller scale.
    pub max_height: Option<f64>,
}

/// A drawing, and what went into it.
pub struct Drawing {
    pub svg: String,
    pub lanes: usize,
    /// Arrows drawn (ACKs and packets, dropped ones included).
    pub arrows: usize,
    pub marks: usize,
    pub from: Time,
    pub to: Time,
    pub heartbeats: bool,
    /// What was left out because the window holds too much to draw, and
    /// how to see it.
    pub left_out: Vec<String>,
}

/// Most arrows of one kind (ACKs; heartbeats) a drawing holds. Beyond it a
/// browser slows to a crawl and the arrows merge into a smear, so they are
/// left out (not sampled: a sample would show ACKs that seem missing), and
/// the drawing says so.
pub const ARROW_BUDGET: usize = 60_000;

/// Taller than this, a drawing is scaled down to fit.
pub const MAX_HEIGHT: f64 = 24_000.0;
/// Pixels per simulated ms when the window is short enough.
const MAX_SCALE: f64 = 4.0;
const LEFT: f64 = 86.0;
const RIGHT: f64 = 150.0;
const NODE_PAD: f64 = 14.0;

const STYLE: &str = r#"
.vd text { font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #222; }
.vd .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; }
.vd .title { font-size: 16px; font-weight: 600; }
.vd .sub { font-size: 11px; fill: #555; }
.vd .leftout { fill: #b45309; }
.vd .lane { stroke: #333; stroke-width: 1.2; }
.vd .engine { stroke: #999; stroke-width: 1; stroke-dasharray: 4 3; }
.vd .lanelabel { font-size: 11px; font-weight: 600; }
.vd .enginelabel { font-size: 10px; fill: #777; }
.vd .nodebox { fill: #f4f6f8; }
.vd .tick { stroke: #e3e6ea; stroke-width: 1; }
.vd .ticklabel { font-size: 10px; fill: #666; }
.vd .ack { stroke: #2563eb; stroke-width: 1; fill: none; }
.vd .eng { stroke: #7c3aed; stroke-width: 1.1; fill: none; }
.vd .hb { stroke: #b8bec6; stroke-width: 0.8; fill: none; }
.vd .lost { stroke: #dc2626; stroke-width: 1; stroke-dasharray: 3 2; fill: none; }
.vd .cross { stroke: #dc2626; stroke-width: 1.6; fill: none; }
.vd .msglabel { font-size: 8.5px; fill: #1e3a8a; }
.vd .englabel { font-size: 8.5px; fill: #5b21b6; }
.vd .band-crash { fill: #111; fill-opacity: 0.12; }
.vd .band-stop { fill: #16a34a; fill-opacity: 0.12; }
.vd .band-pause { fill: #f59e0b; fill-opacity: 0.16; }
.vd .band-partition { fill: #dc2626; fill-opacity: 0.09; }
.vd .band-one-way-cut { fill: #ea580c; fill-opacity: 0.12; }
.vd .band-delay { fill: #0891b2; fill-opacity: 0.07; }
.vd .band-loss { fill: #db2777; fill-opacity: 0.07; }
.vd .band-duplicate { fill: #7c3aed; fill-opacity: 0.07; }
.vd .band-clock { fill: #65a30d; fill-opacity: 0.10; }
.vd .band-slow { fill: #64748b; fill-opacity: 0.12; }
.vd .band-engine-down { fill: #0f172a; fill-opacity: 0.06; stroke: #0f172a; stroke-opacity: 0.3; stroke-dasharray: 3 3; }
.vd .bandlabel { font-size: 10px; fill: #7f1d1d; }
.vd .fault { fill: #dc2626; stroke: #7f1d1d; stroke-width: 0.8; }
.vd .faultline { stroke: #dc2626; stroke-width: 1; stroke-dasharray: 6 3; }
.vd .faultlabel { font-size: 10px; font-weight: 600; fill: #b91c1c; }
.vd .view { fill: #fff; stroke: #64748b; stroke-width: 1; }
.vd .viewlabel { font-size: 8.5px; fill: #475569; }
.vd .change { fill: #f97316; stroke: #9a3412; stroke-width: 1; }
.vd .changelabel { font-size: 10px; font-weight: 600; fill: #9a3412; }
.vd .nodeview { fill: #e2e8f0; stroke: #64748b; stroke-width: 0.8; }
.vd .boot, .vd .register { fill: #16a34a; }
.vd .unreg { fill: #111; }
.vd .outcome { fill: #0d9488; }
.vd .outcomelabel { font-size: 9px; fill: #0f766e; }
.vd .task { fill: #6366f1; }
.vd .task.priority { fill: #db2777; }
.vd .tasklabel { font-size: 9px; fill: #4338ca; text-anchor: end; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.vd .check { stroke: #b91c1c; stroke-width: 2.2; }
.vd .checklabel { font-size: 11px; font-weight: 700; fill: #b91c1c; }
.vd .legend { font-size: 10.5px; }
.vd .wait { fill: #93c5fd; fill-opacity: 0.7; }
.vd .stuck { fill: #f59e0b; fill-opacity: 0.8; }
.vd .faultlabel, .vd .changelabel, .vd .checklabel, .vd .viewlabel, .vd .outcomelabel, .vd .bandlabel { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
"#;

/// Lays the story out.
pub fn draw(story: &Story, opts: Options) -> Drawing {
    let from = opts.from.unwrap_or(Time(0)).min(story.end);
    let to = opts.to.unwrap_or(story.end).min(story.end).max(from);
    let heartbeats = opts.heartbeats.unwrap_or(story.nodes.len() <= 8);
    let lanes = Lanes::new(story);
    let span_ms = ((to.0 - from.0) as f64 / 1e6).max(1.0);
    let scale = (opts.max_height.unwrap_or(MAX_HEIGHT) / span_ms).min(MAX_SCALE);
    let within = |a: Time, b: Time| b >= from && a <= to;
    let labels = scale >= 0.8;
    // Past 8 members, every round's labels would merge into one smear.
    let ack_labels = labels && story.job_lanes().count() <= 8;
    let mut left_out = Vec::new();
    let window =
        |from: Time, to: Time| format!("{:.0}–{:.0} ms", from.as_millis_f64(), to.as_millis_f64());
    let acks_in = story
        .acks
        .iter()
        .filter(|a| within(a.sent, a.taken))
        .count();
    let draw_acks = acks_in <= ARROW_BUDGET;
    if !draw_acks {
        left_out.push(format!(
            "{acks_in} ACK arrows in {} (more than {ARROW_BUDGET}); narrow the window with --from and --to to see them",
            window(from, to)
        ));
    }
    let mut heartbeats = heartbeats;
    if heartbeats {
        let chatter = story
            .packets
            .iter()
            .filter(|p| p.is_chatter() && within(p.sent, p.sent))
            .count();
        if chatter > ARROW_BUDGET {
            heartbeats = false;
            left_out.push(format!(
                "{chatter} heartbeats and link acks in {} (more than {ARROW_BUDGET}); narrow the window to see them",
                window(from, to)
            ));
        }
    }

    let mut out = String::with_capacity(64 * 1024);
    let header = if lanes.gap < 60.0 { 198.0 } else { 170.0 } + 14.0 * left_out.len() as f64;
    let top = header + 8.0;
    let bottom = top + span_ms * scale;
    // Room right of the last lane for the labels of its marks.
    let last = story.job_lanes().last();
    let overhang = story
        .marks
        .iter()
        .filter(|m| m.at >= from && m.at <= to)
        .filter(|m| matches!(&m.place, Place::Job(j) if Some(j) == last))
        .map(|m| m.label.chars().count() as f64 * 6.4 + 24.0)
        .fold(RIGHT, f64::max);
    let width = (lanes.width + overhang).max(760.0);
    let height = bottom + 40.0;
    let y = |t: Time| top + (t.0 as f64 - from.0 as f64) / 1e6 * scale;
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="vd" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-size="11">
<style>{STYLE}</style>
<defs>
<marker id="a-ack" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#2563eb"/></marker>
<marker id="a-eng" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#7c3aed"/></marker>
<marker id="a-hb" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="5" markerHeight="5" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#b8bec6"/></marker>
<clipPath id="plot"><rect x="0" y="{top:.1}" width="{width:.0}" height="{:.1}"/></clipPath>
</defs>
<rect width="100%" height="100%" fill="#fff"/>
"##,
        bottom - top
    );
    let _ = writeln!(
        out,
        r#"<text class="title" x="16" y="24">{}</text>"#,
        escape(&story.title)
    );
    let _ = writeln!(
        out,
        r#"<text class="sub" x="16" y="42">{:.3} ms to {:.3} ms · {} nodes · {} job lanes · {}</text>"#,
        from.as_millis_f64(),
        to.as_millis_f64(),
        story.nodes.len(),
        lanes.jobs.len(),
        if heartbeats {
            "heartbeats shown"
        } else {
            "heartbeats and link acks left out"
        }
    );
    for (i, note) in left_out.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text class="sub leftout" x="16" y="{:.0}">left out: {}</text>"#,
            128.0 + 14.0 * i as f64,
            escape(note)
        );
    }
    legend(&mut out, 16.0, 62.0, (width - 40.0).max(740.0));

    // Node boxes, lane labels, lanes.
    for (node, (x0, x1)) in &lanes.nodes {
        let _ = writeln!(
            out,
            r#"<rect class="nodebox" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
            x0 - NODE_PAD / 2.0,
            header - 40.0,
            x1 - x0 + NODE_PAD,
            bottom - header + 48.0
        );
        let _ = node;
    }
    for (node, x) in &lanes.engines {
        lane_label(
            &mut out,
            *x,
            header,
            &format!("{node}"),
            "enginelabel",
            lanes.gap,
        );
        let _ = writeln!(
            out,
            r#"<line class="engine" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"><title>{node}'s engine</title></line>"#
        );
    }
    for (lane, x) in &lanes.jobs {
        lane_label(
            &mut out,
            *x,
            header,
            &lane.to_string(),
            "lanelabel",
            lanes.gap,
        );
        let _ = writeln!(
            out,
            r#"<line class="lane" data-lane="{lane}" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"><title>{lane}: main thread and work threads</title></line>"#
        );
    }

    // Time axis.
    let step = nice_step(64.0 / scale);
    let first = (from.0 as f64 / 1e6 / step).ceil() as u64;
    let mut k = first;
    loop {
        let ms = k as f64 * step;
        if ms > to.0 as f64 / 1e6 + 1e-9 {
            break;
        }
        let yy = top + (ms - from.0 as f64 / 1e6) * scale;
        let _ = writeln!(
            out,
            r#"<line class="tick" x1="{:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text class="ticklabel mono" x="{:.1}" y="{:.1}" text-anchor="end">{} ms</text>"#,
            LEFT - 6.0,
            width - RIGHT / 2.0,
            LEFT - 10.0,
            yy + 3.5,
            tick_text(ms, step)
        );
        k += 1;
    }

    out.push_str("<g clip-path=\"url(#plot)\">\n");
    // Bands under everything else.
    for b in &story.bands {
        if !within(b.from, b.to) {
            continue;
        }
        let (y0, y1) = (y(b.from.max(from)), y(b.to.min(to)));
        for (n, (x0, x1)) in &lanes.nodes {
            if !b.nodes.contains(n) {
                continue;
            }
            let _ = writeln!(
                out,
                r#"<rect class="band-{}" x="{:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}"><title>{} {:.3}–{:.3} ms: {}</title></rect>"#,
                b.kind.as_str(),
                x0 - NODE_PAD / 2.0,
                x1 - x0 + NODE_PAD,
                (y1 - y0).max(1.0),
                b.kind.as_str(),
                b.from.as_millis_f64(),
                b.to.as_millis_f64(),
                escape(&b.text)
            );
        }
        if let Some((x0, _)) = b.nodes.first().and_then(|n| lanes.nodes.get(n)) {
            let _ = writeln!(
                out,
                r#"<text class="bandlabel" x="{:.1}" y="{:.1}">{}</text>"#,
                x0 - NODE_PAD / 2.0 + 3.0,
                y0.max(top) + 11.0,
                // A one-way cut says which way: "one-way cut {n0} -> {n1}".
                match b.kind {
                    BandKind::OneWayCut => escape(b.text.split(" (").next().unwrap_or(&b.text)),
                    // "slow 4x": how much slower.
                    BandKind::Slow =>
                        escape(&format!("slow {}", b.text.split(' ').nth(2).unwrap_or(""))),
                    // "clock 1.25x": how fast it runs.
                    BandKind::Clock => escape(&format!(
                        "clock {}",
                        b.text
                            .split("runs at ")
                            .nth(1)
                            .and_then(|r| r.split(' ').next())
                            .unwrap_or("")
                    )),
                    BandKind::EngineDown => "engine down".to_string(),
                    _ => b.kind.as_str().to_string(),
                }
            );
        }
    }

    // Each work thread's ACK waits, as a bar beside its lane: a long bar is
    // a member waiting; one that runs to the end never got its ACKs.
    for r in &story.rounds {
        let end = r.end.unwrap_or(story.end);
        if !within(r.start, end) {
            continue;
        }
        let Some(x) = lanes.jobs.get(&JobLane::of(&r.member)) else {
            continue;
        };
        let (y0, y1) = (y(r.start.max(from)), y(end.min(to)));
        let _ = writeln!(
            out,
            r#"<rect class="{}" x="{:.1}" y="{y0:.1}" width="4" height="{:.1}"><title>{} thread {} waits for the ACKs of {}: {:.3}–{}</title></rect>"#,
            if r.end.is_some() { "wait" } else { "stuck" },
            x + 2.0 + 5.0 * f64::from(r.thread),
            (y1 - y0).max(0.8),
            r.member,
            r.thread,
            match r.task {
                Some(t) => format!(
                    "round {} of task {t}",
                    vigil_protocols::round_in_task(r.round)
                ),
                None => format!("round {}", r.round),
            },
            r.start.as_millis_f64(),
            match (r.end, r.completed) {
                (Some(t), true) => format!("{:.3} ms", t.as_millis_f64()),
                (Some(t), false) => format!("{:.3} ms, when it left", t.as_millis_f64()),
                (None, _) => "still waiting at the end".to_string(),
            }
        );
    }

    let mut arrows = 0;
    // Engine packets (member messages are drawn as ACKs below).
    for p in &story.packets {
        let kind = p.carries();
        if kind == Carries::Members && !matches!(p.fate, Fate::Dropped(_)) {
            continue;
        }
        if !heartbeats && p.is_chatter() {
            continue;
        }
        let (Some(x1), Some(x2)) = (lanes.engines.get(&p.from), lanes.engines.get(&p.to)) else {
            continue;
        };
        let class = match kind {
            Carries::Heartbeat | Carries::LinkAck => "hb",
            _ => "eng",
        };
        if let Fate::Dropped(cause) = p.fate {
            if !within(p.sent, p.sent) {
                continue;
            }
            // Most of the way to its destination, a little later: the
            // packet died on its way there.
            let (ys, xm) = (y(p.sent), x1 + (x2 - x1) * 0.85);
            let ym = ys + 10.0;
            let _ = writeln!(
                out,
                r#"<g><title>{} → {} #{}: {} · sent {:.3} ms · dropped ({cause})</title><line class="lost" x1="{x1:.1}" y1="{ys:.1}" x2="{xm:.1}" y2="{ym:.1}"/><path class="cross" d="M{:.1},{:.1} l7,7 m0,-7 l-7,7"/></g>"#,
                p.from,
                p.to,
                p.id,
                escape(&p.what.to_string()),
                p.sent.as_millis_f64(),
                xm - 3.5,
                ym - 3.5
            );
            arrows += 1;
            continue;
        }
        let at = match p.fate {
            Fate::Delivered(t) => t,
            _ => story.end,
        };
        if !within(p.sent, at) {
            continue;
        }
        let arrived = match p.fate {
            Fate::Delivered(_) => format!("delivered {:.3} ms", at.as_millis_f64()),
            _ => "still in flight at the end".to_string(),
        };
        let _ = writeln!(
            out,
            r#"<g><title>{} → {} #{}: {} · sent {:.3} ms · {arrived}</title><line class="{class}" x1="{x1:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}" marker-end="url(#a-{class})"/>{}</g>"#,
            p.from,
            p.to,
            p.id,
            escape(&p.what.to_string()),
            p.sent.as_millis_f64(),
            y(p.sent),
            y(at),
            if labels && class == "eng" {
                along(*x1, y(p.sent), *x2, y(at), &p.what.to_string(), "englabel")
            } else {
                String::new()
            }
        );
        arrows += 1;
    }
    let mut shared: BTreeMap<(i64, i64, i64, i64), usize> = BTreeMap::new();
    for a in story.acks.iter().filter(|_| draw_acks) {
        if !within(a.sent, a.taken) {
            continue;
        }
        let (Some(x1), Some(x2)) = (
            lanes.jobs.get(&JobLane::of(&a.from)),
            lanes.jobs.get(&JobLane::of(&a.to)),
        ) else {
            continue;
        };
        let label = a.label();
        let _ = writeln!(
            out,
            r#"<g><title>{label} {} → {} · sent {:.3} ms · taken {:.3} ms</title><line class="ack" x1="{x1:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}" marker-end="url(#a-ack)"/>{}</g>"#,
            a.from,
            a.to,
            a.sent.as_millis_f64(),
            a.taken.as_millis_f64(),
            y(a.sent),
            y(a.taken),
            if ack_labels {
                // ACKs that share a path (one packet carried both) take
                // turns along it, so their labels do not print over each
                // other.
                let key = (*x1 as i64, y(a.sent) as i64, *x2 as i64, y(a.taken) as i64);
                let k = shared.entry(key).or_insert(0usize);
                *k += 1;
                along_at(
                    *x1,
                    y(a.sent),
                    *x2,
                    y(a.taken),
                    &label,
                    "msglabel",
                    0.28 + 0.22 * ((*k - 1) % 3) as f64,
                )
            } else {
                String::new()
            }
        );
        arrows += 1;
    }

    // Marks on top.
    let mut marks = 0;
    for m in &story.marks {
        if m.at < from || m.at > to {
            continue;
        }
        if !labels && matches!(m.kind, MarkKind::View | MarkKind::NodeView) {
            continue; // too dense to read; changes still show
        }
        let yy = y(m.at);
        let x = match &m.place {
            Place::Engine(n) => lanes.engines.get(n).copied(),
            Place::Job(j) => lanes.jobs.get(j).copied(),
            Place::All => None,
        };
        let title = format!(
            "<title>{:.3} ms · {}</title>",
            m.at.as_millis_f64(),
            escape(&m.detail)
        );
        let label = escape(&m.label);
        let shape = match (m.kind, x) {
            (MarkKind::Check, _) => format!(
                r#"<line class="check" x1="{LEFT:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text class="checklabel" x="{:.1}" y="{:.1}">✗ {label} failed</text>"#,
                width - RIGHT / 2.0,
                LEFT + 4.0,
                yy - 4.0
            ),
            (MarkKind::Fault, None) => format!(
                r#"<line class="faultline" x1="{LEFT:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/>{}<text class="faultlabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                width - RIGHT / 2.0,
                bolt(LEFT + 6.0, yy),
                LEFT + 14.0,
                yy - 4.0
            ),
            (_, None) => continue,
            (MarkKind::Fault, Some(x)) => format!(
                r#"{}<text class="faultlabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                bolt(x, yy),
                x + 8.0,
                yy - 3.0
            ),
            (MarkKind::Unregister | MarkKind::Killed, Some(x)) => format!(
                r#"<rect class="unreg" x="{:.1}" y="{:.1}" width="9" height="9" transform="rotate(45 {x:.1} {yy:.1})"/><text class="faultlabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                x - 4.5,
                yy - 4.5,
                x + 9.0,
                yy + 12.0
            ),
            (MarkKind::Register | MarkKind::Boot, Some(x)) => format!(
                r#"<circle class="{}" cx="{x:.1}" cy="{yy:.1}" r="3.5"/>"#,
                if m.kind == MarkKind::Boot {
                    "boot"
                } else {
                    "register"
                }
            ),
            (MarkKind::View, Some(x)) => format!(
                r#"<rect class="view" x="{:.1}" y="{:.1}" width="8" height="6" rx="1.5"/><text class="viewlabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                x - 4.0,
                yy - 3.0,
                x + 6.0,
                yy + 3.0
            ),
            (MarkKind::Change, Some(x)) => format!(
                r#"<rect class="change" x="{:.1}" y="{:.1}" width="12" height="9" rx="2"/><text class="changelabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                x - 6.0,
                yy - 4.5,
                x + 9.0,
                yy + 3.5
            ),
            (MarkKind::NodeView, Some(x)) => format!(
                r#"<rect class="nodeview" x="{:.1}" y="{:.1}" width="7" height="7" transform="rotate(45 {x:.1} {yy:.1})"/><text class="viewlabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                x - 3.5,
                yy - 3.5,
                x + 6.0,
                yy - 3.0
            ),
            (MarkKind::Task, Some(x)) => format!(
                r#"<circle class="{}" cx="{x:.1}" cy="{yy:.1}" r="3.5"/><text class="tasklabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                if m.label.contains('‼') {
                    "task priority"
                } else {
                    "task"
                },
                x - 8.0,
                yy - 5.0
            ),
            (MarkKind::Outcome, Some(x)) => format!(
                r#"<rect class="outcome" x="{:.1}" y="{:.1}" width="6" height="6"/><text class="outcomelabel" x="{:.1}" y="{:.1}">{label}</text>"#,
                x - 3.0,
                yy - 3.0,
                x + 6.0,
                yy + 10.0
            ),
        };
        let _ = writeln!(out, "<g>{title}{shape}</g>");
        marks += 1;
    }
    out.push_str("</g>\n</svg>\n");
    Drawing {
        svg: out,
        lanes: lanes.engines.len() + lanes.jobs.len(),
        arrows,
        marks,
        from,
        to,
        heartbeats,
        left_out,
    }
}

/// Where every lane goes across.
struct Lanes {
    engines: BTreeMap<NodeId, f64>,
    jobs: BTreeMap<JobLane, f64>,
    /// Each node's leftmost and rightmost lane.
    nodes: BTreeMap<NodeId, (f64, f64)>,
    gap: f64,
    width: f64,
}

impl Lanes {
    fn new(story: &Story) -> Lanes {
        let count = story.nodes.len() + story.job_lanes().count();
        let gap = if count <= 16 {
            100.0
        } else if count <= 40 {
            64.0
        } else {
            36.0
        };
        let mut x = LEFT + 24.0;
        let mut l = Lanes {
            engines: BTreeMap::new(),
            jobs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            gap,
            width: 0.0,
        };
        for n in &story.nodes {
            let x0 = x;
            l.engines.insert(*n, x);
            for j in story.jobs.get(n).into_iter().flatten() {
                x += gap;
                l.jobs.insert(j.clone(), x);
            }
            l.nodes.insert(*n, (x0, x));
            x += gap + NODE_PAD;
        }
        l.width = x - gap;
        l
    }
}

fn lane_label(out: &mut String, x: f64, header: f64, text: &str, class: &str, gap: f64) {
    let y = header - 8.0;
    if gap < 60.0 {
        let _ = writeln!(
            out,
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" transform="rotate(-50 {x:.1} {y:.1})">{}</text>"#,
            escape(text)
        );
    } else {
        let _ = writeln!(
            out,
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" text-anchor="middle">{}</text>"#,
            escape(text)
        );
    }
}

/// A label along the arrow from (x1, y1) to (x2, y2), when there is room.
fn along(x1: f64, y1: f64, x2: f64, y2: f64, text: &str, class: &str) -> String {
    along_at(x1, y1, x2, y2, text, class, 0.3)
}

/// [`along`], centred at `at` (0 to 1) of the way.
fn along_at(x1: f64, y1: f64, x2: f64, y2: f64, text: &str, class: &str, at: f64) -> String {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 48.0 {
        return String::new();
    }
    let mut angle = dy.atan2(dx).to_degrees();
    if angle.abs() > 90.0 {
        angle -= 180.0f64.copysign(angle);
    }
    let (mx, my) = (x1 + dx * at, y1 + dy * at);
    format!(
        r#"<text class="{class}" x="{mx:.1}" y="{my:.1}" dy="-2" text-anchor="middle" transform="rotate({angle:.1} {mx:.1} {my:.1})">{}</text>"#,
        escape(text)
    )
}

/// A lightning bolt at (x, y): a fault strikes.
fn bolt(x: f64, y: f64) -> String {
    format!(
        r#"<path class="fault" d="M{:.1},{:.1} l-5,8 h4 l-2,7 l7,-10 h-4 l2,-5 z"/>"#,
        x + 1.0,
        y - 8.0
    )
}

fn legend(out: &mut String, x: f64, y: f64, wrap: f64) {
    let items: [(&str, String); 12] = [
        (
            "ACK (work thread → main thread)",
            r##"<line class="ack" x1="0" y1="-3" x2="26" y2="3" marker-end="url(#a-ack)"/>"##.into(),
        ),
        (
            "engine message",
            r##"<line class="eng" x1="0" y1="-3" x2="26" y2="3" marker-end="url(#a-eng)"/>"##.into(),
        ),
        (
            "heartbeat / link ack",
            r##"<line class="hb" x1="0" y1="-3" x2="26" y2="3" marker-end="url(#a-hb)"/>"##.into(),
        ),
        (
            "dropped",
            r##"<line class="lost" x1="0" y1="-3" x2="14" y2="3"/><path class="cross" d="M11,-1 l7,7 m0,-7 l-7,7"/>"##.into(),
        ),
        ("fault", bolt(8.0, 1.0)),
        (
            "unregister / killed",
            r##"<rect class="unreg" x="4" y="-4" width="8" height="8" transform="rotate(45 8 0)"/>"##.into(),
        ),
        (
            "view",
            r##"<rect class="view" x="4" y="-3" width="8" height="6" rx="1.5"/>"##.into(),
        ),
        (
            "membership change",
            r##"<rect class="change" x="2" y="-4.5" width="12" height="9" rx="2"/>"##.into(),
        ),
        (
            "node view · boot/register · outcome",
            r##"<rect class="nodeview" x="1" y="-3.5" width="7" height="7" transform="rotate(45 4.5 0)"/><circle class="register" cx="15" cy="0" r="3.5"/><rect class="outcome" x="21" y="-3" width="6" height="6"/>"##.into(),
        ),
        (
            "check failed",
            r##"<line class="check" x1="0" y1="0" x2="24" y2="0"/>"##.into(),
        ),
        (
            "ACK wait (amber: still waiting at the end)",
            r##"<rect class="wait" x="4" y="-7" width="4" height="14"/><rect class="stuck" x="12" y="-7" width="4" height="14"/>"##.into(),
        ),
        (
            "crash · pause · partition · one-way cut · slow · clock",
            r##"<rect class="band-crash" x="0" y="-6" width="4.5" height="12"/><rect class="band-pause" x="5.5" y="-6" width="4.5" height="12"/><rect class="band-partition" x="11" y="-6" width="4.5" height="12"/><rect class="band-one-way-cut" x="16.5" y="-6" width="4.5" height="12"/><rect class="band-slow" x="22" y="-6" width="4.5" height="12"/><rect class="band-clock" x="27.5" y="-6" width="4.5" height="12"/>"##.into(),
        ),
    ];
    let (mut cx, mut cy) = (x, y);
    for (text, glyph) in items {
        let w = 36.0 + text.chars().count() as f64 * 5.6 + 18.0;
        if cx + w > wrap {
            cx = x;
            cy += 20.0;
        }
        let _ = writeln!(
            out,
            r#"<g transform="translate({cx:.1} {cy:.1})">{glyph}<text class="legend" x="34" y="4">{}</text></g>"#,
            escape(text)
        );
        cx += w;
    }
}

/// 1, 2 or 5 times a power of ten, at least `min`.
pub(crate) fn nice_step(min: f64) -> f64 {
    let mut p = 10f64.powf(min.max(1e-6).log10().floor());
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * p >= min {
                return m * p;
            }
        }
        p *= 10.0;
    }
}

fn tick_text(ms: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{ms:.0}")
    } else {
        let decimals = (-step.log10()).ceil() as usize;
        format!("{ms:.decimals$}")
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn steps_are_round_numbers() {
        assert_eq!(nice_step(16.0), 20.0);
        assert_eq!(nice_step(64.0), 100.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(tick_text(10250.0, 50.0), "10250");
        assert_eq!(tick_text(0.25, 0.05), "0.25");
    }

    fn labels_read_left_to_right() {
        let s = along(0.0, 0.0, -100.0, 10.0, "ack r1", "msglabel");
        let angle: f64 = s
            .split("rotate(")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|a| a.parse().ok())
            .expect("a rotation");
        assert!(angle.abs() <= 90.0, "{angle}");
    }

    unit_tests![steps_are_round_numbers, labels_read_left_to_right,];
}
