// The reveal page's confirm button: the passkey's answer to this reveal's options, posted; the values it gets shown
// as text (never as markup), hidden again after the seconds the bot says.
document.getElementById("confirm").addEventListener("click", async () => {
  const button = document.getElementById("confirm");
  button.disabled = true;
  try {
    status.textContent = "Asking your browser for your passkey…";
    const credential = await asserted(location.pathname + "/options");
    const done = await post(location.pathname, { credential: credential });
    const table = document.getElementById("values");
    for (const v of done.values) {
      const row = table.insertRow();
      row.dataset.testid = "hidden-value";
      row.insertCell().textContent = v.where;
      row.insertCell().textContent = v.kind;
      const code = document.createElement("code");
      code.dataset.testid = "value";
      code.textContent = v.value;
      row.insertCell().appendChild(code);
    }
    button.remove();
    table.hidden = false;
    status.textContent = "Shown once, for " + done.shown_seconds + " seconds; this view is audited.";
    setTimeout(() => { table.remove(); document.getElementById("expired").hidden = false; },
               done.shown_seconds * 1000);
  } catch (error) {
    button.disabled = false;
    status.textContent = (error && error.name === "NotAllowedError")
      ? "No passkey answered: it was cancelled or timed out. Nothing was shown; try again (the link still works)."
      : ((error && error.message) || String(error));
  }
});
