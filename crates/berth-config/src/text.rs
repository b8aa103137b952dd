//! Text that came from outside — a package database in an image, a descriptor's label, a
//! DICOM header sent over the network — shown in a terminal. Such text may hold escape
//! sequences (`ESC ] 0 ;` retitles the window, `ESC [ 2 J` clears the screen, others rewrite
//! what is already shown), line breaks that forge extra lines of a report, or bidirectional
//! overrides that show characters in another order than they are. berth's text output passes
//! every outside string through [`terminal_safe`]; JSON output carries the exact text (JSON
//! escapes control characters itself).

use std::borrow::Cow;

/// Whether `c` changes what a terminal shows rather than showing itself: C0 and C1 control
/// characters (line breaks and tabs included), DEL, and the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069).
pub fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character [`is_unsafe_for_terminal`] written as its Rust escape
/// (`\u{1b}`, `\n`, `\t`), so that it shows as text on one line; unchanged (not copied) when
/// there is none.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_for_terminal(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_breaks_show_as_text() {
        assert!(matches!(terminal_safe("libc6 2.36-9+deb12u4 é 名"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("1.0\u{1b}]0;pwned\u{7}\u{1b}[2J"), "1.0\\u{1b}]0;pwned\\u{7}\\u{1b}[2J");
        assert_eq!(terminal_safe("a\nwarning: forged\r\tx"), "a\\nwarning: forged\\r\\tx");
        assert_eq!(terminal_safe("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\u{7f}");
        assert_eq!(terminal_safe("abc\u{202E}txt.exe"), "abc\\u{202e}txt.exe");
    }
}
