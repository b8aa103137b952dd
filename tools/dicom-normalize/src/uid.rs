//! Deterministic UIDs for derived instances, in the `2.25.<UUID as integer>` form.
//!
//! PS3.5 B.2 lets a UID be built under the root `2.25` from a UUID written as one decimal
//! integer, which needs no registered organisation root. The UUIDs here are name-based
//! (RFC 9562 version 5) under [`NAMESPACE`], so the same input file and parameters give
//! the same output UID on every run and machine — the output file is byte-reproducible —
//! while any change to the input bytes, the range or the tool version gives a new UID.

use uuid::Uuid;

use crate::mapping::TargetRange;

/// The UUID namespace of every UID `dicom-normalize` derives
/// (`f9582cf0-667e-4afa-8208-4e362aa778ba`, chosen at random once and fixed forever).
pub const NAMESPACE: Uuid = Uuid::from_u128(0xf958_2cf0_667e_4afa_8208_4e36_2aa7_78ba);

/// Implementation Version Name written in the file meta group (SH, at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("BERTH_DN_", env!("CARGO_PKG_VERSION"));

/// Writes a UUID as a DICOM UID under the `2.25` root.
pub fn from_uuid(uuid: Uuid) -> String {
    format!("2.25.{}", uuid.as_u128())
}

/// The SOP Instance UID of the normalized instance.
///
/// Its name hashes the tool version, both bounds (exact bit patterns) and every byte of
/// the input file, so it is new for every distinct derivation.
pub fn derived_instance_uid(input_file: &[u8], target: TargetRange) -> String {
    let mut name = Vec::with_capacity(input_file.len() + 64);
    name.extend_from_slice(b"sop-instance\0");
    name.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    name.push(0);
    name.extend_from_slice(&target.min().to_bits().to_be_bytes());
    name.extend_from_slice(&target.max().to_bits().to_be_bytes());
    name.extend_from_slice(input_file);
    from_uuid(Uuid::new_v5(&NAMESPACE, &name))
}

/// The Series Instance UID of the normalized series: every instance of one source series
/// normalized to the same range by the same version lands in the same new series.
pub fn derived_series_uid(source_series_uid: &str, target: TargetRange) -> String {
    let mut name = Vec::with_capacity(source_series_uid.len() + 64);
    name.extend_from_slice(b"series\0");
    name.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    name.push(0);
    name.extend_from_slice(&target.min().to_bits().to_be_bytes());
    name.extend_from_slice(&target.max().to_bits().to_be_bytes());
    name.extend_from_slice(source_series_uid.as_bytes());
    from_uuid(Uuid::new_v5(&NAMESPACE, &name))
}

/// The Implementation Class UID of this tool, written in the file meta group.
pub fn implementation_class_uid() -> String {
    from_uuid(Uuid::new_v5(&NAMESPACE, b"implementation-class"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;

    fn target(min: f64, max: f64) -> TargetRange {
        TargetRange::new(min, max).unwrap()
    }

    #[test]
    fn uid_is_a_valid_2_25_uid() {
        let uid = derived_instance_uid(b"abc", target(0.0, 1.0));
        assert!(uid.starts_with("2.25."));
        assert!(uid.len() <= 64, "{uid}");
        let tail = &uid[5..];
        assert!(tail.bytes().all(|b| b.is_ascii_digit()));
        // PS3.5 9.1: no leading zero in a component.
        assert!(!tail.starts_with('0'));
    }

    #[test]
    fn uid_is_deterministic_and_depends_on_every_input() {
        let base = derived_instance_uid(b"abc", target(0.0, 1.0));
        assert_eq!(base, derived_instance_uid(b"abc", target(0.0, 1.0)));
        assert_ne!(base, derived_instance_uid(b"abd", target(0.0, 1.0)));
        assert_ne!(base, derived_instance_uid(b"abc", target(0.0, 2.0)));
        assert_ne!(base, derived_instance_uid(b"abc", target(-0.5, 1.0)));
    }

    #[test]
    fn implementation_version_name_fits_sh() {
        assert!(IMPLEMENTATION_VERSION_NAME.len() <= 16);
    }
}
