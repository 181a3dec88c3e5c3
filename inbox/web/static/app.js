// Sends the session's CSRF token with every htmx request (the token is in a meta tag; the CSP
// allows no inline script). Forms carry it as a hidden field and work without JavaScript.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});

// The inbox list refreshes itself every 30 seconds: the counts per status and the list are
// replaced in place, so keyboard focus and the scroll position stay where they are. It waits while
// the user is working (focus in the list, the counts or a form field, a key pressed or a pointer
// used in the last 15 seconds, text selected, the tab hidden) and tells screen readers politely how
// many cases are new. `synpunkt:refresh` on the document asks for a refresh at once.
(function () {
  var list = document.getElementById("case-list");
  if (!list || !list.dataset.refresh) {
    return;
  }
  var EVERY = 30000;
  var QUIET = 15000;
  var lastActivity = 0;
  var busy = false;

  function noteActivity() {
    lastActivity = Date.now();
  }
  ["keydown", "pointerdown", "wheel", "input"].forEach(function (name) {
    document.addEventListener(name, noteActivity, { capture: true, passive: true });
  });

  function within(id, node) {
    var box = document.getElementById(id);
    return Boolean(box && node && box.contains(node));
  }

  function interacting(force) {
    var active = document.activeElement;
    if (within("case-list", active) || within("counts", active)) {
      return true;
    }
    if (active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
      return true;
    }
    var selection = window.getSelection();
    if (selection && !selection.isCollapsed) {
      return true;
    }
    return !force && (document.hidden || Date.now() - lastActivity < QUIET);
  }

  function references(root) {
    var found = {};
    root.querySelectorAll("tr[data-ref]").forEach(function (row) {
      found[row.getAttribute("data-ref")] = true;
    });
    return found;
  }

  function announce(count) {
    var news = document.getElementById("list-news");
    if (!news || count < 1) {
      return;
    }
    news.textContent = count === 1 ? "1 nytt ärende i listan." : count + " nya ärenden i listan.";
  }

  function refresh(force) {
    var current = document.getElementById("case-list");
    if (busy || !current || interacting(force)) {
      return;
    }
    busy = true;
    fetch(current.dataset.refresh, {
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("the list did not refresh: " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshList = fresh.getElementById("case-list");
        var freshCounts = fresh.getElementById("counts");
        var counts = document.getElementById("counts");
        current = document.getElementById("case-list");
        if (!freshList || !current || interacting(force)) {
          return;
        }
        var before = references(current);
        var added = Object.keys(references(freshList)).filter(function (ref) {
          return !before[ref];
        });
        current.innerHTML = freshList.innerHTML;
        if (counts && freshCounts) {
          counts.innerHTML = freshCounts.innerHTML;
        }
        announce(added.length);
        document.dispatchEvent(new CustomEvent("synpunkt:refreshed", { detail: added.length }));
      })
      .catch(function () {
        // Signed out or offline: the next round tries again; the page itself stays usable.
      })
      .finally(function () {
        busy = false;
      });
  }

  setInterval(function () {
    refresh(false);
  }, EVERY);
  document.addEventListener("synpunkt:refresh", function () {
    refresh(true);
  });
})();

// A destructive action (close, merge, split, delete) asks first: its button carries the question
// in `data-confirm`. Without JavaScript the form submits as it is.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// A form sent back with errors: move focus to the list of them, so a screen reader reads it first.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
});

// --- Presence on the case page (_presence.html, inbox.cases.presence) -------------------------
// While a case is open, the page tells the server so every 30 seconds and shows who else has it
// open, so that two people do not answer the same person at once. The note is a polite live
// region; it is replaced only when it changes, so a screen reader hears a newcomer once. Without
// JavaScript the page still shows, when it is loaded, who had the case open in the last minute.
(function () {
  var box = document.getElementById("presence");
  if (!box || !box.dataset.presence) {
    return;
  }
  var EVERY = 30000;
  var meta = document.querySelector('meta[name="csrf-token"]');

  function report() {
    fetch(box.dataset.presence, {
      method: "POST",
      headers: { "X-CSRF-Token": meta ? meta.getAttribute("content") : "" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("presence not reported: " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("presence");
        if (fresh && fresh.innerHTML.trim() !== box.innerHTML.trim()) {
          box.innerHTML = fresh.innerHTML;
        }
      })
      .catch(function () {
        // Signed out or offline: the next round tries again.
      });
  }

  setInterval(report, EVERY);
})();

// --- Bulk actions on the inbox list (issue 18, item 4) -------------------------------------------
// "Markera alla ärenden på sidan" ticks every case of the page (without JavaScript the server reads
// the box itself and takes every case of the page); it shows whether all, some or none are ticked.
// What is ticked survives the list's refresh in place (the rows are replaced by fresh ones).
(function () {
  var all = document.getElementById("bulk-all");
  var actions = document.getElementById("bulk-actions");
  if (!all || !actions || !document.getElementById("bulk")) {
    return;
  }
  var ticked = {};

  function boxes() {
    return document.querySelectorAll('#case-list input[name="ref"]');
  }

  function remember(box) {
    if (box.checked) {
      ticked[box.value] = true;
    } else {
      delete ticked[box.value];
    }
  }

  function showAll() {
    var list = boxes();
    var on = 0;
    list.forEach(function (box) {
      if (box.checked) {
        on += 1;
      }
    });
    all.checked = list.length > 0 && on === list.length;
    all.indeterminate = on > 0 && on < list.length;
    if (on > 0) {
      actions.open = true; // what can be done with them, once something is ticked
    }
  }

  all.addEventListener("change", function () {
    boxes().forEach(function (box) {
      box.checked = all.checked;
      remember(box);
    });
    all.indeterminate = false;
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box && box.name === "ref" && box.closest && box.closest("#case-list")) {
      remember(box);
      showAll();
    }
  });
  document.addEventListener("synpunkt:refreshed", function () {
    boxes().forEach(function (box) {
      box.checked = Boolean(ticked[box.value]);
    });
    showAll();
  });
  boxes().forEach(remember);
  showAll();
})();
