// Loaded on every page (the CSP forbids inline scripts).
(function () {
  "use strict";
  // One-click actions that are hard to undo ask first (removing a student,
  // renewing a class code, maintenance mode); without JavaScript they run.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
  }, true);
})();
