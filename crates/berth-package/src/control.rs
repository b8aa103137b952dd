//! Debian's control-file format (deb-control(5)): blank-line-separated stanzas of `Key: value`
//! fields, continuation lines starting with a space or a tab. `/var/lib/dpkg/status` is one;
//! Alpine's `lib/apk/db/installed` has the same stanza shape with one-letter keys.

/// Blank-line-separated stanzas, without their surrounding newlines.
pub fn stanzas(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n").map(|s| s.trim_matches('\n')).filter(|s| !s.trim().is_empty())
}

/// A stanza's fields in order; continuation lines joined with newlines (trimmed).
pub fn fields(stanza: &str) -> Vec<(&str, String)> {
    let mut fields: Vec<(&str, String)> = Vec::new();
    for line in stanza.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim(), value.trim().to_owned()));
        }
    }
    fields
}

/// The first value of `key` (case-insensitive, as dpkg reads field names) among `fields`.
pub fn field<'a>(fields: &'a [(&str, String)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_and_fields_with_continuation_lines() {
        let text = "\nPackage: a\nDescription: one\n two\n .\nVersion: 1\n\n\nPackage: b\n\tmore\n\n";
        let all: Vec<&str> = stanzas(text).collect();
        assert_eq!(all.len(), 2);
        let f = fields(all[0]);
        assert_eq!(field(&f, "package"), Some("a"));
        assert_eq!(field(&f, "Description"), Some("one\ntwo\n."));
        assert_eq!(field(&f, "Version"), Some("1"));
        assert_eq!(field(&fields(all[1]), "Package"), Some("b\nmore"));
    }
}
