// twostep authenticator's service worker (served at /app/sw.js, scope
// /app/). It only turns Web Push messages into notifications and wakes
// the open authenticator; it caches nothing, so the app never shows a
// stale login list.
"use strict";

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// A push carries the notify.Message JSON: tx, user, device, service, nas,
// from, purpose, created, expires, number, answer. It holds no secret; the
// app fetches the full, signed list itself.
self.addEventListener("push", (event) => {
  let msg = {};
  try {
    msg = event.data ? event.data.json() : {};
  } catch (e) {
    msg = {};
  }
  const service = msg.service || "a service";
  const body = (msg.user || "") + (msg.from ? " from " + msg.from : "");
  event.waitUntil(
    (async () => {
      // userVisibleOnly subscriptions must show a notification for every
      // push, even when the app is open. It is shown before the open app
      // is woken, so that whatever the app then does finds it there.
      // A push of the portal confirms an action ("Remove the device
      // “phone”"): the title says which, not "Login request".
      const title = msg.purpose || "Login request: " + service;
      await self.registration.showNotification(title, {
        body,
        tag: msg.tx || "twostep-login",
        data: { tx: msg.tx },
        requireInteraction: true,
        icon: "/assets/icon-192.png",
      });
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) client.postMessage({ type: "push", tx: msg.tx });
    })(),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).pathname.startsWith("/app/") && "focus" in client) {
          client.postMessage({ type: "push", tx: event.notification.data && event.notification.data.tx });
          return client.focus();
        }
      }
      return self.clients.openWindow("/app/");
    })(),
  );
});
