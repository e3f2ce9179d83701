// The status page: keeps DataMovers, Jobs, schedules and charts from the /events feed
// (server-sent events) and redraws what changed. Plain JavaScript; text is set with
// textContent only, never parsed as HTML.
"use strict";

const dms = new Map();   // "namespace/name" -> DataMover
const jobs = new Map();  // "namespace/name" -> {namespace, name, resourceVersion, status}
const RUNNING = new Set(["CreatingClonedPVC", "ClonedPVCReady", "CreatingPod", "CleaningUp"]);
const $ = (id) => document.getElementById(id);
const key = (ns, name) => ns + "/" + name;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function seconds(s) {
  s = Math.round(s);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

// Newer wins: a change can arrive twice (snapshot and feed).
function upsert(map, k, obj, version) {
  const old = map.get(k);
  if (old && Number(version(old)) > Number(version(obj))) return;
  map.set(k, obj);
}

// The live progress: the Job's (first to change), else the DataMover's mirror of it.
function progressOf(dm) {
  const st = dm.status || {};
  const job = st.jobName ? jobs.get(key(dm.metadata.namespace, st.jobName)) : undefined;
  const fromJob = job && job.status && job.status.progress;
  if (st.phase === "CreatingPod" && fromJob) return fromJob;
  return st.progress || fromJob;
}

function card(dm) {
  const k = key(dm.metadata.namespace, dm.metadata.name);
  const st = dm.status || {};
  const phase = st.phase || "Pending";
  const li = el("li", { "data-key": k, "data-phase": phase });
  const top = el("div", { class: "top" });
  top.append(el("h3", {}, k), el("span", { class: "phase" + (RUNNING.has(phase) ? " phase-running" : "") }, phase));
  li.append(top);
  const p = progressOf(dm);
  const bar = el("progress", { "aria-label": "Progress of " + k });
  let stats;
  if (phase === "Completed") {
    bar.max = 1; bar.value = 1;
    stats = (st.filesTransferred || 0) + " files, " + bytes(st.bytesTransferred || 0) + " copied" +
      (st.destination ? " to " + st.destination : "");
  } else if (p) {
    if (p.totalBytes) { bar.max = p.totalBytes; bar.value = p.bytes; }
    else if (p.bytes) { bar.max = p.bytes * 2; bar.value = p.bytes; }
    stats = bytes(p.bytes || 0) + (p.totalBytes ? " of " + bytes(p.totalBytes) : "") +
      " · " + bytes(p.bytesPerSecond || 0) + "/s" +
      (p.etaSeconds !== undefined && p.etaSeconds !== null ? " · " + seconds(p.etaSeconds) + " left" : "");
  } else {
    bar.max = 1; bar.value = 0;
    stats = phase === "Failed" ? "Stopped" : "Waiting for the sync to start";
  }
  li.append(bar, el("p", { class: "stats" }, stats));
  if (phase === "Failed" && st.lastError) li.append(el("p", { class: "reason" }, st.lastError));
  return li;
}

function drawDataMovers() {
  const filter = $("filter").value.trim().toLowerCase();
  const list = $("datamovers");
  const keys = [...dms.keys()].sort().filter((k) => k.toLowerCase().includes(filter));
  list.replaceChildren(...keys.map((k) => card(dms.get(k))));
  $("datamovers-empty").hidden = keys.length > 0;
  $("datamovers-empty").textContent = dms.size ? "No DataMover matches the filter." : "No DataMovers yet.";
  drawFailures();
}

// Why it failed: the reason of the condition that is False, and the last error.
function drawFailures() {
  const failed = [...dms.values()].filter((dm) => (dm.status || {}).phase === "Failed")
    .sort((a, b) => String(b.status.completionTime || "").localeCompare(String(a.status.completionTime || "")))
    .slice(0, 20);
  $("failures").replaceChildren(...failed.map((dm) => {
    const k = key(dm.metadata.namespace, dm.metadata.name);
    const st = dm.status;
    const conds = st.conditions || [];
    const cond = conds.find((c) => c.type === "Ready" && c.status === "False") || conds.find((c) => c.status === "False");
    const li = el("li", { "data-key": k });
    const top = el("div", { class: "top" });
    top.append(el("h3", {}, k), el("span", { class: "muted" }, st.completionTime || ""));
    li.append(top);
    if (cond && cond.reason) li.append(el("p", { class: "reason", "data-reason": cond.reason }, cond.reason));
    li.append(el("p", { class: "message" }, st.lastError || (cond && cond.message) || "No reason recorded"));
    return li;
  }));
  $("failures-empty").hidden = failed.length > 0;
}

// A schedule's backups, fetched from the catalogue when its list is opened (and kept
// across redraws): "namespace/name" -> {open, rows, error}.
const backups = new Map();

function backupsOf(ns, name) {
  const k = key(ns, name);
  const state = backups.get(k) || { open: false };
  const details = el("details", { class: "backups" });
  details.open = state.open;
  details.append(el("summary", {}, "Backups"));
  const body = el("div", { class: "backups-body", "aria-live": "polite" });
  details.append(body);
  const show = (st) => {
    if (st.error) { body.replaceChildren(el("p", { class: "reason" }, st.error)); return; }
    if (!st.rows) { body.replaceChildren(el("p", { class: "muted" }, "Listing…")); return; }
    if (st.rows.length === 0) { body.replaceChildren(el("p", { class: "muted" }, "No backups at the destination.")); return; }
    const list = el("ul", { class: "backup-list" });
    for (const b of st.rows) {
      const item = el("li", { "data-backup": b.name });
      item.append(el("span", { class: "backup-name" }, b.name),
        el("span", { class: "muted" }, bytes(b.size) + ", " + b.files + (b.files === 1 ? " file" : " files")));
      list.append(item);
    }
    body.replaceChildren(list);
  };
  show(state);
  details.addEventListener("toggle", () => {
    const now = backups.get(k) || {};
    // A redraw restoring an open list that has its answer: nothing to fetch.
    if (details.open && now.open && (now.rows || now.error)) return;
    now.open = details.open;
    backups.set(k, now);
    if (!details.open) return;
    now.rows = undefined; now.error = undefined;
    show(now);
    fetch("/backups?namespace=" + encodeURIComponent(ns) + "&schedule=" + encodeURIComponent(name),
      { credentials: "same-origin" })
      .then((r) => r.json().then((j) => (r.ok ? { rows: j.items || [] } : { error: j.error || ("HTTP " + r.status) })))
      .catch((e) => ({ error: String(e) }))
      .then((st) => { Object.assign(now, st); show(now); });
  });
  return details;
}

function drawSchedules(s) {
  const items = (s && s.items) || [];
  $("schedules").replaceChildren(...items.map((sc) => {
    const m = sc.metadata || {}, spec = sc.spec || {}, st = sc.status || {};
    const li = el("li", { "data-key": key(m.namespace || "default", m.name || "") });
    const top = el("div", { class: "top" });
    top.append(el("h3", {}, key(m.namespace || "default", m.name || "")),
      el("span", { class: "phase" }, spec.suspend ? "Suspended" : "Active"));
    const next = st.nextScheduleTime || st.nextRunTime || st.nextRun;
    li.append(top, el("p", {}, "Schedule: " + (spec.schedule || "—")),
      el("p", { class: "next-run" }, "Next run: " + (spec.suspend ? "suspended" : next || "—")));
    if (st.lastScheduleTime) li.append(el("p", { class: "stats" }, "Last run: " + st.lastScheduleTime));
    li.append(backupsOf(m.namespace || "default", m.name || ""));
    return li;
  }));
  $("schedules-empty").hidden = items.length > 0;
}

function drawCharts(c) {
  if (!c) return;
  $("sample-seconds").textContent = c.sampleSeconds;
  const pts = c.throughput || [];
  const svg = $("throughput");
  svg.replaceChildren();
  if (pts.length) {
    const peak = Math.max(1, ...pts.map((p) => p.bytesPerSecond));
    const t0 = Date.now() - 3600e3;
    // One bar per sample, placed by its time in the hour, as tall as its rate.
    const width = Math.max(1, 300 / 360);
    for (const p of pts) {
      const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      const h = (p.bytesPerSecond / peak) * 95;
      bar.setAttribute("x", Math.min(300 - width, Math.max(0, (p.t - t0) / 3600e3) * 300).toFixed(1));
      bar.setAttribute("y", (100 - h).toFixed(1));
      bar.setAttribute("width", width.toFixed(2));
      bar.setAttribute("height", h.toFixed(1));
      svg.append(bar);
    }
    const last = pts[pts.length - 1].bytesPerSecond;
    $("throughput-summary").textContent = "Now " + bytes(last) + "/s; peak " + bytes(peak) + "/s over " + pts.length + " samples.";
  }
  const phases = c.phases || [];
  const longest = Math.max(0.001, ...phases.map((p) => p.meanSeconds));
  $("phases").replaceChildren(...phases.map((p) => {
    const li = el("li", { "data-phase": p.phase });
    const bar = el("span", { class: "bar" });
    bar.style.width = ((p.meanSeconds / longest) * 100).toFixed(1) + "%";
    li.append(el("span", {}, p.phase), bar, el("span", {}, p.meanSeconds.toFixed(2) + " s × " + p.count));
    return li;
  }));
  $("phases-empty").hidden = phases.length > 0;
  const ok = c.syncs.succeeded, bad = c.syncs.failed, all = ok + bad;
  $("success-meter").value = all ? ok / all : 0;
  const hour = c.syncsLastHour, hourAll = hour.succeeded + hour.failed;
  $("success-summary").textContent = all
    ? ok + " of " + all + " syncs succeeded (" + Math.round((100 * ok) / all) + "%)" +
      (hourAll ? "; last hour " + hour.succeeded + " of " + hourAll + "." : ".")
    : "No syncs yet.";
}

function connect() {
  const es = new EventSource("/events");
  const on = (name, fn) => es.addEventListener(name, (e) => { fn(JSON.parse(e.data)); });
  es.onopen = () => { $("connection").textContent = "Live"; };
  es.onerror = () => {
    $("connection").textContent = es.readyState === EventSource.CLOSED
      ? "Disconnected: reload the page to sign in again." : "Reconnecting…";
  };
  on("snapshot", (s) => {
    dms.clear(); jobs.clear();
    for (const dm of s.datamovers) dms.set(key(dm.metadata.namespace, dm.metadata.name), dm);
    for (const j of s.jobs) jobs.set(key(j.namespace, j.name), j);
    drawDataMovers(); drawSchedules(s.schedules); drawCharts(s.charts);
  });
  on("datamover", (dm) => {
    upsert(dms, key(dm.metadata.namespace, dm.metadata.name), dm, (o) => o.metadata.resourceVersion);
    drawDataMovers();
  });
  on("job", (j) => { upsert(jobs, key(j.namespace, j.name), j, (o) => o.resourceVersion); drawDataMovers(); });
  on("deleted", (d) => {
    (d.kind === "Job" ? jobs : dms).delete(key(d.namespace, d.name));
    drawDataMovers();
  });
  on("charts", drawCharts);
  on("schedules", drawSchedules);
}

document.addEventListener("DOMContentLoaded", () => {
  $("filter").addEventListener("input", drawDataMovers);
  connect();
});
