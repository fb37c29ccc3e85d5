//! A process that takes input from the network keeps its table of names
//! to the names it made itself (`Name::refuse_unknown_input`): a packet
//! naming anything else fails to decode instead of growing the table,
//! which lives as long as the process. (A test binary of its own: the
//! switch holds for the rest of the process.)

use vigil_engine::Name;

#[test]
fn after_the_switch_only_known_names_decode() {
    // Before it, any name decodes (and is kept).
    let before: Name = serde_json::from_str("\"made-by-input\"").expect("any name");
    assert_eq!(before.as_str(), "made-by-input");
    let job = Name::new("db");
    Name::refuse_unknown_input();
    let known: Name = serde_json::from_str("\"db\"").expect("a known name");
    assert_eq!(known, job);
    let again: Name = serde_json::from_str("\"made-by-input\"").expect("known by now");
    assert_eq!(again, before);
    let err = serde_json::from_str::<Name>("\"never-made\"").expect_err("an unknown name");
    assert!(
        err.to_string().contains("unknown name \"never-made\""),
        "{err}"
    );
    assert!(
        Name::known("never-made").is_none(),
        "a refused name is not kept"
    );
    // In bincode too, as a packet comes off the wire.
    let bytes = bincode::serialize("never-made-either").expect("encodes");
    assert!(bincode::deserialize::<Name>(&bytes).is_err());
    assert!(Name::known("never-made-either").is_none());
    // Names made by the process itself still are.
    assert_eq!(Name::new("made-later").as_str(), "made-later");
}
