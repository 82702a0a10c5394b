// radgenome review, admin page: progress per reviewer, agreement, adjudication of disagreements, export.
// Every text is written with textContent.
import { api, el, newKey, postDecision, setCsrf } from "/static/api.js";

const $ = (id) => document.getElementById(id);

function setMsg(text, kind = "") {
  $("admin-msg").textContent = text;
  $("admin-msg").className = `msg ${kind}`;
}

function row(cells, numeric = new Set()) {
  const tr = el("tr");
  cells.forEach((c, i) => tr.appendChild(el("td", c, numeric.has(i) ? "num" : "")));
  return tr;
}

async function showProgress() {
  const p = await api("GET", "/api/admin/progress");
  const t = p.totals;
  const figures = [
    ["items", t.items], ["complete", t.complete], ["reads", `${t.reads_done} / ${t.reads_required}`],
    ["double-read", t.double_read], ["disagreements open", t.disagreements_open], ["adjudicated", t.adjudicated],
  ];
  $("totals").replaceChildren(...figures.map(([name, value]) => {
    const d = el("div");
    d.appendChild(el("b", value));
    d.appendChild(el("span", name, "muted"));
    return d;
  }));
  $("progress-table").tBodies[0].replaceChildren(...p.reviewers.map((r) =>
    row([r.reviewer, r.role, r.open, r.decided, r.decisions, r.adjudications], new Set([2, 3, 4, 5]))));
}

async function showAgreement() {
  const a = await api("GET", "/api/agreement");
  $("agreement-table").tBodies[0].replaceChildren(...a.rows.map((r) =>
    row([r.group, r.name, r.items, r.agree, r.kappa === null ? "n/a" : r.kappa.toFixed(3)], new Set([2, 3, 4]))));
}

function readBox(r) {
  const box = el("div", null, "adj-read");
  box.appendChild(el("div", `${r.reviewer}: ${r.verdict}`, `v-${r.verdict}`));
  if (r.text) box.appendChild(el("div", `text → ${r.text}`));
  if (r.path) box.appendChild(el("div", `region → ${r.path}`, "path"));
  if (r.mask_wrong) box.appendChild(el("div", "mask flagged wrong"));
  if (r.comment) box.appendChild(el("div", `“${r.comment}”`, "muted"));
  return box;
}

async function adjudicate(item, body, card) {
  try {
    await postDecision("/api/adjudications", { item_id: item.id, key: newKey(), ...body });
    card.remove();
    setMsg(`settled: ${body.verdict}`, "ok");
    document.body.dataset.adjudications = String(Number(document.body.dataset.adjudications || 0) + 1);
    await Promise.all([showAdjudication(), showProgress()]);
  } catch (e) {
    setMsg(`Not saved: ${e.message}`, "bad");
  }
}

async function showAdjudication() {
  const q = await api("GET", "/api/admin/adjudication?limit=100");
  $("adj-count").textContent = String(q.items.length);
  const list = $("adj-list");
  if (!q.items.length) {
    list.replaceChildren(el("p", "No open disagreements.", "muted"));
    return;
  }
  list.replaceChildren(...q.items.map((item) => {
    const card = el("div", null, "adj-item");
    card.dataset.item = item.id;
    const head = el("div", null, "qi-head");
    head.appendChild(el("span", item.kind === "qa" ? `QA · ${item.qa_kind}` : "sentence", "badge"));
    head.appendChild(el("span", item.path || item.node || "—", "path"));
    head.appendChild(el("span", item.volume, "muted"));
    card.appendChild(head);
    card.appendChild(el("div", item.kind === "qa" ? `${item.text} — ${item.answer}` : item.text));
    const reads = el("div", null, "adj-reads");
    item.reads.forEach((r) => reads.appendChild(readBox(r)));
    card.appendChild(reads);
    const actions = el("div", null, "actions");
    const button = (label, cls, body) => {
      const b = el("button", label, `btn small ${cls}`);
      b.type = "button";
      b.addEventListener("click", () => adjudicate(item, body, card));
      actions.appendChild(b);
    };
    button("Accept as is", "ok adj-accept", { verdict: "accept" });
    button("Reject", "bad adj-reject", { verdict: "reject" });
    for (const r of item.reads) {
      if (r.verdict === "correct") {
        button(`Adopt ${r.reviewer}'s correction`, "primary adj-adopt",
          { verdict: "correct", text: r.text, path: r.path, mask_wrong: r.mask_wrong, comment: `adopted from ${r.reviewer}` });
      }
    }
    const open = el("a", "Open in viewer", "btn small ghost");
    open.href = `/?item=${encodeURIComponent(item.id)}`;
    actions.appendChild(open);
    card.appendChild(actions);
    return card;
  }));
}

async function exportVerified() {
  setMsg("exporting…");
  try {
    const res = await api("POST", "/api/admin/export", undefined, { raw: true });
    const summary = res.headers.get("x-export-summary") || "";
    const blob = await res.blob();
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = "verified.zip";
    document.body.appendChild(a);
    a.click();
    a.remove();
    $("export-summary").textContent = summary.replaceAll("; ", " · ");
    setMsg("export downloaded", "ok");
  } catch (e) {
    setMsg(`Export failed: ${e.message}`, "bad");
  }
}

function showTab(name) {
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  document.querySelectorAll(".tab-panel").forEach((p) => p.classList.toggle("on", p.id === `tab-${name}`));
}

async function start() {
  const me = await api("GET", "/api/me");
  if (me.role !== "admin") {
    window.location.assign("/");
    return;
  }
  setCsrf(me.csrf);
  $("user-name").textContent = me.name;
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("export").addEventListener("click", exportVerified);
  $("logout").addEventListener("click", async () => {
    await api("POST", "/auth/logout", {}).catch(() => {});
    window.location.assign("/login");
  });
  showTab(window.location.hash.slice(1) || "progress");
  await Promise.all([showProgress(), showAgreement(), showAdjudication()]);
  document.body.dataset.ready = "1";
}

start().catch((e) => {
  document.body.dataset.ready = "error";
  setMsg(`Failed to start: ${e.message || e}`, "bad");
});
