/* callpop agent desk: the pop card, the disposition form, today's calls.
 * Protocol: see screenpop/protocol.py. Every server value is placed with
 * textContent (callpop.el), never as markup. */
"use strict";

(function () {
  const {el, clear, api, duration, clockTime, shortDate, setConn, Socket} = window.callpop;
  const boot = window.callpop.boot();
  const dispositions = boot.dispositions || [];

  const state = {
    pops: new Map(),          // call id -> pop view, in arrival order
    selected: null,           // call id shown in the card
    seq: 0,                   // last pop event seq seen on this page
    epoch: null,              // the hub instance those seqs belong to
    alerting: false,          // this tab rings for new offers
    popOn: localStorage.getItem("callpop.popOn"),
    drafts: new Map(),        // call id -> notes typed here
    choices: new Map(),       // call id -> outcome chosen here, not yet saved
    rings: 0,
  };

  function dispositionLabel(code) {
    const known = dispositions.find((d) => d.code === code);
    return known ? known.label : code;
  }

  const STATE_LABEL = {offered: "Ringing", accepted: "Live", wrapup: "Wrap-up", done: "Done", retracted: "Missed"};
  const MISSED_LABEL = {no_answer: "Missed", caller_hungup: "Abandoned", abandoned: "Abandoned", timeout: "Abandoned"};
  const RETRACT_REASON = {
    answered_elsewhere: "answered by another agent",
    no_answer: "not answered in time",
    caller_hungup: "the caller hung up",
    abandoned: "the caller left the queue",
    timeout: "the queue timed out",
  };

  const area = document.getElementById("pop-area");
  const tabs = document.getElementById("pop-tabs");
  const form = document.getElementById("disposition-form");
  const select = form.elements.namedItem("disposition");
  const notes = form.elements.namedItem("notes");
  const saveButton = document.getElementById("save-disposition");
  const formStatus = document.getElementById("disposition-status");
  const idle = document.getElementById("idle");

  /* --- socket --------------------------------------------------------------------- */

  const socket = new Socket("/ws", {
    hello: () => {
      const hello = {type: "hello", since: state.seq, view: "panel"};
      if (state.epoch) hello.epoch = state.epoch;
      if (state.popOn) hello.pop_on = state.popOn;
      return hello;
    },
    onMessage: handle,
    onOpen: () => { if (document.hasFocus()) socket.send({type: "focus"}); },
    onClose: () => {
      // an expired session shows up as a refused upgrade: ask the API, which redirects
      api("GET", "/api/v1/calls/today").catch(() => {});
    },
  });

  function handle(msg) {
    switch (msg.type) {
      case "welcome":
        state.epoch = msg.epoch;
        setPopOn(msg.pop_on, false);
        setConn("up", "Connected");
        break;
      case "reset":
        state.pops.clear();
        state.seq = msg.seq;
        render();
        break;
      case "alert":
        state.alerting = !!msg.alerting;
        renderAlertRole();
        break;
      case "prefs":
        setPopOn(msg.pop_on, false);
        break;
      case "pop.offered":
      case "pop.accepted":
      case "pop.updated":
      case "pop.wrapup":
        state.seq = Math.max(state.seq, msg.seq);
        upsert(msg.type, msg.pop);
        // the queue's wrap-up time runs from the hang-up (controls.js shows it)
        if (msg.pop.state === "wrapup") window.dispatchEvent(new CustomEvent("callpop:wrapup", {detail: msg.pop}));
        break;
      case "pop.retracted":
      case "pop.done":
        state.seq = Math.max(state.seq, msg.seq);
        remove(msg.type, msg.pop);
        break;
      case "agent.status":  // the status menu (controls.js) shows what the PBX has
        window.dispatchEvent(new CustomEvent("callpop:agentstatus", {detail: {status: msg.status, reason: msg.reason || ""}}));
        break;
      case "dial.result":  // what became of a click-to-dial (the POST said only "queued")
        dialOutcome(msg);
        break;
      case "error":
        setConn("down", msg.message || "Disconnected");
        break;
    }
  }

  function upsert(type, pop) {
    const known = state.pops.has(pop.call_id);
    state.pops.set(pop.call_id, pop);
    const current = state.selected && state.pops.get(state.selected);
    if (!current || type === "pop.accepted" ||
        (type === "pop.offered" && current.state !== "accepted")) {
      state.selected = pop.call_id;
    }
    if (type === "pop.offered") ring(pop);
    if (type === "pop.wrapup") refreshToday();
    render(known && type === "pop.updated" ? pop.call_id : null);
  }

  function remove(type, pop) {
    state.pops.delete(pop.call_id);
    state.drafts.delete(pop.call_id);
    state.choices.delete(pop.call_id);
    if (state.selected === pop.call_id) {
      const rest = Array.from(state.pops.keys());
      state.selected = rest.length ? rest[rest.length - 1] : null;
    }
    if (type === "pop.retracted") {
      toast("Call from " + callerLabel(pop) + " " + (RETRACT_REASON[pop.reason] || "was withdrawn") + ".");
    } else {
      refreshToday();
    }
    render();
  }

  /* --- alerting: only the tab the server picked rings -------------------------------- */

  function ring(pop) {
    if (!state.alerting) return;
    state.rings += 1;
    document.body.dataset.rings = String(state.rings);
    flashTitle("Call: " + callerLabel(pop));
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35].forEach((offset) => {
        const osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.12, ctx.currentTime + offset);
        gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + offset + 0.3);
        osc.connect(gain).connect(ctx.destination);
        osc.start(ctx.currentTime + offset);
        osc.stop(ctx.currentTime + offset + 0.3);
      });
    } catch (_e) { /* no audio before the first click: the title still flashes */ }
    notify(pop);
  }

  /* Desktop notifications: opt-in (the toggle), only in the tab that rings. */
  const notifyToggle = document.getElementById("notify-toggle");
  function notifyOn() {
    return "Notification" in window && Notification.permission === "granted"
      && localStorage.getItem("callpop.notify") === "on";
  }
  function notify(pop) {
    if (!notifyOn()) return;
    try {
      const note = new Notification("Call: " + callerLabel(pop), {tag: "callpop-" + pop.call_id, body: "Ringing at your desk"});
      note.onclick = () => { window.focus(); state.selected = pop.call_id; render(); note.close(); };
    } catch (_e) { /* a browser that only notifies from a service worker */ }
  }
  if (!("Notification" in window)) {
    notifyToggle.disabled = true;
    notifyToggle.parentElement.title = "This browser has no desktop notifications";
  }
  notifyToggle.checked = notifyOn();
  notifyToggle.addEventListener("change", async () => {
    if (!notifyToggle.checked) { localStorage.setItem("callpop.notify", "off"); return; }
    const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    notifyToggle.checked = permission === "granted";
    localStorage.setItem("callpop.notify", notifyToggle.checked ? "on" : "off");
    if (!notifyToggle.checked) toast("Desktop alerts are blocked by the browser for this site.");
  });

  let titleTimer = null;
  const baseTitle = document.title;
  function flashTitle(text) {
    clearInterval(titleTimer);
    let on = true, n = 0;
    titleTimer = setInterval(() => {
      document.title = on ? "☎ " + text : baseTitle;
      on = !on;
      if (++n > 12 || document.hasFocus()) { clearInterval(titleTimer); document.title = baseTitle; }
    }, 700);
  }

  function renderAlertRole() {
    const node = document.getElementById("alert-role");
    node.textContent = state.alerting ? "This tab rings" : "Rings in another tab";
    node.className = "alert-role " + (state.alerting ? "on" : "off");
    document.body.dataset.alerting = state.alerting ? "1" : "0";
  }

  window.addEventListener("focus", () => socket.send({type: "focus"}));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") socket.send({type: "focus"});
  });

  /* --- pop-on preference ---------------------------------------------------------------- */

  function setPopOn(value, send) {
    if (value !== "ring" && value !== "answer") return;
    state.popOn = value;
    localStorage.setItem("callpop.popOn", value);
    document.querySelectorAll("[data-pop-on]").forEach((b) => {
      b.setAttribute("aria-pressed", b.dataset.popOn === value ? "true" : "false");
    });
    if (send) socket.send({type: "prefs", pop_on: value});
  }
  document.querySelectorAll("[data-pop-on]").forEach((b) => {
    b.addEventListener("click", () => setPopOn(b.dataset.popOn, true));
  });

  /* --- rendering ------------------------------------------------------------------------ */

  // How the IVR identified the caller, as the card says it: verified only by a PIN, or by
// an account that is the caller ID's customer's (docs/contracts.md, "Matching and identity").
const VERIFIED_BY = {"pin": "✓ Verified by PIN", "account+ani": "✓ Verified: account and caller ID"};
function identityLabel(p) {
  if (!p.verified) return "Not verified";
  return VERIFIED_BY[(p.identity && p.identity.level) || ""] || "✓ Verified in IVR";
}

function callerLabel(pop) {
    const p = pop.payload || {};
    if (p.customer && p.customer.name) return p.customer.name;
    if (p.caller && p.caller.name) return p.caller.name;
    if (p.caller && p.caller.number) return p.caller.number;
    return "Unknown caller";
  }

  function render(onlyUpdated) {
    renderTabs();
    const pop = state.selected ? state.pops.get(state.selected) : null;
    const focused = document.activeElement;
    const typingInCard = focused && area.contains(focused) && focused.matches("input, textarea, select");
    if (!(onlyUpdated && typingInCard && onlyUpdated === state.selected)) {
      renderCard(pop);
    }
    renderForm(pop);
  }

  function renderTabs() {
    clear(tabs);
    for (const pop of state.pops.values()) {
      const selected = pop.call_id === state.selected;
      tabs.appendChild(el("button", {
        type: "button", role: "tab", class: "pop-tab state-" + pop.state,
        "aria-selected": selected ? "true" : "false",
        dataset: {callId: pop.call_id},
        onclick: () => { state.selected = pop.call_id; render(); },
      }, el("span", {class: "state-dot", "aria-hidden": "true"}),
      el("span", {class: "pop-tab-name"}, callerLabel(pop)),
      el("span", {class: "pop-tab-state"}, STATE_LABEL[pop.state] || pop.state)));
    }
  }

  // "Callback requested at 10:42 after 6 min in queue": a call callpop placed for a
  // caller who asked to be called back rather than hold (docs/admin.md, "Callbacks").
  function callbackNotice(cb) {
    const waited = Math.max(0, Number(cb.waited_s) || 0);
    const wait = waited < 60 ? waited + " s" : Math.round(waited / 60) + " min";
    const at = clockTime(cb.requested_at);
    return el("div", {class: "notice notice-info notice-callback", id: "pop-callback"},
      el("strong", null, "Callback"),
      " requested" + (at ? " at " + at : "") + " after " + wait + " in queue",
      cb.attempt > 1 ? el("span", {class: "muted"}, " (call " + cb.attempt + ")") : null);
  }

  function renderCard(pop) {
    clear(area);
    if (!pop) {
      area.appendChild(idle);
      return;
    }
    const p = pop.payload || {};
    const caller = p.caller || {};
    const customer = p.customer;
    const head = el("header", {class: "pop-head"},
      el("div", {class: "pop-state-line"},
        el("span", {class: "state-badge"}, el("span", {class: "state-dot", "aria-hidden": "true"}),
          STATE_LABEL[pop.state] || pop.state),
        pop.queue ? el("span", {class: "chip chip-dark"}, "Queue " + pop.queue) : null,
        p.topic ? el("span", {class: "chip chip-dark"}, "Topic " + p.topic) : null,
        pop.offers > 1 ? el("span", {class: "chip chip-dark"}, "Offer " + pop.offers) : null,
        el("span", {class: "timer", dataset: {since: pop.since}}, "")),
      el("div", {class: "pop-caller"},
        el("div", {class: "pop-caller-main"},
          el("h1", {id: "pop-caller-name"}, callerLabel(pop)),
          el("div", {class: "caller-meta"},
            el("span", {id: "pop-caller-number", class: "mono"}, caller.number || "number withheld"),
            caller.number ? dialButton(caller.number) : null,
            customer && caller.name && caller.name !== customer.name
              ? el("span", {class: "muted", title: "Caller ID name"}, "CID: " + caller.name) : null)),
        el("div", {class: "badges"},
          p.vip ? el("span", {class: "badge badge-vip"}, "VIP") : null,
          p.tier && !p.vip ? el("span", {class: "badge badge-tier"}, p.tier) : null,
          el("span", {class: "badge " + (p.verified ? "badge-ok" : "badge-muted"), id: "pop-identity",
              title: "Identified in the IVR by: " + ((p.identity && p.identity.level) || "none")},
            identityLabel(p)),
          p.identity && p.identity.warning === "account-not-caller"
            ? el("span", {class: "badge badge-warn", id: "identity-warning"},
                "⚠ Account is not the caller ID's customer") : null,
          customer && customer.record_url
            ? el("a", {class: "btn btn-light btn-small", href: customer.record_url, target: "_blank",
                rel: "noopener noreferrer", id: "open-in-crm"}, "Open in CRM ↗") : null)));

    const notices = [];
    if (p.callback) notices.push(callbackNotice(p.callback));
    if (p.status === "loading") notices.push(el("div", {class: "notice notice-info"}, "Loading customer data…"));
    if (p.status === "partial") notices.push(el("div", {class: "notice notice-warn"},
      "CRM unavailable: showing what the IVR knows. " + (p.crm_error || "")));
    if (pop.handoff && pop.handoff.length) {
      notices.push(el("div", {class: "notice notice-handoff"},
        el("strong", null, "Transferred call. "),
        pop.handoff.map((h) => el("span", {class: "handoff-note"}, h.agent + ": “" + h.notes + "”"))));
    }

    const left = el("div", {class: "pop-col"}, customerPanel(pop, p), ivrPanel(p));
    const right = el("div", {class: "pop-col"}, scriptPanel(p), casesPanel(p), historyPanel(p));
    area.appendChild(el("article", {class: "pop-card state-" + pop.state,
      dataset: {callId: pop.call_id, state: pop.state}}, head, notices, el("div", {class: "pop-body"}, left, right)));
    tick();
  }

  function section(title, extra, ...body) {
    return el("section", {class: "panel"}, el("header", {class: "panel-head"}, el("h3", null, title), extra), body);
  }

  function customerPanel(pop, p) {
    if (p.match === "one" && p.customer) {
      const c = p.customer;
      const rows = [
        ["Account", c.account], ["Tier", c.tier], ["Language", c.language], ["Email", c.email],
        ["CRM id", c.external_id || c.id],
      ].filter((r) => r[1]);
      return section("Customer", null, el("div", {id: "customer-card", class: "customer-card"},
        el("div", {class: "customer-name"}, c.name),
        el("dl", {class: "facts"}, rows.map(([k, v]) => [el("dt", null, k), el("dd", null, v)])),
        c.phones && c.phones.length ? el("div", {class: "phones"},
          c.phones.map((ph) => el("span", {class: "phone"}, el("span", {class: "mono"}, ph), dialButton(ph)))) : null,
        c.notes ? el("p", {class: "customer-notes"}, c.notes) : null));
    }
    if (p.match === "several") {
      return section("Several customers share this number", null,
        el("p", {class: "muted small"}, "Ask the caller who they are, then pick them."),
        el("ul", {class: "chooser", id: "customer-chooser"}, p.candidates.map((c) => el("li", null,
          el("div", null, el("strong", {class: "customer-name"}, c.name),
            el("div", {class: "muted small"}, [c.account ? "Account " + c.account : null, c.tier, c.email].filter(Boolean).join(" · "))),
          el("button", {type: "button", class: "btn btn-secondary btn-small",
            onclick: (e) => chooseCustomer(pop, c, e.currentTarget)}, "This is the caller")))));
    }
    if (p.match === "none") return newCustomerPanel(pop, p);
    if (p.match === "pending") return section("Customer", null, el("div", {class: "skeleton"}), el("div", {class: "skeleton short"}));
    return section("Customer", null, el("p", {class: "muted"}, "Customer data is not available right now."));
  }

  function newCustomerPanel(pop, p) {
    const prefill = p.new_customer || {};
    const status = el("span", {class: "form-status", role: "status"});
    const f = el("form", {class: "form grid-2", id: "new-customer-form", autocomplete: "off"},
      field("Name", el("input", {name: "name", required: true, maxlength: 200, value: prefill.name || ""})),
      field("Phone", el("input", {name: "phone", type: "tel", maxlength: 40, value: prefill.phone || ""})),
      field("Email", el("input", {name: "email", type: "email", maxlength: 254})),
      field("Account", el("input", {name: "account", maxlength: 64})),
      el("div", {class: "form-row span-2"}, el("button", {type: "submit", class: "btn btn-secondary"}, "Create customer"), status));
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = "Saving…";
      try {
        await api("POST", "/api/v1/customers", {
          call_id: pop.call_id, name: f.elements.name.value, phone: f.elements.phone.value,
          email: f.elements.email.value, account: f.elements.account.value});
        status.textContent = "Created.";
      } catch (err) { status.textContent = err.message; status.classList.add("error"); }
    });
    return section("Unknown caller", el("span", {class: "badge badge-muted"}, "not in the CRM"),
      el("p", {class: "muted small"}, "No customer has this number. Create one:"), f);
  }

  function field(label, input) {
    return el("label", {class: "field"}, el("span", null, label), input);
  }

  async function chooseCustomer(pop, customer, button) {
    button.disabled = true;
    try { await api("POST", "/api/v1/calls/" + encodeURIComponent(pop.call_id) + "/customer", {customer_id: customer.id}); }
    catch (err) { toast(err.message); button.disabled = false; }
  }

  function ivrPanel(p) {
    const steps = (p.ivr && p.ivr.steps) || [];
    const body = steps.length ? el("ol", {class: "ivr-path", id: "ivr-path"}, steps.map((s) => el("li", {class: "ivr-step"},
      el("span", {class: "ivr-label"}, s.label || s.node),
      s.keys && s.keys.length ? el("span", {class: "ivr-keys"}, s.keys.map((k) => el("kbd", null, k))) : null,
      s.result && s.result !== "option" ? el("span", {class: "ivr-result muted small"}, s.result) : null)))
      : el("p", {class: "muted"}, "No IVR path (direct call).");
    return section("IVR path", p.flow ? el("span", {class: "muted small"}, "flow " + p.flow) : null, body);
  }

  function scriptPanel(p) {
    if (!p.script) return null;
    const s = p.script;
    return section("Script: " + s.title, p.topic ? el("span", {class: "chip"}, p.topic) : null,
      s.summary ? el("p", {class: "muted small"}, s.summary) : null,
      el("ol", {class: "script", id: "script"}, s.steps.map(scriptStep)));
  }

  const STEP_LABEL = {say: "Say", ask: "Ask", check: "Check", do: "Do"};
  function scriptStep(step) {
    return el("li", {class: "script-step step-" + step.kind},
      el("span", {class: "step-kind"}, STEP_LABEL[step.kind] || step.kind),
      el("span", {class: "step-text"}, step.text),
      step.disposition ? el("button", {type: "button", class: "btn btn-link btn-small",
        onclick: () => { select.value = step.disposition; state.choices.set(formFor, select.value); }}, "→ " + step.disposition) : null,
      step.answers ? el("div", {class: "answers"}, step.answers.map((a) => el("details", null,
        el("summary", null, a.answer), el("ol", {class: "script"}, a.steps.map(scriptStep))))) : null);
  }

  function casesPanel(p) {
    const cases = p.cases || [];
    if (p.match !== "one") return null;
    return section("Open cases", el("span", {class: "pill"}, String(cases.length)),
      cases.length ? el("ul", {class: "list", id: "open-cases"}, cases.map((c) => el("li", null,
        el("span", {class: "badge badge-" + (c.status === "open" ? "warn" : "muted")}, c.status),
        el("span", {class: "list-main"}, c.subject),
        el("span", {class: "muted small"}, shortDate(c.opened)))))
        : el("p", {class: "muted small"}, "No open case."));
  }

  function historyPanel(p) {
    const items = p.interactions || [];
    if (p.match !== "one") return null;
    return section("Recent calls", null,
      items.length ? el("ul", {class: "list", id: "recent-interactions"}, items.map((i) => el("li", null,
        el("span", {class: "muted small nowrap"}, shortDate(i.started)),
        el("span", {class: "list-main"}, i.journey || "call",
          i.notes ? el("span", {class: "muted small block"}, i.notes) : null),
        i.disposition ? el("span", {class: "chip"}, dispositionLabel(i.disposition)) : null)))
        : el("p", {class: "muted small"}, "No earlier call."));
  }

  function dialButton(number) {
    return el("button", {type: "button", class: "btn btn-icon", title: "Call " + number,
      "aria-label": "Call " + number, onclick: () => dial(number)}, "✆");
  }

  /* --- the disposition form ----------------------------------------------------------------- */

  let formFor = null;
  function renderForm(pop) {
    const label = document.getElementById("wrapup-call");
    const canSave = pop && (pop.state === "accepted" || pop.state === "wrapup");
    select.disabled = notes.disabled = saveButton.disabled = !canSave;
    if (!pop) {
      label.textContent = "No call selected";
      formFor = null;
      notes.value = "";
      formStatus.textContent = "";
      fillOptions(null);
      renderHandoff(null);
      transferFor(null);
      return;
    }
    label.textContent = callerLabel(pop) + " · " + (STATE_LABEL[pop.state] || pop.state);
    if (formFor !== pop.call_id) {
      formFor = pop.call_id;
      notesHint.textContent = "saved as you type";
      formStatus.textContent = "";
      formStatus.className = "form-status";
      fillOptions(pop);
      notes.value = state.drafts.has(pop.call_id) ? state.drafts.get(pop.call_id) : (pop.notes || "");
    } else if (document.activeElement !== notes && !state.drafts.has(pop.call_id)) {
      notes.value = pop.notes || ""; // typed in another tab of this agent
    }
    if (pop.disposition && !select.value) select.value = pop.disposition;
    transferFor(pop);
    notesEchoed(pop);
    renderHandoff(pop);
  }

  /* Only the call the agent is talking on can be transferred (controls.js sends it). */
  function transferFor(pop) {
    const form = document.getElementById("transfer-form");
    const live = pop && pop.state === "accepted";
    form.dataset.callId = live ? pop.call_id : "";
    document.getElementById("transfer-button").disabled = !live;
    document.getElementById("transfer-call").textContent = live ? callerLabel(pop) : "No call to transfer";
  }

  function fillOptions(pop) {
    const topic = pop && pop.payload ? pop.payload.topic : null;
    clear(select);
    select.appendChild(el("option", {value: ""}, "Choose an outcome…"));
    for (const d of dispositions) {
      if (d.topics.length && topic && !d.topics.includes(topic)) continue;
      select.appendChild(el("option", {value: d.code}, d.label + (d.requires_note ? " (note required)" : "")));
    }
    /* the outcome belongs to its call: a new call's form starts empty (issue 14) */
    select.value = pop ? (pop.disposition || state.choices.get(pop.call_id) || "") : "";
  }
  select.addEventListener("change", () => {
    if (formFor) state.choices.set(formFor, select.value);
  });

  function renderHandoff(pop) {
    const box = document.getElementById("handoff");
    clear(box);
    const items = pop && pop.handoff ? pop.handoff : [];
    box.hidden = !items.length;
    items.forEach((h) => box.appendChild(el("p", null, el("strong", null, "Notes from " + h.agent + ": "), h.notes)));
  }

  /* Notes are autosaved over the socket: the server keeps them with the pop, so a
   * reload, another tab, or the agent the call is transferred to sees them. The hint
   * says "Saved" once the server has echoed them back. */
  const notesHint = document.getElementById("notes-hint");
  let notesTimer = null, pendingNotes = null;
  function flushNotes() {
    clearTimeout(notesTimer);
    if (pendingNotes && socket.send({type: "notes", call_id: pendingNotes.callId, notes: pendingNotes.text})) {
      pendingNotes = null;
    }
  }
  notes.addEventListener("input", () => {
    if (!formFor) return;
    state.drafts.set(formFor, notes.value);
    pendingNotes = {callId: formFor, text: notes.value};
    notesHint.textContent = "saving…";
    clearTimeout(notesTimer);
    notesTimer = setTimeout(flushNotes, 400);
  });
  notes.addEventListener("blur", flushNotes);
  window.addEventListener("pagehide", flushNotes);

  function notesEchoed(pop) {
    if (pop.call_id !== formFor || pop.notes !== notes.value) return;
    state.drafts.delete(pop.call_id);
    notesHint.textContent = pop.notes ? "saved" : "saved as you type";
  }

  /* Answer-time keys, listed on the page (#shortcuts): Alt+O / Alt+Shift+O step
   * through the outcomes, Alt+N goes to the notes, Alt+S saves. */
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey || select.disabled) return;
    const key = event.code;
    if (key === "KeyO") {
      const count = select.options.length;
      if (count < 2) return;
      const step = event.shiftKey ? -1 : 1;
      let index = select.selectedIndex + step;
      if (index < 1) index = count - 1;
      if (index >= count) index = 1;
      select.selectedIndex = index;
      if (formFor) state.choices.set(formFor, select.value);
    } else if (key === "KeyN" && !event.shiftKey) {
      notes.focus();
    } else if (key === "KeyS" && !event.shiftKey) {
      form.requestSubmit(saveButton);
    } else {
      return;
    }
    event.preventDefault();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pop = formFor && state.pops.get(formFor);
    if (!pop) return;
    const code = select.value;
    const chosen = dispositions.find((d) => d.code === code);
    if (!code) { formStatus.textContent = "Choose an outcome."; formStatus.className = "form-status error"; return; }
    if (chosen && chosen.requires_note && !notes.value.trim()) {
      formStatus.textContent = "This outcome needs a note."; formStatus.className = "form-status error"; notes.focus(); return;
    }
    saveButton.disabled = true;
    formStatus.textContent = "Saving…";
    formStatus.className = "form-status";
    try {
      const customer = pop.payload && pop.payload.customer;
      await api("POST", "/api/v1/calls/" + encodeURIComponent(pop.call_id) + "/disposition",
        {disposition: code, notes: notes.value, customer_id: customer ? customer.id : null});
      state.drafts.delete(pop.call_id);
      formStatus.textContent = "Saved ✓";
      formStatus.className = "form-status ok";
      refreshToday();
    } catch (err) {
      formStatus.textContent = err.message;
      formStatus.className = "form-status error";
    } finally {
      saveButton.disabled = !(state.pops.get(pop.call_id));
    }
  });

  /* --- click-to-dial ---------------------------------------------------------------------- */

  // What became of each click-to-dial (`dial.result` frames, by the dial's call id): the
  // PBX can tell an offline phone before the POST that asked has its answer.
  const dialOutcomes = new Map();

  function showDial(text, kind) {
    const status = document.getElementById("dial-status");
    status.textContent = text;
    status.className = "form-status small" + (kind ? " " + kind : "");
  }

  function dialOutcome(msg) {
    dialOutcomes.set(msg.call, msg);
    if (dialOutcomes.size > 20) dialOutcomes.delete(dialOutcomes.keys().next().value);
    const kind = msg.outcome === "connected" ? "ok" : msg.outcome === "unknown" ? "" : "error";
    showDial(msg.message, kind);
  }

  async function dial(number) {
    showDial("Calling " + number + "…");
    try {
      const result = await api("POST", "/api/v1/dial", {number});
      const known = dialOutcomes.get(result.call);
      if (known) dialOutcome(known);
      else showDial("Your phone rings: pick up to call " + result.number + ".");
    } catch (err) {
      showDial(err.message, "error");
    }
  }
  document.getElementById("dial-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = event.currentTarget.elements.number.value.trim();
    if (number) dial(number);
  });

  /* --- today's calls ---------------------------------------------------------------------- */

  async function refreshToday() {
    let data;
    try { data = await api("GET", "/api/v1/calls/today"); } catch (_e) { return; }
    const list = clear(document.getElementById("today-calls"));
    document.getElementById("today-count").textContent = String(data.calls.length);
    if (!data.calls.length) { list.appendChild(el("li", {class: "muted empty"}, "No calls yet today.")); return; }
    for (const c of data.calls) {
      // talk (answer to hang-up) and wrap-up (hang-up to outcome) apart, as the server counts them
      const talk = c.talk_s == null ? null : el("span", {class: "today-talk"}, "talk " + duration(c.talk_s * 1000));
      const wrap = c.wrapup_s == null ? null : el("span", {class: "today-wrap"}, "wrap-up " + duration(c.wrapup_s * 1000));
      list.appendChild(el("li", {class: "today-item", dataset: {callId: c.call_id}},
        el("span", {class: "today-time mono"}, clockTime(c.offered_at)),
        el("span", {class: "today-who"}, c.caller_name || c.caller || "Unknown caller",
          talk || wrap ? el("span", {class: "muted small block today-times"}, talk, talk && wrap ? " · " : null, wrap) : null),
        el("span", {class: "chip " + (c.disposition ? "chip-ok" : c.state === "retracted" ? "chip-bad" : "chip-warn"),
          title: c.state === "retracted" ? (RETRACT_REASON[c.reason] || "") : null},
          c.disposition ? dispositionLabel(c.disposition)
            : c.state === "retracted" ? (MISSED_LABEL[c.reason] || "Missed")
            : (STATE_LABEL[c.state === "live" ? "accepted" : c.state] || c.state))));
    }
  }

  /* --- small things -------------------------------------------------------------------------- */

  function toast(text) {
    const node = el("div", {class: "toast", role: "status"}, text);
    document.body.appendChild(node);
    setTimeout(() => node.classList.add("show"), 10);
    setTimeout(() => { node.classList.remove("show"); setTimeout(() => node.remove(), 300); }, 4000);
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll(".timer[data-since]").forEach((node) => {
      const since = Date.parse(node.dataset.since);
      if (!isNaN(since)) node.textContent = duration(now - since);
    });
  }
  setInterval(tick, 1000);

  setPopOn(state.popOn || "ring", false);
  renderAlertRole();
  render();
  refreshToday();
  socket.start();
})();
