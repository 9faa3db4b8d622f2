// What the passkey pages share (the step-up pages, the reveal page): base64url to bytes and back, a JSON POST to
// the bot that throws the bot's error, and an assertion as the bot reads it (the answer to navigator.credentials.get).
const toBytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const toText = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const status = document.getElementById("status");
async function post(url, body) {
  const answer = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify(body || {}), credentials: "same-origin" });
  const said = await answer.json().catch(() => ({ error: "The bot answered " + answer.status + "." }));
  if (!answer.ok) throw new Error(said.error || ("The bot answered " + answer.status + "."));
  return said;
}
// An assertion as the bot reads it: the browser's answer to `navigator.credentials.get`, base64url
async function asserted(url) {
  const options = await post(url);
  options.challenge = toBytes(options.challenge);
  options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
  const got = await navigator.credentials.get({ publicKey: options });
  const response = got.response;
  return { id: got.id, rawId: toText(got.rawId), type: got.type,
    authenticatorAttachment: got.authenticatorAttachment || undefined,
    clientExtensionResults: got.getClientExtensionResults(),
    response: { clientDataJSON: toText(response.clientDataJSON),
                authenticatorData: toText(response.authenticatorData),
                signature: toText(response.signature),
                userHandle: response.userHandle ? toText(response.userHandle) : undefined } };
}
