// helpmesh: the few lines of script of our own. Everything works without
// them; they add keyboard shortcuts, catalogue search, select-all, and live
// updates from server-sent events.
(function () {
  "use strict";
  var $ = function (s, el) { return (el || document).querySelector(s); };
  var $$ = function (s, el) { return Array.prototype.slice.call((el || document).querySelectorAll(s)); };

  // Filter a list (the service catalogue) as one types.
  $$("[data-filter]").forEach(function (input) {
    var list = $(input.dataset.filter);
    var none = $("[data-filter-empty]");
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase(), shown = 0;
      $$("[data-filter-text]", list).forEach(function (li) {
        var hit = !q || li.dataset.filterText.toLowerCase().indexOf(q) >= 0;
        li.hidden = !hit;
        if (hit) shown++;
      });
      if (none) none.hidden = shown > 0 || !q;
    });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") e.preventDefault(); });
  });

  // Select all rows for a bulk action.
  $$("[data-check-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      $$("input[name=ticket]", box.form).forEach(function (c) { c.checked = box.checked; });
    });
  });

  // Keyboard shortcuts (not while typing).
  var rows = function () { return $$("[data-list] [data-row]"); };
  var cur = -1;
  var pick = function (i) {
    var rs = rows();
    if (!rs.length) return;
    cur = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r, j) { r.classList.toggle("kbd-current", j === cur); });
    var a = $("a", rs[cur]);
    if (a) a.focus();
  };
  var help = $("#help");
  var lastG = 0;
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-help]") && help) help.showModal();
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    var go = function (el) { if (el) { e.preventDefault(); el.focus(); } };
    switch (e.key) {
      case "/": go($("[data-search]") || $("#svc-search")); break;
      case "c": e.preventDefault(); location.href = "/tickets/new"; break;
      case "r": go($("[data-key-target=r]")); break;
      case "n": go($("[data-key-target=n]")); break;
      case "j": e.preventDefault(); pick(cur + 1); break;
      case "k": e.preventDefault(); pick(cur - 1); break;
      case "o": if (cur >= 0) { var a = $("a", rows()[cur]); if (a) a.click(); } break;
      case "x": if (cur >= 0) { var c = $("input[type=checkbox]", rows()[cur]); if (c) c.checked = !c.checked; } break;
      case "q": if (Date.now() - lastG < 800) location.href = "/queue"; break;
      case "?": if (help) help.showModal(); break;
    }
    lastG = e.key === "g" ? Date.now() : 0;
  });

  // Live updates: when the server says the ticket or queue changed, fetch
  // the page again and swap the live regions, unless someone is typing in
  // one of them.
  var src = $("[data-live-src]");
  if (src && window.EventSource) {
    var dot = $("[data-live-status]");
    var es = new EventSource(src.dataset.liveSrc);
    es.addEventListener("open", function () { if (dot) dot.classList.add("on"); });
    es.addEventListener("error", function () { if (dot) dot.classList.remove("on"); });
    es.addEventListener("changed", function () {
      fetch(location.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          $$("[data-live-region]").forEach(function (el) {
            var fresh = doc.getElementById(el.id);
            if (!fresh || el.contains(document.activeElement) && document.activeElement !== document.body) return;
            var checked = $$("input[type=checkbox]:checked", el).map(function (c) { return c.value; });
            el.innerHTML = fresh.innerHTML;
            $$("input[type=checkbox]", el).forEach(function (c) { if (checked.indexOf(c.value) >= 0) c.checked = true; });
            el.classList.add("flash-update");
            setTimeout(function () { el.classList.remove("flash-update"); }, 1200);
            if (window.htmx) htmx.process(el);
          });
        });
    });
  }

  // Show server error pages from htmx requests instead of failing silently.
  document.addEventListener("htmx:responseError", function (e) {
    var doc = new DOMParser().parseFromString(e.detail.xhr.responseText, "text/html");
    var msg = doc.querySelector(".errorcard p:not(.err-code)");
    alert(msg ? msg.textContent : "The request failed.");
  });
})();
