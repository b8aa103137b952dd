//! The inventory as aligned columns, for a terminal.

use std::fmt::Write as _;

use berth_config::text::terminal_safe as safe;

use crate::model::{Inventory, Origin};

/// Render the table: a header naming the target and its OS, then one line per package. Every
/// string read from the target is shown through [`safe`] (an image's package database can hold
/// terminal escape sequences).
pub fn render(inventory: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "target: {}", safe(&inventory.target.name));
    match &inventory.os {
        Some(os) => {
            let _ = writeln!(out, "os:     {} {} ({})", safe(&os.id), safe(&os.version), os.family);
        }
        None => {
            let _ = writeln!(out, "os:     unknown");
        }
    }
    let _ = writeln!(out, "layers: {}   packages: {}", inventory.layers.len(), inventory.packages.len());
    out.push('\n');
    let rows: Vec<[String; 6]> = inventory
        .packages
        .iter()
        .map(|p| {
            let source = match (&p.source_name, &p.source_version) {
                (Some(n), Some(v)) if *n == p.name && *v == p.version => String::new(),
                (Some(n), Some(v)) if *v == p.version => n.clone(),
                (Some(n), Some(v)) => format!("{n} {v}"),
                (Some(n), None) => n.clone(),
                _ => String::new(),
            };
            let origin = match &p.origin {
                Origin::Distribution => String::new(),
                Origin::ThirdParty { repository, .. } => repository.clone(),
            };
            [
                p.kind.to_string(),
                safe(&p.name).into_owned(),
                safe(&p.version).into_owned(),
                safe(&source).into_owned(),
                p.layer.map(|l| l.to_string()).unwrap_or_default(),
                safe(&origin).into_owned(),
            ]
        })
        .collect();
    let header = ["KIND", "NAME", "VERSION", "SOURCE", "LAYER", "ORIGIN"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !inventory.unowned.is_empty() {
        let _ = writeln!(out, "\nbinaries no package owns: {}", inventory.unowned.len());
        for f in &inventory.unowned {
            let built = match (&f.toolchain, &f.main) {
                (Some(t), Some(m)) => format!("  {}, {}, {} modules", safe(t), safe(m), f.attributed),
                (Some(t), None) => format!("  {}", safe(t)),
                _ => String::new(),
            };
            let sha = f.sha256.as_deref().map_or("(not read)", |s| &s[..s.len().min(16)]);
            let _ = writeln!(out, "  /{}  {}  {} bytes  sha256:{sha}{built}", safe(&f.path), f.kind.as_str(), f.size);
        }
    }
    if !inventory.warnings.is_empty() {
        out.push('\n');
        for w in &inventory.warnings {
            let _ = writeln!(out, "warning: {}", safe(w));
        }
    }
    out
}
