// Live task log: polls the API from the last byte offset while the try runs, with a search filter.
(function () {
  const box = document.getElementById("log");
  if (!box) return;
  const url = box.dataset.url;
  const search = document.getElementById("log-search");
  const status = document.getElementById("log-status");
  let token = "0", text = "";
  function show() {
    const needle = search && search.value.trim();
    box.textContent = needle ? text.split("\n").filter((l) => l.includes(needle)).join("\n") : text;
    box.scrollTop = box.scrollHeight;
  }
  async function poll() {
    try {
      const response = await fetch(url + (url.includes("?") ? "&" : "?") + "token=" + token, { credentials: "same-origin" });
      if (!response.ok) { status.textContent = "log not available (" + response.status + ")"; return; }
      const body = await response.json();
      if (body.content) { text += body.content; show(); }
      token = body.continuation_token;
      if (body.finished) { status.textContent = "finished"; return; }
      status.textContent = "live";
    } catch (error) { status.textContent = "reconnecting…"; }
    setTimeout(poll, 1000);
  }
  if (search) search.addEventListener("input", show);
  poll();
})();
// Pages of running work refresh themselves.
(function () {
  const refresh = document.querySelector("[data-refresh]");
  if (refresh) setTimeout(() => window.location.reload(), Number(refresh.dataset.refresh) * 1000);
})();
