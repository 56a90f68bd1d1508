// Swagger UI for /docs, served from this service (no CDN); kept out of the page so no inline script is needed.
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
