//! The report of a sweep as one self-contained HTML page: the summary,
//! each failure group with its smallest seed, replay command and diagram
//! (inline SVG), and a histogram of notification latency per departure
//! reason. No scripts, no external fonts, styles or images.

use super::escape;
use crate::tools::explore::{Kept, Latencies, Summary};
use std::fmt::Write as _;

/// What the page shows.
pub struct Page<'a> {
    /// What was swept (`28 scenarios × seeds 0..100`).
    pub scope: &'a str,
    /// The command line that made it.
    pub command: &'a str,
    pub summary: &'a Summary,
    /// What the sweep kept of its runs: the failing ones, the latencies.
    pub kept: &'a Kept,
    /// The sweep's wall time, in seconds, if known.
    pub wall: Option<f64>,
    /// Why the sweep stopped early, if it did.
    pub stopped: Option<&'a str>,
    /// One diagram per failure group, in group order: the SVG of its
    /// smallest seed, or why there is none.
    pub diagrams: &'a [Result<String, String>],
}

const STYLE: &str = r#"
body { font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1f2937; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; padding-bottom: 0.3rem; }
h3 { font-size: 1rem; margin-bottom: 0.3rem; }
code, pre { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.85rem; }
pre { background: #f3f4f6; padding: 0.5rem 0.75rem; overflow-x: auto; border-radius: 4px; }
.muted { color: #6b7280; }
.stats { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.stat { border: 1px solid #e5e7eb; border-radius: 6px; padding: 0.6rem 1rem; min-width: 8rem; }
.stat b { display: block; font-size: 1.4rem; }
.pass { color: #15803d; } .fail { color: #b91c1c; } .warn { color: #b45309; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
.group { border: 1px solid #fecaca; border-radius: 6px; padding: 0.5rem 1rem 1rem; margin: 1rem 0; }
.diagram { overflow: auto; max-height: 80vh; border: 1px solid #e5e7eb; margin-top: 0.5rem; }
.hist { margin: 0.5rem 0 1.5rem; }
"#;

/// The page.
pub fn report(page: &Page<'_>) -> String {
    let s = page.summary;
    let mut out = String::with_capacity(256 * 1024);
    let verdict = if s.nondeterministic > 0 {
        ("warn", "nondeterministic")
    } else if s.failed > 0 {
        ("fail", "failures found")
    } else {
        ("pass", "all runs passed")
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>vigil explore: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>vigil explore: <span class=\"{}\">{}</span></h1>\n<p class=\"muted\">{}</p>\n<pre>{}</pre>\n",
        escape(verdict.1),
        verdict.0,
        escape(verdict.1),
        escape(page.scope),
        escape(page.command)
    );
    out.push_str("<div class=\"stats\">\n");
    let stat = |out: &mut String, label: &str, value: String, class: &str| {
        let _ = writeln!(
            out,
            "<div class=\"stat\"><b class=\"{class}\">{}</b>{}</div>",
            escape(&value),
            escape(label)
        );
    };
    stat(&mut out, "runs", s.runs.to_string(), "");
    stat(&mut out, "passed", (s.runs - s.failed).to_string(), "pass");
    stat(
        &mut out,
        "failed",
        s.failed.to_string(),
        if s.failed > 0 { "fail" } else { "" },
    );
    if s.nondeterministic > 0 {
        stat(
            &mut out,
            "nondeterministic",
            s.nondeterministic.to_string(),
            "warn",
        );
    }
    stat(&mut out, "failure groups", s.groups.len().to_string(), "");
    if let Some(wall) = page.wall {
        stat(&mut out, "seconds", format!("{wall:.1}"), "");
        stat(
            &mut out,
            "runs per second",
            format!("{:.1}", s.runs as f64 / wall.max(1e-3)),
            "",
        );
    }
    out.push_str("</div>\n");
    if let Some(why) = page.stopped {
        let _ = writeln!(out, "<p class=\"warn\">Stopped early: {}</p>", escape(why));
    }

    // Failure groups.
    let _ = writeln!(out, "<h2 id=\"failures\">Failure groups</h2>");
    if s.groups.is_empty() {
        out.push_str("<p class=\"pass\">No failures.</p>\n");
    }
    for (i, g) in s.groups.iter().enumerate() {
        let _ = write!(
            out,
            "<div class=\"group\" id=\"group-{n}\">\n<h3>{n}. {count} run{plural}: <code>{fp}</code></h3>\n<table>\n<tr><th>smallest seed</th><td>{seed} in <code>{file}</code></td></tr>\n<tr><th>files</th><td>{files}</td></tr>\n<tr><th>replay</th><td><code>{replay}</code></td></tr>\n</table>\n",
            n = i + 1,
            count = g.count,
            plural = if g.count == 1 { "" } else { "s" },
            fp = escape(&g.fingerprint),
            seed = g.seed,
            file = escape(&g.file),
            files = g
                .files
                .iter()
                .map(|f| format!("<code>{}</code>", escape(f)))
                .collect::<Vec<_>>()
                .join(", "),
            replay = escape(&g.replay),
        );
        if let Some(r) = page.kept.failing_run(&g.file, g.seed) {
            out.push_str("<ul>\n");
            for (check, message, at) in &r.violations {
                let at = at.map_or(String::new(), |t| format!(" at {t:.3} ms"));
                let _ = writeln!(
                    out,
                    "<li><b>{}</b>{}: {}</li>",
                    escape(check),
                    escape(&at),
                    escape(message)
                );
            }
            out.push_str("</ul>\n");
        }
        match page.diagrams.get(i) {
            Some(Ok(svg)) => {
                let _ = writeln!(
                    out,
                    "<details open><summary>Diagram of seed {}</summary>\n<div class=\"diagram\">\n{}</div>\n</details>",
                    g.seed,
                    uniquify(svg, &format!("g{}-", i + 1))
                );
            }
            Some(Err(why)) => {
                let _ = writeln!(out, "<p class=\"muted\">No diagram: {}</p>", escape(why));
            }
            None => {}
        }
        out.push_str("</div>\n");
    }
    if !s.divergences.is_empty() {
        let _ = writeln!(out, "<h2>Nondeterministic runs</h2>\n<table>\n<tr><th>file</th><th>seed</th><th>first difference</th></tr>");
        for (file, seed, d) in &s.divergences {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{seed}</td><td><pre>{}</pre></td></tr>",
                escape(file),
                escape(d)
            );
        }
        out.push_str("</table>\n");
    }

    // Coverage probes.
    let rows = s.probe_rows();
    if !rows.is_empty() {
        let hit = rows.iter().filter(|r| r.2.is_some()).count();
        let _ = writeln!(
            out,
            "<h2 id=\"coverage\">Coverage</h2>\n<p class=\"muted\">{hit} of {} probes hit. A probe marks a rare path in the engine, the main or work thread, the round driver or a protocol; the table says how many runs took it and the smallest seed that did.</p>\n<table>\n<tr><th>probe</th><th>in</th><th>runs</th><th>hits</th><th>smallest seed</th><th>replay</th></tr>",
            rows.len()
        );
        for (name, at, c) in &rows {
            let at = escape(at.unwrap_or("(undeclared)"));
            match c {
                Some(c) => {
                    let _ = writeln!(
                        out,
                        "<tr><td><code>{}</code></td><td>{at}</td><td>{}</td><td>{}</td><td>{} in <code>{}</code></td><td><code>{}</code></td></tr>",
                        escape(name),
                        c.runs,
                        c.hits,
                        c.seed,
                        escape(&c.file),
                        escape(&c.replay)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<tr><td><code>{}</code></td><td>{at}</td><td class=\"warn\">0</td><td>0</td><td class=\"warn\">never hit</td><td></td></tr>",
                        escape(name)
                    );
                }
            }
        }
        out.push_str("</table>\n");
    }

    // Notification latency.
    let _ = writeln!(
        out,
        "<h2 id=\"latency\">Notification latency</h2>\n<p class=\"muted\">From the fault that made a member leave to the moment the last surviving member took a membership change naming it, in simulated ms, over every run; one histogram per departure reason.</p>"
    );
    // Per reason: the latencies, and how many were never told in time.
    let by_reason = page.kept.notices.clone();
    if by_reason.is_empty() {
        out.push_str(
            "<p>No member left in these runs (or none early enough before the end to judge).</p>\n",
        );
    }
    for (reason, latencies) in by_reason {
        let untold = latencies.untold;
        let _ = writeln!(out, "<h3 id=\"latency-{0}\">{0}</h3>", escape(&reason));
        let untold = if untold == 0 {
            String::new()
        } else {
            format!(
                "<span class=\"fail\">{untold} departure{} not told to every survivor in time</span> (the <code>notified</code> failures)",
                if untold == 1 { "" } else { "s" }
            )
        };
        if latencies.count() == 0 {
            let _ = writeln!(out, "<p>{untold}</p>");
            continue;
        }
        let q = |p: f64| latencies.quantile(p).unwrap_or_default();
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} departures told · min {:.1} · median {:.1} · p99 {:.1} · max {:.1} ms{}</p>",
            latencies.count(),
            q(0.0),
            q(0.5),
            q(0.99),
            q(1.0),
            if untold.is_empty() { String::new() } else { format!(" · {untold}") },
        );
        out.push_str(&histogram(&latencies, &reason));
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A bar chart of `values` (sorted) in round-numbered bins, as inline SVG.
fn histogram(latencies: &Latencies, reason: &str) -> String {
    let lo = latencies.quantile(0.0).unwrap_or_default();
    let hi = latencies.quantile(1.0).unwrap_or_default();
    let width = super::svg::nice_step(((hi - lo) / 24.0).max(1.0));
    let first = (lo / width).floor() * width;
    let bins = (((hi - first) / width).floor() as usize + 1).max(1);
    let mut counts = vec![0usize; bins];
    for (v, n) in latencies.iter() {
        let i = (((v - first) / width).floor() as usize).min(bins - 1);
        counts[i] += n as usize;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    let (w, h, left, bottom) = (720.0, 180.0, 48.0, 34.0);
    let bar = (w - left - 10.0) / bins as f64;
    let mut s = format!(
        "<svg class=\"hist\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"ui-sans-serif, system-ui, sans-serif\" font-size=\"10\" role=\"img\" aria-label=\"notification latency, {}\">\n",
        escape(reason)
    );
    let base = h - bottom;
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\" stroke=\"#9ca3af\"/><text x=\"{:.1}\" y=\"12\" text-anchor=\"end\" fill=\"#6b7280\">{max}</text><text x=\"{:.1}\" y=\"{base}\" text-anchor=\"end\" fill=\"#6b7280\">0</text>",
        w - 10.0,
        left - 6.0,
        left - 6.0
    );
    let label_every = (bins / 8).max(1);
    for (i, c) in counts.iter().enumerate() {
        let x = left + i as f64 * bar;
        let bh = (*c as f64 / max as f64) * (base - 14.0);
        let from = first + i as f64 * width;
        let _ = writeln!(
            s,
            "<rect class=\"bin\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#3b82f6\"><title>{from:.0}–{:.0} ms: {c}</title></rect>",
            x + 1.0,
            base - bh,
            (bar - 2.0).max(1.0),
            from + width
        );
        if i % label_every == 0 {
            let _ = writeln!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" fill=\"#6b7280\">{from:.0}</text>",
                base + 14.0
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#6b7280\">ms</text>\n</svg>",
        w - 10.0,
        base + 28.0
    );
    s
}

/// `svg` with its ids (and references to them) prefixed, so that several
/// diagrams on one page keep their own markers and clip paths.
fn uniquify(svg: &str, prefix: &str) -> String {
    svg.replace("id=\"", &format!("id=\"{prefix}"))
        .replace("url(#", &format!("url(#{prefix}"))
}
