//! The layout's rules, checked on the source: what may reach what.
//!
//! - The engine and the protocols are sans-IO state machines: no sockets,
//!   clocks, threads, tasks or unseeded randomness, and no simulator.
//! - The trace is the only record of a run: the checks, the report and
//!   the pictures read the trace, never the driver (`crate::runtime`),
//!   madsim or the fault draw, so that a trace from any driver can be
//!   judged and drawn.
//! - A run depends on its seed alone: no unseeded randomness anywhere, and
//!   no hash-ordered collection whose order could reach an output.
//! - A scenario is data: parsing, validating and drawing faults use no
//!   simulator either.
//!
//! Each rule names the files it covers and the words they must not use in
//! code (comments are skipped). A line right after a `// layout-allow:`
//! comment, which says why, is exempt (a deliberately broken variant that
//! plants the very thing a rule forbids). The last test shows the scan
//! bites.

use std::path::{Path, PathBuf};
use vigil_tests::root;

struct Rule {
    /// Files or folders, from the workspace root.
    covers: &'static [&'static str],
    /// Words the code in them must not contain.
    forbidden: &'static [&'static str],
    /// Longer words that contain a forbidden one and are fine.
    allowed: &'static [&'static str],
    why: &'static str,
}

const SANS_IO: &[&str] = &[
    "madsim",
    "tokio",
    "std::net",
    "std::thread",
    "std::time::Instant",
    "Instant::now",
    "SystemTime",
    "thread_rng",
    "std::fs",
    "async fn",
    ".await",
];

const RULES: &[Rule] = &[
    Rule {
        covers: &["engine/src", "protocols/src"],
        forbidden: SANS_IO,
        allowed: &[],
        why: "the engine and protocols are sans-IO: inputs in, outputs out",
    },
    Rule {
        covers: &[
            "sim/src/check",
            "sim/src/trace",
            "sim/src/tools/report.rs",
            "sim/src/tools/visual",
        ],
        forbidden: &["crate::runtime", "madsim", "draw::", "Dice", "RandomFault"],
        // The name of the default driver, which the trace records.
        allowed: &["\"madsim\""],
        why: "checks, reports and pictures read the trace and nothing else (not the driver, not the fault draw)",
    },
    Rule {
        covers: &["engine/src", "protocols/src", "sim/src"],
        forbidden: &["HashMap", "HashSet", "thread_rng", "rand::random", "OsRng"],
        // madsim's generator is seeded by the run.
        allowed: &["madsim::rand::thread_rng"],
        why: "a run depends on its seed alone: no unseeded randomness, and no hash order that could reach an output (use BTreeMap)",
    },
    Rule {
        covers: &[
            "sim/src/runtime/event_loop",
            "sim/src/runtime/faults.rs",
            "sim/src/runtime/net.rs",
            "sim/src/runtime/threads.rs",
        ],
        forbidden: SANS_IO,
        allowed: &[],
        why: "the event loop, and what both drivers share (what a fault does, the network's conditions, the threads' records), need no async runtime",
    },
    Rule {
        covers: &["sim/src"],
        forbidden: &["#[test]", "cfg(test)"],
        allowed: &[],
        why: "vigil-sim builds no `--cfg test` target, so such a test would never run: list the function in its module's `unit_tests!` instead (see sim/src/lib.rs)",
    },
    Rule {
        covers: &["sim/src/scenario"],
        forbidden: &["crate::runtime", "madsim", "crate::check"],
        allowed: &[],
        why: "a scenario is data; it knows no driver and no check",
    },
];

/// Every `.rs` file under `path` (or `path` itself).
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("a readable folder") {
        let path = entry.expect("a readable entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The lines of `source` (numbered from 1) whose code, comments aside,
/// contains one of `forbidden`, with the word found.
fn violations<'w>(source: &str, forbidden: &[&'w str], allowed: &[&str]) -> Vec<(usize, &'w str)> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut exempt = false;
    for (n, line) in source.lines().enumerate() {
        if std::mem::take(&mut exempt) {
            continue;
        }
        if line.trim_start().starts_with("// layout-allow:") {
            exempt = true;
            continue;
        }
        let mut code = line;
        if in_block {
            match code.find("*/") {
                Some(end) => {
                    code = &code[end + 2..];
                    in_block = false;
                }
                None => continue,
            }
        }
        if let Some(start) = code.find("/*") {
            in_block = !code[start..].contains("*/");
            code = &code[..start];
        }
        if let Some(start) = code.find("//") {
            code = &code[..start];
        }
        let mut code = code.to_string();
        for fine in allowed {
            code = code.replace(fine, "");
        }
        for word in forbidden {
            if code.contains(word) {
                found.push((n + 1, *word));
            }
        }
    }
    found
}

#[test]
fn the_layout_keeps_its_rules() {
    let mut broken = Vec::new();
    for rule in RULES {
        for cover in rule.covers {
            let path = root().join(cover);
            assert!(path.exists(), "{cover} is gone: update RULES");
            for file in rust_files(&path) {
                let source = std::fs::read_to_string(&file).expect("readable");
                for (line, word) in violations(&source, rule.forbidden, rule.allowed) {
                    let shown = file.strip_prefix(root()).unwrap_or(&file);
                    broken.push(format!(
                        "{}:{line}: uses `{word}` ({})",
                        shown.display(),
                        rule.why
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layout rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_scan_bites_on_code_and_skips_comments() {
    let source = "\
//! Driven on madsim by the simulator.
use std::collections::BTreeMap;
/* a block comment naming madsim
   over two lines, tokio */
fn now() -> u64 { std::time::Instant::now(); 0 } // not madsim
let x = madsim::time::sleep(d).await;
let r = madsim::rand::thread_rng().gen(); let s = rand::thread_rng();
// layout-allow: a planted bug
let s = rand::thread_rng();
let t = rand::thread_rng();
";
    assert_eq!(
        violations(source, &["thread_rng"], &["madsim::rand::thread_rng"]),
        vec![(7, "thread_rng"), (10, "thread_rng")]
    );
    assert_eq!(
        violations(source, SANS_IO, &[]),
        vec![
            (5, "std::time::Instant"),
            (5, "Instant::now"),
            (6, "madsim"),
            (6, ".await"),
            (7, "madsim"),
            (7, "thread_rng"),
            (10, "thread_rng"),
        ]
    );
}

/// `sim`'s wings, in the order `sim/src/lib.rs` lists them: each may use
/// only the ones before it, so there is no import circle between them.
const WINGS: &[&str] = &[
    "mutation",
    "protocols",
    "scenario",
    "trace",
    "runtime",
    "check",
    "run",
    "tools",
    "cli",
];

/// The wing a file of `sim/src` belongs to.
fn wing_of(path: &Path) -> Option<usize> {
    let rel = path.strip_prefix(root().join("sim/src")).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs");
    WINGS.iter().position(|w| *w == name)
}

/// The words by which a file of wing `wing` would use a later wing.
fn later_wings(wing: usize) -> Vec<String> {
    let mut words = Vec::new();
    for w in &WINGS[wing + 1..] {
        for end in ["::", ";", ",", "}"] {
            words.push(format!("crate::{w}{end}"));
        }
    }
    // A grouped import could hide a wing from the scan.
    words.push("use crate::{".to_string());
    words
}

#[test]
fn each_wing_uses_only_the_wings_before_it() {
    let mut broken = Vec::new();
    for file in rust_files(&root().join("sim/src")) {
        let Some(wing) = wing_of(&file) else {
            continue; // lib.rs, the binary
        };
        let words = later_wings(wing);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let source = std::fs::read_to_string(&file).expect("readable");
        for (line, word) in violations(&source, &words, &[]) {
            let shown = file.strip_prefix(root()).unwrap_or(&file);
            broken.push(format!(
                "{}:{line}: the {} wing uses `{word}`, a later wing",
                shown.display(),
                WINGS[wing]
            ));
        }
    }
    assert!(broken.is_empty(), "import circles:\n{}", broken.join("\n"));
}

#[test]
fn the_wing_scan_bites() {
    let check = WINGS.iter().position(|w| *w == "check").expect("a wing");
    let words = later_wings(check);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let source = "\
use crate::trace::Trace;
use crate::runtime::World;
use crate::run;
use crate::{run, tools};
let x = crate::cli::main();
";
    let found: Vec<usize> = violations(source, &words, &[])
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    assert_eq!(found, vec![3, 4, 5]);
}
