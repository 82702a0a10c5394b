// radgenome review: claim items, read them blind beside the CT, decide by keyboard.
// Every piece of report or item text is written with textContent (never innerHTML): it stays inert.
import { ApiError, api, el, newKey, postDecision, setCsrf } from "/static/api.js";
import { RegionChooser } from "/static/regions.js";
import { Viewer, maskMessage, presetForRegion } from "/static/viewer.js";

const $ = (id) => document.getElementById(id);
const CLAIM_BATCH = 20;
const RENEW_MS = 5 * 60 * 1000;

const state = {
  me: null,
  items: [], // queue entries: open items, plus the ones decided in this session
  index: -1,
  detail: null,
  decided: new Map(), // item id -> verdict (this session)
  busy: false, // a decision or undo in flight: keys wait for it
  loadToken: 0,
  adjudicating: false,
};

const viewer = new Viewer({
  canvas: $("gl"), location: $("location"), readout: $("wl"), message: $("viewer-msg"), orientation: $("orient"),
});
let chooser = null;

function setMsg(text, kind = "") {
  const m = $("decision-msg");
  m.textContent = text;
  m.className = `msg ${kind}`;
}

function filters() {
  const f = {};
  for (const [k, id] of [["split", "f-split"], ["kind", "f-kind"], ["region", "f-region"]]) {
    if ($(id).value) f[k] = $(id).value;
  }
  if ($("f-flagged").value) f.flagged = $("f-flagged").value === "true";
  return f;
}

function fillSelect(select, values) {
  for (const v of values) select.appendChild(new Option(v, v));
}

// ---------------------------------------------------------------------------------------- queue
function merge(entries) {
  const known = new Set(state.items.map((i) => i.id));
  for (const e of entries) if (!known.has(e.id)) state.items.push(e);
}

async function claim(limit = CLAIM_BATCH) {
  const res = await api("POST", "/api/queue/claim", { limit, ...filters() });
  merge(res.items);
  $("lease").textContent = res.items.length ? `leases until ${res.lease_until.slice(11, 16)} UTC` : "";
  $("queue-cap").textContent = `${res.open}/${res.max_open} open`;
  renderQueue();
  return res;
}

async function reloadQueue() {
  state.items = [];
  state.index = -1;
  const q = new URLSearchParams({ ...filters(), limit: "200" });
  const res = await api("GET", `/api/queue?${q}`);
  merge(res.items);
  // a reader with nothing open gets a first batch; an admin claims only when asking to read (N)
  if (!state.items.length && state.me.role !== "admin") await claim();
  renderQueue();
  if (state.items.length) await select(0);
  else showEmpty();
}

function renderQueue() {
  const list = $("queue-list");
  list.replaceChildren(...state.items.map((item, i) => {
    const li = el("li", null, "queue-item");
    if (i === state.index) li.classList.add("active");
    const verdict = state.decided.get(item.id);
    if (verdict) li.classList.add(`done-${verdict}`);
    const head = el("div", null, "qi-head");
    head.appendChild(el("span", item.kind === "qa" ? `QA · ${item.qa_kind}` : "sentence", "badge"));
    head.appendChild(el("span", item.region || "—", "qi-region"));
    if (item.flagged) head.appendChild(el("span", "flag", "badge warn"));
    if (verdict) head.appendChild(el("span", verdict, `badge v-${verdict}`));
    li.appendChild(head);
    li.appendChild(el("div", item.text, "qi-text"));
    li.addEventListener("click", () => select(i));
    return li;
  }));
  $("queue-count").textContent = `${state.items.length}`;
}

function showEmpty() {
  state.detail = null;
  $("item-volume").textContent = "";
  $("item-path").textContent = "";
  $("report").replaceChildren(el("p", "Nothing to review with these filters: claim more (N) or change them.", "muted"));
  viewer.clear();
  document.body.dataset.viewer = "empty";
  setMsg("");
}

async function refreshProgress() {
  const p = await api("GET", "/api/progress");
  const me = p.me;
  const held = me.open + me.decided;
  const pct = held ? Math.round((100 * me.decided) / held) : 0;
  $("progress-fill").style.width = `${pct}%`;
  $("progress-text").textContent =
    `mine ${me.decided} decided, ${me.open} open · all ${p.totals.reads_done}/${p.totals.reads_required} reads`;
}

// ----------------------------------------------------------------------------------------- item
async function select(i) {
  if (i < 0 || i >= state.items.length) return;
  state.index = i;
  renderQueue();
  const item = state.items[i];
  const detail = await api("GET", `/api/items/${item.id}`);
  if (state.items[state.index]?.id !== detail.id) return;
  state.detail = detail;
  state.adjudicating = state.me.role === "admin" && !detail.reader && Boolean(detail.disagreement);
  renderItem(detail);
  document.querySelector(".queue-item.active")?.scrollIntoView({ block: "nearest" });
  loadViewer(detail).catch((e) => { $("viewer-status").textContent = `viewer: ${e.message || e}`; });
}

// the form shows the reader's current decision; after an undo, the undone one (so nothing typed is lost)
function formSource(d) {
  if (d.current) return d.current;
  if (d.latest && d.latest.reviewer === state.me.name && d.latest.undone_at && !d.latest.adjudication) return d.latest;
  return null;
}

function renderItem(d) {
  $("item-kind").textContent = d.kind === "qa" ? `QA · ${d.qa_kind}` : "grounded sentence";
  $("item-flag").classList.toggle("hidden", !d.flagged);
  $("item-adjudicate").classList.toggle("hidden", !state.adjudicating);
  const source = formSource(d);
  const badge = d.current ? d.current.verdict : (source ? "undone" : "");
  $("item-state").textContent = badge;
  $("item-state").className = badge ? `badge v-${badge}` : "badge hidden";
  $("item-volume").textContent = `${d.volume} (${d.split})`;
  $("item-path").textContent = d.path || d.node || "—";
  $("item-mask").textContent = d.has_mask ? (d.mask_status || "ok") : (d.mask_status || "no mask");
  $("item-flags").replaceChildren(...d.flags.map((f) => el("li", f)));

  const qa = d.kind === "qa";
  $("qa-block").classList.toggle("hidden", !qa);
  if (qa) {
    $("qa-question").textContent = d.text;
    $("qa-answer").textContent = d.answer;
  }
  const report = $("report");
  report.replaceChildren();
  let section = null;
  for (const s of d.report) {
    if (s.section !== section) {
      section = s.section;
      report.appendChild(el("div", section, "section-name"));
    }
    report.appendChild(el("span", s.text, s.highlight ? "sent hl" : "sent"));
    report.appendChild(document.createTextNode(" "));
  }
  report.querySelector(".hl")?.scrollIntoView({ block: "nearest" });

  const original = qa ? d.answer : d.text;
  const text = $("edit-text");
  text.dataset.original = original;
  text.value = source && source.text ? source.text : original;
  text.readOnly = true;
  $("text-label").textContent = qa ? "Answer" : "Text";
  chooser.reset(d.path, source && source.path ? source.path : d.path);
  $("mask-wrong").checked = Boolean(source && source.mask_wrong);
  $("comment").value = source ? source.comment : "";
  $("history").replaceChildren(...d.history.map((h) => {
    const line = `${h.created_at.replace("T", " ").slice(0, 19)} · ${h.reviewer} · ${h.adjudication ? "adjudication: " : ""}` +
      `${h.verdict}` + (h.text ? ` · text: ${h.text}` : "") + (h.path ? ` · region: ${h.path}` : "") +
      (h.mask_wrong ? " · mask wrong" : "") + (h.comment ? ` · “${h.comment}”` : "") +
      (h.undone_at ? " · undone" : "") + (h.replaced_at ? " · replaced" : "");
    return el("li", line, h.undone_at || h.replaced_at ? "undone" : "");
  }));
  $("history-box").open = state.adjudicating;
  setMsg(state.adjudicating ? "The readers disagree: your decision settles this item." : "");
}

// ---------------------------------------------------------------------------------------- viewer
function maskUrl(d, path) {
  return `/api/items/${d.id}/mask.nii.gz${path ? `?path=${encodeURIComponent(path)}` : ""}`;
}

async function maskFor(d, path) {
  if (!d.has_mask) return { url: null, message: maskMessage(d.mask_status || "not_segmented", d.node), centroid: null };
  const q = path ? `?path=${encodeURIComponent(path)}` : "";
  const info = await api("GET", `/api/items/${d.id}/mask-info${q}`).catch((e) => {
    if (e instanceof ApiError && e.status === 404) return { voxels: 0, centroid_mm: null };
    throw e;
  });
  const name = (path || d.path || d.node).split("/").pop();
  const status = path ? "" : d.mask_status; // a previewed region has no recorded status
  const message = info.voxels ? "" : maskMessage(status || "empty", name, 0);
  return { url: info.voxels ? maskUrl(d, path) : null, message, centroid: info.centroid_mm };
}

async function loadViewer(d) {
  const token = ++state.loadToken;
  document.body.dataset.viewer = "loading";
  $("viewer-empty").classList.toggle("hidden", d.has_ct);
  if (!d.has_ct) {
    viewer.clear();
    viewer.setMessage("");
    document.body.dataset.viewer = "empty";
    return;
  }
  $("viewer-status").textContent = "loading…";
  await viewer.loadCase(d.case_id, `/api/cases/${encodeURIComponent(d.case_id)}/ct.nii.gz`);
  if (token !== state.loadToken) return;
  const chosen = chooser.changed() ? chooser.value : null;
  const mask = await maskFor(d, chosen);
  if (token !== state.loadToken) return;
  await viewer.setMask(mask.url, mask.centroid);
  if (token !== state.loadToken) return;
  viewer.setMessage(mask.message);
  viewer.applyPreset(presetForRegion(d.region));
  viewer.setView(viewer.view);
  viewer.jumpToCentroid();
  $("viewer-status").textContent = "";
  document.body.dataset.viewer = "ready";
}

async function previewRegion(path) {
  const d = state.detail;
  if (!d || !d.has_ct) return;
  const token = ++state.loadToken;
  document.body.dataset.viewer = "loading";
  const mask = await maskFor(d, path && path !== d.path ? path : null);
  if (token !== state.loadToken) return;
  await viewer.setMask(mask.url, mask.centroid);
  viewer.setMessage(mask.message);
  viewer.jumpToCentroid();
  document.body.dataset.viewer = "ready";
}

// ------------------------------------------------------------------------------------- decisions
async function decide(verdict) {
  const d = state.detail;
  if (!d || state.busy) return;
  const original = $("edit-text").dataset.original.trim();
  const text = $("edit-text").value.trim();
  const textChanged = text !== original;
  const pathChanged = chooser.changed();
  if (verdict === "correct" && !textChanged && !pathChanged) {
    setMsg("Nothing to save: edit the text (E) or change the region (G) first.", "warn");
    return;
  }
  const body = {
    item_id: d.id, key: newKey(), verdict: verdict === "accept" && (textChanged || pathChanged) ? "correct" : verdict,
    text: textChanged && verdict !== "reject" ? text : null, path: pathChanged && verdict !== "reject" ? chooser.value : null,
    mask_wrong: $("mask-wrong").checked, comment: $("comment").value.trim(),
  };
  state.busy = true;
  try {
    const stored = await postDecision(state.adjudicating ? "/api/adjudications" : "/api/decisions", body);
    state.decided.set(d.id, stored.verdict);
    refreshProgress().catch(() => {});
    const next = state.items.findIndex((x, j) => j > state.index && !state.decided.has(x.id));
    if (next >= 0) await select(next);
    else if (stored.adjudication) renderQueue(); // an admin settling items claims nothing
    else {
      const res = await claim();
      const fresh = state.items.findIndex((x) => !state.decided.has(x.id));
      if (fresh >= 0) await select(fresh);
      else { renderQueue(); setMsg(res.claimed ? "" : "No more items to claim with these filters.", "ok"); }
    }
    setMsg(`${stored.verdict} saved${stored.adjudication ? " (adjudication)" : ""}`, "ok");
    document.body.dataset.decisions = String(Number(document.body.dataset.decisions || 0) + 1);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      setMsg("Not saved: this item is no longer yours (its lease ended). Claiming again…", "bad");
      await reloadQueue().catch(() => {});
    } else {
      setMsg(`Not saved: ${e.message}`, "bad");
    }
  } finally {
    state.busy = false;
  }
}

async function undo() {
  if (state.busy) return;
  state.busy = true;
  try {
    const d = await api("POST", "/api/decisions/undo", {});
    state.decided.delete(d.item_id);
    let i = state.items.findIndex((x) => x.id === d.item_id);
    if (i < 0) {
      state.items.unshift({ id: d.item_id, kind: "", qa_kind: "", region: "", text: "(undone item)", flagged: false });
      i = 0;
    }
    refreshProgress().catch(() => {});
    await select(i); // back to the undone item, its form as it was
    setMsg(`undid ${d.verdict}: the form holds what you had`, "ok");
  } catch (e) {
    setMsg(e instanceof ApiError && e.status === 404 ? "Nothing to undo." : `Undo failed: ${e.message}`, "warn");
  } finally {
    state.busy = false;
  }
}

// ------------------------------------------------------------------------------------- keyboard
function isTyping(t) {
  return (t instanceof HTMLTextAreaElement && !t.readOnly) || (t instanceof HTMLInputElement && t.type !== "checkbox")
    || t instanceof HTMLSelectElement;
}

const KEYS = {
  a: () => decide("accept"),
  r: () => decide("reject"),
  s: () => decide("correct"),
  u: () => undo(),
  e: () => { const x = $("edit-text"); x.readOnly = false; x.focus(); x.select(); },
  g: () => $("region").focus(),
  c: () => $("comment").focus(),
  m: () => { $("mask-wrong").checked = !$("mask-wrong").checked; },
  j: () => select(state.index + 1),
  k: () => select(state.index - 1),
  n: () => claim().catch((e) => setMsg(e.message, "bad")),
  f: () => viewer.jumpToCentroid(),
  o: () => viewer.toggleMask(),
  v: () => viewer.setRadiological(!viewer.radiological),
  l: () => viewer.applyPreset("lung"),
  w: () => viewer.applyPreset("mediastinum"),
  b: () => viewer.applyPreset("bone"),
  1: () => viewer.setView("axial"),
  2: () => viewer.setView("coronal"),
  3: () => viewer.setView("sagittal"),
  4: () => viewer.setView("grid"),
  5: () => viewer.setView("hero"),
  6: () => viewer.setView("render"),
  arrowup: () => viewer.slice(1),
  arrowdown: () => viewer.slice(-1),
  pageup: () => viewer.page(1),
  pagedown: () => viewer.page(-1),
};

// capture phase: the page's keys act before NiiVue's own canvas keys, which never see them
function onKey(e) {
  const t = e.target;
  if (e.key === "Escape") { if (t.blur && isTyping(t)) { t.blur(); e.stopPropagation(); } return; }
  if (t === $("region") && !$("region-list").classList.contains("hidden")) return; // the chooser's own keys
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    e.stopPropagation();
    decide("correct");
    return;
  }
  if (isTyping(t) || e.ctrlKey || e.metaKey || e.altKey) return;
  const action = KEYS[e.key.toLowerCase()];
  if (!action) return;
  e.preventDefault();
  e.stopPropagation();
  if (state.busy) return; // a decision is being saved: no key acts on a stale item
  action();
}

// ----------------------------------------------------------------------------------------- start
async function start() {
  state.me = await api("GET", "/api/me");
  setCsrf(state.me.csrf);
  $("user-name").textContent = state.me.name;
  $("user-role").textContent = state.me.role;
  $("admin-link").classList.toggle("hidden", state.me.role !== "admin");
  const [f, regions] = await Promise.all([api("GET", "/api/filters"), api("GET", "/api/regions")]);
  fillSelect($("f-split"), f.splits);
  fillSelect($("f-kind"), f.kinds);
  fillSelect($("f-region"), f.regions);
  chooser = new RegionChooser({ input: $("region"), list: $("region-list"), onChange: (p) => previewRegion(p).catch(() => {}) });
  chooser.setRegions(regions);
  for (const id of ["f-split", "f-kind", "f-region", "f-flagged"]) {
    $(id).addEventListener("change", () => reloadQueue().then(refreshProgress));
  }
  $("queue-more").addEventListener("click", () => claim().catch((e) => setMsg(e.message, "bad")));
  $("btn-accept").addEventListener("click", () => decide("accept"));
  $("btn-reject").addEventListener("click", () => decide("reject"));
  $("btn-correct").addEventListener("click", () => decide("correct"));
  $("btn-undo").addEventListener("click", () => undo());
  $("jump").addEventListener("click", () => viewer.jumpToCentroid());
  $("toggle-mask").addEventListener("click", () => viewer.toggleMask());
  $("convention").addEventListener("click", () => viewer.setRadiological(!viewer.radiological));
  document.querySelectorAll(".view").forEach((b) => b.addEventListener("click", () => viewer.setView(b.dataset.view)));
  document.querySelectorAll(".preset").forEach((b) => b.addEventListener("click", () => viewer.applyPreset(b.dataset.preset)));
  $("logout").addEventListener("click", async () => {
    await api("POST", "/auth/logout", {}).catch(() => {});
    window.location.assign("/login");
  });
  window.addEventListener("keydown", onKey, true);
  setInterval(() => api("POST", "/api/queue/claim", { limit: 0 }).catch(() => {}), RENEW_MS); // keep leases
  viewer.setView("axial");

  const wanted = new URLSearchParams(window.location.search).get("item");
  if (wanted && /^[0-9a-f]{16}$/.test(wanted)) { // opened from the admin page
    state.items = [{ id: wanted, kind: "", qa_kind: "", region: "", text: "(opened from the admin page)", flagged: false }];
    renderQueue();
    await select(0);
  } else {
    await reloadQueue();
  }
  await refreshProgress();
  document.body.dataset.ready = "1";
}

start().catch((e) => {
  document.body.dataset.ready = "error";
  setMsg(`Failed to start: ${e.message || e}`, "bad");
});
