// The virtual phone of the crm-pay development telephony stand-in (not Twilio).
// Each key pressed goes to this stand-in's keypad endpoint, on this origin only; the page
// keeps no digit: it shows what the phone says and how many keys were keyed (as dots),
// both as the stand-in reports them.
(function () {
  "use strict";

  var POLL_MS = 1000;

  function start() {
    var phone = document.getElementById("phone");
    if (!phone) {
      return;
    }
    var base = "/_sandbox/calls/" + encodeURIComponent(phone.getAttribute("data-call"));
    var prompt = document.getElementById("prompt");
    var keyed = document.getElementById("keyed");
    var status = document.getElementById("call-status");
    var problem = document.getElementById("problem");
    var hangUp = document.getElementById("hang-up");
    var keys = phone.querySelectorAll("button.key");
    var sending = Promise.resolve();

    function show(view) {
      if (prompt.textContent !== view.prompt) {
        prompt.textContent = view.prompt;
      }
      keyed.textContent = new Array(view.keyed + 1).join("\u2022");
      status.textContent = view.status;
      var ended = view.status !== "in-progress";
      hangUp.disabled = ended;
      for (var i = 0; i < keys.length; i++) {
        keys[i].disabled = ended;
      }
      phone.setAttribute("data-capturing", view.capturing || "");
    }

    function post(path, body) {
      return fetch(base + path, {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body || {}),
        credentials: "same-origin",
        cache: "no-store"
      }).then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) {
            throw new Error(data.error || "the stand-in refused the key");
          }
          return data;
        });
      });
    }

    function press(key) {
      // one key per request, in the order pressed
      sending = sending.then(function () {
        return post("/keypad", {keys: key}).then(function (view) {
          problem.textContent = "";
          show(view);
        }, function (error) {
          problem.textContent = "Nothing is listening for keys: " + error.message;
        });
      });
    }

    function refresh() {
      fetch(base, {cache: "no-store", credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (view) { if (view) { show(view); } })
        .catch(function () { /* the stand-in stopped: keep the last state */ });
    }

    for (var i = 0; i < keys.length; i++) {
      keys[i].addEventListener("click", function (event) {
        press(event.currentTarget.getAttribute("data-key"));
      });
    }
    hangUp.addEventListener("click", function () {
      post("/hangup").then(show, function (error) { problem.textContent = error.message; });
    });
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      var target = event.target;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) {
        return;
      }
      if (/^[0-9*#]$/.test(event.key) && !hangUp.disabled) {
        event.preventDefault();
        press(event.key);
      }
    });
    window.setInterval(refresh, POLL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
