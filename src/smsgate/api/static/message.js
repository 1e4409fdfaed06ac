// One message: what it is, and its timeline, asked again until its status is final.
"use strict";

const id = document.getElementById("message-id").textContent.trim();
const summary = document.getElementById("summary");
const timeline = document.getElementById("timeline");
const note = document.getElementById("follow-note");
const FINAL = new Set(["delivered", "undelivered", "failed", "rejected", "expired", "canceled", "unknown"]);

function entry(term, value) {
  summary.append(smsgate.el("dt", term), smsgate.el("dd", value ?? "—"));
}

// Plivo's meaning of the code, then its reason when that says more; each said once.
function errorInWords(error) {
  const same = (a, b) => a.trim().replace(/[.\s]+$/, "").toLowerCase() === b.trim().replace(/[.\s]+$/, "").toLowerCase();
  const parts = [error.meaning, error.reason].filter(Boolean);
  if (parts.length === 2 && same(parts[0], parts[1])) parts.pop();
  return parts.join(" — ") || error.code;
}

async function show() {
  const { ok, status: answered, data } = await smsgate.api(`/api/v1/messages/${encodeURIComponent(id)}`);
  if (answered === 429 || answered === 503) {
    // Refused for now (a limit, or the database): keep what is shown, and try again later.
    note.textContent = "Updates paused for a moment: smsgate asked us to slow down. Still following.";
    return "later";
  }
  note.textContent = "";
  summary.replaceChildren();
  if (!ok) { entry("Error", data?.error ?? "Not found"); return true; }
  const status = smsgate.el("span", data.status, { class: `status status-${data.status}`, id: "status" });
  summary.append(smsgate.el("dt", "Status"), smsgate.el("dd"));
  summary.lastChild.append(status);
  entry("To", data.to);
  entry("From", data.from ? `${data.from}${data.pool ? ` (pool ${data.pool})` : ""}` : (data.pool ? `chosen from the pool ${data.pool} at the hand-off` : null));
  entry("Text", data.text ?? "(redacted)");
  entry("Encoding", `${data.encoding}, ${data.segments} segment(s)`);
  entry("Estimated cost", smsgate.money(data.estimated_cost, data.currency));
  entry("Charged", smsgate.money(data.amount, data.currency));
  entry("Provider", `${data.provider}${data.provider_message_uuid ? ` · ${data.provider_message_uuid}` : ""}`);
  if (data.error) entry("What went wrong", errorInWords(data.error));
  timeline.replaceChildren();
  for (const event of data.events ?? []) {
    const item = smsgate.el("li");
    item.append(smsgate.el("time", smsgate.when(event.at), { datetime: event.at }), " ",
                smsgate.el("strong", event.status), ` from ${event.source}`);
    if (!event.applied) item.append(" (recorded; the status had moved on)");
    const reason = event.detail?.reason;
    if (reason) item.append(smsgate.el("p", reason, { class: "check" }));
    timeline.append(item);
  }
  return FINAL.has(data.status);
}

// Every 1.5 s until the status is final; after a refusal, twice as long each time (up to 30 s).
let pause = 1500;
(async function follow() {
  const outcome = await show();
  if (outcome === true) return;
  pause = outcome === "later" ? Math.min(pause * 2, 30000) : 1500;
  setTimeout(follow, pause);
})();
