/* callpop wallboard: calls in the IVR by node, calls waiting per queue (with the
 * estimated wait and callbacks pending), agents and their states, the flood switch,
 * pushed live over /ws (view "wallboard"). Text only via textContent. */
"use strict";

(function () {
  const {el, clear, duration, setConn, Socket} = window.callpop;
  const STATE_LABEL = {available: "Available", ringing: "Ringing", on_call: "On a call",
    wrapup: "Wrap-up", offline: "Offline"};
  let board = null;
  let skew = 0; // server clock minus ours, so durations do not depend on the PC's clock

  const socket = new Socket("/ws", {
    hello: () => ({type: "hello", since: 0, view: "wallboard"}),
    onMessage: (msg) => {
      if (msg.type === "wallboard") {
        board = msg.board;
        skew = Date.parse(board.now) - Date.now();
        setConn("up", "Live");
        render();
      } else if (msg.type === "error") {
        setConn("down", msg.message || "Disconnected");
      }
    },
  });

  function since(iso) {
    const t = Date.parse(iso);
    return isNaN(t) ? "" : duration(Date.now() + skew - t);
  }

  function setText(id, text) { document.getElementById(id).textContent = text; }

  function render() {
    if (!board) return;
    const t = board.totals;
    setText("t-in-ivr", String(t.in_ivr));
    setText("t-waiting", String(t.waiting));
    setText("t-talking", String(t.talking));
    setText("t-handled", String(t.handled));
    setText("t-abandoned", String(t.abandoned));
    const online = board.agents.filter((a) => a.online);
    setText("t-ready", String(board.agents.filter((a) => a.state === "available").length));
    setText("t-online", online.length + " of " + board.agents.length + " signed in");
    setText("t-longest", longest());
    renderFlood();
    renderAgents();
    renderQueues();
    renderIvr();
  }

  function longest() {
    const oldest = board.queues.map((q) => q.oldest_since).filter(Boolean).sort()[0];
    return oldest ? "longest " + since(oldest) : "";
  }

  function renderFlood() {
    const flood = board.flood || {active: false, message: ""};
    document.getElementById("flood").hidden = !flood.active;
    setText("flood-message", flood.message || "");
  }

  // "EWT 4 min": whole minutes, rounded up (a caller told 4 who waits 4:30 feels misled)
  function ewt(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return "EWT < 1 min";
    return "EWT " + Math.ceil(seconds / 60) + " min";
  }

  // Today's post-call survey: "4.3 / 5 · 12" (the mean score of the answers, and how many)
  function survey(score) {
    if (!score) return "–";
    return score.average.toFixed(1) + " / 5 · " + score.answers;
  }

  // "queue state 2 min old": the age of a queue state nobody connected to AMI refreshed,
  // counted here so the board need not change every second to tell it
  function staleAge(iso) {
    const t = Date.parse(iso);
    if (isNaN(t)) return "queue state out of date — AMI not connected";
    const s = Math.max(0, Math.floor((Date.now() + skew - t) / 1000));
    const age = s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h";
    return "queue state " + age + " old — AMI not connected";
  }

  function ewtCell(q) {
    if (!q.state_seen_at) return el("td", {class: "num mono ewt"}, ewt(q.ewt_s));
    return el("td", {class: "num ewt ewt-stale"},
      el("span", {class: "chip chip-bad stale-age", dataset: {seen: q.state_seen_at},
        title: "No estimate: callpop has not heard from Asterisk's manager interface since "
          + new Date(Date.parse(q.state_seen_at)).toLocaleTimeString() + "; callers get the flow's unknown-state path"},
        staleAge(q.state_seen_at)));
  }

  function callbacks(n) {
    return n ? n + (n === 1 ? " callback" : " callbacks") : "";
  }

  function renderAgents() {
    const grid = clear(document.getElementById("agents"));
    const counts = {};
    for (const a of board.agents) {
      counts[a.state] = (counts[a.state] || 0) + 1;
      grid.appendChild(el("div", {class: "agent-tile state-" + a.state, dataset: {agentId: a.id, state: a.state}},
        el("div", {class: "agent-top"},
          el("span", {class: "avatar", "aria-hidden": "true"}, (a.name || "?").slice(0, 1).toUpperCase()),
          el("div", {class: "agent-id"}, el("strong", {class: "agent-name"}, a.name),
            el("span", {class: "muted small mono"}, a.interface))),
        el("div", {class: "agent-bottom"},
          el("span", {class: "state-badge"}, el("span", {class: "state-dot", "aria-hidden": "true"}),
            STATE_LABEL[a.state] || a.state),
          a.queue ? el("span", {class: "chip"}, a.queue) : null,
          a.survey ? el("span", {class: "chip survey", title: "Post-call survey today: average of 5, answers"},
            "★ " + survey(a.survey)) : null,
          a.since ? el("span", {class: "timer mono", dataset: {since: a.since}}, since(a.since)) : null)));
    }
    if (!board.agents.length) grid.appendChild(el("p", {class: "muted"}, "No agents yet: add them with callpop agents add."));
    setText("agents-summary", Object.entries(counts).map(([k, v]) => v + " " + (STATE_LABEL[k] || k).toLowerCase()).join(" · "));
    setText("survey-summary", board.survey ? "survey today " + survey(board.survey) : "");
  }

  function renderQueues() {
    const body = clear(document.querySelector("#queues tbody"));
    if (!board.queues.length) {
      body.appendChild(el("tr", {class: "empty"}, el("td", {colspan: 5, class: "muted"}, "No one is waiting.")));
      return;
    }
    for (const q of board.queues) {
      body.appendChild(el("tr", {class: q.state_seen_at ? "stale" : null, dataset: {queue: q.queue}},
        el("td", null, el("strong", null, q.queue),
          q.callbacks_pending ? el("span", {class: "pill callbacks"}, callbacks(q.callbacks_pending)) : null),
        el("td", {class: "num"}, el("span", {class: "pill pill-warn"}, String(q.waiting))),
        q.oldest_since ? el("td", {class: "num mono timer", dataset: {since: q.oldest_since}}, since(q.oldest_since))
          : el("td", {class: "num muted"}, "–"),
        ewtCell(q),
        el("td", {class: "num mono survey", title: "Post-call survey today: average of 5 (answers)"},
          q.survey ? q.survey.average.toFixed(1) + " (" + q.survey.answers + ")" : "–")));
    }
  }

  function renderDialplan() {
    // The version new calls take (per instance when they differ), and the versions
    // callers in the IVR are still on right after a reload.
    const d = board.dialplan || {instances: [], calls_by_version: []};
    const running = [...new Set(d.instances.map((i) => i.version))];
    let text = running.length === 1 ? "dialplan " + running[0]
      : running.length > 1 ? "instances differ: " + d.instances.map((i) => i.instance + " " + i.version).join(", ") : "";
    if (d.calls_by_version.length > 1) {
      text += " · calls on " + d.calls_by_version.map((v) => v.version + ": " + v.calls).join(", ");
    }
    setText("dialplan-version", text);
  }

  function renderIvr() {
    renderDialplan();
    const box = clear(document.getElementById("ivr-nodes"));
    const nodes = board.ivr.nodes;
    if (!nodes.length) { box.appendChild(el("p", {class: "muted empty"}, "No caller in the IVR.")); return; }
    const max = Math.max(...nodes.map((n) => n.calls));
    for (const n of nodes) {
      const bar = el("span", {class: "bar-fill"});
      bar.style.width = Math.max(6, Math.round(100 * n.calls / max)) + "%";
      box.appendChild(el("div", {class: "bar-row", dataset: {node: n.node}},
        el("span", {class: "bar-label"}, n.node, n.flow ? el("span", {class: "muted small"}, " · " + n.flow) : null),
        el("span", {class: "bar-track"}, bar),
        el("span", {class: "bar-value mono"}, String(n.calls))));
    }
  }

  setInterval(() => {
    document.querySelectorAll(".timer[data-since]").forEach((node) => { node.textContent = since(node.dataset.since); });
    document.querySelectorAll(".stale-age[data-seen]").forEach((node) => { node.textContent = staleAge(node.dataset.seen); });
    if (board) setText("t-longest", longest());
  }, 1000);

  socket.start();
})();
