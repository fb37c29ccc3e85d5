//! What the tasks of a run send each other: the engine task's inbox, a
//! main thread's inbox, and the controller's handle on a running job.

use super::chan::Sender as UnboundedSender;
use std::sync::{Arc, Mutex};
use vigil_engine::job::{FaultKind, JobMsg, MainInput};
use vigil_engine::{Event, Input, LocalKey, MemberId, NodeId, Packet, Time};

pub type EnginePacket = Packet<JobMsg>;

/// What reaches an engine task.
pub enum EngineIn {
    Packet {
        from: NodeId,
        packet: EnginePacket,
    },
    /// A job registers; its main thread's inbox comes along.
    Register {
        input: Input<JobMsg>,
        inbox: UnboundedSender<MainMsg>,
        pending: Pending,
    },
    Local(Input<JobMsg>),
    /// The node's clock was set: the engine's deadline falls anew.
    Clock,
}

/// What the main thread takes from its inbox.
pub enum MainMsg {
    Engine {
        event: Event<JobMsg>,
        queued_at: Time,
    },
    Signal(MainInput),
}

/// A fault the controller has armed on a work thread, with its number in
/// the scenario; it strikes at the thread's next local step.
pub type FaultFlag = Arc<Mutex<Option<(FaultKind, usize)>>>;

/// When each engine event waiting in a main thread's inbox was queued,
/// oldest first: the engine task pushes, the main thread pops, and what is
/// left when the job ends was never read.
pub type Pending = Arc<Mutex<std::collections::VecDeque<Time>>>;

/// The controller's handle on a running job.
pub struct JobHandle {
    pub key: LocalKey,
    pub inbox: UnboundedSender<MainMsg>,
    pub main: madsim::task::AbortHandle,
    pub faults: Vec<FaultFlag>,
    pub member: Arc<Mutex<Option<MemberId>>>,
    pub pending: Pending,
}
