// absence-monitor pages: small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Times are printed in UTC; the tooltip gives the reader's local time.
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      el.title = when.toLocaleString();
    }
  });
  // Gallery filter: show the images whose text (title, domain, source) matches.
  document.querySelectorAll("input.filter[data-gallery]").forEach(function (input) {
    var gallery = document.getElementById(input.getAttribute("data-gallery"));
    if (!gallery) {
      return;
    }
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      gallery.querySelectorAll("li").forEach(function (li) {
        li.hidden = needle !== "" && li.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
  });
  // Thumbnails the engine no longer serves: say so instead of showing a broken image.
  function gone(img) {
    var note = document.createElement("span");
    note.textContent = "thumbnail no longer served";
    img.replaceWith(note);
  }
  document.querySelectorAll(".gallery img").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("loading") !== "lazy") {
      gone(img);
    } else {
      img.addEventListener("error", function () { gone(img); });
    }
  });
})();
