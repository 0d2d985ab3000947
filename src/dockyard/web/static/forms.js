// The admin forms' helpers: the connection form shows the fields of the chosen type only (its own labels and
// typed extras; the others are hidden and disabled so they are not sent), and a JSON editor says at once
// whether what is typed is a JSON object. The server checks both again: this only saves a round trip.
(function () {
  "use strict";
  const type = document.getElementById("conn_type");
  function showType() {
    const option = type.options[type.selectedIndex];
    const kind = option.dataset.form || option.value;  // a type the form does not know: the generic fields
    document.querySelectorAll("#connection-form [data-types]").forEach(function (part) {
      const on = part.dataset.types.split(" ").indexOf(kind) >= 0;
      part.hidden = !on;
      part.querySelectorAll("input, select, textarea").forEach(function (input) {
        if (part.tagName === "FIELDSET") input.disabled = !on;
      });
    });
    document.querySelectorAll("#connection-form label[data-labels]").forEach(function (label) {
      const labels = JSON.parse(label.dataset.labels);
      if (labels[kind]) label.textContent = labels[kind];
    });
  }
  if (type) { type.addEventListener("change", showType); showType(); }

  document.querySelectorAll("textarea[data-json-check]").forEach(function (area) {
    const status = document.getElementById(area.dataset.jsonCheck);
    function check() {
      const text = area.value.trim();
      let problem = "";
      if (text) {
        try {
          const value = JSON.parse(text);
          if (value === null || typeof value !== "object" || Array.isArray(value)) problem = "Extra must be a JSON object, such as {\"key\": \"value\"}.";
        } catch (e) { problem = "Not valid JSON: " + e.message; }
      }
      status.textContent = problem || (text ? "Valid JSON object." : "");
      status.className = "json-status " + (problem ? "field-error" : "muted");
      if (problem) area.setAttribute("aria-invalid", "true"); else area.removeAttribute("aria-invalid");
    }
    area.addEventListener("input", check);
    check();
  });
})();
