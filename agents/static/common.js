// Shared by the live page and the customer page: exact money text, escaping, colours, a stacked bar chart.
"use strict";

const fw = {};

fw.escape = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => (
  {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

// Money arrives as exact decimal text ("1234.50"); it is summed as integer micro-units (BigInt), never floats.
fw.toMicros = (text) => {
  const match = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(String(text));
  if (!match) return 0n;
  const micros = BigInt(match[2]) * 1000000n + BigInt((match[3] || "").padEnd(6, "0") || "0");
  return match[1] ? -micros : micros;
};

fw.fromMicros = (micros) => {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  let fraction = (abs % 1000000n).toString().padStart(6, "0").replace(/0+$/, "");
  if (fraction.length < 2) fraction = fraction.padEnd(2, "0");
  return (negative ? "-" : "") + (abs / 1000000n).toString() + "." + fraction;
};

// "EUR 12,345.50" from "12345.50", by string, so what is shown is exactly what was computed.
fw.money = (text, currency) => {
  const [whole, fraction] = String(text).split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${currency ? currency + " " : ""}${sign}${digits}${fraction ? "." + fraction : ""}`;
};

fw.setMoney = (element, text, currency) => {
  element.dataset.amount = text;
  element.textContent = fw.money(text, currency);
};

// One colour per kind, the report's too (models/kinds.py KIND_COLOURS, sent with /api/summary).
fw.colours = {};
fw.colour = (kind) => fw.colours[kind] || "#95a5a6";

fw.getJSON = async (url) => {
  const response = await fetch(url, {headers: {"Accept": "application/json"}, cache: "no-store"});
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
};

// A stacked bar chart as inline SVG: rows [{month, kind, value: "decimal text"}]; exact figures in tooltips.
fw.stackedBars = (rows, currency) => {
  const months = [...new Set(rows.map((r) => r.month))].sort();
  if (!months.length) return '<p class="empty">nothing found yet</p>';
  const totals = new Map(months.map((m) => [m, 0n]));
  for (const r of rows) totals.set(r.month, totals.get(r.month) + fw.toMicros(r.value));
  const max = [...totals.values()].reduce((a, b) => (b > a ? b : a), 1n);
  const width = 460, height = 170, left = 8, bottom = 34, top = 18;
  const slot = (width - left) / Math.max(months.length, 6);
  const bar = Math.min(42, slot * 0.7);
  const scale = (micros) => (Number(micros) / Number(max)) * (height - bottom - top);
  let svg = `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">`;
  svg += `<line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#999"/>`;
  months.forEach((month, i) => {
    const x = left + i * slot + (slot - bar) / 2;
    let y = height - bottom;
    for (const r of rows.filter((row) => row.month === month)) {
      const h = scale(fw.toMicros(r.value));
      if (h <= 0) continue;
      y -= h;
      svg += `<rect class="bar" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bar.toFixed(1)}" height="${h.toFixed(1)}"`
        + ` fill="${fw.colour(r.kind)}" data-month="${month}" data-kind="${fw.escape(r.kind)}"`
        + ` data-amount="${r.value}"><title>${fw.escape(r.kind)} ${month}: ${fw.money(r.value, currency)}</title></rect>`;
    }
    const total = fw.fromMicros(totals.get(month));
    svg += `<text x="${(x + bar / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" class="bar-total" text-anchor="middle"`
      + ` data-month="${month}" data-amount="${total}">${fw.money(total.split(".")[0], "")}</text>`;
    svg += `<text x="${(x + bar / 2).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" class="axis">${month}</text>`;
  });
  return svg + "</svg>";
};

fw.time = (rfc3339) => (rfc3339 ? rfc3339.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "");
