// Card editor: a small formatting toolbar over each side, keyboard shortcuts,
// Ctrl/Cmd+Enter to save, the chosen image and audio in the preview, and the
// cursor back in Front on a new card (so "Add and start another" needs no
// click). The text preview itself comes from the server (htmx posts the text
// to /cards/preview/), so it shows exactly what the sanitizer keeps; every
// button inserts only tags that sanitizer keeps (b, i, u, sup, sub, ul/li, code, br).
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) { return; }

  // [visible text, name, before, after, shortcut key (with Ctrl/Cmd), shift]
  var BUTTONS = [
    ["B", "Bold", "<b>", "</b>", "b", false],
    ["I", "Italic", "<i>", "</i>", "i", false],
    ["U", "Underline", "<u>", "</u>", "u", false],
    ["x²", "Superscript", "<sup>", "</sup>", "=", true],
    ["x₂", "Subscript", "<sub>", "</sub>", "=", false],
    ["•", "List", "<ul>\n<li>", "</li>\n</ul>", "l", true],
    ["</>", "Code", "<code>", "</code>", "k", false],
    ["↵", "Line break", "<br>", "", "", false]
  ];
  var CLOZE = ["[…]", "Cloze: move the selection to the back", "c", true];

  function changed(textarea) {
    // Let htmx (and anything else) know the text changed.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function wrap(textarea, before, after) {
    var start = textarea.selectionStart, end = textarea.selectionEnd, value = textarea.value;
    var inner = value.slice(start, end);
    if (before.indexOf("<li>") !== -1 && inner.indexOf("\n") !== -1) {
      // One list item per selected line.
      inner = inner.split("\n").filter(function (line) { return line.trim(); }).join("</li>\n<li>");
    }
    textarea.value = value.slice(0, start) + before + inner + after + value.slice(end);
    textarea.focus();
    textarea.setSelectionRange(start + before.length, start + before.length + inner.length);
    changed(textarea);
  }

  // A cloze from the selection: the front keeps "[…]" in its place and the
  // back gets the hidden words, so the card asks for exactly them.
  function cloze(front, back) {
    var start = front.selectionStart, end = front.selectionEnd;
    if (start === end || !back) { return; }
    var hidden = front.value.slice(start, end);
    front.value = front.value.slice(0, start) + "[…]" + front.value.slice(end);
    back.value = back.value ? back.value + "; " + hidden : hidden;
    front.focus();
    front.setSelectionRange(start, start + 3);
    changed(front);
    changed(back);
  }

  function button(visible, name, onClick, shortcut) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "button secondary small";
    // The visible symbol starts the accessible name, so what is seen matches what is heard.
    element.appendChild(document.createTextNode(visible));
    var label = document.createElement("span");
    label.className = "sr-only";
    label.textContent = " " + name;
    element.appendChild(label);
    element.title = name + (shortcut ? " (" + shortcut + ")" : "");
    element.addEventListener("click", onClick);
    return element;
  }

  function shortcutText(key, shift) {
    if (!key) { return ""; }
    return "Ctrl+" + (shift ? "Shift+" : "") + (key === "=" ? "=" : key.toUpperCase());
  }

  var front = document.getElementById("id_front");
  var back = document.getElementById("id_back");
  [front, back].forEach(function (textarea) {
    if (!textarea) { return; }
    var bar = document.createElement("div");
    bar.className = "toolbar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Formatting for " + (textarea === front ? "front" : "back"));
    BUTTONS.forEach(function (spec) {
      bar.appendChild(button(spec[0], spec[1], function () { wrap(textarea, spec[2], spec[3]); }, shortcutText(spec[4], spec[5])));
    });
    if (textarea === front && back) {
      bar.appendChild(button(CLOZE[0], CLOZE[1], function () { cloze(front, back); }, shortcutText(CLOZE[2], CLOZE[3])));
    }
    textarea.parentNode.insertBefore(bar, textarea);

    textarea.addEventListener("keydown", function (event) {
      if (!(event.ctrlKey || event.metaKey) || event.altKey) { return; }
      var key = event.key === "+" ? "=" : event.key.toLowerCase();
      if (textarea === front && key === CLOZE[2] && event.shiftKey === CLOZE[3]) {
        event.preventDefault();
        cloze(front, back);
        return;
      }
      BUTTONS.forEach(function (spec) {
        if (spec[4] && key === spec[4] && event.shiftKey === spec[5]) {
          event.preventDefault();
          wrap(textarea, spec[2], spec[3]);
        }
      });
    });
  });

  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });

  // The chosen image and audio, shown in the preview before saving.
  var media = document.getElementById("card-preview-media");
  function showFile(input, kind) {
    if (!input || !media) { return; }
    input.addEventListener("change", function () {
      var old = media.querySelector("[data-chosen=" + kind + "]");
      if (old) { old.remove(); }
      var file = input.files && input.files[0];
      if (!file) { return; }
      var element = document.createElement(kind === "image" ? "img" : "audio");
      element.setAttribute("data-chosen", kind);
      element.src = URL.createObjectURL(file);
      if (kind === "image") {
        element.alt = "Chosen image: " + file.name;
        element.className = "thumb";
      } else {
        element.controls = true;
        element.setAttribute("aria-label", "Chosen audio: " + file.name);
      }
      media.appendChild(element);
      media.hidden = false;
    });
  }
  showFile(document.getElementById("id_image"), "image");
  showFile(document.getElementById("id_audio"), "audio");

  // A new card starts in Front, also after "Add and start another".
  if (form.hasAttribute("data-new-card") && front) { front.focus(); }
})();
