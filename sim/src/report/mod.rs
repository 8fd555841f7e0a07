//! What is made of many runs or of one run: [`sweep`] (many seeds in
//! parallel, with a summary), [`bench`](mod@bench) (games per second on each backend)
//! and [`picture`] (a run as an SVG sequence diagram or JSON).

pub mod bench;
pub mod picture;
pub mod sweep;
