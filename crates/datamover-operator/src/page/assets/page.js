// The console: keeps DataMovers, Jobs, restores, schedules and charts from the /events feed
// (server-sent events) and redraws what changed; its buttons and forms post to /actions/*
// with the session's token against cross-site requests. Plain JavaScript; text is set with
// textContent only, never parsed as HTML.
"use strict";

const dms = new Map();   // "namespace/name" -> DataMover
const jobs = new Map();  // "namespace/name" -> {namespace, name, resourceVersion, status}
const restores = new Map(); // "namespace/name" -> restore (a PVC filled from a backup)
let schedules = { items: [] };
const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
const RUNNING = new Set(["CreatingClonedPVC", "ClonedPVCReady", "CreatingPod", "CleaningUp"]);
const $ = (id) => document.getElementById(id);
const key = (ns, name) => ns + "/" + name;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Makes `list`'s children `children`, keeping each card whose data-sig (what it was drawn
// from) is unchanged: the feed redraws while people use the page, and a kept card keeps its
// listeners, an open list and a click in progress. Keyboard focus stays on the control it
// was on (by its data-focus id) when its card is drawn anew.
function redraw(list, children) {
  const active = document.activeElement;
  const id = active && list.contains(active) ? active.dataset.focus : undefined;
  const old = new Map([...list.children].map((c) => [c.dataset.key, c]));
  const next = children.map((c) => {
    const o = old.get(c.dataset.key);
    return o && c.dataset.sig !== undefined && o.dataset.sig === c.dataset.sig ? o : c;
  });
  const now = [...list.children];
  if (next.length === now.length && next.every((c, i) => c === now[i])) return;
  list.replaceChildren(...next);
  if (id && !list.contains(document.activeElement)) {
    const again = list.querySelector('[data-focus="' + CSS.escape(id) + '"]');
    if (again) again.focus();
  }
}

// POSTs an action; resolves to {ok, status, body}.
function act(path, body) {
  return fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json", "x-datamover-csrf": CSRF },
    body: JSON.stringify(body),
  }).then((r) => r.json().catch(() => ({})).then((j) => ({ ok: r.ok, status: r.status, body: j })))
    .catch((e) => ({ ok: false, status: 0, body: { error: String(e) } }));
}

// Gives the focus back to `opener`, or to what replaced it in a redraw (same data-focus).
function refocus(opener) {
  if (!opener) return;
  if (opener.isConnected) { opener.focus(); return; }
  const id = opener.dataset.focus;
  const again = id && document.querySelector('[data-focus="' + CSS.escape(id) + '"]');
  if (again) again.focus();
}

// Asks before a destructive action; resolves to true on Confirm. The focus goes back to
// the control that asked (or its redrawn twin).
function confirmThen(text, ok) {
  const dialog = $("confirm-dialog");
  const opener = document.activeElement;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    const done = (answer) => { dialog.onclose = null; refocus(opener); resolve(answer); };
    dialog.returnValue = "";
    dialog.onclose = () => done(dialog.returnValue === "ok");
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

// The last error of each card's actions, kept across redraws: card key -> message.
const actionErrors = new Map();

// Where a card's actions say what went wrong: next to its buttons.
function errorBox(k) {
  return el("p", { class: "action-error", role: "alert", "data-error": k }, actionErrors.get(k) || "");
}

function showError(k, message) {
  if (message) actionErrors.set(k, message); else actionErrors.delete(k);
  for (const e of document.querySelectorAll('[data-error="' + CSS.escape(k) + '"]')) e.textContent = message || "";
}

// A button that runs `action` (after confirming `ask`, when given) and shows its error in
// the card's errorBox(k). `id` keeps focus on it across redraws.
const busy = new Set(); // data-focus ids of the buttons whose action is on its way

function setBusy(id, on) {
  if (on) busy.add(id); else busy.delete(id);
  for (const b of document.querySelectorAll('[data-focus="' + CSS.escape(id) + '"]')) b.disabled = on;
}

function actionButton(label, k, id, ask, action) {
  const b = el("button", { type: "button", "data-focus": id, "aria-label": label + " " + k.replace(/^schedule:/, "") }, label);
  b.disabled = busy.has(id);
  b.addEventListener("click", async () => {
    if (busy.has(id)) return;
    if (ask && !(await confirmThen(ask[0], ask[1]))) return;
    setBusy(id, true);
    showError(k, "");
    const r = await action();
    setBusy(id, false);
    if (!r.ok) showError(k, r.body.error || ("HTTP " + r.status));
    refocus(b);
  });
  return b;
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
  const p = progressOf(dm);
  const li = el("li", { "data-key": k, "data-phase": phase, "data-sig": JSON.stringify([dm, p || null]) });
  const top = el("div", { class: "top" });
  top.append(el("h3", {}, k), el("span", { class: "phase" + (RUNNING.has(phase) ? " phase-running" : "") }, phase));
  li.append(top);
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
  const spec = dm.spec || {};
  // A schedule's runs share its list; a DataMover of its own writing timestamp folders has one.
  const owned = (dm.metadata.ownerReferences || []).some((o) => o.kind === "DataMoverSchedule");
  if (spec.addTimestampPrefix && !owned) {
    li.append(backupsOf(dm.metadata.namespace, dm.metadata.name, "datamover", spec.sourcePvc));
  }
  if (phase === "Completed" || phase === "Failed") {
    const del = actionButton("Delete", k, "delete:" + k,
      ["Delete DataMover " + k + "? Its backup at the destination stays.", "Delete"],
      // The uid drawn: the action deletes this very object, not one created since under its name.
      () => act("/actions/delete", { namespace: dm.metadata.namespace, name: dm.metadata.name, uid: dm.metadata.uid }));
    const row = el("div", { class: "actions" });
    row.append(del);
    li.append(row, errorBox(k));
  }
  return li;
}

function drawDataMovers() {
  const filter = $("filter").value.trim().toLowerCase();
  const list = $("datamovers");
  const keys = [...dms.keys()].sort().filter((k) => k.toLowerCase().includes(filter));
  redraw(list, keys.map((k) => card(dms.get(k))));
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

// A schedule's or DataMover's backups, fetched from the catalogue when its list is opened
// (and kept across redraws): "kind:namespace/name" -> {open, rows, error}.
const backups = new Map();

const VERIFY_TEXT = { Passed: "verified", Failed: "verification failed", NotChecked: "not verified",
  NotVerified: "not verified (no check ran)", Pending: "verifying" };

function backupsOf(ns, name, kind, sourcePvc) {
  const k = kind + ":" + key(ns, name);
  const state = backups.get(k) || { open: false };
  const details = el("details", { class: "backups" });
  details.open = state.open;
  details.append(el("summary", { "data-focus": "backups:" + k }, "Backups"));
  const body = el("div", { class: "backups-body", "aria-live": "polite" });
  details.append(body);
  const show = (st) => {
    if (st.error) { body.replaceChildren(el("p", { class: "reason" }, st.error)); return; }
    if (!st.rows) { body.replaceChildren(el("p", { class: "muted" }, "Listing…")); return; }
    if (st.rows.length === 0) { body.replaceChildren(el("p", { class: "muted" }, "No backups at the destination.")); return; }
    const list = el("ul", { class: "backup-list" });
    for (const b of st.rows) {
      const item = el("li", { "data-backup": b.name });
      const v = b.verification;
      const verified = el("span", { class: "verify" + (v ? " verify-" + v.result : "") },
        v ? (VERIFY_TEXT[v.result] || v.result) + (v.result === "Passed" && v.mode ? " (" + v.mode + ")" : "") : "");
      if (v && v.message) verified.title = v.message;
      const restore = el("button", { type: "button", "data-focus": "restore:" + k + ":" + b.name,
        "aria-label": "Restore " + b.name + " of " + key(ns, name) }, "Restore…");
      restore.addEventListener("click", () => openRestore({ namespace: ns, secret: b.secret, backup: b.name, sourcePvc: sourcePvc || "", from: key(ns, name) }, restore));
      item.append(el("span", { class: "backup-name" }, b.name),
        el("span", { class: "muted" }, b.time + " · " + bytes(b.size) + ", " + b.files + (b.files === 1 ? " file" : " files")),
        verified, restore);
      list.append(item);
    }
    body.replaceChildren(list);
  };
  show(state);
  // The answer of a listing goes to the newest drawing of this list.
  state.show = show;
  state.details = details;
  backups.set(k, state);
  details.addEventListener("toggle", () => {
    const now = backups.get(k);
    // Opened (or closed) just before a redraw replaced this drawing: the toggle event
    // comes after the redraw, so the newest drawing takes the state it was drawn without.
    if (now.details !== details) {
      if (now.details.open !== details.open) now.details.open = details.open;
      return;
    }
    // A redraw restoring an open list that has its answer, or whose listing is on its
    // way: nothing to fetch.
    if (details.open && now.open && (now.rows || now.error || now.pending)) return;
    now.open = details.open;
    if (!details.open) return;
    now.rows = undefined; now.error = undefined; now.pending = true;
    show(now);
    fetch("/backups?namespace=" + encodeURIComponent(ns) + "&" + kind + "=" + encodeURIComponent(name),
      { credentials: "same-origin" })
      .then((r) => r.json().then((j) => (r.ok ? { rows: j.items || [] } : { error: j.error || ("HTTP " + r.status) })))
      .catch((e) => ({ error: String(e) }))
      .then((st) => { Object.assign(now, st); now.pending = false; now.show(now); });
  });
  return details;
}

function drawSchedules(s) {
  if (s) schedules = s;
  const items = schedules.items || [];
  redraw($("schedules"), items.map((sc) => {
    const m = sc.metadata || {}, spec = sc.spec || {}, st = sc.status || {};
    const li = el("li", { "data-key": key(m.namespace || "default", m.name || ""), "data-sig": JSON.stringify(sc) });
    const top = el("div", { class: "top" });
    top.append(el("h3", {}, key(m.namespace || "default", m.name || "")),
      el("span", { class: "phase" }, spec.suspend ? "Suspended" : "Active"));
    const next = sc.nextRun;
    li.append(top, el("p", {}, "Schedule: " + (spec.schedule || "—")),
      el("p", { class: "next-run" }, "Next run: " + (spec.suspend ? "suspended" : next || "—")));
    if (st.lastScheduleTime) li.append(el("p", { class: "stats" }, "Last run: " + st.lastScheduleTime));
    const ns = m.namespace || "default", k = key(ns, m.name || "");
    const target = { namespace: ns, name: m.name };
    const row = el("div", { class: "actions" });
    const ek = "schedule:" + k;
    row.append(actionButton("Run now", ek, "trigger:" + k,
      ["Start a run of schedule " + k + " now? It syncs " + (spec.sourcePvc || "its source") + " to its destination.", "Run now"],
      () => act("/actions/trigger", target)));
    row.append(spec.suspend
      ? actionButton("Resume", ek, "suspend:" + k, null, () => act("/actions/resume", target))
      : actionButton("Suspend", ek, "suspend:" + k,
        ["Suspend schedule " + k + "? No new runs start until it is resumed; an active run goes on.", "Suspend"],
        () => act("/actions/suspend", target)));
    li.append(row, errorBox(ek), backupsOf(ns, m.name || "", "schedule", spec.sourcePvc));
    return li;
  }));
  $("schedules-empty").hidden = items.length > 0;
}

// Restores: a PVC filling from a backup, with its Job's live progress, then its path.
function drawRestores() {
  const keys = [...restores.keys()].sort();
  redraw($("restores"), keys.map((k) => {
    const r = restores.get(k);
    const failed = r.condition && r.condition.status === "False" && r.condition.reason === "RestoreFailed";
    const phase = r.phase === "Bound" ? "Bound" : failed ? "RestoreFailed" : "Restoring";
    const job = jobs.get(key(r.namespace, r.jobName));
    const p = job && job.status && job.status.progress;
    const li = el("li", { "data-key": k, "data-phase": phase, "data-sig": JSON.stringify([r, p || null]) });
    const top = el("div", { class: "top" });
    top.append(el("h3", {}, k), el("span", { class: "phase" + (phase === "Restoring" ? " phase-running" : "") }, phase));
    li.append(top, el("p", { class: "muted" }, "From DataMoverPopulator " + r.populator));
    const bar = el("progress", { "aria-label": "Progress of the restore into " + k });
    let stats;
    if (phase === "Bound") {
      bar.max = 1; bar.value = 1;
      li.append(bar, el("p", { class: "stats" }, "Restored to "), el("p", { class: "restore-path" }, r.path || ""));
      return li;
    }
    if (p && (p.bytes || p.totalBytes)) {
      if (p.totalBytes) { bar.max = p.totalBytes; bar.value = p.bytes; } else { bar.max = p.bytes * 2; bar.value = p.bytes; }
      stats = bytes(p.bytes || 0) + (p.totalBytes ? " of " + bytes(p.totalBytes) : "") + " · " + bytes(p.bytesPerSecond || 0) + "/s";
    } else {
      bar.max = 1; bar.value = 0;
      stats = failed ? "Stopped" : "Waiting for the restore to start";
    }
    li.append(bar, el("p", { class: "stats" }, stats));
    if (failed) li.append(el("p", { class: "reason" }, r.condition.message || r.condition.reason));
    return li;
  }));
  $("restores-empty").hidden = keys.length > 0;
}

// The restore form, for one backup; `opener` gets the focus back when it closes.
let restoring = null;
let submitting = false; // a restore request is on its way: the dialog stays open
function openRestore(b, opener) {
  restoring = { ...b, opener };
  $("restore-what").textContent = "Backup " + b.backup + " of " + b.from + " into a new PVC.";
  $("restore-pvc").value = "";
  $("restore-namespace").value = b.namespace;
  $("restore-size").value = "";
  $("restore-size").placeholder = b.sourcePvc ? "Same as " + b.sourcePvc : "Same as the source";
  for (const f of ["pvc", "namespace", "size"]) { $("restore-" + f + "-error").textContent = ""; $("restore-" + f).removeAttribute("aria-invalid"); }
  $("restore-error").textContent = "";
  $("restore-dialog").showModal();
  $("restore-pvc").focus();
}

async function submitRestore(e) {
  e.preventDefault();
  if (!restoring) return;
  const fields = ["pvc", "namespace", "size"];
  for (const f of fields) { $("restore-" + f + "-error").textContent = ""; $("restore-" + f).removeAttribute("aria-invalid"); }
  $("restore-error").textContent = "";
  const body = {
    namespace: $("restore-namespace").value.trim(), pvc: $("restore-pvc").value.trim(), size: $("restore-size").value.trim(),
    sourceNamespace: restoring.namespace, secret: restoring.secret, backup: restoring.backup, sourcePvc: restoring.sourcePvc,
  };
  if (!body.pvc) {
    $("restore-pvc-error").textContent = "Give the new PVC a name.";
    $("restore-pvc").setAttribute("aria-invalid", "true");
    $("restore-pvc").focus();
    return;
  }
  // This request's restore, whatever the dialog does meanwhile (it cannot be closed while
  // the request runs: see the cancel handler).
  const current = restoring;
  $("restore-submit").disabled = true;
  submitting = true;
  const r = await act("/actions/restore", body);
  submitting = false;
  $("restore-submit").disabled = false;
  if (r.ok) {
    $("restore-notice").textContent = "Restoring " + current.backup + " into " + body.namespace + "/" + body.pvc + ".";
    if (restoring === current) {
      restoring = null;
      $("restore-dialog").close();
    }
    refocus(current.opener);
    return;
  }
  if (restoring !== current) return;
  const field = r.body.field && fields.includes(r.body.field) ? r.body.field : null;
  const message = r.body.error || ("HTTP " + r.status);
  if (field) {
    $("restore-" + field + "-error").textContent = message;
    $("restore-" + field).setAttribute("aria-invalid", "true");
    $("restore-" + field).focus();
  } else {
    $("restore-error").textContent = message;
  }
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
    restores.clear();
    for (const r of s.restores || []) restores.set(key(r.namespace, r.name), r);
    drawDataMovers(); drawRestores(); drawSchedules(s.schedules); drawCharts(s.charts);
  });
  on("datamover", (dm) => {
    upsert(dms, key(dm.metadata.namespace, dm.metadata.name), dm, (o) => o.metadata.resourceVersion);
    drawDataMovers();
  });
  on("job", (j) => { upsert(jobs, key(j.namespace, j.name), j, (o) => o.resourceVersion); drawDataMovers(); drawRestores(); });
  on("restore", (r) => { upsert(restores, key(r.namespace, r.name), r, (o) => o.resourceVersion); drawRestores(); });
  on("deleted", (d) => {
    const map = d.kind === "Job" ? jobs : d.kind === "PersistentVolumeClaim" ? restores : dms;
    map.delete(key(d.namespace, d.name));
    drawDataMovers(); drawRestores();
  });
  on("charts", drawCharts);
  on("schedules", drawSchedules);
}

document.addEventListener("DOMContentLoaded", () => {
  $("filter").addEventListener("input", drawDataMovers);
  $("restore-form").addEventListener("submit", submitRestore);
  $("restore-cancel").addEventListener("click", () => { if (!submitting) $("restore-dialog").close(); });
  // Escape closes a dialog by a cancel event: not while its request runs.
  $("restore-dialog").addEventListener("cancel", (e) => { if (submitting) e.preventDefault(); });
  $("restore-dialog").addEventListener("close", () => {
    if (restoring) refocus(restoring.opener);
    restoring = null;
  });
  $("confirm-form").addEventListener("submit", (e) => { e.preventDefault(); $("confirm-dialog").close("ok"); });
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close("cancel"));
  connect();
});
