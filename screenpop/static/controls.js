/* callpop agent desk: call controls. Agent status (ready / break with a reason from the
 * dialplan's pause_reasons / after-call work) is a queue pause on the PBX
 * (POST /api/v1/status); a transfer of the call being talked on is
 * POST /api/v1/calls/{id}/transfer. A refusal is shown here, in words, never swallowed. */
"use strict";

(function () {
  const {el, api} = window.callpop;
  const boot = window.callpop.boot();
  const reasons = boot.pause_reasons || [];
  transferControls(window.callpop.boot().transfer || {});
  const box = document.getElementById("agent-status");
  if (!box) return;
  const idleTitle = document.querySelector("#idle h2");
  const idleText = document.querySelector("#idle p");
  const select = document.getElementById("agent-status-select");
  const message = document.getElementById("agent-status-message");

  select.append(
    el("option", {value: "ready"}, "Ready"),
    el("option", {value: "acw"}, "After-call work"),
    ...reasons.map((r) => el("option", {value: "break:" + r}, "Break: " + r)),
  );
  let current = select.value;

  async function setStatus(value) {
    const [status, reason] = value.startsWith("break:") ? ["break", value.slice(6)] : [value, undefined];
    message.textContent = "Changing status…";
    message.className = "form-status small";
    select.disabled = true;
    try {
      await api("POST", "/api/v1/status", reason === undefined ? {status} : {status, reason});
      current = value;
      box.dataset.status = status;
      message.textContent = status === "ready" ? "Ready for calls" : "Paused in your queues";
      message.className = "form-status small ok";
      showIdle(status, reason);
      tickWrapup();  // Ready does not cut the queue's wrap-up short: Asterisk does not
    } catch (err) {
      select.value = current;  // the PBX did not change: neither does the menu
      message.textContent = err.message;
      message.className = "form-status small error";
    } finally {
      select.disabled = false;
    }
  }
  select.addEventListener("change", () => setStatus(select.value));

  /* A pause made elsewhere (a phone's feature code, a supervisor, another tab or the
   * widget) comes back from the PBX: the menu and the idle panel follow it. */
  window.addEventListener("callpop:agentstatus", (event) => {
    const {status, reason} = event.detail;
    const value = status === "break" ? "break:" + reason : status;
    if (select.disabled) return;  // this page's own change is on its way: its answer decides
    if (!Array.from(select.options).some((o) => o.value === value)) {
      // a reason this dialplan does not offer (set by a supervisor, say): shown as it is
      select.append(el("option", {value}, reason ? "Break: " + reason : "Paused"));
    }
    if (value === current && box.dataset.status === status) return;
    select.value = value;
    current = value;
    box.dataset.status = status;
    message.textContent = status === "ready" ? "Ready for calls" : "Paused in your queues";
    message.className = "form-status small ok";
    showIdle(status, reason || "Paused");
    tickWrapup();
  });

  /* After each call a queue rings the agent again only once its wrap-up time has passed
   * (queues.conf wrapuptime: dialplan/queues.yaml `wrapup`), counted from the hang-up. The
   * panel shows that after-call work as it runs down, then Ready again by itself. A break
   * or after-call work chosen in the menu is a pause: it lasts until the agent picks Ready. */
  const wrapups = boot.wrapup_s || {};
  let wrapupEnds = 0, wrapupQueue = "", wrapupTimer = null;
  window.addEventListener("callpop:wrapup", (event) => {
    const pop = event.detail;
    const seconds = wrapups[pop.queue] || 0;
    const since = Date.parse(pop.since);
    if (!seconds || isNaN(since)) return;
    // the PBX's clock said when the call ended; a browser clock behind it must not lengthen it
    const ends = Math.min(since, Date.now()) + seconds * 1000;
    if (ends <= Date.now() || ends <= wrapupEnds) return;
    wrapupEnds = ends;
    wrapupQueue = pop.queue;
    tickWrapup();
  });
  function tickWrapup() {
    clearTimeout(wrapupTimer);
    if (!wrapupEnds) return;
    const left = Math.ceil((wrapupEnds - Date.now()) / 1000);
    if (left <= 0) {
      wrapupEnds = 0;
      if (current === "ready" && !select.disabled && message.className.indexOf("error") < 0) {
        box.dataset.status = "ready";
        message.textContent = "Ready for calls";
        message.className = "form-status small ok";
        showIdle("ready");
      }
      return;
    }
    // a pause says what the agent is doing; a refusal stays until the agent reads it
    if (current === "ready" && !select.disabled && message.className.indexOf("error") < 0) {
      box.dataset.status = "wrapup";
      message.textContent = "Wrap-up: " + left + " s left";
      message.className = "form-status small";
      if (idleTitle) {
        idleTitle.textContent = "After-call work";
        idleText.textContent = "The " + wrapupQueue + " queue rings you again in " + left + " s.";
        const idle = document.getElementById("idle");  // absent while a call is shown
        if (idle) idle.dataset.status = "wrapup";
      }
    }
    wrapupTimer = setTimeout(tickWrapup, ((wrapupEnds - Date.now()) % 1000) || 1000);  // next whole second
  }

  /* The idle panel says what the PBX was told: no "Ready for calls" while on a break. */
  function showIdle(status, reason) {
    if (!idleTitle) return;
    if (status === "ready") {
      idleTitle.textContent = "Ready for calls";
      idleText.textContent = "When a call reaches you, who is calling and why appears here as the phone rings.";
    } else if (status === "acw") {
      idleTitle.textContent = "After-call work";
      idleText.textContent = "Your queues do not ring you until you choose Ready.";
    } else {
      idleTitle.textContent = "On break: " + reason;
      idleText.textContent = "Your queues do not ring you until you choose Ready.";
    }
    const idle = document.getElementById("idle");  // absent while a call is shown
    if (idle) idle.dataset.status = status;
  }

  function transferControls(config) {
    const form = document.getElementById("transfer-form");
    if (!form) return;
    const card = document.getElementById("transfer-card");
    if (!config.enabled) { card.hidden = true; return; }
    const status = document.getElementById("transfer-status");
    const list = document.getElementById("transfer-targets");
    const kind = form.elements.namedItem("kind");
    const mode = form.elements.namedItem("mode");
    function fillTargets() {
      const names = kind.value === "agent" ? config.agents || [] : kind.value === "queue" ? config.queues || [] : [];
      list.replaceChildren(...names.map((n) => el("option", {value: n})));
      form.elements.namedItem("target").placeholder = kind.value === "number" ? "+1 555 123 4567" : (names[0] || "");
      // a queue has nobody to consult before the caller joins it
      mode.querySelector("option[value=attended]").disabled = kind.value === "queue";
      if (kind.value === "queue") mode.value = "blind";
    }
    kind.addEventListener("change", fillTargets);
    fillTargets();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const callId = form.dataset.callId;
      const target = form.elements.namedItem("target").value.trim();
      if (!callId || !target) return;
      const button = document.getElementById("transfer-button");
      button.disabled = true;
      status.textContent = "Transferring to " + target + "…";
      status.className = "form-status small";
      try {
        await api("POST", "/api/v1/calls/" + encodeURIComponent(callId) + "/transfer",
          {mode: mode.value, kind: kind.value, target});
        status.textContent = mode.value === "attended"
          ? "Talk to " + target + ", then hang up to hand the caller over."
          : "Transferred to " + target + ".";
        status.className = "form-status small ok";
      } catch (err) {
        status.textContent = err.message;
        status.className = "form-status small error";
        button.disabled = form.dataset.callId !== callId;
      }
    });
  }
})();
