// Customer pay page: card digits stay inside the PSP's hosted-field iframes; this page
// receives only validity flags and, on submit, a one-time nonce.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form || !window.sandboxHostedFields && !window.braintree) { return; }
  var button = document.getElementById("pay-button");
  var errorBox = document.getElementById("form-error");
  var options = {
    fields: {
      number: { container: "#card-number" },
      expirationDate: { container: "#expiration-date" },
      cvv: { container: "#cvv" },
      postalCode: { container: "#postal-code" }
    }
  };
  // The development sandbox's library takes the client token directly; Braintree's
  // own hosted fields take a client instance made from it.
  function createFields() {
    if (window.sandboxHostedFields) {
      options.authorization = form.dataset.clientToken;
      return window.sandboxHostedFields.create(options);
    }
    return window.braintree.client.create({ authorization: form.dataset.clientToken })
      .then(function (client) {
        options.client = client;
        return window.braintree.hostedFields.create(options);
      });
  }
  // The agent's screen ticks each field as it becomes valid: only the field's name and a
  // true/false flag are sent (same origin, allowed by the page's connect-src 'self').
  var eventsUrl = form.action.replace(/\/pay$/, "/events");
  function reportValidity(event) {
    var name = event.emittedBy;
    if (!name || !event.fields[name] || !window.fetch) { return; }
    fetch(eventsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ field: name, valid: event.fields[name].isValid === true })
    }).catch(function () { /* a lost tick must never disturb the payment */ });
  }
  createFields().then(function (instance) {
    instance.on("validityChange", function (event) {
      var all = Object.keys(event.fields).every(function (k) { return event.fields[k].isValid; });
      button.disabled = !all;
      reportValidity(event);
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      button.disabled = true;
      errorBox.hidden = true;
      instance.tokenize().then(function (payload) {
        document.getElementById("nonce").value = payload.nonce;
        form.submit();
      }).catch(function (err) {
        errorBox.textContent = (err && err.message) || "Please check the card details.";
        errorBox.hidden = false;
        button.disabled = false;
      });
    });
  }).catch(function () {
    errorBox.textContent = "The secure card fields could not be loaded. Please reload the page.";
    errorBox.hidden = false;
  });
})();
