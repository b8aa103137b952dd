//! berth's advisory database: build it from OSV records and the Debian Security Tracker,
//! query it, and order versions as each ecosystem does.

pub mod version;
