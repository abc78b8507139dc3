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
      if (stage().querySelector("[data-undo]")) {
        event.preventDefault();
        whenWired(function () { return stage().querySelector("[data-undo]"); }, function (undo) { undo.click(); });
      }
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
    if (next && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      whenWired(function () { return stage().querySelector("[data-next]"); }, function (button) { button.click(); });
      return;
    }
    if (!card) return;
    if (card.dataset.flipped !== "true") {
      if (event.key === " " || event.key === "Enter") { event.preventDefault(); flip(card); }
      return;
    }
    if (event.key === " " || event.key === "Enter") { event.preventDefault(); return; }
    if (/^[1-4]$/.test(event.key)) {
      event.preventDefault();
      var key = event.key;
      whenWired(function () {
        var shown = currentCard();
        return shown && shown.querySelector('.study-answers button[data-key="' + key + '"]');
      }, function (answer) { if (!answer.disabled) answer.click(); });
    }
  });

  // htmx wires freshly swapped content a moment after the swap (its settle
  // step, 20 ms, longer on a busy machine). Clicked before that, an answer or
  // the undo button posts its form the old-fashioned way (a full page load)
  // and "Next card" does nothing: a key's click waits for htmx:load instead.
  var pending = null;
  var HTMX = "form[hx-post], [hx-get], [hx-post]";
  function whenWired(find, act) {
    var element = find();
    if (!element) return;
    var wired = element.closest(HTMX);
    if (wired && !wired.hasAttribute("data-ready")) { pending = function () { whenWired(find, act); }; return; }
    act(element);
  }

  // htmx fires htmx:load once it has processed new content (and the page).
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    var wired = root.matches && root.matches(HTMX) ? [root] : [];
    wired = wired.concat(Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll(HTMX) : []));
    wired.forEach(function (element) { element.setAttribute("data-ready", ""); });
    if (pending) { var run = pending; pending = null; run(); }
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
    pending = null;
    var input = stage().querySelector("input[name=answer]");
    var next = stage().querySelector("[data-next]");
    if (input) input.focus();
    else if (next) next.focus();
    else stage().focus({ preventScroll: true });
  });
})();
