// Time zone fields (sign-up, profile): suggestions come from the browser's own
// list of zones (no 600-option list in the page), and on sign-up the browser's
// zone is preselected so "today", streaks and every time on the site are in
// the user's own day instead of UTC. The server checks whatever is typed.
(function () {
  "use strict";
  var input = document.querySelector("input[data-timezone]");
  if (!input || !window.Intl) { return; }
  var zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  if (zones.indexOf("UTC") === -1) { zones = ["UTC"].concat(zones); }
  var list = document.createElement("datalist");
  list.id = input.getAttribute("list") || "timezone-list";
  zones.forEach(function (zone) {
    var option = document.createElement("option");
    option.value = zone;
    option.label = zone.replace(/_/g, " ");
    list.appendChild(option);
  });
  input.parentNode.appendChild(list);
  // Preselect only a default left untouched (UTC), never on a form shown again with errors.
  if (input.value !== "UTC" || document.querySelector(".field.has-error, .errors")) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) { input.value = zone; }
})();
