//! Live tombola (being built).
