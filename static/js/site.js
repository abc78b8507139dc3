// Loaded on every page (the CSP forbids inline scripts).
(function () {
  "use strict";
  // One-click actions that are hard to undo ask first (removing a student,
  // renewing a class code, maintenance mode); without JavaScript they run.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
  }, true);

  // A table or chart wider than the screen scrolls inside its box; keyboard
  // users must be able to reach and scroll it too, and screen readers hear
  // what it is (the heading of its section).
  function labelScrollers(root) {
    root.querySelectorAll(".table-wrap, .chart-scroll, .chart-box, .heatmap-wrap").forEach(function (box) {
      if (box.hasAttribute("tabindex")) { return; }
      box.setAttribute("tabindex", "0");
      if (!box.hasAttribute("role")) { box.setAttribute("role", "region"); }
      if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
        var section = box.closest("section, article, main");
        var heading = section && section.querySelector("h1, h2, h3");
        box.setAttribute("aria-label", (heading ? heading.textContent.trim() : "Table") + " (scrolls sideways)");
      }
    });
  }
  labelScrollers(document);
  document.addEventListener("htmx:afterSwap", function (event) { labelScrollers(event.target); });
})();
