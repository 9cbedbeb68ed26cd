// The portal's pages work without JavaScript; this script only carries a
// help-desk activation link's recovery passcode from the link's fragment
// (which browsers never send to a server) into the recovery form that
// follows the password.
"use strict";
(function () {
  const key = "twostep-recovery";
  const page = document.body.dataset.page;
  if (page === "signin") {
    const m = /^#recovery=([0-9 ]{6,20})$/.exec(decodeURIComponent(location.hash));
    if (m) {
      sessionStorage.setItem(key, m[1].replace(/ /g, ""));
      history.replaceState(null, "", location.pathname);
      const note = document.getElementById("activation");
      if (note) note.hidden = false;
    }
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
