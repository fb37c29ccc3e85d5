//! `vigil` as the tests build it, for the tests that need real processes
//! (`vigil run --real` starts one `vigil node` per node with the program
//! that runs it).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // As `vigil` does (this binary runs on glibc's malloc, which ignores
    // the variable: the real-network tests check that the node runs with it).
    #[cfg(unix)]
    vigil_sim::runtime::real::lazy_commit_for_nodes(&args);
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr());
    let mut io = vigil_sim::cli::Io {
        color_stdout: false,
        color_stderr: false,
        stdout: &mut stdout,
        stderr: &mut stderr,
    };
    std::process::ExitCode::from(vigil_sim::cli::main_with(&args, &mut io))
}
