// berth web UI: live runs table, live logs, the launch form. No framework, no build step.
"use strict";

async function api(method, url, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  // State changes made with the session cookie carry the page's CSRF token.
  const csrf = document.querySelector('meta[name="csrf-token"]');
  if (method !== "GET" && csrf) opts.headers["X-CSRF-Token"] = csrf.content;
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const resp = await fetch(url, opts);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  return { ok: resp.ok, status: resp.status, data };
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function describeError(data) {
  if (!data || typeof data !== "object") return String(data);
  let msg = data.error || "request failed";
  for (const p of data.problems || []) msg += "\n• " + (p.at ? p.at + ": " : "") + p.message;
  if (data.hint) msg += "\n" + data.hint;
  return msg;
}

// Runs table: refresh every 2 s.
function liveRuns(table) {
  const body = table.querySelector("tbody");
  async function refresh() {
    const r = await api("GET", table.dataset.live);
    if (r.ok) {
      body.replaceChildren(...r.data.items.map((run) => el("tr", { "data-id": run.id },
        el("td", {}, el("a", { href: "/ui/runs/" + run.id }, el("code", {}, run.id.slice(0, 13)))),
        el("td", {}, el("span", { class: "badge " + run.status }, run.status)),
        el("td", {}, run.tool + " " + run.tool_version), el("td", {}, run.project), el("td", {}, run.user),
        el("td", {}, run.created_at), el("td", {}, run.exit_code === null ? "" : String(run.exit_code)))));
      const none = document.getElementById("no-runs");
      if (none && r.data.items.length) none.remove();
    }
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
}

// A log <pre>: follow the server-sent events until the run ends.
function liveLog(pre) {
  const source = new EventSource(pre.dataset.live);
  source.addEventListener("chunk", (e) => { pre.append(JSON.parse(e.data)); pre.scrollTop = pre.scrollHeight; });
  source.addEventListener("status", (e) => {
    const badge = document.getElementById("status");
    if (badge) { badge.textContent = e.data; badge.className = "badge " + e.data; }
  });
  source.addEventListener("end", () => {
    source.close();
    // The page was rendered before the run ended: show its final record (outputs, exit code).
    const badge = document.getElementById("status");
    if (badge && badge.dataset.terminal !== "true") {
      badge.dataset.terminal = "true";
      location.reload();
    }
  });
}

// The launch form: typed values from the fields, then the API.
function collectInputs(form) {
  const inputs = {};
  const problems = [];
  for (const field of form.querySelectorAll(".field[data-input]")) {
    const id = field.dataset.input, kind = field.dataset.kind;
    const list = field.dataset.list === "true", required = field.dataset.required === "true";
    const control = field.querySelector("input, select, textarea");
    let value;
    if (kind === "flag") {
      if (control.checked) inputs[id] = true;
      continue;
    } else if (control.tagName === "SELECT" && control.multiple) {
      value = Array.from(control.selectedOptions).map((o) => o.value);
      if (!value.length) value = undefined;
    } else if (list) {
      value = control.value.split("\n").map((s) => s.trim()).filter((s) => s.length);
      if (!value.length) value = undefined;
      else if (kind === "number") value = value.map(Number);
    } else {
      value = control.value.trim();
      if (value === "") value = undefined;
      else if (kind === "number") value = Number(value);
    }
    if (value === undefined) {
      if (required) problems.push(id + " is required");
      continue;
    }
    inputs[id] = value;
  }
  return { inputs, problems };
}

function launchForm(form) {
  const result = document.getElementById("launch-result");
  async function submit(dryRun) {
    const { inputs, problems } = collectInputs(form);
    if (problems.length) { result.replaceChildren(el("pre", { class: "error" }, problems.join("\n"))); return; }
    const project = form.querySelector("#project").value;
    const body = { tool: form.dataset.tool, version: form.dataset.version, inputs, dry_run: dryRun };
    result.replaceChildren(el("p", {}, dryRun ? "Checking…" : "Launching…"));
    const r = await api("POST", "/api/v1/projects/" + encodeURIComponent(project) + "/launch", body);
    if (!r.ok) { result.replaceChildren(el("pre", { class: "error", id: "launch-error" }, describeError(r.data))); return; }
    if (dryRun) {
      result.replaceChildren(el("h3", {}, "Command"), el("pre", { id: "dry-run-command" }, r.data.command_line),
        el("p", { class: "help" }, "Image " + r.data.image));
    } else {
      location.href = "/ui/runs/" + r.data.id;
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(false); });
  document.getElementById("dry-run").addEventListener("click", () => submit(true));
}

// Admin forms: <form class="api" data-method data-url [data-body] [data-show] [data-confirm]>.
// Fields become a JSON body (a textarea with data-lines gives a list); `{field}` in the URL is
// replaced by that field's value (URL-encoded) and left out of the body. Success reloads the
// page, or shows the returned field named by data-show (a new token, shown once).
function apiForm(form) {
  const result = document.getElementById("admin-result");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    let url = form.dataset.url;
    const body = form.dataset.body ? JSON.parse(form.dataset.body) : {};
    for (const c of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      let v = c.value.trim();
      if (url.includes("{" + c.name + "}")) { url = url.replace("{" + c.name + "}", encodeURIComponent(v)); continue; }
      if (c.dataset.lines === "true") { body[c.name] = v.split("\n").map((s) => s.trim()).filter((s) => s.length); continue; }
      if (v !== "") body[c.name] = v;
    }
    const method = form.dataset.method;
    if (form.dataset.busy) result.replaceChildren(el("p", { id: "busy" }, form.dataset.busy));
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    const r = await api(method, url, method === "DELETE" ? undefined : body);
    for (const b of form.querySelectorAll("button")) b.disabled = false;
    if (!r.ok) { result.replaceChildren(el("pre", { class: "error", id: "admin-error" }, describeError(r.data))); return; }
    if (form.dataset.show) {
      result.replaceChildren(el("div", { class: "card", id: "new-token" },
        el("p", {}, "The new token for " + r.data.user + " (copy it now: it is not shown again):"),
        el("pre", {}, r.data[form.dataset.show])));
      return;
    }
    location.reload();
  });
}

// The pipeline start form: the ticked participants and sessions, the parameters, then the API.
function pipelineForm(form) {
  const result = document.getElementById("pipeline-result");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ticked = (name) => Array.from(form.querySelectorAll("input[name=" + name + "]:checked")).map((c) => c.value);
    const body = {
      file: form.dataset.file,
      participant_label: ticked("participant"),
      session_label: ticked("session"),
      analysis_level: form.querySelector("#level").value,
      params: {},
      keep_going: form.querySelector("input[name=keep_going]").checked,
      no_cache: form.querySelector("input[name=no_cache]").checked,
    };
    const bids = form.querySelector("#bids").value.trim();
    if (bids) body.bids = bids;
    for (const p of form.querySelectorAll("input[data-param]")) body.params[p.dataset.param] = p.value;
    result.replaceChildren(el("p", {}, "Checking and starting…"));
    const r = await api("POST", "/api/v1/pipelines", body);
    if (!r.ok) { result.replaceChildren(el("pre", { class: "error", id: "pipeline-error" }, describeError(r.data))); return; }
    location.href = "/ui/pipelines";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const pf = document.getElementById("pipeline-form");
  if (pf) pipelineForm(pf);
  for (const f of document.querySelectorAll("form.api")) apiForm(f);
  const runs = document.getElementById("runs");
  if (runs && runs.dataset.live) liveRuns(runs);
  for (const pre of document.querySelectorAll("pre[data-live]")) liveLog(pre);
  const form = document.getElementById("launch-form");
  if (form) launchForm(form);
  const kill = document.getElementById("kill-form");
  if (kill) kill.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("POST", "/api/v1/runs/" + kill.dataset.id + "/kill");
    if (!r.ok) alert(describeError(r.data)); else location.reload();
  });
});
