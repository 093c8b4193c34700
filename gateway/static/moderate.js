// moderate.js — the demo's moderation desk (moderate.html): logs in as a moderator of the demo
// site, subscribes `moderation:<site>` and shows the live queue with one-click actions and
// keyboard shortcuts. Decisions go through the ingest API; the queue changes only through the
// channel (queue.item / queue.removed), so two moderators see the same queue. The "Banned" panel
// lists the site's bans in force (GET /v1/sites/{site}/bans), loaded on open and after each ban
// or lift made here, each with a "Lift ban" button.

import { CommentFeed } from "./commentfeed.js";
import { el, formatTime } from "./widgets.js";

const SESSION_KEY = "commentfeed.session"; // shared with the article page (app.js)
// Why ingest held a comment (comment.posted held_for), in the moderator's words.
const REASON_LABELS = { premoderated: "pre-moderated", banned_word: "banned word" };
const STATUS_LABELS = { pending: "Pending", reported: "Reported", hidden: "Hidden" };

const $ = (id) => document.getElementById(id);

/** The queue after one update (pure): a Map comment_id -> item, oldest post first. */
export function applyQueueUpdate(queue, type, data) {
  const next = new Map(queue);
  if (type === "queue.item") next.set(data.comment_id, data);
  else if (type === "queue.removed") next.delete(data.comment_id);
  else return queue;
  return new Map([...next.entries()].sort(([, a], [, b]) => Date.parse(a.posted_at) - Date.parse(b.posted_at)));
}

/** "12 s", "5 min", "3 h", "2 d": how long a comment has waited. */
export function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** Which actions an item offers, by its status. */
export function actionsFor(status) {
  if (status === "pending") return ["approve", "reject", "ban"];
  if (status === "reported") return ["approve", "hide", "ban"];
  return ["unhide", "ban"]; // hidden
}

const ACTION_LABELS = { approve: "Approve", reject: "Reject", hide: "Hide", unhide: "Un-hide", ban: "Ban author…" };
const KEY_ACTIONS = { a: ["approve", "unhide"], r: ["reject", "hide"], h: ["hide", "reject"], u: ["unhide"], b: ["ban"] };

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && saved.token && saved.user) return saved;
  } catch {
    // unreadable: logged out
  }
  return null;
}

function saveSession(value) {
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
}

function describeError(status, body) {
  if (status === 401) return "Your session has expired. Please log in again.";
  if (status === 403 && body?.code === "not_moderator") return "Only moderators can do that.";
  if (typeof body?.detail === "string") return body.detail;
  if (Array.isArray(body?.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return `The server answered ${status}.`;
}

async function callApi(baseUrl, token, method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw Object.assign(new Error("Could not reach the server."), { status: 0 });
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    // no JSON body
  }
  if (!response.ok) throw Object.assign(new Error(describeError(response.status, payload)), { status: response.status });
  return payload;
}

async function main() {
  const answer = await fetch("/config.json");
  if (!answer.ok) throw new Error(`/config.json answered ${answer.status}`);
  const config = await answer.json();
  const baseUrl = (config.ingest_url || "").replace(/\/$/, "");
  const channel = `moderation:${config.site}`;
  const feed = new CommentFeed(config.gateway_url);
  let current = loadSession();
  let queue = new Map();
  let stats = null;
  let selected = null; // comment_id
  let subscribed = null; // the unsubscribe function while logged in as a moderator
  let banTarget = null;
  let bansLoad = 0; // numbers the list's loads: only the latest one renders
  let bansFailed = false; // the status line shows a failed load
  let liftFocus = null; // user id of the row whose "Lift ban" had the focus when pressed

  const api = (method, path, body) =>
    callApi(baseUrl, current?.token, method, path, body).catch((err) => {
      if (err.status === 401) setSession(null, err.message);
      throw err;
    });

  feed.addEventListener("state", ({ detail }) => {
    const node = $("connection");
    node.dataset.state = detail.state;
    node.textContent = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…" }[detail.state]
      ?? "Offline — reload the page";
  });
  feed.addEventListener("auth", ({ detail }) => {
    if (!detail.user) setSession(null, "Your login was refused: please log in again.");
  });
  feed.addEventListener("error", ({ detail }) => {
    if (detail.channel !== channel) return;
    if (detail.code === "forbidden") status("This login is not a moderator of the site: the queue stays closed.");
    else if (detail.code === "unsubscribed") feed.setToken(current?.token).catch(() => {});
    else status(`The queue could not be loaded (${detail.code}); retrying.`);
  });
  feed.addEventListener("snapshot", ({ detail }) => {
    if (detail.channel !== channel) return;
    const items = detail.snapshot.queue || [];
    queue = items.reduce((q, item) => applyQueueUpdate(q, "queue.item", item), new Map());
    stats = detail.snapshot;
    status("");
    render();
  });
  feed.addEventListener("update", ({ detail }) => {
    if (detail.channel !== channel) return;
    const before = queue.get(detail.data?.comment_id);
    if (detail.type === "queue.removed" && before && before.status !== "hidden" && detail.data.status !== "deleted") {
      // A decision seen live: its time from post to decision (the snapshot has the median).
      stats = { ...stats, last_decision_ms: Math.max(0, Date.now() - Date.parse(before.posted_at)) };
    }
    queue = applyQueueUpdate(queue, detail.type, detail.data);
    render();
  });

  function status(text) {
    $("desk-status").textContent = text;
  }

  // -- login --

  function setSession(value, message = "") {
    current = value;
    saveSession(value);
    const moderator = value?.user?.role === "moderator";
    $("desk-login").hidden = moderator;
    $("viewer-bar").hidden = !value;
    $("login-status").textContent = message;
    if (value) {
      $("viewer-name").textContent = value.user.name;
      $("viewer-role").textContent = value.user.role;
    }
    if (value && !moderator) status("You are logged in as a reader: the queue is for moderators.");
    feed.setToken(moderator ? value.token : null).catch(() => {});
    if (moderator && !subscribed) subscribed = feed.subscribe(channel);
    if (!moderator && subscribed) {
      subscribed();
      subscribed = null;
      queue = new Map();
      stats = null;
    }
    $("bans").hidden = !moderator;
    if (moderator) loadBans();
    else {
      bansLoad += 1; // a load still under way is for the previous login
      renderBans({ bans: [], total: 0 });
    }
    render();
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const session = await callApi(baseUrl, null, "POST", "/v1/demo/login", { name: $("login-name").value.trim(), role: "moderator" });
      setSession({ token: session.token, user: session.user });
    } catch (err) {
      $("login-status").textContent = err.message;
    }
  });
  $("logout").addEventListener("click", () => setSession(null));

  // -- rendering --

  function render() {
    const list = $("queue");
    const on = Boolean(subscribed);
    list.hidden = !on || queue.size === 0;
    $("queue-empty").hidden = !on || queue.size !== 0;
    $("stats").hidden = !on;
    if (!on) {
      list.replaceChildren();
      return;
    }
    if (selected !== null && !queue.has(selected)) selected = nextAfterRemoval(list);
    if (selected === null && queue.size > 0) selected = queue.keys().next().value;
    const hadFocus = list.contains(document.activeElement);
    list.replaceChildren(...[...queue.values()].map(renderItem));
    // Live from the queue itself; `not_shown` (past the queue's cap) only the snapshot knows.
    const waiting = [...queue.values()].filter((i) => i.status !== "hidden").length;
    const depth = waiting + (typeof stats?.not_shown === "number" ? stats.not_shown : 0);
    const hidden = queue.size - waiting;
    $("stat-depth").textContent = String(depth);
    $("stat-depth").dataset.value = String(depth);
    $("stat-hidden").textContent = String(hidden);
    $("stat-hidden").dataset.value = String(hidden);
    $("stat-median").textContent = typeof stats?.median_decision_ms === "number" ? formatAge(stats.median_decision_ms) : "—";
    $("stat-last").textContent = typeof stats?.last_decision_ms === "number" ? formatAge(stats.last_decision_ms) : "—";
    document.title = `(${depth}) Moderation desk — The Daily Demo`;
    if (hadFocus) focusSelected();
  }

  /** After the selected item left the queue: the one that took its place, else the last. */
  function nextAfterRemoval(list) {
    const ids = [...list.children].map((li) => li.dataset.commentId);
    const at = ids.indexOf(selected);
    for (const id of ids.slice(at + 1)) if (queue.has(id)) return id;
    for (const id of ids.slice(0, at).reverse()) if (queue.has(id)) return id;
    return null;
  }

  function renderItem(item) {
    const isSelected = item.comment_id === selected;
    const age = el("time", { class: "q-age", datetime: item.posted_at, title: formatTime(item.posted_at) },
      `${formatAge(Date.now() - Date.parse(item.posted_at))} ago`);
    const li = el(
      "li",
      {
        class: "queue-item", "data-comment-id": item.comment_id, "data-status": item.status,
        tabindex: isSelected ? "0" : "-1", "aria-current": isSelected ? "true" : null,
        "aria-label": `${STATUS_LABELS[item.status] ?? item.status} comment by ${item.author?.name ?? "unknown"}`,
      },
      el("div", { class: "q-meta" },
        el("span", { class: "q-status", text: STATUS_LABELS[item.status] ?? item.status }),
        el("span", { class: "q-author", text: item.author?.name ?? "" }),
        el("span", {}, "on ", el("a", { class: "q-article", href: `/articles/${encodeURIComponent(item.article_id)}#comment-${item.comment_id}`, text: item.article_id })),
        age,
        el("span", { class: "q-reports", "data-count": String(item.report_count ?? 0), text: `${item.report_count ?? 0} report${item.report_count === 1 ? "" : "s"}` }),
      ),
      el("p", { class: "q-excerpt", text: item.excerpt }),
      el("p", { class: "q-reasons" }, "Why: ", el("span", { class: "q-reason-list", text: (item.reasons || []).map((r) => REASON_LABELS[r] ?? r).join(", ") || (item.status === "pending" ? "held before publication" : "—") })),
      el("div", { class: "q-actions" }, ...actionsFor(item.status).map((action) => actionButton(item, action))),
    );
    li.addEventListener("click", () => select(item.comment_id, false));
    return li;
  }

  function actionButton(item, action) {
    const button = el("button", { type: "button", class: `q-${action}`, "data-action": action, text: ACTION_LABELS[action] });
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      select(item.comment_id, false);
      act(item, action, button);
    });
    return button;
  }

  function select(commentId, focus = true) {
    if (!queue.has(commentId)) return;
    selected = commentId;
    for (const li of $("queue").children) {
      const on = li.dataset.commentId === commentId;
      if (on) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
      li.tabIndex = on ? 0 : -1;
    }
    if (focus) focusSelected();
  }

  function focusSelected() {
    const li = [...$("queue").children].find((node) => node.dataset.commentId === selected);
    li?.focus();
    li?.scrollIntoView({ block: "nearest" });
  }

  // -- actions --

  async function act(item, action, button = null) {
    if (action === "ban") {
      openBan(item);
      return;
    }
    const path = `/v1/comments/${encodeURIComponent(item.comment_id)}/moderation`;
    const body = action === "approve" || action === "unhide"
      ? { action: "approve", reason: action === "unhide" ? "un-hidden by a moderator" : "approved by a moderator" }
      : { action: "hide", reason: action === "reject" ? "rejected by a moderator" : "hidden by a moderator" };
    if (button) button.disabled = true;
    try {
      await api("POST", path, body);
      status(`${ACTION_LABELS[action]}: comment by ${item.author?.name ?? "unknown"} — the queue updates when the stream confirms.`);
    } catch (err) {
      status(`${ACTION_LABELS[action]} failed: ${err.message}`);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function openBan(item) {
    banTarget = item;
    $("ban-name").textContent = item.author?.name ?? item.author?.id ?? "";
    $("ban-status").textContent = "";
    $("ban-dialog").showModal();
    $("ban-duration").focus();
  }

  $("ban-cancel").addEventListener("click", () => $("ban-dialog").close());
  $("ban-dialog").addEventListener("close", () => {
    banTarget = null;
    focusSelected();
  });
  $("ban-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const item = banTarget;
    if (!item) return;
    const seconds = Number($("ban-duration").value);
    const button = $("ban-confirm");
    button.disabled = true;
    try {
      await api("POST", `/v1/sites/${encodeURIComponent(config.site)}/bans`, {
        user_id: item.author.id,
        until: new Date(Date.now() + seconds * 1000).toISOString(),
        hide_comments: $("ban-hide").checked,
        reason: $("ban-reason").value.trim() || null,
      });
      status(`Banned ${item.author.name} for ${$("ban-duration").selectedOptions[0].textContent}.`);
      $("ban-dialog").close();
      loadBans();
    } catch (err) {
      $("ban-status").textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });

  // -- the bans in force --

  const bansPath = () => `/v1/sites/${encodeURIComponent(config.site)}/bans`;

  function bansStatus(text, failed = false) {
    $("bans-status").textContent = text;
    bansFailed = failed;
  }

  async function loadBans() {
    const ticket = ++bansLoad;
    try {
      const list = await api("GET", bansPath());
      if (ticket !== bansLoad) return;
      if (bansFailed) bansStatus("");
      renderBans(list);
    } catch (err) {
      if (ticket === bansLoad) bansStatus(`The list of bans could not be loaded: ${err.message}`, true);
    }
  }

  function renderBans(list) {
    const node = $("ban-list");
    const rows = [...node.children];
    // A disabled button may have lost the focus already: the row it was pressed in counts.
    let focused = rows.findIndex((li) => li.contains(document.activeElement));
    if (focused < 0 && liftFocus !== null) focused = rows.findIndex((li) => li.dataset.userId === liftFocus);
    liftFocus = null;
    const focusedId = focused >= 0 ? rows[focused].dataset.userId : null;
    node.replaceChildren(...list.bans.map(banRow));
    node.hidden = list.bans.length === 0;
    $("bans-empty").hidden = !subscribed || list.bans.length !== 0;
    const more = list.total - list.bans.length;
    $("bans-more").hidden = more <= 0;
    $("bans-more").textContent = more > 0 ? `${more} older ban${more === 1 ? "" : "s"} not shown.` : "";
    if (focusedId === null) return;
    // Keep the keyboard where it was: the same row, or the one that took its place.
    const now = [...node.children];
    const row = now.find((li) => li.dataset.userId === focusedId) ?? now[Math.min(focused, now.length - 1)];
    if (row) row.querySelector(".ban-lift").focus();
    else $("bans-heading").focus();
  }

  function banRow(ban) {
    const who = ban.name ?? ban.user_id;
    const by = ban.moderator === current?.user?.id ? "you" : ban.moderator_name ?? ban.moderator;
    const lift = el("button", { type: "button", class: "ban-lift", "aria-label": `Lift ban on ${who}`, text: "Lift ban" });
    lift.addEventListener("click", () => liftBan(ban, lift));
    return el(
      "li",
      { class: "ban-row", "data-user-id": ban.user_id },
      el("span", { class: "ban-who", text: who }),
      ban.name ? el("span", { class: "ban-id", text: ban.user_id }) : null,
      el("span", { class: "ban-meta" }, "until ",
        el("time", { class: "ban-until", datetime: ban.until, text: formatTime(ban.until) })),
      el("span", { class: "ban-meta" }, "banned by ", el("span", { class: "ban-by", text: by }), ", ",
        el("time", { class: "ban-at", datetime: ban.banned_at, text: formatTime(ban.banned_at) })),
      lift,
      ban.reason ? el("p", { class: "ban-reason" }, "Reason: ", el("span", { text: ban.reason })) : null,
    );
  }

  async function liftBan(ban, button) {
    const who = ban.name ?? ban.user_id;
    if (button === document.activeElement) liftFocus = ban.user_id;
    button.disabled = true;
    try {
      await api("DELETE", `${bansPath()}/${encodeURIComponent(ban.user_id)}`);
      bansStatus(`Lifted the ban on ${who}.`);
    } catch (err) {
      bansStatus(`Lifting the ban on ${who} failed: ${err.message}`);
      button.disabled = false;
    }
    await loadBans();
  }

  $("bans-refresh").addEventListener("click", () => loadBans());

  // -- keyboard --

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || !subscribed) return;
    if (event.target.closest?.("input, textarea, select, dialog, [contenteditable], #bans")) return;
    const ids = [...queue.keys()];
    if (ids.length === 0) return;
    const at = Math.max(0, ids.indexOf(selected));
    const key = event.key.toLowerCase();
    if (key === "j" || key === "k") {
      select(ids[Math.min(ids.length - 1, Math.max(0, at + (key === "j" ? 1 : -1)))]);
      event.preventDefault();
      return;
    }
    const item = queue.get(selected);
    const offered = item ? actionsFor(item.status) : [];
    const action = (KEY_ACTIONS[key] || []).find((name) => offered.includes(name));
    if (!item || !action) return;
    event.preventDefault();
    const button = [...$("queue").children].find((li) => li.dataset.commentId === selected)?.querySelector(`[data-action="${action}"]`);
    act(item, action, button ?? null);
  });

  setInterval(() => {
    for (const time of document.querySelectorAll("#queue .q-age")) {
      time.textContent = `${formatAge(Date.now() - Date.parse(time.getAttribute("datetime")))} ago`;
    }
  }, 10_000);

  feed.connect();
  setSession(current);
  window.moderation = { feed, config, queue: () => queue };
}

main().catch((err) => {
  const node = $("connection");
  node.dataset.state = "stopped";
  node.textContent = `The desk could not start: ${err.message}`;
});
