// Progressive: the page works as plain form posts; this adds live cards (server-sent events)
// and the optional location. No inline script (the CSP forbids it).
(function () {
  "use strict";
  var log = document.getElementById("log");
  // The page's very bottom: the composer then sits in its place right under the newest card
  // (scrolling the card itself to the screen's foot would leave it under the sticky composer).
  function newest() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }
  if (log && window.EventSource) {
    var after = log.getAttribute("data-after") || "0";
    var source = new EventSource(log.getAttribute("data-events") + "?after=" + encodeURIComponent(after));
    var end = document.getElementById("end");
    source.addEventListener("card", function (event) {
      if (document.getElementById("m" + event.lastEventId)) return;
      var box = document.createElement("div");
      box.innerHTML = event.data;  // server-rendered, autoescaped HTML of one card
      while (box.firstChild) log.insertBefore(box.firstChild, end);
      newest();
    });
  }
  var locate = document.querySelector(".composer .locate");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    var failed = document.querySelector(".composer .locate-failed");
    locate.addEventListener("click", function () {
      if (failed) failed.hidden = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        var form = locate.form;
        form.elements.lat.value = pos.coords.latitude.toFixed(6);
        form.elements.lon.value = pos.coords.longitude.toFixed(6);
        form.submit();
      }, function () {
        // denied, unavailable or too slow: said, rather than nothing happening
        if (failed) failed.hidden = false;
      }, { timeout: 15000, maximumAge: 60000 });
    });
  }
  // the styled photo button says how many photos are chosen (the native input is hidden)
  var file = document.querySelector(".composer .file");
  if (file) {
    var input = file.querySelector("input[type=file]");
    var caption = file.querySelector("span");
    var plain = caption.textContent;
    input.addEventListener("change", function () {
      var n = input.files ? input.files.length : 0;
      caption.textContent = n ? (file.getAttribute("data-chosen") || "").replace("{n}", n) : plain;
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
    // the box grows with what is typed, up to a few lines (its CSS max-height), then scrolls
    var grow = function () {
      box.style.height = "auto";
      box.style.height = box.scrollHeight + 2 + "px";
    };
    box.addEventListener("input", function () { if (warn) warn.hidden = true; grow(); });
  }
  // the newest card in view: now, and again once pictures (a chart, photos) have their size
  if (log) {
    newest();
    window.addEventListener("load", newest);
  }
})();
