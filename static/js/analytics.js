/* Browser events for the analytics app: LmsAnalytics.track("card_flipped", {card: 12}).
 * Events are batched (at most 100 per request) and sent to /api/v1/analytics/events/
 * every few seconds and when the page is hidden. Names are lower_snake_case; server-side
 * names (page_view, login, ...) are refused by the API. No build step, no inline script. */
(function () {
  "use strict";
  var ENDPOINT = "/api/v1/analytics/events/";
  var MAX_BATCH = 100;
  var queue = [];
  var timer = null;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function flush() {
    timer = null;
    while (queue.length) {
      var batch = queue.splice(0, MAX_BATCH);
      var body = JSON.stringify({ events: batch });
      // keepalive lets the request outlive the page (sendBeacon cannot send the CSRF header).
      fetch(ENDPOINT, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: body
      }).catch(function () { /* analytics must never disturb the page */ });
    }
  }

  function track(name, properties) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name)) return;
    queue.push({ name: name, properties: properties || {}, timestamp: new Date().toISOString() });
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(function () { flush(); }, 5000);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  /* Any element with data-track="event_name" reports a click. */
  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-track]") : null;
    if (el) track(el.getAttribute("data-track"), { label: (el.getAttribute("data-track-label") || "").slice(0, 100) });
  });
  window.LmsAnalytics = { track: track, flush: flush };
})();
