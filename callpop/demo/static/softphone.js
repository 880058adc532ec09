/* callpop demo: the agent's phone, added to the agent page in demo mode only.
 * On a real desk the agent answers on a desk phone or a softphone and Asterisk tells
 * callpop over AMI; in the demo this bar is that phone. Server data goes in with
 * textContent only. */
"use strict";

(function () {
  const topbar = document.querySelector(".topbar");
  if (!topbar) return;

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  const bar = node("div", "softphone");
  bar.id = "demo-phone";
  bar.dataset.state = "offline";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Demo phone");
  bar.title = "Demo only: on a real desk the agent's own phone rings and Asterisk tells callpop.";
  const icon = node("span", "sp-icon", "☎");
  icon.setAttribute("aria-hidden", "true");
  const text = node("span", "sp-text");
  const title = node("strong", "sp-title", "Demo phone");
  const detail = node("small", "sp-detail", "connecting…");
  detail.id = "demo-phone-detail";
  text.append(title, detail);
  const answer = node("button", "sp-btn sp-answer", "Answer");
  answer.type = "button";
  answer.id = "demo-phone-answer";
  const reject = node("button", "sp-btn sp-reject", "Reject");
  reject.type = "button";
  reject.id = "demo-phone-reject";
  const hangup = node("button", "sp-btn sp-hangup", "Hang up");
  hangup.type = "button";
  hangup.id = "demo-phone-hangup";
  bar.append(icon, text, answer, reject, hangup);
  const right = topbar.querySelector(".topbar-right");
  topbar.insertBefore(bar, right);

  let socket = null;
  let attempt = 0;
  let phone = null;
  let since = 0;

  function send(type) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({type}));
  }
  answer.addEventListener("click", () => send("answer"));
  reject.addEventListener("click", () => send("reject"));
  hangup.addEventListener("click", () => send("hangup"));

  function who(call) {
    if (!call) return "";
    return call.name ? call.name + " " + call.number : (call.number || "unknown number");
  }

  // what kind of call the display shows, from the PBX's `kind` of the call
  const KINDS = {callback: "callback", outbound: "outbound call", consultation: "consultation",
    direct: "direct call"};

  function label(call) {
    if (!call) return "";
    if (call.queue) return "queue " + call.queue;
    return KINDS[call.kind] || "direct call";
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function render() {
    const state = phone ? phone.state : "offline";
    bar.dataset.state = state;
    answer.hidden = reject.hidden = state !== "ringing";
    hangup.hidden = state !== "talking";
    if (!phone) {
      title.textContent = "Demo phone";
      detail.textContent = attempt ? "reconnecting…" : "connecting…";
    } else if (state === "idle") {
      title.textContent = "Demo phone";
      // the last outgoing call's failure stays on the display until the next call
      detail.textContent = phone.notice ? phone.notice + " · " + phone.interface
        : phone.interface + " · ready for calls";
    } else if (state === "ringing") {
      title.textContent = "Ringing: " + who(phone.call);
      detail.textContent = label(phone.call);
    } else {
      const s = Math.floor((Date.now() - since) / 1000);
      // an outgoing call the agent answered: ringback while the number rings
      title.textContent = (phone.call && phone.call.ringback ? "Ringing: " : "On a call: ") + who(phone.call);
      detail.textContent = Math.floor(s / 60) + ":" + pad(s % 60) + " · " + label(phone.call);
    }
  }

  function connect() {
    const url = new URL("/demo/softphone/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url.toString());
    socket = ws;
    ws.addEventListener("open", () => { attempt = 0; });
    ws.addEventListener("message", (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (_e) { return; }
      if (msg.type !== "phone") return;
      if (!phone || phone.state !== msg.state) since = Date.now();
      phone = msg;
      render();
    });
    ws.addEventListener("close", () => {
      if (socket !== ws) return;
      socket = null;
      phone = null;
      attempt += 1;
      render();
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, attempt - 1)));
    });
  }

  render();
  setInterval(() => { if (phone && phone.state === "talking") render(); }, 1000);
  connect();
})();
