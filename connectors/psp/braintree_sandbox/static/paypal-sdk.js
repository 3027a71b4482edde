// crm-pay development sandbox: stand-in for PayPal's JavaScript SDK (NOT PayPal).
//
// Served at https://www.paypal.com/sdk/js only when a driven browser routes that host to
// the sandbox (browser_routes.py); braintree-web's paypalCheckout.loadPayPalSDK adds it
// to the page. It offers the part of window.paypal a Braintree integration uses (PayPal's
// "JavaScript SDK reference": paypal.Buttons({fundingSource, createOrder, onApprove,
// onCancel, onError}).isEligible() / .render(container), paypal.FUNDING) and shows a
// clearly labelled simulated approval sheet instead of PayPal's window. The order id
// comes from createOrder (braintree-web's createPayment, answered by the sandbox's
// client API); Approve calls onApprove with it and the sandbox payer, Cancel onCancel.
(function () {
  "use strict";
  var PAYER_ID = "PAYER-SANDBOX";
  var FUNDING = { PAYPAL: "paypal", VENMO: "venmo", PAYLATER: "paylater", CREDIT: "credit", CARD: "card" };

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    return node;
  }

  function sheet(orderID) {
    return new Promise(function (resolve) {
      var dialog = el("dialog");
      dialog.id = "sandbox-paypal-sheet";
      dialog.setAttribute("aria-labelledby", "sandbox-paypal-title");
      dialog.style.maxWidth = "22rem";
      var title = el("h2", "Development sandbox — simulated PayPal sheet");
      title.id = "sandbox-paypal-title";
      dialog.appendChild(title);
      dialog.appendChild(el("p", "Not PayPal: nothing leaves this machine."));
      dialog.appendChild(el("p", "Signed in as payer@example.com (sandbox payer). Order " + orderID + "."));
      var approve = el("button", "Approve");
      approve.type = "button";
      approve.id = "sandbox-paypal-approve";
      var cancel = el("button", "Cancel");
      cancel.type = "button";
      cancel.id = "sandbox-paypal-cancel";
      dialog.appendChild(approve);
      dialog.appendChild(cancel);
      document.body.appendChild(dialog);
      function done(approved) { dialog.close(); dialog.remove(); resolve(approved); }
      approve.addEventListener("click", function () { done(true); });
      cancel.addEventListener("click", function () { done(false); });
      dialog.addEventListener("cancel", function (ev) { ev.preventDefault(); done(false); });
      dialog.showModal();
    });
  }

  function Buttons(options) {
    this.options = options || {};
  }
  Buttons.prototype.isEligible = function () {
    var source = this.options.fundingSource;
    return !source || source === FUNDING.PAYPAL;
  };
  Buttons.prototype.render = function (container) {
    var options = this.options;
    var target = typeof container === "string" ? document.querySelector(container) : container;
    if (!target) { return Promise.reject(new Error("paypal.Buttons: no container")); }
    var button = el("button", "PayPal (sandbox)");
    button.type = "button";
    button.className = "sandbox-paypal-button";
    function fail(err) { if (options.onError) { options.onError(err); } }
    button.addEventListener("click", function () {
      if (options.onClick) { options.onClick({ fundingSource: FUNDING.PAYPAL }); }
      Promise.resolve().then(function () {
        return options.createOrder ? options.createOrder({}, {}) : Promise.reject(new Error("no createOrder"));
      }).then(function (orderID) {
        return sheet(orderID).then(function (approved) {
          if (approved) {
            return options.onApprove({ orderID: orderID, payerID: PAYER_ID, paymentSource: "paypal" }, {});
          }
          if (options.onCancel) { options.onCancel({ orderID: orderID }); }
          return null;
        });
      }).catch(fail);
    });
    target.appendChild(button);
    return Promise.resolve();
  };

  window.paypal = {
    version: "crm-pay-development-sandbox",
    developmentSandbox: true,
    FUNDING: FUNDING,
    Buttons: function (options) { return new Buttons(options); }
  };
})();
