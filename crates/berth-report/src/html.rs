//! The HTML report of a pipeline run: one file, inline CSS and SVG, no script and no external
//! asset, so it opens anywhere and can be archived or mailed as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use berth_store::{FileRole, PipelineRunRecord, RunRecord, TaskStatus};

use crate::millis;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Succeeded => "#2e7d32",
        TaskStatus::Cached => "#81c784",
        TaskStatus::Failed => "#c62828",
        TaskStatus::Skipped => "#9e9e9e",
        TaskStatus::Cancelled => "#757575",
        TaskStatus::Running => "#1565c0",
        TaskStatus::Queued => "#bdbdbd",
    }
}

fn file_url(path: &std::path::Path) -> String {
    let p = path.to_string_lossy();
    let mut out = String::from("file://");
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn seconds(a: Option<&str>, b: Option<&str>) -> Option<f64> {
    Some((millis(b)? - millis(a)?) as f64 / 1000.0)
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em}table{border-collapse:collapse;margin:1em 0}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.status{color:#fff;border-radius:3px;padding:0 6px;font-size:12px}
.fail{background:#ffebee}.mono{font-family:ui-monospace,monospace;font-size:12px}
details{margin:2px 0}summary{cursor:pointer}.counts span{margin-right:1em}
svg text{font:11px system-ui,sans-serif}";

/// The report of a pipeline run; `runs` holds the task runs by id (missing ones are shown
/// without their details).
pub fn render_html(p: &PipelineRunRecord, runs: &BTreeMap<String, RunRecord>) -> String {
    let mut h = String::new();
    let title = format!("berth pipeline run {} — {}", p.new.name, p.status.as_str());
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        h,
        "<p class=\"mono\">run {} · file {} (sha256 {}) · host {} · started {} · finished {}{}</p>",
        esc(&p.id),
        esc(&p.new.file_path),
        esc(&p.new.file_sha256),
        esc(&p.new.owner_host),
        esc(p.started_at.as_deref().unwrap_or("-")),
        esc(p.finished_at.as_deref().unwrap_or("-")),
        seconds(p.started_at.as_deref(), p.finished_at.as_deref()).map(|s| format!(" ({s:.1} s)")).unwrap_or_default()
    );
    if let Some(m) = &p.status_message {
        let _ = writeln!(h, "<p class=\"fail\">{}</p>", esc(m));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &p.tasks {
        *counts.entry(t.status.as_str()).or_insert(0) += 1;
    }
    h.push_str("<p class=\"counts\">");
    let _ = write!(h, "<span><b>{}</b> tasks</span>", p.tasks.len());
    for (k, v) in &counts {
        let _ = write!(h, "<span><b>{v}</b> {}</span>", esc(k));
    }
    let _ = writeln!(h, "<span>output <span class=\"mono\">{}</span></span></p>", esc(&p.new.output_dir));
    h.push_str(&timeline(p));
    h.push_str(&task_table(p, runs));
    h.push_str("</body></html>\n");
    h
}

/// A Gantt-like SVG: one row per task (grouped by step, in expansion order), a bar from start
/// to end coloured by status, a time axis with ticks.
fn timeline(p: &PipelineRunRecord) -> String {
    let spans: Vec<(Option<i64>, Option<i64>)> =
        p.tasks.iter().map(|t| (millis(t.started_at.as_deref()), millis(t.finished_at.as_deref()))).collect();
    let t0 = spans.iter().filter_map(|s| s.0).min();
    let t1 = spans.iter().filter_map(|s| s.1.or(s.0)).max();
    let (Some(t0), Some(t1)) = (t0, t1) else {
        return "<p>No task has started.</p>\n".to_string();
    };
    let total = (t1 - t0).max(1) as f64;
    let (label_w, plot_w, row_h, top) = (220.0, 760.0, 14.0, 24.0);
    let height = top + row_h * p.tasks.len() as f64 + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<h2>Timeline</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"task timeline\">",
        label_w + plot_w + 20.0
    );
    // Axis: about eight ticks at round steps.
    let raw = total / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw).max(1.0);
    let mut tick = 0.0;
    while tick <= total {
        let x = label_w + tick / total * plot_w;
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{height}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            top - 4.0,
            if total >= 10_000.0 { format!("{:.0}s", tick / 1000.0) } else { format!("{:.1}s", tick / 1000.0) }
        );
        tick += step;
    }
    let mut last_step = "";
    for (i, (t, span)) in p.tasks.iter().zip(&spans).enumerate() {
        let y = top + row_h * i as f64;
        if t.step != last_step {
            let _ =
                writeln!(s, "<line x1=\"0\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ccc\"/>", label_w + plot_w);
            last_step = &t.step;
        }
        let _ = writeln!(s, "<text x=\"2\" y=\"{:.1}\">{}</text>", y + row_h - 3.0, esc(&t.key));
        if let Some(a) = span.0 {
            let b = span.1.unwrap_or(t1);
            let x = label_w + (a - t0) as f64 / total * plot_w;
            let w = ((b - a) as f64 / total * plot_w).max(2.0);
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {} ({:.2} s)</title></rect>",
                y + 2.0,
                row_h - 4.0,
                colour(t.status),
                esc(&t.key),
                t.status.as_str(),
                (b - a) as f64 / 1000.0
            );
        }
    }
    s.push_str("</svg>\n<p>");
    for st in
        [TaskStatus::Succeeded, TaskStatus::Cached, TaskStatus::Failed, TaskStatus::Skipped, TaskStatus::Cancelled]
    {
        let _ = write!(s, "<span class=\"status\" style=\"background:{}\">{}</span> ", colour(st), st.as_str());
    }
    s.push_str("</p>\n");
    s
}

fn task_table(p: &PipelineRunRecord, runs: &BTreeMap<String, RunRecord>) -> String {
    let mut s = String::from(
        "<h2>Tasks</h2>\n<table><tr><th>task</th><th>status</th><th>attempts</th><th>seconds</th><th>run</th><th>logs</th><th>provenance</th></tr>\n",
    );
    for t in &p.tasks {
        let run = t.run_id.as_ref().and_then(|id| runs.get(id));
        let secs =
            seconds(t.started_at.as_deref(), t.finished_at.as_deref()).map(|s| format!("{s:.2}")).unwrap_or_default();
        let class = if t.status == TaskStatus::Failed { " class=\"fail\"" } else { "" };
        let _ = write!(
            s,
            "<tr{class}><td class=\"mono\">{}</td><td><span class=\"status\" style=\"background:{}\">{}</span></td><td>{}</td><td>{secs}</td><td class=\"mono\">{}{}</td>",
            esc(&t.key),
            colour(t.status),
            t.status.as_str(),
            t.attempts,
            esc(t.run_id.as_deref().unwrap_or("-")),
            if t.status == TaskStatus::Cached { " (reused)" } else { "" },
        );
        match run {
            Some(r) => {
                let _ = write!(
                    s,
                    "<td><a href=\"{}\">stdout</a> <a href=\"{}\">stderr</a></td>",
                    esc(&file_url(&r.stdout_path)),
                    esc(&file_url(&r.stderr_path))
                );
                s.push_str("<td><details><summary>record</summary><div class=\"mono\">");
                let _ = write!(s, "tool {} {}<br>", esc(&r.new.tool_name), esc(&r.new.tool_version));
                let _ = write!(
                    s,
                    "image {} {}<br>",
                    esc(r.new.image_ref.as_deref().unwrap_or("-")),
                    esc(r.update.image_digest.as_deref().or(r.update.image_id.as_deref()).unwrap_or(""))
                );
                let _ = write!(s, "command {}<br>", esc(&r.new.command_line));
                for f in &r.files {
                    let role = match f.role {
                        FileRole::Input => "in",
                        FileRole::Output => "out",
                        FileRole::Config => "config",
                    };
                    let _ = write!(
                        s,
                        "{role} {} {} {}<br>",
                        esc(&f.key),
                        esc(&f.path),
                        esc(f.sha256.as_deref().map(|h| &h[..12.min(h.len())]).unwrap_or("missing"))
                    );
                }
                s.push_str("</div></details></td>");
            }
            None => s.push_str("<td></td><td></td>"),
        }
        s.push_str("</tr>\n");
        if let Some(m) = &t.message
            && t.status != TaskStatus::Succeeded
        {
            let _ = writeln!(s, "<tr{class}><td></td><td colspan=\"6\">{}</td></tr>", esc(m));
        }
    }
    s.push_str("</table>\n");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use berth_store::{NewPipelineRun, RunStatus, TaskRecord};

    fn task(key: &str, status: TaskStatus, start: &str, end: &str, message: Option<&str>) -> TaskRecord {
        TaskRecord {
            seq: 0,
            key: key.into(),
            step: key.split('/').next().unwrap().into(),
            participant: None,
            session: None,
            item_json: None,
            status,
            attempts: 1,
            run_id: None,
            cached_from: None,
            started_at: Some(start.into()),
            finished_at: Some(end.into()),
            message: message.map(Into::into),
            runs: vec![],
        }
    }

    fn record(tasks: Vec<TaskRecord>) -> PipelineRunRecord {
        PipelineRunRecord {
            id: "01a2-x".into(),
            new: NewPipelineRun {
                name: "demo<b>".into(),
                file_path: "/p.yaml".into(),
                file_sha256: "ab".into(),
                file_text: String::new(),
                params_json: "{}".into(),
                dataset: None,
                options_json: "{}".into(),
                output_dir: "/out".into(),
                work_dir: "/out/.w".into(),
                owner_pid: 1,
                owner_host: "h".into(),
                owner_started_at: None,
            },
            status: RunStatus::Failed,
            status_message: Some("step `a` failed".into()),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            started_at: Some("2026-01-01T00:00:00.000Z".into()),
            finished_at: Some("2026-01-01T00:00:10.000Z".into()),
            tasks,
        }
    }

    #[test]
    fn escapes_everything_and_draws_every_task() {
        let r = record(vec![
            task("a/sub-01", TaskStatus::Succeeded, "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:04.000Z", None),
            task(
                "a/sub-02",
                TaskStatus::Failed,
                "2026-01-01T00:00:01.000Z",
                "2026-01-01T00:00:09.000Z",
                Some("<script>alert(1)</script>"),
            ),
            task("b", TaskStatus::Cached, "2026-01-01T00:00:09.000Z", "2026-01-01T00:00:09.000Z", None),
        ]);
        let html = render_html(&r, &BTreeMap::new());
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("demo&lt;b&gt;"));
        assert_eq!(html.matches("<rect").count(), 3);
        assert!(html.contains("class=\"fail\""));
    }

    #[test]
    fn many_tasks_and_none_started() {
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                task(
                    &format!("s/{i}"),
                    TaskStatus::Succeeded,
                    "2026-01-01T00:00:00.000Z",
                    "2026-01-01T00:01:00.000Z",
                    None,
                )
            })
            .collect();
        assert_eq!(render_html(&record(tasks), &BTreeMap::new()).matches("<rect").count(), 500);
        let mut t = task("s", TaskStatus::Queued, "", "", None);
        t.started_at = None;
        t.finished_at = None;
        assert!(render_html(&record(vec![t]), &BTreeMap::new()).contains("No task has started"));
    }
}
