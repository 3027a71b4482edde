// The simulated bank page of the crm-pay development sandbox (not your bank).
// When the check is finished, hand its signed result to the songbird stand-in in the
// payment page (the parent window), as Cardinal's frame hands its result to songbird.
(function () {
  "use strict";

  function start() {
    var outcome = document.getElementById("outcome");
    if (outcome) {
      window.parent.postMessage(
        {
          type: "crm-pay-sandbox-3ds",
          jwt: outcome.getAttribute("data-jwt"),
          actionCode: outcome.getAttribute("data-action"),
          cancelled: outcome.getAttribute("data-cancelled") === "true"
        },
        outcome.getAttribute("data-parent")
      );
      return;
    }
    var code = document.getElementById("code");
    if (code) {
      code.focus();
    }
    // Escape cancels, as it closes a bank's challenge window.
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        var cancel = document.querySelector("button[value=cancel]");
        if (cancel) {
          cancel.click();
        }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
