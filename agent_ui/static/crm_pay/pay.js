// Customer pay page: card digits stay inside the PSP's hosted-field iframes; this page
// receives only validity flags and, on submit, a one-time nonce.
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form || !window.sandboxHostedFields && !window.braintree) { return; }
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
            asked[request.field] = true;
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
      instance.tokenize().then(function (payload) {
        document.getElementById("nonce").value = payload.nonce;
        form.submit();
      }).catch(function (err) {
        var invalid = (err && err.details && err.details.invalidFieldKeys) || [];
        invalid.forEach(function (name) { if (PROBLEMS[name]) { say(name, PROBLEMS[name], "problem"); } });
        errorBox.textContent = invalid.length ? words("Please check the fields marked above.") :
          ((err && err.message) || words("Please check the card details."));
        errorBox.hidden = false;
        button.disabled = false;
      });
    });
  }).catch(function () {
    errorBox.textContent = words("The secure card fields could not be loaded. Please reload the page.");
    errorBox.hidden = false;
  });
})();
