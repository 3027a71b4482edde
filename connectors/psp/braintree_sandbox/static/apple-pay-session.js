// crm-pay development sandbox: stand-in for Apple's ApplePaySession (NOT Apple Pay).
//
// Chromium has no ApplePaySession, so a browser test injects this file before the page
// runs (Playwright context.add_init_script); crm-pay never serves it. It offers what
// Apple's "ApplePaySession" reference describes and a Braintree integration uses:
// canMakePayments, supportsVersion, begin, abort, completeMerchantValidation,
// completePayment, the STATUS_ constants and the onvalidatemerchant /
// onpaymentauthorized / oncancel events, and shows a clearly labelled simulated sheet.
// The sheet asks the merchant to validate itself first (braintree-web's
// performValidation -> the sandbox's v1/apple_pay_web/sessions); Approve hands over a
// payment token whose paymentData names the sandbox card chosen (the sandbox turns it
// into Braintree's Apple Pay test nonce); Cancel fires oncancel. No card number here.
(function () {
  "use strict";
  if (window.ApplePaySession) { return; }
  var CARDS = [
    { key: "visa", label: "Visa •••• 1881", network: "Visa" },
    { key: "mastercard", label: "MasterCard •••• 0017", network: "MasterCard" }
  ];
  var VALIDATION_URL = "https://apple-pay-gateway-cert.apple.com/paymentservices/startSession";

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    return node;
  }

  function ApplePaySession(version, request) {
    if (!ApplePaySession.supportsVersion(version)) { throw new Error("unsupported version"); }
    this._request = request || {};
    this._dialog = null;
    this._approve = null;
    this.onvalidatemerchant = null;
    this.onpaymentauthorized = null;
    this.oncancel = null;
  }
  ApplePaySession.STATUS_SUCCESS = 0;
  ApplePaySession.STATUS_FAILURE = 1;
  ApplePaySession.developmentSandbox = true;
  ApplePaySession.canMakePayments = function () { return true; };
  ApplePaySession.canMakePaymentsWithActiveCard = function () { return Promise.resolve(true); };
  ApplePaySession.supportsVersion = function (version) { return version >= 1 && version <= 14; };

  ApplePaySession.prototype.begin = function () {
    var self = this;
    var dialog = el("dialog");
    dialog.id = "sandbox-apple-pay-sheet";
    dialog.setAttribute("aria-labelledby", "sandbox-apple-pay-title");
    dialog.style.maxWidth = "22rem";
    var title = el("h2", "Development sandbox — simulated Apple Pay sheet");
    title.id = "sandbox-apple-pay-title";
    dialog.appendChild(title);
    dialog.appendChild(el("p", "Not Apple Pay: nothing leaves this machine."));
    var total = this._request.total || {};
    dialog.appendChild(el("p", "Pay " + (total.label || "") + " " + (total.amount || "") + " " +
      (this._request.currencyCode || "")));
    var fieldset = el("fieldset");
    fieldset.appendChild(el("legend", "Card in the wallet"));
    CARDS.forEach(function (card, index) {
      var label = el("label");
      var radio = el("input");
      radio.type = "radio";
      radio.name = "sandbox-apple-pay-card";
      radio.value = card.key;
      radio.checked = index === 0;
      label.appendChild(radio);
      label.appendChild(document.createTextNode(" " + card.label));
      label.style.display = "block";
      fieldset.appendChild(label);
    });
    dialog.appendChild(fieldset);
    var status = el("p", "Checking the merchant…");
    status.id = "sandbox-apple-pay-status";
    dialog.appendChild(status);
    var approve = el("button", "Approve");
    approve.type = "button";
    approve.id = "sandbox-apple-pay-approve";
    approve.disabled = true;  // until the merchant is validated, as Apple's sheet waits
    var cancel = el("button", "Cancel");
    cancel.type = "button";
    cancel.id = "sandbox-apple-pay-cancel";
    dialog.appendChild(approve);
    dialog.appendChild(cancel);
    document.body.appendChild(dialog);
    this._dialog = dialog;
    this._approve = approve;
    this._status = status;

    function cancelled() {
      self._close();
      if (self.oncancel) { self.oncancel({}); }
    }
    cancel.addEventListener("click", cancelled);
    dialog.addEventListener("cancel", function (ev) { ev.preventDefault(); cancelled(); });
    approve.addEventListener("click", function () {
      var chosen = dialog.querySelector("input[name=sandbox-apple-pay-card]:checked");
      var card = CARDS.filter(function (c) { return chosen && c.key === chosen.value; })[0] || CARDS[0];
      approve.disabled = true;
      status.textContent = "Paying…";
      if (self.onpaymentauthorized) {
        self.onpaymentauthorized({
          payment: {
            token: {
              paymentData: { version: "EC_v1", sandboxCard: card.key },
              paymentMethod: { displayName: card.label, network: card.network, type: "debit" },
              transactionIdentifier: "SANDBOX" + Date.now()
            }
          }
        });
      }
    });
    dialog.showModal();
    setTimeout(function () {
      if (self.onvalidatemerchant) { self.onvalidatemerchant({ validationURL: VALIDATION_URL }); }
    }, 0);
  };

  ApplePaySession.prototype.completeMerchantValidation = function (merchantSession) {
    if (!merchantSession || !merchantSession.merchantSessionIdentifier) {
      this.abort();
      if (this.oncancel) { this.oncancel({}); }
      return;
    }
    if (this._approve) { this._approve.disabled = false; }
    if (this._status) { this._status.textContent = "Merchant checked: " + merchantSession.displayName; }
  };

  ApplePaySession.prototype.completePayment = function (result) {
    var status = typeof result === "object" && result ? result.status : result;
    if (status === ApplePaySession.STATUS_SUCCESS) {
      this._close();
    } else if (this._status) {
      this._status.textContent = "Payment not completed.";
      this._close();
    }
  };

  ApplePaySession.prototype.abort = function () { this._close(); };

  ApplePaySession.prototype._close = function () {
    if (this._dialog) {
      this._dialog.close();
      this._dialog.remove();
      this._dialog = null;
    }
  };

  window.ApplePaySession = ApplePaySession;
})();
