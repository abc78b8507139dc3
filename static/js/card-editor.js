// Card editor: a small formatting toolbar over each side and Ctrl/Cmd+Enter to
// save. The live preview itself comes from the server (htmx posts the text to
// /cards/preview/), so it shows exactly what the sanitizer keeps.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) { return; }

  var BUTTONS = [
    ["b", "Bold", "<b>", "</b>"],
    ["i", "Italic", "<i>", "</i>"],
    ["u", "Underline", "<u>", "</u>"],
    ["x²", "Superscript", "<sup>", "</sup>"],
    ["x₂", "Subscript", "<sub>", "</sub>"],
    ["</>", "Code", "<code>", "</code>"],
    ["↵", "Line break", "<br>", ""]
  ];

  function wrap(textarea, before, after) {
    var start = textarea.selectionStart, end = textarea.selectionEnd, value = textarea.value;
    textarea.value = value.slice(0, start) + before + value.slice(start, end) + after + value.slice(end);
    textarea.focus();
    textarea.setSelectionRange(start + before.length, end + before.length);
    // Let htmx (and anything else) know the text changed.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  ["id_front", "id_back"].forEach(function (id) {
    var textarea = document.getElementById(id);
    if (!textarea) { return; }
    var bar = document.createElement("div");
    bar.className = "toolbar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Formatting for " + (id === "id_front" ? "front" : "back"));
    BUTTONS.forEach(function (spec) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button secondary small";
      button.textContent = spec[0];
      button.title = spec[1];
      button.setAttribute("aria-label", spec[1]);
      button.addEventListener("click", function () { wrap(textarea, spec[2], spec[3]); });
      bar.appendChild(button);
    });
    textarea.parentNode.insertBefore(bar, textarea);
  });

  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });
})();
