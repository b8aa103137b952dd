//! Replacement-key substitution in templates (command line, environment, paths, labels).
//!
//! XNAT's `resolveTemplate` (container-service `CommandResolutionServiceImpl.java`) calls
//! `String.replace(key, value)` once per key, walking a `HashMap`: a value that happens to
//! contain another key may or may not be substituted again, depending on hash order. berth
//! substitutes in one left-to-right pass instead (longest key first where two keys start at
//! the same place), which gives XNAT's result whenever XNAT's is well defined and is
//! deterministic when it is not. XNAT's JSONPath substitutions (`^...^`) are not evaluated;
//! [`jsonpath_marker`] finds them so the plan can say so.

/// Substitutes every occurrence of each key in `template` with its value, in one pass.
pub fn substitute<K: AsRef<str>, V: AsRef<str>>(template: &str, values: &[(K, V)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    'outer: while i < template.len() {
        let rest = &template[i..];
        let mut best: Option<(&str, &str)> = None;
        for (k, v) in values {
            let k = k.as_ref();
            if !k.is_empty() && rest.starts_with(k) && best.is_none_or(|(b, _)| k.len() > b.len()) {
                best = Some((k, v.as_ref()));
            }
        }
        if let Some((k, v)) = best {
            out.push_str(v);
            i += k.len();
            continue 'outer;
        }
        // Not at a key: copy one character.
        let ch = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..ch]);
        i += ch;
    }
    out
}

/// The first `^...^` span in `s`, which XNAT would evaluate as a JSONPath search over the
/// Command (`JSONPATH_SUBSTRING`, `\^(wrapper:)?(.+)\^`).
pub fn jsonpath_marker(s: &str) -> Option<&str> {
    let start = s.find('^')?;
    let end = s.rfind('^')?;
    (end > start + 1).then(|| &s[start..=end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_every_occurrence() {
        assert_eq!(substitute("#A# #B# #A#", &[("#A#", "1"), ("#B#", "2")]), "1 2 1");
    }

    #[test]
    fn inserted_values_are_not_substituted_again() {
        assert_eq!(substitute("#A#", &[("#A#", "#B#"), ("#B#", "x")]), "#B#");
    }

    #[test]
    fn longest_key_wins_at_one_position() {
        assert_eq!(substitute("[X] [XY]", &[("[X", "a"), ("[XY]", "b")]), "a] b");
        assert_eq!(substitute("#IN##IN2#", &[("#IN#", "a"), ("#IN2#", "b")]), "ab");
    }

    #[test]
    fn empty_keys_and_unicode_are_safe() {
        assert_eq!(substitute("é#A#ü", &[("", "boom"), ("#A#", "ß")]), "éßü");
    }

    #[test]
    fn jsonpath_markers() {
        assert_eq!(jsonpath_marker("x ^$.inputs[0].name^ y"), Some("^$.inputs[0].name^"));
        assert_eq!(jsonpath_marker("a^^b"), None);
        assert_eq!(jsonpath_marker("2^3"), None);
    }
}
