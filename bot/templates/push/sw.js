// The bot's service worker (bot/push/pages.py serves it at /app/sw.js, issue 90). It shows each push as a
// notification with its Approve and Reject actions, and on a click opens the bot's confirm page for that approval:
// it never decides (only the page's POST does, signed in, with a passkey where step-up is required).
"use strict";

self.addEventListener("install", (event) => { event.waitUntil(self.skipWaiting()); });
self.addEventListener("activate", (event) => { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", (event) => {
  let push = {};
  try { push = event.data ? event.data.json() : {}; } catch (_) { push = {}; }
  const actions = Array.isArray(push.actions) ? push.actions : [];
  const body = [push.agent, push.summary, push.parked].filter(Boolean).join("\n");
  const shown = self.registration.showNotification(push.heading || "Waiting for your decision", {
    body: (push.title ? push.title + "\n" : "") + body,
    tag: push.approval || undefined,
    requireInteraction: true,
    data: {url: push.url || "", actions: Object.fromEntries(actions.map((a) => [a.action, a.url]))},
    actions: actions.map((a) => ({action: a.action, title: a.title})),
  });
  const told = self.clients.matchAll({type: "window", includeUncontrolled: true}).then((clients) => {
    for (const client of clients) { client.postMessage({kind: "push", push: push}); }
  });
  event.waitUntil(Promise.all([shown, told]));
});

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  const url = (data.actions && data.actions[event.action]) || data.url;
  event.notification.close();
  if (url && new URL(url, self.location.origin).origin === self.location.origin) {
    event.waitUntil(self.clients.openWindow(url));  // the confirm page: it decides on its POST, never here
  }
});
