// The serin dashboard: polls /api/state once a second and renders the
// Canaries, the Deployments' golden metrics and the event stream. Text from
// the server is only ever set as textContent.
"use strict";

(function () {
  const POLL_MS = 1000;
  const MAX_EVENTS = 300;
  let lastSeq = 0;
  let events = [];

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
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

  function canaryCard(c) {
    const steps = c.stepWeights && c.stepWeights.length ? c.stepWeights.join(", ") + "%" : `${c.stepWeight || 0}%`;
    const blueGreen = c.maxIterations > 0;
    return el("article", { class: "card canary", "data-canary": `${c.namespace}/${c.name}` },
      el("div", { class: "card-head" },
        el("span", { class: "name" }, c.name),
        el("span", { class: "ns" }, c.namespace),
        el("span", { class: "pill phase " + phaseClass(c.phase, c.paused), "data-phase": c.phase }, c.phase),
        c.paused ? el("span", { class: "pill pill-warn" }, "Paused") : null,
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
      el("div", { class: "cols" },
        el("div", {}, el("h3", {}, "Last metric checks"), metricsTable(c)),
        el("div", {}, el("h3", {}, "Last decisions"), decisionsList(c))));
  }

  function renderCanaries(list) {
    const root = document.getElementById("canaries");
    root.replaceChildren(...(list.length ? list.map(canaryCard) : [el("p", { class: "empty" }, "No Canaries.")]));
  }

  function podChip(p) {
    const cls = "pod" + (p.ready ? " ready" : "") + (p.status === "CrashLoopBackOff" ? " crash" : "");
    const title = `${p.name}: ${p.status}${p.ready ? ", ready" : ", not ready"}, ${p.restarts} restarts, age ${p.age}${p.reason ? " — " + p.reason : ""}`;
    const short = p.name.length > 24 ? "…" + p.name.slice(-12) : p.name;
    return el("span", { class: cls, title }, el("span", { class: "mono" }, short), el("span", { class: "muted" }, p.age),
      p.restarts > 0 ? el("span", { class: "rs" }, `↻${p.restarts}`) : null);
  }

  function renderDeployments(list) {
    const body = document.querySelector("#deployments tbody");
    if (!list.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No Deployments.")));
      return;
    }
    body.replaceChildren(...list.map((d) => {
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
    }));
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

  async function poll() {
    try {
      const resp = await fetch(`/api/state?since=${lastSeq}`, { cache: "no-store" });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
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
      renderDeployments(body.deployments);
      renderEvents();
      document.getElementById("window").textContent = `· golden metrics over the last ${fmt.duration(body.window)}`;
      document.getElementById("updated").textContent = "updated " + fmt.time(body.time);
      setStatus(true);
    } catch (err) {
      setStatus(false, "Cannot read the local runtime: " + err.message + ". Retrying…");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
