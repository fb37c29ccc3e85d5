//! The JSON Schema of scenario files (`vigil schema`), for editors' TOML
//! support: completion, hover docs, and red underlines for unknown keys,
//! wrong types and missing required keys.
//!
//! It is written from what the parser itself reads, so the two cannot
//! drift apart:
//! - the keys of the file, `[cluster]`, `[[job]]` and `[[expect]]` are the
//!   fields serde's derive gives the raw types ([`fields_of`]); a field
//!   without a line in [`FIELDS`] fails the schema's tests, and a line for
//!   a field the type lacks too;
//! - each fault kind, `[random.KIND]` and their keys come from the kinds'
//!   own [`Keys`] (their shapes are checked against the readers in debug
//!   builds, `Table::declared`);
//! - expectation kinds from the validator's own list, protocol options
//!   from the [`Registry`] (with their ranges, defaults and docs).
//!
//! What the schema cannot say (a node beyond `nodes`, a job that does not
//! run on that node, `at` past the duration) the parser still reports,
//! with file, line and column.
//!
//! Draft-07, which editors' TOML support (Taplo, "Even Better TOML")
//! reads.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::{json, Map, Value};

use super::faults::{FaultKind, RandomFault};
use super::random::SECTION_KEYS as RANDOM_SECTION_KEYS;
use super::raw::{RawCluster, RawExpect, RawJob, RawScenario};
use super::table::{Key, Keys, Shape, RANDOM_RATE_KEYS};
use super::validate::EXPECT_KEYS;
use super::Reason;
use crate::protocols::{OptionKind, Registry, DEFAULT_PROTOCOL, TASKS_PROTOCOL, TASK_KEYS};

/// Where the schema is published in the repository.
pub const SCHEMA_PATH: &str = "schema/scenario.schema.json";

/// The field names serde's derive reads for `T` (a struct with named
/// fields): asked of the type itself, not written down twice.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Stop {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// One field of the raw types: its shape (`None`: a section the schema
/// builds on its own) and what it means.
pub struct Field {
    pub of: &'static str,
    pub name: &'static str,
    pub shape: Option<Shape>,
    pub doc: &'static str,
}

const fn field(of: &'static str, name: &'static str, shape: Shape, doc: &'static str) -> Field {
    Field {
        of,
        name,
        shape: Some(shape),
        doc,
    }
}

const fn section(name: &'static str, doc: &'static str) -> Field {
    Field {
        of: "scenario",
        name,
        shape: None,
        doc,
    }
}

/// The doc and shape of every field of [`RawScenario`] ("scenario"),
/// [`RawCluster`] ("cluster"), [`RawJob`] ("job") and [`RawExpect`]
/// ("expect").
pub const FIELDS: &[Field] = &[
    field("scenario", "name", Shape::Title, "What the scenario shows, in a line. Required."),
    field("scenario", "description", Shape::Text, "More about it."),
    field(
        "scenario",
        "seed",
        Shape::Int { min: 0, max: i64::MAX },
        "The default seed; `--seed` overrides it.",
    ),
    field("scenario", "duration", Shape::Duration, "Simulated time to run. Required."),
    section("cluster", "The cluster: its nodes, timers, network and quorum. Required."),
    section("job", "A job: its members, one per node it runs on, in one group. One or more. Required."),
    section("fault", "A fault struck at `at`."),
    section("task", "A task a member submits to its group (a job with `protocol = \"tasks\"`)."),
    section("expect", "What a run must observe."),
    section("expectation", "Same as [[expect]]; both may be used, file order is kept."),
    section("random", "Faults drawn per seed: when (`after`, `before`) and a table per kind."),
    field(
        "cluster",
        "nodes",
        Shape::Int {
            min: 1,
            max: super::Cluster::MAX_NODES as i64,
        },
        "How many nodes: they are named n0, n1, ... Required.",
    ),
    field("cluster", "heartbeat_interval", Shape::Duration, "How often nodes send heartbeats; default 100ms."),
    field(
        "cluster",
        "failure_timeout",
        Shape::Duration,
        "Silence after which a node counts as failed; default 1s, above heartbeat_interval.",
    ),
    field(
        "cluster",
        "latency",
        Shape::DurationPair,
        "One-way packet latency, [min, max]; default [\"1ms\", \"10ms\"].",
    ),
    field("cluster", "loss", Shape::RateBelowOne, "Packet loss probability, below 1; default 0."),
    field(
        "cluster",
        "addresses",
        Shape::Texts,
        "Each node's UDP address (host:port), for `vigil node` on a real network; the simulator ignores it.",
    ),
    field(
        "cluster",
        "quorum",
        Shape::Word(&["majority"]),
        "\"majority\": keep a primary component (Corosync's votequorum); default off.",
    ),
    field(
        "cluster",
        "votes",
        Shape::Ints {
            min: 0,
            max: super::validate::VOTES_MAX,
        },
        "With quorum: each node's votes, one per node; default 1 each.",
    ),
    field(
        "cluster",
        "wait_for_all",
        Shape::Bool,
        "With quorum: no view is primary before every node was seen once (votequorum's wait_for_all).",
    ),
    field("job", "name", Shape::Ident, "The job's name: its members are NAME@n0, NAME@n1, ... Required."),
    field("job", "group", Shape::Ident, "The group its members register in. Required."),
    field("job", "nodes", Shape::Nodes, "The nodes it runs on; default: every node."),
    field(
        "job",
        "work_threads",
        Shape::Int { min: 1, max: 64 },
        "Work threads per member; default 1; jobs of one group must agree.",
    ),
    field(
        "job",
        "work_deadline",
        Shape::Duration,
        "The longest local step before the main thread's watchdog counts it as a hang; default 1s.",
    ),
    field("job", "protocol", Shape::Protocol, "The protocol its work threads run; default barrier."),
    field("job", "step_time", Shape::Duration, "How long one local step takes; default 100ms."),
    field(
        "job",
        "ordered_every",
        Shape::Duration,
        "Each member sends its group an ordered message this often; default never.",
    ),
    field("expect", "kind", Shape::Text, "The kind of expectation."),
    field("expect", "member", Shape::Member, "A member, written JOB@nK."),
    field("expect", "reason", Shape::Word(Reason::NAMES), "Why it left."),
    field("expect", "within", Shape::Duration, "How soon after its cause it must hold."),
    field("expect", "group", Shape::Ident, "The group; default: the member's job's group."),
    field("expect", "members", Shape::Members, "Members, each written JOB@nK."),
    field("expect", "protocol", Shape::Protocol, "The protocol; default: the member's job's."),
    field(
        "expect",
        "instance",
        Shape::Int { min: 0, max: i64::MAX },
        "The protocol instance (e.g. the transaction number).",
    ),
    field("expect", "outcome", Shape::Text, "The outcome the protocol decided."),
    field("expect", "primary", Shape::Bool, "Whether the view is primary (with quorum)."),
    field(
        "expect",
        "occurrence",
        Shape::Int { min: 1, max: i64::MAX },
        "Which occurrence it judges: 1 (the first, default), 2, ...",
    ),
    field("expect", "after", Shape::Duration, "Not before this time; default the start."),
];

/// What every `[[fault]]` table takes besides its kind's keys.
const FAULT_AT: Key = Key::new(
    "at",
    Shape::Duration,
    "Simulated time since the start. Required.",
);

/// The fields of the raw type `of`, in declaration order, each with its
/// line of [`FIELDS`]. Panics if one has none: the schema's tests run this.
pub fn documented(of: &str) -> Vec<&'static Field> {
    let fields = match of {
        "scenario" => fields_of::<RawScenario>(),
        "cluster" => fields_of::<RawCluster>(),
        "job" => fields_of::<RawJob>(),
        "expect" => fields_of::<RawExpect>(),
        _ => panic!("no raw type `{of}`"),
    };
    fields
        .iter()
        .map(|name| {
            FIELDS
                .iter()
                .find(|f| f.of == of && f.name == *name)
                .unwrap_or_else(|| panic!("field `{name}` of {of} has no line in schema::FIELDS"))
        })
        .collect()
}

fn duration() -> Value {
    json!({ "$ref": "#/definitions/duration" })
}

fn node() -> Value {
    json!({ "$ref": "#/definitions/node" })
}

fn member() -> Value {
    json!({ "$ref": "#/definitions/member" })
}

fn pair(item: Value) -> Value {
    json!({ "type": "array", "items": item, "minItems": 2, "maxItems": 2 })
}

fn list(item: Value) -> Value {
    json!({ "type": "array", "items": item, "minItems": 1 })
}

/// `schema`, an array's, with no item twice.
fn unique(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("uniqueItems".into(), Value::Bool(true));
    }
    schema
}

fn enum_of(names: &[&str]) -> Value {
    json!({ "type": "string", "enum": names })
}

/// The schema of one shape.
fn shape(s: Shape, registry: &Registry) -> Value {
    let int = |min: i64, max: i64| json!({ "type": "integer", "minimum": min, "maximum": max });
    let rate = || json!({ "type": "number", "minimum": 0, "maximum": 1 });
    match s {
        Shape::Duration => duration(),
        Shape::DurationPair => pair(duration()),
        Shape::DurationOrRange => json!({ "anyOf": [duration(), pair(duration())] }),
        Shape::Node => node(),
        // The loader refuses a node or member listed twice.
        Shape::Nodes => unique(list(node())),
        Shape::Sides => {
            let side = unique(json!({ "type": "array", "items": node() }));
            json!({ "type": "array", "items": side, "minItems": 2 })
        }
        Shape::Job | Shape::Ident => json!({ "$ref": "#/definitions/name" }),
        Shape::Jobs => list(json!({ "$ref": "#/definitions/name" })),
        Shape::Protocol => enum_of(&registry.names()),
        Shape::Protocols => list(enum_of(&task_protocols(registry))),
        Shape::OneOf(names) => list(enum_of(names)),
        Shape::Word(names) => enum_of(names),
        Shape::Int { min, max } => int(min, max),
        Shape::Ints { min, max } => list(int(min, max)),
        Shape::IntOrRange { min, max } => json!({ "anyOf": [int(min, max), pair(int(min, max))] }),
        Shape::Rate => rate(),
        Shape::RateBelowOne => json!({ "type": "number", "minimum": 0, "exclusiveMaximum": 1 }),
        Shape::RateOrRange => json!({ "anyOf": [rate(), pair(rate())] }),
        Shape::Factor { min, max } => json!({ "type": "number", "minimum": min, "maximum": max }),
        Shape::FactorAbove { min, max } => {
            json!({ "type": "number", "exclusiveMinimum": min, "maximum": max })
        }
        Shape::FactorOrRange { min, max } => {
            let one = json!({ "type": "number", "minimum": min, "maximum": max });
            json!({ "anyOf": [one.clone(), pair(one)] })
        }
        Shape::Text => json!({ "type": "string" }),
        Shape::Title => json!({ "type": "string", "minLength": 1 }),
        Shape::Texts => json!({ "type": "array", "items": { "type": "string" } }),
        Shape::Bool => json!({ "type": "boolean" }),
        Shape::Member => member(),
        Shape::Members => unique(json!({ "type": "array", "items": member() })),
    }
}

fn task_protocols(registry: &Registry) -> Vec<&str> {
    registry
        .names()
        .into_iter()
        .filter(|p| *p != TASKS_PROTOCOL)
        .collect()
}

/// A described schema: `schema` with `description` set.
fn described(mut schema: Value, doc: &str) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), Value::String(doc.into()));
    }
    schema
}

fn key_schema(k: &Key, registry: &Registry) -> Value {
    described(shape(k.shape, registry), k.doc)
}

/// A closed object of these properties, these required.
fn closed(properties: Map<String, Value>, required: Vec<&str>) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// `if key == value then schema`, with `key` required in the test (an
/// absent key must not count as a match).
fn when(key: &str, value: &str, then: Value) -> Value {
    json!({
        "if": { "properties": { key: { "const": value } }, "required": [key] },
        "then": then,
    })
}

/// One protocol's options, as properties.
fn options(registry: &Registry, protocol: &str) -> Map<String, Value> {
    let mut props = Map::new();
    let def = registry.get(protocol).expect("a registered protocol");
    for o in &def.options {
        let schema = match o.kind {
            OptionKind::Int { min, max } => {
                json!({ "type": "integer", "minimum": min, "maximum": max })
            }
            OptionKind::Bool => json!({ "type": "boolean" }),
            OptionKind::Text => json!({ "type": "string" }),
            OptionKind::Float { min, max } => {
                json!({ "type": "number", "minimum": min, "maximum": max })
            }
        };
        let doc = format!("{} ({protocol}; default: {}).", o.doc, o.default);
        props.insert(o.key.into(), described(schema, &doc));
    }
    props
}

/// Properties and required names of the raw type `of`.
fn struct_props(of: &str, registry: &Registry) -> (Map<String, Value>, Vec<&'static str>) {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in documented(of) {
        if let Some(s) = f.shape {
            props.insert(f.name.into(), described(shape(s, registry), f.doc));
        }
        if f.doc.ends_with("Required.") {
            required.push(f.name);
        }
    }
    (props, required)
}

fn job(registry: &Registry) -> Value {
    let (base, required) = struct_props("job", registry);
    let mut cases = Vec::new();
    for protocol in registry.names() {
        let mut props = base.clone();
        props.extend(options(registry, protocol));
        let then = closed(props, required.clone());
        cases.push(when("protocol", protocol, then.clone()));
        if protocol == DEFAULT_PROTOCOL {
            cases.push(json!({
                "if": { "not": { "required": ["protocol"] } },
                "then": then,
            }));
        }
    }
    let mut props = base;
    props.insert(
        "protocol".into(),
        described(shape(Shape::Protocol, registry), "The protocol its work threads run; default barrier. Its options are keys of this table."),
    );
    json!({
        "type": "object",
        "description": "A job. Keys besides these are the options of its protocol.",
        "properties": props,
        "required": required,
        "allOf": cases,
    })
}

fn fault() -> Value {
    let names = FaultKind::names();
    let mut cases = Vec::new();
    for name in &names {
        let spec = FaultKind::spec(name).expect("a kind's own name");
        let mut props = Map::new();
        props.insert("at".into(), key_schema(&FAULT_AT, Registry::builtin_ref()));
        props.insert("kind".into(), json!({ "const": name }));
        let mut required = vec!["at", "kind"];
        add_keys(
            &mut props,
            &mut required,
            spec.keys,
            Registry::builtin_ref(),
        );
        let mut then = closed(props, required);
        needs_one_of(&mut then, spec.keys);
        cases.push(when("kind", name, then));
    }
    json!({
        "type": "object",
        "properties": {
            "at": key_schema(&FAULT_AT, Registry::builtin_ref()),
            "kind": described(enum_of(&names), "The kind of fault."),
        },
        "required": ["at", "kind"],
        "allOf": cases,
    })
}

/// A table of `keys` gives at least one of their `any_of`.
fn needs_one_of(table: &mut Value, keys: Keys) {
    if !keys.any_of.is_empty() {
        let each: Vec<Value> = keys
            .any_of
            .iter()
            .map(|k| json!({ "required": [k] }))
            .collect();
        table["anyOf"] = Value::Array(each);
    }
}

fn add_keys(
    props: &mut Map<String, Value>,
    required: &mut Vec<&'static str>,
    keys: Keys,
    registry: &Registry,
) {
    for k in keys.required {
        props.insert(k.name.into(), key_schema(k, registry));
        required.push(k.name);
    }
    for k in keys.optional {
        props.insert(k.name.into(), key_schema(k, registry));
    }
}

fn task(registry: &Registry) -> Value {
    let doc = |key: &str| {
        match key {
        "at" => "When the member submits it. Required.",
        "member" => "The submitting member, of a job with `protocol = \"tasks\"`. Required.",
        "protocol" => "The protocol the task runs. Required.",
        "priority" => "A priority message (US 6,823,512): taken at its work threads' next task boundary, ahead of older tasks; default false.",
        "options" => "The task protocol's options (or write them as keys of this table).",
        other => panic!("task key `{other}` has no doc"),
    }
    };
    let base = |protocol: Option<&str>| {
        let mut props = Map::new();
        for key in TASK_KEYS {
            let schema = match *key {
                "at" => duration(),
                "member" => member(),
                "protocol" => match protocol {
                    Some(p) => json!({ "const": p }),
                    None => enum_of(&task_protocols(registry)),
                },
                "priority" => json!({ "type": "boolean" }),
                _ => json!({ "type": "object" }),
            };
            props.insert((*key).into(), described(schema, doc(key)));
        }
        props
    };
    let required = vec!["at", "member", "protocol"];
    let mut cases = Vec::new();
    for protocol in task_protocols(registry) {
        let opts = options(registry, protocol);
        let mut props = base(Some(protocol));
        props.insert(
            "options".into(),
            described(closed(opts.clone(), vec![]), doc("options")),
        );
        props.extend(opts);
        cases.push(when("protocol", protocol, closed(props, required.clone())));
    }
    json!({
        "type": "object",
        "description": "A task. Keys besides these are the options of its protocol.",
        "properties": base(None),
        "required": required,
        "allOf": cases,
    })
}

fn expectation(registry: &Registry) -> Value {
    let (fields, _) = struct_props("expect", registry);
    let names: Vec<&str> = EXPECT_KEYS.iter().map(|k| k.name).collect();
    let mut cases = Vec::new();
    for kind in EXPECT_KEYS {
        let mut props = Map::new();
        props.insert("kind".into(), json!({ "const": kind.name }));
        let mut required = vec!["kind"];
        for (name, is_required) in kind
            .required
            .iter()
            .map(|k| (*k, true))
            .chain(kind.optional.iter().map(|k| (*k, false)))
        {
            let schema = fields
                .get(name)
                .unwrap_or_else(|| panic!("expectation key `{name}` is no field of RawExpect"))
                .clone();
            props.insert(name.into(), schema);
            if is_required {
                required.push(name);
            }
        }
        cases.push(when("kind", kind.name, closed(props, required)));
    }
    json!({
        "type": "object",
        "properties": { "kind": described(enum_of(&names), "The kind of expectation.") },
        "required": ["kind"],
        "allOf": cases,
    })
}

fn random(registry: &Registry) -> Value {
    let mut props = Map::new();
    for k in RANDOM_SECTION_KEYS {
        props.insert(k.name.into(), key_schema(k, registry));
    }
    for name in RandomFault::names() {
        let spec = RandomFault::spec(name).expect("a kind's own name");
        let mut own = Map::new();
        let mut required = Vec::new();
        for k in RANDOM_RATE_KEYS {
            own.insert(k.name.into(), key_schema(k, registry));
        }
        add_keys(&mut own, &mut required, spec.keys, registry);
        let mut table = closed(own, required);
        table["oneOf"] = json!([{ "required": ["count"] }, { "required": ["every"] }]);
        needs_one_of(&mut table, spec.keys);
        props.insert(
            name.into(),
            described(table, &format!("[random.{name}]: how often, and its keys.")),
        );
    }
    closed(props, vec![])
}

/// The JSON Schema of scenario files, for the protocols of `registry`.
pub fn schema(registry: &Registry) -> Value {
    let (mut props, required) = struct_props("scenario", registry);
    let (cluster, cluster_required) = struct_props("cluster", registry);
    let doc = |name: &str| {
        documented("scenario")
            .into_iter()
            .find(|f| f.name == name)
            .expect("a field")
            .doc
    };
    props.insert(
        "cluster".into(),
        described(closed(cluster, cluster_required), doc("cluster")),
    );
    props.insert(
        "job".into(),
        described(
            json!({ "type": "array", "items": job(registry), "minItems": 1 }),
            doc("job"),
        ),
    );
    props.insert(
        "fault".into(),
        described(json!({ "type": "array", "items": fault() }), doc("fault")),
    );
    props.insert(
        "task".into(),
        described(
            json!({ "type": "array", "items": task(registry) }),
            doc("task"),
        ),
    );
    for key in ["expect", "expectation"] {
        props.insert(
            key.into(),
            described(
                json!({ "type": "array", "items": expectation(registry) }),
                doc(key),
            ),
        );
    }
    props.insert("random".into(), described(random(registry), doc("random")));
    let mut top = closed(props, required);
    let top_map = top.as_object_mut().expect("an object");
    let mut head = Map::new();
    head.insert(
        "$schema".into(),
        json!("http://json-schema.org/draft-07/schema#"),
    );
    head.insert("title".into(), json!("vigil scenario"));
    head.insert(
        "description".into(),
        json!("A vigil scenario file: a cluster, its jobs, the faults to inject and what every member must see. Written by `vigil schema`."),
    );
    head.insert(
        "definitions".into(),
        json!({
            "duration": {
                "type": "string",
                "pattern": "^[0-9]+(\\.[0-9]+)? ?(ns|us|ms|s|m|h)$",
                "description": "A duration: a number and a unit among ns, us, ms, s, m, h, such as \"250ms\" or \"1.5s\".",
            },
            "node": {
                "type": "string",
                "pattern": "^n(0|[1-9][0-9]*)$",
                "description": "A node: n0, n1, ... below [cluster] nodes.",
            },
            "member": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]+@n(0|[1-9][0-9]*)$",
                "description": "A member: JOB@nK, such as \"db@n2\".",
            },
            "name": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]+$",
                "description": "A name of letters, digits, `_` and `-`.",
            },
        }),
    );
    head.extend(std::mem::take(top_map));
    Value::Object(head)
}

/// [`schema`] as `vigil schema` prints it and the repository ships it.
pub fn schema_text(registry: &Registry) -> String {
    let mut text = serde_json::to_string_pretty(&schema(registry)).expect("JSON");
    text.push('\n');
    text
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn fields_of_reads_the_fields_serde_derives() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Two {
            alpha: u8,
            #[serde(rename = "beta-key")]
            beta: String,
        }
        assert_eq!(fields_of::<Two>(), ["alpha", "beta-key"]);
    }

    /// Every field of the raw types has its line, and every line a field.
    fn every_field_is_documented_and_every_line_is_a_field() {
        let mut used = 0;
        for of in ["scenario", "cluster", "job", "expect"] {
            used += documented(of).len();
        }
        assert_eq!(used, FIELDS.len(), "a line of FIELDS names no field");
        assert_eq!(
            documented("job").iter().map(|f| f.name).collect::<Vec<_>>(),
            crate::protocols::JOB_KEYS,
            "JOB_KEYS is RawJob's fields"
        );
    }

    unit_tests![
        fields_of_reads_the_fields_serde_derives,
        every_field_is_documented_and_every_line_is_a_field,
    ];
}
