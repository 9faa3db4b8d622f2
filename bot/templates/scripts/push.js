// The devices page (push/devices.html): a real service worker registered, a subscription from the browser's
// PushManager (or, in dev, from the local push service, PUSH_LOCAL_SERVICE_URL: Chromium's PushManager only talks to
// Google), posted to the bot as JSON; a device removed the same way.
(function () {
  const box = document.getElementById("push");
  const button = document.getElementById("subscribe");
  if (!box || !button) { return; }
  const status = document.getElementById("status");
  const say = (text, error) => { status.textContent = text; status.className = error ? "error" : ""; };
  const post = (path, body) => fetch(path, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  async function subscription(registration) {
    if (box.dataset.local) {
      const given = await fetch(box.dataset.local.replace(/\/$/, "") + "/subscriptions", {method: "POST"});
      if (!given.ok) { throw new Error("the local push service gave no subscription"); }
      return given.json();
    }
    const made = await registration.pushManager.subscribe({userVisibleOnly: true,
                                                          applicationServerKey: bytes(box.dataset.key)});
    return made.toJSON();
  }
  button.addEventListener("click", async () => {
    try {
      if (Notification.permission !== "granted" && !box.dataset.local) { await Notification.requestPermission(); }
      const registration = await navigator.serviceWorker.register("/app/sw.js", {scope: "/app/"});
      await navigator.serviceWorker.ready;
      const answer = await post("/app/push/devices", await subscription(registration));
      const said = await answer.json();
      if (!answer.ok) { say(said.error || "Not turned on.", true); return; }
      say("Notifications are on for this device.", false);
      window.location.reload();
    } catch (err) {
      say("Not turned on: " + err.message, true);
    }
  });
  for (const remove of document.querySelectorAll("button.remove")) {
    remove.addEventListener("click", async () => {
      const answer = await post("/app/push/devices/remove", {device: remove.dataset.device});
      if (answer.ok) { window.location.reload(); } else { say("Not removed.", true); }
    });
  }
})();
