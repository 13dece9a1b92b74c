// Passkeys and security keys: the browser's half of WebAuthn (navigator.credentials).
// Progressive enhancement: a form marked data-webauthn stays hidden without this file (and
// without WebAuthn in the browser), and the page says so and offers the other ways.
//
// <form data-webauthn="get|create"> carries its options either in a JSON block
// (data-options="<id of a <script type=application/json>>") or from a same-origin POST
// (data-options-url: answers {flow_id, options}). The key's answer is put, as JSON, into the
// form's hidden "credential" field and the form is submitted like any other, CSRF token and all.
(() => {
  "use strict";

  const fromB64url = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64url = (buffer) => {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (list) => (list || []).map((d) => ({ ...d, id: fromB64url(d.id) }));

  const creationOptions = (json) => {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return {
      ...json,
      challenge: fromB64url(json.challenge),
      user: { ...json.user, id: fromB64url(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  };
  const requestOptions = (json) => {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return { ...json, challenge: fromB64url(json.challenge), allowCredentials: descriptors(json.allowCredentials) };
  };

  // RegistrationResponseJSON / AuthenticationResponseJSON.
  const answerJSON = (credential) => {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  };

  const supported = () => Boolean(window.PublicKeyCredential && navigator.credentials);

  const say = (form, text) => {
    const status = form.querySelector("[data-webauthn-status]");
    if (status && text) {
      status.textContent = text;
      status.hidden = false;
    }
  };

  // Options, and the hidden fields that go with them (a passkey flow's id), for one request:
  // each request keeps its own, so a late answer to another request can never mix them up.
  const optionsFor = async (form, signal) => {
    if (form.dataset.options) {
      return { options: JSON.parse(document.getElementById(form.dataset.options).textContent), fields: {} };
    }
    const answer = await fetch(form.dataset.optionsUrl, { method: "POST", credentials: "same-origin", signal });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error ? body.error.message : answer.statusText);
    return { options: body.options, fields: { flow_id: body.flow_id } };
  };

  let pendingConditional = null; // the passkey request waiting in the username field's autofill
  let buttonUsed = false; // once the person pressed a key button, no autofill request starts

  const use = async (form, mediation) => {
    const controller = new AbortController();
    if (mediation) pendingConditional = controller;
    const { options, fields } = await optionsFor(form, controller.signal);
    let credential;
    if (form.dataset.webauthn === "create") {
      credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    } else {
      const request = { publicKey: requestOptions(options), signal: controller.signal };
      if (mediation) request.mediation = mediation;
      credential = await navigator.credentials.get(request);
    }
    if (controller.signal.aborted) return;
    for (const [name, value] of Object.entries(fields)) form.elements[name].value = value;
    const trust = document.getElementById("trust-device"); // the code form's checkbox, if any
    if (trust && form.elements.trust_device) form.elements.trust_device.value = trust.checked ? "1" : "";
    form.elements.credential.value = JSON.stringify(answerJSON(credential));
    form.submit();
  };

  const start = async (form, mediation) => {
    if (mediation && buttonUsed) return;
    if (!mediation) buttonUsed = true;
    if (!mediation && pendingConditional) {
      pendingConditional.abort(); // the button wins over the autofill request, at any stage
      pendingConditional = null;
    }
    try {
      await use(form, mediation);
    } catch (error) {
      if (mediation || error.name === "AbortError") return;
      say(form, error.name === "NotAllowedError" ? form.dataset.msgCancelled : form.dataset.msgFailed);
    }
  };

  document.addEventListener("DOMContentLoaded", async () => {
    const forms = document.querySelectorAll("form[data-webauthn]");
    if (!forms.length) return;
    if (!supported()) {
      for (const note of document.querySelectorAll("[data-no-webauthn]")) note.hidden = false;
      return;
    }
    for (const element of document.querySelectorAll("[data-webauthn-only]")) element.hidden = false;
    for (const form of forms) {
      form.hidden = false;
      form.addEventListener("submit", (event) => {
        if (!form.elements.credential.value) {
          event.preventDefault();
          start(form);
        }
      });
      if (form.dataset.autostart !== undefined) start(form);
    }
    const conditional = document.querySelector("form[data-webauthn][data-conditional]");
    if (conditional && PublicKeyCredential.isConditionalMediationAvailable) {
      if (await PublicKeyCredential.isConditionalMediationAvailable()) start(conditional, "conditional");
    }
  });
})();
