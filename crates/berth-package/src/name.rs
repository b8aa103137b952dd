//! Package names as their ecosystems compare them.

/// PEP 503 normalization of a Python package name: lowercase, and every run of `-`, `_` and `.`
/// one `-` (`Foo__Bar.baz` → `foo-bar-baz`).
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_folds_case_and_separator_runs() {
        assert_eq!(pep503("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(pep503(" zope.interface "), "zope-interface");
        assert_eq!(pep503("PyYAML"), "pyyaml");
        assert_eq!(pep503("a-_-b"), "a-b");
    }
}
