/* Security keys (WebAuthn) for the crm-pay console: sign in with a key on the code page,
   add a key on the Security page. A file, not an inline script: the console's CSP is
   script-src 'self'. The server sends options with base64url strings; the browser API
   wants ArrayBuffers, and the answer goes back as base64url again. */
(function () {
  "use strict";

  function toBuffer(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function showError(message) {
    var box = document.getElementById("webauthn-error");
    if (box) { box.textContent = message; box.hidden = false; }
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: toBuffer(d.id), transports: d.transports };
    });
  }

  function answer(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return out;
  }

  function failed(err) {
    if (err && err.name === "NotAllowedError") {
      showError("The security key was not used (cancelled or timed out). Nothing was changed; try again.");
    } else if (err && err.name === "InvalidStateError") {
      showError("This security key is already registered. Nothing was changed.");
    } else {
      showError((err && err.message) || "The security key did not answer. Nothing was changed; try again.");
    }
  }

  function readJson(resp) {
    return resp.json().then(function (body) {
      if (!resp.ok) { throw new Error((body.error && body.error.message) || "Request refused."); }
      return body;
    });
  }

  var login = document.getElementById("webauthn-login");
  if (login) {
    var form = document.getElementById("webauthn-login-form");
    document.getElementById("use-security-key").addEventListener("click", function () {
      var body = new URLSearchParams();
      body.set("pending", form.elements.pending.value);
      fetch(login.dataset.optionsUrl, { method: "POST", body: body, credentials: "same-origin" })
        .then(readJson)
        .then(function (got) {
          var o = got.options;
          form.elements.challenge.value = got.challenge;
          return navigator.credentials.get({ publicKey: {
            challenge: toBuffer(o.challenge), rpId: o.rpId, timeout: o.timeout,
            allowCredentials: descriptors(o.allowCredentials), userVerification: o.userVerification
          } });
        })
        .then(function (cred) {
          form.elements.credential.value = JSON.stringify(answer(cred));
          form.submit();
        })
        .catch(failed);
    });
  }

  var reg = document.getElementById("webauthn-register");
  if (reg) {
    var headers = { "X-CSRF-Token": reg.dataset.csrf, "Content-Type": "application/json" };
    document.getElementById("add-security-key").addEventListener("click", function () {
      fetch(reg.dataset.optionsUrl, { method: "POST", headers: headers, body: "{}", credentials: "same-origin" })
        .then(readJson)
        .then(function (got) {
          var o = got.options;
          return navigator.credentials.create({ publicKey: {
            challenge: toBuffer(o.challenge), rp: o.rp, timeout: o.timeout,
            user: { id: toBuffer(o.user.id), name: o.user.name, displayName: o.user.displayName },
            pubKeyCredParams: o.pubKeyCredParams, excludeCredentials: descriptors(o.excludeCredentials),
            authenticatorSelection: o.authenticatorSelection, attestation: o.attestation
          } });
        })
        .then(function (cred) {
          var name = document.getElementById("key-name").value;
          return fetch(reg.dataset.registerUrl, {
            method: "POST", headers: headers, credentials: "same-origin",
            body: JSON.stringify({ credential: answer(cred), name: name })
          }).then(readJson);
        })
        .then(function (done) { window.location.assign(done.redirect); })
        .catch(failed);
    });
  }
})();
