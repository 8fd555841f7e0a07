//! Chat room (being built).
