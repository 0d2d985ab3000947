// The DAG's graph: laid out by dagre (vendored from npm), drawn as SVG. TaskGroups (the dotted prefixes of
// task ids) are collapsible nodes; an edge between two collapsed groups is drawn once. Zoom with the wheel
// or the buttons, pan by dragging, Fit to see it all. States refresh in place without a new layout, so
// the reader's zoom and position stay. A mapped task is drawn as a stack with its number of instances, and
// an edge with a Label carries its text.
(function () {
  "use strict";
  const box = document.getElementById("graph");
  if (!box || typeof dagre === "undefined") return;
  const SVG = "http://www.w3.org/2000/svg";
  const status = document.getElementById("graph-status");
  const FLAT_FROM = 300;
  const ORDER = ["failed", "upstream_failed", "up_for_retry", "running", "queued", "scheduled", "success", "skipped"];
  let tasks = [], byId = {}, expanded = new Set(), groups = new Map(), labels = {};
  let view = { x: 0, y: 0, k: 1 }, size = { w: 0, h: 0 }, svg = null, layer = null;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function parentsOf(id) {
    const parts = id.split(".");
    const found = [];
    for (let i = 1; i < parts.length; i++) found.push(parts.slice(0, i).join("."));
    return found;
  }
  // The node a task is drawn as: itself, or its outermost collapsed group.
  function shownAs(id) {
    const parents = parentsOf(id);
    for (const group of parents) if (!expanded.has(group)) return group;
    return id;
  }
  function groupState(group) {
    const states = groups.get(group).map(function (id) { return byId[id].state; });
    for (const s of ORDER) if (states.indexOf(s) >= 0) return s;
    return null;
  }
  // A long label wraps after a "_", "-" or "." (or, with none near, at 32 characters): shown whole.
  function mappedText(task) {
    return task.count === null || task.count === undefined ? "[not expanded]" : "[" + task.count + " instances]";
  }
  function lines(text) {
    const out = [];
    let line = "";
    text.split(/(?<=[_.\-])/).forEach(function (part) {
      while (part.length > 32) { if (line) { out.push(line); line = ""; } out.push(part.slice(0, 32)); part = part.slice(32); }
      if (line && (line + part).length > 24) { out.push(line); line = ""; }
      line += part;
    });
    if (line || !out.length) out.push(line);
    return out;
  }

  function layout() {
    const started = performance.now();
    // dagre's compound layout keeps each open group in one box but costs about 2.5 times a flat one; past
    // FLAT_FROM visible tasks the layout is flat and each open group is drawn around its members, which keeps
    // 500 tasks under a second.
    const visible = tasks.filter(function (t) { return shownAs(t.id) === t.id; }).length;
    const compound = visible < FLAT_FROM;
    const g = new dagre.graphlib.Graph({ compound: compound, multigraph: false });
    g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 46, marginx: 12, marginy: 24 });
    g.setDefaultEdgeLabel(function () { return {}; });
    const drawn = new Set();
    function addNode(id, isGroup) {
      if (drawn.has(id)) return;
      drawn.add(id);
      const label = id.split(".").pop() + (isGroup ? "  (" + groups.get(id).length + ")" : "");
      const rows = lines(label);
      const mapped = !isGroup && byId[id] && byId[id].mapped;
      if (mapped) rows.push(mappedText(byId[id]));
      const longest = Math.max.apply(null, rows.map(function (r) { return r.length; }));
      g.setNode(id, { label: label, rows: rows, group: isGroup, mapped: mapped, width: Math.max(70, longest * 7.4 + 30), height: 14 + rows.length * 16 });
      const parents = parentsOf(id).filter(function (p) { return expanded.has(p); });
      const parent = parents[parents.length - 1];
      if (parent && compound) {
        if (!drawn.has("cluster:" + parent)) { drawn.add("cluster:" + parent); g.setNode("cluster:" + parent, { cluster: parent, label: parent.split(".").pop() }); }
        g.setParent(id, "cluster:" + parent);
        let child = parent;
        for (let i = parents.length - 2; i >= 0; i--) {
          const outer = parents[i];
          if (!drawn.has("cluster:" + outer)) { drawn.add("cluster:" + outer); g.setNode("cluster:" + outer, { cluster: outer, label: outer.split(".").pop() }); }
          g.setParent("cluster:" + child, "cluster:" + outer);
          child = outer;
        }
      }
    }
    tasks.forEach(function (t) { const shown = shownAs(t.id); addNode(shown, shown !== t.id); });
    const edges = new Set();
    tasks.forEach(function (t) {
      const to = shownAs(t.id);
      t.upstream.forEach(function (u) {
        const from = shownAs(u);
        if (from === to || edges.has(from + "\u0000" + to)) return;
        edges.add(from + "\u0000" + to);
        // A Label shows only on the edge it names, not on a bundle between collapsed groups.
        const text = from === u && to === t.id ? labels[u + "\u0000" + t.id] : undefined;
        if (text) g.setEdge(from, to, { label: text, width: text.length * 6.6 + 12, height: 18, labelpos: "c" });
        else g.setEdge(from, to);
      });
    });
    const laidOut = performance.now();
    dagre.layout(g);
    box.dataset.layoutMs = String(Math.round(performance.now() - laidOut));
    if (!compound) boxGroups(g);
    draw(g);
    const ms = Math.round(performance.now() - started);
    box.dataset.renderMs = String(ms);
    box.dataset.nodes = String(g.nodes().filter(function (n) { return !g.node(n).cluster; }).length);
    box.dataset.edges = String(g.edgeCount());
    if (status) status.textContent = g.nodeCount() + " nodes, " + g.edgeCount() + " edges, laid out in " + ms + " ms";
  }

  // A flat layout's open groups: a box around each group's drawn members (inner groups first).
  function boxGroups(g) {
    const open = Array.from(expanded).sort(function (a, b) { return b.split(".").length - a.split(".").length; });
    open.forEach(function (group) {
      if (parentsOf(group).some(function (p) { return !expanded.has(p); })) return;
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      groups.get(group).forEach(function (id) {
        const n = g.node(shownAs(id));
        if (!n) return;
        x0 = Math.min(x0, n.x - n.width / 2); x1 = Math.max(x1, n.x + n.width / 2);
        y0 = Math.min(y0, n.y - n.height / 2); y1 = Math.max(y1, n.y + n.height / 2);
      });
      const pad = 8 + 4 * (4 - Math.min(group.split(".").length, 4));
      if (isFinite(x0)) g.setNode("cluster:" + group, { cluster: group, label: group.split(".").pop(), x: (x0 + x1) / 2, y: (y0 + y1) / 2 - 6, width: x1 - x0 + 2 * pad, height: y1 - y0 + 2 * pad + 12 });
    });
  }

  function draw(g) {
    box.textContent = "";
    const info = g.graph();
    size = { w: info.width || 100, h: info.height || 60 };
    svg = el("svg", { class: "graph", role: "group", "aria-label": "Graph of the DAG's tasks and groups", width: "100%", height: "100%" }, box);
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
    el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }, marker);
    layer = el("g", { class: "viewport" }, svg);
    g.nodes().forEach(function (id) {
      const n = g.node(id);
      if (!n.cluster) return;
      const cluster = el("g", { class: "cluster", "data-group": n.cluster }, layer);
      el("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 8 }, cluster);
      const label = el("text", { x: n.x - n.width / 2 + 8, y: n.y - n.height / 2 + 14, class: "cluster-label" }, cluster);
      label.textContent = "▾ " + n.label;
      cluster.addEventListener("click", function (event) { event.stopPropagation(); expanded.delete(n.cluster); layout(); fit(); });
    });
    g.edges().forEach(function (e) {
      const points = g.edge(e).points;
      const d = points.map(function (p, i) { return (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" ");
      el("path", { d: d, class: "edge", "marker-end": "url(#arrow)", "data-from": e.v, "data-to": e.w }, layer);
      const edge = g.edge(e);
      if (edge.label) {
        const tag = el("g", { class: "edge-label", "data-from": e.v, "data-to": e.w }, layer);
        el("rect", { x: edge.x - edge.width / 2, y: edge.y - 9, width: edge.width, height: 18, rx: 4 }, tag);
        el("text", { x: edge.x, y: edge.y + 4, "text-anchor": "middle" }, tag).textContent = edge.label;
      }
    });
    const link = box.dataset.link;
    g.nodes().forEach(function (id) {
      const n = g.node(id);
      if (n.cluster) return;
      const state = n.group ? groupState(id) : byId[id].state;
      let parent = layer;
      if (!n.group && link) parent = el("a", { href: link + encodeURIComponent(id) }, layer);
      const node = el("g", { class: n.group ? "node group" : "node", "data-task": id, "data-state": state || "none" }, parent);
      if (n.group) node.setAttribute("data-group", id);
      el("title", {}, node).textContent = id + ": " + (state || "no status") + (n.group ? " (" + groups.get(id).length + " tasks; click to expand)" : "");
      if (n.mapped) el("rect", { x: n.x - n.width / 2 + 4, y: n.y - n.height / 2 - 4, width: n.width, height: n.height, rx: 6, class: "stack" }, node);
      el("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 6, class: "state-" + (state || "none") }, node);
      n.rows.forEach(function (row, i) {
        const last = n.mapped && i === n.rows.length - 1;
        const text = el("text", { x: n.x - n.width / 2 + 10, y: n.y - n.height / 2 + 19 + i * 16, class: last ? "mapped-count" : "" }, node);
        text.textContent = (n.group && i === 0 ? "▸ " : "") + row;
      });
      if (n.group) node.addEventListener("click", function () { expanded.add(id); layout(); fit(); });
    });
    apply();
  }

  function apply() { if (layer) layer.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }
  function fit() {
    const w = box.clientWidth || 800, h = box.clientHeight || 400;
    view.k = Math.min(1.5, Math.max(0.05, Math.min(w / size.w, h / size.h)));
    view.x = (w - size.w * view.k) / 2;
    view.y = (h - size.h * view.k) / 2;
    apply();
  }
  function zoom(factor, cx, cy) {
    const k = Math.min(4, Math.max(0.05, view.k * factor));
    const x = cx === undefined ? box.clientWidth / 2 : cx, y = cy === undefined ? box.clientHeight / 2 : cy;
    view.x = x - (x - view.x) * (k / view.k);
    view.y = y - (y - view.y) * (k / view.k);
    view.k = k;
    apply();
  }
  box.addEventListener("wheel", function (event) {
    event.preventDefault();
    const rect = box.getBoundingClientRect();
    zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  let drag = null;
  box.addEventListener("pointerdown", function (event) {
    if (event.target.closest("a, .node.group, .cluster")) return;
    drag = { x: event.clientX - view.x, y: event.clientY - view.y };
    box.setPointerCapture(event.pointerId);
  });
  box.addEventListener("pointermove", function (event) { if (drag) { view.x = event.clientX - drag.x; view.y = event.clientY - drag.y; apply(); } });
  box.addEventListener("pointerup", function () { drag = null; });
  box.addEventListener("keydown", function (event) {
    const step = 40, keys = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (keys[event.key]) { view.x += keys[event.key][0]; view.y += keys[event.key][1]; apply(); event.preventDefault(); }
    else if (event.key === "+" || event.key === "=") zoom(1.2);
    else if (event.key === "-") zoom(1 / 1.2);
    else if (event.key === "0") fit();
  });
  document.querySelectorAll("[data-graph]").forEach(function (button) {
    button.addEventListener("click", function () {
      const what = button.dataset.graph;
      if (what === "fit") fit();
      else if (what === "zoom-in") zoom(1.25);
      else if (what === "zoom-out") zoom(1 / 1.25);
      else if (what === "expand") { groups.forEach(function (_, id) { expanded.add(id); }); layout(); fit(); }
      else if (what === "collapse") { expanded.clear(); layout(); fit(); }
    });
  });

  // States of the run change; the layout does not: recolour the drawn nodes.
  function recolour() {
    box.querySelectorAll("g.node").forEach(function (node) {
      const id = node.dataset.task;
      const state = node.dataset.group ? groupState(id) : (byId[id] || {}).state;
      node.dataset.state = state || "none";
      node.querySelector("rect:not(.stack)").setAttribute("class", "state-" + (state || "none"));
      const count = node.querySelector("text.mapped-count");
      if (count && byId[id]) count.textContent = mappedText(byId[id]);
      node.querySelector("title").textContent = id + ": " + (state || "no status");
    });
  }
  function unfinished() {
    return tasks.some(function (t) { return ["success", "failed", "skipped", "upstream_failed", "removed"].indexOf(t.state) < 0; });
  }
  async function refresh() {
    try {
      const response = await fetch(box.dataset.url, { credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        data.tasks.forEach(function (t) { if (byId[t.id]) { byId[t.id].state = t.state; byId[t.id].count = t.count; } });
        recolour();
      }
    } catch (e) { /* the next refresh tries again */ }
    if (unfinished()) setTimeout(refresh, 2000);
  }

  fetch(box.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    tasks = data.tasks;
    (data.labels || []).forEach(function (l) { labels[l.from + "\u0000" + l.to] = l.label; });
    tasks.forEach(function (t) {
      byId[t.id] = t;
      parentsOf(t.id).forEach(function (p) { if (!groups.has(p)) groups.set(p, []); groups.get(p).push(t.id); });
    });
    if (tasks.length <= 40) groups.forEach(function (_, id) { expanded.add(id); });
    layout();
    fit();
    if (data.run_id && unfinished()) setTimeout(refresh, 2000);
  });
})();
