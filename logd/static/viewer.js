// slipway-logd viewer: follows /v1/apps/<app>/logs over SSE. No build step, no framework.
// Lines are deduplicated by seq, so a reconnect (resumed with since=<last seq>) neither
// repeats nor skips lines while they are still in logd's history.
(() => {
  "use strict";
  const MAX_ROWS = 5000;
  const MAX_PENDING = 20000;
  const parts = location.pathname.split("/").filter(Boolean);
  const app = decodeURIComponent(parts[1] || "");
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const $ = (id) => document.getElementById(id);
  const log = $("log"), status = $("status"), pauseBtn = $("pause"), dynoIn = $("dyno"),
    sourceSel = $("source"), textIn = $("text"), count = $("count"), pendingEl = $("pending"),
    bottomBtn = $("bottom");

  let lastSeq = null;
  let paused = false;
  let pending = [];
  let es = null;
  let retry = 1000;
  let retryTimer = null;
  let rows = 0;
  const sources = new Set();

  document.title = `${app} · logs`;
  $("title").textContent = app;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text || state;
  }

  function hue(name) {
    const base = name.split(".")[0];
    let h = 0;
    for (let i = 0; i < base.length; i++) h = (h * 31 + base.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function dynoMatches(want, dyno) {
    return dyno === want || (dyno.startsWith(want) && dyno.charAt(want.length) === ".");
  }

  function visible(el) {
    if (el.classList.contains("marker")) return true;
    const d = dynoIn.value.trim(), s = sourceSel.value, t = textIn.value.trim().toLowerCase();
    if (d && !d.split(",").some((w) => w && dynoMatches(w.trim(), el.dataset.dyno))) return false;
    if (s && el.dataset.source !== s) return false;
    if (t && !el.dataset.text.includes(t)) return false;
    return true;
  }

  function lineRow(line) {
    const el = document.createElement("div");
    el.className = "row" + (line.stream === "stderr" ? " stderr" : "");
    el.dataset.dyno = line.dyno || "";
    el.dataset.source = line.source || "";
    el.dataset.seq = String(line.seq);
    let message = line.message;
    if (!message && line.fields) message = JSON.stringify(line.fields);
    el.dataset.text = (message || "").toLowerCase();
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = (line.time || "").replace("T", " ").slice(0, 23);
    time.title = line.time || "";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = line.dyno ? `${line.source}[${line.dyno}]` : line.source;
    who.style.setProperty("--hue", String(hue(line.dyno || line.source || "")));
    const msg = document.createElement("span");
    msg.className = "msg";
    msg.textContent = message;
    el.append(time, who, msg);
    if (!sources.has(line.source)) {
      sources.add(line.source);
      const opt = document.createElement("option");
      opt.value = opt.textContent = line.source;
      sourceSel.append(opt);
    }
    return el;
  }

  function markerRow(text) {
    const el = document.createElement("div");
    el.className = "row marker";
    el.textContent = `— ${text} —`;
    return el;
  }

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  function append(els) {
    if (!els.length) return;
    const stick = atBottom();
    const frag = document.createDocumentFragment();
    for (const el of els) {
      if (!visible(el)) el.classList.add("hidden");
      frag.append(el);
    }
    log.append(frag);
    rows += els.length;
    while (rows > MAX_ROWS && log.firstChild) {
      log.firstChild.remove();
      rows--;
    }
    count.textContent = `${rows} lines`;
    if (stick) log.scrollTop = log.scrollHeight;
    else bottomBtn.hidden = false;
  }

  function add(el) {
    if (paused) {
      pending.push(el);
      if (pending.length > MAX_PENDING) pending.splice(0, pending.length - MAX_PENDING);
      pendingEl.textContent = `${pending.length} new while paused`;
    } else {
      append([el]);
    }
  }

  function url() {
    const p = new URLSearchParams();
    if (token) p.set("token", token);
    if (lastSeq !== null) p.set("since", String(lastSeq));
    else p.set("tail", params.get("tail") || "200");
    return `/v1/apps/${encodeURIComponent(app)}/logs?${p}`;
  }

  function connect() {
    retryTimer = null;
    es = new EventSource(url());
    setStatus("connecting");
    es.onopen = () => {
      retry = 1000;
      setStatus(paused ? "paused" : "live", paused ? "paused" : "live");
    };
    es.onmessage = (e) => {
      let line;
      try { line = JSON.parse(e.data); } catch { return; }
      if (lastSeq !== null && line.seq <= lastSeq) return;
      lastSeq = line.seq;
      add(lineRow(line));
    };
    es.addEventListener("dropped", (e) => {
      const n = JSON.parse(e.data).dropped;
      add(markerRow(`${n} lines dropped: this viewer fell behind`));
    });
    es.addEventListener("gap", (e) => {
      const g = JSON.parse(e.data);
      add(markerRow(`lines ${g.from}–${g.to} are no longer in history`));
    });
    es.addEventListener("reset", () => {
      lastSeq = null;
      add(markerRow("logd's history was reset"));
    });
    es.onerror = () => {
      // Reconnect ourselves (with since=<last seq>), with backoff: EventSource gives up
      // for good on an HTTP error such as an expired token.
      es.close();
      setStatus("reconnecting", `reconnecting in ${Math.round(retry / 1000)}s`);
      if (!retryTimer) retryTimer = setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.setAttribute("aria-pressed", String(paused));
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      append(pending);
      pending = [];
      pendingEl.textContent = "";
    }
    if (es && es.readyState === EventSource.OPEN) setStatus(paused ? "paused" : "live");
  });

  function refilter() {
    for (const el of log.children) el.classList.toggle("hidden", !visible(el));
  }
  dynoIn.addEventListener("input", refilter);
  sourceSel.addEventListener("change", refilter);
  textIn.addEventListener("input", refilter);
  $("clear").addEventListener("click", () => {
    log.replaceChildren();
    rows = 0;
    count.textContent = "0 lines";
  });
  bottomBtn.addEventListener("click", () => {
    log.scrollTop = log.scrollHeight;
    bottomBtn.hidden = true;
  });
  log.addEventListener("scroll", () => {
    if (atBottom()) bottomBtn.hidden = true;
  });

  // A token in the address bar should not stay visible or in the history.
  if (token) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
  }
  connect();
})();
