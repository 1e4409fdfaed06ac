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

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  const headers = { "Content-Type": "application/json" };
  const key = document.getElementById("api-key");
  if (key && key.value) headers.Authorization = `Bearer ${key.value}`;
  try {
    const response = await fetch("/api/send-sms", {
      method: "POST",
      headers,
      body: JSON.stringify({ to: document.getElementById("to").value, text: textArea.value }),
    });
    const body = await response.json();
    if (body.success) {
      show(true, [
        document.createTextNode(`Sent to ${body.to} (${body.encoding}, ${body.segments} segment${body.segments === 1 ? "" : "s"}).`),
        line("Message UUID", body.message_uuid),
      ]);
    } else {
      show(false, [document.createTextNode(body.error), line("Code", `${body.code} (HTTP ${response.status})`)]);
    }
  } catch (error) {
    show(false, [document.createTextNode(`Could not reach smsgate: ${error}`)]);
  } finally {
    button.disabled = false;
  }
});

textArea.addEventListener("input", showCount);
showCount();
