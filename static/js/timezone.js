// Sign-up: preselect the browser's time zone so "today", streaks and every
// time on the site are in the user's own day instead of UTC. The user can
// still pick another zone; a value they chose (or a re-shown form) is kept.
(function () {
  "use strict";
  var select = document.getElementById("id_timezone");
  if (!select || select.value !== "UTC" || !window.Intl) { return; }
  // A form shown again with errors keeps exactly what the user sent.
  if (document.querySelector(".field.has-error, .errors")) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) { return; }
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.value = zone; return; }
  }
})();
