//! Whether a rendered command line needs a shell, and its words when it does not.
//!
//! bosh runs every command through the image's shell. An image built `FROM scratch` has none,
//! so berth runs such a command as an argument vector — but only when the shell would have done
//! nothing beyond splitting words and removing quotes (POSIX, XCU §2.3 token recognition and
//! §2.6.7 quote removal). Anything else — operators, redirections, expansions, globs, comments,
//! assignments, reserved words and special built-ins — needs a real shell, and the caller says
//! so instead of guessing.

/// The result of analysing a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Words {
    /// The shell would only split words and remove quotes; these are the words.
    Plain(Vec<String>),
    /// The command uses a shell feature, named here.
    NeedsShell(String),
}

const RESERVED: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then", "until", "while",
    "[[", "]]", "function", "select", "time",
];

/// Special and regular built-ins that only make sense inside a shell.
const BUILTINS: &[&str] = &[
    ".", ":", "alias", "bg", "break", "cd", "command", "continue", "eval", "exec", "exit", "export", "fg", "getopts",
    "jobs", "readonly", "return", "set", "shift", "source", "times", "trap", "type", "ulimit", "umask", "unalias",
    "unset", "wait",
];

/// Splits `line` into words the way `sh -c` would, or says which shell feature it uses.
pub fn split(line: &str) -> Words {
    let needs = |what: &str| Words::NeedsShell(what.to_string());
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\n' => return needs("a line break (several commands)"),
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return needs("an unterminated single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('$') => return needs("`$` expansion inside double quotes"),
                        Some('`') => return needs("command substitution (`)"),
                        Some('\\') => match chars.next() {
                            Some(e @ ('$' | '`' | '"' | '\\')) => cur.push(e),
                            Some('\n') => {}
                            Some(other) => {
                                cur.push('\\');
                                cur.push(other);
                            }
                            None => return needs("an unterminated double quote"),
                        },
                        Some(ch) => cur.push(ch),
                        None => return needs("an unterminated double quote"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(e) => {
                    in_word = true;
                    cur.push(e);
                }
                None => return needs("a trailing backslash"),
            },
            '|' | '&' | ';' => return needs(&format!("the operator `{c}`")),
            '<' | '>' => return needs(&format!("the redirection `{c}`")),
            '(' | ')' => return needs("a subshell or function `( )`"),
            '$' => return needs("`$` expansion"),
            '`' => return needs("command substitution (`)"),
            '*' | '?' | '[' => return needs(&format!("the glob character `{c}`")),
            '~' if !in_word => return needs("tilde expansion (`~`)"),
            '#' if !in_word => return needs("a comment (`#`)"),
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    let Some(first) = words.first() else { return needs("an empty command") };
    if RESERVED.contains(&first.as_str()) {
        return needs(&format!("the reserved word `{first}`"));
    }
    if BUILTINS.contains(&first.as_str()) {
        return needs(&format!("the shell built-in `{first}`"));
    }
    // `NAME=value cmd` is a variable assignment, not a program name.
    if let Some((name, _)) = first.split_once('=')
        && !name.is_empty()
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && line.trim_start().starts_with(name)
    {
        return needs("a variable assignment");
    }
    Words::Plain(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> Vec<String> {
        match split(s) {
            Words::Plain(w) => w,
            Words::NeedsShell(why) => panic!("{s:?} needs a shell: {why}"),
        }
    }

    #[test]
    fn splits_and_removes_quotes_like_sh() {
        assert_eq!(plain("tool a  b\tc"), ["tool", "a", "b", "c"]);
        assert_eq!(plain("tool 'a b' \"c d\" e\\ f ''"), ["tool", "a b", "c d", "e f", ""]);
        assert_eq!(plain(r#"tool 'it'"'"'s' "x\"y" "a\b""#), ["tool", "it's", "x\"y", "a\\b"]);
        assert_eq!(
            plain("dicom-normalize /in/x.dcm out --min 0 --max 1000"),
            ["dicom-normalize", "/in/x.dcm", "out", "--min", "0", "--max", "1000"]
        );
        assert_eq!(plain("tool a=b --k=v x~y"), ["tool", "a=b", "--k=v", "x~y"]);
        assert_eq!(plain(" tool"), ["tool"]);
    }

    #[test]
    fn shell_features_are_named() {
        for (line, what) in [
            ("a | b", "`|`"),
            ("a && b", "`&`"),
            ("a; b", "`;`"),
            ("a > f", "redirection"),
            ("echo $HOME", "`$`"),
            ("echo \"$HOME\"", "`$`"),
            ("echo `date`", "command substitution"),
            ("ls *.nii", "glob"),
            ("cd /x", "built-in `cd`"),
            ("X=1 tool", "assignment"),
            ("if true", "reserved word"),
            ("tool # note", "comment"),
            ("tool ~/x", "tilde"),
            ("a\nb", "line break"),
            ("tool 'open", "unterminated"),
            ("", "empty"),
        ] {
            match split(line) {
                Words::NeedsShell(why) => assert!(why.contains(what), "{line:?}: {why}"),
                Words::Plain(w) => panic!("{line:?} split into {w:?}"),
            }
        }
    }

    #[test]
    fn agrees_with_sh_on_quoting() {
        // Words produced here equal what /bin/sh passes to the program.
        for line in ["printf '%s\\n' 'a b' \"c'd\" e\\ f", "printf '%s\\n' x\\\\y \"q\\\\r\" ''"] {
            let Words::Plain(words) = split(line) else { panic!("{line}") };
            let out = std::process::Command::new("/bin/sh").arg("-c").arg(line).output().unwrap();
            let got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
            assert_eq!(got, words[2..], "{line}");
        }
    }
}
