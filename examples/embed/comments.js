// comments.js — a news site's own script that embeds the commentfeed widgets from another
// origin: the recipe of docs/widgets.md, "Embedding on your site". The page tells it where
// commentfeed lives and who the reader is (a JSON block); it loads the widget modules from the
// commentfeed server, wires them to one websocket, and posts through the ingest API.

const config = JSON.parse(document.getElementById("commentfeed-config").textContent);
// config = {assets: "https://comments.example.com/widgets/<version>",
//           api: "https://comments.example.com", gateway: "wss://comments.example.com/ws",
//           site: "news", articleId: "42",
//           reader: {token: "<JWT the site signed>", user: {id, name, role}} | null}

const { CommentFeed } = await import(`${config.assets}/commentfeed.js`);
const { CommentCount, LiveThread, RecentComments } = await import(`${config.assets}/widgets.js`);

const byId = (id) => document.getElementById(id);
const form = byId("comment-form");
const formHome = form.parentElement;
const status = byId("post-status");
const viewer = config.reader?.user ?? null;

/** One ingest API call with the reader's token; rejects with the API's message. */
async function api(method, path, body, idempotencyKey = null) {
  const headers = { Authorization: `Bearer ${config.reader.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(config.api + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new Error(payload?.detail ?? `the comment server answered ${response.status}`);
  return payload;
}

const commentPath = (comment) => `/v1/comments/${encodeURIComponent(comment.comment_id)}`;
let replyTo = null;

const feed = new CommentFeed(config.gateway);
new CommentCount(byId("comments-heading"), feed, { articleId: config.articleId });
new RecentComments(byId("recent"), feed, { site: config.site, limit: 5 });
const thread = new LiveThread(byId("thread"), feed, {
  articleId: config.articleId,
  viewer,
  actions: {
    reply(comment) {
      replyTo = comment;
      thread.replySlot(comment.comment_id)?.append(form);
      form.elements.body.focus();
    },
    vote: (comment, value) => api("POST", `${commentPath(comment)}/vote`, { value }),
    edit: (comment, body) => api("PATCH", commentPath(comment), { body }),
    remove: (comment) => api("DELETE", commentPath(comment)),
  },
});

form.hidden = viewer === null;
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = form.elements.body.value.trim();
  if (!body) return;
  status.textContent = "Posting…";
  try {
    // One key per attempt at this text: a retried request cannot post twice.
    const key = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const answer = await api("POST", `/v1/articles/${encodeURIComponent(config.articleId)}/comments`,
                             { body, parent_id: replyTo?.comment_id ?? null }, key);
    thread.markOwn(answer.comment_id); // the reader's own comment shows at once
    form.elements.body.value = "";
    status.textContent = "Posted.";
    replyTo = null;
    formHome.append(form);
  } catch (err) {
    status.textContent = err.message;
  }
});

feed.connect();
