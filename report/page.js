"use strict";
// What a headless check (or a curious user) reads back from the body: errors
// thrown while the page set itself up (data-errors), and when set-up ended,
// in ms after navigation start (data-rendered; absent if it never ended).
window.addEventListener("error", function (ev) {
  var b = document.body;
  b.dataset.errors = (b.dataset.errors ? b.dataset.errors + "\n" : "") + ev.message;
});
// Sortable tables: a click on a header sorts by that column, again reverses.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (r) {
        var t = r.cells[col] ? r.cells[col].textContent.trim() : "";
        var n = parseFloat(t);
        return isNaN(n) ? t : n;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
// Toggles: one checkbox per run shows or hides its lines on every chart.
document.querySelectorAll("input.toggle").forEach(function (box) {
  box.addEventListener("change", function () {
    document.querySelectorAll('polyline[data-run="' + box.dataset.run + '"]').forEach(function (l) {
      l.classList.toggle("off", !box.checked);
    });
  });
});
// Hover: the value of each shown line at the step under the pointer.
document.querySelectorAll("svg.chart").forEach(function (svg) {
  var d = svg.dataset, x0 = +d.x0, x1 = +d.x1, y0 = +d.y0, y1 = +d.y1, log = d.log === "true";
  var l = +d.l, w = +d.w, t = +d.t, h = +d.h;
  var out = svg.parentNode.querySelector(".hover");
  // The points are parsed on the first hover over this chart, not at load:
  // a large page has a million of them, most never pointed at.
  var lines = null;
  var parse = function () {
    return Array.prototype.map.call(svg.querySelectorAll("polyline"), function (p) {
      var pts = p.getAttribute("points").split(" ").map(function (s) { var a = s.split(","); return [+a[0], +a[1]]; });
      return { el: p, name: p.dataset.name, pts: pts };
    });
  };
  var value = function (py) {
    var f = (t + h - py) / h;
    return log ? Math.pow(10, Math.log10(y0) + f * (Math.log10(y1) - Math.log10(y0))) : y0 + f * (y1 - y0);
  };
  svg.addEventListener("mousemove", function (ev) {
    var box = svg.getBoundingClientRect();
    var px = (ev.clientX - box.left) * (svg.viewBox.baseVal.width / box.width);
    var step = Math.round(x0 + (px - l) / w * (x1 - x0));
    var text = ["step " + step];
    lines = lines || parse();
    lines.forEach(function (ln) {
      if (ln.el.classList.contains("off") || ln.pts.length === 0) { return; }
      var best = ln.pts[0];
      ln.pts.forEach(function (p) { if (Math.abs(p[0] - px) < Math.abs(best[0] - px)) { best = p; } });
      text.push(ln.name + ": " + value(best[1]).toPrecision(4));
    });
    out.textContent = text.join("\n");
  });
});
// runner serve: reload when the ledger changed.
(function () {
  var poll = document.body.dataset.poll;
  if (!poll) { return; }
  var seen = null;
  setInterval(function () {
    fetch(poll).then(function (r) { return r.json(); }).then(function (j) {
      if (seen !== null && j.version !== seen) { location.reload(); }
      seen = j.version;
    }).catch(function () {});
  }, 5000);
})();
document.body.dataset.rendered = String(Math.round(performance.now()));
