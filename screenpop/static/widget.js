/* callpop widget: include on an existing web CRM page to receive the agent's pops.
 *
 *   <script src="https://callpop.example.com/widget.js" data-navigate="answer"></script>
 *
 * (With `async` or `defer`, wait for the `callpop:ready` window event before using
 * the API.)
 *
 *   CallPop.on("pop", ({type, pop}) => { ... });   // type: pop.offered, pop.accepted, ...
 *   CallPop.on("status", (status) => { ... });     // disconnected | connecting | connected
 *   CallPop.connect();  CallPop.disconnect();  CallPop.pops  CallPop.status
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
          emit("pop", {type: msg.type, pop: msg.pop});
          maybeNavigate(msg.type, msg.pop);
          render();
        }
    }
  }

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

  let root = null;
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const CSS = ":host{all:initial}.w{position:fixed;right:16px;bottom:16px;z-index:2147483000;font:13px/1.4 system-ui,sans-serif;color:#0f172a;display:flex;flex-direction:column;align-items:flex-end;gap:8px}" +
    ".pill{display:inline-flex;align-items:center;gap:7px;background:#0f172a;color:#fff;border:0;border-radius:999px;padding:8px 14px;font:600 12px system-ui,sans-serif;cursor:pointer;box-shadow:0 6px 20px rgba(15,23,42,.25)}" +
    ".dot{width:8px;height:8px;border-radius:50%;background:#94a3b8}.connected .dot{background:#22c55e}.connecting .dot,.reconnecting .dot{background:#f59e0b}" +
    ".card{width:300px;background:#fff;border:1px solid #e2e8f0;border-radius:12px;box-shadow:0 10px 30px rgba(15,23,42,.18);overflow:hidden}" +
    ".head{padding:10px 14px;color:#fff;background:#334155}.offered .head{background:#d97706}.accepted .head{background:#16a34a}.wrapup .head{background:#7c3aed}" +
    ".state{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.06em;opacity:.9}.name{font-size:17px;font-weight:700;overflow-wrap:anywhere}" +
    ".body{padding:10px 14px;display:flex;flex-direction:column;gap:6px}.muted{color:#64748b;font-size:12px}" +
    ".open{display:inline-block;align-self:flex-start;margin-top:4px;background:#2563eb;color:#fff;text-decoration:none;border-radius:6px;padding:6px 10px;font-weight:600;font-size:12px}";
  const LABEL = {offered: "Ringing", accepted: "Live", wrapup: "Wrap-up"};

  function render() {
    if (!options.ui || !document.body) return;
    if (!root) {
      const host = el("div");
      host.setAttribute("data-callpop-widget", "");
      document.body.appendChild(host);
      root = host.attachShadow({mode: "open"});
    }
    while (root.firstChild) root.removeChild(root.firstChild);
    const style = el("style");
    style.textContent = CSS;
    root.appendChild(style);
    const wrap = el("div", "w");
    for (const pop of pops.values()) {
      const p = pop.payload || {};
      const customer = p.customer;
      const card = el("div", "card " + pop.state);
      card.setAttribute("data-call-id", pop.call_id);
      const head = el("div", "head");
      head.appendChild(el("div", "state", (LABEL[pop.state] || pop.state) + (pop.queue ? " · " + pop.queue : "")));
      head.appendChild(el("div", "name", customer ? customer.name : ((p.caller && (p.caller.name || p.caller.number)) || "Unknown caller")));
      card.appendChild(head);
      const body = el("div", "body");
      if (p.caller && p.caller.number) body.appendChild(el("div", null, p.caller.number));
      const steps = (p.ivr && p.ivr.steps) || [];
      if (steps.length) body.appendChild(el("div", "muted", steps.map((s) => s.label || s.node).join(" › ")));
      const url = recordUrl(pop);
      if (url) {
        const link = el("a", "open", "Open record");
        link.href = url;
        body.appendChild(link);
      }
      card.appendChild(body);
      wrap.appendChild(card);
    }
    const pill = el("button", "pill " + status);
    pill.type = "button";
    pill.appendChild(el("span", "dot"));
    pill.appendChild(document.createTextNode(status === "connected" ? "callpop" : status === "connecting" ? "callpop: connecting…" : status === "reconnecting" ? "callpop: reconnecting…" : "Connect callpop"));
    pill.addEventListener("click", () => { if (status === "disconnected") connect(); });
    wrap.appendChild(pill);
    root.appendChild(wrap);
  }

  window.CallPop = {
    version: "1",
    on, off, connect, disconnect,
    get pops() { return Array.from(pops.values()); },
    get status() { return status; },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
  if (token) open();
  window.dispatchEvent(new CustomEvent("callpop:ready"));
})();
