// History charts of the serin dashboard, drawn as inline SVG: a Canary's
// weight, and each metric's value on the canary against the primary with
// its thresholds, over time, with the Canary's decisions marked on the time
// axis (hover a mark for its reason). Text from the server is only ever set
// as textContent.
"use strict";

window.SerinChart = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 960, L = 58, R = 86, TOP = 34, PH = 78, GAP = 30, AXIS = 22, MARK = 8;
  const COLORS = { canary: "#f0a020", primary: "#3b6fd8", threshold: "#d64545", grid: "#e3e7ee", ink: "#6b7487" };

  function s(tag, attrs, ...children) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }

  function num(v, unit) {
    const r = String(+(Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)));
    return r + (unit === "%" ? "%" : unit ? " " + unit : "");
  }

  function decisionColor(d) {
    if (d.type === "Warning" || d.reason === "Failed") return COLORS.threshold;
    if (d.reason === "Succeeded" || d.reason === "Promoting") return "#1f9d55";
    if (d.type === "Command" || d.reason === "Paused" || d.reason === "Resumed" || d.reason === "CommandIgnored") return "#8a5a00";
    return "#8a94a6";
  }

  // path draws the values of get over the points, with gaps where a value
  // is unknown; step draws a step line.
  function path(points, x, y, get, step) {
    let d = "", prev = null;
    for (const p of points) {
      const v = get(p);
      if (v === null || v === undefined) {
        prev = null;
        continue;
      }
      const px = x(p.t).toFixed(1), py = y(v).toFixed(1);
      if (prev === null) d += `M${px} ${py}`;
      else if (step) d += `H${px}V${py}`;
      else d += `L${px} ${py}`;
      prev = v;
    }
    return d;
  }

  // The golden metrics of a point ([canary success, primary success,
  // canary p99, primary p99]) draw the built-in metrics, both sides measured
  // alike; the analysis' own values stand in without them, and draw the
  // other metrics.
  const GOLDEN = { "request-success-rate": 0, "request-duration": 2 };
  function value(p, metric, side) {
    const i = GOLDEN[metric];
    if (i !== undefined && p.g) return p.g[i + side];
    const m = p.m && p.m[metric];
    return m ? m[side] : null;
  }

  // render returns the charts of a Canary's history h; c is the Canary as
  // /api/state shows it.
  function render(h, c) {
    const wrap = document.createElement("div");
    wrap.className = "chart";
    if (!h.points.length) {
      wrap.textContent = "No samples yet: the dashboard records the Canary from when it starts.";
      return wrap;
    }
    const now = h.points[h.points.length - 1].t;
    let t0 = h.points[0].t;
    const decisions = h.decisions
      .map((d) => Object.assign({ ms: Date.parse(d.time) }, d))
      .filter((d) => !isNaN(d.ms) && d.ms >= t0 - 1000);
    let t1 = Math.max(now, ...decisions.map((d) => d.ms));
    if (t1 - t0 < 15000) t0 = t1 - 15000;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);

    const panels = [{ title: "canary weight", unit: "%", lo: 0, hi: 100, weight: true }];
    const names = [];
    for (const th of h.thresholds) names.push(th.metric);
    for (const p of h.points) for (const k of Object.keys(p.m || {})) if (!names.includes(k)) names.push(k);
    for (const name of names) {
      const th = h.thresholds.find((x) => x.metric === name) || { metric: name };
      const vals = [];
      for (const p of h.points) {
        for (const side of [0, 1]) {
          const v = value(p, name, side);
          if (v !== null && v !== undefined) vals.push(v);
        }
      }
      if (th.min !== undefined) vals.push(th.min);
      if (th.max !== undefined) vals.push(th.max);
      if (!vals.length) continue;
      let lo = Math.min(...vals), hi = Math.max(...vals);
      const pad = (hi - lo) * 0.12 || Math.max(Math.abs(hi) * 0.05, 1);
      lo -= pad;
      hi += pad;
      if (th.unit === "%") hi = Math.min(hi, 100.5);
      if (lo < 0 && Math.min(...vals) >= 0) lo = 0;
      panels.push({ title: name === "request-duration" ? "request-duration: p99 latency" : name === "request-success-rate" ? "request-success-rate" : name, unit: th.unit || "", lo, hi, metric: name, th });
    }

    const height = TOP + panels.length * (PH + GAP) - GAP + AXIS;
    const root = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart-svg", role: "img",
      "aria-label": `history of ${h.namespace}/${h.name}` });
    panels.forEach((pn, i) => {
      const top = TOP + i * (PH + GAP);
      const y = (v) => top + PH - ((Math.min(Math.max(v, pn.lo), pn.hi) - pn.lo) / (pn.hi - pn.lo)) * PH;
      const g = s("g", { class: "panel", "data-panel": pn.metric || "weight" });
      g.append(s("rect", { x: L, y: top, width: W - L - R, height: PH, fill: "#fbfcfd", stroke: COLORS.grid }));
      g.append(s("text", { x: L, y: top - 6, class: "chart-title" }, pn.title));
      // A percentage's range may end a little above 100 so that a line at
      // 100% clears the frame; its axis is labelled 100% where that is.
      const axisTop = pn.unit === "%" ? Math.min(pn.hi, 100) : pn.hi;
      g.append(s("text", { x: L - 6, y: Math.max(top + 10, y(axisTop) + 4), class: "chart-tick", "text-anchor": "end" }, num(axisTop, pn.unit)));
      g.append(s("text", { x: L - 6, y: top + PH, class: "chart-tick", "text-anchor": "end" }, num(pn.lo, pn.unit)));
      if (pn.weight) {
        if (c && c.maxWeight > 0 && c.maxWeight < 100) {
          g.append(s("line", { x1: L, x2: W - R, y1: y(c.maxWeight), y2: y(c.maxWeight), stroke: COLORS.ink, "stroke-dasharray": "2 4" }));
          g.append(s("text", { x: W - R + 4, y: y(c.maxWeight) + 4, class: "chart-tick" }, `promotes ${c.maxWeight}%`));
        }
        // A band where a command held the release.
        h.points.forEach((p, j) => {
          if (!p.paused) return;
          const next = h.points[j + 1] ? h.points[j + 1].t : t1;
          g.append(s("rect", { x: x(p.t), y: top, width: Math.max(x(next) - x(p.t), 1), height: PH, fill: "#fdf0d8", class: "paused-band" },
            s("title", {}, "paused")));
        });
        const d = path(h.points, x, y, (p) => p.w, true);
        g.append(s("path", { d: d + `H${x(t1).toFixed(1)}`, fill: "none", stroke: COLORS.canary, "stroke-width": 2.5, class: "line-weight" }));
      } else {
        for (const [bound, v] of [["min", pn.th.min], ["max", pn.th.max]]) {
          if (v === undefined || v === null) continue;
          g.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: COLORS.threshold, "stroke-dasharray": "6 4", class: "threshold" },
            s("title", {}, `${bound} ${num(v, pn.unit)}`)));
          g.append(s("text", { x: W - R + 4, y: y(v) + 4, class: "chart-tick threshold-label" }, `${bound} ${num(v, pn.unit)}`));
        }
        g.append(s("path", { d: path(h.points, x, y, (p) => value(p, pn.metric, 1)), fill: "none", stroke: COLORS.primary, "stroke-width": 3.5, "stroke-opacity": 0.7, class: "line-primary" }));
        g.append(s("path", { d: path(h.points, x, y, (p) => value(p, pn.metric, 0)), fill: "none", stroke: COLORS.canary, "stroke-width": 2, class: "line-canary" }));
      }
      root.append(g);
    });

    // The time axis.
    const bottom = TOP + panels.length * (PH + GAP) - GAP;
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      root.append(s("text", { x: x(t), y: bottom + 16, class: "chart-tick", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, clock(t)));
    }
    // The decisions, across every panel, with their reason on hover.
    for (const d of decisions) {
      const px = x(Math.max(d.ms, t0)).toFixed(1);
      const col = decisionColor(d);
      const text = `${clock(d.ms)} ${d.reason}: ${d.message}${d.count > 1 ? ` (x${d.count})` : ""}`;
      root.append(s("g", { class: "decision", "data-reason": d.reason },
        s("title", {}, text),
        s("line", { x1: px, x2: px, y1: MARK, y2: bottom, stroke: col, "stroke-width": 1, "stroke-dasharray": "3 3", opacity: 0.8 }),
        s("line", { x1: px, x2: px, y1: MARK, y2: bottom, stroke: "transparent", "stroke-width": 9 }),
        s("circle", { cx: px, cy: MARK, r: 4.5, fill: col })));
    }
    wrap.append(legend(), root);
    return wrap;
  }

  function legend() {
    const l = document.createElement("div");
    l.className = "chart-legend";
    for (const [cls, text] of [["canary", "canary"], ["primary", "primary"], ["threshold", "threshold"], ["decision", "decision (hover for why)"]]) {
      const i = document.createElement("span");
      i.className = "key key-" + cls;
      l.append(i, text);
    }
    return l;
  }

  return { render };
})();
