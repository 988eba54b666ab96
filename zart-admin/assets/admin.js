// Zart admin: live updates of the page's #live region (pausable), and confirmations
// before actions. Served from the admin itself; the page allows no other script.
(function () {
  "use strict";

  // Forms that change something and carry data-confirm ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  var region = document.getElementById("live");
  if (!region || region.getAttribute("data-live") !== "on" || !window.EventSource) {
    return;
  }
  var base = document.body.getAttribute("data-base") || "";
  var toggle = document.getElementById("live-toggle");
  var state = document.getElementById("live-state");
  var paused = false;
  var pending = false;
  var loading = false;

  function fragmentUrl() {
    var url = new URL(window.location.href);
    url.searchParams.delete("notice");
    url.searchParams.set("fragment", "1");
    return url.toString();
  }

  function refresh() {
    if (paused) {
      pending = true;
      return;
    }
    if (loading) {
      pending = true;
      return;
    }
    loading = true;
    fetch(fragmentUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        region.innerHTML = html;
        state.textContent = "live · updated " + new Date().toLocaleTimeString();
        region.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function (error) {
        state.textContent = "live · update failed (" + error.message + ")";
      })
      .then(function () {
        loading = false;
        if (pending && !paused) {
          pending = false;
          refresh();
        }
      });
  }

  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    state.textContent = paused ? "paused" : "live";
    document.body.classList.toggle("paused", paused);
    if (!paused && pending) {
      pending = false;
      refresh();
    }
  });

  var stream = new EventSource(base + "/api/v1/stream");
  stream.addEventListener("change", refresh);
  stream.addEventListener("error", function () {
    state.textContent = paused ? "paused" : "live · reconnecting";
  });
})();
