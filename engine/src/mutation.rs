//! Deliberately broken variants of the engine and the job threads, so that
//! tests can show each of vigil's checks catching the bug it exists for,
//! and each regression scenario failing with its bug put back.
//!
//! Compiled only for this crate's own tests and under the `mutations`
//! feature, which only test builds turn on: no shipped type carries them,
//! and no production assertion is weakened for them.

/// A broken variant of the engine, a main thread or a work thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// View ids from a plain counter (the highest id seen, plus one), the
    /// pitfall that gives two sides of a partition the same id for
    /// different member lists.
    PlainCounterViewIds,
    /// Keep on disk only the view ids this node issued, not the higher
    /// ones it saw, so a restarted node can hand its new members a view id
    /// lower than its old members saw.
    PersistIssuedViewIdsOnly,
    /// A leader that issued a primary view keeps calling its views primary
    /// after its side lost the majority.
    MinorityStaysPrimary,
    /// A leader completing an install issues new group views without
    /// first flushing the ordered messages some survivors lack, so members
    /// that install the same two views took different messages between.
    NoOrderedFlush,
    /// A node forgets what it delivered of a group view once it takes the
    /// next, so a new leader's flush cannot bring a node still at the old
    /// view's end the rest of it (`ordered-left-tail.toml`).
    ForgetLeftTails,
    /// A node takes a group view only if it is stamped with the node view
    /// it holds, and drops ordered messages numbered in a group view it
    /// does not hold yet: a group view that reaches it after its next node
    /// view, and the messages numbered in it, are lost.
    StrictGroupViewStamp,
    /// A node takes a late group view from its leader even when another
    /// leader's install came between: the view it went on in since is
    /// superseded, and the ordered messages of both are delivered.
    LateGroupViewFromAnyLead,
    /// A leader keeps the newest group view its members report across an
    /// install and catches up every node behind it, whatever view that
    /// node went on in.
    KeepForkedView,
    /// A leader completing an install issues a new group view straight
    /// after the newest one a node reports, without first handing that
    /// view (and its messages) to the nodes still in the one it follows
    /// (`ordered-hidden-view.toml`).
    NoCatchUpBeforeNewView,
    /// A leader completing an install leaves a node in a group view that
    /// another node saw followed by one of the same members (its members
    /// told of no change) where it is, and issues its own view after both
    /// (`ordered-unchanged-view.toml`).
    NoCatchUpOnUnchanged,
    /// A leader that takes over a group view another leader issued goes on
    /// numbering its ordered messages: its issuer, paused or cut off
    /// rather than gone, numbers on in it too, and two members take
    /// different messages at one place of the view.
    TakenOverViewNumbered,
    /// A node takes an ordered message its leader sent before an install
    /// the node took part in: its install packet overtook the link, and
    /// the message goes past where the install's flush ended the view for
    /// the others (`ordered-install-overtook.toml`).
    OrderedAcrossAnInstall,
    /// A node that dropped ordered messages of a group view sent before
    /// an install forgets it at the next install, still in that view: it
    /// takes a newer group view sent before both, short of the old view's
    /// end (`ordered-install-overtook.toml`, `--swarm`).
    DropForgottenAtNextInstall,
    /// A leader completing an install flushes each node to the furthest
    /// any node took a group view, counting nodes whose members left: one
    /// that numbered on alone brings the others past where another leader
    /// closed the view (`ordered-install-overtook.toml`, `--swarm`).
    FlushToAMemberlessNode,
    /// A leader hands a node the group view after the one it is still in
    /// although no node of its view holds that one as far as the new
    /// view's issuer numbered it (`ordered-flush-cut.toml`).
    JoinShortOfPrevTail,
    /// A member takes its leader's probe (sent because the leader's view
    /// no longer holds it) as a sign of life, and stays in its old view.
    ProbeAsHeartbeat,
    /// A link delivers a message again when a copy of a packet it took
    /// arrives (a duplicate, or a retransmission whose ack was lost).
    DuplicatesDelivered,
    /// A stopping engine announces its departure at once, without
    /// waiting for its jobs to leave: the survivors drop the node before
    /// the jobs' unregistrations reach them, and read `node-down`.
    StopBeforeJobsLeave,
    /// Count the time this node was away (paused, its clock jumped ahead)
    /// as its peers' silence: a leader whose clock jumps past the failure
    /// timeout drops every member at its next tick.
    AbsenceAsSilence,
    /// A watchdog that learns how long its thread's steps take and calls a
    /// step three times that long hung, whatever `work_deadline` says: a
    /// slow node's jobs leave though nothing hangs.
    AdaptiveWatchdog,
    /// A node that boots from a blank disk counts its incarnation and view
    /// ids from zero again, as at its first boot: after a disk is lost its
    /// members reuse ids of its earlier lives and see view ids go back.
    BlankDiskTrusted,
    /// A node that boots from a blank disk issues its members group views
    /// at once, from the floor its clock gives, without waiting to learn
    /// its peers' view ids: with a peer's clock ahead of its own, its
    /// members see view ids go back.
    BlankBootUnheld,
    /// A node that crashes while a blank disk's floor of view ids is still
    /// unsure boots from the disk that life wrote trusting it: it issues
    /// its members views at once from a floor no peer checked.
    BlankHoldForgotten,
    /// A watchdog timer that fires late counts the time the node was away
    /// against the step it watches: a clock that jumps ahead reads as a
    /// hang.
    WatchdogCountsAbsence,
    /// A main thread that does not hear its engine go: its work threads
    /// keep waiting in the rounds they were in, and the job never
    /// registers with the restarted engine.
    EngineLossUnseen,
    /// Deliver member messages without checking that the receiver's view
    /// still holds the sender.
    SkipGhostFilter,
    /// Issue group views without the reasons of departures (so everyone
    /// reads `node-down`).
    ForgetReasons,
    /// Leaders stop probing the nodes outside their view after the first
    /// two seconds, so views never merge after a partition.
    NoMerge,
    /// Work threads finish a round when every member of the view but one
    /// has ACKed it.
    EarlyRound,
    /// Work threads keep their first view for good: a member alone in its
    /// boot view completes every round by itself.
    StaleView,
    // The engine's own past bugs, put back for the regression scenarios
    // that were written for them:
    /// Retransmissions count as heartbeats, so a stalled link's liveness
    /// packets thin out to one a retransmission timeout
    /// (`delay-loss-no-false-removal.toml`).
    RetransmitsAsHeartbeats,
    /// A gathering node answers a `Gather` only the first time it hears the
    /// asker (`gather-answer-lost.toml`).
    GatherAnsweredOnce,
    /// A gathering node sends its `Gather` once, never again
    /// (`isolated-leader-panic.toml`).
    GatherSentOnce,
    /// Links of peers that leave the view are dropped, not parked
    /// (`leader-pause.toml`, `loss-burst.toml`).
    DropDepartedLinks,
    /// A packet from a newer incarnation of a node does not end the old one:
    /// its silence is waited out (`crash-restart-during-install.toml`).
    IncarnationWaitsOut,
    /// A leader still installing drops a state that comes over the link
    /// before the node's install ack (`state-overtakes-install-ack.toml`).
    EarlyStateDropped,
    /// A node ending a gather puts every node it heard in the view it
    /// installs, suspects below it included
    /// (`gather-suspect-below-candidate.toml`).
    SuspectsInView,
    /// A main thread unregisters a work thread's hang as a graceful leave.
    HangAsLeave,
    /// Work threads never tell their protocol that members left, so rounds
    /// wait for them.
    IgnoreDepartures,
    /// The work thread as it was before random-faults swarm seed 70:
    /// between rounds it starts its step before it has read its response
    /// queue, and it reads its queues by their own order alone.
    StepBeforeResponses,
    /// A work thread reads its queues by their own order alone, so a view
    /// waiting in one queue can be overtaken by a newer one in the other.
    ViewsOvertaken,
    /// A work thread hands both copies of a priority message (routed to
    /// both queues) to its protocol.
    PriorityTakenTwice,
    /// A work thread at a task boundary (its protocol went idle) begins
    /// the next task as soon as an ordered message wakes its protocol,
    /// with older items still queued behind it.
    NoTaskBoundary,
}
