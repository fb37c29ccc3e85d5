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
        #[cfg(any(test, feature = "mutations"))]
        let on = $sm.mutation == Some($crate::Mutation::$name);
        #[cfg(not(any(test, feature = "mutations")))]
        let on = $crate::not_built(stringify!($name));
        on
    }};
}

/// What [`mutated!`] reads outside test builds: `false`, named after the
/// variant, so that two reads side by side are not one expression twice.
#[cfg(not(any(test, feature = "mutations")))]
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
#[cfg(any(test, feature = "mutations"))]
mod mutation;
pub use ids::{Dur, Incarnation, LeaveReason, MemberId, Name, NodeId, Time, ViewId};
#[cfg(any(test, feature = "mutations"))]
pub use mutation::Mutation;

#[cfg(test)]
mod ordered_tests;
#[cfg(test)]
mod testnet;
#[cfg(test)]
mod tests;
