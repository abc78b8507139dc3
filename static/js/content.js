// Small helpers for the content pages; loaded as a file because the CSP
// forbids inline scripts.
(function () {
  "use strict";
  // Invite link: one click selects it all, ready to copy.
  document.querySelectorAll("input.select-all").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
    input.addEventListener("click", function () { input.select(); });
  });
})();
