// Progressive enhancement of the client page; without it the page shows the
// client's local time as it was when the page was rendered.
// - "Their time" on the card keeps ticking, in the client's own time zone, so
//   a page left open over lunch does not mislead the next call.
(function () {
  "use strict";

  var clock = document.querySelector(".tl [data-zone]");
  if (!clock || !window.Intl || !Intl.DateTimeFormat) return;

  var format;
  try {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone: clock.getAttribute("data-zone"),
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    });
  } catch (error) {
    return; // a zone the browser does not know: keep the server's rendering
  }

  function tick() {
    var parts = {};
    format.formatToParts(new Date()).forEach(function (part) {
      parts[part.type] = part.value;
    });
    clock.textContent = parts.weekday + " " + parts.hour + ":" + parts.minute;
  }

  tick();
  window.setInterval(tick, 30 * 1000);
})();

// - A timeline row's time is the client's (their wall clock); hovering it
//   shows the viewer's own, which the server cannot know.
(function () {
  "use strict";

  if (!window.Intl || !Intl.DateTimeFormat) return;
  var format = new Intl.DateTimeFormat(undefined, {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });
  document.querySelectorAll("time[data-viewer-time]").forEach(function (element) {
    var moment = new Date(element.getAttribute("datetime"));
    if (!isNaN(moment)) element.title = "Your time: " + format.format(moment);
  });
})();
