// crm-pay development sandbox: a stand-in for Cardinal's "songbird" script (our own
// code, not Cardinal's). It offers the window.Cardinal calls braintree-web's
// three-d-secure/external/frameworks/songbird.js makes: configure, on, off,
// setup("init"), trigger("bin.process"), continue("cca"). The challenge is a simulated
// bank page of the sandbox ("development sandbox, not your bank") in a modal frame.
(function () {
  "use strict";
  var script = document.currentScript;
  var sandboxOrigin = script ? new URL(script.src).origin : "";
  var listeners = {};
  var modal = null;
  var returnFocus = null;

  function emit(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    (listeners[name] || []).slice().forEach(function (callback) {
      callback.apply(null, args);
    });
  }

  function close() {
    if (modal && modal.parentNode) {
      modal.parentNode.removeChild(modal);
    }
    modal = null;
    emit("ui.close");
    if (returnFocus && returnFocus.focus) {
      returnFocus.focus();
    }
  }

  function openChallenge(acsUrl, payload) {
    returnFocus = document.activeElement;
    modal = document.createElement("div");
    modal.setAttribute("role", "dialog");
    modal.setAttribute("aria-modal", "true");
    modal.setAttribute("aria-label", "Bank check (development sandbox, not your bank)");
    modal.style.position = "fixed";
    modal.style.inset = "0";
    modal.style.zIndex = "999999";
    modal.style.background = "rgba(0,0,0,.6)";
    modal.style.display = "flex";
    modal.style.alignItems = "center";
    modal.style.justifyContent = "center";
    var frame = document.createElement("iframe");
    frame.title = "Bank check (development sandbox, not your bank)";
    frame.src = acsUrl + "?creq=" + encodeURIComponent(payload) +
      "&parent=" + encodeURIComponent(window.location.origin);
    frame.style.width = "min(420px, 95vw)";
    frame.style.height = "min(480px, 90vh)";
    frame.style.border = "0";
    frame.style.background = "#fff";
    modal.appendChild(frame);
    document.body.appendChild(modal);
    frame.addEventListener("load", function () { frame.focus(); });
    emit("ui.render");
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== sandboxOrigin || !data || data.type !== "crm-pay-sandbox-3ds") {
      return;
    }
    close();
    emit("payments.validated", {
      Validated: true,
      ActionCode: data.actionCode,
      ErrorNumber: 0,
      ErrorDescription: "Success",
      Payment: {
        Type: "CCA",
        ExtendedData: data.cancelled ? { ChallengeCancel: "01" } : {}
      }
    }, data.jwt);
  });

  window.Cardinal = {
    configure: function () {},
    on: function (name, callback) {
      (listeners[name] = listeners[name] || []).push(callback);
    },
    off: function (name) {
      delete listeners[name];
    },
    setup: function (kind, options) {
      window.setTimeout(function () {
        if (kind !== "init" || !options || !options.jwt) {
          emit("payments.validated", {
            Validated: false, ActionCode: "ERROR", ErrorNumber: 10005,
            ErrorDescription: "Songbird was started without a request jwt."
          }, null);
          return;
        }
        emit("payments.setupComplete", {
          sessionId: "sandbox-session-" + Math.random().toString(16).slice(2),
          modules: [{ module: "CCA", loaded: true }]
        });
      }, 0);
    },
    trigger: function (name, value) {
      return Promise.resolve({ Status: name === "bin.process" && Boolean(value) });
    },
    continue: function (kind, acs) {
      if (kind === "cca" && acs && acs.AcsUrl) {
        openChallenge(acs.AcsUrl, acs.Payload);
      }
    }
  };
})();
