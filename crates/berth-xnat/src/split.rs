//! Splitting a command line into arguments exactly as XNAT does when the image's entrypoint
//! is kept (`override-entrypoint` false).
//!
//! XNAT uses its own `ShellSplitter` (container-service `utils/ShellSplitter.java`), not a
//! shell, and it differs from POSIX `sh` in ways a Command author can see:
//! - an empty quoted word (`''` or `""`) produces no argument at all;
//! - inside double quotes a backslash escapes any character (POSIX: only `$`, `` ` ``, `"`,
//!   `\` and newline), so `"a\b"` is `ab`;
//! - `$VAR`, globs, `;`, `|`, `>` and the like are ordinary characters: nothing expands;
//! - whitespace is Java's `Character.isWhitespace`, which includes `\u{1c}`–`\u{1f}` and
//!   Unicode space separators other than no-break spaces;
//! - an unterminated quote or a trailing backslash is accepted silently.
//!
//! berth reproduces these rules so that a run matches XNAT's, and reports the last two as
//! warnings.

/// The arguments and anything suspicious about the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The arguments.
    pub args: Vec<String>,
    /// The quote character left open at the end, if any.
    pub unterminated_quote: Option<char>,
    /// Whether the line ends with an unused backslash.
    pub trailing_backslash: bool,
}

/// Java's `Character.isWhitespace` for one `char`.
fn java_whitespace(c: char) -> bool {
    match c {
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}' => true,
        '\u{a0}' | '\u{2007}' | '\u{202f}' => false,
        // Unicode Zs, Zl and Zp.
        ' ' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{205f}' | '\u{3000}' => true,
        _ => false,
    }
}

/// Splits `line` with XNAT's `ShellSplitter` rules.
pub fn split(line: &str) -> Split {
    let mut args = Vec::new();
    let mut escaping = false;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in line.chars() {
        if escaping {
            current.push(c);
            escaping = false;
        } else if c == '\\' && quote != Some('\'') {
            escaping = true;
        } else if quote == Some(c) {
            quote = None;
        } else if quote.is_none() && (c == '\'' || c == '"') {
            quote = Some(c);
        } else if quote.is_none() && java_whitespace(c) {
            if !current.is_empty() {
                args.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        args.push(current);
    }
    Split { args, unterminated_quote: quote, trailing_backslash: escaping }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        split(line).args
    }

    #[test]
    fn words_quotes_and_escapes() {
        assert_eq!(args("  a  b\tc\n"), ["a", "b", "c"]);
        assert_eq!(args(r#"a 'b c' "d e" f\ g"#), ["a", "b c", "d e", "f g"]);
        assert_eq!(args(r#"'it''s' "say \"hi\"""#), ["its", r#"say "hi""#]);
        assert_eq!(args(r"'a\b'"), [r"a\b"]);
    }

    #[test]
    fn differs_from_posix_where_xnat_does() {
        // Empty quoted words vanish.
        assert_eq!(args("cmd '' \"\" x"), ["cmd", "x"]);
        // Backslash escapes anything inside double quotes.
        assert_eq!(args(r#""a\b""#), ["ab"]);
        // Nothing expands.
        assert_eq!(args("echo $HOME *.nii > out; ls"), ["echo", "$HOME", "*.nii", ">", "out;", "ls"]);
        // Java whitespace.
        assert_eq!(args("a\u{1f}b\u{a0}c"), ["a", "b\u{a0}c"]);
    }

    #[test]
    fn reports_unterminated_quotes_and_trailing_backslashes() {
        let s = split("echo 'open");
        assert_eq!(s.args, ["echo", "open"]);
        assert_eq!(s.unterminated_quote, Some('\''));
        let s = split("echo x\\");
        assert_eq!(s.args, ["echo", "x"]);
        assert!(s.trailing_backslash);
    }
}
