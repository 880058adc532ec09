/* callpop: helpers shared by the agent desk and the wallboard.
 * Plain JS, no build step. Data from the server is only ever placed with
 * textContent or attribute setters: never innerHTML, so a caller name such as
 * <img src=x onerror=alert(1)> stays text. */
"use strict";

window.callpop = (function () {
  /* el("div", {class: "x", dataset: {id: "1"}, onclick: fn}, "text", child, ...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === "class") node.className = value;
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
        else if (key === "text") node.textContent = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function boot() {
    const node = document.getElementById("boot");
    return node ? JSON.parse(node.textContent) : {};
  }

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_e) { data = null; }
    if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
    if (!response.ok) {
      const message = data && data.error ? data.error : "Request failed (" + response.status + ")";
      const error = new Error(message);
      error.field = data && data.field;
      throw error;
    }
    return data;
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }

  function clockTime(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  function shortDate(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleDateString([], {month: "short", day: "numeric"});
  }

  function setConn(state, text) {
    const node = document.getElementById("conn-status");
    if (!node) return;
    node.className = "conn conn-" + state;
    node.textContent = text;
    document.body.dataset.conn = state;
  }

  /* The banner for "pops cannot reach this server right now" (the hub's `bus` frame:
   * Redis is down); pops missed meanwhile follow once it says `live` again. */
  function setBus(state) {
    let node = document.getElementById("bus-banner");
    if (state !== "reconnecting") {
      if (node) node.remove();
      return;
    }
    if (node) return;
    node = document.createElement("div");
    node.id = "bus-banner";
    node.className = "bus-banner";
    node.setAttribute("role", "status");
    node.textContent = "Reconnecting: new calls will appear here as soon as callpop is back in touch.";
    document.body.prepend(node);
  }

  /* A websocket that reconnects with backoff and notices a silent server.
   * hello() builds the first message of each connection; onMessage gets objects. */
  class Socket {
    constructor(url, {hello, onMessage, onOpen, onClose}) {
      this.url = url;
      this.hello = hello;
      this.onMessage = onMessage;
      this.onOpen = onOpen || (() => {});
      this.onClose = onClose || (() => {});
      this.ws = null;
      this.attempt = 0;
      this.heartbeatMs = 20000;
      this.watchdog = null;
      this.stopped = false;
    }

    start() {
      this.stopped = false;
      this.open();
    }

    open() {
      const url = new URL(this.url, location.href);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(url.toString());
      this.ws = ws;
      setConn("connecting", this.attempt ? "Reconnecting…" : "Connecting…");
      ws.addEventListener("open", () => {
        this.attempt = 0;
        ws.send(JSON.stringify(this.hello()));
        this.feed();
        this.onOpen();
      });
      ws.addEventListener("message", (event) => {
        this.feed();
        let msg;
        try { msg = JSON.parse(event.data); } catch (_e) { return; }
        if (msg.type === "ping") { this.send({type: "pong"}); return; }
        if (msg.type === "welcome" && msg.heartbeat_s) this.heartbeatMs = msg.heartbeat_s * 1000;
        if (msg.type === "welcome") setBus("live");  // a down bus is said right after
        if (msg.type === "bus") { setBus(msg.state); return; }
        this.onMessage(msg);
      });
      ws.addEventListener("close", (event) => {
        if (this.ws !== ws) return;
        clearTimeout(this.watchdog);
        this.ws = null;
        this.onClose(event);
        if (this.stopped) return;
        if (event.code === 1008 || event.code === 4401) {
          setConn("down", "Signed out");
          return;
        }
        this.attempt += 1;
        // First retry at once (50-200 ms, jittered so the sockets of a dead instance do
        // not all arrive together): the load balancer sends it to a live instance, where
        // `hello` replays or resets. Then 0.25 s, doubling to 10 s while nothing answers.
        const delay = this.attempt === 1
          ? 50 + Math.random() * 150
          : Math.min(10000, 250 * Math.pow(2, this.attempt - 2)) * (0.75 + Math.random() / 2);
        setConn("connecting", "Reconnecting…");
        setTimeout(() => this.open(), delay);
      });
    }

    /* the server pings every heartbeat; silence for 2.5 of them means a dead link */
    feed() {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => { if (this.ws) this.ws.close(); }, this.heartbeatMs * 2.5);
    }

    send(obj) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify(obj));
        return true;
      }
      return false;
    }

    stop() {
      this.stopped = true;
      if (this.ws) this.ws.close();
    }
  }

  return {el, clear, boot, csrf, api, duration, clockTime, shortDate, setConn, setBus, Socket};
})();
