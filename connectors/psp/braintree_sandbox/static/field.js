/*
 * crm-pay development sandbox - the code inside one hosted-field frame (a development
 * tool, NOT Braintree's frame; our own code).
 *
 * It answers braintree-web's hosted fields (hosted-fields/external/hosted-fields.js,
 * 3.144.0) the way Braintree's frame does, over framebus: messages are the string
 * "/*framebus*\/" + JSON {event, origin, eventData, reply}, events are named
 * "<channel>:hosted-fields:<EVENT>" (hosted-fields/shared/constants.js), the channel is
 * the frame URL's fragment and the field is the frame's name ("braintree-hosted-field-
 * <field>"). The frame says FRAME_READY {field} and asks READY_FOR_CLIENT (the reply is
 * the client's configuration: fingerprint and clientApiUrl); it reports INPUT_EVENT
 * {merchantPayload: {cards, emittedBy, fields}, type}; it obeys CLEAR_FIELD,
 * TRIGGER_INPUT_FOCUS, SET_ATTRIBUTE, REMOVE_ATTRIBUTE, SET_MESSAGE; the number frame
 * answers TOKENIZATION_REQUEST with [error, payload] after posting the card to the
 * client API (v1/payment_methods/credit_cards).
 *
 * What the customer types stays in these frames. The merchant page gets validity flags
 * and the nonce; sibling frames share values over a BroadcastChannel, which only
 * same-origin documents can join.
 */
(function () {
  "use strict";

  var PREFIX = "/*framebus*/";
  var FIELDS = {
    number: { label: "Card number", autocomplete: "cc-number", inputmode: "numeric", maxlength: 23 },
    expirationDate: { label: "Expiration date (MM/YY)", autocomplete: "cc-exp", inputmode: "numeric", maxlength: 7 },
    cvv: { label: "Security code", autocomplete: "cc-csc", inputmode: "numeric", maxlength: 4 },
    postalCode: { label: "Postal code", autocomplete: "postal-code", inputmode: "text", maxlength: 10 }
  };
  var input = document.getElementById("field-input");
  var field = String(window.name || "").replace(/^braintree-hosted-field-/, "");
  var channel = decodeURIComponent(window.location.hash.slice(1));
  if (!FIELDS[field] || !channel) { return; }
  var spec = FIELDS[field];
  input.setAttribute("autocomplete", spec.autocomplete);
  input.setAttribute("inputmode", spec.inputmode);
  input.setAttribute("maxlength", String(spec.maxlength));
  input.setAttribute("aria-label", spec.label + " (development sandbox: Braintree test cards only)");
  var describedBy = document.getElementById("field-message");

  var siblings = new BroadcastChannel("crm-pay-sandbox-hosted-fields-" + channel);
  var states = {};        // every field's flags, as the merchant page gets them
  var cardType = "";
  var clientConfiguration = null;
  var parentOrigin = null;  // learnt from the first message the merchant page sends
  var replies = {};

  // ---------------------------------------------------------------- framebus
  function uuid() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function emit(name, data, reply) {
    var payload = { event: channel + ":hosted-fields:" + name, origin: "*", eventData: data };
    if (reply) {
      payload.reply = uuid();
      replies[payload.reply] = reply;
    }
    // Flags and events only (never a value); a nonce goes back through reply() below,
    // to the origin that asked for it.
    window.parent.postMessage(PREFIX + JSON.stringify(payload), parentOrigin || "*");
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || typeof event.data !== "string") { return; }
    if (event.data.slice(0, PREFIX.length) !== PREFIX) { return; }
    var payload;
    try { payload = JSON.parse(event.data.slice(PREFIX.length)); } catch (e) { return; }
    if (replies[payload.event]) {
      var answer = replies[payload.event];
      delete replies[payload.event];
      parentOrigin = parentOrigin || event.origin;
      answer(payload.eventData);
      return;
    }
    var head = channel + ":hosted-fields:";
    if (String(payload.event).indexOf(head) !== 0) { return; }
    parentOrigin = parentOrigin || event.origin;
    var replyTo = payload.reply;
    var origin = event.origin;
    handle(payload.event.slice(head.length), payload.eventData || {}, replyTo ? function (data) {
      var back = { event: replyTo, origin: "*", eventData: data };
      event.source.postMessage(PREFIX + JSON.stringify(back), origin);
    } : null);
  });

  // ---------------------------------------------------------------- validation
  function digits(value) { return value.replace(/[\s-]/g, ""); }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number.charAt(number.length - 1 - i));
      if (i % 2 === 1) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d;
    }
    return sum % 10 === 0;
  }

  // braintree-web's card objects (credit-card-type): type, niceType, code {name, size}.
  function brandOf(number) {
    if (/^3[47]/.test(number)) { return { type: "american-express", niceType: "American Express", lengths: [15], code: { name: "CID", size: 4 } }; }
    if (/^4/.test(number)) { return { type: "visa", niceType: "Visa", lengths: [13, 16, 19], code: { name: "CVV", size: 3 } }; }
    if (/^(5[1-5]|2[2-7])/.test(number)) { return { type: "master-card", niceType: "Mastercard", lengths: [16], code: { name: "CVC", size: 3 } }; }
    if (/^(6011|65|64[4-9])/.test(number)) { return { type: "discover", niceType: "Discover", lengths: [16, 19], code: { name: "CID", size: 3 } }; }
    if (/^35/.test(number)) { return { type: "jcb", niceType: "JCB", lengths: [16, 19], code: { name: "CVV", size: 3 } }; }
    if (/^(6304|50|5[6-8]|6)/.test(number)) { return { type: "maestro", niceType: "Maestro", lengths: [12, 13, 14, 15, 16, 17, 18, 19], code: { name: "CVC", size: 3 } }; }
    return null;
  }

  var validators = {
    number: function (raw) {
      var n = digits(raw);
      if (!/^\d*$/.test(n)) { return { valid: false, potential: false }; }
      var brand = brandOf(n);
      var max = brand ? Math.max.apply(null, brand.lengths) : 19;
      var valid = !!brand && brand.lengths.indexOf(n.length) >= 0 && luhn(n);
      return { valid: valid, potential: valid || (n.length < max && (!!brand || n.length < 2)), brand: brand };
    },
    expirationDate: function (raw) {
      var m = /^\s*(\d{1,2})\s*\/?\s*(\d{0,4})\s*$/.exec(raw);
      if (!m) { return { valid: false, potential: raw.trim() === "" }; }
      var month = Number(m[1]);
      var yearText = m[2];
      if (m[1].length === 2 && (month < 1 || month > 12)) { return { valid: false, potential: false }; }
      if (yearText.length !== 2 && yearText.length !== 4) { return { valid: false, potential: true }; }
      var year = yearText.length === 2 ? 2000 + Number(yearText) : Number(yearText);
      var now = new Date();
      var current = now.getFullYear() * 12 + now.getMonth() + 1;
      var valid = month >= 1 && month <= 12 && year * 12 + month >= current && year <= now.getFullYear() + 20;
      return { valid: valid, potential: valid || yearText.length < 4 };
    },
    cvv: function (raw) {
      var size = cardType === "american-express" ? 4 : 3;
      if (!/^\d*$/.test(raw)) { return { valid: false, potential: false }; }
      return { valid: raw.length === size, potential: raw.length <= size };
    },
    postalCode: function (raw) {
      return { valid: raw.trim().length >= 3, potential: true };
    }
  };

  // ---------------------------------------------------------------- state
  function ownState() {
    var result = validators[field](input.value);
    return {
      isEmpty: input.value.length === 0,
      isValid: !!result.valid,
      isPotentiallyValid: !!result.potential,
      isFocused: document.activeElement === input,
      brand: result.brand || null
    };
  }

  function cardsFor(brand) {
    if (!brand) { return []; }
    return [{ type: brand.type, niceType: brand.niceType, code: brand.code }];
  }

  var lastCards = [];
  function publish(type) {
    var own = ownState();
    input.classList.toggle("is-invalid", !own.isPotentiallyValid);
    input.setAttribute("aria-invalid", String(!own.isPotentiallyValid));
    if (field === "number") {
      lastCards = cardsFor(own.brand);
      var nextType = own.brand ? own.brand.type : "";
      if (nextType !== cardType) {
        cardType = nextType;
        siblings.postMessage({ kind: "cardType", value: cardType, cards: lastCards });
      }
    }
    delete own.brand;
    var previous = states[field];
    states[field] = own;
    siblings.postMessage({ kind: "state", field: field, state: own });
    var fields = {};
    Object.keys(states).forEach(function (name) { fields[name] = states[name]; });
    var events = [];
    if (type) { events.push(type); }
    if (!previous || previous.isValid !== own.isValid || previous.isPotentiallyValid !== own.isPotentiallyValid) {
      events.push("validityChange");
    }
    if (previous && previous.isEmpty !== own.isEmpty) { events.push(own.isEmpty ? "empty" : "notEmpty"); }
    events.forEach(function (name) {
      emit("INPUT_EVENT", { type: name, merchantPayload: { cards: lastCards, emittedBy: field, fields: fields } });
    });
  }

  // The expiry writes "/" itself after the month. A "/" typed after it is the one the
  // customer meant (so "12/30" typed in full stays "12/30", never "12//30"), digits
  // typed or pasted without one get it, and deleting it is not undone at once.
  function formatExpiry(value, inputType) {
    var v = value.replace(/\s+/g, "").replace(/\/{2,}/g, "/");
    if (/^\d{3,6}$/.test(v)) { v = v.slice(0, 2) + "/" + v.slice(2); }
    if (/^\d{2}$/.test(v) && String(inputType || "").indexOf("delete") !== 0) { v += "/"; }
    return v;
  }

  input.addEventListener("input", function (event) {
    if (field === "expirationDate") {
      var formatted = formatExpiry(input.value, event.inputType);
      if (formatted !== input.value) { input.value = formatted; }
    }
    publish(null);
  });
  input.addEventListener("focus", function () { publish("focus"); });
  input.addEventListener("blur", function () { publish("blur"); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { emit("INPUT_EVENT", { type: "inputSubmitRequest", merchantPayload: { cards: lastCards, emittedBy: field, fields: states } }); }
  });

  // ---------------------------------------------------------------- siblings
  var pending = {};
  siblings.onmessage = function (event) {
    var data = event.data || {};
    if (data.kind === "state") {
      states[data.field] = data.state;
    } else if (data.kind === "hello") {
      siblings.postMessage({ kind: "state", field: field, state: states[field] });
    } else if (data.kind === "cardType") {
      lastCards = data.cards || [];
      if (field === "cvv") {
        cardType = data.value;
        if (input.value) { publish(null); }
      }
    } else if (data.kind === "collect" && field !== "number") {
      siblings.postMessage({ kind: "value", requestId: data.requestId, field: field, value: input.value });
    } else if (data.kind === "value" && field === "number" && pending[data.requestId]) {
      pending[data.requestId].values[data.field] = data.value;
      pending[data.requestId].check();
    }
  };

  // ---------------------------------------------------------------- tokenization
  function braintreeError(type, code, message, details) {
    var error = { type: type, code: code, message: message };
    if (details) { error.details = details; }
    return error;
  }

  function collect(wanted, done) {
    var requestId = uuid();
    var values = { number: input.value };
    var finished = false;
    function finish(result) {
      if (finished) { return; }
      finished = true;
      delete pending[requestId];
      done(result);
    }
    pending[requestId] = {
      values: values,
      check: function () {
        if (wanted.every(function (name) { return name in values; })) { finish(values); }
      }
    };
    setTimeout(function () { finish(null); }, 3000);
    siblings.postMessage({ kind: "collect", requestId: requestId });
    pending[requestId].check();
  }

  function tokenize(options, reply) {
    var present = Object.keys(states);
    var wanted = options.fieldsToTokenize || present;
    var empty = wanted.every(function (name) { return !states[name] || states[name].isEmpty; });
    if (empty) {
      reply([braintreeError("CUSTOMER", "HOSTED_FIELDS_FIELDS_EMPTY", "All fields are empty. Cannot tokenize empty card fields.")]);
      return;
    }
    var invalid = wanted.filter(function (name) { return !states[name] || !states[name].isValid; });
    if (invalid.length) {
      reply([braintreeError("CUSTOMER", "HOSTED_FIELDS_FIELDS_INVALID",
        "Some payment input fields are invalid. Cannot tokenize invalid card fields.", { invalidFieldKeys: invalid })]);
      return;
    }
    if (!clientConfiguration) {
      reply([braintreeError("NETWORK", "HOSTED_FIELDS_TOKENIZATION_NETWORK_ERROR", "A tokenization network error occurred.")]);
      return;
    }
    collect(wanted.filter(function (name) { return name !== "number"; }), function (values) {
      if (!values) {
        reply([braintreeError("NETWORK", "HOSTED_FIELDS_TOKENIZATION_NETWORK_ERROR", "A tokenization network error occurred.")]);
        return;
      }
      var card = {
        number: digits(values.number || ""),
        expirationDate: values.expirationDate || "",
        cvv: values.cvv || "",
        options: { validate: false }
      };
      var address = {};
      var extra = options.billingAddress || {};
      Object.keys(extra).forEach(function (key) { address[key] = extra[key]; });
      if ("postalCode" in values) { address.postalCode = values.postalCode; }
      if (Object.keys(address).length) { card.billingAddress = address; }
      var gateway = clientConfiguration.gatewayConfiguration || {};
      fetch(gateway.clientApiUrl + "/v1/payment_methods/credit_cards", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        body: JSON.stringify({
          creditCard: card,
          authorizationFingerprint: clientConfiguration.authorizationFingerprint,
          braintreeLibraryVersion: "braintree/web/sandbox-frame"
        })
      }).then(function (response) {
        return response.json().then(function (body) {
          if (response.ok && body.creditCards && body.creditCards.length) {
            var found = body.creditCards[0];
            reply([null, {
              nonce: found.nonce, details: found.details, description: found.description,
              type: found.type, binData: found.binData
            }]);
          } else {
            reply([braintreeError("CUSTOMER", "HOSTED_FIELDS_FAILED_TOKENIZATION",
              "The supplied card data failed tokenization.",
              { originalError: { error: body.error || {}, fieldErrors: body.fieldErrors || [] } })]);
          }
        });
      }).catch(function () {
        reply([braintreeError("NETWORK", "HOSTED_FIELDS_TOKENIZATION_NETWORK_ERROR", "A tokenization network error occurred.")]);
      });
    });
  }

  // ---------------------------------------------------------------- commands
  var ALLOWED_ATTRIBUTES = { "aria-invalid": 1, "aria-required": 1, disabled: 1, placeholder: 1 };

  function handle(name, data, reply) {
    var mine = data.field === field;
    if (name === "TOKENIZATION_REQUEST") {
      // Every frame hears it; the number frame answers for all (the first reply wins).
      if (field === "number" && reply) { tokenize(data, reply); }
    } else if (name === "CLEAR_FIELD" && mine) {
      input.value = "";
      publish(null);
    } else if (name === "TRIGGER_INPUT_FOCUS" && mine) {
      input.focus();
    } else if (name === "SET_ATTRIBUTE" && mine && ALLOWED_ATTRIBUTES[data.attribute]) {
      if (data.attribute === "disabled") { input.disabled = data.value === true || data.value === "true"; }
      else { input.setAttribute(data.attribute, String(data.value)); }
    } else if (name === "REMOVE_ATTRIBUTE" && mine && ALLOWED_ATTRIBUTES[data.attribute]) {
      input.removeAttribute(data.attribute);
      if (data.attribute === "disabled") { input.disabled = false; }
    } else if (name === "SET_MESSAGE" && mine) {
      describedBy.textContent = String(data.message || "");
    }
  }

  // ``share``: this frame got the configuration from the merchant page and passes it
  // on once; a sibling's copy is applied, never passed on again (that would echo
  // between the frames for ever).
  function configure(configuration, share) {
    var options = (configuration && configuration.fields && configuration.fields[field]) || {};
    if (options.placeholder) { input.setAttribute("placeholder", String(options.placeholder)); }
    if (options.prefill && field !== "number" && field !== "cvv") { input.value = String(options.prefill); }
    if (configuration && share) { siblings.postMessage({ kind: "configuration", configuration: configuration }); }
  }

  siblings.addEventListener("message", function (event) {
    if (event.data && event.data.kind === "configuration") { configure(event.data.configuration, false); }
  });

  states[field] = (function () { var s = ownState(); delete s.brand; return s; })();
  siblings.postMessage({ kind: "hello", field: field });
  siblings.postMessage({ kind: "state", field: field, state: states[field] });
  // The merchant page answers the first frame's FRAME_READY with the hosted-fields
  // configuration once every frame is ready; that frame shares it with its siblings.
  emit("FRAME_READY", { field: field }, function (configuration) { configure(configuration, true); });
  emit("READY_FOR_CLIENT", undefined, function (configuration) { clientConfiguration = configuration; });
})();
