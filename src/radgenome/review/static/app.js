// radgenome review: queue, NiiVue viewer, decisions with keyboard shortcuts.
// Every piece of report or item text is written with textContent (never innerHTML): it stays inert.
import { Niivue, SHOW_RENDER } from "/vendor/niivue.js";

const $ = (id) => document.getElementById(id);
const WINDOWS = {
  lung: { min: -1350, max: 150 },        // W 1500 / L -600
  mediastinum: { min: -125, max: 225 },  // W 350 / L 50
  bone: { min: -600, max: 1400 },        // W 2000 / L 400
};

const state = {
  me: null,
  items: [],
  index: -1,
  detail: null,
  regions: [],
  nv: null,
  caseId: null,
  maskOn: true,
  preset: "mediastinum",
  view: "multi",
  centroid: null,
  decided: new Map(), // item id -> verdict
  busy: false, // a decision or undo in flight: keys wait for it
  loadToken: 0,
};

// ------------------------------------------------------------------------------------------ api
function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.me && state.me.csrf) headers["X-CSRF-Token"] = state.me.csrf;
  const res = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    window.location.assign("/login");
    throw new Error("not signed in");
  }
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : res.statusText;
    throw new Error(`${res.status}: ${detail}`);
  }
  return data;
}

// POST a decision; a network failure is retried with the same idempotency key (stored once server-side).
async function postDecision(body) {
  let lastError;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await api("POST", "/api/decisions", body);
    } catch (e) {
      lastError = e;
      if (!(e instanceof TypeError)) throw e; // HTTP errors are not retried; network errors are
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
  throw lastError;
}

// ------------------------------------------------------------------------------------- helpers
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function setMsg(text, kind = "") {
  const m = $("decision-msg");
  m.textContent = text;
  m.className = `msg ${kind}`;
}

function filters() {
  const p = new URLSearchParams();
  for (const [k, id] of [["split", "f-split"], ["kind", "f-kind"], ["region", "f-region"], ["flagged", "f-flagged"]]) {
    const v = $(id).value;
    if (v) p.set(k, v);
  }
  if ($("f-disagreement").checked) p.set("disagreement", "true");
  return p;
}

function fillSelect(select, values) {
  for (const v of values) select.appendChild(new Option(v, v));
}

// ---------------------------------------------------------------------------------------- queue
async function loadQueue(append = false) {
  const p = filters();
  p.set("limit", "40");
  const data = await api("GET", `/api/queue?${p}`);
  if (append) {
    const known = new Set(state.items.map((i) => i.id));
    state.items.push(...data.items.filter((i) => !known.has(i.id)));
  } else {
    state.items = data.items;
    state.index = -1;
  }
  renderQueue();
  if (!append || state.index < 0) {
    if (state.items.length) await select(0);
    else showEmpty();
  }
}

function renderQueue() {
  const list = $("queue-list");
  list.replaceChildren();
  state.items.forEach((item, i) => {
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
    list.appendChild(li);
  });
  $("queue-count").textContent = `${state.items.length}`;
}

function showEmpty() {
  $("item-volume").textContent = "";
  $("item-path").textContent = "";
  $("report").replaceChildren(el("p", "Nothing left in this queue. Change the filters or load more.", "muted"));
  setMsg("");
}

async function refreshProgress() {
  const p = await api("GET", "/api/progress");
  const me = p.me || { decided: 0, assigned: 0 };
  const pct = me.assigned ? Math.round((100 * me.decided) / me.assigned) : 0;
  $("progress-fill").style.width = `${pct}%`;
  $("progress-text").textContent = `mine ${me.decided}/${me.assigned} · all ${p.totals.decided}/${p.totals.items}`;
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
  renderItem(detail);
  document.querySelector(".queue-item.active")?.scrollIntoView({ block: "nearest" });
  loadViewer(detail).catch((e) => { $("viewer-status").textContent = `viewer: ${e.message || e}`; });
}

function renderItem(d) {
  $("item-kind").textContent = d.kind === "qa" ? `QA · ${d.qa_kind}` : "grounded sentence";
  $("item-flag").classList.toggle("hidden", !d.flagged);
  $("item-disagree").classList.toggle("hidden", !d.disagreement);
  const verdict = state.decided.get(d.id) || lastActive(d.history)?.verdict || "";
  $("item-state").textContent = verdict;
  $("item-state").className = verdict ? `badge v-${verdict}` : "badge hidden";
  $("item-volume").textContent = `${d.volume} (${d.split})`;
  $("item-path").textContent = d.path || d.node || "—";
  $("item-mask").textContent = d.has_mask ? (d.mask_status || "ok") : (d.mask_status || "no mask");
  const flags = $("item-flags");
  flags.replaceChildren(...d.flags.map((f) => el("li", f)));

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
    const span = el("span", s.text, s.highlight ? "sent hl" : "sent");
    report.appendChild(span);
    report.appendChild(document.createTextNode(" "));
  }
  report.querySelector(".hl")?.scrollIntoView({ block: "nearest" });

  const text = $("edit-text");
  text.value = qa ? d.answer : d.text;
  text.dataset.original = text.value;
  text.readOnly = true;
  $("edit-text").previousElementSibling.firstChild.textContent = qa ? "Answer " : "Text ";
  const region = $("region");
  region.value = d.path && [...region.options].some((o) => o.value === d.path) ? d.path : "";
  region.dataset.original = region.value;
  $("mask-wrong").checked = false;
  $("comment").value = "";
  const hist = $("history");
  hist.replaceChildren(...d.history.map((h) => {
    const line = `${h.created_at.replace("T", " ").slice(0, 19)} · ${h.reviewer} · ${h.verdict}` +
      (h.text ? ` · text: ${h.text}` : "") + (h.node ? ` · region: ${h.node}` : "") +
      (h.mask_wrong ? " · mask wrong" : "") + (h.comment ? ` · “${h.comment}”` : "") + (h.undone_at ? " · undone" : "");
    return el("li", line, h.undone_at ? "undone" : "");
  }));
  setMsg("");
}

function lastActive(history) {
  const mine = history.filter((h) => h.reviewer === state.me.name && !h.undone_at);
  return mine[mine.length - 1];
}

// ---------------------------------------------------------------------------------------- viewer
async function ensureViewer() {
  if (state.nv) return state.nv;
  const nv = new Niivue({
    backColor: [0.06, 0.07, 0.09, 1],
    crosshairColor: [0.25, 0.8, 1.0, 0.55],
    crosshairWidth: 0.5,
    show3Dcrosshair: false,
    isColorbar: false,
    multiplanarShowRender: SHOW_RENDER.NEVER, // the 3-D render is its own view (5): costly on software GL
  });
  await nv.attachToCanvas($("gl"));
  nv.onLocationChange = (data) => { $("location").textContent = data.string || ""; };
  state.nv = nv;
  return nv;
}

function maskUrl(d, node) {
  return `/api/items/${d.id}/mask.nii.gz${node ? `?node=${encodeURIComponent(node)}` : ""}`;
}

async function loadViewer(d) {
  const token = ++state.loadToken;
  document.body.dataset.viewer = "loading";
  $("viewer-empty").classList.toggle("hidden", d.has_ct);
  if (!d.has_ct) {
    document.body.dataset.viewer = "empty";
    return;
  }
  const nv = await ensureViewer();
  $("viewer-status").textContent = "loading…";
  if (state.caseId !== d.case_id) {
    const list = [{ url: `/api/cases/${d.case_id}/ct.nii.gz`, name: "ct.nii.gz", colormap: "gray" }];
    await nv.loadVolumes(list);
    if (token !== state.loadToken) return;
    state.caseId = d.case_id;
  }
  await setOverlay(d, null);
  if (token !== state.loadToken) return;
  applyWindow(state.preset);
  setView(state.view);
  await jumpToCentroid(d);
  $("viewer-status").textContent = "";
  document.body.dataset.viewer = "ready";
}

async function setOverlay(d, node) {
  const nv = state.nv;
  while (nv.volumes.length > 1) nv.removeVolume(nv.volumes[nv.volumes.length - 1]);
  state.centroid = null;
  if (!d.has_mask) return;
  const info = await api("GET", `/api/items/${d.id}/mask-info${node ? `?node=${encodeURIComponent(node)}` : ""}`).catch(() => null);
  if (!info) return;
  state.centroid = info.centroid_mm;
  await nv.addVolumeFromUrl({
    url: maskUrl(d, node), name: "mask.nii.gz", colormap: "red", opacity: state.maskOn ? 0.45 : 0,
    cal_min: 0.5, cal_max: 1,
  });
}

function applyWindow(name) {
  state.preset = name;
  const nv = state.nv;
  if (!nv || !nv.volumes.length) return;
  const w = WINDOWS[name];
  nv.volumes[0].cal_min = w.min;
  nv.volumes[0].cal_max = w.max;
  nv.updateGLVolume();
  document.querySelectorAll(".preset").forEach((b) => b.classList.toggle("on", b.dataset.preset === name));
}

function setView(view) {
  state.view = view;
  const nv = state.nv;
  if (nv) {
    const types = { axial: nv.sliceTypeAxial, coronal: nv.sliceTypeCoronal, sagittal: nv.sliceTypeSagittal, multi: nv.sliceTypeMultiplanar, render: nv.sliceTypeRender };
    nv.setSliceType(types[view]);
  }
  document.querySelectorAll(".view").forEach((b) => b.classList.toggle("on", b.dataset.view === view));
}

async function jumpToCentroid() {
  const nv = state.nv;
  if (!nv || !state.centroid) return;
  nv.scene.crosshairPos = nv.mm2frac(state.centroid);
  nv.drawScene();
  nv.createOnLocationChange?.();
}

function toggleMask() {
  state.maskOn = !state.maskOn;
  const nv = state.nv;
  if (nv && nv.volumes.length > 1) nv.setOpacity(1, state.maskOn ? 0.45 : 0);
}

// ------------------------------------------------------------------------------------- decisions
async function decide(verdict) {
  const d = state.detail;
  if (!d || state.busy) return;
  const original = $("edit-text").dataset.original;
  const text = $("edit-text").value.trim();
  const path = $("region").value;
  const node = path && path !== $("region").dataset.original ? path.split("/").pop() : null;
  const changed = text !== original.trim() || node !== null;
  if (verdict === "correct" && !changed) {
    setMsg("Nothing to save: edit the text (E) or change the region (G) first.", "warn");
    return;
  }
  const body = {
    item_id: d.id, key: newKey(), verdict: verdict === "accept" && changed ? "correct" : verdict,
    text: changed && text !== original.trim() ? text : null, node,
    mask_wrong: $("mask-wrong").checked, comment: $("comment").value.trim(),
  };
  state.busy = true;
  try {
    const stored = await postDecision(body);
    state.decided.set(d.id, stored.verdict);
    refreshProgress().catch(() => {});
    if (state.index + 1 < state.items.length) await select(state.index + 1);
    else { renderQueue(); await loadQueue(true); }
    setMsg(`${stored.verdict} saved`, "ok");
    document.body.dataset.decisions = String(Number(document.body.dataset.decisions || 0) + 1);
  } catch (e) {
    setMsg(`Not saved: ${e.message}`, "bad");
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
    const i = state.items.findIndex((x) => x.id === d.item_id);
    refreshProgress().catch(() => {});
    if (i >= 0) await select(i); // back to the undone item before any further key acts
    else renderQueue();
    setMsg(`undid ${d.verdict}`, "ok");
  } catch (e) {
    setMsg(e.message.startsWith("404") ? "Nothing to undo." : `Undo failed: ${e.message}`, "warn");
  } finally {
    state.busy = false;
  }
}

// ------------------------------------------------------------------------------------- keyboard
function onKey(e) {
  const t = e.target;
  const typing = t instanceof HTMLTextAreaElement && !t.readOnly || t instanceof HTMLInputElement && t.type !== "checkbox" || t instanceof HTMLSelectElement;
  if (e.key === "Escape") { if (t.blur) t.blur(); return; }
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); decide("correct"); return; }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (state.busy) { e.preventDefault(); return; } // a decision is being saved: no key acts on a stale item
  const k = e.key.toLowerCase();
  const actions = {
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
    f: () => jumpToCentroid(),
    o: () => toggleMask(),
    l: () => applyWindow("lung"),
    w: () => applyWindow("mediastinum"),
    b: () => applyWindow("bone"),
    1: () => setView("axial"),
    2: () => setView("coronal"),
    3: () => setView("sagittal"),
    4: () => setView("multi"),
    5: () => setView("render"),
  };
  if (actions[k]) { e.preventDefault(); actions[k](); }
}

// ----------------------------------------------------------------------------------------- start
async function start() {
  state.me = await api("GET", "/api/me");
  $("user-name").textContent = state.me.name;
  $("user-role").textContent = state.me.role;
  const [f, regions] = await Promise.all([api("GET", "/api/filters"), api("GET", "/api/regions")]);
  fillSelect($("f-split"), f.splits);
  fillSelect($("f-kind"), f.kinds);
  fillSelect($("f-region"), f.regions);
  state.regions = regions;
  const region = $("region");
  region.appendChild(new Option("— (unchanged)", ""));
  for (const r of regions) {
    const label = `${"\u00a0\u00a0".repeat(r.depth)}${r.depth ? "└ " : ""}${r.node}`;
    region.appendChild(new Option(label, r.path));
  }
  region.addEventListener("change", () => {
    const d = state.detail;
    const node = region.value && region.value !== region.dataset.original ? region.value : null;
    if (d && d.has_ct && state.nv) setOverlay({ ...d, has_mask: Boolean(node) || d.has_mask }, node).then(jumpToCentroid).catch(() => {});
  });
  for (const id of ["f-split", "f-kind", "f-region", "f-flagged", "f-disagreement"]) {
    $(id).addEventListener("change", () => loadQueue(false).then(refreshProgress));
  }
  $("queue-more").addEventListener("click", () => loadQueue(true).then(refreshProgress));
  $("btn-accept").addEventListener("click", () => decide("accept"));
  $("btn-reject").addEventListener("click", () => decide("reject"));
  $("btn-correct").addEventListener("click", () => decide("correct"));
  $("btn-undo").addEventListener("click", () => undo());
  $("jump").addEventListener("click", () => jumpToCentroid());
  $("toggle-mask").addEventListener("click", () => toggleMask());
  document.querySelectorAll(".view").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
  document.querySelectorAll(".preset").forEach((b) => b.addEventListener("click", () => applyWindow(b.dataset.preset)));
  $("logout").addEventListener("click", async () => {
    await api("POST", "/auth/logout", {}).catch(() => {});
    window.location.assign("/login");
  });
  document.addEventListener("keydown", onKey);
  await loadQueue(false);
  await refreshProgress();
  document.body.dataset.ready = "1";
}

start().catch((e) => {
  document.body.dataset.ready = "error";
  setMsg(`Failed to start: ${e.message || e}`, "bad");
});
