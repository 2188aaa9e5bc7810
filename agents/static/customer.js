// The customer page: the story (timeline + findings) from the worker owning the customer, and its state.
"use strict";

const $ = (id) => document.getElementById(id);
const customerId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] || "");
const storyUrl = `/api/customers/${encodeURIComponent(customerId)}/story`;
const stateUrl = `/customers/${encodeURIComponent(customerId)}`;

const anchor = (eventId) => "ev-" + eventId.replace(/[^A-Za-z0-9_.:-]/g, "_");

function renderEntry(entry, currency) {
  const ids = entry.event_ids.map((id) => `<span class="event-id" id="${fw.escape(anchor(id))}">${fw.escape(id)}</span>`);
  let extra = "";
  if (entry.kind === "alert") {
    const evidence = entry.evidence.map((e) => e.linked
      ? `<a class="evidence" href="#${fw.escape(anchor(e.event_id))}" data-event="${fw.escape(e.event_id)}">${fw.escape(e.event_id)}</a>`
      : `<span class="evidence unlinked" title="not in the state any more">${fw.escape(e.event_id)}</span>`);
    const impact = entry.impact;
    extra = `<p class="impact"><span class="badge ${entry.lifecycle}">${entry.lifecycle}</span>
      <span class="badge sev-${entry.severity}">${entry.severity}</span>
      <span class="money" data-amount="${impact.amount}">${fw.money(impact.amount, impact.currency)}${impact.per === "year" ? "/year" : " once"}</span>
      · evidence: ${evidence.join(", ") || "none"}</p>
      <p class="action">${fw.escape(entry.suggested_action)}</p>`;
  }
  return `<li class="entry ${entry.kind}${entry.kind === "alert" ? " sev-" + entry.severity : ""}"
      data-kind="${entry.kind}" data-ref="${fw.escape(entry.ref)}">
    <span class="when">${entry.time ? fw.time(entry.time) : "time not kept"}</span>
    <span class="entry-kind">${entry.kind}</span> <strong>${fw.escape(entry.title)}</strong>
    <p>${fw.escape(entry.text)}</p>${extra}
    <p class="ids">${ids.join(" ")}</p></li>`;
}

// The CRM's answer on a finding: closed (how, after how long) or disputed (why), else nothing yet.
function answerText(f) {
  const fb = f.feedback || {};
  if (fb.disputed) return `disputed by ${fw.escape(fb.disputed.by)}: ${fw.escape(fb.disputed.reason)}`;
  if (fb.closed) {
    const after = f.time_to_close_hours === null ? "" : ` after ${f.time_to_close_hours} h`;
    return `closed by ${fw.escape(fb.closed.by)}: ${fw.escape(fb.closed.outcome.replace("_", " "))}${after}`;
  }
  return fb.acknowledged ? "acknowledged" : "–";
}

function render(story, state) {
  const currency = story.currency;
  $("customer-title").textContent = `Customer ${story.customer_id}`;
  document.title = `fairwatch — ${story.customer_id}`;
  let year = 0n, once = 0n, open = 0;
  for (const f of story.findings) {
    if (!f.open) continue;
    open += 1;
    if (f.impact.per === "year") year += fw.toMicros(f.impact.amount); else once += fw.toMicros(f.impact.amount);
  }
  $("customer-cards").innerHTML = `
    <div class="card"><h2>Open alerts</h2><p class="big" id="customer-open">${open}</p>
      <p class="small">${story.findings.length} found in all</p></div>
    <div class="card"><h2>Yearly amounts, open</h2><p class="big money" data-amount="${fw.fromMicros(year)}">
      ${fw.money(fw.fromMicros(year), currency)}</p></div>
    <div class="card"><h2>One-off amounts, open</h2><p class="big money" data-amount="${fw.fromMicros(once)}">
      ${fw.money(fw.fromMicros(once), currency)}</p></div>
    <div class="card"><h2>Partition</h2><p class="big">${state ? state.partition : "–"}</p>
      <p class="small">${state ? "last event " + fw.time(state.last_event_at) : "no state held"}</p></div>`;
  $("findings").tBodies[0].innerHTML = story.findings.map((f) => `
    <tr class="${f.open ? "open" : "resolved"}" data-kind="${fw.escape(f.kind)}" data-alert="${fw.escape(f.alert_id)}"><td>${fw.escape(f.kind)}
      <p class="summary">${fw.escape(f.summary)}</p></td><td>${f.open ? "open" : "resolved"}</td>
      <td><span class="badge sev-${f.severity}">${f.severity}</span></td>
      <td class="num money" data-amount="${f.impact.amount}">${fw.money(f.impact.amount, "")}${f.impact.per === "year" ? "/yr" : ""}</td>
      <td>${fw.time(f.raised_at)}</td>
      <td class="owner">${f.owner ? fw.escape(f.owner) : "–"}${f.time_to_acknowledge_hours === null ? ""
        : ` <span class="small">(${f.time_to_acknowledge_hours} h)</span>`}</td>
      <td class="answer" data-answer="${fw.escape(f.answer || "")}">${answerText(f)}</td>
      <td>${f.evidence.map((e) => `<a class="evidence" href="#${fw.escape(anchor(e))}">${fw.escape(e)}</a>`).join(" ")}</td></tr>`)
    .join("") || '<tr><td colspan="8" class="empty">nothing found</td></tr>';
  const subs = state ? Object.entries(state.subscriptions) : [];
  $("subscriptions").tBodies[0].innerHTML = subs.map(([id, s]) => `
    <tr><td>${fw.escape(id)}</td><td>${fw.escape(s.plan_id)}</td>
      <td class="num">${s.agreed_monthly_fee === null ? "–" : fw.money(s.agreed_monthly_fee.toFixed(2), currency)}</td>
      <td>${fw.time(s.started_at)}</td><td>${fw.time(s.ended_at || s.cancellation_effective_at)}</td></tr>`).join("")
    || '<tr><td colspan="5" class="empty">none</td></tr>';
  const orders = state ? Object.entries(state.open_orders) : [];
  $("orders").tBodies[0].innerHTML = orders.map(([id, o]) => `
    <tr><td>${fw.escape(id)}</td><td>${fw.escape(o.status)}</td><td>${fw.time(o.promised_delivery_by)}</td>
      <td class="num">${fw.money(o.value.toFixed(2), currency)}</td></tr>`).join("")
    || '<tr><td colspan="4" class="empty">none open</td></tr>';
  const hideUsage = $("hide-usage").checked;
  $("timeline").innerHTML = story.timeline.filter((e) => !(hideUsage && e.kind === "usage"))
    .map((e) => renderEntry(e, currency)).join("");
  $("status").textContent = `${story.timeline.length} entries · ${new Date().toLocaleTimeString()}`;
  document.body.dataset.loaded = "yes";
}

let last = null;
async function load() {
  try {
    const [story, state] = await Promise.all([
      fw.getJSON(storyUrl),
      fw.getJSON(stateUrl).catch(() => null),  // no state (pruned): the alerts still tell the story
    ]);
    last = [story, state];
    render(story, state);
  } catch (error) {
    $("status").textContent = `no story for ${customerId}: ${error.message}`;
    document.body.dataset.loaded = "error";
  }
}

$("json-link").href = stateUrl + "?format=json";
$("story-link").href = storyUrl;
$("hide-usage").addEventListener("change", () => last && render(...last));
load();
setInterval(() => { if (!window.location.hash) load(); }, 5000);  // do not move the page under a followed link
