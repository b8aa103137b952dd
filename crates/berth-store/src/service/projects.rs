//! Projects (data roots, members) and which tools are enabled on the site and in each project.

use rusqlite::{OptionalExtension, Transaction, params};

use super::users::get_user;
use super::*;
use crate::store::{Store, StoreError, sql};
use crate::time;

impl Store {
    /// Adds a project.
    pub fn add_project(&self, id: &str, title: &str, data_roots: &[String]) -> Result<Project, StoreError> {
        const OP: &str = "adding a project";
        valid_name("project", id)?;
        let now = time::now();
        let roots =
            serde_json::to_string(data_roots).map_err(|source| StoreError::Json { what: "data roots", source })?;
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO projects (id, title, data_roots_json, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, title, roots, now],
                )
                .map_err(sql(OP))?;
            if n == 0 {
                return Err(StoreError::AlreadyExists { kind: "project", name: id.to_owned() });
            }
            get_project(tx, id, OP)
        })
    }

    /// Replaces a project's data roots.
    pub fn set_data_roots(&self, id: &str, data_roots: &[String]) -> Result<Project, StoreError> {
        const OP: &str = "setting a project's data roots";
        let roots =
            serde_json::to_string(data_roots).map_err(|source| StoreError::Json { what: "data roots", source })?;
        self.write(OP, |tx| {
            get_project(tx, id, OP)?;
            tx.execute("UPDATE projects SET data_roots_json = ?2 WHERE id = ?1", params![id, roots])
                .map_err(sql(OP))?;
            get_project(tx, id, OP)
        })
    }

    /// Adds `user` to `project` (nothing happens if they are a member already).
    pub fn add_member(&self, project: &str, user: &str) -> Result<(), StoreError> {
        const OP: &str = "adding a project member";
        self.write(OP, |tx| {
            get_project(tx, project, OP)?;
            get_user(tx, user, OP)?;
            tx.execute(
                "INSERT OR IGNORE INTO project_members (project_id, user_name) VALUES (?1, ?2)",
                params![project, user],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Removes `user` from `project`.
    pub fn remove_member(&self, project: &str, user: &str) -> Result<bool, StoreError> {
        const OP: &str = "removing a project member";
        self.write(OP, |tx| {
            tx.execute("DELETE FROM project_members WHERE project_id = ?1 AND user_name = ?2", params![project, user])
                .map(|n| n > 0)
                .map_err(sql(OP))
        })
    }

    /// One project.
    pub fn get_project(&self, id: &str) -> Result<Project, StoreError> {
        const OP: &str = "reading a project";
        self.read(OP, |tx| get_project(tx, id, OP))
    }

    /// The projects `user` belongs to (every project for `None`), by id.
    pub fn list_projects(&self, user: Option<&str>) -> Result<Vec<Project>, StoreError> {
        const OP: &str = "listing projects";
        self.read(OP, |tx| {
            let ids: Vec<String> = match user {
                None => {
                    let mut stmt = tx.prepare("SELECT id FROM projects ORDER BY id").map_err(sql(OP))?;
                    let rows = stmt.query_map([], |r| r.get(0)).map_err(sql(OP))?;
                    rows.collect::<Result<_, _>>().map_err(sql(OP))?
                }
                Some(u) => {
                    let mut stmt = tx
                        .prepare("SELECT project_id FROM project_members WHERE user_name = ?1 ORDER BY project_id")
                        .map_err(sql(OP))?;
                    let rows = stmt.query_map([u], |r| r.get(0)).map_err(sql(OP))?;
                    rows.collect::<Result<_, _>>().map_err(sql(OP))?
                }
            };
            ids.iter().map(|id| get_project(tx, id, OP)).collect()
        })
    }

    /// Enables or disables a tool on the site (`project: None`) or in a project; `defaults`
    /// (projects only) replaces the project's default inputs when given.
    pub fn set_tool_setting(
        &self,
        project: Option<&str>,
        tool: &str,
        enabled: bool,
        defaults: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<ToolSetting, StoreError> {
        const OP: &str = "setting a tool's availability";
        let defaults_json = defaults
            .map(serde_json::to_string)
            .transpose()
            .map_err(|source| StoreError::Json { what: "default inputs", source })?;
        self.write(OP, |tx| {
            if let Some(p) = project {
                get_project(tx, p, OP)?;
            }
            let exists: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM tools WHERE name = ?1)", [tool], |r| r.get(0))
                .map_err(sql(OP))?;
            if !exists {
                return Err(StoreError::NoSuchTool { name: tool.to_owned(), version: None, versions: Vec::new() });
            }
            tx.execute(
                "INSERT INTO tool_settings (scope, tool_name, enabled, defaults_json) VALUES (?1, ?2, ?3, COALESCE(?4, '{}'))
                 ON CONFLICT (scope, tool_name) DO UPDATE SET enabled = excluded.enabled,
                     defaults_json = COALESCE(?4, tool_settings.defaults_json)",
                params![scope_of(project), tool, enabled, defaults_json],
            )
            .map_err(sql(OP))?;
            tool_setting(tx, project, tool, OP)
        })
    }

    /// The setting of `tool` on the site (`None`) or in a project: the stored one, or the
    /// default (enabled on the site, disabled in a project, no defaults).
    pub fn tool_setting(&self, project: Option<&str>, tool: &str) -> Result<ToolSetting, StoreError> {
        const OP: &str = "reading a tool's availability";
        self.read(OP, |tx| tool_setting(tx, project, tool, OP))
    }
}

pub(super) fn valid_name(kind: &'static str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if ok { Ok(()) } else { Err(StoreError::InvalidName { kind, name: name.to_owned() }) }
}

fn scope_of(project: Option<&str>) -> &str {
    project.unwrap_or("")
}

fn get_project(tx: &Transaction<'_>, id: &str, op: &'static str) -> Result<Project, StoreError> {
    let row = tx
        .query_row("SELECT id, title, data_roots_json, created_at FROM projects WHERE id = ?1", [id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .optional()
        .map_err(sql(op))?
        .ok_or_else(|| StoreError::NotFound { kind: "project", name: id.to_owned() })?;
    let mut stmt = tx
        .prepare("SELECT user_name FROM project_members WHERE project_id = ?1 ORDER BY user_name")
        .map_err(sql(op))?;
    let members =
        stmt.query_map([id], |r| r.get(0)).map_err(sql(op))?.collect::<Result<Vec<String>, _>>().map_err(sql(op))?;
    Ok(Project {
        id: row.0,
        title: row.1,
        data_roots: serde_json::from_str(&row.2).map_err(|source| StoreError::Json { what: "data roots", source })?,
        members,
        created_at: row.3,
    })
}

fn tool_setting(
    tx: &Transaction<'_>,
    project: Option<&str>,
    tool: &str,
    op: &'static str,
) -> Result<ToolSetting, StoreError> {
    let row = tx
        .query_row(
            "SELECT enabled, defaults_json FROM tool_settings WHERE scope = ?1 AND tool_name = ?2",
            params![scope_of(project), tool],
            |r| Ok((r.get::<_, bool>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(sql(op))?;
    let (enabled, defaults) = match row {
        Some((e, d)) => {
            (e, serde_json::from_str(&d).map_err(|source| StoreError::Json { what: "default inputs", source })?)
        }
        None => (project.is_none(), serde_json::Map::new()),
    };
    Ok(ToolSetting { project: project.map(str::to_owned), tool_name: tool.to_owned(), enabled, defaults })
}
