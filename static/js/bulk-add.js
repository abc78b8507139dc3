// Bulk add: typing a Tab in the lines box inserts a tab character (front<TAB>back)
// instead of leaving the box; Escape, then Tab, moves on as usual. A live count
// of non-empty lines sits under the box. The preview table itself is rendered
// by the server through htmx.
(function () {
  "use strict";
  var textarea = document.getElementById("id_text");
  if (!textarea) { return; }
  var released = false;
  var counter = document.createElement("p");
  counter.className = "help";
  counter.setAttribute("aria-live", "polite");
  textarea.insertAdjacentElement("afterend", counter);

  function count() {
    var n = textarea.value.split(/\r?\n/).filter(function (l) { return l.trim() && l.trim()[0] !== "#"; }).length;
    counter.textContent = n + (n === 1 ? " line" : " lines") + " · Tab types a tab here; press Escape, then Tab, to move on.";
  }

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { released = true; return; }
    if (event.key === "Tab" && !event.shiftKey && !released) {
      event.preventDefault();
      var start = textarea.selectionStart, end = textarea.selectionEnd;
      textarea.value = textarea.value.slice(0, start) + "\t" + textarea.value.slice(end);
      textarea.setSelectionRange(start + 1, start + 1);
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });
  textarea.addEventListener("blur", function () { released = false; });
  textarea.addEventListener("input", count);
  count();
})();
