/* Agent console: the take-payment form's Back guard and the payment page's live panel.
 *
 * Take payment: a page brought back by the browser's Back button (back/forward cache or
 * restored form state) never keeps the customer's consent or a confirmation ticked: each
 * charge of a card on file is consented to, and confirmed, on its own.
 *
 * Live panel: follows one payment over Socket.IO (namespace /live, path from
 * data-socket-path): emits `watch` {payment_id}, renders the ack's snapshot, then every
 * `payment_status` event. Events carry statuses and field-validity flags only, never
 * card data. Without Socket.IO (vendor script missing, server refusing) it polls
 * data-status-url instead. Every text goes in with textContent: nothing from the server
 * is parsed as HTML.
 *
 * Shared with the console's other scripts (keypad.js, loaded after this one):
 * `window.crmPayConsole.postFormAsJson(form, answered)` sends a console form in place
 * and asks for JSON; see its comment.
 */
(function () {
  "use strict";

  // A console form sent in place: POST its fields (CSRF token included) and ask for the
  // JSON answer, its button disabled meanwhile. `answered(body)` gets the parsed answer
  // ({ok, message, ...}); when the request or its answer fails, the form is submitted
  // plainly so the page's own answer shows. Returns null where the browser has no
  // fetch/FormData (let the form submit itself), else a promise settled once the button
  // is enabled again.
  function postFormAsJson(form, answered) {
    if (!window.fetch || !window.FormData) { return null; }
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    return fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      body: new FormData(form)
    }).then(function (r) { return r.json(); }).then(answered)
      .catch(function () { form.submit(); }).then(function () {
        if (button) { button.disabled = false; }
      });
  }
  window.crmPayConsole = { postFormAsJson: postFormAsJson };
}());

(function () {
  "use strict";

  function clearConsent() {
    var form = document.getElementById("take-payment");
    if (!form) { return; }
    form.querySelectorAll("input[name=consent], input[name=confirm]").forEach(function (box) {
      box.checked = false;
    });
  }
  window.addEventListener("pageshow", function (event) {
    var nav = window.performance && performance.getEntriesByType ?
      performance.getEntriesByType("navigation")[0] : null;
    if (event.persisted || (nav && nav.type === "back_forward")) { clearConsent(); }
  });
}());

(function () {
  "use strict";

  var panel = document.getElementById("live-panel");
  if (!panel) { return; }

  var paymentId = panel.dataset.paymentId;
  var FIELDS = ["number", "expirationDate", "cvv", "postalCode"];
  var APPROVED = ["authorized", "submitted_for_settlement", "settled"];
  var FAILED = ["declined", "failed"];
  var CLOSED = ["expired", "cancelled", "voided", "settlement_declined"];
  var WORDS = {
    created: "Created",
    awaiting_customer: "Waiting for the customer",
    processing: "Processing",
    authorized: "Approved",
    submitted_for_settlement: "Approved",
    settled: "Approved (settled)",
    declined: "Declined",
    failed: "Failed",
    expired: "Link expired",
    cancelled: "Cancelled",
    voided: "Voided",
    unknown: "Waiting for the bank's answer",
    held: "On hold: a supervisor reviews it"
  };
  // What the agent is told when the customer's entry in a field looks wrong.
  var PROBLEMS = {
    number: "Card number looks wrong — ask the customer to check it.",
    expirationDate: "Expiry date looks wrong — ask the customer to check it (MM/YY, as on the card).",
    cvv: "CVV looks wrong — ask the customer to check the 3 or 4 digits on the card.",
    postalCode: "Postal code looks wrong — ask the customer to check it."
  };
  // Each tick's state in words, for screen readers (the live region reads them out).
  var STATE_WORDS = {
    done: "done", pending: "not yet", active: "in progress",
    invalid: "looks wrong", failed: "not approved"
  };
  var LINK_RANK = { "": 0, sent: 1, opened: 2 };
  var RETRYING = "Customer is trying again";

  function num(text) {
    return text === undefined || text === "" ? null : Number(text);
  }

  var state = {
    status: panel.dataset.status,
    link: panel.dataset.link || "",
    fields: {},
    problems: {},
    asked: {},
    receipt: null,
    decline: null,
    attemptsLeft: num(panel.dataset.attemptsLeft),
    attempt: num(panel.dataset.attempt) || 0,
    failedAttempt: null,
    retrying: false,
    linkClosed: panel.dataset.linkClosed === "yes"
  };
  var pollTimer = null;
  var shownReceipt = document.getElementById("receipt-number");
  var shownDecline = document.getElementById("decline-message");
  if (shownReceipt) { state.receipt = shownReceipt.textContent; }
  if (shownDecline) {
    var shownNext = document.getElementById("decline-next-step");
    state.decline = {
      message: shownDecline.textContent,
      next_step: shownNext ? shownNext.textContent.trim() : ""
    };
  }

  function isIn(list, value) { return list.indexOf(value) !== -1; }
  if (isIn(FAILED, state.status)) { state.failedAttempt = state.attempt; }

  function setStep(name, value) {
    var el = panel.querySelector('[data-step="' + name + '"]');
    if (!el) { return; }
    if (el.dataset.state !== value) { el.dataset.state = value; }
    var words = el.querySelector(".step-state");
    var text = ": " + (STATE_WORDS[value] || value);
    if (words && words.textContent !== text) { words.textContent = text; }
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && el.textContent !== text) { el.textContent = text; }
    return el;
  }

  function show(id, visible) {
    var el = document.getElementById(id);
    if (el) { el.hidden = !visible; }
  }

  function isFinal(status) {
    return isIn(APPROVED, status) || isIn(CLOSED, status);
  }

  function linkClosed() {
    return state.linkClosed || isIn(CLOSED, state.status) ||
      (state.attemptsLeft === 0 && isIn(FAILED, state.status));
  }

  function renderResult() {
    var result = document.getElementById("result");
    if (!result) { return; }
    if (state.receipt) {
      result.textContent = "Approved · receipt ";
      var strong = document.createElement("strong");
      strong.id = "receipt-number";
      strong.textContent = state.receipt;
      result.appendChild(strong);
      var receiptForm = document.getElementById("resend-receipt-form");
      var pdf = document.getElementById("receipt-pdf");
      if (receiptForm) { receiptForm.hidden = false; }
      if (pdf && pdf.dataset.hrefTemplate) {
        pdf.href = pdf.dataset.hrefTemplate.replace("RECEIPT", encodeURIComponent(state.receipt));
      }
    } else if (state.retrying) {
      result.textContent = "The customer is trying again" +
        (state.attempt ? " (attempt " + state.attempt + ")" : "") + ". The last attempt was declined" +
        (state.decline && state.decline.message ? ": " + state.decline.message : ".");
    } else if (state.decline && isIn(FAILED, state.status)) {
      result.textContent = "";
      var message = document.createElement("span");
      message.id = "decline-message";
      message.textContent = state.decline.message || "The payment was declined.";
      var next = document.createElement("span");
      next.id = "decline-next-step";
      // After the last attempt the "try another card" advice no longer applies.
      next.textContent = linkClosed() ? "" : " " + (state.decline.next_step || "");
      result.appendChild(message);
      result.appendChild(next);
    } else if (state.status === "unknown") {
      result.textContent = "The bank has not answered yet. Do not take the payment again; " +
        "this page updates when the answer arrives.";
    } else if (state.status === "held") {
      result.textContent = "The card was authorized but the payment is on hold for a fraud " +
        "review: nothing is taken until a supervisor releases it. Do not take it again.";
    } else if (isIn(CLOSED, state.status)) {
      result.textContent = WORDS[state.status] + ".";
    }
  }

  function renderFields(past) {
    FIELDS.forEach(function (f) {
      var flag = state.fields[f];
      var problem = state.problems[f] === true && flag !== true;
      setStep(f, flag === true || past ? "done" : (problem ? "invalid" : "pending"));
      var words = document.getElementById("problem-" + f);
      if (!words) { return; }
      var text = "";
      if (!past && problem) {
        text = PROBLEMS[f];
      } else if (!past && state.asked[f] && flag !== true) {
        text = "Asked the customer to enter it again.";
      }
      if (words.textContent !== text) { words.textContent = text; }
      words.hidden = text === "";
    });
  }

  function renderActions() {
    var s = state.status;
    var closed = linkClosed();
    var final = isFinal(s) || closed;
    var open = !final && !isIn(APPROVED, s) && s !== "processing" && s !== "unknown" &&
      s !== "held";
    show("cancel-form", !final && document.getElementById("cancel-form") !== null);
    show("resend-form", !final && !state.receipt);
    show("link-expiry-figure", !final);
    panel.querySelectorAll("form.ask-again").forEach(function (form) { form.hidden = !open; });
    var newLink = document.getElementById("new-link-form");
    if (newLink) { newLink.hidden = !(closed && !state.receipt && !isIn(APPROVED, s)); }
    var next = document.getElementById("next-steps");
    if (next) {
      next.hidden = !(closed && !state.receipt);
      if (!next.hidden) {
        var why = state.attemptsLeft === 0 && isIn(FAILED, s) ?
          "That was the last attempt this link allows." : "This link can no longer be paid.";
        setText("next-steps", why + " If the customer still wants to pay, send a new link " +
          "with the same details, or take the payment another way.");
      }
    }
  }

  function render() {
    var s = state.status;
    var approved = isIn(APPROVED, s);
    var failed = isIn(FAILED, s) && !state.retrying;
    var past = approved || failed || s === "processing" || s === "unknown";
    var rank = LINK_RANK[state.link] || 0;
    setStep("sent", rank >= 1 || past || state.retrying ? "done" : "pending");
    setStep("opened", rank >= 2 || past || state.retrying ? "done" : "pending");
    renderFields(past);
    setStep("processing", s === "processing" || s === "unknown" ? "active" :
      (approved || failed ? "done" : "pending"));
    setStep("result", approved ? "done" : (failed || isIn(CLOSED, s) ? "failed" : "pending"));

    var status = setText("payment-status", state.retrying ? RETRYING : (WORDS[s] || s));
    if (status) { status.dataset.status = s; status.dataset.phase = state.retrying ? "retrying" : ""; }
    panel.dataset.status = s;
    panel.dataset.phase = state.retrying ? "retrying" : "";
    renderResult();
    if (state.attemptsLeft !== null) {
      var attempts = document.getElementById("attempts-left");
      if (attempts) {
        attempts.hidden = false;
        attempts.querySelector("span").textContent = String(state.attemptsLeft);
      }
    }
    renderActions();
  }

  function startAfresh() {
    state.fields = {};
    state.problems = {};
    state.asked = {};
  }

  function apply(event) {
    if (!event || typeof event !== "object") { return; }
    if (event.payment_id && event.payment_id !== paymentId) { return; }
    // Other panels of the page (keypad.js) follow the same events.
    document.dispatchEvent(new CustomEvent("crm-pay:payment-status", { detail: event }));
    if (typeof event.status === "string") {
      if (event.status !== state.status) {
        if (event.status === "awaiting_customer") { startAfresh(); }
        if (isIn(FAILED, event.status)) { state.failedAttempt = state.attempt; }
        state.retrying = false;
      }
      state.status = event.status;
    }
    if (typeof event.attempt === "number" && event.attempt > state.attempt) {
      state.attempt = event.attempt;
      if (isIn(FAILED, state.status) && state.failedAttempt !== null &&
          event.attempt > state.failedAttempt && !linkClosed()) {
        state.retrying = true;  // a new attempt after a decline: the ticks start afresh
        startAfresh();
      }
    }
    if (event.link && (LINK_RANK[event.link] || 0) > (LINK_RANK[state.link] || 0)) {
      state.link = event.link;
    }
    if (event.fields && typeof event.fields === "object") {
      FIELDS.forEach(function (f) {
        if (typeof event.fields[f] === "boolean") {
          state.fields[f] = event.fields[f];
          if (event.fields[f]) { state.asked[f] = false; }
        }
      });
    }
    if (event.field_problems && typeof event.field_problems === "object") {
      FIELDS.forEach(function (f) {
        if (typeof event.field_problems[f] === "boolean") { state.problems[f] = event.field_problems[f]; }
      });
    }
    if (typeof event.asked_again === "string" && isIn(FIELDS, event.asked_again)) {
      state.asked[event.asked_again] = true;
      state.problems[event.asked_again] = false;
    }
    if (typeof event.channel === "string") { messageSent(event.channel); }
    if (event.receipt_number) { state.receipt = String(event.receipt_number); }
    if (event.decline && typeof event.decline === "object") { state.decline = event.decline; }
    if (typeof event.attempts_left === "number") { state.attemptsLeft = event.attempts_left; }
    if (event.link_state && event.link_state !== "open") { state.linkClosed = true; }
    render();
  }

  // The Messages table says "queued" until the dispatcher delivered the link: then the
  // oldest queued pay link of that channel reads "sent", as the notice promised.
  function messageSent(channel) {
    var rows = document.querySelectorAll(
      '#messages tr[data-kind="pay_link"][data-channel="' + channel + '"][data-status="queued"]');
    if (!rows.length) { return; }
    var row = rows[rows.length - 1];
    row.dataset.status = "sent";
    var badge = row.querySelector(".badge");
    if (badge) { badge.textContent = "sent"; badge.className = "badge sent"; }
  }

  function connection(text, value) {
    var el = setText("live-connection", text);
    if (el) { el.dataset.state = value; }
  }

  function poll() {
    if (pollTimer !== null) { return; }
    connection("Live updates every few seconds.", "polling");
    var tick = function () {
      fetch(panel.dataset.statusUrl, {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          apply(body);
          if (body && isFinal(body.status)) { clearInterval(pollTimer); }
        })
        .catch(function () { connection("Connection lost; retrying…", "retrying"); });
    };
    tick();
    pollTimer = setInterval(tick, 3000);
  }

  function connect() {
    if (typeof window.io !== "function") { poll(); return; }
    // WebSocket first: `crm-pay serve` with several processes accepts nothing else (a
    // polling session lives in one process, and the next poll may reach another); with
    // one process, or a proxy that drops the upgrade, long-polling is tried next.
    var socket = window.io(panel.dataset.namespace || "/live", {
      path: panel.dataset.socketPath,
      withCredentials: true,
      transports: ["websocket", "polling"],
      tryAllTransports: true
    });
    socket.on("connect", function () {
      socket.emit("watch", { payment_id: paymentId }, function (ack) {
        if (ack && ack.ok) {
          connection("Live.", "live");
          apply(ack.snapshot);
        } else {
          connection("Live updates are not available for this payment.", "refused");
          socket.close();
          poll();
        }
      });
    });
    socket.on("payment_status", apply);
    socket.on("disconnect", function () { connection("Reconnecting…", "reconnecting"); });
    socket.on("connect_error", function () {
      socket.close();
      poll();
    });
  }

  // "Ask again" works as a plain form too; with JavaScript it answers in place.
  panel.querySelectorAll("form.ask-again").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      var sent = window.crmPayConsole.postFormAsJson(form, function (body) {
        if (body && body.ok) {
          state.asked[form.dataset.field] = true;
          state.fields[form.dataset.field] = false;
          state.problems[form.dataset.field] = false;
          render();
        } else {
          var words = document.getElementById("problem-" + form.dataset.field);
          if (words) { words.textContent = (body && body.message) || "Could not ask again."; words.hidden = false; }
        }
      });
      if (sent) { ev.preventDefault(); }
    });
  });

  function countdown() {
    var el = document.getElementById("link-expiry");
    if (!el) { return; }
    var ends = Date.now() + Number(el.dataset.expiresIn) * 1000;
    var timer = setInterval(function () {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      if (isFinal(state.status) || linkClosed()) {
        el.textContent = "—";
        clearInterval(timer);
        return;
      }
      el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      el.dataset.expiresIn = String(left);
      if (left === 0) {
        el.textContent = "expired";
        clearInterval(timer);
      }
    }, 1000);
  }

  render();
  countdown();
  connect();
}());
