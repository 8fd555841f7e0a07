//! What is made of many runs or of one run: [`sweep`] (many seeds in
//! parallel, with a summary), [`summary`] (a sweep's summary as JSON, for
//! a sweep split over machines) and [`merge`] (such summaries judged as one
//! sweep), [`bench`](mod@bench) (games per second on each backend) and
//! [`picture`] (a run as an SVG sequence diagram or JSON); [`explore`]
//! and [`hunt`] search a run's choices, [`coverage`] says what a run
//! covered.

pub mod bench;
pub mod coverage;
pub mod explore;
pub mod hunt;
pub mod merge;
pub mod picture;
pub mod summary;
pub mod sweep;

/// Worker threads for `--jobs N`: N, or every core for 0.
pub fn jobs_or_all_cores(jobs: usize) -> usize {
    if jobs == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        jobs
    }
}

/// A pool of `jobs` worker threads (every core for 0), for the runs of a
/// sweep, a bench row or a search.
pub(crate) fn worker_pool(jobs: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs_or_all_cores(jobs))
        .build()
        .expect("a thread pool can be built")
}
