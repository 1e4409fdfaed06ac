// Shared by the console's pages: calls to smsgate's JSON API with the session's cookie and,
// for changes, its CSRF token (the API refuses a change without it).
"use strict";

window.smsgate = {
  csrf: document.querySelector('meta[name="csrf-token"]')?.content ?? "",

  async api(path, { method = "GET", body, headers = {} } = {}) {
    const options = { method, credentials: "same-origin", headers: { ...headers } };
    if (method !== "GET") options.headers["X-CSRF-Token"] = this.csrf;
    if (body instanceof FormData || typeof body === "string") options.body = body;
    else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) window.location.assign("/login");
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
    return { ok: response.ok, status: response.status, data };
  },

  el(tag, text, attributes = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  },

  when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  },

  // An amount as the API gives it (a decimal string) with its currency: "0.00350 USD"; null
  // stays null. The API names no currency without a price table: the amount is shown alone.
  money(amount, currency) {
    if (amount === undefined || amount === null || amount === "") return null;
    return currency ? `${amount} ${currency}` : String(amount);
  },
};
