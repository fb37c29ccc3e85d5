//! One line for each fault, as the report, the trace and the pictures
//! show it.

use super::FaultKind as ScenarioFault;
use std::time::Duration;

fn node_name(n: u16) -> String {
    format!("n{n}")
}

fn nodes_text(nodes: &[u16]) -> String {
    nodes
        .iter()
        .map(|n| node_name(*n))
        .collect::<Vec<_>>()
        .join(",")
}

fn dur_text(d: Duration) -> String {
    format!("{d:?}")
}

/// One line for a fault, as the report shows it.
pub fn describe(fault: &ScenarioFault) -> String {
    match fault {
        ScenarioFault::WorkThreadPanic { node, job, thread } => {
            format!(
                "work-thread-panic {job}@{} thread {thread}",
                node_name(*node)
            )
        }
        ScenarioFault::WorkThreadError { node, job, thread } => {
            format!(
                "work-thread-error {job}@{} thread {thread}",
                node_name(*node)
            )
        }
        ScenarioFault::WorkThreadHang { node, job, thread } => {
            format!(
                "work-thread-hang {job}@{} thread {thread}",
                node_name(*node)
            )
        }
        ScenarioFault::JobKill { node, job } => format!("job-kill {job}@{}", node_name(*node)),
        ScenarioFault::JobLeave { node, job } => format!("job-leave {job}@{}", node_name(*node)),
        ScenarioFault::JobJoin { node, job } => format!("job-join {job}@{}", node_name(*node)),
        ScenarioFault::NodeCrash {
            node,
            restart_after,
        } => match restart_after {
            Some(d) => format!(
                "node-crash {} (restart after {})",
                node_name(*node),
                dur_text(*d)
            ),
            None => format!("node-crash {}", node_name(*node)),
        },
        ScenarioFault::NodePause { node, duration } => {
            format!(
                "node-pause {} for {}",
                node_name(*node),
                dur_text(*duration)
            )
        }
        ScenarioFault::Partition { sides, heal_after } => {
            let sides: Vec<String> = sides
                .iter()
                .map(|s| format!("{{{}}}", nodes_text(s)))
                .collect();
            match heal_after {
                Some(d) => format!(
                    "partition {} (heal after {})",
                    sides.join(" | "),
                    dur_text(*d)
                ),
                None => format!("partition {}", sides.join(" | ")),
            }
        }
        ScenarioFault::Heal => "heal".into(),
        ScenarioFault::Delay {
            latency,
            nodes,
            duration,
        } => format!(
            "delay +{}..{} on {}{}",
            dur_text(latency.0),
            dur_text(latency.1),
            nodes.as_ref().map_or("every link".into(), |n| format!(
                "links of {}",
                nodes_text(n)
            )),
            duration.map_or(String::new(), |d| format!(" for {}", dur_text(d)))
        ),
        ScenarioFault::Loss {
            rate,
            nodes,
            duration,
        } => format!(
            "loss {rate} on {}{}",
            nodes.as_ref().map_or("every link".into(), |n| format!(
                "links of {}",
                nodes_text(n)
            )),
            duration.map_or(String::new(), |d| format!(" for {}", dur_text(d)))
        ),
    }
}
