// worksync board: follows the server's change feed (SSE) and keeps the open page current.
//
// Rules: no text from the work index is ever inserted as HTML. Activity lines are built with
// textContent; a page refresh swaps in the #live part of the same page as the server rendered
// it (already escaped, parsed inert by DOMParser, and the CSP runs no inline script).
(function () {
  "use strict";
  var body = document.body;
  var cursor = body.dataset.cursor;
  if (!cursor || !window.EventSource) { return; }
  var project = body.dataset.project;
  var state = document.getElementById("live-state");
  var activity = document.getElementById("activity");
  var refreshTimer = null;
  var refreshing = false;
  var pending = false;

  function setState(text, down) {
    if (!state) { return; }
    state.textContent = text;
    state.classList.toggle("down", !!down);
  }

  function link(change) {
    if (["story", "backlog", "sprint"].indexOf(change.kind) < 0) {
      return document.createTextNode(String(change.id));
    }
    var a = document.createElement("a");
    a.href = "/p/" + encodeURIComponent(change.project) + "/" + change.kind + "/" + encodeURIComponent(change.id);
    a.textContent = String(change.id);
    return a;
  }

  function addActivity(change) {
    if (!activity) { return; }
    var empty = activity.querySelector(".empty");
    if (empty) { empty.remove(); }
    var li = document.createElement("li");
    li.className = "fresh";
    var time = document.createElement("time");
    time.textContent = String(change.at);
    var who = document.createElement("strong");
    who.textContent = String(change.agent);
    li.append(time, " ", who, " " + change.action + " " + change.kind + " ", link(change));
    if (change.rev) { li.append(" (rev " + change.rev + ")"); }
    if (change.summary) { li.append(": " + change.summary); }
    var where = document.createElement("span");
    where.className = "muted";
    where.textContent = " " + change.project;
    li.append(where);
    activity.prepend(li);
    while (activity.children.length > 200) { activity.lastElementChild.remove(); }
  }

  // Someone typing in a form on the live part keeps it: the refresh waits until they leave it.
  function busy() {
    var live = document.getElementById("live");
    var focused = document.activeElement;
    return live && focused && live.contains(focused) && /^(INPUT|TEXTAREA|SELECT)$/.test(focused.tagName);
  }

  function refresh() {
    var live = document.getElementById("live");
    if (!live) { return; }
    if (busy() || refreshing) { pending = true; return; }
    refreshing = true;
    pending = false;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
        body.dataset.refreshed = String(Date.now());
      })
      .catch(function () { setState("could not refresh; reload the page", true); })
      .finally(function () {
        refreshing = false;
        if (pending) { schedule(); }
      });
  }

  function schedule() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 100);
  }

  document.addEventListener("focusout", function () { if (pending) { schedule(); } });

  var url = "/events?cursor=" + encodeURIComponent(cursor) + (project ? "&project=" + encodeURIComponent(project) : "");
  var source = new EventSource(url);
  source.addEventListener("open", function () { setState("live"); });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setState("disconnected: reload the page (log in again if asked)", true);
    } else {
      setState("reconnecting…", true);
    }
  });
  source.addEventListener("changes", function (event) {
    setState("live");
    var changes = JSON.parse(event.data);
    changes.forEach(addActivity);
    if (!activity) { schedule(); }
  });
  // Leaving the page closes its stream at once: a browser allows six connections to a host,
  // and a page kept for "back" would otherwise hold one open.
  window.addEventListener("pagehide", function () { source.close(); });
  window.addEventListener("pageshow", function (event) { if (event.persisted) { window.location.reload(); } });
  // The feed cannot say what was missed (the server restarted its journal, or too much
  // happened): the page starts over.
  source.addEventListener("resync", function () { window.location.reload(); });
  // The session ended: the login page says what to do.
  source.addEventListener("logged-out", function () { source.close(); window.location.assign("/login"); });
})();
