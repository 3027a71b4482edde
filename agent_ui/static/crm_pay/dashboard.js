/*
 * Payment operations dashboard ({prefix}/dashboard/): draws each panel's chart with
 * Chart.js from the table the server rendered, then keeps the figures current:
 *
 * - the range form fetches {prefix}/dashboard/figures.json instead of reloading the
 *   page (the form still works without JavaScript), and updates tables, charts,
 *   headline figures, CSV links and the address bar;
 * - over Socket.IO (namespace /live) it joins the dashboard's room ("watch_dashboard");
 *   a "dashboard_changed" nudge (a time only, at most every few seconds) fetches the
 *   figures again.
 *
 * Loaded as a file: the console's CSP allows no inline script.
 */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.Chart) { return; }

  // panel -> how to chart its rows: label column, value columns, chart type
  var SPECS = {
    outcomes: { type: "doughnut", values: [1] },
    declines: { type: "bar", values: [2], horizontal: true },
    daily: { type: "line", values: [1, 2] },
    channels: { type: "bar", values: [1, 2] },
    agents: { type: "bar", values: [1, 2], horizontal: true },
    refunds: { type: "bar", values: [1] },
    chargebacks: { type: "bar", values: [1] },
    receipts: { type: "bar", values: [2], labels: [0, 1] },
    resolution: { type: "bar", values: [2, 3] },
    open_cases: { type: "bar", values: [2, 3, 4, 5], stacked: true, horizontal: true },
    reminders: { type: "bar", values: [1] },
    csat: { type: "bar", values: [1] },
    currencies: { type: "bar", values: [1] }
  };
  var charts = {};
  var form = document.getElementById("range-form");
  var fetching = false;
  var again = false;

  function panelsOnPage() {
    return Array.prototype.slice.call(root.querySelectorAll("[data-panel]"));
  }

  function rowsFromTable(name) {
    var table = document.getElementById("table-" + name);
    var columns = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent;
    });
    var rows = [];
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr:not(.empty)"), function (tr) {
      rows.push(Array.prototype.map.call(tr.querySelectorAll("td"), function (td) {
        return td.textContent;
      }));
    });
    return { columns: columns, rows: rows };
  }

  function number(value) {
    var n = parseFloat(value);
    return isNaN(n) ? 0 : n;
  }

  function chartData(spec, panel) {
    var labelCols = spec.labels || [0];
    return {
      labels: panel.rows.map(function (row) {
        return labelCols.map(function (i) { return String(row[i]).replace(/_/g, " "); }).join(" ");
      }),
      datasets: spec.values.map(function (col) {
        return {
          label: panel.columns[col],
          data: panel.rows.map(function (row) { return number(row[col]); })
        };
      })
    };
  }

  function draw(name, panel) {
    var spec = SPECS[name] || { type: "bar", values: [1] };
    var canvas = document.getElementById("chart-" + name);
    if (!canvas) { return; }
    var data = chartData(spec, panel);
    if (charts[name]) {
      charts[name].data = data;
      charts[name].update();
      return;
    }
    var scales = spec.type === "doughnut" ? {} : {
      x: { stacked: !!spec.stacked, beginAtZero: true },
      y: { stacked: !!spec.stacked, beginAtZero: true }
    };
    charts[name] = new window.Chart(canvas, {
      type: spec.type,
      data: data,
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: scales,
        plugins: { legend: { display: spec.values.length > 1 || spec.type === "doughnut" } }
      }
    });
  }

  function shown(value, suffix) {
    return value === null || value === undefined ? "—" : String(value) + (suffix || "");
  }

  function fillTable(name, panel) {
    var table = document.getElementById("table-" + name);
    if (!table) { return; }
    var body = document.createElement("tbody");
    panel.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (value) {
        var td = document.createElement("td");
        if (typeof value === "number") { td.className = "num"; }
        td.textContent = shown(value);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    if (!panel.rows.length) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      tr.className = "empty";
      td.colSpan = panel.columns.length;
      td.textContent = "Nothing in this range.";
      tr.appendChild(td);
      body.appendChild(tr);
    }
    table.replaceChild(body, table.tBodies[0]);
    var head = table.tHead.rows[0];
    panel.columns.forEach(function (column, i) {
      if (head.cells[i]) { head.cells[i].textContent = column; }
    });
  }

  function query(period) {
    return "start=" + encodeURIComponent(period.start) + "&end=" + encodeURIComponent(period.end) +
      "&currency=" + encodeURIComponent(period.currency);
  }

  function apply(figures) {
    var panels = figures.panels;
    Object.keys(panels).forEach(function (name) {
      fillTable(name, panels[name]);
      draw(name, panels[name]);
      var link = document.getElementById("csv-" + name);
      if (link) {
        link.href = root.dataset.csvTemplate.replace("PANEL", encodeURIComponent(name)) + "?" +
          query(figures.period);
      }
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-summary]"), function (dd) {
      var path = dd.dataset.summary.split(".");
      var panel = panels[path[0]];
      var value = panel ? panel.summary[path[1]] : null;
      dd.textContent = shown(value, dd.dataset.suffix);
    });
    var select = document.getElementById("range-currency");
    (panels.currencies.summary.currencies || []).forEach(function (code) {
      var exists = Array.prototype.some.call(select.options, function (o) { return o.value === code; });
      if (!exists) { select.appendChild(new Option(code, code)); }
    });
    document.getElementById("generated-at").textContent =
      figures.generated_at.slice(0, 19).replace("T", " ");
    root.dataset.loaded = String(Date.now());
  }

  function showError(message) {
    var box = document.getElementById("fetch-error");
    box.textContent = message || "";
    box.hidden = !message;
    var old = document.getElementById("filter-error");
    if (old) { old.hidden = true; }
  }

  function current() {
    return {
      start: document.getElementById("range-start").value,
      end: document.getElementById("range-end").value,
      currency: document.getElementById("range-currency").value
    };
  }

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    var period = current();
    fetch(root.dataset.figuresUrl + "?" + query(period), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (resp) {
      return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) {
        showError((answer.body.error && answer.body.error.message) ||
          "The figures could not be loaded; try again.");
        return;
      }
      showError("");
      apply(answer.body);
      window.history.replaceState(null, "", root.dataset.pageUrl + "?" + query(period));
    }).catch(function () {
      showError("The figures could not be loaded (connection lost?); try again.");
    }).then(function () {
      fetching = false;
      if (again) { again = false; refresh(); }
    });
  }

  panelsOnPage().forEach(function (section) {
    var name = section.dataset.panel;
    draw(name, rowsFromTable(name));
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    refresh();
  });

  if (window.io) {
    var socket = window.io(root.dataset.namespace || "/live", {
      path: root.dataset.socketPath,
      transports: ["websocket", "polling"]
    });
    var state = document.getElementById("live-state");
    socket.on("connect", function () {
      socket.emit("watch_dashboard", {}, function (ack) {
        state.dataset.state = ack && ack.ok ? "live" : "off";
      });
    });
    socket.on("dashboard_changed", refresh);
    socket.on("disconnect", function () { state.dataset.state = "off"; });
  }
}());
