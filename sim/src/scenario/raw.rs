//! The scenario file as written: serde shapes with every key optional and
//! spanned, so that [`validate`](super::validate) can check semantics and
//! point at the offending text. Unknown keys are rejected here.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A spanned optional value, the shape of nearly every key.
pub(super) type Opt<T> = Option<Spanned<T>>;
/// A spanned list of spanned items.
pub(super) type List<T> = Spanned<Vec<Spanned<T>>>;

/// Declares a string newtype whose type errors say what string is expected
/// (e.g. "invalid type: integer `20`, expected a duration string such as ...").
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $expecting:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub(super) struct $name(pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct TextVisitor;
                impl Visitor<'_> for TextVisitor {
                    type Value = String;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
                        Ok(v.to_owned())
                    }
                }
                deserializer.deserialize_str(TextVisitor).map($name)
            }
        }
    };
}

text_value!(
    /// A duration such as `"250ms"`, parsed later by `parse_duration`.
    DurationText,
    "a duration string such as \"250ms\" or \"1.5s\""
);
text_value!(
    /// A node name such as `"n2"`.
    NodeText,
    "a node name such as \"n0\""
);
text_value!(
    /// A member name such as `"db@n2"`.
    MemberText,
    "a member name such as \"db@n2\""
);

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub name: Opt<String>,
    pub description: Opt<String>,
    pub seed: Opt<i64>,
    pub duration: Opt<DurationText>,
    pub cluster: Opt<RawCluster>,
    #[serde(default)]
    pub job: Vec<Spanned<RawJob>>,
    #[serde(default)]
    pub fault: Vec<Spanned<RawTable>>,
    #[serde(default)]
    pub task: Vec<Spanned<RawTable>>,
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
    /// Alias of `expect`; both may be used, file order is kept.
    #[serde(default)]
    pub expectation: Vec<Spanned<RawExpect>>,
    pub random: Opt<RawRandom>,
}

/// `[cluster]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub nodes: Opt<i64>,
    pub heartbeat_interval: Opt<DurationText>,
    pub failure_timeout: Opt<DurationText>,
    pub latency: Option<List<DurationText>>,
    pub loss: Opt<f64>,
    /// Each node's UDP address, for `vigil node` (the simulator ignores it).
    pub addresses: Option<List<String>>,
    /// `"majority"`: keep a primary component.
    pub quorum: Opt<String>,
    /// Votes per node (with `quorum`).
    pub votes: Option<List<i64>>,
    /// Votequorum's `wait_for_all` (with `quorum`).
    pub wait_for_all: Opt<bool>,
}

/// One `[[job]]`. Keys other than these are the protocol's options, read
/// with their spans by [`job_extras`] and validated against the protocol.
#[derive(Debug, Deserialize)]
pub(super) struct RawJob {
    pub name: Opt<String>,
    pub group: Opt<String>,
    pub nodes: Option<List<NodeText>>,
    pub work_threads: Opt<i64>,
    pub work_deadline: Opt<DurationText>,
    pub protocol: Opt<String>,
    pub step_time: Opt<DurationText>,
    pub ordered_every: Opt<DurationText>,
}

/// One `[[fault]]` or `[random.KIND]` table: its keys in any order, each
/// value spanned; which keys a kind takes is checked in validation.
pub(super) type RawTable = BTreeMap<Spanned<String>, Spanned<Val>>;

/// `[random]`: `after`, `before`, and a table per kind.
pub(super) type RawRandom = RawTable;

/// A table's keys and values in file order.
pub(super) fn entries(table: &RawTable) -> Vec<super::table::Entry> {
    let mut all: Vec<super::table::Entry> =
        table.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    all.sort_by_key(|(k, _)| k.span().start);
    all
}

/// A TOML value read so that every part keeps its span: array items and
/// table keys too (a plain `toml::Value` keeps none), so that an error can
/// point at the one item that is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A date or time, as written.
    Datetime(String),
    Array(Vec<Spanned<Val>>),
    /// A table's keys, in file order.
    Table(Vec<super::table::Entry>),
}

impl Val {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(super) fn as_integer(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValVisitor;
        impl<'de> Visitor<'de> for ValVisitor {
            type Value = Val;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a TOML value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Val, E> {
                Ok(Val::Str(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Val, E> {
                Ok(Val::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Val, E> {
                Ok(i64::try_from(v).map_or(Val::Float(v as f64), Val::Int))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Val, E> {
                Ok(Val::Float(v))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Val, E> {
                Ok(Val::Bool(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Val>>()? {
                    items.push(item);
                }
                Ok(Val::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    // A date is a map of one special key to its text.
                    if key.get_ref() == "$__toml_private_datetime" {
                        let text: String = map.next_value()?;
                        return Ok(Val::Datetime(text));
                    }
                    entries.push((key, map.next_value::<Spanned<Val>>()?));
                }
                entries.sort_by_key(|(k, _): &super::table::Entry| k.span().start);
                Ok(Val::Table(entries))
            }
        }
        deserializer.deserialize_any(ValVisitor)
    }
}

/// One `[[expect]]` (or `[[expectation]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub kind: Opt<String>,
    pub member: Opt<MemberText>,
    pub reason: Opt<String>,
    pub within: Opt<DurationText>,
    pub group: Opt<String>,
    pub members: Option<List<MemberText>>,
    pub protocol: Opt<String>,
    pub instance: Opt<i64>,
    pub outcome: Opt<String>,
    pub primary: Opt<bool>,
    pub occurrence: Opt<i64>,
    pub after: Opt<DurationText>,
}

impl RawExpect {
    /// The kind-specific keys present in this table with their value spans,
    /// in file order.
    pub fn present_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut keys = Vec::new();
        let mut add = |name: &'static str, span: Option<Range<usize>>| {
            if let Some(span) = span {
                keys.push((name, span));
            }
        };
        add("member", self.member.as_ref().map(Spanned::span));
        add("reason", self.reason.as_ref().map(Spanned::span));
        add("within", self.within.as_ref().map(Spanned::span));
        add("group", self.group.as_ref().map(Spanned::span));
        add("members", self.members.as_ref().map(Spanned::span));
        add("protocol", self.protocol.as_ref().map(Spanned::span));
        add("instance", self.instance.as_ref().map(Spanned::span));
        add("outcome", self.outcome.as_ref().map(Spanned::span));
        add("primary", self.primary.as_ref().map(Spanned::span));
        add("occurrence", self.occurrence.as_ref().map(Spanned::span));
        add("after", self.after.as_ref().map(Spanned::span));
        keys.sort_by_key(|(_, span)| span.start);
        keys
    }
}

/// The keys (with their spans) of each entry of the arrays of tables, read
/// in a second pass only when an error must point at a key rather than at
/// its value.
#[derive(Debug, Default, Deserialize)]
struct RawKeys {
    #[serde(default)]
    expect: Vec<BTreeMap<Spanned<String>, IgnoredAny>>,
    #[serde(default)]
    expectation: Vec<BTreeMap<Spanned<String>, IgnoredAny>>,
}

pub use crate::protocols::JOB_KEYS;

/// A key of a `[[job]]` table that is not one of [`JOB_KEYS`]: a protocol
/// option, with the spans of its key and its value.
#[derive(Debug, Clone)]
pub(super) struct Extra {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: toml::Value,
    pub value_span: Range<usize>,
}

#[derive(Debug, Default, Deserialize)]
struct RawJobKeys {
    #[serde(default)]
    job: Vec<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

/// The protocol options of every `[[job]]` table, in file order; an
/// error for a value TOML reads but a protocol option cannot hold (an
/// integer past i64), which must not drop every job's options silently.
pub(super) fn job_extras(source: &str) -> Result<Vec<Vec<Extra>>, toml::de::Error> {
    let keys = toml::from_str::<RawJobKeys>(source)?;
    Ok(keys
        .job
        .into_iter()
        .map(|table| {
            let mut extras: Vec<Extra> = table
                .into_iter()
                .filter(|(k, _)| !JOB_KEYS.contains(&k.get_ref().as_str()))
                .map(|(k, v)| Extra {
                    key: k.get_ref().clone(),
                    key_span: k.span(),
                    value_span: v.span(),
                    value: v.into_inner(),
                })
                .collect();
            extras.sort_by_key(|e| e.key_span.start);
            extras
        })
        .collect())
}

/// The span of key `key` in entry `index` of the array of tables `array`
/// (`"fault"`, `"expect"` or `"expectation"`), if it can be found.
pub(super) fn key_span(source: &str, array: &str, index: usize, key: &str) -> Option<Range<usize>> {
    let keys: RawKeys = toml::from_str(source).ok()?;
    let tables = match array {
        "expect" => &keys.expect,
        "expectation" => &keys.expectation,
        _ => return None,
    };
    tables
        .get(index)?
        .keys()
        .find(|k| k.get_ref() == key)
        .map(Spanned::span)
}
