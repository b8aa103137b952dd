//! Where the store lives: every environment variable it reads, named and documented once.
//!
//! [`default_home`] resolves the store's directory from a lookup function rather than the
//! process environment, so that tests supply their own values instead of mutating it.

use std::path::PathBuf;

/// The store's directory, when set to a non-empty value: `$BERTH_HOME/berth.db`,
/// `$BERTH_HOME/logs/`. Takes precedence over everything else.
pub const BERTH_HOME: &str = "BERTH_HOME";
/// The XDG base directory for user data; the store is `$XDG_DATA_HOME/berth` when
/// `BERTH_HOME` is unset. Relative values are ignored, as the XDG Base Directory
/// specification requires.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// The user's home directory; the store is `$HOME/.local/share/berth` when neither
/// `BERTH_HOME` nor `XDG_DATA_HOME` is set (the XDG default for `XDG_DATA_HOME`).
pub const HOME: &str = "HOME";

/// No variable told where the store should be.
#[derive(Debug, thiserror::Error)]
#[error("cannot tell where berth's store is: none of `BERTH_HOME`, `XDG_DATA_HOME` or `HOME` is set")]
pub struct NoHomeError;

impl NoHomeError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        "set `BERTH_HOME` to the directory berth should keep its runs in".to_owned()
    }
}

/// The store's directory according to `var` (a lookup such as `|name| std::env::var_os(name)`):
/// `$BERTH_HOME`, else `$XDG_DATA_HOME/berth`, else `$HOME/.local/share/berth`. Empty values
/// count as unset.
pub fn default_home(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, NoHomeError> {
    // berth-config defines it once, for every crate.
    berth_config::berth_home_in(var).map_err(|_| NoHomeError)
}

/// [`default_home`] from the process environment.
pub fn default_home_from_env() -> Result<PathBuf, NoHomeError> {
    default_home(|name| std::env::var_os(name))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs.iter().map(|(k, v)| ((*k).to_owned(), OsString::from(v))).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn berth_home_wins_over_xdg_and_home() {
        let env = lookup(&[(BERTH_HOME, "/srv/berth"), (XDG_DATA_HOME, "/x"), (HOME, "/home/u")]);
        assert_eq!(default_home(env).unwrap(), PathBuf::from("/srv/berth"));
    }

    #[test]
    fn xdg_data_home_then_home() {
        let env = lookup(&[(XDG_DATA_HOME, "/x"), (HOME, "/home/u")]);
        assert_eq!(default_home(env).unwrap(), PathBuf::from("/x/berth"));
        let env = lookup(&[(HOME, "/home/u")]);
        assert_eq!(default_home(env).unwrap(), PathBuf::from("/home/u/.local/share/berth"));
    }

    #[test]
    fn empty_and_relative_values_are_ignored() {
        let env = lookup(&[(BERTH_HOME, ""), (XDG_DATA_HOME, "relative/dir"), (HOME, "/home/u")]);
        assert_eq!(default_home(env).unwrap(), PathBuf::from("/home/u/.local/share/berth"));
        assert!(default_home(lookup(&[(HOME, "")])).is_err());
    }
}
