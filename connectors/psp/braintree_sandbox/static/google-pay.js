// crm-pay development sandbox: stand-in for Google's pay.js (NOT Google Pay).
//
// Served at https://pay.google.com/gp/p/js/pay.js only when a driven browser routes that
// host to the sandbox (browser_routes.py). It offers the part of
// google.payments.api.PaymentsClient a Braintree integration uses (Google's "Google Pay
// API for Web" reference: isReadyToPay, loadPaymentData, prefetchPaymentData,
// createButton) and shows a clearly labelled simulated sheet instead of Google's. Approve
// asks the sandbox for the payment data Google would return (its tokenization data is the
// JSON Braintree's gateway gives Google); Cancel rejects as Google does
// ({statusCode: "CANCELED"}). No card number exists anywhere in this flow.
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : "https://pay.google.com";
  var DATA_URL = origin + "/gp/p/sandbox/payment-data";
  var CARDS = [
    { key: "visa", label: "Visa •••• 1111" },
    { key: "mastercard", label: "Mastercard •••• 0005" }
  ];

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    return node;
  }

  function sheet(request) {
    return new Promise(function (resolve, reject) {
      var dialog = el("dialog");
      dialog.id = "sandbox-google-pay-sheet";
      dialog.setAttribute("aria-labelledby", "sandbox-google-pay-title");
      dialog.style.maxWidth = "22rem";
      var title = el("h2", "Development sandbox — simulated Google Pay sheet");
      title.id = "sandbox-google-pay-title";
      dialog.appendChild(title);
      dialog.appendChild(el("p", "Not Google Pay: nothing leaves this machine."));
      var info = request.transactionInfo || {};
      dialog.appendChild(el("p", "Pay " + (info.totalPrice || "") + " " + (info.currencyCode || "")));
      var fieldset = el("fieldset");
      fieldset.appendChild(el("legend", "Card in the wallet"));
      CARDS.forEach(function (card, index) {
        var label = el("label");
        var radio = el("input");
        radio.type = "radio";
        radio.name = "sandbox-google-pay-card";
        radio.value = card.key;
        radio.checked = index === 0;
        label.appendChild(radio);
        label.appendChild(document.createTextNode(" " + card.label));
        label.style.display = "block";
        fieldset.appendChild(label);
      });
      dialog.appendChild(fieldset);
      var approve = el("button", "Approve");
      approve.type = "button";
      approve.id = "sandbox-google-pay-approve";
      var cancel = el("button", "Cancel");
      cancel.type = "button";
      cancel.id = "sandbox-google-pay-cancel";
      dialog.appendChild(approve);
      dialog.appendChild(cancel);
      document.body.appendChild(dialog);

      function close() { dialog.close(); dialog.remove(); }
      function cancelled() {
        close();
        reject({ statusCode: "CANCELED", statusMessage: "User closed the Payment Request UI." });
      }
      cancel.addEventListener("click", cancelled);
      dialog.addEventListener("cancel", function (ev) { ev.preventDefault(); cancelled(); });
      approve.addEventListener("click", function () {
        var chosen = dialog.querySelector("input[name=sandbox-google-pay-card]:checked");
        approve.disabled = true;
        fetch(DATA_URL, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ paymentDataRequest: request, card: chosen && chosen.value })
        }).then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        }).then(function (answer) {
          close();
          if (answer.ok) { resolve(answer.body); } else { reject(answer.body.error); }
        }).catch(function () {
          close();
          reject({ statusCode: "INTERNAL_ERROR", statusMessage: "sandbox unreachable" });
        });
      });
      dialog.showModal();
    });
  }

  function PaymentsClient(options) {
    this.environment = (options && options.environment) || "TEST";
  }
  PaymentsClient.prototype.isReadyToPay = function () {
    return Promise.resolve({ result: true });
  };
  PaymentsClient.prototype.prefetchPaymentData = function () {};
  PaymentsClient.prototype.loadPaymentData = function (request) {
    return sheet(request || {});
  };
  PaymentsClient.prototype.createButton = function (options) {
    var button = el("button", "Google Pay (sandbox)");
    button.type = "button";
    if (options && options.onClick) { button.addEventListener("click", options.onClick); }
    return button;
  };

  window.google = window.google || {};
  window.google.payments = { api: { PaymentsClient: PaymentsClient, developmentSandbox: true } };
})();
