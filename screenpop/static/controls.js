/* callpop agent desk: call controls. Agent status (ready / break with a reason from the
 * dialplan's pause_reasons / after-call work) is a queue pause on the PBX
 * (POST /api/v1/status); a refusal is shown here, in words, never swallowed. */
"use strict";

(function () {
  const {el, api} = window.callpop;
  const boot = window.callpop.boot();
  const reasons = boot.pause_reasons || [];
  const box = document.getElementById("agent-status");
  if (!box) return;
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
    } catch (err) {
      select.value = current;  // the PBX did not change: neither does the menu
      message.textContent = err.message;
      message.className = "form-status small error";
    } finally {
      select.disabled = false;
    }
  }
  select.addEventListener("change", () => setStatus(select.value));
})();
