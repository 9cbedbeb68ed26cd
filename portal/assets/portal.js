// The portal's pages work without JavaScript; this script only carries a
// help-desk activation link's recovery passcode from the link's fragment
// (which browsers never send to a server) into the recovery form that
// follows the password.
"use strict";
(function () {
  const key = "twostep-recovery";
  const page = document.body.dataset.page;

  // takeActivation keeps the link's passcode for the recovery form, takes
  // it out of the address bar, and says so.
  function takeActivation() {
    let hash = "";
    try {
      hash = decodeURIComponent(location.hash);
    } catch (e) {
      return; // a malformed link: nothing to take
    }
    const m = /^#recovery=([0-9 ]{6,20})$/.exec(hash);
    if (!m) return;
    sessionStorage.setItem(key, m[1].replace(/ /g, ""));
    history.replaceState(null, "", location.pathname + location.search);
    const note = document.getElementById("activation");
    if (note) note.hidden = false;
    const user = document.getElementById("username");
    if (user && !user.value) user.focus();
  }

  if (page === "signin") {
    takeActivation();
    // The link opened in a tab that shows the sign-in already changes
    // only the fragment: the page is not loaded again.
    window.addEventListener("hashchange", takeActivation);
  } else if (page === "factor") {
    const code = sessionStorage.getItem(key);
    const field = document.getElementById("recovery");
    if (code && field) {
      sessionStorage.removeItem(key);
      field.value = code;
      field.focus();
    }
  }
})();
