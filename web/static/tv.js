// ?tv=1: show one recent result at a time, large, and move on every few seconds; the page
// reloads itself (meta refresh) for new results.
(function () {
  "use strict";
  var list = document.querySelector(".posts.cycle");
  if (!list) return;
  var posts = list.querySelectorAll(".post");
  if (posts.length < 2) return;
  list.classList.add("js");
  var i = 0;
  setInterval(function () {
    posts[i].classList.remove("current");
    i = (i + 1) % posts.length;
    posts[i].classList.add("current");
  }, 8000);
})();
