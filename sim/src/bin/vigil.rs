//! The `vigil` binary: see `vigil_sim::cli`.

use std::io::IsTerminal;

/// mimalloc rather than glibc's malloc: runs allocate and free small
/// objects at a high rate (a packet, an engine event), and glibc's malloc
/// slows as a large run's heap grows. A sweep's peak memory stays flat
/// over seeds with it too (the speed benchmark's `memory` section: the
/// quickstart over 100 and over 10,000 seeds), though higher than on
/// glibc's (about 38 MB against 13).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    #[cfg(unix)]
    vigil_sim::runtime::real::lazy_commit_for_nodes(&args);
    // stderr is not locked: `explore`'s progress bar draws to it too.
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr());
    let mut io = vigil_sim::cli::Io {
        color_stdout: std::io::stdout().is_terminal(),
        color_stderr: std::io::stderr().is_terminal(),
        stdout: &mut stdout,
        stderr: &mut stderr,
    };
    std::process::ExitCode::from(vigil_sim::cli::main_with(&args, &mut io))
}
