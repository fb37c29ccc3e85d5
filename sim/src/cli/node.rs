//! `vigil node` (one node of a cluster as this process) and
//! `vigil run FILE --real` (the scenario on one such process per node).

use super::*;
use crate::runtime::real::{self, NodeSpec, RealRun};
use crate::scenario::draw;

/// `vigil node`'s settings besides the cluster file.
pub(super) struct Options {
    pub node: u16,
    pub trace: Option<PathBuf>,
    pub disk: Option<PathBuf>,
    pub jobs: Option<Vec<String>>,
    pub epoch_ns: Option<u64>,
    pub seed: u64,
    pub quiet: bool,
    pub socket_fd: Option<i32>,
}

/// What `run --real` writes.
pub(super) struct RealOutputs<'a> {
    pub json: bool,
    pub trace: bool,
    pub emit: Option<&'a Path>,
    pub keep: Option<PathBuf>,
}

impl Ctx<'_> {
    pub(super) fn node(&self, cluster: &Path, o: Options, io: &mut Io<'_>) -> Exit {
        let scenario = match scenario::load_cluster_with(cluster, self.registry) {
            Ok(s) => s,
            Err(e) => return bad_file(cluster, &e, false, io),
        };
        // `--jobs ""` is no job at all (a node that only runs its engine).
        let jobs: Option<Vec<String>> = o
            .jobs
            .map(|j| j.into_iter().filter(|j| !j.is_empty()).collect());
        let problem = if o.node >= scenario.cluster.nodes {
            Some(format!(
                "{}: the cluster has nodes n0..n{}, not n{}",
                cluster.display(),
                scenario.cluster.nodes - 1,
                o.node
            ))
        } else {
            jobs.iter()
                .flatten()
                .find(|j| scenario.job(j).is_none())
                .map(|j| format!("{}: the cluster file has no job `{j}`", cluster.display()))
        };
        if let Some(problem) = problem {
            let _ = writeln!(io.stderr, "error: {problem}");
            return Exit::BadInput;
        }
        let socket = match o.socket_fd.map(inherited_socket).transpose() {
            Ok(socket) => socket,
            Err(e) => {
                let _ = writeln!(io.stderr, "error: {e}");
                return Exit::BadInput;
            }
        };
        // Checked before the trace file is made: a node refused leaves
        // nothing behind.
        let disk = o
            .disk
            .unwrap_or_else(|| PathBuf::from(format!("n{}.disk.json", o.node)));
        if let Some(why) = unwritable(&disk) {
            let _ = writeln!(
                io.stderr,
                "error: --disk {}: {why}\n  = help: the node keeps its incarnation and view-id floor there",
                disk.display()
            );
            return Exit::BadInput;
        }
        let path = o
            .trace
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("n{}.trace.jsonl", o.node)));
        let trace = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(io.stderr, "error: cannot write {}: {e}", path.display());
                return Exit::BadInput;
            }
        };
        let spec = NodeSpec {
            cluster: scenario,
            node: o.node,
            jobs,
            epoch_ns: o.epoch_ns.unwrap_or_else(real::unix_ns),
            trace: Box::new(std::io::LineWriter::new(trace)),
            // A disk keeps the incarnation and view-id floor; without its
            // file a node takes both from the host's clock.
            disk: Some(disk),
            live: !o.quiet,
            registry: self.registry.clone(),
            seed: o.seed,
            socket,
        };
        let stdin = std::io::BufReader::new(std::io::stdin());
        match real::run_node(spec, stdin, Box::new(std::io::stdout())) {
            Ok(()) => Exit::Pass,
            Err(e) => {
                let _ = writeln!(io.stderr, "error: {e}");
                Exit::BadInput
            }
        }
    }

    /// `vigil check`: the merged traces of nodes run by hand, checked.
    pub(super) fn check(
        &self,
        cluster: &Path,
        traces: &[PathBuf],
        json: bool,
        io: &mut Io<'_>,
    ) -> Exit {
        let scenario = match scenario::load_cluster_with(cluster, self.registry) {
            Ok(s) => s,
            Err(e) => return bad_file(cluster, &e, json, io),
        };
        let out = match real::merge_files(&scenario, traces) {
            Ok(trace) => trace,
            Err(e) => {
                let _ = writeln!(io.stderr, "error: {e}");
                if json {
                    let at = e.line.map(|line| (line, 1));
                    let error = error_json(&e.message, e.file.as_deref(), at, None);
                    let _ = writeln!(io.stdout, "{error}");
                }
                return Exit::BadInput;
            }
        };
        let mut scenario = scenario;
        scenario.duration = Duration::from_nanos(out.end.at.0);
        let e = Execution::judged(0, scenario, None, Ok(out), None, Duration::ZERO);
        let flags = RunFlags {
            swarm: false,
            check_determinism: false,
            mutation: None,
            driver: Some(Driver::Real),
        };
        self.account_of(cluster, &e, (json, false), flags, (false, None), io)
    }

    pub(super) fn run_real(
        &self,
        file: &Path,
        seed: Option<u64>,
        outputs: RealOutputs<'_>,
        flags: RunFlags,
        io: &mut Io<'_>,
    ) -> Exit {
        let RealOutputs {
            json,
            trace,
            emit,
            keep,
        } = outputs;
        let (scenario, seed) = match self.load_seeded(file, seed, json, io) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let refused = if flags.driver.is_some() {
            Some("--real runs real processes, not a simulator: it takes no --driver".to_string())
        } else if let Some(Err(why)) = emit.map(|_| super::run::seed_fits_a_file(seed)) {
            Some(format!("--emit-scenario: {why}"))
        } else if let Some(dir) = keep.as_ref().filter(|d| d.exists() && !d.is_dir()) {
            Some(format!(
                "--keep {}: it is a file; --keep takes a directory",
                dir.display()
            ))
        } else if let Some(why) = real::refusal(&scenario) {
            Some(why)
        } else {
            keep.as_ref().and_then(|dir| {
                keep_unwritable(dir).map(|why| format!("--keep {}: {why}", dir.display()))
            })
        };
        if let Some(why) = refused {
            let _ = writeln!(io.stderr, "error: {}: {why}", file.display());
            if json {
                let error = error_json(&why, Some(file), None, None);
                let _ = writeln!(io.stdout, "{error}");
            }
            return Exit::BadInput;
        }
        let program = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(
                    io.stderr,
                    "error: cannot find this program to start nodes with: {e}"
                );
                return Exit::BadInput;
            }
        };
        let started = Instant::now();
        crate::tools::explore::install_interrupt_handler();
        let (scenario, swarm) = draw::draw(&scenario, seed, flags.swarm);
        if !json {
            let _ = writeln!(
                io.stderr,
                "running {} for real: {} node process(es) on 127.0.0.1 for {:?} (not deterministic)",
                file.display(),
                scenario.cluster.nodes,
                scenario.duration
            );
            if !scenario.cluster.addresses.is_empty() {
                let _ = writeln!(
                    io.stderr,
                    "note: the file's [cluster] addresses are for `vigil node`; this run binds free ports on 127.0.0.1 instead"
                );
            }
        }
        let out = real::run_real(&RealRun {
            scenario: &scenario,
            seed,
            program,
            live: !json,
            keep,
            // The first Ctrl-C stops the nodes and judges the run so far.
            stop: Some(&crate::tools::explore::STOP),
        });
        let (out, interrupted) = match out {
            Ok(real) => (real.trace, real.interrupted),
            Err(e) => {
                let _ = writeln!(io.stderr, "error: the real run failed: {e}");
                if json {
                    let message = format!("the real run failed: {e}");
                    let _ = writeln!(
                        io.stdout,
                        "{}",
                        error_json(&message, Some(file), None, None)
                    );
                }
                return Exit::Fail;
            }
        };
        let e = Execution::judged(seed, scenario, swarm, Ok(out), None, started.elapsed());
        if let Some(out) = emit {
            if let Err(code) = self.emit(file, seed, &e, out, io) {
                return code;
            }
        }
        let flags = RunFlags {
            driver: Some(Driver::Real),
            ..flags
        };
        // An interrupted run is judged up to the interrupt: its JSON says
        // so (`verdict` `interrupted`, what the checks found as `judged`),
        // so that a script does not take the part for the whole.
        let cut = |value: &mut serde_json::Value| {
            if let Some(at) = interrupted {
                value["judged"] = value["verdict"].clone();
                value["verdict"] = serde_json::json!("interrupted");
                value["interrupted_at_ms"] = serde_json::json!(at.0 as f64 / 1e6);
            }
        };
        let status = self.account_of(file, &e, (json, trace), flags, (true, Some(&cut)), io);
        match interrupted {
            Some(at) => {
                let _ = writeln!(
                    io.stderr,
                    "interrupted at {:.3}s: the nodes were stopped and the run judged up to then",
                    at.0 as f64 / 1e9
                );
                Exit::Interrupted
            }
            None => status,
        }
    }
}

/// The UDP socket at file descriptor `fd`, which this process inherited
/// (`vigil node --socket-fd`), taken over: refused, saying what it is,
/// unless it is an open datagram socket. It is closed on exec again, so
/// nothing this process might start inherits it in turn.
fn inherited_socket(fd: i32) -> Result<std::net::UdpSocket, String> {
    use std::os::fd::FromRawFd;
    let refuse = |what: &str| {
        Err(format!(
            "--socket-fd {fd}: {what}, not an open UDP socket this process inherited"
        ))
    };
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `kind`, an int;
    // on a descriptor that is not open, or not a socket, it fails.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &raw mut len,
        )
    };
    if got != 0 {
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EBADF) => refuse("no such open descriptor"),
            Some(libc::ENOTSOCK) => refuse("not a socket"),
            _ => refuse("unreadable"),
        };
    }
    if kind != libc::SOCK_DGRAM {
        return refuse("a socket, but not a datagram one (TCP?)");
    }
    // SAFETY: fcntl(2) on a descriptor just found open.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    // SAFETY: `fd` is an open datagram socket, inherited for this process
    // to own; nothing else in it uses the descriptor.
    Ok(unsafe { std::net::UdpSocket::from_raw_fd(fd) })
}

/// Why the run could not keep its files in `dir` (made, with any folders
/// above it, when the run starts), found before any node starts and
/// without making anything: the nearest folder there is must take a new
/// file.
fn keep_unwritable(dir: &Path) -> Option<String> {
    let there = dir
        .ancestors()
        .find(|a| a.as_os_str().is_empty() || a.exists())?;
    let there = if there.as_os_str().is_empty() {
        Path::new(".")
    } else {
        there
    };
    if !there.is_dir() {
        return Some(format!("{} is a file, not a folder", there.display()));
    }
    unwritable(&there.join("n0.jsonl"))
}
