// Zart admin: live updates of the page's #live region (pausable), and confirmations
// before actions. Served from the admin itself; the page allows no other script.
(function () {
  "use strict";

  // Forms that change something and carry data-confirm ask first, in the page's own
  // dialog (a native confirm() would block the page while it is open).
  var dialog = document.getElementById("confirm-dialog");
  var asking = null;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (!question || !dialog || typeof dialog.showModal !== "function") {
      return;
    }
    event.preventDefault();
    asking = form;
    dialog.querySelector("p").textContent = question;
    dialog.returnValue = "";
    dialog.showModal();
  });
  if (dialog) {
    dialog.addEventListener("close", function () {
      var form = asking;
      asking = null;
      // form.submit() fires no submit event: the question is not asked twice.
      if (form && dialog.returnValue === "yes") {
        form.submit();
      }
    });
  }

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
  var shown = null;

  function fragmentUrl() {
    var url = new URL(window.location.href);
    url.searchParams.delete("notice");
    url.searchParams.set("fragment", "1");
    return url.toString();
  }

  // The page says how often at most it may be read again (a heavy page, less often).
  var every = parseInt(region.getAttribute("data-every") || "1000", 10) || 1000;
  var last = 0;
  var timer = null;

  function refresh() {
    if (paused || loading) {
      pending = true;
      return;
    }
    var wait = last + every - Date.now();
    if (wait > 0) {
      if (!timer) {
        timer = window.setTimeout(function () {
          timer = null;
          refresh();
        }, wait);
      }
      return;
    }
    last = Date.now();
    loading = true;
    fetch(fragmentUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        // Someone typing in a form of the region keeps it: the update waits for them. So
        // does a confirmation being asked: its form must still be in the page when the
        // answer submits it (a detached form submits nothing).
        var active = document.activeElement;
        var typing = active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
        if (typing || (dialog && dialog.open)) {
          pending = true;
          return;
        }
        if (html !== shown) {
          region.innerHTML = html;
          shown = html;
        }
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

  function catchUp() {
    if (pending && !paused && !loading) {
      pending = false;
      refresh();
    }
  }
  region.addEventListener("focusout", catchUp);
  if (dialog) {
    dialog.addEventListener("close", catchUp);
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

  // One stream while the page is shown. A page left for another may be kept (the
  // back-forward cache) with its stream open, and browsers allow few connections per
  // host: close it on the way out, open it again if the page comes back.
  var stream = null;
  function listen() {
    stream = new EventSource(base + "/api/v1/stream");
    stream.addEventListener("change", refresh);
    stream.addEventListener("error", function () {
      state.textContent = paused ? "paused" : "live · reconnecting";
    });
  }
  window.addEventListener("pagehide", function () {
    if (stream) {
      stream.close();
      stream = null;
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && !stream) {
      listen();
      refresh();
    }
  });
  listen();
})();
