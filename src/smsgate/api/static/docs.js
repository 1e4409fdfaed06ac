// The API page (/docs): Swagger UI, from the files shipped with smsgate, on the OpenAPI
// document the page names. A file, not an inline script, so the page's policy can refuse those.
"use strict";

const docs = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: docs.dataset.openapiUrl,
  domNode: docs,
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  validatorUrl: null, // Swagger UI would otherwise send the document to a validator elsewhere
});
