// Live refresh: every few seconds the page's main content is fetched again and swapped in,
// unless the user is busy with it (a field focused or filled, a job selected) or paused it.
// Without JavaScript the pages are the same, just not refreshed.
(function () {
  "use strict";
  var EVERY_MS = 3000;
  var main = document.querySelector("main[data-live]");
  if (!main || !window.fetch || !window.DOMParser) return;
  var toggle = document.getElementById("live-toggle");
  var live = true;
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      live = !live;
      toggle.textContent = live ? "Live: on" : "Live: off";
      toggle.setAttribute("aria-pressed", live ? "true" : "false");
    });
  }
  function busy() {
    var active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return true;
    if (main.querySelector("input[type=checkbox]:checked")) return true;
    var fields = main.querySelectorAll("input[type=text]");
    for (var i = 0; i < fields.length; i++) if (fields[i].value !== "") return true;
    return false;
  }
  function refresh() {
    if (!live || document.hidden || busy()) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "x-live-refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null || !live || busy()) return;
        var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main[data-live]");
        if (fresh) main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () { /* the next round tries again */ });
  }
  window.setInterval(refresh, EVERY_MS);
})();
