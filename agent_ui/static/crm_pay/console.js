/* Agent console: the payment page's live status panel.
 *
 * Follows one payment over Socket.IO (namespace /live, path from data-socket-path):
 * emits `watch` {payment_id}, renders the ack's snapshot, then every `payment_status`
 * event. Events carry statuses and field-validity flags only, never card data. Without
 * Socket.IO (vendor script missing, server refusing) it polls data-status-url instead.
 * Every text goes in with textContent: nothing from the server is parsed as HTML.
 */
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
    unknown: "Waiting for the bank's answer"
  };
  var LINK_RANK = { "": 0, sent: 1, opened: 2 };

  var state = {
    status: panel.dataset.status,
    link: panel.dataset.link || "",
    fields: {},
    receipt: null,
    decline: null,
    attemptsLeft: null
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

  function setStep(name, value) {
    var el = panel.querySelector('[data-step="' + name + '"]');
    if (el) { el.dataset.state = value; }
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
    return el;
  }

  function isFinal(status) {
    return isIn(APPROVED, status) || isIn(CLOSED, status);
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
      var linkForm = document.getElementById("resend-form");
      if (linkForm) { linkForm.hidden = true; }
    } else if (state.decline && isIn(FAILED, state.status)) {
      result.textContent = "";
      var message = document.createElement("span");
      message.id = "decline-message";
      message.textContent = state.decline.message || "The payment was declined.";
      var next = document.createElement("span");
      next.id = "decline-next-step";
      next.textContent = " " + (state.decline.next_step || "");
      result.appendChild(message);
      result.appendChild(next);
    } else if (state.status === "unknown") {
      result.textContent = "The bank has not answered yet. Do not take the payment again; " +
        "this page updates when the answer arrives.";
    } else if (isIn(CLOSED, state.status)) {
      result.textContent = WORDS[state.status] + ". Take a new payment if the customer still wants to pay.";
    }
  }

  function render() {
    var s = state.status;
    var approved = isIn(APPROVED, s);
    var failed = isIn(FAILED, s);
    var past = approved || failed || s === "processing" || s === "unknown";
    var rank = LINK_RANK[state.link] || 0;
    setStep("sent", rank >= 1 || past ? "done" : "pending");
    setStep("opened", rank >= 2 || past ? "done" : "pending");
    FIELDS.forEach(function (f) {
      var flag = state.fields[f];
      setStep(f, flag === true || past ? "done" : (flag === false ? "invalid" : "pending"));
    });
    setStep("processing", s === "processing" || s === "unknown" ? "active" :
      (approved || failed ? "done" : "pending"));
    setStep("result", approved ? "done" : (failed || isIn(CLOSED, s) ? "failed" : "pending"));

    var status = setText("payment-status", WORDS[s] || s);
    if (status) { status.dataset.status = s; }
    panel.dataset.status = s;
    renderResult();
    if (state.attemptsLeft !== null) {
      var attempts = document.getElementById("attempts-left");
      if (attempts) {
        attempts.hidden = false;
        attempts.querySelector("span").textContent = String(state.attemptsLeft);
      }
    }
    if (isFinal(s)) {
      ["cancel-form", "resend-form"].forEach(function (id) {
        var form = document.getElementById(id);
        if (form) { form.hidden = true; }
      });
    }
  }

  function apply(event) {
    if (!event || typeof event !== "object") { return; }
    if (event.payment_id && event.payment_id !== paymentId) { return; }
    if (typeof event.status === "string") {
      if (event.status !== state.status && event.status === "awaiting_customer") {
        state.fields = {};  // a retry after a decline starts the fields afresh
      }
      state.status = event.status;
    }
    if (event.link && (LINK_RANK[event.link] || 0) > (LINK_RANK[state.link] || 0)) {
      state.link = event.link;
    }
    if (event.fields && typeof event.fields === "object") {
      FIELDS.forEach(function (f) {
        if (typeof event.fields[f] === "boolean") { state.fields[f] = event.fields[f]; }
      });
    }
    if (event.receipt_number) { state.receipt = String(event.receipt_number); }
    if (event.decline && typeof event.decline === "object") { state.decline = event.decline; }
    if (typeof event.attempts_left === "number") { state.attemptsLeft = event.attempts_left; }
    render();
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

  function countdown() {
    var el = document.getElementById("link-expiry");
    if (!el) { return; }
    var ends = Date.now() + Number(el.dataset.expiresIn) * 1000;
    var timer = setInterval(function () {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      if (isFinal(state.status) || isIn(APPROVED, state.status)) {
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
