// The runnel console's few live parts: forms that call the JSON API, the
// message filter, local times and the overview's throughput charts.
"use strict";

function status(text, ok) {
  const el = document.getElementById("status");
  if (el) { el.textContent = text; el.className = ok ? "ok" : "error"; }
}

async function call(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new Error(data && data.message ? data.error + ": " + data.message : response.statusText);
  }
  return data;
}

// "a=b" lines to {a: "b"}.
function pairs(text) {
  const out = {};
  for (const line of (text || "").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

function enc(s) { return encodeURIComponent(s); }

const forms = {
  "create-topic": async (f) => {
    const name = f.name.value.trim();
    await call("POST", "/api/topics", {
      name, partitions: parseInt(f.partitions.value || "1", 10), configs: pairs(f.configs.value),
    });
    location.href = "/topics/" + enc(name);
  },
  "config": async (f) => {
    const topic = f.closest("[data-topic]").dataset.topic;
    const set = {}; set[f.dataset.name] = f.value.value;
    await call("POST", "/api/topics/" + enc(topic) + "/configs", { set });
    location.reload();
  },
  "produce": async (f) => {
    const body = { partition: parseInt(f.partition.value || "0", 10), value: f.value.value, headers: pairs(f.headers.value) };
    if (f.key.value !== "") body.key = f.key.value;
    const r = await call("POST", "/api/topics/" + enc(f.dataset.topic) + "/records", body);
    status("Produced at offset " + r.offset + " of partition " + r.partition, true);
    setTimeout(() => location.reload(), 600);
  },
  "reset": async (f) => {
    const body = { to: f.to.value };
    if (f.offset.value !== "") body.offset = parseInt(f.offset.value, 10);
    if (f.topic.value !== "") body.topic = f.topic.value;
    await call("POST", "/api/groups/" + enc(f.dataset.group) + "/reset-offsets", body);
    location.reload();
  },
};

document.addEventListener("submit", (e) => {
  const f = e.target;
  const handler = forms[f.dataset.form];
  if (!handler) return;
  e.preventDefault();
  handler(f).catch((err) => status(err.message, false));
});

document.addEventListener("click", (e) => {
  const t = e.target;
  if (t.dataset.deleteTopic) {
    const name = t.dataset.deleteTopic;
    if (!confirm("Delete topic " + name + " and all its records?")) return;
    call("DELETE", "/api/topics/" + enc(name))
      .then(() => { location.href = "/topics"; })
      .catch((err) => status(err.message, false));
  } else if (t.dataset.configDelete) {
    const topic = t.closest("[data-topic]").dataset.topic;
    call("POST", "/api/topics/" + enc(topic) + "/configs", { delete: [t.dataset.configDelete] })
      .then(() => location.reload())
      .catch((err) => status(err.message, false));
  }
});

for (const el of document.querySelectorAll("time[data-ts]")) {
  const ts = Number(el.dataset.ts);
  if (ts >= 0) { el.title = el.dataset.ts; el.textContent = new Date(ts).toISOString(); }
}

const filter = document.getElementById("filter");
if (filter) {
  filter.addEventListener("input", () => {
    const q = filter.value.toLowerCase();
    for (const row of document.querySelectorAll("#records tbody tr")) {
      row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
    }
  });
}

function draw(canvas, points) {
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...points);
  g.strokeStyle = "#d5d9e0"; g.lineWidth = 1; g.beginPath();
  g.moveTo(0, h - 14); g.lineTo(w, h - 14); g.stroke();
  // Stretched over the width until 5 minutes of samples fill it.
  const step = w / Math.max(1, points.length - 1);
  g.strokeStyle = "#1f6fd1"; g.lineWidth = 2; g.beginPath();
  points.forEach((v, i) => {
    const x = i * step, y = h - 14 - (v / max) * (h - 24);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = "#555"; g.font = "11px sans-serif";
  g.fillText("max " + max.toFixed(1) + "  now " + (points[points.length - 1] || 0).toFixed(1), 4, h - 2);
}

// Calls sample() now and every 2 s; reports a failure once.
function every2s(sample) {
  let failed = false;
  const run = () => sample().catch((err) => {
    if (!failed) status(err.message, false);
    failed = true;
  });
  run();
  setInterval(run, 2000);
}

function push(series, v) {
  series.push(v);
  if (series.length > 150) series.shift();
}

// Overview: rates from two samples of /api/overview's counters, the last 5 minutes.
const charts = ["in", "out", "requests"].map((k) => document.getElementById("chart-" + k));
if (charts[0]) {
  const series = [[], [], []];
  let last = null;
  every2s(async () => {
    const o = await call("GET", "/api/overview");
    const c = [o.counters.bytes_in, o.counters.bytes_out, o.counters.requests];
    if (last) {
      const secs = Math.max(0.001, (o.now_ms - last.t) / 1000);
      c.forEach((v, i) => {
        push(series[i], Math.max(0, (v - last.c[i]) / secs));
        draw(charts[i], series[i]);
      });
    }
    last = { t: o.now_ms, c };
  });
}

// Topics list: bytes in/out per second of each topic, from /api/topics.
if (document.querySelector("[data-rate-in]")) {
  let last = null;
  every2s(async () => {
    const topics = await call("GET", "/api/topics");
    const now = Date.now();
    if (last) {
      const secs = Math.max(0.001, (now - last.t) / 1000);
      for (const t of topics) {
        const before = last.byName[t.name];
        if (!before) continue;
        const rate = (k) => Math.max(0, (t[k] - before[k]) / secs).toFixed(0) + " B/s";
        const cell = (attr) => document.querySelector("[" + attr + "=\"" + CSS.escape(t.name) + "\"]");
        const cin = cell("data-rate-in"), cout = cell("data-rate-out");
        if (cin) cin.textContent = rate("bytes_in");
        if (cout) cout.textContent = rate("bytes_out");
      }
    }
    last = { t: now, byName: Object.fromEntries(topics.map((t) => [t.name, t])) };
  });
}

// Group page: total lag over time.
const lagChart = document.getElementById("chart-lag");
if (lagChart) {
  const series = [];
  every2s(async () => {
    const g = await call("GET", "/api/groups/" + enc(lagChart.dataset.group));
    push(series, g.total_lag);
    draw(lagChart, series);
    const total = document.getElementById("total-lag");
    if (total) total.textContent = String(g.total_lag);
  });
}
