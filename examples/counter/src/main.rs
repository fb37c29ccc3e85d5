//! `vigil` with the `counter` protocol registered:
//! `cargo run -p vigil-example-counter -- run examples/counter/counter.toml`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut io = vigil_sim::cli::Io {
        stdout: &mut stdout,
        stderr: &mut stderr,
        color_stdout: false,
        color_stderr: false,
    };
    let status =
        vigil_sim::cli::main_with_registry(&args, &mut io, &vigil_example_counter::registry());
    std::process::exit(i32::from(status));
}
