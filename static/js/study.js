// The study page: flip with Space/Enter/click, answer with 1-4, measure the
// response time. htmx swaps each next card into #study-stage; state lives in
// the DOM (data-flipped), so nothing needs re-binding after a swap.
(function () {
  "use strict";
  var shownAt = Date.now();

  function stage() { return document.getElementById("study-stage"); }
  function currentCard() { var s = stage(); return s && s.querySelector(".study-card[data-card]"); }

  function flip(card) {
    if (!card || card.dataset.flipped === "true") return;
    var back = card.querySelector(".study-back");
    if (!back) return;
    back.hidden = false;
    card.dataset.flipped = "true";
    var button = card.querySelector("[data-flip]");
    if (button) button.hidden = true;
    var audio = back.querySelector("audio[data-autoplay]");
    if (audio) { audio.play().catch(function () {}); }
    if (window.LmsAnalytics) {
      window.LmsAnalytics.track("card_flipped", { card: Number(card.dataset.card), mode: card.dataset.mode });
    }
    stage().focus({ preventScroll: true });
  }

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-flip]");
    if (button) { event.preventDefault(); flip(button.closest(".study-card")); }
  });

  // A keyboard user who tabbed to a button (End, an answer, the audio player)
  // presses it with Enter or Space as anywhere else: the shortcuts must not
  // swallow those keys, or "End" could never be reached without a mouse.
  function pressable(target) {
    return target && target.closest && target.closest("button, a[href], audio, select, summary");
  }

  // z or Ctrl+Z undoes the last answer; e edits the card; r replays its audio.
  function tool(event) {
    var key = event.key;
    if ((key === "z" || key === "Z") && !event.altKey && !event.shiftKey) {
      var undo = stage().querySelector("[data-undo]");
      if (undo) { event.preventDefault(); undo.click(); }
      return true;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return false;
    if (key === "e") {
      var edit = stage().querySelector("[data-edit]");
      if (edit) { event.preventDefault(); edit.click(); }
      return Boolean(edit);
    }
    if (key === "r") {
      var audio = stage().querySelector(".study-card audio");
      if (audio) { event.preventDefault(); audio.currentTime = 0; audio.play().catch(function () {}); }
      return Boolean(audio);
    }
    return false;
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-replay]")) return;
    var audio = stage() && stage().querySelector(".study-card audio");
    if (audio) { audio.currentTime = 0; audio.play().catch(function () {}); }
  });

  document.addEventListener("keydown", function (event) {
    if (!stage() || typing(event.target)) return;
    if (tool(event)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if ((event.key === " " || event.key === "Enter") && pressable(event.target)) return;
    var card = currentCard();
    var next = stage().querySelector("[data-next]");
    if (next && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); next.click(); return; }
    if (!card) return;
    if (card.dataset.flipped !== "true") {
      if (event.key === " " || event.key === "Enter") { event.preventDefault(); flip(card); }
      return;
    }
    if (event.key === " " || event.key === "Enter") { event.preventDefault(); return; }
    if (/^[1-4]$/.test(event.key)) {
      event.preventDefault();
      var form = card.querySelector(".study-answers");
      // Until htmx has wired the freshly swapped form, a click would post it
      // the old-fashioned way (a full page load): keep the key for a moment.
      if (form && !form.hasAttribute("data-ready")) { pendingKey = event.key; return; }
      press(card, event.key);
    }
  });

  var pendingKey = null;
  function press(card, key) {
    var answer = card.querySelector('.study-answers button[data-key="' + key + '"]');
    if (answer && !answer.disabled) answer.click();
  }

  // htmx fires htmx:load once it has processed new content (and the page).
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    var forms = root.matches && root.matches("form[hx-post]") ? [root] : root.querySelectorAll("form[hx-post]");
    Array.prototype.forEach.call(forms, function (form) { form.setAttribute("data-ready", ""); });
    var card = currentCard();
    if (pendingKey && card) { var key = pendingKey; pendingKey = null; press(card, key); }
  });

  // Fill in how long the student looked at the card before answering.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.querySelector || !elt.querySelector('input[name="response_ms"]')) return;
    var value = String(Date.now() - shownAt);
    var params = event.detail.parameters;
    if (typeof params.set === "function") params.set("response_ms", value);
    else params.response_ms = value;
  });
  document.addEventListener("submit", function (event) {
    var field = event.target.querySelector && event.target.querySelector('input[name="response_ms"]');
    if (field) field.value = String(Date.now() - shownAt);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== stage()) return;
    shownAt = Date.now();
    pendingKey = null;
    var input = stage().querySelector("input[name=answer]");
    var next = stage().querySelector("[data-next]");
    if (input) input.focus();
    else if (next) next.focus();
    else stage().focus({ preventScroll: true });
  });
})();
