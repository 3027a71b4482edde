/*
 * crm-pay development sandbox - code running inside one hosted-field iframe.
 *
 * The typed value stays in this frame (assets origin). The merchant page only ever
 * receives validity flags and, from the number frame, the tokenize result (nonce plus
 * brand / BIN / last 4). Sibling frames exchange values over a BroadcastChannel, which
 * only same-origin documents can join.
 */
(function () {
  "use strict";

  var input = document.getElementById("field-input");
  var field = input.getAttribute("data-field");
  var setup = {};
  try {
    setup = JSON.parse(decodeURIComponent(window.location.hash.slice(1)) || "{}");
  } catch (e) {
    setup = {};
  }
  var channelId = String(setup.channel || "");
  var parentOrigin = String(setup.parentOrigin || "");
  if (!channelId || !parentOrigin) {
    return;
  }
  if (setup.placeholder) {
    input.setAttribute("placeholder", String(setup.placeholder));
  }
  var siblings = new BroadcastChannel("crm-pay-sandbox-hosted-fields-" + channelId);
  var cardType = "";

  function digits(value) {
    return value.replace(/[\s-]/g, "");
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number.charAt(number.length - 1 - i));
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) { d -= 9; }
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function brandOf(number) {
    if (/^3[47]/.test(number)) { return { type: "american-express", nice: "American Express", lengths: [15] }; }
    if (/^4/.test(number)) { return { type: "visa", nice: "Visa", lengths: [13, 16, 19] }; }
    if (/^(5[1-5]|2[2-7])/.test(number)) { return { type: "master-card", nice: "Mastercard", lengths: [16] }; }
    if (/^(6011|65)/.test(number)) { return { type: "discover", nice: "Discover", lengths: [16, 19] }; }
    if (/^35/.test(number)) { return { type: "jcb", nice: "JCB", lengths: [16, 19] }; }
    if (/^(6304|50|5[6-8]|6)/.test(number)) { return { type: "maestro", nice: "Maestro", lengths: [12, 13, 14, 15, 16, 17, 18, 19] }; }
    return null;
  }

  var validators = {
    number: function (raw) {
      var n = digits(raw);
      if (!/^\d*$/.test(n)) { return { valid: false, potential: false }; }
      var brand = brandOf(n);
      var max = brand ? Math.max.apply(null, brand.lengths) : 19;
      var valid = !!brand && brand.lengths.indexOf(n.length) >= 0 && luhn(n);
      return { valid: valid, potential: valid || n.length < max, brand: brand };
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
      return { valid: raw.trim().length > 0, potential: true };
    }
  };

  function tell(message) {
    message.channel = channelId;
    message.field = field;
    window.parent.postMessage(message, parentOrigin);
  }

  function report() {
    var result = validators[field](input.value);
    input.classList.toggle("is-invalid", !result.potential);
    var message = {
      type: "crm-pay-sandbox:state",
      isValid: !!result.valid,
      isPotentiallyValid: !!result.potential,
      isEmpty: input.value.length === 0,
      isFocused: document.activeElement === input
    };
    if (field === "number") {
      var type = result.brand ? result.brand.type : "";
      if (type !== cardType) {
        cardType = type;
        siblings.postMessage({ type: "cardType", value: type });
      }
      message.cards = result.brand ? [{ type: result.brand.type, niceType: result.brand.nice }] : [];
    }
    tell(message);
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
    report();
  });
  input.addEventListener("focus", function () { tell({ type: "crm-pay-sandbox:focus" }); report(); });
  input.addEventListener("blur", function () { tell({ type: "crm-pay-sandbox:blur" }); report(); });

  var pending = {};
  siblings.onmessage = function (event) {
    var data = event.data || {};
    if (data.type === "cardType" && field === "cvv") {
      cardType = data.value;
      if (input.value) { report(); }
    } else if (data.type === "collect" && field !== "number") {
      siblings.postMessage({ type: "value", requestId: data.requestId, field: field, value: input.value });
    } else if (data.type === "value" && field === "number" && pending[data.requestId]) {
      pending[data.requestId].values[data.field] = data.value;
      pending[data.requestId].check();
    } else if (data.type === "clear") {
      input.value = "";
      report();
    }
  };

  function tokenize(request) {
    var values = { number: input.value };
    var wanted = (request.fields || []).filter(function (name) { return name !== "number"; });
    var done = false;
    function finish(result) {
      if (done) { return; }
      done = true;
      delete pending[request.requestId];
      result.type = "crm-pay-sandbox:tokenized";
      result.requestId = request.requestId;
      tell(result);
    }
    function send() {
      fetch("/tokenize", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        body: JSON.stringify({
          authorizationFingerprint: request.authorizationFingerprint,
          number: digits(values.number || ""),
          expirationDate: values.expirationDate || "",
          cvv: values.cvv || "",
          postalCode: wanted.indexOf("postalCode") >= 0 ? (values.postalCode || "") : null
        })
      }).then(function (response) {
        return response.json().then(function (body) {
          if (response.ok) {
            finish({ ok: true, nonce: body.nonce, details: body.details });
          } else {
            finish({ ok: false, error: body.error || { code: "tokenize_failed", message: "Tokenization failed." } });
          }
        });
      }).catch(function () {
        finish({ ok: false, error: { code: "network_error", message: "Could not reach the sandbox." } });
      });
    }
    pending[request.requestId] = {
      values: values,
      check: function () {
        if (wanted.every(function (name) { return name in values; })) { send(); }
      }
    };
    setTimeout(function () {
      finish({ ok: false, error: { code: "fields_unavailable", message: "A card field did not answer." } });
    }, 3000);
    siblings.postMessage({ type: "collect", requestId: request.requestId });
    pending[request.requestId].check();
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== parentOrigin) { return; }
    var data = event.data || {};
    if (data.channel !== channelId) { return; }
    if (data.type === "crm-pay-sandbox:tokenize" && field === "number") {
      tokenize(data);
    } else if (data.type === "crm-pay-sandbox:clear") {
      input.value = "";
      if (data.all) { siblings.postMessage({ type: "clear" }); }
      report();
    } else if (data.type === "crm-pay-sandbox:focus") {
      input.focus();
    }
  });

  tell({ type: "crm-pay-sandbox:ready" });
})();
