//! The membership-change history of every example scenario at its own seed,
//! pinned: one line per change, as each main thread took it (time,
//! observer, group, view, members, joined, left with reasons), under a
//! header that lists the faults as they struck. Read them as
//! documentation of what each scenario does; a change in the engine's
//! behaviour shows up here as a reviewed diff (`cargo insta review`).
//!
//! The runs are deterministic, so the snapshots are the same on every run
//! and machine. `every_example_has_a_snapshot` keeps the list complete.

use vigil_tests::{load, run};

fn history(name: &str) {
    let scenario = load(name);
    let seed = scenario.seed.unwrap_or(0);
    let checked = run(&scenario, seed, None);
    assert!(checked.failed().is_empty(), "{}", checked.violations());
    // The faults as they struck, in the header: the cause beside the effect.
    let faults: Vec<insta::internals::Content> = checked
        .out
        .faults()
        .map(|(t, text, _)| format!("{:>10.3}ms {text}", t.as_millis_f64()))
        .map(insta::internals::Content::String)
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.set_description(format!("{}: {} (seed {seed})", name, scenario.name));
    settings.set_omit_expression(true);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_raw_info(&insta::internals::Content::Map(vec![(
        insta::internals::Content::String("faults".into()),
        insta::internals::Content::Seq(faults),
    )]));
    settings.bind(|| insta::assert_snapshot!(name, checked.history()));
}

vigil_tests::each_example!(history);
