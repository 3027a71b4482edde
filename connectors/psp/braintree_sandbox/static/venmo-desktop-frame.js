/*
 * crm-pay development sandbox - the Venmo desktop QR code frame (a development tool,
 * NOT Venmo's or Braintree's frame; our own code).
 *
 * braintree-web 3.144.0's venmo component, created with allowDesktop in a desktop
 * browser, loads this page from the configuration's assetsUrl (venmo/venmo.js l. 130-135)
 * as a full-page iframe named "venmo-desktop-iframe", with "#<ENV>_<channel>" in its URL
 * (venmo/external/venmo-desktop.js l. 40). It talks to it over framebus: messages are the
 * string "/*framebus*\/" + JSON {event, origin, eventData}, events are named
 * "<channel>:<EVENT>" (venmo/shared/events.js). This frame says VENMO_DESKTOP_IFRAME_READY
 * when loaded (venmo-desktop.js l. 79 waits for it), is told DISPLAY_QR_CODE {id,
 * merchantId} once braintree-web created the payment context over GraphQL, then
 * AUTHORIZING (the context was scanned), AUTHORIZE (approved), DISPLAY_ERROR {message}
 * and CLOSED_FROM_PARENT; it sends CUSTOMER_CANCELED (the sheet's cancel) and
 * REQUEST_NEW_QR_CODE (after an error).
 *
 * Where Venmo's frame draws a QR code for the customer's phone, this one shows a clearly
 * labelled simulated Venmo app: its approve button does what scanning and approving in
 * the app does, through the sandbox (POST /venmo-sandbox/payment-contexts/<id>: SCANNED,
 * then APPROVED). braintree-web learns it by polling GraphQL, as with the real app.
 */
(function () {
  "use strict";

  var PREFIX = "/*framebus*/";
  var hash = decodeURIComponent(window.location.hash.slice(1));
  var channel = hash.slice(hash.indexOf("_") + 1);
  if (!channel || hash.indexOf("_") < 0) { return; }
  var code = document.getElementById("sandbox-venmo-code");
  var statusBox = document.getElementById("sandbox-venmo-status");
  var approve = document.getElementById("sandbox-venmo-approve");
  var retry = document.getElementById("sandbox-venmo-retry");
  var cancel = document.getElementById("sandbox-venmo-cancel");
  var contextId = null;

  function emit(name, data) {
    var payload = { event: channel + ":" + name, origin: "*", eventData: data };
    window.parent.postMessage(PREFIX + JSON.stringify(payload), "*");
  }

  function say(text, isError) {
    statusBox.textContent = text;
    statusBox.className = "status" + (isError ? " error" : "");
  }

  function reset() {
    contextId = null;
    approve.disabled = true;
    retry.hidden = true;
    code.textContent = "Generating the code…";
    say("", false);
  }

  var handlers = {
    VENMO_DESKTOP_DISPLAY_QR_CODE: function (data) {
      contextId = data && data.id;
      retry.hidden = true;
      code.textContent = "Simulated QR code for Venmo payment context " + contextId +
        " (Venmo profile " + (data && data.merchantId) + ")";
      approve.disabled = !contextId;
      say("To scan the code, use the simulated Venmo app below.", false);
      approve.focus();
    },
    VENMO_DESKTOP_AUTHORIZING: function () { say("Authorize on your Venmo app", false); },
    VENMO_DESKTOP_AUTHORIZE: function () {
      approve.disabled = true;
      say("Venmo account authorized", false);
    },
    VENMO_DESKTOP_DISPLAY_ERROR: function (data) {
      approve.disabled = true;
      retry.hidden = false;
      say(String((data && data.message) || "Something went wrong"), true);
    },
    VENMO_DESKTOP_CLOSED_FROM_PARENT: reset
  };

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || typeof event.data !== "string") { return; }
    if (event.data.slice(0, PREFIX.length) !== PREFIX) { return; }
    var payload;
    try { payload = JSON.parse(event.data.slice(PREFIX.length)); } catch (e) { return; }
    var head = channel + ":";
    var name = String(payload.event || "");
    if (name.indexOf(head) !== 0) { return; }
    var handler = handlers[name.slice(head.length)];
    if (handler) { handler(payload.eventData || {}); }
  });

  // The simulated Venmo app: what the customer's phone does after scanning the code.
  function app(status) {
    return fetch("/venmo-sandbox/payment-contexts/" + encodeURIComponent(contextId), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: status })
    }).then(function (answer) {
      if (!answer.ok) { throw new Error("the sandbox refused " + status); }
    });
  }

  approve.addEventListener("click", function () {
    if (!contextId) { return; }
    approve.disabled = true;
    say("Approving in the simulated Venmo app…", false);
    app("SCANNED").then(function () { return app("APPROVED"); }).catch(function (err) {
      say(String(err.message || err), true);
    });
  });

  retry.addEventListener("click", function () {
    reset();
    emit("VENMO_DESKTOP_REQUEST_NEW_QR_CODE");
  });

  cancel.addEventListener("click", function () {
    emit("VENMO_DESKTOP_CUSTOMER_CANCELED");
    reset();
  });

  emit("VENMO_DESKTOP_IFRAME_READY");
})();
