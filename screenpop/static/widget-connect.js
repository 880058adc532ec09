/* callpop /widget/connect: hand the embed token to the CRM page that opened this
 * window, only to the origin the server checked against web_origins. */
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const result = document.getElementById("connect-result");
  if (!window.opener) {
    result.textContent = "Open this page from the CRM's callpop button.";
    return;
  }
  window.opener.postMessage({type: "callpop.token", token: boot.token, agent: boot.agent}, boot.origin);
  result.textContent = "Connected. You can close this window.";
  setTimeout(() => window.close(), 400);
})();
