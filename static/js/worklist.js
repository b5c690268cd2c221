// The worklist's "Log" buttons without a page load: the POST is sent by fetch, the list is read again and
// merged in place, and the focus moves to the next row's button, so the scroll position stays where it was.
// Without JavaScript the same forms post and redirect back to the list, the next row's button autofocused.
(function () {
  "use strict";
  var region = document.getElementById("worklist-region");
  var announce = document.getElementById("worklist-announce");
  if (!region || !window.fetch || !window.DOMParser) { return; }
  var listPath = region.dataset.worklistUrl;

  // Rows are updated cell by cell, so the labels table-reflow.js gave the cells (phone cards) stay.
  function mergeRows(body, freshBody) {
    var kept = {};
    Array.prototype.forEach.call(body.rows, function (row) { if (row.id) { kept[row.id] = row; } });
    var freshRows = Array.prototype.slice.call(freshBody.rows);
    if (freshRows.some(function (row) { return !row.id; })) {
      body.innerHTML = freshBody.innerHTML;  // the empty list's one row
      return;
    }
    freshRows.forEach(function (fresh) {
      var row = kept[fresh.id];
      if (row) {
        Array.prototype.forEach.call(fresh.cells, function (cell, index) {
          if (row.cells[index]) { row.cells[index].innerHTML = cell.innerHTML; }
        });
        delete kept[fresh.id];
      } else {
        row = document.importNode(fresh, true);
      }
      body.appendChild(row);  // in the fresh order
    });
    Object.keys(kept).forEach(function (id) { kept[id].remove(); });
  }

  function swapIn(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var next = fresh.getElementById("worklist-region");
    var body = region.querySelector("tbody");
    if (!next || !body || !next.querySelector("tbody")) { return false; }
    // The browser's scroll anchoring would move the view to follow a row; the list keeps its place instead,
    // so the next row slides up under the pointer.
    var scrolled = window.scrollY;
    region.querySelector("section").innerHTML = next.querySelector("section").innerHTML;
    mergeRows(body, next.querySelector("tbody"));
    var pages = region.querySelector(".worklist-pages");
    var freshPages = next.querySelector(".worklist-pages");
    if (pages && freshPages) { pages.innerHTML = freshPages.innerHTML; }
    window.scrollTo(window.scrollX, scrolled);
    var messages = fresh.querySelector(".messages");
    if (announce) { announce.textContent = messages ? messages.textContent.replace(/\s+/g, " ").trim() : ""; }
    var target = region.querySelector("[autofocus]") || document.getElementById("counts-heading");
    if (target.id === "counts-heading") { target.setAttribute("tabindex", "-1"); }
    target.focus({ preventScroll: true });
    // Kept scroll may leave the next button off screen (the list got shorter): reveal it, no further.
    var box = target.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      target.scrollIntoView({ block: "nearest", behavior: "instant" });
    }
    return true;
  }

  function reload(href) {
    return fetch(href, { credentials: "same-origin" }).then(function (response) {
      return response.text();
    }).then(function (html) {
      if (!swapIn(html)) { window.location.assign(href); }
    });
  }

  function submit(form) {
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    var posted = false;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      posted = true;
      return response.json();
    }).then(function (answer) {
      var location = new URL(answer.location, window.location.href);
      if (location.pathname !== listPath) {
        window.location.assign(location.href);  // the dose form, pre-filled, with the message
        return null;
      }
      return reload(location.href);
    }).catch(function () {
      if (posted) {
        window.location.assign(listPath);  // stored: show the list as it is now
      } else {
        // Refused or unreachable: let the browser post the form itself and show the server's answer.
        HTMLFormElement.prototype.submit.call(form);
      }
    });
  }

  region.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("worklist-log")) { return; }
    event.preventDefault();
    submit(form);
  });
})();
