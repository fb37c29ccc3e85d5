//! Deliberately broken variants of the round machinery and the shipped
//! protocols, so that tests can show each check catching the bug it exists
//! for. Compiled only for this crate's own tests and under the
//! `mutations` feature, which only test builds turn on.

/// A broken variant of a protocol or of the [`crate::RoundDriver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// Two-phase commit: the coordinator decides with the votes that
    /// arrived, without waiting for the last one (`atomic-commit`).
    DecideWithoutMissingVotes,
    /// Two-phase commit votes and decides in a view that is not primary,
    /// as if the cluster kept no quorum (`atomic-commit`, which with a
    /// quorum judges each transaction number as one).
    DecideWithoutQuorum,
    /// Group state: members apply their own update first instead of in
    /// member order (`state-agrees`).
    OwnUpdateFirst,
    /// Tasks: a priority task waits its turn like any other
    /// (`task-order`).
    PriorityIgnored,
    /// Tasks: a member that finishes a task picks the next from what it
    /// holds then, not at the group's boundary (`task-order`).
    LocalBoundary,
    // Past bugs, put back for the regression scenarios written for them:
    /// Two-phase commit names a transaction by its number and coordinator
    /// alone, not the view of its vote
    /// (`two-phase-commit-paused-coordinator.toml`).
    ProposalWithoutView,
    /// A member that joined catches up with the least advanced member of
    /// its view, not the most (`rejoin-together-catch-up.toml`).
    CatchUpWithSlowest,
    /// A member that lacks a peer's ACK for its round takes the peer's
    /// later ACK as proof that it skipped the round, instead of asking
    /// (`group-state-loss-burst.toml`).
    GuessSkippedAcks,
    /// Tasks: a member that ran a task on its side of a partition never
    /// answers the group's instance of it, and a member waits for a
    /// joiner's ACK without sending its own again when the joiner speaks
    /// (`tasks-joiner-ran-it.toml`).
    JoinerLeftWaiting,
    /// Tasks: an exchange of accounts opened in one view ends in the next,
    /// with the members that answered before they left, so members of one
    /// view choose from two accounts (`tasks-exchange-across-views.toml`).
    AdoptAcrossViews,
    /// Tasks: a member that abandons a task instance after it began it
    /// answers no one in it again (`tasks-abandoned-instance.toml`).
    AbandonedSilent,
    /// Tasks: a member that finished the task an adopted account still
    /// runs waits for another's `Ready` (a unit test of `tasks.rs`: no
    /// sweep reaches it now).
    ReadyOnce,
    /// Tasks: a member waits for a member of its view that was apart from
    /// it meanwhile (in a view of its own) without sending its ACK again
    /// when that member speaks, nor answering its first ACK in the round
    /// with its own, as it does for a joiner (`tasks-apart-member.toml`).
    ApartUnpoked,
    /// Tasks: a member that finished a task instance answers a later round
    /// of it "skipped" without the trace's word that it takes no further
    /// part (`tasks-finished-answers.toml`).
    FinishedUnexcused,
}
