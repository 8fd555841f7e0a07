//! Integration-test host crate.
