// Open-Stage Director: a little script over server-rendered pages (no
// library). Every page works without it; it adds the live filter of the
// jobs page, filling the run form from a parameter set, and the live
// view of a running job (Server-Sent Events).
"use strict";

(function () {
  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // Jobs page: filter rows as you type (the same test as the server's ?q=).
  function setupFilter() {
    var input = document.getElementById("filter");
    var table = document.getElementById("jobs");
    if (!input || !table) return;
    var rows = table.querySelectorAll("tbody tr[data-search]");
    var count = document.getElementById("filter-count");
    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (tr) {
        var text = tr.getAttribute("data-search").toLowerCase();
        var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
        tr.hidden = !ok;
        if (ok) shown++;
      });
      if (count) count.textContent = shown + " shown";
    }
    input.addEventListener("input", apply);
    apply();
  }

  // Run form: choosing a parameter set fills the fields with its values
  // (secret fields stay empty: their values never reach the page).
  function setupParamSets() {
    var form = document.getElementById("run-form");
    var select = document.getElementById("param_set");
    if (!form || !select) return;
    var sets = JSON.parse(form.getAttribute("data-sets") || "{}");
    select.addEventListener("change", function () {
      var values = sets[select.value] || {};
      form.querySelectorAll("input[data-param]").forEach(function (input) {
        if (input.getAttribute("data-secret")) return;
        var name = input.getAttribute("data-param");
        input.value = select.value && name in values ? values[name] : input.getAttribute("data-default");
      });
      // Tell the server which values the fields now show, so that only
      // the fields changed after this are overrides.
      var shown = document.getElementById("shown_set");
      if (shown) shown.value = select.value;
    });
  }

  function formatRows(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function rowsLabel(n) {
    return formatRows(n) + (n === 1 ? " row" : " rows");
  }
  function formatSeconds(s) {
    if (s < 1) return Math.round(s * 1000) + "ms";
    if (s < 60) return s.toFixed(2) + "s";
    var m = Math.floor(s / 60);
    return m + "m" + Math.round(s - 60 * m) + "s";
  }
  function byData(root, selector, attr, name) {
    var found = null;
    root.querySelectorAll(selector).forEach(function (el) {
      if (el.getAttribute(attr) === name) found = el;
    });
    return found;
  }

  // Run page: live row counts on the pipes, stage states, log lines.
  function setupLive() {
    var main = document.getElementById("main");
    var url = main && main.getAttribute("data-events");
    if (!url || !window.EventSource) return;
    var svg = document.querySelector(".graph svg");
    var table = document.getElementById("stage-table");
    var log = document.getElementById("log");
    var status = document.getElementById("run-status");
    var elapsed = document.getElementById("run-elapsed");
    var queue = document.getElementById("run-queue");
    var errorBox = document.getElementById("run-error");
    var es = new EventSource(url);

    function update(ev) {
      if (status) {
        status.innerHTML = "";
        var span = document.createElement("span");
        span.className = "status status-" + ev.status;
        span.textContent = ev.status;
        status.appendChild(span);
      }
      if (elapsed) elapsed.textContent = formatSeconds(ev.elapsed_seconds);
      if (queue) queue.textContent = ev.queue_position ? "· number " + ev.queue_position + " in the queue" : "";
      if (errorBox && ev.error) { errorBox.textContent = ev.error; errorBox.hidden = false; }
      if (svg) {
        ev.pipes.forEach(function (p) {
          var g = byData(svg, "g.pipe-label", "data-pipe", p.name);
          if (!g) return;
          var texts = g.querySelectorAll("text");
          if (texts.length < 2) return;
          texts[1].textContent = rowsLabel(p.rows);
          var rect = g.querySelector("rect");
          var w = 0;
          texts.forEach(function (t) { w = Math.max(w, t.getComputedTextLength()); });
          var cx = parseFloat(texts[1].getAttribute("x"));
          if (rect && w + 10 > parseFloat(rect.getAttribute("width"))) {
            rect.setAttribute("width", w + 10);
            rect.setAttribute("x", cx - (w + 10) / 2);
          }
        });
        ev.stages.forEach(function (st) {
          var g = byData(svg, "g.stage", "data-stage", st.name);
          if (!g) return;
          ["waiting", "running", "done", "failed", "skipped"].forEach(function (s) { g.classList.remove("state-" + s); });
          g.classList.add("state-" + st.state);
        });
      }
      if (table) {
        ev.stages.forEach(function (st) {
          var tr = byData(table, "tr[data-stage]", "data-stage", st.name);
          if (!tr) return;
          var set = function (f, v) { var td = tr.querySelector('td[data-f="' + f + '"]'); if (td) td.textContent = v; };
          set("state", st.state);
          set("rows_in", formatRows(st.rows_in));
          set("rows_out", formatRows(st.rows_out));
          set("rejected", formatRows(st.rejected));
          set("elapsed", formatSeconds(st.elapsed_seconds));
        });
      }
      if (log && ev.log && ev.log.length) {
        var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.appendChild(document.createTextNode(ev.log.join("\n") + "\n"));
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
    }
    es.addEventListener("state", function (e) { update(JSON.parse(e.data)); });
    es.addEventListener("end", function (e) {
      es.close();
      update(JSON.parse(e.data));
      var form = document.getElementById("cancel-form");
      if (form) form.remove();
      main.removeAttribute("data-events");
      main.setAttribute("data-ended", "true");
    });
    es.onerror = function () {
      // The browser reconnects by itself; once the run has ended the
      // stream is closed above and no error follows.
    };
  }

  // Run page: colour the graph's stages by the states in the stage table
  // (the live view keeps them up to date).
  function applyTableStates() {
    var svg = document.querySelector(".graph.live svg");
    var table = document.getElementById("stage-table");
    if (!svg || !table) return;
    table.querySelectorAll("tr[data-stage]").forEach(function (tr) {
      var g = byData(svg, "g.stage", "data-stage", tr.getAttribute("data-stage"));
      var td = tr.querySelector('td[data-f="state"]');
      if (g && td) g.classList.add("state-" + td.textContent.trim());
    });
  }

  ready(function () {
    applyTableStates();
    setupFilter();
    setupParamSets();
    setupLive();
  });
})();
