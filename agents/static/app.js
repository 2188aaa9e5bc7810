// The live page: polls the feed (/api/alerts?after=seq) and the figures (/api/summary); no reload needed.
"use strict";

const live = {epoch: null, seq: 0, feed: [], kinds: [], currency: "", max: 400, freshAbove: 0};
const $ = (id) => document.getElementById(id);

function renderFeed() {
  const kind = $("filter-kind").value, severity = $("filter-severity").value;
  const customer = $("filter-customer").value.trim();
  const shown = live.feed.filter((a) => (!kind || a.kind === kind) && (!severity || a.severity === severity)
    && (!customer || a.customer_id.includes(customer)));
  $("feed").innerHTML = shown.slice(0, 200).map((a) => `
    <li class="alert ${a.lifecycle} sev-${a.severity}${a.seq > live.freshAbove ? " fresh" : ""}" data-id="${fw.escape(a.id)}" data-kind="${fw.escape(a.kind)}"
        data-severity="${a.severity}" data-lifecycle="${a.lifecycle}">
      <span class="when">${fw.time(a.time)}</span>
      <span class="badge ${a.lifecycle}">${a.lifecycle}</span>
      <span class="badge sev-${a.severity}">${a.severity}</span>
      <span class="kind" style="border-color:${fw.colour(a.kind)}">${fw.escape(a.kind)}</span>
      <a class="customer" href="/customers/${encodeURIComponent(a.customer_id)}">${fw.escape(a.customer_id)}</a>
      <span class="money" data-amount="${a.amount}">${fw.money(a.amount, a.currency)}${a.per === "year" ? "/year" : ""}</span>
      <p class="summary">${fw.escape(a.summary)}</p>
    </li>`).join("");
  $("feed-count").textContent = `(${shown.length} shown of the newest ${live.feed.length})`;
}

function updateKinds(kinds) {
  const fresh = kinds.filter((k) => !live.kinds.includes(k));
  if (!fresh.length) return;
  live.kinds = [...live.kinds, ...fresh].sort();
  const select = $("filter-kind"), chosen = select.value;
  select.innerHTML = '<option value="">all kinds</option>'
    + live.kinds.map((k) => `<option value="${fw.escape(k)}">${fw.escape(k)}</option>`).join("");
  select.value = chosen;
}

async function pollFeed() {
  const body = await fw.getJSON(`/api/alerts?after=${live.seq}&limit=500`);
  if (body.epoch !== live.epoch) {  // a new worker process: its ledger and sequence numbers start again
    live.epoch = body.epoch;
    live.feed = [];
    if (live.seq !== 0) { live.seq = 0; return pollFeed(); }
  }
  live.currency = body.currency;
  if (body.alerts.length) {
    live.freshAbove = live.feed.length ? live.seq : Number.MAX_SAFE_INTEGER;  // what just arrived, not the first load
    live.feed = [...body.alerts, ...live.feed].slice(0, live.max);
    live.seq = Math.max(live.seq, body.alerts[0].seq);
    updateKinds(body.alerts.map((a) => a.kind));
    renderFeed();
  }
  const lag = body.reader.lag;
  $("status").textContent = `${body.seq} alert emissions read from the topic`
    + (lag === null ? "" : lag === 0 ? " · up to date" : ` · ${lag} behind`)
    + (body.reader.error ? ` · reader: ${body.reader.error}` : "")
    + ` · ${new Date().toLocaleTimeString()}`;
  $("status").dataset.seq = body.seq;
}

function renderSummary(s) {
  const c = s.currency, h = s.headline;
  fw.colours = s.colours;
  fw.setMoney($("overpayment-open"), h.overpayment_year_open, c);
  fw.setMoney($("overpayment-found"), h.overpayment_year_found, c);
  fw.setMoney($("overcharges-open"), h.overcharges_once_open, c);
  fw.setMoney($("overcharges-found"), h.overcharges_once_found, c);
  $("promises-open").textContent = h.promises_open;
  $("alerts-open").textContent = h.open;
  $("alerts-all").textContent = h.alerts;
  updateKinds(s.by_kind.map((r) => r.kind));
  $("by-kind").tBodies[0].innerHTML = s.by_kind.map((r) => `
    <tr data-kind="${fw.escape(r.kind)}"><td><span class="swatch" style="background:${fw.colour(r.kind)}"></span>
      ${fw.escape(r.kind)}</td><td class="num">${r.alerts}</td><td class="num">${r.open}</td>
      <td class="num">${r.customers}</td>
      <td class="num money" data-field="open_year" data-amount="${r.open_year}">${fw.money(r.open_year, "")}</td>
      <td class="num money" data-field="open_once" data-amount="${r.open_once}">${fw.money(r.open_once, "")}</td>
      <td class="num money" data-field="found_year" data-amount="${r.found_year}">${fw.money(r.found_year, "")}</td>
      <td class="num money" data-field="found_once" data-amount="${r.found_once}">${fw.money(r.found_once, "")}</td>
      <td class="num">${r.resolved}</td>
      <td class="num">${r.median_resolve_hours === null ? "–" : r.median_resolve_hours + " h"}</td></tr>`).join("");
  const hours = (value) => value === null ? "–" : value + " h";
  $("by-kind-feedback").tBodies[0].innerHTML = s.by_kind.filter((r) => r.acknowledged || r.disputed).map((r) => `
    <tr data-kind="${fw.escape(r.kind)}"><td><span class="swatch" style="background:${fw.colour(r.kind)}"></span>
      ${fw.escape(r.kind)}</td><td class="num" data-field="acknowledged">${r.acknowledged}</td>
      <td class="num" data-field="median_ack">${hours(r.median_ack_hours)}</td>
      <td class="num" data-field="closed">${r.closed}</td>
      <td class="num" data-field="median_close">${hours(r.median_close_hours)}</td>
      <td class="num" data-field="disputed" data-share="${r.disputed_share}">${r.disputed}
        (${Math.round(100 * r.disputed_share)}%)</td>
      <td class="num money" data-field="put_right_year" data-amount="${r.put_right_year}">${fw.money(r.put_right_year, "")}</td>
      <td class="num money" data-field="put_right_once" data-amount="${r.put_right_once}">${fw.money(r.put_right_once, "")}</td>
      </tr>`).join("") || '<tr><td colspan="8" class="empty">no answers from the CRM yet</td></tr>';
  $("chart-year").innerHTML = fw.stackedBars(s.by_month.filter((r) => r.year !== "0.00")
    .map((r) => ({month: r.month, kind: r.kind, value: r.year})), c);
  $("chart-once").innerHTML = fw.stackedBars(s.by_month.filter((r) => r.once !== "0.00")
    .map((r) => ({month: r.month, kind: r.kind, value: r.once})), c);
  const charted = [...new Set(s.by_month.map((r) => r.kind))];
  $("chart-legend").innerHTML = charted.map((k) =>
    `<span><span class="swatch" style="background:${fw.colour(k)}"></span>${fw.escape(k)}</span>`).join(" ");
  const promiseRows = [];
  for (const [kind, stages] of Object.entries(s.open_promises.by_kind)) {
    for (const [stage, count] of Object.entries(stages)) {
      promiseRows.push(`<tr data-kind="${fw.escape(kind)}"><td>${fw.escape(kind)}</td><td>${fw.escape(stage)}</td>
        <td class="num">${count}</td></tr>`);
    }
  }
  $("promises").tBodies[0].innerHTML = promiseRows.join("") || '<tr><td colspan="3" class="empty">none open</td></tr>';
  $("oldest").innerHTML = s.open_promises.oldest.map((f) => `
    <li><span class="when">${fw.time(f.raised_at)}</span> <a href="/customers/${encodeURIComponent(f.customer_id)}">
      ${fw.escape(f.customer_id)}</a> <span class="kind">${fw.escape(f.kind)}</span>
      <p class="summary">${fw.escape(f.summary)}</p></li>`).join("");
  $("top-customers").tBodies[0].innerHTML = s.top_customers.map((r) => `
    <tr data-customer="${fw.escape(r.customer_id)}"><td><a href="/customers/${encodeURIComponent(r.customer_id)}">
      ${fw.escape(r.customer_id)}</a></td>
      <td class="num money" data-amount="${r.year}">${fw.money(r.year, "")}</td>
      <td class="num money" data-amount="${r.once}">${fw.money(r.once, "")}</td>
      <td class="num">${r.open}</td></tr>`).join("")
    || '<tr><td colspan="4" class="empty">no money at stake yet</td></tr>';
  document.body.dataset.summarySeq = s.seq;
}

let summarySeq = -1;
async function pollSummary() {
  if (summarySeq === live.seq && live.seq !== 0) return;
  const s = await fw.getJSON("/api/summary");
  renderSummary(s);
  summarySeq = s.seq;
}

async function tick() {
  try {
    await pollSummary();  // first: it brings the kinds' colours the feed is drawn with
    await pollFeed();
  } catch (error) {
    $("status").textContent = `cannot reach the worker (${error.message}); retrying`;
  }
  setTimeout(tick, 1000);
}

for (const id of ["filter-kind", "filter-severity", "filter-customer"]) {
  $(id).addEventListener("input", () => { live.freshAbove = live.seq; renderFeed(); });
}
$("open-customer").addEventListener("click", () => {
  const id = $("filter-customer").value.trim();
  if (id) window.location.href = `/customers/${encodeURIComponent(id)}`;
});
tick();
