// The step-up pages' forms: enrol a passkey (after confirming with one the person has, when asked), confirm a vote.
const form = document.getElementById("enrol");
function say(text, error) { status.textContent = text; status.className = error ? "error" : ""; }
// The browser's NotAllowedError says only "timed out or was not allowed" (and links a spec): say what it means here
function failed(error, none) {
  return error && error.name === "NotAllowedError" ? none : ((error && error.message) || String(error));
}
if (form) form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value.trim();
  document.getElementById("create").disabled = true;
  try {
    say("Asking your browser for a passkey…");
    const options = await post(location.pathname + "/options");
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = (options.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) }));
    const made = await navigator.credentials.create({ publicKey: options });
    const response = made.response;
    const credential = { id: made.id, rawId: toText(made.rawId), type: made.type,
      authenticatorAttachment: made.authenticatorAttachment || undefined,
      clientExtensionResults: made.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON),
                  attestationObject: toText(response.attestationObject),
                  transports: response.getTransports ? response.getTransports() : [] } };
    const done = await post(location.pathname, { name: name, credential: credential });
    form.remove();
    say("Passkey “" + done.name + "” is set up. You can close this page.");
  } catch (error) {
    document.getElementById("create").disabled = false;
    say(failed(error, "No passkey was made: it was cancelled or timed out. Nothing was set up; try again."), true);
  }
});
// A form confirmed with one of the person's passkeys: the options from `path + "/options"`, the answer sent to
// `path`; once it is taken the form goes, `then` runs and the answer's message shows. `none`: what to say when no
// passkey answered.
function confirmedWithPasskey(confirming, button, asking, path, then, none) {
  if (confirming) confirming.addEventListener("submit", async (event) => {
    event.preventDefault();
    document.getElementById(button).disabled = true;
    try {
      say(asking);
      const credential = await asserted(location.pathname + path + "/options");
      const done = await post(location.pathname + path, { credential: credential });
      confirming.remove();
      then();
      say(done.message);
    } catch (error) {
      document.getElementById(button).disabled = false;
      say(failed(error, none), true);
    }
  });
}
confirmedWithPasskey(document.getElementById("vouch"), "confirm-first", "Asking your browser for one of your passkeys…",
  "/confirm", () => { form.hidden = false; },
  "No passkey of yours answered: it was cancelled or timed out, or none is on this device."
    + " Nothing was added; try again (the link still works).");
confirmedWithPasskey(document.getElementById("vote"), "confirm", "Asking your browser for your passkey…", "", () => {},
  "No passkey answered: it was cancelled or timed out, or none of the passkeys this link allows"
    + " is on this device. Nothing was approved; try again (the link still works).");
