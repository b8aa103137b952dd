//! What package ecosystems define, once for every crate that reads packages: version ordering
//! (dpkg, apk, rpm, PEP 440, SemVer), package names (PEP 503), and Debian's control-file
//! format (stanzas and fields, as in `/var/lib/dpkg/status` and Alpine's `installed`).
//! Used by the inventory (berth-inventory), the advisory matcher (berth-advisory, berth-scan)
//! and minify's package databases (berth-minify), so that they agree.

pub mod control;
pub mod name;
pub mod version;
