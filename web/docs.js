// GET /docs: Swagger UI over this server's /openapi.json, with "Try it out" on, so that every
// endpoint and its examples can be sent from the page. Requests go to this same origin (the
// description names no server). The API key, if the playground has one in this tab's session
// storage, is sent too; Swagger UI's own "Authorize" button sets one otherwise.
"use strict";

(function () {
  function apiKey() {
    try {
      return sessionStorage.getItem("psa-api-key");
    } catch (e) {
      return null;
    }
  }

  function start() {
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger",
      deepLinking: true,
      tryItOutEnabled: true,
      displayRequestDuration: true,
      // No call to the public validator: nothing leaves this server.
      validatorUrl: null,
      requestInterceptor: (request) => {
        const key = apiKey();
        if (key && !request.headers.Authorization) request.headers.Authorization = "Bearer " + key;
        return request;
      },
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
