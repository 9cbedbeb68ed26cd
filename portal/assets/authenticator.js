// twostep web authenticator.
//
// One script for two pages, chosen by <body data-page>:
//   enroll-app  makes this browser a push device: a P-256 key that never
//               leaves WebCrypto (non-extractable, kept in IndexedDB), a
//               service worker for notifications, and the registration
//               POST to the portal;
//   app         the authenticator at /app/: lists the logins waiting for
//               this device and signs the user's answers.
//
// It runs under the portal's Content-Security-Policy: no inline script or
// style and no eval, so everything is built with DOM calls, and page data
// only ever goes into textContent (never innerHTML).
"use strict";

(() => {
  const DB_NAME = "twostep";
  const DB_STORE = "authenticator";
  const DB_DEVICE = "device";
  const SW_URL = "/app/sw.js";
  const SW_SCOPE = "/app/";
  const POLL_MS = 3000;
  // SUBSCRIBE_MS bounds the wait for the browser's push service: where a
  // network blocks it (or the browser has none), pushManager.subscribe()
  // never settles. The page may say otherwise (data-subscribe-timeout, in
  // milliseconds).
  const SUBSCRIBE_MS = 15000;

  // ---- encoding ----

  function b64url(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromB64url(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  // sign returns the base64url ECDSA P-256 SHA-256 signature (r||s, 64
  // bytes: WebCrypto's own format, which the server expects) of text.
  async function sign(key, text) {
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(text));
    return b64url(new Uint8Array(sig));
  }

  // ---- storage ----

  function openDB() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error("the authenticator's storage is in use by another tab"));
    });
  }

  async function dbRequest(mode, op) {
    const db = await openDB();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(DB_STORE, mode);
        const req = op(tx.objectStore(DB_STORE));
        // Resolve on the transaction's completion, so a write is durable
        // before the page navigates away.
        tx.oncomplete = () => resolve(req.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error("storage transaction aborted"));
      });
    } finally {
      db.close();
    }
  }

  const loadDevice = () => dbRequest("readonly", (s) => s.get(DB_DEVICE));
  const saveDevice = (rec) => dbRequest("readwrite", (s) => s.put(rec, DB_DEVICE));

  // ---- service worker ----

  // registerWorker registers the worker and resolves once it is active.
  // navigator.serviceWorker.ready would never resolve on the enrolment
  // page, which is outside the worker's /app/ scope.
  async function registerWorker() {
    const reg = await navigator.serviceWorker.register(SW_URL, { scope: SW_SCOPE });
    if (reg.active) return reg;
    const worker = reg.installing || reg.waiting;
    await new Promise((resolve, reject) => {
      if (!worker) return resolve();
      worker.addEventListener("statechange", () => {
        if (worker.state === "activated") resolve();
        if (worker.state === "redundant") reject(new Error("the service worker failed to install"));
      });
    });
    return reg;
  }

  // ---- Web Push ----

  function subscribeTimeout() {
    const ms = Number(document.body.dataset.subscribeTimeout);
    return Number.isFinite(ms) && ms > 0 ? ms : SUBSCRIBE_MS;
  }

  // subscribe asks the browser's push service for a subscription, and
  // gives up after ms. A subscription that comes later is dropped: the
  // portal never learns of it, so nothing would be sent to it.
  function subscribe(pushManager, options, ms) {
    const asked = pushManager.subscribe(options);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        asked.then((sub) => sub.unsubscribe()).catch(() => {});
        reject(new Error("the browser's push service did not answer within " + Math.round(ms / 1000) + " seconds"));
      }, ms);
      asked.then(
        (sub) => {
          clearTimeout(timer);
          resolve(sub);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  // ---- HTTP ----

  async function postJSON(url, body, headers) {
    const resp = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await resp.json();
    } catch (e) {
      // A proxy's HTML error page: the status says enough.
    }
    return { status: resp.status, ok: resp.ok, data: data || {} };
  }

  const byId = (id) => document.getElementById(id);

  function element(tag, attrs, text) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // ---- enrolment ----

  function enrollPage() {
    const form = byId("enroll-app-form");
    const button = byId("enroll-app");
    const nameInput = byId("device-name");
    const status = byId("enroll-status");
    const say = (msg) => {
      status.textContent = msg;
    };
    if (!window.isSecureContext || !window.crypto || !crypto.subtle || !window.indexedDB) {
      say("This browser cannot be an authenticator: it needs a secure (https) page with WebCrypto and IndexedDB.");
      button.disabled = true;
      return;
    }
    let busy = false;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (busy) return;
      const name = nameInput.value.trim();
      if (!name) {
        say("Give this device a name, such as “My phone”.");
        nameInput.focus();
        return;
      }
      busy = true;
      button.disabled = true;
      try {
        await enroll(name, say);
      } catch (e) {
        say(e.message || String(e));
        busy = false;
        button.disabled = false;
      }
    });
    // Pressable only now: before, a press would only have reloaded the page.
    button.disabled = false;
  }

  async function enroll(name, say) {
    const body = document.body;
    const vapid = body.dataset.vapid || "";
    // Asked first, while the button press still counts as a user gesture
    // (Safari and Firefox ask for permission only then).
    const permission =
      vapid && "Notification" in window && Notification.permission === "default"
        ? new Promise((resolve) => {
            // Older Safari answers through the callback and returns nothing.
            const p = Notification.requestPermission(resolve);
            if (p && p.then) p.then(resolve, () => resolve("default"));
          })
        : Promise.resolve(window.Notification ? Notification.permission : "denied");

    say("Creating this device's key…");
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const publicKey = b64url(new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey)));

    say("Installing the authenticator…");
    let reg = null;
    // off says why notifications are off, if they are: the device is then
    // added as an in-app one, and the authenticator says why.
    let off = "";
    try {
      reg = await registerWorker();
    } catch (e) {
      off = "the authenticator could not install its service worker: " + e.message;
    }

    let subscription = null;
    if (off) {
      // said above
    } else if (!vapid) {
      off = "this server does not send notifications";
    } else if (!reg.pushManager) {
      off = "this browser cannot receive notifications";
    } else if ((await permission) === "denied") {
      off = "notifications are blocked for this site";
    } else {
      say("Turning on notifications…");
      try {
        const sub = await subscribe(reg.pushManager, { userVisibleOnly: true, applicationServerKey: fromB64url(vapid) }, subscribeTimeout());
        const json = sub.toJSON();
        subscription = { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } };
      } catch (e) {
        off = e.message || String(e);
      }
    }
    const note = off ? "Notifications are off (" + off + "): keep the authenticator open to see login requests." : "";

    say("Registering this device…" + (note ? " " + note : ""));
    const resp = await postJSON(
      "/devices/add/app",
      { name, public_key: publicKey, subscription },
      { "X-CSRF-Token": body.dataset.csrf || "" },
    );
    if (!resp.ok) {
      throw new Error(resp.data.error || "The portal refused to add this device (HTTP " + resp.status + ").");
    }
    const { user, device } = resp.data;
    if (!user || !device) throw new Error("The portal's answer did not name the new device.");
    // Replaces any device this browser held before; that one stays listed
    // in the portal for the user to remove.
    await saveDevice({
      user,
      device,
      name: resp.data.name || name,
      key: keys.privateKey,
      publicKey,
      notifications: subscription !== null,
      notificationsOff: off,
    });
    if (navigator.storage && navigator.storage.persist) {
      // Asks the browser not to evict the key under storage pressure.
      await navigator.storage.persist().catch(() => false);
    }
    say("This device is set up." + (note ? " " + note : "") + " Opening the authenticator…");
    location.assign("/app/");
  }

  // ---- the authenticator ----

  async function appPage() {
    const status = byId("app-status");
    const loading = byId("app-loading");
    let statusFromPoll = false;
    const say = (msg, fromPoll) => {
      status.textContent = msg;
      statusFromPoll = !!fromPoll;
    };

    if ("serviceWorker" in navigator) {
      // Keeps the worker registered and current; the page works without it.
      registerWorker().catch((e) => console.warn("service worker:", e.message));
    }

    let rec = null;
    try {
      rec = await loadDevice();
    } catch (e) {
      say("This browser's storage cannot be read: " + e.message);
    }
    if (loading) loading.hidden = true;
    if (!rec || !rec.key || !rec.user || !rec.device) {
      byId("app-setup").hidden = false;
      return;
    }
    byId("app-user").textContent = rec.user;
    byId("app-device").textContent = rec.name || rec.device;
    byId("app-whoami").hidden = false;
    byId("app-notice").hidden = rec.notifications !== false;
    if (rec.notificationsOff) byId("app-notice-why").textContent = " (" + rec.notificationsOff + ")";
    byId("app-logins").hidden = false;

    // renamed shows the name the portal gives the device now, and keeps
    // it for the next start.
    async function renamed(name) {
      if (!name || name === rec.name) return;
      rec.name = name;
      byId("app-device").textContent = name;
      await saveDevice(rec).catch((e) => console.warn("storage:", e.message));
    }

    const list = byId("app-pushes");
    const empty = byId("app-empty");
    const cards = new Map(); // push id -> {push, el}

    const updateEmpty = () => {
      empty.hidden = cards.size > 0;
    };

    function removeCard(id, hadFocus) {
      const c = cards.get(id);
      if (!c) return;
      hadFocus = hadFocus || c.el.contains(document.activeElement);
      c.el.remove();
      cards.delete(id);
      updateEmpty();
      // Keyboard and screen reader users keep their place in the list.
      if (hadFocus) byId("app-logins-title").focus();
    }

    function render(pushes) {
      const seen = new Set();
      for (const p of pushes) {
        seen.add(p.id);
        if (!cards.has(p.id)) {
          const el = card(p);
          list.append(el);
          cards.set(p.id, { push: p, el });
        }
      }
      // Gone from the server's list: answered elsewhere or expired.
      for (const [id, c] of cards) {
        if (!seen.has(id) && !c.el.dataset.busy) removeCard(id);
      }
      updateEmpty();
      tick();
    }

    function card(p) {
      const titleId = "push-" + p.id + "-title";
      const el = element("article", { class: "push", "data-push": p.id, "aria-labelledby": titleId });
      // A push of the portal confirms an action ("Remove the device
      // “phone”"): its title says which, not "Login request".
      el.append(element("h3", { id: titleId, class: "push-title" }, p.purpose || "Login request: " + (p.service || "unknown service")));

      const facts = element("dl", { class: "push-facts" });
      const fact = (label, value, cls) => {
        const dd = element("dd", cls ? { class: cls } : {});
        if (value instanceof Node) dd.append(value);
        else dd.textContent = value;
        facts.append(element("dt", {}, label), dd);
        return dd;
      };
      fact("Service", p.service || "unknown");
      if (p.nas && !p.purpose) fact("Via", p.nas);
      fact("User", p.user);
      if (p.from) fact("From", p.from, "push-from");
      const created = new Date(p.created);
      fact("Asked at", element("time", { datetime: p.created }, localTime(created)));
      const expires = element("time", { datetime: p.expires, class: "push-expires" });
      fact("Expires", expires);
      el.append(facts);

      let numberInput = null;
      if (p.number) {
        const wrap = element("div", { class: "push-number" });
        const inputId = "number-" + p.id;
        wrap.append(element("label", { for: inputId }, "Enter the number shown on your login screen"));
        numberInput = element("input", {
          id: inputId,
          type: "text",
          inputmode: "numeric",
          autocomplete: "off",
          maxlength: "2",
          pattern: "[0-9]{1,2}",
          required: "",
          "aria-required": "true",
        });
        wrap.append(numberInput);
        el.append(wrap);
      }

      const actions = element("div", { class: "push-actions" });
      // push-<action> for authenticator.css; secondary and danger are
      // portal.css's button styles.
      const button = (action, label, style) =>
        element("button", { type: "button", "data-action": action, class: "push-" + action + (style ? " " + style : "") }, label);
      actions.append(button("approve", "Approve"), button("deny", "Deny", "secondary"), button("fraud", "This wasn't me", "secondary"));
      el.append(actions);

      // Reporting locks the account, so it takes a second, explained press.
      const confirm = element("div", { class: "push-confirm", hidden: "" });
      confirm.append(
        element(
          "p",
          {},
          "Report this login as not yours? It is denied, and your account is locked at once: " +
            "nobody can sign in with it, you included, until the help desk unlocks it. " +
            "Do this if you did not try to sign in.",
        ),
        button("fraud-confirm", "Report and lock my account", "danger"),
        button("fraud-cancel", "Cancel", "secondary"),
      );
      el.append(confirm);
      const error = element("p", { class: "push-error", role: "alert" });
      el.append(error);

      el.addEventListener("click", (ev) => {
        const b = ev.target.closest("button[data-action]");
        if (!b || el.dataset.busy) return;
        error.textContent = "";
        switch (b.dataset.action) {
          case "approve":
            if (numberInput && !/^[0-9]{1,2}$/.test(numberInput.value.trim())) {
              error.textContent = "Enter the number shown on your login screen first.";
              numberInput.focus();
              return;
            }
            answer(p, el, "approved", numberInput ? numberInput.value.trim() : "", error);
            break;
          case "deny":
            answer(p, el, "denied", "", error);
            break;
          case "fraud":
            confirm.hidden = false;
            actions.hidden = true;
            confirm.querySelector("[data-action=fraud-confirm]").focus();
            break;
          case "fraud-cancel":
            confirm.hidden = true;
            actions.hidden = false;
            actions.querySelector("[data-action=fraud]").focus();
            break;
          case "fraud-confirm":
            answer(p, el, "fraud", "", error);
            break;
        }
      });
      if (numberInput) {
        numberInput.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter") {
            ev.preventDefault();
            actions.querySelector("[data-action=approve]").click();
          }
        });
      }
      return el;
    }

    const done = {
      approved: "Approved",
      denied: "Denied",
      fraud: "Reported: your account is locked; contact the help desk",
    };
    const refused = {
      403: "Refused: this device could not prove itself (was it removed?)",
      409: "This login was already answered",
      410: "This login timed out",
      422: "Wrong number: the login is denied",
    };

    async function answer(p, el, decision, number, error) {
      el.dataset.busy = "1";
      // Disabling the pressed button drops the focus: remember it.
      const pressed = el.contains(document.activeElement) ? document.activeElement : null;
      const buttons = el.querySelectorAll("button");
      buttons.forEach((b) => (b.disabled = true));
      try {
        const at = Math.floor(Date.now() / 1000);
        const signature = await sign(rec.key, "twostep-push-v1\n" + p.id + "\n" + decision + "\n" + number + "\n" + at);
        const body = { push: p.id, device: rec.device, decision, at, signature };
        if (number) body.number = number;
        const resp = await postJSON("/api/push/v1/answer", body);
        const what = (p.purpose || p.service || "login") + (p.from ? " from " + p.from : "");
        if (resp.ok) {
          say((done[resp.data.state] || done[decision]) + ": " + what + ".");
          removeCard(p.id, !!pressed);
          return;
        }
        const msg = refused[resp.status] || "The answer was not accepted (HTTP " + resp.status + ")";
        const detail = resp.data.error && resp.data.error !== msg ? " (" + resp.data.error + ")" : "";
        if (resp.status in refused) {
          // Final: the login cannot be answered again.
          say(msg + ": " + what + "." + detail);
          removeCard(p.id, !!pressed);
          return;
        }
        error.textContent = msg + "." + detail;
      } catch (e) {
        error.textContent = "The answer could not be sent: " + e.message;
      }
      delete el.dataset.busy;
      buttons.forEach((b) => (b.disabled = false));
      if (pressed) pressed.focus();
    }

    // The countdown of every card; an expired card cannot be answered.
    function tick() {
      const now = Date.now();
      for (const { push, el } of cards.values()) {
        const exp = new Date(push.expires);
        const left = Math.round((exp.getTime() - now) / 1000);
        const t = el.querySelector(".push-expires");
        if (left > 0) {
          t.textContent = "in " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + " (at " + localTime(exp) + ")";
        } else if (!el.classList.contains("push-expired")) {
          t.textContent = "expired at " + localTime(exp);
          el.classList.add("push-expired");
          el.querySelectorAll("button, input").forEach((b) => (b.disabled = true));
        }
      }
    }
    setInterval(tick, 1000);

    let polling = false;
    async function poll() {
      if (polling) return;
      polling = true;
      try {
        const at = Math.floor(Date.now() / 1000);
        const signature = await sign(rec.key, "twostep-pending-v1\n" + rec.user + "\n" + rec.device + "\n" + at);
        const resp = await postJSON("/api/push/v1/pending", { user: rec.user, device: rec.device, at, signature });
        if (resp.ok) {
          if (statusFromPoll) say("");
          render(resp.data.pushes || []);
          await renamed(resp.data.device_name);
        } else if (resp.status === 403) {
          say(
            "The server refused this device: it may have been removed from your account. " +
              "Add it again from My Settings & Devices." +
              (resp.data.error ? " (" + resp.data.error + ")" : ""),
            true,
          );
        } else {
          say("Cannot list login requests: " + (resp.data.error || "HTTP " + resp.status), true);
        }
      } catch (e) {
        say("Cannot reach the server: " + e.message, true);
      } finally {
        polling = false;
      }
    }

    let timer = 0;
    function schedule() {
      clearTimeout(timer);
      if (document.visibilityState === "visible") {
        timer = setTimeout(async () => {
          await poll();
          schedule();
        }, POLL_MS);
      }
    }
    const pollNow = async () => {
      await poll();
      schedule();
    };
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") pollNow();
      else clearTimeout(timer);
    });
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (ev) => {
        if (ev.data && ev.data.type === "push") pollNow();
      });
      // addEventListener, unlike onmessage, does not start the queue.
      navigator.serviceWorker.startMessages();
    }
    updateEmpty();
    await pollNow();
  }

  function localTime(d) {
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function start() {
    const page = document.body.dataset.page;
    const run = page === "enroll-app" ? enrollPage : page === "app" ? appPage : null;
    if (!run) return;
    Promise.resolve(run()).catch((e) => {
      console.error(e);
      const status = byId(page === "app" ? "app-status" : "enroll-status");
      if (status) status.textContent = "Something went wrong: " + (e.message || e);
    });
  }

  start();
})();
