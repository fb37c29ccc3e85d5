//! Deliberately broken variants of vigil, named as `vigil run --mutation
//! NAME` takes them: the tests use them to show that every check catches
//! the bug it exists for, and that every regression scenario fails with
//! its bug put back; a failure a test found then replays from the command
//! line.
//!
//! They exist only in builds with the `mutations` feature, which the test
//! crate turns on (`cargo run --features mutations -- run ...`). In every
//! other build [`Mutation`] has no variants: no shipped type carries a
//! broken variant, and `--mutation` says so.

#[cfg(feature = "mutations")]
pub use variants::Mutation;

/// Without the `mutations` feature there are no broken variants.
#[cfg(not(feature = "mutations"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {}

#[cfg(not(feature = "mutations"))]
impl Mutation {
    pub const ALL: &'static [Mutation] = &[];

    pub fn name(self) -> &'static str {
        match self {}
    }
}

#[cfg(not(feature = "mutations"))]
impl std::str::FromStr for Mutation {
    type Err = String;
    fn from_str(s: &str) -> Result<Mutation, String> {
        Err(format!(
            "this vigil has no broken variants (`{s}`): they are for tests; \
             build it with `--features mutations`"
        ))
    }
}

/// Whether the run's `Option<Mutation>` is the broken variant `$name`:
/// always false without the `mutations` feature.
macro_rules! mutated {
    ($mutation:expr, $name:ident) => {{
        #[cfg(feature = "mutations")]
        let on = $mutation == Some($crate::mutation::Mutation::$name);
        #[cfg(not(feature = "mutations"))]
        let on = {
            let _ = &$mutation;
            $crate::mutation::not_built(stringify!($name))
        };
        on
    }};
}
pub(crate) use mutated;

/// What [`mutated!`] reads without the `mutations` feature: `false`, named
/// after the variant, so that two reads side by side are not one
/// expression twice.
#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub(crate) const fn not_built(_variant: &str) -> bool {
    false
}

#[cfg(feature = "mutations")]
mod variants {
    /// Declares the broken variants: each with its name on the command line
    /// and where it breaks vigil.
    macro_rules! mutations {
        ($($(#[doc = $doc:literal])* $variant:ident = $name:literal => $target:expr,)*) => {
            /// A deliberately broken variant of vigil.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Mutation {
                $($(#[doc = $doc])* $variant,)*
            }

            impl Mutation {
                /// Every broken variant.
                pub const ALL: &'static [Mutation] = &[$(Mutation::$variant,)*];

                /// The kebab-case name (`vigil run --mutation NAME`).
                pub fn name(self) -> &'static str {
                    match self {
                        $(Mutation::$variant => $name,)*
                    }
                }

                /// What it breaks.
                fn target(self) -> Target {
                    match self {
                        $(Mutation::$variant => $target,)*
                    }
                }
            }
        };
    }

    /// Where a broken variant breaks vigil.
    enum Target {
        /// The engine, a main thread or a work thread.
        Engine(vigil_engine::Mutation),
        /// The protocols, or the round machinery under them.
        Protocols(&'static [vigil_protocols::Mutation]),
        /// The madsim driver itself (a main thread that blocks, randomness
        /// from outside the seed).
        Runtime,
        /// A check (one of the checker's own past bugs).
        Check,
        /// The exhaustive explorer's own machinery.
        Explorer,
    }

    use vigil_engine::Mutation as E;
    use vigil_protocols::Mutation as P;
    use Target::{Check, Engine, Explorer, Protocols, Runtime};

    mutations! {
        /// Main threads drop membership changes that report departures
        /// (`notified` must catch it).
        DeafToDepartures = "deaf-to-departures" => Runtime,
        /// Work threads never tell their protocol that members left, so
        /// rounds wait for them (`acks-complete`).
        IgnoreDepartures = "ignore-departures" => Engine(E::IgnoreDepartures),
        /// Engines deliver member messages without checking that the
        /// sender is still in the receiver's view (`no-ghost-delivery`).
        SkipGhostFilter = "skip-ghost-filter" => Engine(E::SkipGhostFilter),
        /// Main threads do 10 ms of work inline for every engine event
        /// (`main-thread-responsive`).
        BlockingMain = "blocking-main" => Runtime,
        /// Leaders stop probing after the first two seconds, so views
        /// never merge after a partition (`converged`).
        NoMerge = "no-merge" => Engine(E::NoMerge),
        /// Engines number views with a plain counter, so the two sides of
        /// a partition issue the same view id for different member lists
        /// (`views-agree`).
        PlainCounterViewIds = "plain-counter-view-ids" => Engine(E::PlainCounterViewIds),
        /// Engines keep on disk only the view ids they issued, so a
        /// restarted node's views can go back below the ones its old
        /// members saw (`epochs-grow`).
        PersistIssuedViewIdsOnly = "persist-issued-view-ids-only" => Engine(E::PersistIssuedViewIdsOnly),
        /// A leader that issued a primary view calls its views primary
        /// after its side lost the majority (`one-primary`).
        MinorityStaysPrimary = "minority-stays-primary" => Engine(E::MinorityStaysPrimary),
        /// Two-phase commit votes and decides on a side that is not
        /// primary (`atomic-commit`, judged by transaction number under a
        /// quorum).
        DecideWithoutQuorum = "decide-without-quorum" => Protocols(&[P::DecideWithoutQuorum]),
        /// A leader completing an install does not flush the ordered
        /// messages some survivors lack (`view-synchrony`).
        NoOrderedFlush = "no-ordered-flush" => Engine(E::NoOrderedFlush),
        /// Nodes forget what they delivered of a group view once they
        /// take the next, so a new leader cannot flush its tail to a node
        /// still short of it (`view-synchrony`).
        ForgetLeftTails = "forget-left-tails" => Engine(E::ForgetLeftTails),
        /// Links deliver a message again when a copy of its packet
        /// arrives (a `duplicate` fault's second copy).
        DuplicatesDelivered = "duplicates-delivered" => Engine(E::DuplicatesDelivered),
        /// A stopping engine says it is going before its jobs' leaves are
        /// through: the survivors read `node-down` for them (`notified`).
        StopBeforeJobsLeave = "stop-before-jobs-leave" => Engine(E::StopBeforeJobsLeave),
        /// Engines count the time their node was away (a clock that
        /// jumped ahead, a pause) as their peers' silence, and drop live
        /// members (`expect no-membership-change` of `clock.toml`).
        AbsenceAsSilence = "absence-as-silence" => Engine(E::AbsenceAsSilence),
        /// Main threads call a step hung once it takes three times as long
        /// as the last one did, so a slow node's jobs leave though nothing
        /// hangs (`expect no-membership-change` of `slow-node.toml`).
        AdaptiveWatchdog = "adaptive-watchdog" => Engine(E::AdaptiveWatchdog),
        /// Engines that boot from a blank disk count from zero again: a
        /// node that lost its disk reuses member ids and view ids of its
        /// earlier lives (`epochs-grow`, with `node-crash`'s `lose_disk`).
        BlankDiskTrusted = "blank-disk-trusted" => Engine(E::BlankDiskTrusted),
        /// Engines that boot from a blank disk issue their members views at
        /// once, from their clock's floor, without learning their peers'
        /// view ids first (`epochs-grow` of `lost-disk-skew.toml`).
        BlankBootUnheld = "blank-boot-unheld" => Engine(E::BlankBootUnheld),
        /// Engines that crash while a blank disk's floor is unsure boot
        /// from the disk that life wrote trusting it, and issue their
        /// members views below ids they saw before (`epochs-grow` of
        /// `lost-disk-hold-crash.toml`).
        BlankHoldForgotten = "blank-hold-forgotten" => Engine(E::BlankHoldForgotten),
        /// A main thread's watchdog counts the time its node was away
        /// against the running step, so a clock that jumps ahead reads
        /// as a hang (`expect no-membership-change` of `clock.toml`).
        WatchdogCountsAbsence = "watchdog-counts-absence" => Engine(E::WatchdogCountsAbsence),
        /// A main thread that does not hear its engine crash: its work
        /// threads keep waiting in their rounds and the job never
        /// registers again (`engine-lost`, with `engine-crash`).
        EngineLossUnseen = "engine-loss-unseen" => Engine(E::EngineLossUnseen),
        /// Leaders issue a new group view after the newest one a node
        /// reports without first catching up the nodes still in the view
        /// it follows (`view-synchrony`).
        NoCatchUpBeforeNewView = "no-catch-up-before-new-view" => Engine(E::NoCatchUpBeforeNewView),
        /// Leaders leave a node in a group view that another node saw
        /// followed by one of the same members, and issue their own after
        /// both: members that saw no change between them took different
        /// messages (`view-synchrony`).
        NoCatchUpOnUnchanged = "no-catch-up-on-unchanged" => Engine(E::NoCatchUpOnUnchanged),
        /// Leaders hand a node a group view although no node can bring
        /// it to where the view's issuer numbered the view it follows
        /// (`view-synchrony`).
        JoinShortOfPrevTail = "join-short-of-prev-tail" => Engine(E::JoinShortOfPrevTail),
        /// Nodes take group views only when stamped with their own node
        /// view, and drop ordered messages of a group view they do not
        /// hold yet (`view-synchrony`).
        StrictGroupViewStamp = "strict-group-view-stamp" => Engine(E::StrictGroupViewStamp),
        /// Nodes take a late group view from their leader even after
        /// another leader's install came between (`total-order`: a member
        /// takes its own messages twice).
        LateGroupViewFromAnyLead = "late-group-view-from-any-lead" => Engine(E::LateGroupViewFromAnyLead),
        /// Leaders keep a group view across an install and catch up nodes
        /// that went on numbering in the view it follows (`total-order`: a
        /// member takes its own messages twice).
        KeepForkedView = "keep-forked-view" => Engine(E::KeepForkedView),
        /// A leader that takes over a group view another leader issued
        /// numbers on in it, as its issuer may too (`total-order`: two
        /// members take different messages at one place of the view).
        TakenOverViewNumbered = "taken-over-view-numbered" => Engine(E::TakenOverViewNumbered),
        /// Nodes take an ordered message their leader sent before an
        /// install they took part in, after the install
        /// (`ordered-install-overtook.toml`, `view-synchrony`).
        OrderedAcrossAnInstall = "ordered-across-an-install" => Engine(E::OrderedAcrossAnInstall),
        /// A node forgets, at its next install, that it dropped ordered
        /// messages of the group view it is still in
        /// (`ordered-install-overtook.toml --swarm`, `view-synchrony`).
        DropForgottenAtNextInstall = "drop-forgotten-at-next-install" => Engine(E::DropForgottenAtNextInstall),
        /// A leader's flush brings nodes as far as any node took a group
        /// view, one whose members left included
        /// (`ordered-install-overtook.toml --swarm`, `view-synchrony`).
        FlushToAMemberlessNode = "flush-to-a-memberless-node" => Engine(E::FlushToAMemberlessNode),
        /// Members take their leader's merge probe for a heartbeat, and
        /// stay in a view the leader left without them (`notified`).
        ProbeAsHeartbeat = "probe-as-heartbeat" => Engine(E::ProbeAsHeartbeat),
        /// A priority task waits its turn like any other.
        PriorityIgnored = "priority-ignored" => Protocols(&[P::PriorityIgnored]),
        /// A member picks its next task when it finishes one, from what it
        /// holds then, instead of at the group's boundary.
        LocalBoundary = "local-boundary" => Protocols(&[P::LocalBoundary]),
        /// A member that ran a task on its side of a partition never
        /// answers the group's instance of it, and a joiner is sent no ACK
        /// again when it speaks (`tasks-joiner-ran-it.toml`).
        JoinerLeftWaiting = "joiner-left-waiting" => Protocols(&[P::JoinerLeftWaiting]),
        /// An exchange of task accounts opened in one view ends in the
        /// next, and members of one view choose from two accounts
        /// (`tasks-exchange-across-views.toml`).
        AdoptAcrossViews = "adopt-across-views" => Protocols(&[P::AdoptAcrossViews]),
        /// A member that abandons a task instance after it began it never
        /// answers the members still in it (`tasks-abandoned-instance.toml`).
        AbandonedSilent = "abandoned-silent" => Protocols(&[P::AbandonedSilent]),
        /// A member that finished the task an adopted account still runs
        /// waits for another's word that it is over (`task-order`; a unit
        /// test of `protocols/src/tasks.rs` keeps it).
        ReadyOnce = "ready-once" => Protocols(&[P::ReadyOnce]),
        /// A member waits for a member that was apart from it meanwhile
        /// without sending its ACK again when that member speaks
        /// (`acks-complete`, `tasks-apart-member.toml`).
        ApartUnpoked = "apart-unpoked" => Protocols(&[P::ApartUnpoked]),
        /// A member that finished a task instance answers the later rounds
        /// of members still in it without saying that it takes no further
        /// part, so they read as passing rounds before it reached them
        /// (`barrier-order`, `tasks-finished-answers.toml`).
        FinishedUnexcused = "finished-unexcused" => Protocols(&[P::FinishedUnexcused]),
        /// Leaders forget why members left, so every departure reads
        /// `node-down` (`notified`, which also checks reasons).
        ForgetReasons = "forget-reasons" => Engine(E::ForgetReasons),
        /// Work threads finish a round when every member of the view but
        /// one has ACKed it (`barrier-order`).
        EarlyRound = "early-round" => Engine(E::EarlyRound),
        /// The two-phase-commit coordinator decides with the votes that
        /// arrived, not waiting for the last one (`atomic-commit`); the
        /// group-state member applies its own update first
        /// (`state-agrees`).
        BrokenProtocol = "broken-protocol" => Protocols(&[P::DecideWithoutMissingVotes, P::OwnUpdateFirst]),
        /// Work threads add a little jitter from an unseeded generator to
        /// each local step (`--check-determinism`).
        UnseededRandom = "unseeded-random" => Runtime,
        /// A main thread tells its engine of its work thread's fault a
        /// second late, taking events all the while (`notified`).
        LateUnregister = "late-unregister" => Runtime,
        /// A main thread that sees a member leave stops taking events
        /// until its job is asked to leave (`main-thread-responsive`).
        MainBlocksUntilLeave = "main-blocks-until-leave" => Runtime,
        /// Work threads keep their first view for good (`round-views`).
        StaleView = "stale-view" => Engine(E::StaleView),
        /// A main thread unregisters a hang as a graceful leave
        /// (`notified`, which judges reasons by what the driver did).
        HangAsLeave = "hang-as-leave" => Engine(E::HangAsLeave),
        /// The work thread as it was before random-faults swarm seed 70
        /// (`views-in-order-across-queues.toml`).
        StepBeforeResponses = "step-before-responses" => Engine(E::StepBeforeResponses),
        /// Retransmissions count as heartbeats
        /// (`delay-loss-no-false-removal.toml`).
        RetransmitsAsHeartbeats = "retransmits-as-heartbeats" => Engine(E::RetransmitsAsHeartbeats),
        /// A gathering node answers an asker once (`gather-answer-lost.toml`).
        GatherAnsweredOnce = "gather-answered-once" => Engine(E::GatherAnsweredOnce),
        /// A gathering node asks once (`isolated-leader-panic.toml`).
        GatherSentOnce = "gather-sent-once" => Engine(E::GatherSentOnce),
        /// Links of departed peers are dropped, not parked
        /// (`leader-pause.toml`, `loss-burst.toml`).
        DropDepartedLinks = "drop-departed-links" => Engine(E::DropDepartedLinks),
        /// A newer incarnation does not end the old one
        /// (`crash-restart-during-install.toml`).
        IncarnationWaitsOut = "incarnation-waits-out" => Engine(E::IncarnationWaitsOut),
        /// An installing leader drops a state that overtakes its node's ack
        /// (`state-overtakes-install-ack.toml`).
        EarlyStateDropped = "early-state-dropped" => Engine(E::EarlyStateDropped),
        /// A node ending a gather installs its suspects too
        /// (`gather-suspect-below-candidate.toml`).
        SuspectsInView = "suspects-in-view" => Engine(E::SuspectsInView),
        /// Two-phase commit names a transaction by number and coordinator
        /// alone (`two-phase-commit-paused-coordinator.toml`).
        ProposalWithoutView = "proposal-without-view" => Protocols(&[P::ProposalWithoutView]),
        /// Members that rejoin catch up with the slowest member
        /// (`rejoin-together-catch-up.toml`).
        CatchUpWithSlowest = "catch-up-with-slowest" => Protocols(&[P::CatchUpWithSlowest]),
        /// A missing ACK is guessed skipped from a later one
        /// (`group-state-loss-burst.toml`).
        GuessSkippedAcks = "guess-skipped-acks" => Protocols(&[P::GuessSkippedAcks]),
        /// The checker's past bug: a partition ends the life of the members
        /// it hides, for everyone (`partition-then-crash.toml`).
        PartitionEndsLives = "partition-ends-lives" => Check,
        /// The checker's past bug: `barrier-order` follows rounds by job
        /// and node (`pause-overlapping-crash-restart.toml`).
        RoundsByJobAndNode = "rounds-by-job-and-node" => Check,
        /// The checker's past bug: `engine-lost` counts a step fault only
        /// under the member id the dead engine knew, not under the id the
        /// member had before its node renamed it (`engine-lost-renamed.toml`).
        FaultByExactId = "fault-by-exact-id" => Check,
        /// The explorer's fingerprint of a state leaves out what each node
        /// recorded, so two runs whose machines agree but whose members
        /// were told different things merge (`vigil exhaust`'s visited
        /// states must find what the search without them finds).
        FingerprintWithoutHistory = "fingerprint-without-history" => Explorer,
    }

    impl Mutation {
        /// The broken variant of the engine or the job threads this is.
        pub fn engine(self) -> Option<vigil_engine::Mutation> {
            match self.target() {
                Engine(m) => Some(m),
                Protocols(_) | Runtime | Check | Explorer => None,
            }
        }

        /// The broken variants of the protocols this is.
        pub fn protocols(self) -> &'static [vigil_protocols::Mutation] {
            match self.target() {
                Protocols(ms) => ms,
                Engine(_) | Runtime | Check | Explorer => &[],
            }
        }
    }

    impl std::str::FromStr for Mutation {
        type Err = String;
        fn from_str(s: &str) -> Result<Mutation, String> {
            Mutation::ALL
                .iter()
                .copied()
                .find(|m| m.name() == s)
                .ok_or_else(|| {
                    let names: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
                    format!(
                        "unknown mutation `{s}`, expected one of: {}",
                        names.join(", ")
                    )
                })
        }
    }
}
