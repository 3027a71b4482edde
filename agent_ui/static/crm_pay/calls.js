/* Agent console: incoming calls (the screen-pop).
 *
 * On every console page of a signed-in agent this opens its own Socket.IO connection to
 * the namespace /live (path from data-socket-path; the vendor client is loaded from
 * data-io-src when the page has not loaded it already). The server puts the socket in
 * the agent's own room; each `incoming_call` event {caller, call_sid, matches: [{crm_ref,
 * name, url}], at} shows a banner: "Incoming call from +1 212 555 0101 — Ada Lovelace
 * (Open)", a list when several customers match, and "not found in the CRM, search" when
 * none does. The banner region is a polite live region (role="status"), each banner has
 * a Dismiss button, and a call SID shown again (a replay) replaces its banner rather
 * than adding one. Every text goes in with textContent, and a link's address must be a
 * path on this site: nothing from the server is parsed as HTML.
 *
 * Self-contained on purpose: console.js (the payment page's live panel) keeps its own
 * connection and knows nothing of this one.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !window.WebSocket && !window.XMLHttpRequest) { return; }
  var socketPath = script.dataset.socketPath;
  var lookupUrl = script.dataset.lookupUrl;
  var ioSrc = script.dataset.ioSrc;
  var MAX_BANNERS = 3;
  var region = null;

  // "+12125550101" -> "+1 212 555 0101" (North American numbers); others as sent.
  function readable(number) {
    var m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number || "");
    return m ? "+1 " + m[1] + " " + m[2] + " " + m[3] : (number || "");
  }

  function sitePath(url) {
    return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/" ? url : null;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function bannerRegion() {
    if (region) { return region; }
    region = el("div", "incoming-calls");
    region.id = "incoming-calls";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    var main = document.getElementById("main") || document.body;
    main.insertBefore(region, main.firstChild);
    return region;
  }

  function matchItem(parent, match) {
    var url = sitePath(match.url);
    parent.appendChild(document.createTextNode(match.name || match.crm_ref));
    if (!url) { return; }
    parent.appendChild(document.createTextNode(" ("));
    var open = el("a", "open-customer", "Open");
    open.href = url;
    open.dataset.crmRef = match.crm_ref;
    open.setAttribute("aria-label", "Open " + (match.name || match.crm_ref));
    parent.appendChild(open);
    parent.appendChild(document.createTextNode(")"));
  }

  function show(call) {
    if (!call || typeof call.call_sid !== "string" || typeof call.caller !== "string") { return; }
    var matches = Array.isArray(call.matches) ? call.matches : [];
    var box = bannerRegion();
    var old = box.querySelector('[data-call-sid="' + call.call_sid.replace(/[^A-Za-z0-9]/g, "") + '"]');
    var banner = el("section", "incoming-call");
    banner.dataset.callSid = call.call_sid;
    banner.dataset.matches = String(matches.length);
    var line = el("p", "incoming-call-text");
    line.appendChild(el("strong", null, "Incoming call from " + readable(call.caller)));
    line.appendChild(document.createTextNode(" — "));
    if (matches.length === 1) {
      matchItem(line, matches[0]);
    } else if (matches.length > 1) {
      line.appendChild(document.createTextNode(matches.length + " customers have this number:"));
    } else {
      line.appendChild(document.createTextNode("not found in the CRM, "));
      var search = el("a", "search-caller", "search");
      search.href = lookupUrl + "?phone=" + encodeURIComponent(call.caller);
      line.appendChild(search);
    }
    banner.appendChild(line);
    if (matches.length > 1) {
      var list = el("ul", "incoming-call-matches");
      matches.forEach(function (match) {
        var item = el("li");
        matchItem(item, match);
        list.appendChild(item);
      });
      banner.appendChild(list);
    }
    var dismiss = el("button", "dismiss-call", "Dismiss");
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", "Dismiss the incoming call from " + readable(call.caller));
    dismiss.addEventListener("click", function () {
      if (banner.parentNode) { banner.parentNode.removeChild(banner); }
    });
    banner.appendChild(dismiss);
    if (old) {
      box.replaceChild(banner, old);
    } else {
      box.insertBefore(banner, box.firstChild);
    }
    while (box.children.length > MAX_BANNERS) { box.removeChild(box.lastChild); }
  }

  function connect() {
    if (typeof window.io !== "function") { return; }
    // WebSocket first, as console.js: several `crm-pay serve` processes accept nothing else.
    var socket = window.io("/live", {
      path: socketPath,
      withCredentials: true,
      transports: ["websocket", "polling"],
      tryAllTransports: true
    });
    socket.on("incoming_call", show);
    // for people and tests: whether this page is listening (data-state on this script)
    socket.on("connect", function () { script.dataset.state = "live"; });
    socket.on("disconnect", function () { script.dataset.state = "reconnecting"; });
  }

  function start() {
    if (typeof window.io === "function" || !ioSrc) { connect(); return; }
    var loader = document.createElement("script");
    loader.src = ioSrc;
    loader.onload = connect;
    document.head.appendChild(loader);
  }

  window.crmPayIncomingCalls = { show: show };
  start();
}());
