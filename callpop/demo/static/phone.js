/* callpop demo: the test phone. Plain JS, no build step.
 * Everything from the server (prompt texts, caller names, AGI lines) is placed with
 * textContent through callpop.el: never innerHTML. */
"use strict";

(function () {
  const {el, clear, boot, duration, setConn} = window.callpop;
  const data = boot();
  const KEYS = "0123456789*#";
  const IN_CALL = new Set(["dialing", "ivr", "queue", "ringing", "connected", "voicemail"]);
  // a callback ringing this phone: answer (green) or decline (red); keys stay off
  const INCOMING = "incoming";

  const $ = (id) => document.getElementById(id);
  const handset = $("handset");
  const transcript = $("transcript");
  const state = {
    caller: null,        // {number, name}
    incoming: "callback", // what rings this phone: callback | outbound (an agent's click-to-dial)
    call: "idle",        // idle | dialing | ivr | queue | ringing | connected | voicemail | incoming | ended
    startedAt: 0,
    connectedAt: 0,
    keys: "",
    socket: null,
    attempt: 0,
  };

  /* --- the callers list --------------------------------------------------------------- */

  function tierBadge(tier) {
    // the tiers that change the call (VIPs skip the menus); standard goes unmarked
    if (tier !== "vip" && tier !== "business") return null;
    return el("span", {class: "tier tier-" + tier}, tier === "vip" ? "VIP" : tier);
  }

  function selectCaller(caller, node) {
    state.caller = caller;
    // the PBX rings this page for calls to the chosen caller's number (callbacks, agents' calls)
    send({type: "line", number: caller.number});
    document.querySelectorAll(".caller").forEach((n) => n.setAttribute("aria-pressed", "false"));
    if (node) node.setAttribute("aria-pressed", "true");
    renderScreen();
  }

  function callerButton(caller, avatar, name, detail, badge) {
    const item = el("button", {type: "button", class: "caller", "aria-pressed": "false",
        dataset: {number: caller.number}},
      el("span", {class: "caller-avatar", "aria-hidden": "true"}, avatar),
      el("span", {class: "caller-main"},
        el("span", {class: "caller-name"}, el("span", {class: "caller-label"}, name), badge),
        el("span", {class: "caller-detail"}, caller.number, detail)));
    item.addEventListener("click", () => selectCaller(caller, item));
    return item;
  }

  function renderCallers() {
    const list = clear($("callers"));
    data.callers.forEach((c, i) => {
      const cases = c.open_cases ? el("span", {class: "caller-cases"},
        " · " + c.open_cases + (c.open_cases > 1 ? " open cases" : " open case")) : null;
      const item = callerButton({number: c.number, name: c.name}, c.name.slice(0, 1), c.name,
        cases, tierBadge(c.tier));
      list.appendChild(el("li", null, item));
      if (i === 0) selectCaller({number: c.number, name: c.name}, item);
    });
    const unknown = callerButton({number: data.unknown_number, name: ""}, "?", "Unknown caller",
      el("span", {class: "caller-cases caller-none"}, " · not in the CRM"), null);
    unknown.classList.add("caller-unknown");
    list.appendChild(el("li", null, unknown));
  }

  $("custom-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = $("custom-number").value.trim();
    if (!number) { $("custom-number").focus(); return; }
    selectCaller({number, name: $("custom-name").value.trim()}, null);
  });

  /* --- the socket ------------------------------------------------------------------------ */

  function connect() {
    const url = new URL("/demo/phone/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url.toString());
    state.socket = ws;
    setConn("connecting", state.attempt ? "Reconnecting…" : "Connecting…");
    ws.addEventListener("open", () => {
      state.attempt = 0;
      setConn("up", "PBX ready");
      if (state.caller) send({type: "line", number: state.caller.number});
      renderScreen();
    });
    ws.addEventListener("message", (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (_e) { return; }
      onMessage(msg);
    });
    ws.addEventListener("close", () => {
      if (state.socket !== ws) return;
      state.socket = null;
      if (IN_CALL.has(state.call) || state.call === INCOMING) ended("The connection to the demo PBX was lost.");
      state.attempt += 1;
      setConn("down", "PBX unreachable");
      renderScreen();
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, state.attempt - 1)));
    });
  }

  function send(obj) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  /* --- the call ----------------------------------------------------------------------------- */

  function dial() {
    if (state.call === INCOMING) { answerCallback(); return; }
    if (!state.caller || IN_CALL.has(state.call)) return;
    if (!send({type: "dial", number: state.caller.number, name: state.caller.name || null})) return;
    clear(transcript);
    state.call = "dialing";
    state.startedAt = Date.now();
    state.connectedAt = 0;
    state.keys = "";
    note("Calling " + data.extension + " as " + (state.caller.name ? state.caller.name + " " : "") + state.caller.number, "call");
    renderScreen();
  }

  function hangup() {
    if (!IN_CALL.has(state.call) && state.call !== INCOMING) return;
    send({type: "hangup"});
  }

  /* --- a callback or an agent's call rings this phone ---------------------------------------- */

  function onIncoming(msg) {
    stopPlaying();
    state.call = INCOMING;
    state.incoming = msg.kind === "outbound" ? "outbound" : "callback";
    state.startedAt = Date.now();
    state.connectedAt = 0;
    state.keys = "";
    if (state.incoming === "outbound") {
      note("Incoming call on " + msg.number + ": an agent of Acme Telecom is calling you (click-to-dial). Answer with the green button.", "call");
      $("screen-line").textContent = "Calling you on " + msg.number;
    } else {
      note("Incoming call on " + msg.number + ": the callback you asked for. Answer with the green button.", "call");
      $("screen-line").textContent = "Calling you back on " + msg.number;
    }
    renderScreen();
  }

  function answerCallback() {
    if (state.call !== INCOMING) return;
    send({type: "answer"});
  }

  function press(key) {
    if (!IN_CALL.has(state.call) || KEYS.indexOf(key) < 0) return;
    send({type: "key", key});
    const button = document.querySelector('.key[data-key="' + CSS.escape(key) + '"]');
    if (button) {
      button.classList.add("key-hit");
      setTimeout(() => button.classList.remove("key-hit"), 160);
    }
  }

  function ended(reason) {
    state.call = "ended";
    $("screen-line").textContent = reason;
    stopPlaying();
    note(reason, "end");
    renderScreen();
  }

  /* --- messages from the PBX ------------------------------------------------------------------ */

  function onMessage(msg) {
    switch (msg.type) {
      case "state": return onState(msg);
      case "heard": return onHeard(msg);
      case "key":
        state.keys = (state.keys + msg.key).slice(-24);
        $("screen-keys").textContent = state.keys;
        return entry("t-key", el("span", {class: "t-label"}, "You"), el("span", {class: "t-text"}, "pressed ", el("kbd", null, msg.key)));
      case "outcome": return onOutcome(msg);
      case "queue": return onQueue(msg);
      case "incoming": return onIncoming(msg);
      case "flood": return onFlood(msg);
      case "queue_state": return onQueueState(msg);
      case "connected":
        state.call = "connected";
        state.connectedAt = Date.now();
        stopPlaying();
        if (msg.outbound) {
          note("You are talking to " + msg.agent + " of Acme Telecom, who called you from their desk.", "good");
        } else if (msg.callback) {
          note("Callback: you are talking to " + msg.agent + ", who took your callback. Their desk shows when you asked and how long you had waited.", "good");
        } else {
          note(msg.agent + " answered" + (msg.queue ? " (queue " + msg.queue + ")" : "") + ": you are talking to an agent. Their desk shows who you are and what you chose in the IVR.", "good");
        }
        $("screen-line").textContent = "Talking to " + msg.agent;
        return renderScreen();
      case "wire":
        return wire(msg.who, msg.line);
      case "notice":
        return note(msg.text, "warn");
      case "error":
        return note(msg.text, "warn");
      default:
        return undefined;
    }
  }

  function onState(msg) {
    if (msg.state === "ended") return ended(msg.reason || "Call ended.");
    state.call = msg.state;
    if (msg.state === "ivr") note("Answered by callpop's IVR over FastAGI: " + msg.agi, "call");
    if (msg.state === "queue") {
      onHold(msg.queue, []);
      $("screen-line").textContent = "On hold in queue " + msg.queue;
    }
    if (msg.state === "ringing") note("Dialling " + msg.agent + " (" + msg.interface + ")", "call");
    if (msg.state === "voicemail") {
      stopPlaying();
      note("Voicemail " + msg.mailbox + ": speak after the tone, then press # or hang up.", "call");
      $("screen-line").textContent = "Leaving a message…";
    }
    renderScreen();
  }

  function onOutcome(msg) {
    const v = msg.variables || {};
    const parts = ["IVR outcome: " + msg.outcome];
    if (msg.target) parts.push(msg.target);
    if (v.CALLPOP_PRIORITY) parts.push("priority " + v.CALLPOP_PRIORITY);
    if (v.CALLPOP_TOPIC) parts.push("topic " + v.CALLPOP_TOPIC);
    const line = note(parts.join(" · "), "outcome");
    const vars = Object.keys(v).sort().filter((k) => v[k] !== "");
    if (vars.length) {
      line.appendChild(el("div", {class: "t-vars mono"}, vars.map((k) => el("span", null, k + "=" + v[k]))));
    }
  }

  function onHold(queue, ringing) {
    const box = $("now-playing");
    box.hidden = false;
    box.dataset.kind = "hold";
    $("np-kind").textContent = "On hold";
    $("np-text").textContent = ringing.length ? "♪ Music on hold while the queue rings " + ringing.join(", ") + "…"
      : "♪ Music on hold: no agent of queue " + queue + " is free yet.";
    $("np-hint").textContent = "queue " + queue;
    const progress = $("np-progress");
    progress.style.transition = "none";
    progress.style.width = "100%";
  }

  function onQueue(msg) {
    const ringing = msg.ringing || [];
    onHold(msg.queue, ringing);
    const who = ringing.length ? "ringing " + ringing.join(", ") : "no agent free yet: log in at the agent desk";
    note("Queue " + msg.queue + (msg.description ? " (" + msg.description + ")" : "") + ": position " + msg.position + ", " + who, "queue");
    $("screen-line").textContent = msg.ringing && msg.ringing.length ? "Ringing " + msg.ringing.join(", ") + "…" : "On hold in queue " + msg.queue;
  }

  /* --- what plays now ------------------------------------------------------------------------ */

  let playTimer = null;

  function onHeard(msg) {
    stopPlaying();
    const box = $("now-playing");
    box.hidden = false;
    box.dataset.kind = msg.kind;
    const progress = $("np-progress");
    progress.style.transition = "none";
    progress.style.width = "0%";
    const interruptible = msg.keys && msg.keys.length > 0;
    if (msg.kind === "listen") {
      $("np-kind").textContent = "Listening";
      $("np-text").textContent = "The IVR waits for your keys…";
      $("np-hint").textContent = msg.ms ? "times out in " + Math.round(msg.ms / 1000) + " s" : "";
    } else {
      $("np-kind").textContent = msg.kind === "prompt" ? (msg.audio ? "Playing the recording" : "Playing") : "Saying";
      $("np-text").textContent = msg.text;
      $("np-hint").textContent = interruptible ? "press a key any time" : "keys are ignored while this plays";
      entry("t-prompt", el("span", {class: "t-label"}, "IVR"), el("span", {class: "t-text"}, msg.text),
        msg.sound ? el("span", {class: "t-sound mono"}, msg.sound) : null);
      $("screen-line").textContent = msg.text;
    }
    const audio = $("np-audio");
    if (msg.audio) {
      // The recording Asterisk would play (`callpop demo --sounds DIR`); dialling was the
      // user's gesture, so the browser lets it play.
      audio.src = msg.audio;
      audio.play().catch(() => { box.dataset.audio = "blocked"; });
      box.dataset.audio = "playing";
    } else {
      box.dataset.audio = "none";
    }
    if (msg.ms) {
      // start the bar on the next frame so the transition runs from 0
      requestAnimationFrame(() => requestAnimationFrame(() => {
        progress.style.transition = "width " + msg.ms + "ms linear";
        progress.style.width = "100%";
      }));
      playTimer = setTimeout(() => { box.dataset.done = "true"; }, msg.ms);
    }
    box.dataset.done = "false";
  }

  function stopPlaying() {
    clearTimeout(playTimer);
    const audio = $("np-audio");
    audio.pause();
    audio.removeAttribute("src");
    const box = $("now-playing");
    box.hidden = true;
  }

  /* --- transcript --------------------------------------------------------------------------- */

  function entry(cls, ...children) {
    const empty = transcript.querySelector(".transcript-empty");
    if (empty) empty.remove();
    const item = el("li", {class: "t " + cls}, el("span", {class: "t-time mono"}, stamp()), ...children);
    transcript.appendChild(item);
    item.scrollIntoView({block: "nearest"});
    return item;
  }

  function note(text, kind) {
    return entry("t-event t-" + kind, el("span", {class: "t-text"}, text));
  }

  function wire(who, line) {
    entry("t-wire", el("span", {class: "t-dir mono"}, who === "server" ? "callpop ▸" : "◂ asterisk"),
      el("code", {class: "t-line"}, line));
  }

  function stamp() {
    return state.startedAt ? duration(Date.now() - state.startedAt) : "";
  }

  $("show-wire").addEventListener("change", (event) => {
    transcript.classList.toggle("show-wire", event.target.checked);
  });

  /* --- the handset's screen ------------------------------------------------------------------ */

  const LABELS = {idle: "Ready", dialing: "Calling…", ivr: "In the IVR", queue: "On hold",
    ringing: "Ringing…", connected: "Connected", voicemail: "Voicemail", incoming: "Incoming call",
    ended: "Call ended"};

  function renderScreen() {
    handset.dataset.state = state.call;
    $("screen-state").textContent = LABELS[state.call] || state.call;
    const caller = state.caller;
    $("screen-who").textContent = state.call === INCOMING
      ? (state.incoming === "outbound" ? "Acme Telecom" : "Acme Telecom (callback)")
      : caller ? (caller.name || "Unknown caller") : "Choose a caller";
    $("screen-number").textContent = caller ? caller.number : "";
    if (state.call === "idle") $("screen-line").textContent = "Press the green button to call " + data.extension;
    if (!IN_CALL.has(state.call)) $("screen-keys").textContent = state.keys;
    const live = IN_CALL.has(state.call);
    const ringing = state.call === INCOMING;
    document.querySelectorAll(".key").forEach((k) => { k.disabled = !live; });
    $("call-btn").hidden = live;
    $("call-btn").disabled = !ringing && (!caller || !state.socket || state.socket.readyState !== WebSocket.OPEN);
    $("call-btn").setAttribute("aria-label", ringing ? "Answer" : "Call");
    $("hangup-btn").hidden = !live && !ringing;
    $("hangup-btn").setAttribute("aria-label", ringing ? "Decline" : "Hang up");
    document.querySelectorAll(".caller").forEach((n) => { n.disabled = live || ringing; });
    tick();
  }

  function tick() {
    const timer = $("screen-timer");
    if (IN_CALL.has(state.call) || state.call === INCOMING) {
      timer.textContent = duration(Date.now() - (state.connectedAt || state.startedAt));
    } else if (state.call === "idle") {
      timer.textContent = "";
    }
  }

  /* --- the flood of virtual callers ------------------------------------------------------------- */

  const flood = data.flood || {};
  const queueStates = {};   // queue -> what callpop folded from AMI (the IVR reads it)
  let floodView = {active: false, queue: null, waiting: 0, holding: []};

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "unknown";
    if (seconds < 60) return seconds + " s";
    return Math.round(seconds / 60) + " min";
  }

  function floodQueue() {
    return floodView.active ? floodView.queue : $("flood-queue").value;
  }

  function renderFlood() {
    const card = $("flood-card");
    card.dataset.active = floodView.active ? "true" : "false";
    $("unflood-btn").hidden = !floodView.active;
    $("flood-btn").textContent = floodView.active ? "Add more callers" : "Flood the queue";
    $("flood-queue").disabled = floodView.active;
    if (floodView.active) {
      $("flood-queue").value = floodView.queue;
      const held = floodView.holding.length
        ? " Holding " + floodView.holding.join(", ") + " on virtual calls."
        : " No agent is online to hold.";
      $("flood-status").textContent = floodView.waiting + " virtual caller" + (floodView.waiting === 1 ? "" : "s") +
        " waiting in " + floodView.queue + "." + held;
    } else {
      $("flood-status").textContent = "";
    }
    renderEstimate();
  }

  function renderEstimate() {
    const box = clear($("flood-estimate"));
    const queue = floodQueue();
    const q = queueStates[queue];
    if (!q) return;
    const parts = [
      "callpop's estimate for " + queue + ": ", el("strong", {id: "flood-ewt"}, minutes(q.ewt_s)),
      " (" + q.callers + " waiting, " + q.available + " of " + q.logged_in + " agents free)."];
    if (flood.offer_above_s && queue === flood.queue) {
      const over = q.ewt_s !== null && q.ewt_s !== undefined && q.ewt_s > flood.offer_above_s;
      parts.push(" ", el("span", {class: over ? "over" : "under"},
        over ? "Above " + minutes(flood.offer_above_s) + ": the IVR (" + flood.node + ") offers a callback."
          : "A callback is offered above " + minutes(flood.offer_above_s) + " (" + flood.node + ")."));
    }
    parts.forEach((p) => box.appendChild(typeof p === "string" ? document.createTextNode(p) : p));
  }

  function onFlood(msg) {
    floodView = msg;
    renderFlood();
  }

  function onQueueState(msg) {
    queueStates[msg.queue] = msg;
    if (msg.queue === floodQueue()) renderEstimate();
  }

  function setUpFlood() {
    const select = $("flood-queue");
    (flood.queues || []).forEach((q) => select.appendChild(el("option", {value: q}, q)));
    if (flood.queue) select.value = flood.queue;
    $("flood-callers").value = flood.callers || 8;
    $("flood-callers").max = flood.max || 200;
    select.addEventListener("change", renderEstimate);
    $("flood-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const callers = parseInt($("flood-callers").value, 10);
      if (!(callers >= 1)) { $("flood-callers").focus(); return; }
      send({type: "flood", queue: select.value, callers});
    });
    $("unflood-btn").addEventListener("click", () => send({type: "unflood"}));
    if (!select.options.length) $("flood-card").hidden = true;
  }

  /* --- wiring -------------------------------------------------------------------------------- */

  document.querySelectorAll(".key").forEach((button) => {
    button.addEventListener("click", () => press(button.dataset.key));
  });
  $("call-btn").addEventListener("click", dial);
  $("hangup-btn").addEventListener("click", hangup);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.metaKey || event.ctrlKey || event.altKey) return;
    if (KEYS.indexOf(event.key) >= 0 && IN_CALL.has(state.call)) { press(event.key); event.preventDefault(); }
    else if (event.key === "Enter" && !IN_CALL.has(state.call)) { dial(); event.preventDefault(); }
    else if (event.key === "Escape") hangup();
  });

  $("extension").textContent = data.extension;
  $("ivr-clock").textContent = "IVR clock: " + data.ivr_clock + ".";
  renderCallers();
  setUpFlood();
  renderScreen();
  setInterval(tick, 1000);
  connect();
})();
