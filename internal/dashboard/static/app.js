// The serin dashboard: polls /api/state once a second and renders the
// Canaries with their buttons and history charts, the Deployments' golden
// metrics and the event stream. Text from the server is only ever set as
// textContent.
"use strict";

(function () {
  const POLL_MS = 1000;
  const MAX_EVENTS = 300;
  const TOKEN_KEY = "serin-dashboard-token";
  let lastSeq = 0;
  let events = [];

  // The token comes in the address's fragment, which no server sees; the
  // page keeps it for this tab and takes it out of the address bar.
  function takeToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }
  let token = takeToken();
  window.addEventListener("hashchange", () => { token = takeToken(); });

  async function api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers);
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch(path, Object.assign({ cache: "no-store", credentials: "omit" }, opts, { headers }));
    let body = {};
    try {
      body = await resp.json();
    } catch (_) {
      // not JSON: the status says enough
    }
    return { resp, body };
  }

  // needToken shows the field to paste a token in.
  function needToken(why) {
    const f = document.getElementById("auth");
    if (!f.hidden) return;
    f.hidden = false;
    f.title = why || "";
    document.getElementById("token-input").focus();
  }
  document.getElementById("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = document.getElementById("token-input").value.trim().replace(/^.*#token=/, "");
    if (!v) return;
    token = v;
    sessionStorage.setItem(TOKEN_KEY, v);
    document.getElementById("token-input").value = "";
    document.getElementById("auth").hidden = true;
  });

  function el(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }
  function build(e, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "css") Object.assign(e.style, v); // the page's CSP forbids style attributes
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const fmt = {
    pct: (v) => (v === undefined || v === null ? "-" : v.toFixed(2) + "%"),
    ms: (v) => (v === undefined || v === null ? "-" : (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + "ms"),
    rps: (v) => (v === undefined || v === null ? "-" : v.toFixed(1) + "rps"),
    time: (s) => {
      const d = new Date(s);
      return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false });
    },
    // duration shortens Go's durations: 1m0s is 1m, 1h0m0s 1h.
    duration: (s) => s.replace(/^(.*[hm])0s$/, "$1").replace(/^(.*h)0m$/, "$1"),
    value: (v, unit) => {
      if (v === undefined || v === null) return "-";
      if (unit === "%") return fmt.pct(v);
      if (unit === "ms") return fmt.ms(v);
      return String(Math.round(v * 1000) / 1000);
    },
  };

  function phaseClass(phase, paused) {
    if (paused) return "pill-warn";
    switch (phase) {
      case "Succeeded":
      case "Initialized":
        return "pill-ok";
      case "Failed":
        return "pill-bad";
      case "Progressing":
      case "Promoting":
      case "Finalising":
        return "pill-run";
      case "Waiting":
      case "WaitingPromotion":
        return "pill-warn";
      default:
        return "pill-wait";
    }
  }

  function verdictClass(v) {
    return v === "pass" ? "pill-ok" : v === "fail" ? "pill-bad" : "pill-wait";
  }

  function fact(k, v, extra) {
    return el("div", { class: "fact" }, el("div", { class: "k" }, k), el("div", { class: "v" }, v, extra));
  }

  function checkPips(failed, threshold) {
    const n = Math.min(threshold, 20);
    const pips = [];
    for (let i = 0; i < n; i++) pips.push(el("i", { class: i < failed ? "on" : "" }));
    return el("span", { class: "checks", "aria-hidden": "true" }, pips);
  }

  function weightBar(c) {
    const w = Math.max(0, Math.min(100, c.weight));
    const p = 100 - w;
    return el("div", { class: "split" },
      el("div", { class: "bar", role: "img", "aria-label": `primary ${p}%, canary ${w}%` },
        el("div", { class: "seg seg-primary", css: { width: `${p}%` } }, p >= 12 ? `${p}%` : ""),
        el("div", { class: "seg seg-canary", css: { width: `${w}%` } }, w >= 12 ? `${w}%` : ""),
        c.maxWeight > 0 && c.maxWeight < 100 ? el("div", { class: "max", css: { left: `calc(${c.maxWeight}% - 1px)` }, title: `promotes at ${c.maxWeight}%` }) : null),
      el("div", { class: "legend" },
        el("span", {}, el("span", { class: "dot dot-primary" }), "primary ", el("b", { class: "mono" }, c.primary), ` ${p}%`),
        el("span", {}, "promotes at ", el("b", {}, `${c.maxWeight}%`)),
        el("span", {}, el("span", { class: "dot dot-canary" }), "canary ", el("b", { class: "mono" }, c.target), " ",
          el("b", { class: "weight", "data-weight": w }, `${w}%`))));
  }

  function metricsTable(c) {
    if (!c.metrics.length) return el("p", { class: "empty" }, "No metrics: the analysis checks webhooks only.");
    return el("table", { class: "metrics" },
      el("thead", {}, el("tr", {}, el("th", {}, "Metric"), el("th", { class: "num" }, "Value"), el("th", { class: "num" }, "Threshold"),
        el("th", { class: "num" }, "Samples"), el("th", {}, "Verdict"))),
      el("tbody", {}, c.metrics.map((m) =>
        el("tr", {},
          el("td", {}, el("div", { class: "mono" }, m.name), m.reason ? el("div", { class: "reason" }, m.reason) : null),
          el("td", { class: "num" }, fmt.value(m.value, m.unit)),
          el("td", { class: "num" }, m.threshold || "-"),
          el("td", { class: "num" }, m.samples || 0),
          el("td", {}, el("span", { class: "pill " + verdictClass(m.verdict) }, m.verdict || "pending"))))));
  }

  function decisionsList(c) {
    if (!c.decisions.length) return el("p", { class: "empty" }, "No decisions yet.");
    return el("ol", { class: "decisions" }, c.decisions.slice().reverse().map((d) =>
      el("li", { class: d.type === "Warning" ? "warn" : "" },
        el("span", { class: "t mono" }, fmt.time(d.time)),
        el("span", { class: "r" }, d.reason),
        d.message, d.count > 1 ? el("span", { class: "muted" }, ` (x${d.count})`) : null)));
  }

  // The manual commands: what each does, for the confirmation, and the
  // reasons of the events that say the engine carried it out.
  const COMMANDS = {
    promote: { label: "Promote", done: ["Promoting"],
      effect: (c) => `Promote ${c.namespace}/${c.name} now: skip the rest of its analysis and copy the canary's spec (${c.target}) to the primary (${c.primary}).` },
    abort: { label: "Abort", danger: true, done: ["Failed"],
      effect: (c) => `Abort the release of ${c.namespace}/${c.name}: roll back, sending all traffic to the primary (${c.primary}) again.` },
    pause: { label: "Pause", done: ["Paused"],
      effect: (c) => `Pause the release of ${c.namespace}/${c.name}: hold the canary weight at ${c.weight}% and stop the analysis until resumed.` },
    resume: { label: "Resume", done: ["Resumed"],
      effect: (c) => `Resume the release of ${c.namespace}/${c.name}: continue the analysis from canary weight ${c.weight}%.` },
    retry: { label: "Retry", done: ["Retry"],
      effect: (c) => `Retry the release of ${c.namespace}/${c.name}: run the analysis of the failed revision again from the start.` },
  };
  const IN_PROGRESS = new Set(["Progressing", "Waiting", "WaitingPromotion"]);

  // outcomes: canary key -> {cmd, text, cls, afterSeq}: what became of the
  // last command given from this page.
  const outcomes = new Map();

  function actions(c) {
    const key = `${c.namespace}/${c.name}`;
    const live = IN_PROGRESS.has(c.phase);
    const why = live ? null : `no release of ${c.name} is in progress (${c.phase})`;
    const btn = (cmd) => el("button", {
      type: "button", class: "btn" + (COMMANDS[cmd].danger ? " btn-danger" : ""), "data-action": cmd,
      disabled: cmd === "retry" ? false : !live, title: cmd === "retry" ? null : why,
    }, COMMANDS[cmd].label);
    let list = [btn("promote"), btn("abort"), btn(c.paused ? "resume" : "pause")];
    if (c.phase === "Failed") list.push(btn("retry"));
    // Buttons only for a caller who may command the Canary.
    if (!c.canCommand) list = [el("span", { class: "muted read-only", title: "you may view this Canary but not command it" }, "view only")];
    const bar = el("div", { class: "actions" }, list,
      el("button", { type: "button", class: "btn btn-link toggle-history", "aria-expanded": String(isExpanded(key)) },
        isExpanded(key) ? "Hide history" : "Show history"));
    bar.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b || b.disabled) return;
      if (b.classList.contains("toggle-history")) toggleHistory(key);
      else if (b.dataset.action) askConfirm(c, b.dataset.action);
    });
    return bar;
  }

  // askConfirm shows the page's own confirmation of cmd on c.
  function askConfirm(c, cmd) {
    const box = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = `${COMMANDS[cmd].label} ${c.namespace}/${c.name}?`;
    document.getElementById("confirm-text").textContent = COMMANDS[cmd].effect(c);
    const ok = document.getElementById("confirm-ok");
    ok.textContent = COMMANDS[cmd].label;
    ok.className = "btn " + (COMMANDS[cmd].danger ? "btn-danger" : "btn-primary");
    box.dataset.canary = `${c.namespace}/${c.name}`;
    box.dataset.action = cmd;
    box.hidden = false;
    ok.focus();
    const close = () => {
      box.hidden = true;
      ok.onclick = null;
      document.getElementById("confirm-cancel").onclick = null;
      document.onkeydown = null;
    };
    ok.onclick = () => { close(); send(c, cmd); };
    document.getElementById("confirm-cancel").onclick = close;
    document.onkeydown = (e) => { if (e.key === "Escape") close(); };
  }

  async function send(c, cmd) {
    const key = `${c.namespace}/${c.name}`;
    setOutcome(key, { cmd, cls: "pending", text: `Sending ${cmd}…` });
    try {
      const { resp, body } = await api(`/api/canaries/${encodeURIComponent(c.namespace)}/${encodeURIComponent(c.name)}/${cmd}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
      });
      if (resp.status === 401) needToken(body.error);
      if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
      setOutcome(key, { cmd, cls: "pending", text: body.message, afterSeq: lastSeq });
    } catch (err) {
      setOutcome(key, { cmd, cls: "error", text: `${COMMANDS[cmd].label} failed: ${err.message}` });
    }
  }

  function setOutcome(key, o) {
    outcomes.set(key, o);
    const e = cards.get(key);
    if (e) e.outcome.replaceWith(e.outcome = outcomeLine(key));
  }

  function outcomeLine(key) {
    const o = outcomes.get(key);
    if (!o) return el("p", { class: "outcome", hidden: true });
    return el("p", { class: "outcome outcome-" + o.cls, role: "status", "data-command": o.cmd }, o.text);
  }

  // settleOutcomes turns a sent command into the engine's answer: the first
  // event of the Canary after it that carries it out or ignores it.
  function settleOutcomes(newEvents) {
    for (const e of newEvents) {
      if (e.kind !== "Canary") continue;
      const key = `${e.namespace}/${e.name}`;
      const o = outcomes.get(key);
      if (!o || o.cls !== "pending" || o.afterSeq === undefined || e.seq <= o.afterSeq) continue;
      if (e.reason === "CommandIgnored") setOutcome(key, { cmd: o.cmd, cls: "error", text: e.message });
      else if (COMMANDS[o.cmd].done.includes(e.reason)) setOutcome(key, { cmd: o.cmd, cls: "done", text: `${e.reason}: ${e.message}` });
    }
  }

  function cardMain(c) {
    const steps = c.stepWeights && c.stepWeights.length ? c.stepWeights.join(", ") + "%" : `${c.stepWeight || 0}%`;
    const blueGreen = c.maxIterations > 0;
    return el("div", { class: "card-main" },
      el("div", { class: "card-head" },
        el("span", { class: "name" }, c.name),
        el("span", { class: "ns" }, c.namespace),
        el("span", { class: "pill phase " + phaseClass(c.phase, c.paused), "data-phase": c.phase }, c.phase),
        c.paused ? el("span", { class: "pill pill-warn paused" }, "Paused") : null,
        el("span", { class: "right" }, c.strategy, " · every ", c.interval,
          c.lastTransitionTime ? ` · last change ${fmt.time(c.lastTransitionTime)}` : "")),
      c.message ? el("p", { class: "message" }, c.message) : null,
      weightBar(c),
      el("div", { class: "facts" },
        fact("Canary weight", `${c.weight}%`, el("small", {}, ` / ${c.maxWeight}%`)),
        fact("Failed checks", `${c.failedChecks} / ${c.threshold}`, checkPips(c.failedChecks, c.threshold)),
        blueGreen ? fact("Iterations", `${c.iterations} / ${c.maxIterations}`) : fact("Step", steps),
        fact("Revision", el("span", { class: "mono" }, c.revision || "-"),
          c.promotedRevision && c.promotedRevision !== c.revision ? el("small", {}, ` (primary ${c.promotedRevision})`) : null)),
      actions(c),
      el("div", { class: "cols" },
        el("div", {}, el("h3", {}, "Last metric checks"), metricsTable(c)),
        el("div", {}, el("h3", {}, "Last decisions"), decisionsList(c))));
  }

  // cards: canary key -> {node, main, outcome, hist, sig, c}. A card's main
  // part is rebuilt only when its Canary changed; its outcome line and
  // history chart are updated on their own.
  const cards = new Map();
  let canaryCount = 0;

  function renderCanaries(list) {
    const root = document.getElementById("canaries");
    canaryCount = list.length;
    if (!list.length) {
      cards.clear();
      root.replaceChildren(el("p", { class: "empty" }, "No Canaries."));
      return;
    }
    root.querySelectorAll(":scope > .empty").forEach((n) => n.remove());
    keyed(root, cards, list, (c) => `${c.namespace}/${c.name}`, (c, e, key) => {
      const sig = JSON.stringify(c) + isExpanded(key);
      if (!e) {
        e = { main: cardMain(c), outcome: outcomeLine(key), hist: el("div", { class: "history", hidden: true }), sig, c };
        e.node = el("article", { class: "card canary", "data-canary": key }, e.main, e.outcome, e.hist);
      } else if (e.sig !== sig) {
        const m = cardMain(c);
        e.main.replaceWith(m);
        Object.assign(e, { main: m, sig, c });
      }
      e.hist.hidden = !isExpanded(key);
      return e;
    });
  }

  // keyed puts one node per item of list into root, in order, keeping the
  // nodes of items it had: upsert(item, entry or undefined, key) returns the
  // item's entry, whose node is the one to show.
  function keyed(root, cache, list, keyOf, upsert) {
    const seen = new Set();
    let prev = null;
    for (const item of list) {
      const key = keyOf(item);
      const e = upsert(item, cache.get(key), key);
      cache.set(key, e);
      seen.add(key);
      const want = prev ? prev.nextSibling : root.firstChild;
      if (want !== e.node) root.insertBefore(e.node, want);
      prev = e.node;
    }
    for (const [key, e] of cache) {
      if (!seen.has(key)) {
        e.node.remove();
        cache.delete(key);
      }
    }
  }

  // History charts are drawn for the expanded Canaries only: by default
  // those of a page with at most three.
  const toggled = new Map();
  function isExpanded(key) {
    return toggled.has(key) ? toggled.get(key) : canaryCount <= 3;
  }
  function toggleHistory(key) {
    toggled.set(key, !isExpanded(key));
    const e = cards.get(key);
    if (!e) return;
    e.sig = ""; // redraw its toggle
    renderCanaries([...cards.values()].map((x) => x.c));
    if (isExpanded(key)) loadHistory(key);
  }

  const histSigs = new Map();
  async function loadHistory(key) {
    const e = cards.get(key);
    if (!e) return;
    const [ns, name] = key.split("/");
    try {
      const { resp, body } = await api(`/api/canaries/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/history`);
      if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
      const last = body.points[body.points.length - 1];
      const d = body.decisions[body.decisions.length - 1];
      const sig = `${body.points.length}:${last && last.t}:${body.decisions.length}:${d && d.count}`;
      if (histSigs.get(key) === sig && e.hist.firstChild) return;
      histSigs.set(key, sig);
      e.hist.replaceChildren(window.SerinChart.render(body, e.c));
    } catch (err) {
      e.hist.replaceChildren(el("p", { class: "empty" }, "No history: " + err.message));
    }
  }

  function refreshHistories() {
    for (const key of cards.keys()) if (isExpanded(key)) loadHistory(key);
  }

  function podChip(p) {
    const cls = "pod" + (p.ready ? " ready" : "") + (p.status === "CrashLoopBackOff" ? " crash" : "");
    const title = `${p.name}: ${p.status}${p.ready ? ", ready" : ", not ready"}, ${p.restarts} restarts, age ${p.age}${p.reason ? " — " + p.reason : ""}`;
    const short = p.name.length > 24 ? "…" + p.name.slice(-12) : p.name;
    return el("span", { class: cls, title }, el("span", { class: "mono" }, short), el("span", { class: "muted" }, p.age),
      p.restarts > 0 ? el("span", { class: "rs" }, `↻${p.restarts}`) : null);
  }

  const rows = new Map(); // deployment key -> {sig, node}
  function renderDeployments(list) {
    const body = document.querySelector("#deployments tbody");
    if (!list.length) {
      rows.clear();
      body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No Deployments.")));
      return;
    }
    body.querySelectorAll(":scope > tr:not([data-deployment])").forEach((n) => n.remove());
    keyed(body, rows, list, (d) => `${d.namespace}/${d.name}`, (d, r) => {
      const sig = JSON.stringify(d);
      if (r && r.sig === sig) return r;
      const tr = deploymentRow(d);
      if (r) r.node.replaceWith(tr);
      return { sig, node: tr };
    });
  }

  function deploymentRow(d) {
    const s = d.stats || {};
    const succ = s.success;
    return el("tr", { "data-deployment": `${d.namespace}/${d.name}` },
      el("td", { class: "muted" }, d.namespace),
      el("td", {}, el("span", { class: "mono" }, d.name),
        d.role ? el("span", { class: "pill role " + (d.role === "canary" ? "pill-warn" : "pill-run") }, d.role) : null,
        d.reason ? el("div", { class: "reason" }, d.reason) : null),
      el("td", {}, s.meshed || `${d.ready}/${d.replicas}`),
      el("td", { class: "num success " + (succ === undefined ? "" : succ >= 99 ? "good" : "badv") }, fmt.pct(succ)),
      el("td", { class: "num rps" }, fmt.rps(s.rps)),
      el("td", { class: "num p50" }, fmt.ms(s.p50)),
      el("td", { class: "num p95" }, fmt.ms(s.p95)),
      el("td", { class: "num p99" }, fmt.ms(s.p99)),
      el("td", {}, el("div", { class: "pods" }, d.pods.length ? d.pods.map(podChip) : el("span", { class: "muted" }, "none"))));
  }

  function renderEvents() {
    const root = document.getElementById("events");
    if (!events.length) {
      root.replaceChildren(el("li", { class: "empty" }, "No events yet."));
      return;
    }
    root.replaceChildren(...events.slice().reverse().map((e) =>
      el("li", { class: e.type === "Warning" ? "warn" : "" },
        el("span", { class: "t mono" }, fmt.time(e.time)),
        el("span", { class: "ty" }, e.type),
        el("span", { class: "rs" }, e.reason),
        el("span", { class: "obj mono", title: `${e.kind} ${e.namespace}/${e.name}` }, `${e.kind}/${e.name}`),
        el("span", {}, e.message, e.count > 1 ? el("span", { class: "muted" }, ` (x${e.count})`) : null))));
  }

  function setStatus(ok, text) {
    const c = document.getElementById("conn");
    c.className = "pill " + (ok ? "pill-ok" : "pill-bad");
    c.textContent = ok ? "live" : "disconnected";
    const b = document.getElementById("banner");
    b.hidden = ok;
    if (!ok) b.textContent = text;
  }

  let polls = 0;
  async function poll() {
    try {
      const { resp, body } = await api(`/api/state?since=${lastSeq}`);
      if (resp.status === 401) {
        needToken(body.error);
        throw new Error("this dashboard needs its token (" + (body.error || "401") + ")");
      }
      if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
      document.getElementById("auth").hidden = true;
      if (body.lastSeq < lastSeq) events = []; // the runtime started afresh
      lastSeq = body.lastSeq;
      for (const e of body.events) {
        const i = events.findIndex((x) => x.seq === e.seq || (x.kind === e.kind && x.namespace === e.namespace &&
          x.name === e.name && x.reason === e.reason && x.message === e.message));
        if (i >= 0) events.splice(i, 1); // a repeat, counted again
        events.push(e);
      }
      if (events.length > MAX_EVENTS) events = events.slice(-MAX_EVENTS);
      renderCanaries(body.canaries);
      settleOutcomes(body.events);
      renderDeployments(body.deployments);
      if (body.events.length || polls === 0) renderEvents();
      if (polls % 2 === 0 || body.events.some((e) => e.kind === "Canary")) refreshHistories();
      polls++;
      document.getElementById("window").textContent = `· golden metrics over the last ${fmt.duration(body.window)}`;
      document.getElementById("updated").textContent = "updated " + fmt.time(body.time);
      setStatus(true);
    } catch (err) {
      setStatus(false, "Cannot read the runtime: " + err.message + ". Retrying…");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
