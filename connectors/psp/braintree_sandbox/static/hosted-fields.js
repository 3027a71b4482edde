/*
 * crm-pay development sandbox - hosted fields (a development tool, NOT Braintree's library).
 *
 * API shaped like Braintree's hosted fields so the pay page can switch between them:
 *
 *   sandboxHostedFields.create({
 *     authorization: clientToken,
 *     fields: { number: {container: "#card-number", placeholder: "4111 1111 1111 1111"},
 *               expirationDate: {container: "#expiration"}, cvv: {container: "#cvv"},
 *               postalCode: {container: "#postal-code"} }
 *   }).then(function (instance) {
 *     instance.on("validityChange", function (event) { ... event.fields.number.isValid ... });
 *     return instance.tokenize();   // -> {nonce, details: {cardType, lastFour, bin, ...}}
 *   });
 *
 * Each field is an iframe on the sandbox's assets origin; this page only ever sees
 * validity flags, never what the customer types.
 */
(function (global) {
  "use strict";

  var FIELD_NAMES = ["number", "expirationDate", "cvv", "postalCode"];
  var EVENTS = ["validityChange", "focus", "blur", "empty", "notEmpty", "cardTypeChange", "ready"];

  function decodeToken(authorization) {
    try {
      var token = JSON.parse(atob(authorization));
      if (!token.authorizationFingerprint || !(token.assetsUrl || token.clientApiUrl)) { throw new Error(); }
      return token;
    } catch (e) {
      throw sandboxError("HOSTED_FIELDS_INVALID_AUTHORIZATION", "authorization must be a client token from the development sandbox");
    }
  }

  function sandboxError(code, message, details) {
    var error = new Error(message);
    error.name = "SandboxHostedFieldsError";
    error.code = code;
    if (details) { error.details = details; }
    return error;
  }

  function randomId() {
    var bytes = new Uint8Array(12);
    global.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function HostedFields(options) {
    var token = decodeToken(options.authorization);
    this._fingerprint = token.authorizationFingerprint;
    this._assetsOrigin = new URL(token.assetsUrl || token.clientApiUrl).origin;
    this._channel = randomId();
    this._handlers = {};
    this._frames = {};
    this._requests = {};
    this._state = {};
    this._fieldNames = Object.keys(options.fields || {}).filter(function (n) { return FIELD_NAMES.indexOf(n) >= 0; });
    if (this._fieldNames.indexOf("number") < 0) {
      throw sandboxError("HOSTED_FIELDS_FIELDS_EMPTY", "the number field is required");
    }
    this._onMessage = this._receive.bind(this);
    global.addEventListener("message", this._onMessage);
    var self = this;
    this._ready = new Promise(function (resolve, reject) {
      self._resolveReady = resolve;
      setTimeout(function () {
        reject(sandboxError("HOSTED_FIELDS_TIMEOUT", "hosted fields did not load from " + self._assetsOrigin));
      }, 10000);
    });
    this._fieldNames.forEach(function (name) { self._mount(name, options.fields[name], options.styles); });
  }

  HostedFields.prototype._mount = function (name, config, styles) {
    var container = typeof config.container === "string" ? document.querySelector(config.container) : config.container;
    if (!container) {
      throw sandboxError("HOSTED_FIELDS_INVALID_FIELD_SELECTOR", "no element for field " + name);
    }
    var setup = { channel: this._channel, parentOrigin: global.location.origin, placeholder: config.placeholder || "" };
    var frame = document.createElement("iframe");
    frame.src = this._assetsOrigin + "/field/" + name + ".html#" + encodeURIComponent(JSON.stringify(setup));
    frame.title = "Secure card field: " + name + " (development sandbox)";
    frame.name = "crm-pay-sandbox-" + name;
    frame.setAttribute("frameborder", "0");
    frame.setAttribute("allowtransparency", "true");
    frame.setAttribute("scrolling", "no");
    frame.style.cssText = "border:none;width:100%;height:2.6rem;" + ((styles && styles.iframe) || "");
    container.appendChild(frame);
    this._frames[name] = frame;
    this._state[name] = { isValid: false, isPotentiallyValid: true, isEmpty: true, isFocused: false, container: container };
  };

  HostedFields.prototype._receive = function (event) {
    if (event.origin !== this._assetsOrigin) { return; }
    var data = event.data || {};
    if (data.channel !== this._channel || !this._state[data.field]) { return; }
    var frame = this._frames[data.field];
    if (!frame || event.source !== frame.contentWindow) { return; }
    var field = this._state[data.field];
    if (data.type === "crm-pay-sandbox:ready") {
      field.ready = true;
      if (this._fieldNames.every(function (n) { return this._state[n].ready; }, this)) {
        this._resolveReady(this);
        this._emit("ready", data.field);
      }
    } else if (data.type === "crm-pay-sandbox:state") {
      var validityChanged = field.isValid !== data.isValid || field.isPotentiallyValid !== data.isPotentiallyValid;
      var emptyChanged = field.isEmpty !== data.isEmpty;
      field.isValid = !!data.isValid;
      field.isPotentiallyValid = !!data.isPotentiallyValid;
      field.isEmpty = !!data.isEmpty;
      field.isFocused = !!data.isFocused;
      if (data.cards) {
        var type = data.cards.length ? data.cards[0].type : "";
        if (type !== this._cardType) {
          this._cardType = type;
          this._emit("cardTypeChange", data.field, { cards: data.cards });
        }
      }
      if (validityChanged) { this._emit("validityChange", data.field); }
      if (emptyChanged) { this._emit(field.isEmpty ? "empty" : "notEmpty", data.field); }
    } else if (data.type === "crm-pay-sandbox:focus" || data.type === "crm-pay-sandbox:blur") {
      field.isFocused = data.type === "crm-pay-sandbox:focus";
      this._emit(field.isFocused ? "focus" : "blur", data.field);
    } else if (data.type === "crm-pay-sandbox:tokenized" && this._requests[data.requestId]) {
      var request = this._requests[data.requestId];
      delete this._requests[data.requestId];
      if (data.ok) {
        request.resolve({ nonce: data.nonce, type: "CreditCard", details: data.details, description: "ending in " + data.details.lastFour });
      } else {
        request.reject(sandboxError(data.error.code, data.error.message));
      }
    }
  };

  HostedFields.prototype.getState = function () {
    var fields = {};
    this._fieldNames.forEach(function (name) {
      var s = this._state[name];
      fields[name] = { isValid: s.isValid, isPotentiallyValid: s.isPotentiallyValid, isEmpty: s.isEmpty, isFocused: s.isFocused, container: s.container };
    }, this);
    return { emittedBy: null, fields: fields, cards: this._cardType ? [{ type: this._cardType }] : [] };
  };

  HostedFields.prototype._emit = function (name, emittedBy, extra) {
    var event = this.getState();
    event.emittedBy = emittedBy;
    if (extra) { Object.keys(extra).forEach(function (k) { event[k] = extra[k]; }); }
    (this._handlers[name] || []).forEach(function (handler) { handler(event); });
  };

  HostedFields.prototype.on = function (name, handler) {
    if (EVENTS.indexOf(name) < 0) { throw sandboxError("HOSTED_FIELDS_INVALID_EVENT", "unknown event " + name); }
    (this._handlers[name] = this._handlers[name] || []).push(handler);
  };

  HostedFields.prototype.off = function (name, handler) {
    this._handlers[name] = (this._handlers[name] || []).filter(function (h) { return h !== handler; });
  };

  HostedFields.prototype.focus = function (name) {
    this._post(name, { type: "crm-pay-sandbox:focus" });
  };

  // As Braintree's: clear(field) empties that one field; without a name, all of them.
  HostedFields.prototype.clear = function (name) {
    if (name) {
      this._post(name, { type: "crm-pay-sandbox:clear" });
    } else {
      this._post("number", { type: "crm-pay-sandbox:clear", all: true });
    }
    return Promise.resolve();
  };

  HostedFields.prototype._post = function (name, message) {
    var frame = this._frames[name];
    if (!frame) { return; }
    message.channel = this._channel;
    frame.contentWindow.postMessage(message, this._assetsOrigin);
  };

  HostedFields.prototype.tokenize = function () {
    var self = this;
    if (this._tornDown) { return Promise.reject(sandboxError("HOSTED_FIELDS_TORN_DOWN", "instance was torn down")); }
    var invalid = this._fieldNames.filter(function (n) { return !self._state[n].isValid; });
    if (invalid.length) {
      var empty = invalid.every(function (n) { return self._state[n].isEmpty; }) && invalid.length === this._fieldNames.length;
      return Promise.reject(empty
        ? sandboxError("HOSTED_FIELDS_FIELDS_EMPTY", "All fields are empty.")
        : sandboxError("HOSTED_FIELDS_FIELDS_INVALID", "Some payment input fields are invalid.", { invalidFieldKeys: invalid }));
    }
    return new Promise(function (resolve, reject) {
      var requestId = randomId();
      self._requests[requestId] = { resolve: resolve, reject: reject };
      self._post("number", {
        type: "crm-pay-sandbox:tokenize",
        requestId: requestId,
        fields: self._fieldNames,
        authorizationFingerprint: self._fingerprint
      });
      setTimeout(function () {
        if (self._requests[requestId]) {
          delete self._requests[requestId];
          reject(sandboxError("HOSTED_FIELDS_TOKENIZATION_NETWORK_ERROR", "tokenization timed out"));
        }
      }, 15000);
    });
  };

  HostedFields.prototype.teardown = function () {
    global.removeEventListener("message", this._onMessage);
    Object.keys(this._frames).forEach(function (name) {
      var frame = this._frames[name];
      if (frame.parentNode) { frame.parentNode.removeChild(frame); }
    }, this);
    this._frames = {};
    this._handlers = {};
    this._tornDown = true;
    return Promise.resolve();
  };

  global.sandboxHostedFields = {
    VERSION: "crm-pay-sandbox-1",
    developmentSandbox: true,
    create: function (options) {
      try {
        var instance = new HostedFields(options || {});
        return instance._ready;
      } catch (error) {
        return Promise.reject(error);
      }
    }
  };
})(window);
