// The send form: a live character / encoding / segment counter and an inline result.
// The counting rules mirror smsgate.domain.encoding, and the GSM-7 alphabets come from it.
"use strict";

const tables = JSON.parse(document.getElementById("gsm7-tables").textContent);
const basic = new Set(Array.from(tables.basic));
const extended = new Set(Array.from(tables.extended));

function analyse(text) {
  const chars = Array.from(text); // code points, like Python's str
  const unicode = [...new Set(chars.filter((c) => !basic.has(c) && !extended.has(c)))];
  const gsm = unicode.length === 0;
  const sizes = chars.map((c) => (gsm ? (extended.has(c) ? 2 : 1) : (c.codePointAt(0) > 0xffff ? 2 : 1)));
  const units = sizes.reduce((a, b) => a + b, 0);
  const [single, part] = gsm ? [160, 153] : [70, 67];
  let segments = 0;
  if (units > 0 && units <= single) segments = 1;
  if (units > single) {
    // A two-unit character never straddles two parts: it starts the next one.
    segments = 1;
    let used = 0;
    for (const size of sizes) {
      if (used + size > part) { segments += 1; used = 0; }
      used += size;
    }
  }
  return { encoding: gsm ? "GSM-7" : "UCS-2", characters: chars.length, units, segments, unicode };
}

const form = document.getElementById("send-form");
const textArea = document.getElementById("text");
const counter = document.getElementById("counter");
const unicodeNote = document.getElementById("unicode-note");
const result = document.getElementById("result");
const button = document.getElementById("send");

function showCount() {
  const info = analyse(textArea.value);
  const limit = info.encoding === "GSM-7" ? `${info.characters} / 1600 characters` : `${info.units} / 737 UCS-2 units`;
  counter.textContent = `${limit} · ${info.encoding} · ${info.segments} segment${info.segments === 1 ? "" : "s"}`;
  if (info.unicode.length > 0) {
    unicodeNote.hidden = false;
    unicodeNote.replaceChildren("These characters force UCS-2 (70 per segment instead of 160): ");
    for (const c of info.unicode.slice(0, 10)) {
      const mark = document.createElement("mark");
      mark.textContent = c.trim() === "" ? `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}` : c;
      unicodeNote.append(mark, " ");
    }
  } else {
    unicodeNote.hidden = true;
  }
  showCost();
}

function show(ok, parts) {
  result.hidden = false;
  result.className = `result ${ok ? "ok" : "error"}`;
  result.replaceChildren(...parts);
}

function line(label, value) {
  const p = document.createElement("p");
  const code = document.createElement("code");
  code.textContent = value;
  p.append(`${label}: `, code);
  return p;
}

const toInput = document.getElementById("to");
const toCheck = document.getElementById("to-check");
let pricePerSegment = null;
let priceCurrency = null;
let checkTimer = null;

function showCost() {
  const info = analyse(textArea.value);
  if (pricePerSegment !== null && info.segments > 0) {
    const cost = (Number(pricePerSegment) * info.segments).toFixed(5);
    counter.textContent += ` · about ${smsgate.money(cost, priceCurrency)} (at most)`;
  }
}

async function checkNumber() {
  const number = toInput.value.trim();
  toInput.removeAttribute("aria-invalid");
  if (!number) { toCheck.textContent = ""; pricePerSegment = priceCurrency = null; return; }
  const { data } = await smsgate.api(`/api/v1/numbers/check?number=${encodeURIComponent(number)}`);
  if (!data || toInput.value.trim() !== number) return; // typed on meanwhile
  if (data.valid) {
    toCheck.className = "check ok";
    toCheck.textContent = `${data.e164} · ${data.country_name ?? data.country}` +
      (data.price_per_segment
        ? ` · ${data.price_per_segment} a segment${data.currency ? ` (${data.currency})` : ""}`
        : " · no price known");
    pricePerSegment = data.price_per_segment;
    priceCurrency = data.currency ?? null;
  } else {
    toCheck.className = "check error";
    toCheck.textContent = data.error ?? "Not a number smsgate can send to.";
    toInput.setAttribute("aria-invalid", "true");
    pricePerSegment = priceCurrency = null;
  }
  showCount();
}

toInput.addEventListener("input", () => {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(checkNumber, 300);
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  try {
    const { status, data } = await smsgate.api("/api/v1/messages", {
      method: "POST",
      body: { to: toInput.value, text: textArea.value },
    });
    if (data && data.id && status < 300) {
      const link = smsgate.el("a", "Follow it", { href: `/messages/${data.id}` });
      show(true, [
        document.createTextNode(`Accepted for ${data.to}: ${data.status} (${data.encoding}, ${data.segments} segment${data.segments === 1 ? "" : "s"}). `),
        link,
      ]);
    } else {
      show(false, [document.createTextNode(data?.error ?? "Refused."), line("Code", `${data?.code} (HTTP ${status})`)]);
      if (["invalid_number", "invalid_number_format", "missing_country_code", "number_too_short", "number_too_long", "country_not_allowed", "invalid_country_code", "invalid_number_length"].includes(data?.code)) {
        toInput.setAttribute("aria-invalid", "true");
        toInput.focus();
      }
    }
  } catch (error) {
    show(false, [document.createTextNode(`Could not reach smsgate: ${error}`)]);
  } finally {
    button.disabled = false;
  }
});

textArea.addEventListener("input", showCount);
showCount();
if (toInput.value) checkNumber(); // typed (or filled in by the browser) before this ran
