//! vigil's cluster engine and job model, as deterministic state machines.
//!
//! Nothing in this crate touches a socket, a clock, a task or a random
//! number: time arrives as an argument, packets and local requests arrive as
//! [`Input`]s, and everything the engine wants done leaves as an [`Output`].
//! The simulator in `vigil-sim` drives it on madsim; a real network driver
//! could drive the same code.
//!
//! - [`ids`]: identities (`NodeId`, `MemberId`, `ViewId`) and time.
//! - [`link`]: reliable FIFO links over a lossy, reordering network.
//! - [`engine`]: node liveness, node views, group views, member messages.
//! - [`job`]: a job's main thread, a router between the engine and the
//!   job's work threads, and its work threads, which run ACK-round
//!   protocols through the [`job::Rounds`] trait.

/// Whether state machine `$sm` runs the broken variant `$name` (see
/// [`Mutation`]): always false outside test builds.
macro_rules! mutated {
    ($sm:expr, $name:ident) => {{
        #[cfg(any(feature = "unit-tests", feature = "mutations"))]
        let on = $sm.mutation == Some($crate::Mutation::$name);
        #[cfg(not(any(feature = "unit-tests", feature = "mutations")))]
        let on = $crate::not_built(stringify!($name));
        on
    }};
}

/// What [`mutated!`] reads outside test builds: `false`, named after the
/// variant, so that two reads side by side are not one expression twice.
#[cfg(not(any(feature = "unit-tests", feature = "mutations")))]
#[inline(always)]
const fn not_built(_variant: &str) -> bool {
    false
}

pub mod engine;
pub mod ids;
pub mod job;
pub mod link;
pub mod probe;

pub use engine::{
    Body, Config, Dest, Durable, Engine, EngineStats, Event, GroupView, Input, LocalKey,
    MembershipChange, NodeView, Output, Packet, Quorum,
};
#[cfg(any(feature = "unit-tests", feature = "mutations"))]
mod mutation;
pub use ids::{Dur, Incarnation, LeaveReason, MemberId, Name, NodeId, Time, ViewId};
#[cfg(any(feature = "unit-tests", feature = "mutations"))]
pub use mutation::Mutation;

// The unit tests live beside the private items they test and compile into
// the library with the `unit-tests` feature (a test build of this crate
// alone would compile it a second time, as vigil-sim's did); each test
// module ends with a `unit_tests![...]` list of its functions, and the
// suite runs them (`cargo test -p vigil-tests --test suite units::engine`).
#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
mod ordered_tests;
#[cfg(feature = "unit-tests")]
mod testnet;
#[cfg(feature = "unit-tests")]
#[deny(dead_code)]
mod tests;

/// Lists a test module's functions as `ALL`, for [`unit_tests`].
#[cfg(feature = "unit-tests")]
#[doc(hidden)]
#[macro_export]
macro_rules! unit_tests {
    ($($test:ident),* $(,)?) => {
        pub(crate) const ALL: &[(&str, fn())] = &[$((stringify!($test), $test)),*];
    };
}

/// A module's unit tests: each function's name and the function.
#[cfg(feature = "unit-tests")]
#[doc(hidden)]
pub type UnitTests = &'static [(&'static str, fn())];

/// Every test module's functions (see `unit_tests!`), by module.
#[cfg(feature = "unit-tests")]
#[doc(hidden)]
pub fn unit_tests() -> Vec<(&'static str, UnitTests)> {
    vec![
        ("engine::tests", tests::ALL),
        ("engine::ordered_tests", ordered_tests::ALL),
        ("engine::ids", ids::tests::ALL),
        ("engine::link", link::tests::ALL),
        ("engine::engine::heard", engine::heard_tests()),
        ("engine::job::tests", job::tests::ALL),
        ("engine::job::main_thread", job::main_thread_tests()),
    ]
}
