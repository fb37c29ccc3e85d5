//! The JSON Schema of scenario files (`vigil schema`): the shipped file is
//! the one the CLI prints, every example validates against it, and files
//! the parser rejects for a structural reason (an unknown key, a wrong
//! type, a missing required key) the schema rejects too.
//!
//! `VIGIL_BLESS=1 cargo test -p vigil-tests --test suite schema::` rewrites the
//! shipped file after a change to the scenario format.

use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_sim::protocols::Registry;
use vigil_sim::scenario;
use vigil_sim::scenario::schema::{schema, schema_text, SCHEMA_PATH};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A validator for `schema`.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn new(schema: Value) -> Validator {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let url = "file:///vigil/scenario.schema.json";
        compiler.add_resource(url, schema).expect("a schema");
        let index = compiler
            .compile(url, &mut schemas)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
        Validator { schemas, index }
    }

    /// Why the TOML `text` fails the schema, if it does.
    fn check(&self, text: &str) -> Result<(), String> {
        let value: toml::Value = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
        let json = serde_json::to_value(value).expect("TOML is JSON");
        self.schemas
            .validate(&json, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

fn examples() -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the examples are there");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            (p, text)
        })
        .collect()
}

#[test]
fn the_shipped_schema_is_the_one_vigil_schema_prints() {
    let generated = schema_text(Registry::builtin_ref());
    let path = root().join(SCHEMA_PATH);
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&path, &generated).expect("write the schema");
    }
    let shipped = std::fs::read_to_string(&path).expect("the shipped schema");
    assert!(
        shipped == generated,
        "{SCHEMA_PATH} is not what `vigil schema` prints: rerun with VIGIL_BLESS=1"
    );
    let printed = vigil_sim::cli::capture(
        &["vigil".to_string(), "schema".to_string()],
        Registry::builtin_ref(),
    );
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    assert_eq!(printed.stdout, generated);
}

#[test]
fn every_example_validates() {
    let v = Validator::new(schema(Registry::builtin_ref()));
    for (path, text) in examples() {
        if let Err(e) = v.check(&text) {
            panic!("{} fails the schema:\n{e}", path.display());
        }
    }
}

const BASE: &str = r#"
name = "base"
duration = "10s"

[cluster]
nodes = 3

[[job]]
name = "db"
group = "g"
"#;

/// Files the parser rejects for a structural reason: `BASE` plus a tail.
const STRUCTURAL: &[(&str, &str)] = &[
    ("an unknown top-level key", "colour = \"red\"\n"),
    ("an unknown key in [cluster]", "[cluster.x]\n"),
    (
        "a duration as a number",
        "[[fault]]\nat = 2\nkind = \"node-crash\"\nnode = \"n1\"\n",
    ),
    (
        "an unknown key of a fault kind",
        "[[fault]]\nat = \"2s\"\nkind = \"node-crash\"\nnode = \"n1\"\nfor = \"1s\"\n",
    ),
    (
        "a fault without its required key",
        "[[fault]]\nat = \"2s\"\nkind = \"node-pause\"\nnode = \"n1\"\n",
    ),
    ("a fault without kind", "[[fault]]\nat = \"2s\"\nnode = \"n1\"\n"),
    (
        "an unknown fault kind",
        "[[fault]]\nat = \"2s\"\nkind = \"meteor\"\n",
    ),
    (
        "a rate as a string",
        "[[fault]]\nat = \"2s\"\nkind = \"loss\"\nrate = \"high\"\n",
    ),
    (
        "sides as a flat list",
        "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [\"n0\", \"n1\"]\n",
    ),
    (
        "an expectation without its required key",
        "[[expect]]\nkind = \"membership-change\"\nreason = \"fault\"\n",
    ),
    (
        "a key the expectation kind does not take",
        "[[expect]]\nkind = \"no-membership-change\"\nmember = \"db@n1\"\n",
    ),
    (
        "an unknown key in a [random] kind",
        "[random.node-crash]\nevery = \"5s\"\nnodes = [\"n1\"]\nfor = \"1s\"\n",
    ),
    (
        "a [random] kind without count or every",
        "[random.node-crash]\nrestart_after = \"1s\"\n",
    ),
    ("an unknown [random] kind", "[random.meteor]\nevery = \"5s\"\n"),
    (
        "a clock fault with neither offset nor rate",
        "[[fault]]\nat = \"2s\"\nkind = \"clock\"\nnode = \"n1\"\nfor = \"1s\"\n",
    ),
    (
        "a [random] clock with neither offset nor rate",
        "[random.clock]\nevery = \"5s\"\nnodes = [\"n1\"]\n",
    ),
    (
        "a protocol option of another protocol",
        "[[job]]\nname = \"tx\"\ngroup = \"t\"\nprotocol = \"barrier\"\ntransactions = 3\n",
    ),
    (
        "a protocol option of the wrong type",
        "[[job]]\nname = \"tx\"\ngroup = \"t\"\nprotocol = \"two-phase-commit\"\ntransactions = \"3\"\n",
    ),
    (
        "a protocol option past any TOML integer",
        "[[job]]\nname = \"b\"\ngroup = \"b\"\nrounds = 99999999999999999999\n",
    ),
    (
        "work_threads as a string",
        "[[job]]\nname = \"w\"\ngroup = \"w\"\nwork_threads = \"2\"\n",
    ),
    (
        "a node listed twice",
        "[[job]]\nname = \"w\"\ngroup = \"w\"\nnodes = [\"n1\", \"n1\"]\n",
    ),
    (
        "a node twice in one side",
        "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [[\"n0\", \"n0\"], [\"n1\"]]\n",
    ),
    (
        "a member listed twice",
        "[[expect]]\nkind = \"final-view\"\ngroup = \"g\"\nmembers = [\"db@n1\", \"db@n1\"]\n",
    ),
    (
        "a slow node at full speed",
        "[[fault]]\nat = \"2s\"\nkind = \"node-slow\"\nnode = \"n1\"\nfactor = 1\n",
    ),
];

/// A file the parser takes, with the same tail shapes as the rejected ones,
/// so that the schema is not shown merely to reject everything.
const ACCEPTED: &[&str] = &[
    "[[fault]]\nat = \"2s\"\nkind = \"node-crash\"\nnode = \"n1\"\nrestart_after = \"1s\"\n",
    "[[fault]]\nat = \"2s\"\nkind = \"node-pause\"\nnode = \"n1\"\nfor = \"1s\"\n",
    "[[fault]]\nat = \"2s\"\nkind = \"partition\"\nsides = [[\"n0\"], [\"n1\", \"n2\"]]\n",
    "[[expect]]\nkind = \"membership-change\"\nmember = \"db@n1\"\nreason = \"fault\"\n[[fault]]\nat = \"2s\"\nkind = \"node-crash\"\nnode = \"n1\"\n",
    "[random.node-crash]\nevery = \"5s\"\nnodes = [\"n1\"]\nrestart_after = [\"1s\", \"2s\"]\n",
    "[[job]]\nname = \"tx\"\ngroup = \"t\"\nprotocol = \"two-phase-commit\"\ntransactions = 3\n",
    "[[fault]]\nat = \"2s\"\nkind = \"clock\"\nnode = \"n1\"\nrate = 1.5\nfor = \"1s\"\n",
    "[random.clock]\nevery = \"5s\"\noffset = \"1s\"\n",
    "[[job]]\nname = \"w\"\ngroup = \"w\"\nnodes = [\"n1\", \"n2\"]\n",
    "[[expect]]\nkind = \"final-view\"\ngroup = \"g\"\nmembers = [\"db@n1\", \"db@n2\"]\n",
    "[[fault]]\nat = \"2s\"\nkind = \"node-slow\"\nnode = \"n1\"\nfactor = 1.1\n",
];

#[test]
fn files_the_parser_rejects_for_their_structure_the_schema_rejects_too() {
    let v = Validator::new(schema(Registry::builtin_ref()));
    for (what, tail) in STRUCTURAL {
        let text = format!("{BASE}{tail}");
        assert!(
            scenario::parse("case.toml", &text).is_err(),
            "{what}: the parser takes it"
        );
        assert!(v.check(&text).is_err(), "{what}: the schema takes it");
    }
    for tail in ACCEPTED {
        let text = format!("{BASE}{tail}");
        if let Err(e) = scenario::parse("case.toml", &text) {
            panic!("the parser rejects\n{text}\n{}", e.render(false));
        }
        if let Err(e) = v.check(&text) {
            panic!("the schema rejects\n{text}\n{e}");
        }
    }
}

/// At the edge of each range the parser checks, the schema says what the
/// parser says: the largest cluster, the most votes, a loss just below 1
/// are taken by both, one step past them refused by both (the schema once
/// allowed 1,000 nodes against the parser's 10,000, a million votes
/// against its 1,000, and a cluster loss of 1).
#[test]
fn at_the_edge_of_every_range_the_schema_and_the_parser_agree() {
    let v = Validator::new(schema(Registry::builtin_ref()));
    let file = |cluster: &str| {
        format!("name = \"edge\"\nduration = \"5s\"\n[cluster]\n{cluster}\n[[job]]\nname = \"db\"\ngroup = \"g\"\n")
    };
    let max_nodes = vigil_sim::scenario::Cluster::MAX_NODES;
    let cases = [
        (format!("nodes = {max_nodes}"), true),
        (format!("nodes = {}", max_nodes + 1), false),
        ("nodes = 0".to_string(), false),
        (
            "nodes = 3\nquorum = \"majority\"\nvotes = [1000, 1, 0]".to_string(),
            true,
        ),
        (
            "nodes = 3\nquorum = \"majority\"\nvotes = [1001, 1, 1]".to_string(),
            false,
        ),
        ("nodes = 3\nloss = 0.999".to_string(), true),
        ("nodes = 3\nloss = 1.0".to_string(), false),
    ];
    for (cluster, taken) in cases {
        let text = file(&cluster);
        let parser = scenario::parse("edge.toml", &text).is_ok();
        let schema = v.check(&text).is_ok();
        assert_eq!(parser, taken, "the parser on `{cluster}`");
        assert_eq!(schema, taken, "the schema on `{cluster}`");
    }
}

/// Every `"additionalProperties": false` in `v`, opened.
fn open_everything(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.insert("additionalProperties".into(), Value::Bool(true));
            }
            map.values_mut().for_each(open_everything);
        }
        Value::Array(items) => items.iter_mut().for_each(open_everything),
        _ => {}
    }
}

/// The checks above bite: a schema that lets unknown keys through takes
/// some of the rejected files, and one whose `partition` lacks `heal_after`
/// rejects an example.
#[test]
fn the_schema_checks_catch_a_schema_that_is_too_open_or_too_narrow() {
    let mut open = schema(Registry::builtin_ref());
    open_everything(&mut open);
    let v = Validator::new(open);
    let taken: Vec<&str> = STRUCTURAL
        .iter()
        .filter(|(_, tail)| v.check(&format!("{BASE}{tail}")).is_ok())
        .map(|(what, _)| *what)
        .collect();
    assert!(
        taken.contains(&"an unknown key of a fault kind"),
        "an open schema should take unknown keys: {taken:?}"
    );

    let mut narrow = schema(Registry::builtin_ref());
    let cases = narrow["properties"]["fault"]["items"]["allOf"]
        .as_array_mut()
        .expect("one case per kind");
    let partition = cases
        .iter_mut()
        .find(|c| c["if"]["properties"]["kind"]["const"] == "partition")
        .expect("partition");
    partition["then"]["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("heal_after");
    let v = Validator::new(narrow);
    let failing = examples()
        .into_iter()
        .filter(|(_, text)| v.check(text).is_err())
        .count();
    assert!(
        failing > 0,
        "a schema without heal_after should reject an example"
    );
}
