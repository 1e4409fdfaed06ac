// A CSV upload: the bytes' progress while it goes up, then the rows refused (downloadable)
// and the batch's progress while its messages are handed to the provider.
"use strict";

const uploadForm = document.getElementById("upload");
const state = document.getElementById("upload-state");
const uploadProgress = document.getElementById("upload-progress");
const uploadResult = document.getElementById("upload-result");
const rowErrors = document.getElementById("row-errors");
const download = document.getElementById("errors-download");
const sendProgress = document.getElementById("send-progress");
const sendResult = document.getElementById("send-result");
const FINAL = ["delivered", "undelivered", "failed", "rejected", "expired", "canceled", "unknown", "sent", "queued"];

function upload(file, sendAt) {
  // XMLHttpRequest, not fetch: only it reports an upload's progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    const params = new URLSearchParams();
    if (sendAt) params.set("send_at", new Date(sendAt).toISOString());
    request.open("POST", `/api/v1/batches${params.size ? `?${params}` : ""}`);
    request.setRequestHeader("X-CSRF-Token", smsgate.csrf);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) uploadProgress.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { body = { error: request.responseText }; }
      resolve({ status: request.status, body });
    });
    request.addEventListener("error", () => reject(new Error("the upload failed")));
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}

function csvCell(value) {
  const text = String(value ?? "");
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function showErrors(errors) {
  const body = rowErrors.querySelector("tbody");
  body.replaceChildren();
  for (const error of errors) {
    const tr = smsgate.el("tr");
    tr.append(smsgate.el("td", error.row ?? error.index + 2), smsgate.el("td", error.to),
              smsgate.el("td", error.code), smsgate.el("td", error.error));
    body.append(tr);
  }
  rowErrors.hidden = errors.length === 0;
  download.hidden = errors.length === 0;
  if (errors.length) {
    const lines = ["line,to,code,error", ...errors.map((e) => [e.row ?? e.index + 2, e.to, e.code, e.error].map(csvCell).join(","))];
    download.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  }
}

async function follow(batchId) {
  const { ok, data } = await smsgate.api(`/api/v1/batches/${batchId}`);
  if (!ok) { sendResult.textContent = data?.error ?? "Could not read the batch."; return; }
  const total = data.messages;
  const done = FINAL.reduce((sum, status) => sum + (data.counts[status] ?? 0), 0);
  sendProgress.max = Math.max(total, 1);
  sendProgress.value = done;
  const parts = Object.entries(data.counts).filter(([, n]) => n).map(([status, n]) => `${n} ${status}`);
  sendResult.textContent = `${done} of ${total} handed over or settled: ${parts.join(", ")}`;
  if (done < total) setTimeout(() => follow(batchId), 1000);
}

uploadForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = document.getElementById("file").files[0];
  if (!file) { uploadResult.textContent = "Choose a CSV file first."; state.hidden = false; return; }
  state.hidden = false;
  uploadProgress.value = 0;
  uploadResult.textContent = "Uploading…";
  try {
    const { status, body } = await upload(file, document.getElementById("send-at").value);
    uploadProgress.value = 100;
    if (status === 202) {
      uploadResult.textContent = `Batch ${body.batch_id}: ${body.accepted} accepted, ${body.refused} refused.`;
      showErrors(body.errors);
      follow(body.batch_id);
    } else {
      uploadResult.textContent = `${body?.error ?? "Refused."} (${body?.code}, HTTP ${status})`;
      showErrors(body?.errors ?? []);
    }
  } catch (error) {
    uploadResult.textContent = `Could not upload: ${error.message}`;
  }
});
