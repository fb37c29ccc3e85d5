//! Identities and time: the newtypes every other module speaks in.
//!
//! Invariant: a `MemberId` names one registration of one job on one node
//! incarnation. A job that faults and registers again, or whose node restarts
//! or is excluded from the cluster, comes back under a new `MemberId`, so
//! anything addressed to its old life can be told apart and dropped.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node of the cluster. Nodes are numbered from 0 and written `n0`, `n1`, ...
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u16);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One life of a node's engine: it grows every time the engine boots, and
/// again when the engine learns that the cluster excluded it.
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Incarnation(pub u64);

/// A name (a job or a group), interned: every `Name` of one text shares
/// one `&'static str`, so that a name is copied, compared for equality
/// and dropped without touching its text or a reference count. The
/// message path copies member ids (which hold a job's name) at every hop:
/// with a shared `Arc<str>` each copy and drop was an atomic operation.
/// Ordered and hashed by its text, so every order that reaches an output
/// is the text's.
///
/// The texts live for the rest of the process: one copy of each distinct
/// name it makes, a few bytes each. A process that reads input from the
/// network (a real node) calls [`Name::refuse_unknown_input`] once it
/// knows its names, so that a datagram cannot grow the table.
#[derive(Clone, Eq)]
pub struct Name(&'static str);

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state); // by its text, as it compares
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        // One text, one interned copy.
        std::ptr::eq(self.0, other.0)
    }
}
impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        if std::ptr::eq(self.0, other.0) {
            std::cmp::Ordering::Equal
        } else {
            self.0.cmp(other.0)
        }
    }
}
impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Every name's text, once.
static TEXTS: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Set by [`Name::refuse_unknown_input`].
static ONLY_KNOWN_INPUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Name {
    /// The name with text `s`: the one interned copy of it.
    pub fn new(s: &str) -> Name {
        // A poisoned lock still holds a consistent set: inserting is the
        // only change, and it is done or not.
        let mut texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&text) = texts.get(s) {
            return Name(text);
        }
        let text: &'static str = Box::leak(Box::from(s));
        texts.insert(text);
        Name(text)
    }

    /// The name with text `s`, if this process has made it already.
    pub fn known(s: &str) -> Option<Name> {
        let texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
        texts.get(s).map(|&text| Name(text))
    }

    /// From now on, a name read through serde (a packet off the wire, a
    /// file) must be one this process has made: an unknown one fails to
    /// decode instead of being kept for good. For a process whose input
    /// comes from the network, once it has made every name it uses (a
    /// real node: its cluster file's jobs and groups); for the rest of the
    /// process's life.
    pub fn refuse_unknown_input() {
        ONLY_KNOWN_INPUT.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}
impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}
impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Name, E> {
                if ONLY_KNOWN_INPUT.load(std::sync::atomic::Ordering::Relaxed) {
                    Name::known(s).ok_or_else(|| E::custom(format!("unknown name {s:?}")))
                } else {
                    Ok(Name::new(s))
                }
            }
        }
        deserializer.deserialize_str(Text)
    }
}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A member of a group: one registration of a job on a node.
///
/// Ordered by job, then node, then incarnation, so member lists read
/// `db@n0, db@n1, ...`. Displayed as `job@node`; `{:?}` adds the
/// incarnation (`db@n2#3.1`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberId {
    pub job: Name,
    pub node: NodeId,
    /// The node incarnation the registration was made in.
    pub node_incarnation: Incarnation,
    /// Counts registrations on that node incarnation.
    pub registration: u32,
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.job, self.node)
    }
}
impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}#{}.{}",
            self.job, self.node, self.node_incarnation.0, self.registration
        )
    }
}

/// Identifies a view, of the node membership or of one group.
///
/// View ids are unique across the whole cluster and every partition of it:
/// a leader only issues ids that are congruent to its own node number modulo
/// the cluster size, and each leader's ids strictly grow (the highest one is
/// kept durable across restarts). So two leaders never issue the same id,
/// and a plain integer still reads naturally.
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct ViewId(pub u64);

impl fmt::Display for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Simulated or real time, in nanoseconds since an arbitrary origin.
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Time(pub u64);

/// A span of time in nanoseconds.
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Dur(pub u64);

impl Dur {
    pub const fn from_millis(ms: u64) -> Dur {
        Dur(ms * 1_000_000)
    }
    pub fn from_std(d: std::time::Duration) -> Dur {
        Dur(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Time {
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn saturating_sub(self, earlier: Time) -> Dur {
        Dur(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Dur> for Time {
    type Output = Time;
    fn add(self, d: Dur) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}

impl std::ops::Mul<u64> for Dur {
    type Output = Dur;
    fn mul(self, k: u64) -> Dur {
        Dur(self.0.saturating_mul(k))
    }
}

impl std::ops::Add for Dur {
    type Output = Dur;
    fn add(self, d: Dur) -> Dur {
        Dur(self.0.saturating_add(d.0))
    }
}

/// Why a member left a group, as carried by a membership change.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum LeaveReason {
    /// The job's main thread unregistered because a work thread faulted.
    Fault,
    /// The job unregistered gracefully.
    Leave,
    /// The job died without unregistering; its own node's engine noticed.
    JobLost,
    /// The member's node stopped answering: crash, pause or partition.
    NodeDown,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Fault => "fault",
            LeaveReason::Leave => "leave",
            LeaveReason::JobLost => "job-lost",
            LeaveReason::NodeDown => "node-down",
        }
    }
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Name;
    use std::cmp::Ordering;

    /// Names compare by their text; one text is one interned copy.
    #[test]
    fn names_compare_by_text_and_share_one_copy() {
        let a = Name::new("db");
        let own = Name::new(&String::from("db"));
        assert!(std::ptr::eq(a.as_str(), own.as_str()));
        assert_eq!((a == own, a.cmp(&own)), (true, Ordering::Equal));
        assert!(Name::new("a") < Name::new("b"));
        assert!(Name::new("b") > Name::new("a"));
        assert!(Name::new("ab") < Name::new("b"));
        assert_ne!(Name::new("a"), Name::new("b"));
        let back: Name = serde_json::from_str("\"db\"").unwrap();
        assert!(std::ptr::eq(back.as_str(), a.as_str()));
    }
}
