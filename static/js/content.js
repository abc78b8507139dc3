// Small helpers for the content pages; loaded as a file because the CSP
// forbids inline scripts.
(function () {
  "use strict";
  // Invite link: one click selects it all, ready to copy.
  document.querySelectorAll("input.select-all").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
    input.addEventListener("click", function () { input.select(); });
  });
  // "Copy link" buttons: put the invite link on the clipboard and say so.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy") + "-status");
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { if (status) { status.textContent = "Link copied — paste it into an email or your class page."; } };
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });
})();
