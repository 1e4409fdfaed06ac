// The messages table: filters, pages, and statuses kept live by asking again every 3 s.
"use strict";

const body = document.querySelector("#messages tbody");
const filters = document.getElementById("filters");
const more = document.getElementById("more");
const listStatus = document.getElementById("list-status");
let cursor = null;

// A chosen day is the page's (the browser's time zone), and both ends include it: "until"
// the 3rd means before the 4th begins.
function dayStarts(value, later = 0) {
  const day = new Date(`${value}T00:00:00`);
  day.setDate(day.getDate() + later);
  return day.toISOString();
}

function query(extra = {}) {
  const params = new URLSearchParams({ limit: "50" });
  for (const [name, value] of new FormData(filters)) {
    if (!value) continue;
    if (name === "created_after") params.set(name, dayStarts(value));
    else if (name === "created_before") params.set(name, dayStarts(value, 1));
    else params.set(name, value);
  }
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  return params;
}

function row(message) {
  const tr = smsgate.el("tr", undefined, { "data-id": message.id });
  const created = smsgate.el("td");
  created.append(smsgate.el("a", smsgate.when(message.created_at), { href: `/messages/${message.id}` }));
  const status = smsgate.el("td");
  status.append(smsgate.el("span", message.status, { class: `status status-${message.status}` }));
  tr.append(created, smsgate.el("td", message.to), status, smsgate.el("td", message.segments),
            smsgate.el("td", smsgate.money(message.estimated_cost, message.currency) ?? ""), smsgate.el("td", message.error?.meaning ?? message.error?.reason ?? ""));
  return tr;
}

async function load(append) {
  const { ok, data } = await smsgate.api(`/api/v1/messages?${query(append && cursor ? { cursor } : {})}`);
  if (!ok) { listStatus.textContent = data?.error ?? "Could not load messages."; return; }
  if (!append) body.replaceChildren();
  for (const message of data.data) body.append(row(message));
  cursor = data.next_cursor;
  more.hidden = !cursor;
  listStatus.textContent = body.children.length ? "" : "No messages match.";
}

// Every 3 s; after a refusal (429, 503), twice as long each time, up to a minute.
let every = 3000;

async function refresh() {
  // Only the first page is asked again: new messages appear, and statuses move.
  const { ok, status, data } = await smsgate.api(`/api/v1/messages?${query()}`);
  every = status === 429 || status === 503 ? Math.min(every * 2, 60000) : 3000;
  setTimeout(refresh, every);
  if (!ok) return;
  const known = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
  const fresh = [];
  for (const message of data.data) {
    const existing = known.get(message.id);
    if (existing) existing.replaceWith(row(message));
    else fresh.push(row(message));
  }
  body.prepend(...fresh);
  if (body.children.length) listStatus.textContent = "";
}

document.getElementById("zone").textContent =
  `Times and dates are in ${Intl.DateTimeFormat().resolvedOptions().timeZone}, this browser's time zone.`;
filters.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
more.addEventListener("click", () => load(true));
load(false);
setTimeout(refresh, every);
