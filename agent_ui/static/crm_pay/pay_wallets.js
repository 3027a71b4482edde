// Customer pay page: the wallets (Google Pay, Apple Pay, PayPal, Venmo) above the card form.
//
// Each offered wallet's button appears once braintree-web's component for it is ready
// and the wallet can pay in this browser. The wallet's own sheet asks the customer;
// braintree-web turns its answer into a one-time nonce, which goes to the same pay
// endpoint as a card's, with `method` naming the wallet and the device data pay.js
// collected. A closed sheet or a wallet error leaves the page as it was: the card form
// and the other wallets still work. The page never sees a card number.
//
// Google Pay follows Braintree's "Google Pay > Client-side implementation" guide
// (braintree.googlePayment with googlePayVersion 2, Google's PaymentsClient from
// pay.js: isReadyToPay, then loadPaymentData with createPaymentDataRequest, then
// parseResponse); Apple Pay its "Apple Pay > Client-side implementation" guide
// (braintree.applePay, ApplePaySession: onvalidatemerchant -> performValidation,
// onpaymentauthorized -> tokenize -> completePayment); PayPal its "PayPal > Checkout
// with Vault" guide (braintree.paypalCheckout, loadPayPalSDK, paypal.Buttons with
// createOrder -> createPayment({flow: "checkout", requestBillingAgreement: true}),
// onApprove -> tokenizePayment); Venmo its "Venmo > Client-side implementation" guide
// (braintree.venmo.create with paymentMethodUsage "single_use", allowDesktop for the
// QR code a desktop customer scans with the Venmo app, mobileWebFallBack for a phone
// without the app; isBrowserSupported, then tokenize; a page that comes back from the
// Venmo app carries the result: hasTokenizationResult -> tokenize at once).
//
// The components share the page's one braintree.client, which pay.js creates
// (window.crmPay.client).
(function () {
  "use strict";
  var section = document.getElementById("wallets");
  var cardForm = document.getElementById("pay-form");
  var walletForm = document.getElementById("wallet-form");
  var bt = window.braintree;
  var shared = window.crmPay && window.crmPay.client;  // pay.js's braintree.client
  if (!section || !cardForm || !walletForm || !bt || !shared) { return; }
  var WORDS = {};
  try { WORDS = JSON.parse(cardForm.dataset.words || "{}"); } catch (e) { WORDS = {}; }
  function words(text) { return WORDS[text] || text; }
  var GOOGLE_PAY_JS = "https://pay.google.com/gp/p/js/pay.js";
  var amount = section.dataset.amount;
  var currency = section.dataset.currency;
  var merchant = section.dataset.merchant;
  var errorBox = document.getElementById("wallet-error");
  var buttons = section.querySelectorAll("button[data-wallet]");

  function button(wallet) { return document.getElementById("wallet-" + wallet); }

  function ready(el) {
    el.hidden = false;
    section.hidden = false;
  }

  function busy(on) {
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = on; });
  }

  function start() {
    errorBox.hidden = true;
    busy(true);
  }

  function stop(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    busy(false);
  }

  function cancelled() {
    stop(words("You closed the wallet. Nothing was charged; choose how you want to pay."));
  }

  function failed() {
    stop(words("The wallet could not finish the payment. Nothing was charged; please try again or pay by card."));
  }

  function submit(method, nonce) {
    var device = document.getElementById("device-data");  // pay.js's data collector
    document.getElementById("wallet-nonce").value = nonce;
    document.getElementById("wallet-method").value = method;
    document.getElementById("wallet-device-data").value = (device && device.value) || "";
    walletForm.submit();
  }

  // Google publishes pay.js without a stable hash (no SRI pin is possible): it is
  // loaded only on a page offering Google Pay, from the origin its policy allows.
  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function googlePay(client) {
    var el = button("google_pay");
    if (!el || !bt.googlePayment) { return; }
    var environment = client.getConfiguration().gatewayConfiguration.environment === "production" ?
      "PRODUCTION" : "TEST";
    var component = null;
    var payments = null;
    bt.googlePayment.create({ client: client, googlePayVersion: 2 }).then(function (instance) {
      component = instance;
      return loadScript(GOOGLE_PAY_JS);
    }).then(function () {
      payments = new window.google.payments.api.PaymentsClient({ environment: environment });
      return payments.isReadyToPay({
        apiVersion: 2,
        apiVersionMinor: 0,
        allowedPaymentMethods: component.createPaymentDataRequest().allowedPaymentMethods
      });
    }).then(function (answer) {
      if (!answer || !answer.result) { return; }
      ready(el);
      el.addEventListener("click", function () {
        start();
        var request = component.createPaymentDataRequest({
          transactionInfo: { currencyCode: currency, totalPriceStatus: "FINAL", totalPrice: amount },
          merchantInfo: { merchantName: merchant }
        });
        payments.loadPaymentData(request).then(function (paymentData) {
          return component.parseResponse(paymentData);
        }).then(function (payload) {
          submit("google_pay", payload.nonce);
        }).catch(function (err) {
          if (err && err.statusCode === "CANCELED") { cancelled(); } else { failed(); }
        });
      });
    }).catch(function () { /* no Google Pay here: the button stays hidden */ });
  }

  function applePay(client) {
    var el = button("apple_pay");
    var Session = window.ApplePaySession;
    if (!el || !bt.applePay || !Session || !Session.canMakePayments()) { return; }
    bt.applePay.create({ client: client }).then(function (component) {
      ready(el);
      el.addEventListener("click", function () {
        start();
        var request = component.createPaymentRequest({
          total: { label: merchant, amount: amount },
          currencyCode: currency
        });
        var session = new Session(3, request);
        var done = false;
        session.onvalidatemerchant = function (event) {
          component.performValidation({ validationURL: event.validationURL, displayName: merchant })
            .then(function (merchantSession) { session.completeMerchantValidation(merchantSession); })
            .catch(function () { done = true; session.abort(); failed(); });
        };
        session.onpaymentauthorized = function (event) {
          component.tokenize({ token: event.payment.token }).then(function (payload) {
            done = true;
            session.completePayment(Session.STATUS_SUCCESS);
            submit("apple_pay", payload.nonce);
          }).catch(function () {
            done = true;
            session.completePayment(Session.STATUS_FAILURE);
            failed();
          });
        };
        session.oncancel = function () { if (!done) { cancelled(); } };
        session.begin();
      });
    }).catch(function () { /* Apple Pay is not enabled: the button stays hidden */ });
  }

  function payPal(client) {
    var slot = button("paypal");
    if (!slot || !bt.paypalCheckout) { return; }
    var component = null;
    bt.paypalCheckout.create({ client: client }).then(function (instance) {
      component = instance;
      return component.loadPayPalSDK({ currency: currency, intent: "capture" });
    }).then(function () {
      var paypal = window.paypal;
      var buttons = paypal.Buttons({
        fundingSource: paypal.FUNDING.PAYPAL,
        createOrder: function () {
          start();
          return component.createPayment({
            flow: "checkout",
            amount: amount,
            currency: currency,
            intent: "capture",
            requestBillingAgreement: true,
            billingAgreementDetails: { description: merchant }
          });
        },
        onApprove: function (data) {
          return component.tokenizePayment(data).then(function (payload) {
            submit("paypal", payload.nonce);
          }).catch(failed);
        },
        onCancel: cancelled,
        onError: failed
      });
      if (!buttons.isEligible()) { return null; }
      return buttons.render(slot).then(function () { ready(slot); });
    }).catch(function () { /* PayPal is not enabled: no button */ });
  }

  // braintree-web's Venmo errors (venmo/shared/errors.js) that mean the customer stopped:
  // closed the QR code sheet, cancelled in the Venmo app or came back without paying.
  var VENMO_STOPPED = ["VENMO_DESKTOP_CANCELED", "VENMO_CUSTOMER_CANCELED", "VENMO_APP_CANCELED",
    "VENMO_CANCELED", "VENMO_MOBILE_POLLING_TOKENIZATION_CANCELED"];

  function venmo(client) {
    var el = button("venmo");
    if (!el || !bt.venmo) { return; }
    bt.venmo.create({
      client: client,
      paymentMethodUsage: "single_use",
      allowDesktop: true,
      mobileWebFallBack: true
    }).then(function (component) {
      function pay() {
        start();
        component.tokenize().then(function (payload) {
          submit("venmo", payload.nonce);
        }).catch(function (err) {
          if (err && VENMO_STOPPED.indexOf(err.code) >= 0) { cancelled(); } else { failed(); }
        });
      }
      if (!component.isBrowserSupported()) { return; }
      ready(el);
      el.addEventListener("click", pay);
      if (component.hasTokenizationResult()) { pay(); }  // back from the Venmo app
    }).catch(function () { /* Venmo is not enabled: the button stays hidden */ });
  }

  shared.then(function (client) {
    googlePay(client);
    applePay(client);
    payPal(client);
    venmo(client);
  }).catch(function () { /* the card form reports the client's failure */ });
})();
