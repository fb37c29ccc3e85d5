//! What works over runs, from their traces and results: exploring many
//! seeds and merging shards (`explore`), shrinking a failing scenario
//! (`shrink`), the human and JSON account of a run (`report`), pictures of
//! a run and the HTML report of a sweep (`visual`), and the property-test
//! harness over random fault schedules (`props`).

pub mod exhaust;
pub mod explore;
pub mod props;
pub mod report;
pub mod shrink;
pub mod visual;
