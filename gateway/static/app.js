// app.js — the demo article page: reads /config.json, wires the three widgets to one
// CommentFeed, and posts comments, replies, votes, edits and moderation through the ingest API
// with the token from the demo login. Loaded as a module file (the page's CSP allows no inline
// script).

import { CommentFeed } from "./commentfeed.js";
import { CommentCount, ID_PATTERN, LiveThread, RecentComments, el, formatTime } from "./widgets.js";

const SESSION_KEY = "commentfeed.session";

const $ = (id) => document.getElementById(id);

/** Elements looked up once: the comment form moves into the thread for replies, and may be
 *  detached from the document if the comment it sits under is removed. */
const ui = {};
function collectElements() {
  for (const id of [
    "article-title", "article-author", "article-date", "article-body", "article-placeholder",
    "article-section", "article-standfirst",
    "connection", "thread", "comments-heading", "recent", "respond", "login-area", "login-form",
    "login-name", "login-role", "login-status", "viewer-bar", "viewer-name", "viewer-role",
    "logout", "comment-form", "replying", "replying-to", "cancel-reply", "comment-body",
    "post-comment", "post-status", "closed-notice", "moderate-link",
  ]) {
    ui[id] = $(id);
  }
}

/** The reader's session: {token, user: {id, name, role}} or null. Lives in sessionStorage. */
const session = {
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.token && saved.user && !tokenExpired(saved.token)) return saved;
    } catch {
      // unreadable storage: start logged out
    }
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  },
  save(value) {
    if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(SESSION_KEY);
  },
};

function tokenExpired(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" && payload.exp * 1000 <= Date.now();
  } catch {
    return false; // not our business to validate; the API will say 401 if it is bad
  }
}

/** An ingest API error with the status and a message fit for the reader. */
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function describeError(status, body) {
  if (status === 401) return "Your session has expired. Please log in again.";
  if (status === 403 && body?.code === "banned" && typeof body.detail === "string") return `Not posted: ${body.detail}.`;
  if (status === 403) return "You are not allowed to do that.";
  if (status === 429) return "Slow down a little and try again in a moment.";
  const detail = body && body.detail;
  if (Array.isArray(detail) && detail.length > 0) {
    return detail.map((d) => (typeof d === "string" ? d : d.msg || JSON.stringify(d))).join("; ");
  }
  if (typeof detail === "string") return detail;
  return `The server answered ${status}.`;
}

class Api {
  constructor(baseUrl, getToken, onUnauthorized) {
    this.baseUrl = (baseUrl || "").replace(/\/$/, "");
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
  }

  async call(method, path, body, { idempotencyKey = null } = {}) {
    const headers = { "Content-Type": "application/json" };
    const token = this.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "Could not reach the server. Check your connection and try again.");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      // empty or non-JSON body
    }
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(response.status, describeError(response.status, payload));
    }
    return payload;
  }
}

function newKey() {
  return globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

/** The article of /articles/<id> (or the older ?article=<id>); the lead article otherwise. */
function articleIdFromUrl(fallback) {
  const match = location.pathname.match(/^\/articles\/([^/]+)\/?$/);
  let wanted = new URLSearchParams(location.search).get("article");
  if (match) {
    try {
      wanted = decodeURIComponent(match[1]);
    } catch {
      wanted = null;
    }
  }
  return wanted && ID_PATTERN.test(wanted) ? wanted : fallback;
}

/** The site's own content (sections, text); null where the page is served without it. */
async function loadSiteContent() {
  try {
    const answer = await fetch("/site/articles.json");
    return answer.ok ? await answer.json() : null;
  } catch {
    return null;
  }
}

/** The story as the site's CMS has it: section, standfirst and body, all set as text. */
function showStory(story) {
  const section = ui["article-section"];
  section.textContent = story ? story.section : "The Daily Demo";
  section.setAttribute("href", story ? story.section_url : "/");
  ui["article-standfirst"].textContent = story ? story.standfirst : "";
  ui["article-standfirst"].hidden = !story;
  ui["article-body"].replaceChildren(...(story ? story.body.map((text) => el("p", {}, text)) : []));
  ui["article-body"].hidden = !story;
  ui["article-placeholder"].hidden = Boolean(story);
  if (story && ui["article-title"].textContent === "Loading the article…") {
    ui["article-title"].textContent = story.title;
    ui["article-author"].textContent = story.author;
  }
}

function showConnection(detail) {
  const node = ui.connection;
  node.dataset.state = detail.state;
  if (detail.state === "live") node.textContent = "Live";
  else if (detail.state === "connecting") node.textContent = "Connecting…";
  else if (detail.state === "reconnecting") {
    node.textContent = detail.delayMs
      ? `Reconnecting in ${Math.max(1, Math.round(detail.delayMs / 1000))} s…`
      : "Reconnecting…";
  } else node.textContent = "Offline — reload the page to reconnect";
}

function showArticle(article) {
  if (!article) {
    ui["article-title"].textContent = "This article is not in the feed (yet)";
    return;
  }
  ui["article-title"].textContent = article.title;
  document.title = `${article.title} — The Daily Demo`;
  ui["article-author"].textContent = article.author;
  const date = ui["article-date"];
  date.textContent = article.published_at ? formatTime(article.published_at) : "";
  date.setAttribute("datetime", article.published_at || "");
}

async function main() {
  collectElements();
  const answer = await fetch("/config.json");
  if (!answer.ok) throw new Error(`/config.json answered ${answer.status}`);
  const config = await answer.json();
  const articleId = articleIdFromUrl(config.article_id);
  const site = await loadSiteContent();
  showStory(site?.articles?.find((a) => a.article_id === articleId) ?? null);
  let current = session.load();
  let replyTo = null;
  let postKey = null;
  let closed = false;

  const api = new Api(config.ingest_url, () => current?.token, () => setSession(null, "Your session has expired. Please log in again."));
  const feed = new CommentFeed(config.gateway_url);
  feed.addEventListener("state", (event) => showConnection(event.detail));

  const thread = new LiveThread(ui.thread, feed, {
    articleId,
    viewer: current?.user ?? null,
    actions: {
      reply: (comment) => startReply(comment),
      vote: (comment, value) => api.call("POST", `/v1/comments/${encodeURIComponent(comment.comment_id)}/vote`, { value }),
      // The reader's votes from the server (the localStorage copy only shows them sooner).
      myVotes: async () => (await api.call("GET", `/v1/articles/${encodeURIComponent(articleId)}/votes/mine`))?.votes,
      edit: (comment, body) => api.call("PATCH", `/v1/comments/${encodeURIComponent(comment.comment_id)}`, { body }),
      remove: (comment) => api.call("DELETE", `/v1/comments/${encodeURIComponent(comment.comment_id)}`),
      report: (comment, report) =>
        api.call("POST", `/v1/comments/${encodeURIComponent(comment.comment_id)}/reports`, report),
      hide: (comment) =>
        api.call("POST", `/v1/comments/${encodeURIComponent(comment.comment_id)}/moderation`, {
          action: "hide",
          reason: "hidden by a moderator",
        }),
    },
  });
  const heading = new CommentCount(ui["comments-heading"], feed, { articleId });
  const recent = new RecentComments(ui.recent, feed, {
    site: config.site,
    limit: 5, // the page's sidebar is five lines long
    linkFor: (item) =>
      item.article_id === articleId
        ? `#comment-${item.comment_id}`
        : `/articles/${encodeURIComponent(item.article_id)}#comment-${item.comment_id}`,
  });

  // The article meta rides on the same channel as the thread.
  const articleChannel = `article:${articleId}`;
  function articleChanged(article) {
    showArticle(article);
    closed = Boolean(article && (article.closed || article.deleted));
    showForms();
  }
  feed.addEventListener("snapshot", (event) => {
    if (event.detail.channel !== articleChannel) return;
    articleChanged(event.detail.snapshot.article);
    // The thread was rebuilt (this listener runs after the thread's): a reply form that sat
    // under a comment goes back under it, or home if that comment is not shown any more.
    if (replyTo) {
      const slot = thread.replySlot(replyTo.comment_id);
      if (slot) slot.append(ui["comment-form"]);
      else cancelReply();
    }
  });
  feed.addEventListener("update", (event) => {
    const { channel, type, data } = event.detail;
    if (channel !== articleChannel) return;
    if (type === "article") articleChanged(data);
    // The comment being answered went away: put the form back where it belongs.
    if (type === "comment.removed" && replyTo && replyTo.comment_id === data.comment_id) cancelReply();
  });

  // -- login ---------------------------------------------------------------------------------

  function showForms() {
    const loggedIn = Boolean(current);
    ui["closed-notice"].hidden = !closed;
    ui["login-area"].hidden = loggedIn || closed;
    ui["viewer-bar"].hidden = !loggedIn;
    ui["comment-form"].hidden = !loggedIn || closed;
    ui["moderate-link"].hidden = current?.user?.role !== "moderator";
    if (closed) cancelReply();
  }

  function setSession(value, message = "") {
    current = value;
    session.save(value);
    thread.setViewer(value?.user ?? null);
    if (value) {
      ui["viewer-name"].textContent = value.user.name;
      ui["viewer-role"].textContent = value.user.role;
    } else {
      cancelReply();
    }
    showForms();
    ui["login-status"].textContent = message;
  }

  // Without demo mode there is no login endpoint; a real site signs its readers in itself.
  ui["login-form"].hidden = !config.demo_mode;

  ui["login-form"].addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = ui["login-form"].querySelector("button[type=submit]");
    button.disabled = true;
    ui["login-status"].textContent = "";
    try {
      const session = await api.call("POST", "/v1/demo/login", {
        name: ui["login-name"].value.trim(),
        role: ui["login-role"].value,
      });
      setSession({ token: session.token, user: session.user });
    } catch (err) {
      ui["login-status"].textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  ui.logout.addEventListener("click", () => setSession(null));

  // -- posting -------------------------------------------------------------------------------

  function startReply(comment) {
    const slot = thread.replySlot(comment.comment_id);
    if (!slot) return;
    replyTo = comment;
    ui["replying-to"].textContent = comment.author?.name ?? "a comment";
    ui.replying.hidden = false;
    slot.append(ui["comment-form"]);
    ui["comment-body"].focus();
  }

  function cancelReply() {
    replyTo = null;
    ui.replying.hidden = true;
    ui.respond.append(ui["comment-form"]);
  }
  ui["cancel-reply"].addEventListener("click", cancelReply);

  ui["comment-body"].addEventListener("input", () => {
    postKey = null; // a different text is a different comment
  });

  ui["comment-form"].addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = ui["comment-body"].value.trim();
    if (!body) return;
    const button = ui["post-comment"];
    button.disabled = true;
    ui["post-status"].textContent = "Posting…";
    // The same key for retries of the same text: a double submit cannot post twice.
    postKey ??= newKey();
    try {
      const answer = await api.call(
        "POST",
        `/v1/articles/${encodeURIComponent(articleId)}/comments`,
        { body, parent_id: replyTo ? replyTo.comment_id : null },
        { idempotencyKey: postKey },
      );
      const pending = answer?.status === "pending";
      if (answer && answer.comment_id) {
        if (pending) thread.markAwaiting({ comment_id: answer.comment_id, body, parent_id: replyTo ? replyTo.comment_id : null });
        else thread.markOwn(answer.comment_id);
      }
      ui["comment-body"].value = "";
      postKey = null;
      ui["post-status"].textContent = pending ? "Posted: your comment is awaiting moderation." : "Posted.";
      cancelReply();
    } catch (err) {
      ui["post-status"].textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });

  setSession(current);
  feed.connect();
  // A handle for debugging in the browser console.
  window.commentfeed = { feed, thread, heading, recent, config, articleId };
}

main().catch((err) => {
  const node = $("connection");
  node.dataset.state = "stopped";
  node.textContent = `The comment section could not start: ${err.message}`;
});
