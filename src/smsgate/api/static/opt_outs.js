// The opt-out list: shown to readers; admins add and remove numbers.
"use strict";

const tableBody = document.querySelector("#opt-outs tbody");
const result = document.getElementById("opt-out-result");
const addForm = document.getElementById("add-opt-out");

async function load() {
  const { ok, data } = await smsgate.api("/api/v1/opt-outs?limit=500");
  if (!ok) { result.textContent = data?.error ?? "Could not load the list."; return; }
  tableBody.replaceChildren();
  for (const entry of data.data) {
    const tr = smsgate.el("tr");
    const actions = smsgate.el("td");
    if (addForm) {
      const remove = smsgate.el("button", "Remove", { type: "button", class: "link", "aria-label": `Remove ${entry.number}` });
      remove.addEventListener("click", async () => {
        const answer = await smsgate.api(`/api/v1/opt-outs/${encodeURIComponent(entry.number)}`, { method: "DELETE" });
        result.textContent = answer.ok ? `${entry.number} may be sent to again.` : answer.data?.error;
        load();
      });
      actions.append(remove);
    }
    tr.append(smsgate.el("td", entry.number), smsgate.el("td", entry.source), smsgate.el("td", smsgate.when(entry.created_at)), actions);
    tableBody.append(tr);
  }
  if (!data.data.length) result.textContent = "Nobody has opted out.";
}

addForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const number = document.getElementById("opt-out-number").value;
  const answer = await smsgate.api("/api/v1/opt-outs", { method: "POST", body: { number } });
  result.textContent = answer.ok ? `${answer.data.number} gets no more messages.` : answer.data?.error;
  if (answer.ok) addForm.reset();
  load();
});

load();
