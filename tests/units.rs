//! vigil-sim's unit tests. They live beside the private items they test
//! and compile into the library with its `unit-tests` feature (see
//! `unit_tests!` in sim/src/lib.rs); here each module's run as one test,
//! each function caught on its own, so that one failure names every
//! function that failed. `VIGIL_UNIT=name` runs only the functions whose
//! name contains `name`.

fn run(module: &str) {
    let all = vigil_sim::unit_tests();
    let (_, tests) = all
        .iter()
        .find(|(m, _)| *m == module)
        .unwrap_or_else(|| panic!("vigil_sim::unit_tests() has no module `{module}`"));
    run_each(module, tests);
}

/// Runs each of `tests`, then fails naming every one that failed.
fn run_each(module: &str, tests: &[(&str, fn())]) {
    let only = std::env::var("VIGIL_UNIT").ok();
    let mut failed = Vec::new();
    for (name, test) in tests.iter() {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        println!("{module}::{name}");
        if std::panic::catch_unwind(test).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} tests of `{module}` failed: {}",
        failed.len(),
        tests.len(),
        failed.join(", ")
    );
}

macro_rules! modules {
    ($($test:ident = $module:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run($module);
            }
        )*

        /// Every module the library lists is run here, and none twice.
        #[test]
        fn every_module_is_run() {
            let here: std::collections::BTreeSet<&str> = [$($module),*].into_iter().collect();
            let listed: std::collections::BTreeSet<&str> =
                vigil_sim::unit_tests().into_iter().map(|(m, _)| m).collect();
            assert_eq!(here, listed);
            assert_eq!(here.len(), [$($module),*].len());
        }
    };
}

modules![
    check = "check",
    check_bounds = "check::bounds",
    run_ = "run",
    runtime = "runtime",
    runtime_clock = "runtime::clock",
    runtime_event_loop = "runtime::event_loop",
    runtime_exhaust = "runtime::event_loop::exhaust",
    runtime_faults = "runtime::faults",
    runtime_madsim_host = "runtime::madsim_driver::host",
    runtime_net = "runtime::net",
    runtime_real = "runtime::real",
    runtime_real_launch = "runtime::real::launch",
    scenario = "scenario",
    scenario_draw = "scenario::draw",
    scenario_duration = "scenario::duration",
    scenario_error = "scenario::error",
    scenario_schema = "scenario::schema",
    scenario_write = "scenario::write",
    tools_explore = "tools::explore",
    tools_props = "tools::props",
    tools_svg = "tools::visual::svg",
    trace = "trace",
    trace_entries = "trace::entries",
];

/// A failing unit test fails its module's test, by name.
#[test]
fn a_failing_function_fails_its_module() {
    let tests: &[(&str, fn())] = &[("fine", || {}), ("broken", || panic!("deliberately"))];
    let caught = std::panic::catch_unwind(|| run_each("m", tests)).expect_err("it fails");
    let message = caught.downcast_ref::<String>().expect("a message");
    assert!(
        message.contains("1 of 2 tests of `m` failed: broken"),
        "{message}"
    );
}
