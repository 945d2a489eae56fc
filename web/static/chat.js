// Progressive: the page works as plain form posts; this adds live cards (server-sent events)
// and the optional location. No inline script (the CSP forbids it).
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (log && window.EventSource) {
    var after = log.getAttribute("data-after") || "0";
    var source = new EventSource(log.getAttribute("data-events") + "?after=" + encodeURIComponent(after));
    var end = document.getElementById("end");
    source.addEventListener("card", function (event) {
      if (document.getElementById("m" + event.lastEventId)) return;
      var box = document.createElement("div");
      box.innerHTML = event.data;  // server-rendered, autoescaped HTML of one card
      while (box.firstChild) log.insertBefore(box.firstChild, end);
      end.scrollIntoView({ block: "end" });
    });
  }
  var locate = document.querySelector(".composer .locate");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        var form = locate.form;
        form.elements.lat.value = pos.coords.latitude.toFixed(6);
        form.elements.lon.value = pos.coords.longitude.toFixed(6);
        form.submit();
      });
    });
  }
  // a pressed button shows as the person's own bubble (its label goes with the post)
  document.addEventListener("click", function (event) {
    var b = event.target;
    if (b && b.tagName === "BUTTON" && b.name === "action") {
      var label = b.form.querySelector("input[name=label]");
      if (!label) {
        label = document.createElement("input");
        label.type = "hidden"; label.name = "label"; b.form.appendChild(label);
      }
      label.value = b.getAttribute("data-label") || "";
    }
  }, true);
  // the message box's limit (the conversation's): said before anything is sent, the text kept
  var box = document.querySelector(".composer textarea");
  if (box) {
    var limit = parseInt(box.getAttribute("data-limit") || "0", 10);
    var warn = document.querySelector(".composer .too-long");
    box.form.addEventListener("submit", function (event) {
      var length = Array.from(box.value.trim()).length;
      if (limit && length > limit && warn) {
        event.preventDefault();
        warn.textContent = box.getAttribute("data-too-long");
        warn.hidden = false;
      }
    });
    box.addEventListener("input", function () { if (warn) warn.hidden = true; });
  }
  var end2 = document.getElementById("end");
  if (end2) end2.scrollIntoView({ block: "end" });
})();
