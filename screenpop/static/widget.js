/* callpop widget: include on an existing web CRM page to receive the agent's pops and
 * use the call controls (status, transfer, click-to-dial).
 *
 *   <script src="https://callpop.example.com/widget.js" data-navigate="answer"></script>
 *
 * (With `async` or `defer`, wait for the `callpop:ready` window event before using
 * the API.)
 *
 *   CallPop.on("pop", ({type, pop}) => { ... });   // type: pop.offered, pop.accepted, ...
 *   CallPop.on("status", (status) => { ... });     // disconnected | connecting | connected
 *   CallPop.connect();  CallPop.disconnect();  CallPop.pops  CallPop.status
 *   CallPop.setStatus("ready" | "acw" | "break", reason)     // Promises: resolve with the
 *   CallPop.transfer(callId, {mode, kind, target})           // answer, reject with an Error
 *   CallPop.dial(number)                                     // whose message is for the agent
 *   CallPop.on("dial", ({call, number, outcome, message}) => { ... })  // what became of a dial
 *   CallPop.controls  CallPop.agentStatus
 *
 * data-navigate: "answer" opens the customer's record URL when a call is answered,
 * "ring" when it rings, "off" (default) never. data-ui="off" hides the built-in card
 * (use the callbacks). See docs/widget.md. Data is placed with textContent only. */
(function () {
  "use strict";
  if (window.CallPop && window.CallPop.version) return;

  const script = document.currentScript;
  const base = new URL(script ? script.src : "/widget.js", location.href).origin;
  const options = {
    navigate: (script && script.dataset.navigate) || "off",
    ui: !(script && script.dataset.ui === "off"),
  };
  const storeKey = "callpop.embed." + base;
  const listeners = new Map();
  const pops = new Map();
  let token = safeGet(storeKey);
  let ws = null, opened = false, seq = 0, epoch = null, attempt = 0, status = "disconnected";
  let stopped = false, retryTimer = null, watchdog = null, heartbeatMs = 20000;
  let controls = null, agentStatus = null, controlSeq = 0;
  const pending = new Map();  // control id -> {resolve, reject, timer}
  const CONTROL_WAIT_MS = 60000;

  function safeGet(key) { try { return sessionStorage.getItem(key); } catch (_e) { return null; } }
  function safeSet(key, value) {
    try { value ? sessionStorage.setItem(key, value) : sessionStorage.removeItem(key); } catch (_e) { /* private mode */ }
  }

  function on(type, fn) {
    if (!listeners.has(type)) listeners.set(type, new Set());
    listeners.get(type).add(fn);
    return () => off(type, fn);
  }
  function off(type, fn) { const set = listeners.get(type); if (set) set.delete(fn); }
  function emit(type, detail) {
    (listeners.get(type) || []).forEach((fn) => {
      try { fn(detail); } catch (err) { setTimeout(() => { throw err; }); }
    });
  }

  function setStatus(value) {
    status = value;
    emit("status", value);
    render();
  }

  /* The token comes from a small window on callpop's own site, where the agent's
   * session cookie exists; it is posted back to this page's origin only. */
  function requestToken() {
    window.open(base + "/widget/connect?origin=" + encodeURIComponent(location.origin),
      "callpop-connect", "width=480,height=560");
  }
  window.addEventListener("message", (event) => {
    if (event.origin !== base || !event.data || event.data.type !== "callpop.token") return;
    setToken(event.data.token);
    stopped = false;
    open();
  });

  function setToken(value) {
    token = typeof value === "string" ? value : null;
    safeSet(storeKey, token);
  }

  function connect() {
    stopped = false;
    if (token) open(); else requestToken();
  }

  function disconnect() {
    stopped = true;
    clearTimeout(retryTimer);
    if (ws) ws.close();
    setStatus("disconnected");
  }

  function open() {
    clearTimeout(retryTimer);
    if (ws) { const old = ws; ws = null; old.close(); }
    const url = base.replace(/^http/, "ws") + "/ws?embed=" + encodeURIComponent(token || "");
    const socket = new WebSocket(url);
    ws = socket;
    opened = false;
    setStatus("connecting");
    socket.addEventListener("open", () => {
      opened = true;
      attempt = 0;
      const hello = {type: "hello", since: seq, view: "panel"};
      if (epoch) hello.epoch = epoch;
      socket.send(JSON.stringify(hello));
      feed();
    });
    socket.addEventListener("message", (event) => {
      feed();
      let msg;
      try { msg = JSON.parse(event.data); } catch (_e) { return; }
      handle(socket, msg);
    });
    socket.addEventListener("close", () => {
      if (ws !== socket) return;
      ws = null;
      clearTimeout(watchdog);
      // a control sent on this socket may have run: say so, never resend it
      failPending("the connection to callpop dropped before it answered; check your phone before trying again");
      if (!opened) {
        // refused at the handshake: the token expired; ask again on the next click
        setToken(null);
        setStatus("disconnected");
        return;
      }
      if (stopped) return;
      attempt += 1;
      setStatus("connecting");
      retryTimer = setTimeout(open, Math.min(10000, 500 * Math.pow(2, attempt - 1)));
    });
  }

  function feed() {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { if (ws) ws.close(); }, heartbeatMs * 2.5);
  }

  function handle(socket, msg) {
    switch (msg.type) {
      case "welcome":
        epoch = msg.epoch;
        heartbeatMs = (msg.heartbeat_s || 20) * 1000;
        setStatus("connected");
        emit("agent", msg.agent);
        break;
      case "token":
        setToken(msg.token);
        break;
      case "controls":
        controls = {status: !!msg.status, dial: !!msg.dial, pause_reasons: msg.pause_reasons || [],
          transfer: msg.transfer || {enabled: false, queues: [], agents: []}, wrapup_s: msg.wrapup_s || {}};
        emit("controls", controls);
        render();
        break;
      case "agent.status":
        agentStatus = {status: msg.status, reason: msg.reason || ""};
        emit("agentstatus", agentStatus);
        render();
        break;
      case "control.result":
        settle(msg);
        break;
      case "dial.result":  // what became of a click-to-dial (its answer said only "queued")
        dialOutcome(msg);
        break;
      case "bus":  // Redis down: pops are delayed until it says "live" again
        setStatus(msg.state === "reconnecting" ? "reconnecting" : "connected");
        break;
      case "ping":
        socket.send(JSON.stringify({type: "pong"}));
        break;
      case "reset":
        pops.clear();
        seq = msg.seq;
        render();
        break;
      default:
        if (typeof msg.type === "string" && msg.type.indexOf("pop.") === 0) {
          seq = Math.max(seq, msg.seq);
          if (msg.type === "pop.done" || msg.type === "pop.retracted") pops.delete(msg.pop.call_id);
          else pops.set(msg.pop.call_id, msg.pop);
          if (msg.pop.state === "wrapup") noteWrapup(msg.pop);
          emit("pop", {type: msg.type, pop: msg.pop});
          maybeNavigate(msg.type, msg.pop);
          render();
        }
    }
  }

  /* --- call controls: the panel's POSTs, sent over this socket (docs/widget.md) ------ */

  function control(action, args) {
    return new Promise((resolve, reject) => {
      if (!ws || status !== "connected") {
        reject(new Error("callpop is not connected: click Connect callpop"));
        return;
      }
      const id = "c" + (++controlSeq);
      const timer = setTimeout(() => settle({id, ok: false, error: "callpop did not answer; check your phone before trying again"}), CONTROL_WAIT_MS);
      pending.set(id, {resolve, reject, timer});
      ws.send(JSON.stringify(Object.assign({}, args, {type: "control", id, action})));
    });
  }
  function settle(msg) {
    const waiting = pending.get(msg.id);
    if (!waiting) return;
    pending.delete(msg.id);
    clearTimeout(waiting.timer);
    if (msg.ok) { waiting.resolve(msg); return; }
    const error = new Error(msg.error || "refused");
    error.status = msg.status;
    error.field = msg.field;
    waiting.reject(error);
  }
  function failPending(message) {
    Array.from(pending.keys()).forEach((id) => settle({id, ok: false, error: message}));
  }

  function setAgentStatus(value, reason) {
    const args = value === "break" ? {status: value, reason} : {status: value};
    return control("status", args).then((answer) => {
      agentStatus = {status: answer.status, reason: answer.reason || ""};
      emit("agentstatus", agentStatus);
      render();
      return answer;
    });
  }
  function transfer(callId, request) {
    const r = request || {};
    return control("transfer", {call_id: callId, mode: r.mode || "blind", kind: r.kind || "agent", target: r.target});
  }
  function dial(number) { return control("dial", {number}); }

  function recordUrl(pop) {
    const customer = pop.payload && pop.payload.customer;
    const url = customer && customer.record_url;
    return url && /^https?:\/\//i.test(url) ? url : null;
  }

  const navigated = new Set();
  function maybeNavigate(type, pop) {
    const when = options.navigate === "ring" ? "pop.offered" : options.navigate === "answer" ? "pop.accepted" : null;
    const url = recordUrl(pop);
    const key = pop.call_id + "|" + (url || "");
    if (!when || !url || navigated.has(key)) return;
    if (type === when || (type === "pop.updated" && pop.state === (when === "pop.offered" ? "offered" : "accepted"))) {
      navigated.add(key);
      if (url !== location.href) location.assign(url);
    }
  }

  /* --- the built-in card (shadow DOM: the CRM's CSS cannot reach it, nor ours the CRM) -- */

  let root = null, cardsBox = null, deskBox = null, deskFor = null, pillBox = null;
  const cards = new Map();  // call id -> {card, head, body, form}: kept while the pop lives,
  // so a form being filled is never rebuilt under the agent's fingers
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function option(value, label) {
    const node = el("option", null, label);
    node.value = value;
    return node;
  }
  function say(node, text, kind) {
    node.textContent = text;
    node.className = (node.dataset.base || "msg") + (kind ? " " + kind : "");
  }

  const CSS = ":host{all:initial}*{box-sizing:border-box}[hidden]{display:none!important}.w{position:fixed;right:16px;bottom:16px;z-index:2147483000;font:13px/1.4 system-ui,sans-serif;color:#0f172a;display:flex;flex-direction:column;align-items:flex-end;gap:8px}" +
    ".cards{display:flex;flex-direction:column;gap:8px;align-items:flex-end}" +
    ".pill{display:inline-flex;align-items:center;gap:7px;background:#0f172a;color:#fff;border:0;border-radius:999px;padding:8px 14px;font:600 12px system-ui,sans-serif;cursor:pointer;box-shadow:0 6px 20px rgba(15,23,42,.25)}" +
    ".dot{width:8px;height:8px;border-radius:50%;background:#94a3b8}.connected .dot{background:#22c55e}.connecting .dot,.reconnecting .dot{background:#f59e0b}" +
    ".card,.desk{width:300px;background:#fff;border:1px solid #e2e8f0;border-radius:12px;box-shadow:0 10px 30px rgba(15,23,42,.18);overflow:hidden}" +
    ".head{padding:10px 14px;color:#fff;background:#334155}.offered .head{background:#d97706}.accepted .head{background:#16a34a}.wrapup .head{background:#7c3aed}" +
    ".state{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.06em;opacity:.9}.name{font-size:17px;font-weight:700;overflow-wrap:anywhere}" +
    ".body{padding:10px 14px;display:flex;flex-direction:column;gap:6px}.muted{color:#64748b;font-size:12px}" +
    ".open{display:inline-block;align-self:flex-start;margin-top:4px;background:#2563eb;color:#fff;text-decoration:none;border-radius:6px;padding:6px 10px;font-weight:600;font-size:12px}" +
    ".desk{padding:10px 14px;display:flex;flex-direction:column;gap:6px}.row{display:flex;gap:6px;align-items:center}" +
    "form{margin:0;padding:0 14px 10px;display:flex;flex-direction:column;gap:6px}.desk form{padding:0}" +
    "label{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.06em;color:#475569}" +
    "select,input{font:13px system-ui,sans-serif;border:1px solid #cbd5e1;border-radius:6px;padding:4px 6px;background:#fff;color:#0f172a;min-width:0;flex:1}" +
    "button.act{font:600 12px system-ui,sans-serif;border:0;border-radius:6px;padding:6px 10px;background:#0f172a;color:#fff;cursor:pointer}button.act:disabled{opacity:.5;cursor:default}" +
    ".note{padding:0 14px 10px}.note:empty{display:none}.msg{font-size:12px;color:#475569;min-height:0}.msg.ok{color:#15803d}.msg.error{color:#b91c1c}";
  const LABEL = {offered: "Ringing", accepted: "Live", wrapup: "Wrap-up"};

  function render() {
    if (!options.ui || !document.body) return;
    if (!root) {
      const host = el("div");
      host.setAttribute("data-callpop-widget", "");
      document.body.appendChild(host);
      root = host.attachShadow({mode: "open"});
      const style = el("style");
      style.textContent = CSS;
      const wrap = el("div", "w");
      cardsBox = el("div", "cards");
      deskBox = el("div");
      pillBox = el("div");
      wrap.append(cardsBox, deskBox, pillBox);
      root.append(style, wrap);
    }
    for (const [callId, entry] of cards) {
      if (!pops.has(callId)) { entry.card.remove(); cards.delete(callId); }
    }
    for (const pop of pops.values()) {
      let entry = cards.get(pop.call_id);
      if (!entry) {
        const card = el("div");
        card.setAttribute("data-call-id", pop.call_id);
        entry = {card, head: el("div", "head"), body: el("div", "body"), form: null};
        card.append(entry.head, entry.body);
        cards.set(pop.call_id, entry);
        cardsBox.appendChild(card);
      }
      fillCard(entry, pop);
    }
    renderDesk();
    renderPill();
  }

  function fillCard(entry, pop) {
    const p = pop.payload || {};
    const customer = p.customer;
    entry.card.className = "card " + pop.state;
    entry.head.replaceChildren(
      el("div", "state", (LABEL[pop.state] || pop.state) + (pop.queue ? " · " + pop.queue : "")),
      el("div", "name", customer ? customer.name : ((p.caller && (p.caller.name || p.caller.number)) || "Unknown caller")));
    const body = [];
    if (p.caller && p.caller.number) body.push(el("div", null, p.caller.number));
    const steps = (p.ivr && p.ivr.steps) || [];
    if (steps.length) body.push(el("div", "muted", steps.map((s) => s.label || s.node).join(" › ")));
    (pop.handoff || []).forEach((h) => {
      if (h.notes) body.push(el("div", "muted", "Notes from " + h.agent + ": " + h.notes));
    });
    const url = recordUrl(pop);
    if (url) {
      const link = el("a", "open", "Open record");
      link.href = url;
      body.push(link);
    }
    entry.body.replaceChildren(...body);
    const canTransfer = pop.state === "accepted" && controls && controls.transfer.enabled;
    if (canTransfer && !entry.form) {
      // the outcome stays readable under the card once the call has left this agent
      const note = el("div", "msg note");
      note.setAttribute("role", "status");
      note.setAttribute("data-transfer-status", "");
      note.dataset.base = "msg note";
      entry.form = transferForm(pop.call_id, note);
      entry.card.append(entry.form, note);
    }
    if (entry.form) entry.form.hidden = !canTransfer;
  }

  let formSeq = 0;
  function transferForm(callId, message) {
    const form = el("form");
    form.setAttribute("data-transfer", "");
    const mode = el("select");
    mode.name = "mode";
    mode.setAttribute("aria-label", "Transfer mode");
    mode.append(option("blind", "Blind"), option("attended", "Attended"));
    const kind = el("select");
    kind.name = "kind";
    kind.setAttribute("aria-label", "Transfer to");
    kind.append(option("agent", "Agent"), option("queue", "Queue"), option("number", "Number"));
    const target = el("input");
    target.name = "target";
    target.maxLength = 80;
    target.required = true;
    target.setAttribute("aria-label", "Agent, queue or number");
    const list = el("datalist");
    list.id = "callpop-targets-" + (++formSeq);
    target.setAttribute("list", list.id);
    const button = el("button", "act", "Transfer");
    button.type = "submit";
    function fillTargets() {
      const t = controls.transfer;
      const names = kind.value === "agent" ? t.agents || [] : kind.value === "queue" ? t.queues || [] : [];
      list.replaceChildren(...names.map((n) => option(n, n)));
      target.placeholder = kind.value === "number" ? "+1 555 123 4567" : (names[0] || "");
      // a queue has nobody to consult before the caller joins it
      mode.querySelector("option[value=attended]").disabled = kind.value === "queue";
      if (kind.value === "queue") mode.value = "blind";
    }
    kind.addEventListener("change", fillTargets);
    fillTargets();
    const row1 = el("div", "row");
    row1.append(mode, kind);
    const row2 = el("div", "row");
    row2.append(target, list, button);
    form.append(el("label", null, "Transfer"), row1, row2);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const to = target.value.trim();
      if (!to) return;
      const attended = mode.value === "attended";
      button.disabled = true;
      say(message, "Transferring to " + to + "…");
      transfer(callId, {mode: mode.value, kind: kind.value, target: to}).then(() => {
        say(message, attended ? "Talk to " + to + ", then hang up to hand the caller over." : "Transferred to " + to + ".", "ok");
      }, (err) => {
        say(message, err.message, "error");
        button.disabled = false;
      });
    });
    return form;
  }

  let statusSelect = null, statusMessage = null, statusBusy = false;

  /* After each call the queue rings the agent again only after its wrap-up (queues.conf
   * wrapuptime), counted from the hang-up: shown running down, then Ready by itself. */
  let wrapupEnds = 0, wrapupTimer = null;
  function noteWrapup(pop) {
    const seconds = (controls && controls.wrapup_s[pop.queue]) || 0;
    const since = Date.parse(pop.since);
    if (!seconds || isNaN(since)) return;
    const ends = Math.min(since, Date.now()) + seconds * 1000;
    if (ends <= Date.now() || ends <= wrapupEnds) return;
    wrapupEnds = ends;
    tickWrapup();
  }
  function tickWrapup() {
    clearTimeout(wrapupTimer);
    if (!wrapupEnds) return;
    // a pause says what the agent is doing; a refusal stays until the agent reads it
    const ready = (!agentStatus || agentStatus.status === "ready") &&
      !(statusMessage && statusMessage.className.indexOf("error") >= 0);
    const left = Math.ceil((wrapupEnds - Date.now()) / 1000);
    if (left <= 0) {
      wrapupEnds = 0;
      if (ready && !statusBusy && statusMessage) say(statusMessage, "Ready for calls", "ok");
      return;
    }
    if (ready && !statusBusy && statusMessage) say(statusMessage, "Wrap-up: " + left + " s left");
    wrapupTimer = setTimeout(tickWrapup, ((wrapupEnds - Date.now()) % 1000) || 1000);
  }
  function statusValue(s) { return s.status === "break" ? "break:" + s.reason : s.status; }

  function renderDesk() {
    deskBox.hidden = !(controls && status === "connected" && (controls.status || controls.dial));
    if (!controls || deskFor === controls) { syncStatus(); return; }
    deskFor = controls;
    const desk = el("div", "desk");
    desk.setAttribute("data-desk", "");
    statusSelect = null;
    if (controls.status) desk.appendChild(statusControl());
    if (controls.dial) desk.appendChild(dialControl());
    deskBox.replaceChildren(desk);
    syncStatus();
  }

  function statusControl() {
    const form = el("form");
    form.setAttribute("data-status", "");
    const select = el("select");
    select.name = "status";
    select.setAttribute("aria-label", "Status");
    select.append(option("ready", "Ready"), option("acw", "After-call work"),
      ...controls.pause_reasons.map((r) => option("break:" + r, "Break: " + r)));
    const message = el("div", "msg");
    message.setAttribute("role", "status");
    statusMessage = message;
    select.addEventListener("change", () => {
      const value = select.value;
      const [wanted, reason] = value.indexOf("break:") === 0 ? ["break", value.slice(6)] : [value, undefined];
      statusBusy = true;
      select.disabled = true;
      say(message, "Changing status…");
      setAgentStatus(wanted, reason).then(() => {
        say(message, wanted === "ready" ? "Ready for calls" : "Paused in your queues", "ok");
        tickWrapup();  // Ready does not cut the queue's wrap-up short: Asterisk does not
      }, (err) => {
        say(message, err.message, "error");
      }).then(() => {
        statusBusy = false;
        select.disabled = false;
        syncStatus();  // the menu shows the status the PBX has, not the one refused
      });
    });
    statusSelect = select;
    const row = el("div", "row");
    row.append(select);
    form.append(el("label", null, "Status"), row, message);
    form.addEventListener("submit", (event) => event.preventDefault());
    return form;
  }

  function syncStatus() {
    if (!statusSelect || statusBusy) return;
    const value = agentStatus ? statusValue(agentStatus) : "ready";
    if (!Array.from(statusSelect.options).some((o) => o.value === value)) {
      // a pause this dialplan does not offer (a supervisor's reason): shown as it is
      statusSelect.append(option(value, agentStatus.reason ? "Break: " + agentStatus.reason : "Paused"));
    }
    statusSelect.value = value;
  }

  // The click-to-dial box's line (kept across redraws), and what became of each dial
  // (`dial.result`, by call id: an offline phone can be told before the dial's answer).
  let dialMessage = null;
  let dialShown = null;
  const dialOutcomes = new Map();

  function showDial(text, kind) {
    dialShown = {text, kind};
    if (dialMessage) say(dialMessage, text, kind);
  }

  function dialOutcome(msg) {
    dialOutcomes.set(msg.call, msg);
    if (dialOutcomes.size > 20) dialOutcomes.delete(dialOutcomes.keys().next().value);
    emit("dial", {call: msg.call, number: msg.number, outcome: msg.outcome, message: msg.message});
    showDial(msg.message, msg.outcome === "connected" ? "ok" : msg.outcome === "unknown" ? "" : "error");
  }

  function dialControl() {
    const form = el("form");
    form.setAttribute("data-dial", "");
    const number = el("input");
    number.name = "number";
    number.maxLength = 40;
    number.placeholder = "+1 555 123 4567";
    number.setAttribute("aria-label", "Number to call");
    const button = el("button", "act", "Call");
    button.type = "submit";
    const message = el("div", "msg");
    message.setAttribute("role", "status");
    dialMessage = message;
    if (dialShown) say(message, dialShown.text, dialShown.kind);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = number.value.trim();
      if (!value) return;
      button.disabled = true;
      showDial("Calling " + value + "…", "");
      dial(value).then((answer) => {
        const known = dialOutcomes.get(answer.call);
        if (known) dialOutcome(known);
        else showDial("Your phone rings: pick up to call " + answer.number + ".", "");
      }, (err) => {
        showDial(err.message, "error");
      }).then(() => { button.disabled = false; });
    });
    const row = el("div", "row");
    row.append(number, button);
    form.append(el("label", null, "Call a number"), row, message);
    return form;
  }

  function renderPill() {
    const pill = el("button", "pill " + status);
    pill.type = "button";
    pill.appendChild(el("span", "dot"));
    pill.appendChild(document.createTextNode(status === "connected" ? "callpop" : status === "connecting" ? "callpop: connecting…" : status === "reconnecting" ? "callpop: reconnecting…" : "Connect callpop"));
    pill.addEventListener("click", () => { if (status === "disconnected") connect(); });
    pillBox.replaceChildren(pill);
  }

  window.CallPop = {
    version: "1",
    on, off, connect, disconnect,
    setStatus: setAgentStatus, transfer, dial,
    get pops() { return Array.from(pops.values()); },
    get status() { return status; },
    get controls() { return controls; },
    get agentStatus() { return agentStatus; },
    get wrapupEnds() { return wrapupEnds; },  // ms since the epoch; 0: no wrap-up running
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
  if (token) open();
  window.dispatchEvent(new CustomEvent("callpop:ready"));
})();
