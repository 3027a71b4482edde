/*
 * crm-pay development sandbox - the demo's stand-in for braintree-web's client and
 * hosted fields (a development tool, NOT Braintree's library; our own code).
 *
 * Why it exists: braintree-web 3.144.0 refuses to talk to anything but Braintree's
 * https hosts (lib/is-verified-domain.js, checked by client/client.js and by hosted
 * fields' framebus). The browser tests send those hosts to the sandbox and run
 * braintree-web itself; a person's browser running `crm-pay demo` cannot, so the demo
 * loads this instead. It offers the part of braintree-web's API the pay page uses,
 *
 *   braintree.client.create({authorization}) -> client
 *   braintree.hostedFields.create({client, fields: {number: {container}, ...}}) -> instance
 *   instance.on(event, handler) / getState() / focus(field) / clear(field) / tokenize()
 *   braintree.dataCollector.create({client}) -> {deviceData}
 *
 * and talks to the sandbox's frame (static/field.js) over framebus exactly as
 * braintree-web's hosted fields do, after rewriting Braintree's hosts in the client
 * configuration to the sandbox's own origin (where this file was loaded from).
 */
(function (global) {
  "use strict";

  var PREFIX = "/*framebus*/";
  var VERSION = "3.144.0";
  var FIELD_NAMES = ["number", "expirationDate", "cvv", "postalCode"];
  var EVENTS = ["validityChange", "focus", "blur", "empty", "notEmpty", "cardTypeChange", "inputSubmitRequest"];
  var script = document.currentScript;
  var SANDBOX = new URL(script ? script.src : global.location.href).origin;
  // Braintree's hosts in the sandbox's configuration, and where they are here.
  var HOSTS = [/^https:\/\/api\.sandbox\.braintreegateway\.com(:443)?/, /^https:\/\/assets\.braintreegateway\.com/];

  function local(url) {
    var found = String(url || "");
    HOSTS.forEach(function (host) { found = found.replace(host, SANDBOX); });
    return found;
  }

  function BraintreeError(type, code, message, details) {
    var error = new Error(message);
    error.name = "BraintreeError";
    error.type = type;
    error.code = code;
    if (details) { error.details = details; }
    return error;
  }

  function uuid() {
    var bytes = new Uint8Array(16);
    global.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // ------------------------------------------------------------------ client
  function createClient(options) {
    var token;
    try {
      token = JSON.parse(atob(String(options && options.authorization)));
    } catch (e) {
      return Promise.reject(BraintreeError("MERCHANT", "CLIENT_INVALID_AUTHORIZATION",
        "Authorization is invalid. Make sure your client token or tokenization key is valid."));
    }
    var url = new URL(local(token.configUrl));
    url.searchParams.set("authorizationFingerprint", token.authorizationFingerprint);
    url.searchParams.set("configVersion", "3");
    return fetch(url.toString(), { credentials: "omit" }).then(function (response) {
      if (!response.ok) {
        throw BraintreeError(response.status === 401 ? "MERCHANT" : "NETWORK",
          response.status === 401 ? "CLIENT_AUTHORIZATION_INVALID" : "CLIENT_GATEWAY_NETWORK",
          "Cannot contact the gateway at this time.");
      }
      return response.json();
    }).then(function (gateway) {
      gateway.assetsUrl = local(gateway.assetsUrl);
      gateway.clientApiUrl = local(gateway.clientApiUrl);
      var configuration = {
        authorizationType: "CLIENT_TOKEN",
        authorizationFingerprint: token.authorizationFingerprint,
        gatewayConfiguration: gateway,
        analyticsMetadata: { sessionId: uuid() }
      };
      return {
        getConfiguration: function () { return JSON.parse(JSON.stringify(configuration)); },
        getVersion: function () { return VERSION; },
        toJSON: function () { return configuration; }
      };
    });
  }

  // ------------------------------------------------------------------ hosted fields
  function HostedFields(options) {
    var self = this;
    var configuration = options.client.getConfiguration();
    this._client = options.client;
    this._assetsOrigin = new URL(configuration.gatewayConfiguration.assetsUrl).origin;
    this._channel = uuid();
    this._handlers = {};
    this._frames = {};
    this._replies = {};
    this._state = { cards: [], fields: {} };
    this._fieldNames = Object.keys(options.fields || {}).filter(function (n) { return FIELD_NAMES.indexOf(n) >= 0; });
    if (!this._fieldNames.length) {
      throw BraintreeError("MERCHANT", "INSTANTIATION_OPTION_REQUIRED", "options.fields is required when instantiating Hosted Fields.");
    }
    this._options = options;
    this._readyReplies = {};
    this._onMessage = this._receive.bind(this);
    global.addEventListener("message", this._onMessage);
    this._ready = new Promise(function (resolve, reject) {
      self._resolveReady = resolve;
      setTimeout(function () {
        reject(BraintreeError("UNKNOWN", "HOSTED_FIELDS_TIMEOUT", "Hosted Fields timed out when attempting to set up."));
      }, 60000);
    });
    var frameUrl = configuration.gatewayConfiguration.assetsUrl + "/web/" + VERSION + "/html/hosted-fields-frame.min.html#" + this._channel;
    this._fieldNames.forEach(function (name) { self._mount(name, options.fields[name], frameUrl); });
  }

  HostedFields.prototype._mount = function (name, config, frameUrl) {
    var container = typeof config.container === "string" ? document.querySelector(config.container) : config.container;
    if (!container) {
      throw BraintreeError("MERCHANT", "HOSTED_FIELDS_INVALID_FIELD_SELECTOR",
        "Selector does not reference a valid DOM node.", { fieldKey: name });
    }
    var frame = document.createElement("iframe");
    frame.name = "braintree-hosted-field-" + name;
    frame.title = config.iframeTitle || "Secure Credit Card Frame - " + name + " (development sandbox)";
    frame.setAttribute("frameborder", "0");
    frame.setAttribute("allowtransparency", "true");
    frame.setAttribute("scrolling", "no");
    frame.style.cssText = "border:none;width:100%;height:100%;float:left;";
    container.appendChild(frame);
    frame.src = frameUrl;
    this._frames[name] = frame;
    this._state.fields[name] = { isValid: false, isPotentiallyValid: true, isEmpty: true, isFocused: false, container: container };
  };

  HostedFields.prototype._send = function (target, payload) {
    target.postMessage(PREFIX + JSON.stringify(payload), this._assetsOrigin);
  };

  HostedFields.prototype._broadcast = function (name, data, reply) {
    var payload = { event: this._channel + ":hosted-fields:" + name, origin: "*", eventData: data };
    if (reply) {
      payload.reply = uuid();
      this._replies[payload.reply] = reply;
    }
    Object.keys(this._frames).forEach(function (key) {
      var win = this._frames[key].contentWindow;
      if (win) { this._send(win, payload); }
    }, this);
  };

  HostedFields.prototype._receive = function (event) {
    // Only our own frames, on the sandbox's origin (braintree-web checks Braintree's).
    if (event.origin !== this._assetsOrigin || typeof event.data !== "string") { return; }
    var known = Object.keys(this._frames).some(function (k) { return this._frames[k].contentWindow === event.source; }, this);
    if (!known || event.data.slice(0, PREFIX.length) !== PREFIX) { return; }
    var payload;
    try { payload = JSON.parse(event.data.slice(PREFIX.length)); } catch (e) { return; }
    if (this._replies[payload.event]) {
      var answer = this._replies[payload.event];
      delete this._replies[payload.event];
      answer(payload.eventData);
      return;
    }
    var head = this._channel + ":hosted-fields:";
    if (String(payload.event).indexOf(head) !== 0) { return; }
    var self = this;
    var source = event.source;
    var reply = payload.reply ? function (data) { self._send(source, { event: payload.reply, origin: "*", eventData: data }); } : null;
    var data = payload.eventData || {};
    var name = payload.event.slice(head.length);
    if (name === "FRAME_READY") {
      this._readyReplies[data.field] = reply;
      if (this._fieldNames.every(function (n) { return this._readyReplies[n]; }, this)) {
        this._readyReplies[this._fieldNames[0]]({ fields: this._fieldOptions() });
        this._resolveReady(this);
      }
    } else if (name === "READY_FOR_CLIENT" && reply) {
      reply(this._client.toJSON());
    } else if (name === "INPUT_EVENT" && data.merchantPayload) {
      this._input(data);
    }
  };

  HostedFields.prototype._fieldOptions = function () {
    var found = {};
    this._fieldNames.forEach(function (name) {
      var given = this._options.fields[name] || {};
      found[name] = { placeholder: given.placeholder, prefill: given.prefill };
    }, this);
    return found;
  };

  HostedFields.prototype._input = function (data) {
    var payload = data.merchantPayload;
    var fields = {};
    Object.keys(payload.fields || {}).forEach(function (key) {
      if (!this._state.fields[key]) { return; }
      var flags = payload.fields[key];
      fields[key] = {
        isValid: !!flags.isValid, isPotentiallyValid: !!flags.isPotentiallyValid,
        isEmpty: !!flags.isEmpty, isFocused: !!flags.isFocused, container: this._state.fields[key].container
      };
    }, this);
    this._state = { cards: payload.cards || [], fields: fields };
    var emitted = fields[payload.emittedBy];
    if (emitted) {
      emitted.container.classList.toggle("braintree-hosted-fields-focused", emitted.isFocused);
      emitted.container.classList.toggle("braintree-hosted-fields-valid", emitted.isValid);
      emitted.container.classList.toggle("braintree-hosted-fields-invalid", !emitted.isPotentiallyValid);
    }
    var event = { cards: this._state.cards, emittedBy: payload.emittedBy, fields: fields };
    (this._handlers[data.type] || []).forEach(function (handler) { handler(event); });
  };

  HostedFields.prototype.getState = function () {
    return { cards: this._state.cards, fields: this._state.fields };
  };

  HostedFields.prototype.on = function (name, handler) {
    if (EVENTS.indexOf(name) < 0) { return; }
    (this._handlers[name] = this._handlers[name] || []).push(handler);
  };

  HostedFields.prototype.off = function (name, handler) {
    this._handlers[name] = (this._handlers[name] || []).filter(function (h) { return h !== handler; });
  };

  HostedFields.prototype.focus = function (name) {
    if (!this._frames[name]) { return Promise.reject(BraintreeError("MERCHANT", "HOSTED_FIELDS_FIELD_NOT_PRESENT", "Cannot focus \"" + name + "\".")); }
    this._frames[name].focus();
    this._broadcast("TRIGGER_INPUT_FOCUS", { field: name });
    return Promise.resolve();
  };

  HostedFields.prototype.clear = function (name) {
    if (!this._frames[name]) { return Promise.reject(BraintreeError("MERCHANT", "HOSTED_FIELDS_FIELD_NOT_PRESENT", "Cannot clear \"" + name + "\".")); }
    this._broadcast("CLEAR_FIELD", { field: name });
    return Promise.resolve();
  };

  HostedFields.prototype.tokenize = function (options) {
    var self = this;
    return new Promise(function (resolve, reject) {
      self._broadcast("TOKENIZATION_REQUEST", options || {}, function (response) {
        var err = response && response[0];
        if (err) {
          reject(BraintreeError(err.type, err.code, err.message, err.details));
        } else {
          resolve(response[1]);
        }
      });
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
    return Promise.resolve();
  };

  global.braintree = {
    VERSION: VERSION,
    developmentSandbox: true,
    client: { VERSION: VERSION, create: createClient },
    hostedFields: {
      VERSION: VERSION,
      create: function (options) {
        try {
          return new HostedFields(options || {})._ready;
        } catch (error) {
          return Promise.reject(error);
        }
      }
    },
    // Braintree's data collector returns a JSON string with a correlation id for its
    // fraud tools; the sandbox records whether a sale carried one.
    dataCollector: {
      VERSION: VERSION,
      create: function () {
        return Promise.resolve({ deviceData: JSON.stringify({ correlation_id: uuid().slice(0, 32) }) });
      }
    }
  };
})(window);
