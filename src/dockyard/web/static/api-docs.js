// Starts Swagger UI on /api/v1/ui (no inline script, so the page keeps the app's Content-Security-Policy).
(function () {
  const box = document.getElementById("swagger-ui");
  if (!box || typeof SwaggerUIBundle === "undefined") return;
  SwaggerUIBundle({
    url: box.dataset.url,
    domNode: box,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    // Same-origin calls carry the session cookie; changes need the session's CSRF token too.
    requestInterceptor: function (request) {
      request.headers["X-CSRF-Token"] = box.dataset.csrf;
      return request;
    },
  });
})();
