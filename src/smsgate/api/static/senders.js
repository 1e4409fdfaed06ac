// The sender registry: listed for admins, who register and remove senders.
"use strict";

const tableBody = document.querySelector("#senders tbody");
const result = document.getElementById("sender-result");
const addForm = document.getElementById("add-sender");
const empty = document.getElementById("senders-empty");

function list(text) {
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}

async function load() {
  const { ok, data } = await smsgate.api("/api/v1/senders");
  if (!ok) { result.textContent = data?.error ?? "Could not load the senders."; return; }
  tableBody.replaceChildren();
  for (const sender of data.data) {
    const tr = smsgate.el("tr");
    const actions = smsgate.el("td");
    if (addForm) {
      const remove = smsgate.el("button", "Remove", { type: "button", class: "link", "aria-label": `Remove ${sender.address}` });
      remove.addEventListener("click", async () => {
        const answer = await smsgate.api(`/api/v1/senders/${encodeURIComponent(sender.id)}`, { method: "DELETE" });
        result.textContent = answer.ok ? `${sender.address} is no longer chosen.` : answer.data?.error;
        load();
      });
      actions.append(remove);
    }
    tr.append(
      smsgate.el("td", sender.address),
      smsgate.el("td", sender.kind.replace("_", " ")),
      smsgate.el("td", String(sender.mps)),
      smsgate.el("td", sender.countries.join(", ") || "anywhere"),
      smsgate.el("td", sender.pools.join(", ") || "none"),
      actions,
    );
    tableBody.append(tr);
  }
  // The empty state has a line of its own: the result of the last change stays readable.
  empty.hidden = data.data.length > 0;
}

addForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    address: document.getElementById("sender-address").value.trim(),
    countries: list(document.getElementById("sender-countries").value),
    pools: list(document.getElementById("sender-pools").value),
  };
  const mps = document.getElementById("sender-mps").value;
  if (mps) body.mps = Number(mps);
  const answer = await smsgate.api("/api/v1/senders", { method: "POST", body });
  result.textContent = answer.ok
    ? `${answer.data.address} is registered (${answer.data.kind.replace("_", " ")}, ${answer.data.mps} a second).`
    : `${answer.data?.error} (${answer.data?.code})`;
  if (answer.ok) addForm.reset();
  load();
});

load();
