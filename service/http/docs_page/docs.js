// Swagger UI over the contract this service serves. A file, not an inline script, so that
// the page's Content-Security-Policy can refuse every script not from this origin.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    displayOperationId: true,
    displayRequestDuration: true,
    // No badge from Swagger's online validator: the page talks to this origin only.
    validatorUrl: null,
  });
});
