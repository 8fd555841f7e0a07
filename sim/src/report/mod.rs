//! What is made of many runs or of one run: [`sweep`] (many seeds in
//! parallel, with a summary), [`summary`] (a sweep's summary as JSON, for
//! a sweep split over machines) and [`merge`] (such summaries judged as one
//! sweep), [`bench`](mod@bench) (games per second on each backend) and
//! [`picture`] (a run as an SVG sequence diagram or JSON).

pub mod bench;
pub mod coverage;
pub mod explore;
pub mod hunt;
pub mod merge;
pub mod picture;
pub mod summary;
pub mod sweep;
