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
    pub const ALL: [Mutation; 0] = [];

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
            false
        };
        on
    }};
}
pub(crate) use mutated;

#[cfg(feature = "mutations")]
mod variants {
    /// A deliberately broken variant of vigil.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Mutation {
        /// Main threads drop membership changes that report departures
        /// (`notified` must catch it).
        DeafToDepartures,
        /// Work threads never tell their protocol that members left, so
        /// rounds wait for them (`acks-complete`).
        IgnoreDepartures,
        /// Engines deliver member messages without checking that the
        /// sender is still in the receiver's view, so a message
        /// retransmitted after its sender left reaches a member that saw it
        /// leave (`no-ghost-delivery`).
        SkipGhostFilter,
        /// Main threads do 10 ms of work inline for every engine event
        /// (`main-thread-responsive`).
        BlockingMain,
        /// Leaders stop probing after the first two seconds, so views
        /// never merge after a partition (`converged`).
        NoMerge,
        /// Leaders forget why members left, so every departure reads
        /// `node-down` (`notified`, which also checks reasons).
        ForgetReasons,
        /// Engines number views with a plain counter, so the two sides of
        /// a partition issue the same view id for different member lists
        /// (`views-agree`).
        PlainCounterViewIds,
        /// Work threads finish a round when every member of the view but
        /// one has ACKed it (`barrier-order`).
        EarlyRound,
        /// Protocols run their deliberately broken variant: the
        /// two-phase-commit coordinator decides with the votes that
        /// arrived, not waiting for the last one (`atomic-commit`);
        /// group-state members apply their own update first
        /// (`state-agrees`).
        BrokenProtocol,
        /// Work threads add a little jitter from an unseeded generator to
        /// each local step, so a seed no longer fixes the run
        /// (`--check-determinism`).
        UnseededRandom,
        /// A main thread tells its engine of its work thread's fault a
        /// second late, taking events all the while (`notified`, whose
        /// bound for a departure the engine learns from its own job is
        /// network time).
        LateUnregister,
        /// A main thread that sees a member leave stops taking events, as
        /// if it waited on a local resource, until its job is asked to
        /// leave: what it left unread is dropped with the job
        /// (`main-thread-responsive`).
        MainBlocksUntilLeave,
        /// Work threads keep their first view for good: a member alone in
        /// its boot view completes every round by itself (`round-views`).
        StaleView,
        /// A main thread unregisters a work thread's hang as a graceful
        /// leave (`notified`, which judges reasons by what the driver did).
        HangAsLeave,
        /// The checker's own past bug: a partition ends the life of the
        /// members it hides, for everyone
        /// (`partition-then-crash.toml`).
        PartitionEndsLives,
        /// The checker's own past bug: `barrier-order` follows rounds by
        /// job and node, not by lineage
        /// (`pause-overlapping-crash-restart.toml`).
        RoundsByJobAndNode,
    }

    impl Mutation {
        pub const ALL: [Mutation; 16] = [
            Mutation::DeafToDepartures,
            Mutation::IgnoreDepartures,
            Mutation::SkipGhostFilter,
            Mutation::BlockingMain,
            Mutation::NoMerge,
            Mutation::PlainCounterViewIds,
            Mutation::ForgetReasons,
            Mutation::EarlyRound,
            Mutation::BrokenProtocol,
            Mutation::UnseededRandom,
            Mutation::LateUnregister,
            Mutation::MainBlocksUntilLeave,
            Mutation::StaleView,
            Mutation::HangAsLeave,
            Mutation::PartitionEndsLives,
            Mutation::RoundsByJobAndNode,
        ];

        /// The kebab-case name (`vigil run --mutation NAME`).
        pub fn name(self) -> &'static str {
            match self {
                Mutation::DeafToDepartures => "deaf-to-departures",
                Mutation::IgnoreDepartures => "ignore-departures",
                Mutation::SkipGhostFilter => "skip-ghost-filter",
                Mutation::BlockingMain => "blocking-main",
                Mutation::NoMerge => "no-merge",
                Mutation::PlainCounterViewIds => "plain-counter-view-ids",
                Mutation::ForgetReasons => "forget-reasons",
                Mutation::EarlyRound => "early-round",
                Mutation::BrokenProtocol => "broken-protocol",
                Mutation::UnseededRandom => "unseeded-random",
                Mutation::LateUnregister => "late-unregister",
                Mutation::MainBlocksUntilLeave => "main-blocks-until-leave",
                Mutation::StaleView => "stale-view",
                Mutation::HangAsLeave => "hang-as-leave",
                Mutation::PartitionEndsLives => "partition-ends-lives",
                Mutation::RoundsByJobAndNode => "rounds-by-job-and-node",
            }
        }

        /// The broken variant of the engine or the job threads this is.
        pub fn engine(self) -> Option<vigil_engine::Mutation> {
            use vigil_engine::Mutation as E;
            Some(match self {
                Mutation::SkipGhostFilter => E::SkipGhostFilter,
                Mutation::NoMerge => E::NoMerge,
                Mutation::PlainCounterViewIds => E::PlainCounterViewIds,
                Mutation::ForgetReasons => E::ForgetReasons,
                Mutation::EarlyRound => E::EarlyRound,
                Mutation::IgnoreDepartures => E::IgnoreDepartures,
                Mutation::StaleView => E::StaleView,
                Mutation::HangAsLeave => E::HangAsLeave,
                Mutation::DeafToDepartures
                | Mutation::BlockingMain
                | Mutation::BrokenProtocol
                | Mutation::UnseededRandom
                | Mutation::LateUnregister
                | Mutation::MainBlocksUntilLeave
                | Mutation::PartitionEndsLives
                | Mutation::RoundsByJobAndNode => return None,
            })
        }

        /// The broken variants of the protocols this is.
        pub fn protocols(self) -> &'static [vigil_protocols::Mutation] {
            use vigil_protocols::Mutation as P;
            match self {
                Mutation::BrokenProtocol => &[P::DecideWithoutMissingVotes, P::OwnUpdateFirst],
                _ => &[],
            }
        }
    }

    impl std::str::FromStr for Mutation {
        type Err = String;
        fn from_str(s: &str) -> Result<Mutation, String> {
            Mutation::ALL
                .into_iter()
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
