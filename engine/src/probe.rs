//! Coverage probes: named rare paths ("sometimes" points, as FoundationDB's
//! code probes and Antithesis' `sometimes` assertions), so that a sweep
//! can say whether it reached them at all.
//!
//! A state machine that takes one of these paths says so as an output
//! (`Output::Probe`, `MainOutput::Probe`, `WorkOutput::Probe`, a
//! protocol's `StepCtx::sometimes`); the driver writes a trace entry, and
//! `vigil run` and `vigil explore` count them. A probe is a name, declared
//! once with what it means: the built-in ones here, a protocol's own with
//! its registration.

/// One probe: its name, the part of vigil it sits in, and the path it
/// marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProbeDef {
    pub name: &'static str,
    /// `engine`, `main-thread`, `work-thread`, `round-driver`, or a
    /// protocol's name.
    pub at: &'static str,
    pub doc: &'static str,
}

impl ProbeDef {
    pub const fn new(name: &'static str, at: &'static str, doc: &'static str) -> ProbeDef {
        ProbeDef { name, at, doc }
    }
}

/// A gathering node asked again: an ask or its answer was lost, or the
/// node asked is down.
pub const GATHER_ASKED_AGAIN: &str = "gather-asked-again";
/// A leader merged another view of several nodes into its own.
pub const VIEWS_MERGED: &str = "views-merged";
/// A leader's install restarted without the nodes that neither acked nor
/// were heard.
pub const INSTALL_RESTARTED: &str = "install-restarted";
/// A leader gave up its own install for a lower leader's.
pub const INSTALL_YIELDED: &str = "install-yielded";
/// A node's state report reached its installing leader before its install
/// ack, and was kept aside.
pub const STATE_OVERTOOK_INSTALL_ACK: &str = "state-overtook-install-ack";
/// A packet came from a newer incarnation of a node in the view: it
/// restarted (or was excluded) and came back.
pub const PEER_REINCARNATED: &str = "peer-reincarnated";
/// A node booted from a blank disk held its members' group views until
/// it knew its peers' view ids (or heard none for a failure timeout).
pub const BLANK_BOOT_HELD: &str = "blank-boot-held";
/// A member learned from its leader's probe that it was dropped.
pub const DROPPED_LEARNED_FROM_PROBE: &str = "dropped-learned-from-probe";
/// A link message came ahead of the view it belongs to and was held.
pub const HELD_AHEAD_OF_ITS_VIEW: &str = "held-ahead-of-its-view";
/// A group view stamped with an earlier node view was taken.
pub const GROUP_VIEW_TAKEN_LATE: &str = "group-view-taken-late";
/// A new leader's flush brought a node ordered messages it lacked.
pub const ORDERED_FLUSHED: &str = "ordered-flushed";
/// A leader handed a group view, with its messages, to a node that lacked
/// it.
pub const GROUP_VIEW_CAUGHT_UP: &str = "group-view-caught-up";
/// A leader kept a group view across an install (no new id).
pub const GROUP_VIEW_KEPT: &str = "group-view-kept";
/// A leader gave a group view another leader issued, with the same
/// members, a new id of its own before numbering in it.
pub const GROUP_VIEW_TAKEN_OVER: &str = "group-view-taken-over";
/// An ordered message sent before another leader's install was dropped.
pub const ORDERED_FROM_AN_EARLIER_LEAD: &str = "ordered-from-an-earlier-lead";
/// An ordered message its leader sent before an install this node took
/// part in was dropped (the install's flush brings what it should have).
pub const ORDERED_FROM_BEFORE_AN_INSTALL: &str = "ordered-from-before-an-install";
/// A stopping engine told its view it goes.
pub const STOP_ANNOUNCED: &str = "stop-announced";
/// An engine stepped long after its last step (its node was paused, its
/// clock jumped ahead): the time it was away did not count as its peers'
/// silence.
pub const ENGINE_WAS_AWAY: &str = "engine-was-away";
/// A watchdog's look came long past its time (the node was away): the
/// step it watches does not count the time since the last look.
pub const WATCHDOG_WAS_AWAY: &str = "watchdog-was-away";
/// A task runner chose a priority task ahead of older tasks waiting.
pub const PRIORITY_OVERTOOK: &str = "priority-overtook";
/// The main thread's watchdog caught a hung local step.
pub const WATCHDOG_CAUGHT_HANG: &str = "watchdog-caught-hang";
/// A member ahead was asked for the ACK this member lacked.
pub const ACK_FETCHED_FROM_AHEAD: &str = "ack-fetched-from-ahead";
/// A member behind got this member's ACK of its round again.
pub const ACK_ANSWERED_TO_BEHIND: &str = "ack-answered-to-behind";
/// A view change restarted the round in progress.
pub const ROUND_RESTARTED: &str = "round-restarted";
/// A member skipped rounds to catch up with the members ahead.
pub const ROUNDS_SKIPPED_TO_CATCH_UP: &str = "rounds-skipped-to-catch-up";
/// A step read ACKs of members that left the view during the round.
pub const LEFT_ACKS_READ: &str = "left-acks-read";

/// The built-in probes, in the order reports list them.
pub const PROBES: &[ProbeDef] = &[
    ProbeDef::new(
        GATHER_ASKED_AGAIN,
        "engine",
        "a gathering node asked again: an ask or its answer was lost, or the node is down",
    ),
    ProbeDef::new(
        VIEWS_MERGED,
        "engine",
        "a leader merged another view of several nodes into its own (a partition healed)",
    ),
    ProbeDef::new(
        INSTALL_RESTARTED,
        "engine",
        "a leader's install restarted without the nodes that neither acked nor were heard",
    ),
    ProbeDef::new(
        INSTALL_YIELDED,
        "engine",
        "a leader gave up its own install for a lower leader's",
    ),
    ProbeDef::new(
        STATE_OVERTOOK_INSTALL_ACK,
        "engine",
        "a node's state report reached its installing leader before its install ack",
    ),
    ProbeDef::new(
        PEER_REINCARNATED,
        "engine",
        "a node of the view came back as a new incarnation",
    ),
    ProbeDef::new(
        BLANK_BOOT_HELD,
        "engine",
        "a node that lost its disk held its members' views until it knew its peers' view ids",
    ),
    ProbeDef::new(
        DROPPED_LEARNED_FROM_PROBE,
        "engine",
        "a member learned from its own leader's probe that it was dropped",
    ),
    ProbeDef::new(
        HELD_AHEAD_OF_ITS_VIEW,
        "engine",
        "a link message came ahead of its view and was held",
    ),
    ProbeDef::new(
        GROUP_VIEW_TAKEN_LATE,
        "engine",
        "a group view stamped with an earlier node view was taken",
    ),
    ProbeDef::new(
        ORDERED_FLUSHED,
        "engine",
        "a new leader's flush brought a node ordered messages it lacked",
    ),
    ProbeDef::new(
        GROUP_VIEW_CAUGHT_UP,
        "engine",
        "a leader handed a group view and its messages to a node that lacked it",
    ),
    ProbeDef::new(
        GROUP_VIEW_KEPT,
        "engine",
        "a group view was kept across an install",
    ),
    ProbeDef::new(
        GROUP_VIEW_TAKEN_OVER,
        "engine",
        "a leader gave a group view another leader issued a new id of its own",
    ),
    ProbeDef::new(
        ORDERED_FROM_AN_EARLIER_LEAD,
        "engine",
        "an ordered message sent before another leader's install was dropped",
    ),
    ProbeDef::new(
        ORDERED_FROM_BEFORE_AN_INSTALL,
        "engine",
        "an ordered message sent before an install the node took part in was dropped",
    ),
    ProbeDef::new(
        STOP_ANNOUNCED,
        "engine",
        "a stopping engine told its view it goes",
    ),
    ProbeDef::new(
        ENGINE_WAS_AWAY,
        "engine",
        "an engine stepped long after its last step (a pause, a clock that jumped): its absence was not its peers' silence",
    ),
    ProbeDef::new(
        PRIORITY_OVERTOOK,
        "task-runner",
        "a priority task was chosen ahead of older tasks waiting",
    ),
    ProbeDef::new(
        WATCHDOG_CAUGHT_HANG,
        "main-thread",
        "the watchdog caught a hung local step",
    ),
    ProbeDef::new(
        WATCHDOG_WAS_AWAY,
        "main-thread",
        "a watchdog's look came long past its time (the node was away): the step's deadline moved on",
    ),
    ProbeDef::new(
        ACK_FETCHED_FROM_AHEAD,
        "round-driver",
        "a member ahead was asked for the ACK this member lacked",
    ),
    ProbeDef::new(
        ACK_ANSWERED_TO_BEHIND,
        "round-driver",
        "a member behind got this member's ACK of its round again",
    ),
    ProbeDef::new(
        ROUND_RESTARTED,
        "round-driver",
        "a view change restarted the round in progress",
    ),
    ProbeDef::new(
        ROUNDS_SKIPPED_TO_CATCH_UP,
        "round-driver",
        "a member skipped rounds to catch up with the members ahead",
    ),
    ProbeDef::new(
        LEFT_ACKS_READ,
        "round-driver",
        "a step read ACKs of members that left during the round",
    ),
];

/// The built-in probe named `name`.
pub fn builtin(name: &str) -> Option<&'static ProbeDef> {
    PROBES.iter().find(|p| p.name == name)
}
