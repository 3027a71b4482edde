/* Agent console: the keypad panel of an ivr payment's page (agent_ui/console_keypad.py).
 *
 * The customer keys the card on the phone; the provider reports masked progress, which
 * reaches this page as the payment's live events (console.js follows the /live
 * Socket.IO room and re-dispatches each event as `crm-pay:payment-status`). An event's
 * `keypad` {session, field, words, done, ended} is the agent's words for one field (or
 * for the end of the entry), `fields` the done flags, `field_problems` the field in
 * error. Without live status (console.js polling), the panel polls its session URL.
 * The buttons (Ask again, Complete, the confirmed Cancel) work as plain forms; with
 * JavaScript, Ask again and Complete answer in place (console.js's postFormAsJson,
 * so console.js is loaded first). Masked values only reach this page; every text goes
 * in with textContent: nothing from the server is parsed as HTML.
 */
(function () {
  "use strict";

  var panel = document.getElementById("keypad-panel");
  if (!panel) { return; }

  var OPEN = ["starting", "capturing", "completing"];
  var SESSION_WORDS = {
    starting: "Starting the card entry on the call…",
    capturing: "The customer is keying the card on the phone.",
    completing: "Checking the card…",
    charging: "Charging the card…",
    charged: "The card was charged.",
    declined: "The card was declined.",
    cancelled: "The card entry was ended; nothing entered was kept.",
    failed: "The card entry stopped without a card."
  };
  var rows = {};
  var byLive = {};
  panel.querySelectorAll("[data-keypad-field]").forEach(function (row) {
    rows[row.dataset.keypadField] = row;
    byLive[row.dataset.liveField] = row;
  });
  var session = panel.dataset.session || "";

  function isIn(list, value) { return list.indexOf(value) !== -1; }

  function setText(el, text) {
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function note(text) { setText(document.getElementById("keypad-note"), text); }

  function setRow(row, state, words) {
    if (!row) { return; }
    row.dataset.state = state;
    if (state !== "pending" || words) { row.hidden = false; }
    if (words) { setText(row.querySelector(".keypad-words"), words); }
  }

  function missing() {
    return Object.keys(rows).filter(function (f) {
      return !rows[f].hidden && rows[f].dataset.state !== "done";
    });
  }

  function render() {
    panel.dataset.session = session;
    var words = document.getElementById("keypad-session");
    if (words) { words.dataset.session = session; }
    if (SESSION_WORDS[session]) { setText(words, SESSION_WORDS[session]); }
    var open = isIn(OPEN, session);
    var actions = document.getElementById("keypad-actions");
    if (actions) { actions.hidden = !open; }
    panel.querySelectorAll("form.keypad-ask").forEach(function (form) {
      form.hidden = session !== "capturing";
    });
    var left = missing();
    var complete = document.getElementById("keypad-complete");
    if (complete) { complete.disabled = !(session === "capturing" && left.length === 0); }
    setText(document.getElementById("keypad-missing"), left.length && open ?
      "Still needed: " + left.map(function (f) { return rows[f].dataset.label; }).join(", ") : "");
  }

  function applySession(s) {
    if (!s || typeof s !== "object") { return; }
    if (typeof s.status === "string") { session = s.status; }
    if (Array.isArray(s.fields_left)) {
      var known = s.fields_left.length > 0 || Boolean(s.card_last4);
      Object.keys(rows).forEach(function (f) {
        if (isIn(s.fields_left, f)) { rows[f].hidden = false; }
        if (known && !isIn(s.fields_left, f) && rows[f].dataset.state !== "done" && !rows[f].hidden) {
          setRow(rows[f], "done", rows[f].dataset.label + " ✓");
        } else if (isIn(s.fields_left, f) && rows[f].dataset.state === "done") {
          setRow(rows[f], "pending", "");
        }
      });
    }
    render();
  }

  function apply(event) {
    if (!event || typeof event !== "object") { return; }
    if (event.fields && typeof event.fields === "object") {
      Object.keys(event.fields).forEach(function (live) {
        var row = byLive[live];
        if (row && typeof event.fields[live] === "boolean") {
          var state = event.fields[live] ? "done" : (row.dataset.state === "invalid" ? "invalid" : "pending");
          row.dataset.state = state;
          if (event.fields[live]) { row.hidden = false; }
        }
      });
    }
    if (event.field_problems && typeof event.field_problems === "object") {
      Object.keys(event.field_problems).forEach(function (live) {
        if (event.field_problems[live] === true) { setRow(byLive[live], "invalid", ""); }
      });
    }
    var k = event.keypad;
    if (k && typeof k === "object") {
      if (typeof k.session === "string") { session = k.session; }
      if (typeof k.words === "string") {
        if (k.ended) {
          note(k.words);
        } else if (typeof k.field === "string" && rows[k.field]) {
          var row = rows[k.field];
          var state = k.done ? "done" : (row.dataset.state === "invalid" && !/asked for$/.test(k.words) ?
            "invalid" : "pending");
          if (k.done === false && / ✓/.test(row.querySelector(".keypad-words").textContent)) {
            state = "pending";  // entered again
          }
          setRow(row, state, k.words);
        }
      }
    }
    render();
  }

  document.addEventListener("crm-pay:payment-status", function (ev) { apply(ev.detail); });

  // True when the form went in place (console.js's postFormAsJson), false when the
  // browser cannot and the form submits itself.
  function post(form, after) {
    var sent = window.crmPayConsole.postFormAsJson(form, function (body) {
      note((body && body.message) || "");
      if (body && body.session) { applySession(body.session); }
      if (body && body.ok && after) { after(); }
    });
    if (!sent) { return false; }
    sent.then(render);
    return true;
  }

  panel.querySelectorAll("form.keypad-ask").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var row = rows[form.dataset.field];
      if (post(form, function () {
        setRow(row, "pending", row.dataset.label + ": asked for");
      })) { ev.preventDefault(); }
    });
  });
  // Complete answers in place (the result arrives live); the confirmed Cancel is a plain
  // form: its page offers to start the card entry again.
  var completeForm = document.getElementById("keypad-complete-form");
  if (completeForm) {
    completeForm.addEventListener("submit", function (ev) {
      if (post(completeForm, null)) { ev.preventDefault(); }
    });
  }

  // Without live status (console.js polls the payment), poll this panel's session too.
  var pollTimer = setInterval(function () {
    var live = document.getElementById("live-connection");
    var state = live ? live.dataset.state : "";
    if (state !== "polling" && state !== "refused") { return; }
    fetch(panel.dataset.sessionUrl, {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (body && body.session) { applySession(body.session); }
      if (body && body.session && !isIn(OPEN, body.session.status) &&
          body.session.status !== "charging") { clearInterval(pollTimer); }
    }).catch(function () { /* console.js says the connection is lost */ });
  }, 3000);

  render();
}());
