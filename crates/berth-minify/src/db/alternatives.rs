//! dpkg's alternatives: `var/lib/dpkg/alternatives/<name>` (what update-alternatives knows)
//! and the links it made, `/usr/bin/awk -> /etc/alternatives/awk -> /usr/bin/mawk`. No package
//! owns these links, so when minify removes the package an alternative points to, it either
//! points the links at the best remaining alternative (as `update-alternatives --auto`
//! would) or removes them with the administrative file.

use std::path::Path;

use serde::Serialize;

use crate::error::MinifyError;

/// update-alternatives' administrative directory, relative to the root.
pub const ADMIN_DIR: &str = "var/lib/dpkg/alternatives";
/// Where the alternative links point, absolute inside the root.
pub const LINK_DIR: &str = "/etc/alternatives";

/// One link group, as its administrative file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `auto` or `manual`.
    pub status: String,
    /// Its name (`awk`): the file name of the administrative file and of `/etc/alternatives/<name>`.
    pub name: String,
    /// The master link (`/usr/bin/awk`).
    pub link: String,
    /// Slave names and links (`nawk`, `/usr/bin/nawk`).
    pub slaves: Vec<(String, String)>,
    /// The alternatives: path, priority, and one path per slave (`None` when it has none).
    pub choices: Vec<Choice>,
}

/// One alternative of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// The file the master link points to.
    pub path: String,
    /// Its priority; `--auto` picks the highest.
    pub priority: i64,
    /// The file each slave link points to, in the group's slave order.
    pub slaves: Vec<Option<String>>,
}

/// Every link group in `root` (none when update-alternatives was never used).
pub fn read(root: &Path) -> Result<Vec<Group>, MinifyError> {
    let dir = root.join(ADMIN_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MinifyError::io("list", dir)(e)),
    };
    let mut groups = Vec::new();
    for entry in entries {
        let entry = entry.map_err(MinifyError::io("list", &dir))?;
        let text = std::fs::read_to_string(entry.path()).map_err(MinifyError::io("read", entry.path()))?;
        if let Some(group) = parse(&entry.file_name().to_string_lossy(), &text) {
            groups.push(group);
        }
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(groups)
}

/// An administrative file: status, master link, slave name/link pairs up to a blank line,
/// then per alternative its path, priority and one line per slave; a blank line ends it.
pub fn parse(name: &str, text: &str) -> Option<Group> {
    let mut lines = text.lines();
    let status = lines.next()?.to_owned();
    let link = lines.next()?.to_owned();
    let mut slaves = Vec::new();
    loop {
        let slave = lines.next()?;
        if slave.is_empty() {
            break;
        }
        slaves.push((slave.to_owned(), lines.next()?.to_owned()));
    }
    let mut choices = Vec::new();
    while let Some(path) = lines.next().filter(|l| !l.is_empty()) {
        let priority = lines.next()?.trim().parse().ok()?;
        let paths = (0..slaves.len())
            .map(|_| lines.next().map(|l| (!l.is_empty()).then(|| l.to_owned())))
            .collect::<Option<Vec<_>>>()?;
        choices.push(Choice { path: path.to_owned(), priority, slaves: paths });
    }
    Some(Group { status, name: name.to_owned(), link, slaves, choices })
}

/// The administrative file of `group`, as update-alternatives writes it.
pub fn render(group: &Group) -> String {
    let mut out = format!("{}\n{}\n", group.status, group.link);
    for (name, link) in &group.slaves {
        out.push_str(&format!("{name}\n{link}\n"));
    }
    out.push('\n');
    for choice in &group.choices {
        out.push_str(&format!("{}\n{}\n", choice.path, choice.priority));
        for slave in &choice.slaves {
            out.push_str(slave.as_deref().unwrap_or(""));
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

/// Drop from every administrative file the choices whose file `exists` says is gone, so that
/// update-alternatives offers only what is installed. Groups with no choice left were removed
/// by the plan already.
pub fn forget_missing(root: &Path, exists: impl Fn(&str) -> bool) -> Result<(), MinifyError> {
    for mut group in read(root)? {
        let before = group.choices.len();
        group.choices.retain(|c| exists(&c.path));
        if group.choices.len() != before && !group.choices.is_empty() {
            let path = root.join(ADMIN_DIR).join(&group.name);
            super::dpkg::write_atomically(&path, render(&group).as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrative_files_parse() {
        let text = "auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\nnawk\n/usr/bin/nawk\n\n\
                    /usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n/usr/bin/mawk\n\
                    /usr/bin/gawk\n10\n\n/usr/bin/gawk\n\n";
        let group = parse("awk", text).expect("parses");
        assert_eq!(group.link, "/usr/bin/awk");
        assert_eq!(group.slaves.len(), 2);
        assert_eq!(group.choices.len(), 2);
        assert_eq!(group.choices[1].priority, 10);
        assert_eq!(group.choices[1].slaves, [None, Some("/usr/bin/gawk".to_owned())]);
        assert_eq!(render(&group), text, "written back as read");
    }
}
