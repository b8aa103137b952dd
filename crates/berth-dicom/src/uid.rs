//! DICOM UIDs and AE titles from the wire, checked before they are used: a UID becomes a path
//! component (`<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`), so anything but
//! a well-formed UID is refused here, before berth-hostpath sees it.

/// The longest UID PS3.5 §9.1 allows.
pub const UID_MAX: usize = 64;

/// The longest AE title PS3.5 §6.2 (AE) allows.
pub const AE_TITLE_MAX: usize = 16;

/// `value` with the padding DICOM allows removed (a trailing NUL for UIDs, spaces for text).
pub fn trim(value: &str) -> &str {
    value.trim_end_matches(['\0', ' ']).trim_start_matches(' ')
}

/// Checks a UID (PS3.5 §9.1): 1 to 64 characters, components of digits separated by single
/// dots, no leading zero in a component of more than one digit. Returns the reason it is not
/// one. The grammar leaves no room for `/`, `..`, a leading dot or NUL.
pub fn check_uid(uid: &str) -> Result<&str, &'static str> {
    if uid.is_empty() {
        return Err("it is empty");
    }
    if uid.len() > UID_MAX {
        return Err("it is longer than 64 characters");
    }
    for part in uid.split('.') {
        if part.is_empty() {
            return Err("it has an empty component (a leading, trailing or double dot)");
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err("it has a character other than digits and dots");
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err("a component has a leading zero");
        }
    }
    Ok(uid)
}

/// Checks an AE title (PS3.5 §6.2): 1 to 16 characters of printable ASCII other than `\`, not
/// only spaces. Returns it without its padding.
pub fn check_ae_title(title: &str) -> Result<&str, &'static str> {
    let t = trim(title);
    if t.is_empty() {
        return Err("it is empty or only spaces");
    }
    if t.len() > AE_TITLE_MAX {
        return Err("it is longer than 16 characters");
    }
    if !t.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\') {
        return Err("it has a character other than printable ASCII (or a backslash)");
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_follow_the_grammar() {
        for ok in ["1.2.840.10008.1.2", "0", "2.25.329800735698586629295641978511506172918", "1.0.2"] {
            assert_eq!(check_uid(ok), Ok(ok), "{ok}");
        }
        let long = format!("1.{}", "2".repeat(63));
        for bad in ["", ".", "..", "../1", "1..2", ".1.2", "1.2.", "1.2/3", "1.2\0", "1.02", "a.b", "1 2", "/1", &long]
        {
            assert!(check_uid(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ae_titles_are_printable_and_short() {
        assert_eq!(check_ae_title("STORESCU  "), Ok("STORESCU"));
        assert_eq!(check_ae_title(" ANY-SCP"), Ok("ANY-SCP"));
        for bad in ["", "   ", "A\\B", "SEVENTEEN-CHARSXX", "A\nB"] {
            assert!(check_ae_title(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
