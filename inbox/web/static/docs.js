// Starts Swagger UI on /docs. A file rather than an inline script, so that the page runs under
// the same CSP as every other page; the OpenAPI URL comes from the page.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    validatorUrl: null, // the default sends the whole document to a third-party validator
    showExtensions: true,
  });
});
