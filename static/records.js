// The record lists' progressive enhancement. Without it every control still works (the
// form is a plain GET; "add a filter" and "remove" submit it, the server draws the rows);
// with it, rows are added and removed in place, each row's operator menu offers only the
// operators of its field, and "select all on this page" ticks the rows' boxes.
(function () {
  "use strict";
  var builder = document.getElementById("filter-builder");
  if (builder) {
    var narrow = function (row) {
      var field = row.querySelector(".filter-field");
      var op = row.querySelector(".filter-op");
      if (!field || !op) return;
      var chosen = field.options[field.selectedIndex];
      var allowed = chosen && chosen.dataset.ops ? chosen.dataset.ops.split(" ") : null;
      var firstAllowed = null;
      Array.prototype.forEach.call(op.options, function (o) {
        var ok = !allowed || allowed.indexOf(o.value) >= 0;
        o.hidden = !ok;
        o.disabled = !ok;
        if (ok && firstAllowed === null) firstAllowed = o;
      });
      if (op.selectedOptions.length && op.selectedOptions[0].disabled && firstAllowed) firstAllowed.selected = true;
    };
    var rows = function () { return builder.querySelectorAll(".filter-row"); };
    Array.prototype.forEach.call(rows(), narrow);
    builder.addEventListener("change", function (e) {
      if (e.target.classList.contains("filter-field")) narrow(e.target.closest(".filter-row"));
    });
    builder.addEventListener("click", function (e) {
      var t = e.target;
      if (t.classList.contains("filter-remove")) {
        e.preventDefault();
        var row = t.closest(".filter-row");
        if (row) row.remove();
      } else if (t.id === "filter-add") {
        e.preventDefault();
        var all = rows();
        var last = all[all.length - 1];
        if (!last) return;
        var next = 0;
        Array.prototype.forEach.call(all, function (r) { next = Math.max(next, Number(r.dataset.row) + 1); });
        var copy = last.cloneNode(true);
        copy.dataset.row = String(next);
        Array.prototype.forEach.call(copy.querySelectorAll("[name],[id],[for]"), function (el) {
          ["name", "id", "for"].forEach(function (a) {
            var v = el.getAttribute(a);
            if (v) el.setAttribute(a, v.replace(/([.-])\d+$/, "$1" + next));
          });
        });
        Array.prototype.forEach.call(copy.querySelectorAll(".filter-remove"), function (b) { b.remove(); });
        var value = copy.querySelector(".filter-value");
        if (value) value.value = "";
        var field = copy.querySelector(".filter-field");
        if (field) field.selectedIndex = 0;
        // A first row has no and/or menu: a copy of it gets one from a later row, or keeps "and".
        last.after(copy);
        narrow(copy);
        if (field) field.focus();
      }
    });
  }
  var all = document.getElementById("bulk-all");
  if (all) {
    var picks = function () { return document.querySelectorAll("input.bulk-pick"); };
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(picks(), function (p) { p.checked = all.checked; });
    });
    document.addEventListener("change", function (e) {
      if (e.target.classList && e.target.classList.contains("bulk-pick") && !e.target.checked) all.checked = false;
    });
  }
})();
