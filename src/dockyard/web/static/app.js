// dockyard's UI script: the live log, times in the reader's time zone, confirmation dialogs and the grid's
// collapsible TaskGroups. Live regions refresh through htmx (hx-get + hx-trigger="every Ns"); only those
// regions are swapped, so forms, scroll positions and what a person types are never reset.
(function () {
  "use strict";

  // --- Times: every <time datetime> is shown in the chosen zone (kept in localStorage; UTC by default).
  const TZ_KEY = "dockyard.timezone";
  function zone() {
    try { return localStorage.getItem(TZ_KEY) || "UTC"; } catch (e) { return "UTC"; }
  }
  function formatTimes(root) {
    const tz = zone();
    let format;
    try {
      format = new Intl.DateTimeFormat("sv-SE", {
        timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
      });
    } catch (e) { return; }
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date)) { el.textContent = format.format(date); el.title = el.getAttribute("datetime"); }
    });
  }
  function setUpZones() {
    const select = document.getElementById("tz-select");
    if (!select) return;
    const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
    let zones = [];
    try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { zones = [local]; }
    const chosen = zone();
    const fragment = document.createDocumentFragment();
    [local + " (browser)"].concat(zones).forEach(function (name, index) {
      const value = index === 0 ? local : name;
      if (value === "UTC" && index > 0) return;
      const option = document.createElement("option");
      option.value = value;
      option.textContent = name;
      fragment.appendChild(option);
    });
    select.appendChild(fragment);
    select.value = chosen;
    select.addEventListener("change", function () {
      try { localStorage.setItem(TZ_KEY, select.value); } catch (e) { /* private mode: this page only */ }
      formatTimes(document);
    });
  }

  // --- Live log: follows the end only while the reader is at the bottom.
  function setUpLog() {
    const box = document.getElementById("log");
    if (!box) return;
    const url = box.dataset.url;
    const search = document.getElementById("log-search");
    const wrap = document.getElementById("log-wrap");
    const levelSelect = document.getElementById("log-level");
    // Lines that name a level the way Python's logging, most tools and tracebacks do.
    const LEVELS = { error: /\b(ERROR|CRITICAL|FATAL|Traceback|Exception)\b/i, warning: /\b(WARN|WARNING|ERROR|CRITICAL|FATAL|Traceback|Exception)\b/i };
    const status = document.getElementById("log-status");
    let offset = 0, text = "";
    function atBottom() { return box.scrollHeight - box.scrollTop - box.clientHeight < 24; }
    function show() {
      const follow = atBottom();
      const keep = box.scrollTop;
      const needle = search && search.value.trim();
      const level = LEVELS[levelSelect ? levelSelect.value : ""];
      box.textContent = needle || level ? text.split("\n").filter(function (l) {
        return (!needle || l.includes(needle)) && (!level || level.test(l));
      }).join("\n") : text;
      box.scrollTop = follow ? box.scrollHeight : keep;
    }
    async function poll() {
      try {
        const response = await fetch(url + (url.includes("?") ? "&" : "?") + "offset=" + offset, { credentials: "same-origin" });
        if (!response.ok) { status.textContent = "log not available (" + response.status + ")"; return; }
        const body = await response.json();
        if (body.content) { text += body.content; show(); }
        offset = body.offset;
        if (body.finished) { status.textContent = "finished"; return; }
        status.textContent = "live";
      } catch (error) { status.textContent = "reconnecting…"; }
      setTimeout(poll, 1000);
    }
    if (search) search.addEventListener("input", show);
    if (levelSelect) levelSelect.addEventListener("change", show);
    if (wrap) wrap.addEventListener("change", function () { box.classList.toggle("nowrap", !wrap.checked); });
    poll();
  }

  // --- Confirmation: the action dialog (its body comes from the server's dry run) and data-confirm forms.
  function setUpDialogs() {
    const dialog = document.getElementById("confirm");
    const body = document.getElementById("confirm-body");
    if (!dialog || !body) return;
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target === body && !dialog.open) dialog.showModal();
    });
    dialog.addEventListener("click", function (event) {
      if (event.target.closest("[data-close-dialog]")) dialog.close();
    });
    document.addEventListener("submit", function (event) {
      const form = event.target;
      if (!form.dataset || !form.dataset.confirm || form.dataset.confirmed) return;
      event.preventDefault();
      body.textContent = "";
      const title = document.createElement("h2");
      title.id = "confirm-title";
      title.textContent = form.dataset.confirm;
      const buttons = document.createElement("p");
      buttons.className = "dialog-buttons";
      const yes = document.createElement("button");
      yes.type = "button"; yes.className = "danger"; yes.id = "confirm-button"; yes.textContent = form.dataset.confirmButton || "Delete";
      const no = document.createElement("button");
      no.type = "button"; no.className = "secondary"; no.textContent = "Cancel";
      no.setAttribute("data-close-dialog", "");
      yes.addEventListener("click", function () { form.dataset.confirmed = "1"; dialog.close(); form.submit(); });
      buttons.append(yes, " ", no);
      body.append(title, buttons);
      dialog.showModal();
    });
  }

  // --- Grid: TaskGroups fold; which are folded survives the grid's live refresh.
  const folded = new Set();
  function applyFolds(root) {
    const grid = (root || document).querySelector("table.grid");
    if (!grid) return;
    grid.querySelectorAll("tbody tr").forEach(function (row) {
      const parents = (row.dataset.parents || "").split(" ").filter(Boolean);
      row.hidden = parents.some(function (p) { return folded.has(p); });
    });
    grid.querySelectorAll("[data-group-toggle]").forEach(function (button) {
      button.setAttribute("aria-expanded", folded.has(button.dataset.groupToggle) ? "false" : "true");
    });
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-group-toggle]");
    if (!button) return;
    const id = button.dataset.groupToggle;
    if (folded.has(id)) folded.delete(id); else folded.add(id);
    applyFolds(document);
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    formatTimes(event.detail.target);
    applyFolds(document);
  });
  setUpZones();
  formatTimes(document);
  setUpLog();
  setUpDialogs();
  window.dockyard = { formatTimes: formatTimes };
})();
