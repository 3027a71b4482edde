// Customer pay page: card digits stay inside the PSP's hosted-field iframes; this page
// receives only validity flags and, on submit, a one-time nonce (checked by the
// cardholder's bank first when 3-D Secure is asked for) and the device data.
//
// One code path everywhere: Braintree's browser SDK (braintree-web's client,
// hostedFields, dataCollector, threeDSecure), or in the demo the development sandbox's
// stand-in offering the same API.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form || !window.braintree || !window.braintree.client) { return; }
  var button = document.getElementById("pay-button");
  var errorBox = document.getElementById("form-error");
  // The page's words in the customer's language (agent_ui/i18n.py), keyed by the English.
  var WORDS = {};
  try { WORDS = JSON.parse(form.dataset.words || "{}"); } catch (e) { WORDS = {}; }
  function words(text) { return WORDS[text] || text; }
  var FIELDS = ["number", "expirationDate", "cvv", "postalCode"];
  var CONTAINERS = {
    number: "#card-number",
    expirationDate: "#expiration-date",
    cvv: "#cvv",
    postalCode: "#postal-code"
  };
  // Words next to a field whose entry cannot be right (or was left unfinished).
  var PROBLEMS = {
    number: words("This card number doesn't look right. Please check it."),
    expirationDate: words("Check the expiry date: month and year as printed on the card (MM/YY)."),
    cvv: words("Check the security code: 3 digits on the back of the card (4 on the front for American Express)."),
    postalCode: words("Please enter the postal code of the card's billing address.")
  };
  var options = { fields: {} };
  FIELDS.forEach(function (name) { options.fields[name] = { container: CONTAINERS[name] }; });

  var bt = window.braintree;
  // The page's one braintree.client (one configuration fetch), shared with the wallets
  // (pay_wallets.js, loaded after this script) through window.crmPay.client.
  var clientReady = bt.client.create({ authorization: form.dataset.clientToken });
  window.crmPay = window.crmPay || {};
  window.crmPay.client = clientReady;
  var deviceInput = document.getElementById("device-data");
  var threeDS = null;        // what verifyCard needs, from the server (or null: no 3DS)
  try { threeDS = JSON.parse(form.dataset.threeDSecure || "null"); } catch (e) { threeDS = null; }
  var verifier = null;       // braintree.threeDSecure instance, when asked for

  // Device data for the PSP's fraud tools: a failure never blocks the payment.
  function collectDeviceData(client) {
    if (!bt.dataCollector || !deviceInput) { return; }
    bt.dataCollector.create({ client: client }).then(function (collector) {
      deviceInput.value = collector.deviceData || "";
    }).catch(function () { /* the sale goes without device data */ });
  }

  function createVerifier(client) {
    if (!threeDS || !bt.threeDSecure) { return; }
    bt.threeDSecure.create({ client: client, version: 2 }).then(function (instance) {
      verifier = instance;
    }).catch(function () { verifier = null; /* the server decides whether 3DS was needed */ });
  }

  function createFields() {
    return clientReady
      .then(function (client) {
        options.client = client;
        collectDeviceData(client);
        createVerifier(client);
        return bt.hostedFields.create(options);
      });
  }

  // The bank's check (3-D Secure 2): frictionless, or a challenge the bank shows over
  // the page. Whatever the result, the nonce goes to our server, which requires the
  // liability shift when the merchant asks for it and says why a payment failed.
  function verify(payload) {
    if (!threeDS || !verifier) { return Promise.resolve(payload.nonce); }
    return verifier.verifyCard({
      nonce: payload.nonce,
      bin: payload.details && payload.details.bin,
      amount: threeDS.amount,
      email: threeDS.email || undefined,
      billingAddress: threeDS.billingAddress || undefined,
      challengeRequested: !!threeDS.challengeRequested,
      onLookupComplete: function (data, next) { next(); }
    }).then(function (result) {
      return result.nonce;
    }).catch(function (err) {
      if (err && err.code === "THREEDS_CARDINAL_SDK_CANCELED") {
        throw { words: words("You closed your bank's check. Nothing was charged; press Pay to try again.") };
      }
      // Lookup or SDK errors: the unverified nonce goes on, and the server's rule
      // (CRM_PAY_THREE_D_SECURE) decides whether it may be charged.
      return payload.nonce;
    });
  }

  // Braintree's words for card data it refused (the client API's 422 message), else ours.
  function refusal(err) {
    var original = err && err.details && err.details.originalError;
    var message = original && original.error && original.error.message;
    if (err && err.code === "HOSTED_FIELDS_TOKENIZATION_NETWORK_ERROR") {
      return words("We could not reach our payment provider. Nothing was charged; please try again.");
    }
    return message ? String(message) : "";
  }

  function say(name, text, kind) {
    var el = document.getElementById("message-" + name);
    var box = document.querySelector(CONTAINERS[name]);
    if (box) { box.classList.toggle("is-wrong", kind === "problem"); }
    if (!el) { return; }
    if (el.textContent !== text) { el.textContent = text; }
    el.className = "field-message" + (kind === "asked" ? " asked" : "");
    el.hidden = text === "";
  }

  // The agent's screen ticks each field as it becomes valid: only the field's name and
  // true/false flags are sent (same origin, allowed by the page's connect-src 'self').
  var eventsUrl = form.action.replace(/\/pay$/, "/events");
  var reported = {};
  var asked = {};
  function report(name, valid, wrong) {
    var key = String(valid) + "/" + String(wrong);
    if (reported[name] === key || !window.fetch) { return; }
    reported[name] = key;
    fetch(eventsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ field: name, valid: valid, looks_wrong: wrong })
    }).catch(function () { /* a lost tick must never disturb the payment */ });
  }

  // A field "looks wrong" when what is typed cannot become valid, or when the customer
  // left it unfinished; while they are still typing it is just not done yet.
  function check(event, left) {
    var name = event.emittedBy;
    var f = name && event.fields[name];
    if (!f) { return; }
    if (asked[name] === "clearing") {
      // The field was asked for again and is being cleared in its frame: an event still
      // carrying what was typed before (a blur on the way) must not replace the words.
      if (!f.isEmpty) { return; }
      asked[name] = true;
    }
    var wrong = !f.isEmpty && !f.isValid && (!f.isPotentiallyValid || left);
    if (f.isValid) { asked[name] = false; }
    if (wrong) {
      say(name, PROBLEMS[name], "problem");
    } else if (!asked[name]) {
      say(name, "", "");
    }
    report(name, f.isValid === true, wrong);
  }

  // The agent may ask for one field again ("ask again for the expiry"): the page asks
  // its own server every few seconds and clears that field, with the reason next to it.
  function followRequests(instance) {
    if (!window.fetch) { return; }
    var after = null;
    var timer = null;
    function ask() {
      var url = eventsUrl + (after === null ? "" : "?after=" + encodeURIComponent(after));
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 404 || r.status === 410) { clearInterval(timer); }
          return r.ok ? r.json() : null;
        })
        .then(function (body) {
          if (!body) { return; }
          after = body.after;
          (body.requests || []).forEach(function (request) {
            if (FIELDS.indexOf(request.field) === -1) { return; }
            var now = instance.getState().fields[request.field];
            asked[request.field] = now && !now.isEmpty ? "clearing" : true;
            reported[request.field] = null;
            instance.clear(request.field);
            say(request.field, String(request.message || ""), "asked");
            if (instance.focus) { instance.focus(request.field); }
          });
        })
        .catch(function () { /* the next round asks again */ });
    }
    ask();
    timer = setInterval(ask, 4000);
    form.addEventListener("submit", function () { clearInterval(timer); });
  }

  createFields().then(function (instance) {
    instance.on("validityChange", function (event) {
      var all = Object.keys(event.fields).every(function (k) { return event.fields[k].isValid; });
      button.disabled = !all;
      check(event, false);
    });
    instance.on("blur", function (event) { check(event, true); });
    followRequests(instance);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      button.disabled = true;
      errorBox.hidden = true;
      instance.tokenize().then(verify).then(function (nonce) {
        document.getElementById("nonce").value = nonce;
        form.submit();
      }).catch(function (err) {
        var invalid = (err && err.details && err.details.invalidFieldKeys) || [];
        invalid.forEach(function (name) { if (PROBLEMS[name]) { say(name, PROBLEMS[name], "problem"); } });
        errorBox.textContent = invalid.length ? words("Please check the fields marked above.") :
          (err && err.words) || refusal(err) || words("Please check the card details.");
        errorBox.hidden = false;
        button.disabled = false;
      });
    });
  }).catch(function () {
    errorBox.textContent = words("The secure card fields could not be loaded. Please reload the page.");
    errorBox.hidden = false;
  });
})();
