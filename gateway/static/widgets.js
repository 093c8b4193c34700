// widgets.js — the three commentfeed widgets, driven by a CommentFeed (commentfeed.js):
//
//   CommentCount    "N Comments on “<title>”", live
//   LiveThread      the threaded comment section: sort orders (oldest, newest, best), new
//                   comments behind an "N new comments" button and announced politely, edits,
//                   removals and scores in place, older comments paged in, permalinks, the
//                   reader's own votes remembered
//   RecentComments  the site-wide sidebar, one `author: excerpt…` line per comment
//   ReadingNow      "N reading now" (the `presence:<id>` channel), shown from 2 readers on;
//                   LiveThread puts one in its toolbar
//
// Every piece of user-written text (comment bodies, names, titles, excerpts) reaches the DOM
// through text nodes only. Nothing here assigns innerHTML. Styles: widgets.css, every rule
// under the .cf-widget root class, themed through --cf-* custom properties.

/** Article, comment and site ids (commentfeed/channels.py ID_REGEX; a unit test keeps them equal). */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Create an element: attributes via setAttribute, children as nodes or text nodes. */
// The report reasons the ingest API takes (ReportReason), in a reader's words.
const REPORT_REASONS = [
  ["spam", "Spam or advertising"], ["abuse", "Abusive or hateful"], ["off_topic", "Off topic"],
  ["misinformation", "Misinformation"], ["other", "Something else"],
];

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** "4 Comments on “Title”"; the title is left out until it is known. */
export function commentsHeading(count, title) {
  const noun = count === 1 ? "Comment" : "Comments";
  return title ? `${count} ${noun} on “${title}”` : `${count} ${noun}`;
}

/** "3 reading now"; empty below 2, since the one reader counted may be you. */
export function readingLabel(n) {
  return n >= 2 ? `${n} reading now` : "";
}

export function newCommentsLabel(n) {
  return n === 1 ? "1 new comment" : `${n} new comments`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? "" : timeFormat.format(at);
}

/** Thread order: oldest first, ties broken by id so every page agrees. Replies always use it. */
export function compareComments(a, b) {
  const ta = Date.parse(a.posted_at) || 0;
  const tb = Date.parse(b.posted_at) || 0;
  if (ta !== tb) return ta - tb;
  return a.comment_id < b.comment_id ? -1 : a.comment_id > b.comment_id ? 1 : 0;
}

/** A stable small number per name, for the avatar colour class. */
function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 8;
}

/** Base class: listens to one channel of a feed and unsubscribes on destroy(). */
class ChannelWidget {
  constructor(feed, channel) {
    this.feed = feed;
    this.channel = channel;
    this._onSnapshot = (event) => {
      if (event.detail.channel === this.channel) this.onSnapshot(event.detail.snapshot, event.detail);
    };
    this._onUpdate = (event) => {
      if (event.detail.channel === this.channel) this.onUpdate(event.detail.type, event.detail.data, event.detail);
    };
    feed.addEventListener("snapshot", this._onSnapshot);
    feed.addEventListener("update", this._onUpdate);
    this._unsubscribe = feed.subscribe(channel);
  }

  destroy() {
    this.feed.removeEventListener("snapshot", this._onSnapshot);
    this.feed.removeEventListener("update", this._onUpdate);
    this._unsubscribe();
  }

  onSnapshot() {}
  onUpdate() {}
}

// -- "N Comments on “<title>”" ------------------------------------------------------------------

export class CommentCount extends ChannelWidget {
  /**
   * @param {Element} element  its text becomes the heading
   * @param {CommentFeed} feed
   * @param {{articleId: string, title?: string, countOnly?: boolean}} options
   *   title: shown until the snapshot brings the article's own;
   *   countOnly: use the light `count:<id>` channel (listing pages with many articles)
   */
  constructor(element, feed, { articleId, title = "", countOnly = false }) {
    super(feed, `${countOnly ? "count" : "article"}:${articleId}`);
    this.element = element;
    this.count = null;
    this.title = title;
  }

  onSnapshot(snapshot) {
    this.count = snapshot.count ?? 0;
    if (snapshot.article?.title) this.title = snapshot.article.title;
    this.render();
  }

  onUpdate(type, data) {
    if (type === "count") this.count = data.count;
    else if (type === "article" && data.title) this.title = data.title;
    else return;
    this.render();
  }

  render() {
    this.element.textContent = commentsHeading(this.count ?? 0, this.title);
    this.element.dataset.count = String(this.count ?? 0);
  }
}

// -- "N reading now" ------------------------------------------------------------------------------

export class ReadingNow extends ChannelWidget {
  /**
   * Not a live region: the number changes every few seconds and is no news worth announcing.
   * @param {Element} element  its text becomes "N reading now" (hidden below 2)
   * @param {CommentFeed} feed
   * @param {{articleId: string}} options
   */
  constructor(element, feed, { articleId }) {
    super(feed, `presence:${articleId}`);
    this.element = element;
    this.reading = 0;
    this.render();
  }

  onSnapshot(snapshot) {
    this.reading = Number.isInteger(snapshot?.reading) ? snapshot.reading : 0;
    this.render();
  }

  onUpdate(type, data) {
    if (type !== "presence" || !Number.isInteger(data?.reading)) return;
    this.reading = data.reading;
    this.render();
  }

  render() {
    this.element.textContent = readingLabel(this.reading);
    this.element.hidden = this.reading < 2;
    this.element.dataset.reading = String(this.reading);
  }
}

// -- Recent Comments ------------------------------------------------------------------------------

export class RecentComments extends ChannelWidget {
  /**
   * @param {Element} element  a <ul> or <ol>; its items are replaced on every change
   * @param {CommentFeed} feed
   * @param {{site?: string, limit?: number, linkFor?: (item) => string}} options
   *   site: none means the gateway's default site; limit: lines shown (the gateway sends ≤ 10)
   */
  constructor(element, feed, { site = null, limit = 10, linkFor = (item) => `#comment-${item.comment_id}` } = {}) {
    super(feed, site ? `recent:${site}` : "recent");
    this.element = element;
    element.classList.add("cf-widget", "cf-recent");
    this.limit = limit;
    this.linkFor = linkFor;
    this.items = [];
  }

  onSnapshot(snapshot) {
    this.render(snapshot.items || []);
  }

  onUpdate(type, data) {
    if (type === "recent") this.render(data.items || []);
  }

  render(items) {
    items = items.slice(0, this.limit);
    this.items = items;
    this.element.replaceChildren(
      ...items.map((item) =>
        el(
          "li",
          { class: "cf-recent-item", "data-comment-id": item.comment_id },
          el("span", { class: "cf-recent-author", text: item.author_name }),
          ": ",
          el("a", { class: "cf-recent-excerpt", href: safeHref(this.linkFor(item)), text: item.excerpt }),
        ),
      ),
    );
    if (items.length === 0) this.element.append(el("li", { class: "cf-recent-empty", text: "No comments yet." }));
  }
}

/** Only same-site links and http(s) URLs become hrefs; javascript:, data: and the rest do not. */
export function safeHref(href) {
  const value = String(href ?? "");
  if (/^https?:\/\//i.test(value) || /^[#?]/.test(value) || /^\/(?!\/)/.test(value)) return value;
  return "#";
}

// -- the live thread ------------------------------------------------------------------------------

/** The orders a reader can pick. They order top-level comments; replies stay in conversation
 *  order (oldest first) under their parent whatever the sort. */
export const SORT_ORDERS = ["oldest", "newest", "best"];
const SORT_LABELS = { oldest: "Oldest", newest: "Newest", best: "Best" };
const SORT_KEY = "commentfeed.sort";
const VOTES_KEY_PREFIX = "commentfeed.votes:";

/** Comparator of top-level comments for a sort order. Best: highest score, then newest. */
export function topLevelOrder(sort) {
  if (sort === "newest") return (a, b) => compareComments(b, a);
  if (sort === "best") return (a, b) => (b.score ?? 0) - (a.score ?? 0) || compareComments(b, a);
  return compareComments;
}

/** The comment id a `#comment-<id>` fragment names, or null. */
export function permalinkId(hash) {
  const match = /^#comment-(.*)$/s.exec(String(hash ?? ""));
  return match && ID_PATTERN.test(match[1]) ? match[1] : null;
}

function defaultStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // a sandboxed frame throws on the mere access
  }
}

/**
 * The reader's own votes, cached in localStorage per user id and comment id so they show at
 * once; the site's answer (the `myVotes` action: the ingest API's `votes/mine`) replaces them
 * when it comes. At most `limit` votes per user are kept (the oldest are forgotten first).
 * Storage that is missing, full or refuses access only means votes are not cached.
 */
export class VoteMemory {
  constructor(storage = defaultStorage(), limit = 1000) {
    this.storage = storage;
    this.limit = limit;
  }

  /** Map comment_id -> 1 | -1 for this user. */
  load(userId) {
    if (!this.storage || !userId) return new Map();
    try {
      const pairs = JSON.parse(this.storage.getItem(VOTES_KEY_PREFIX + userId) || "[]");
      return new Map(pairs.filter(([id, value]) => typeof id === "string" && (value === 1 || value === -1)));
    } catch {
      return new Map();
    }
  }

  remember(userId, commentId, value) {
    if (!this.storage || !userId) return;
    const votes = this.load(userId);
    votes.delete(commentId); // re-inserted last: the newest vote is the last one forgotten
    if (value === 1 || value === -1) votes.set(commentId, value);
    this._store(userId, votes);
  }

  /** Forget this user's cached votes and keep `votes` (a Map) instead. */
  replace(userId, votes) {
    if (!this.storage || !userId) return;
    this._store(userId, votes);
  }

  _store(userId, votes) {
    const pairs = [...votes].slice(-this.limit);
    try {
      this.storage.setItem(VOTES_KEY_PREFIX + userId, JSON.stringify(pairs));
    } catch {
      // quota or privacy mode: the vote counted, it is just not remembered
    }
  }
}

const AWAITING_KEY_PREFIX = "commentfeed.awaiting:";

function sessionStore() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * The viewer's own comments that wait for a moderator ("awaiting moderation"), per user id, in
 * sessionStorage: the feed never carries a pending comment, so only the author's own browser
 * knows it, and it stays across a reload of the tab. At most `limit` per user.
 */
export class AwaitingMemory {
  constructor(storage = sessionStore(), limit = 50) {
    this.storage = storage;
    this.limit = limit;
  }

  /** The user's waiting comments (comment data as the feed shows comments). */
  load(userId) {
    if (!this.storage || !userId) return [];
    try {
      const items = JSON.parse(this.storage.getItem(AWAITING_KEY_PREFIX + userId) || "[]");
      return Array.isArray(items) ? items.filter((c) => c && typeof c.comment_id === "string") : [];
    } catch {
      return [];
    }
  }

  add(userId, comment) {
    this._save(userId, [...this.load(userId).filter((c) => c.comment_id !== comment.comment_id), comment]);
  }

  forget(userId, commentId) {
    const items = this.load(userId);
    const kept = items.filter((c) => c.comment_id !== commentId);
    if (kept.length !== items.length) this._save(userId, kept);
  }

  _save(userId, items) {
    if (!this.storage || !userId) return;
    try {
      if (items.length === 0) this.storage.removeItem(AWAITING_KEY_PREFIX + userId);
      else this.storage.setItem(AWAITING_KEY_PREFIX + userId, JSON.stringify(items.slice(-this.limit)));
    } catch {
      // not remembered across a reload; still shown now
    }
  }
}

/**
 * The comment section. Options:
 *   articleId   which article
 *   viewer      {id, name, role} of the logged-in reader, or null (read-only)
 *   actions     callbacks the page implements against its ingest API, each returning a Promise:
 *               reply(comment), vote(comment, value), edit(comment, body), remove(comment),
 *               hide(comment), report(comment, {reason, text?}) (no Report button without it),
 *               and myVotes() resolving to the viewer's votes in the article
 *               ({comment_id: 1 | -1}), asked after login and on load
 *   pageSize    comments per page of older comments (1–100)
 *   sort        "oldest" | "newest" | "best"; default: the reader's last choice, else "oldest"
 *   votes       {comment_id: 1 | -1} the viewer's own votes, if the site knows them
 *   permalinks  follow `#comment-<id>` in the page's URL (default true)
 *   storage     where the sort choice and the viewer's votes are remembered (default
 *               localStorage; null remembers nothing)
 *   awaitingStorage  where the viewer's comments awaiting moderation are kept (default
 *               sessionStorage; null: only until the page goes)
 *   presence    show "N reading now" in the toolbar (default true)
 *
 * Comments from the stream wait behind the "N new comments" button so the text does not move
 * under the reader, and a polite live region announces them; the reader's own comments
 * (markOwn(), or the viewer's author id) show at once.
 */
export class LiveThread extends ChannelWidget {
  constructor(element, feed, {
    articleId, viewer = null, actions = {}, pageSize = 50, sort = null, votes = null,
    permalinks = true, storage = undefined, awaitingStorage = undefined, presence = true,
  }) {
    super(feed, `article:${articleId}`);
    this.articleId = articleId;
    this.viewer = viewer;
    this.actions = actions;
    this.pageSize = pageSize;
    this.storage = storage === undefined ? defaultStorage() : storage;
    this.voteMemory = new VoteMemory(this.storage);
    this.awaiting = new AwaitingMemory(awaitingStorage === undefined ? sessionStore() : awaitingStorage);
    /** comment_id -> {data, li, shown, removed} */
    this.comments = new Map();
    /** ids waiting behind the "new comments" button, in arrival order */
    this.pending = [];
    this.announcedPending = 0;
    this.own = new Set();
    this.votes = this.voteMemory.load(viewer?.id);
    /** bumped by every myVotes() request: only the latest answer counts */
    this.votesAsked = 0;
    /** comment ids the viewer voted on while myVotes() was on its way (their vote is newer) */
    this.votedMeanwhile = new Set();
    this.cursor = null;
    this.closed = false;
    this.loaded = false;
    /** bumped by every snapshot: history answers for an older state are thrown away */
    this.generation = 0;
    /** the generation whose best comments were asked for (Best fetches them once per snapshot) */
    this.bestGeneration = -1;
    this.revealOnLoad = permalinks ? permalinkId(globalThis.location?.hash) : null;

    this.sortButtons = SORT_ORDERS.map((name) => {
      const button = el("button", { type: "button", "data-sort": name, text: SORT_LABELS[name] });
      button.addEventListener("click", () => this.setSort(name));
      return button;
    });
    this.toolbar = el(
      "div",
      { class: "cf-toolbar" },
      el("span", { class: "cf-sort-label", "aria-hidden": "true", text: "Sort by" }),
      el("div", { class: "cf-sort", role: "group", "aria-label": "Sort comments" }, ...this.sortButtons),
    );
    if (presence) {
      const reading = el("span", { class: "cf-reading" });
      this.toolbar.append(reading);
      this.readingNow = new ReadingNow(reading, feed, { articleId });
    }
    this.newButton = el("button", { type: "button", class: "cf-new", hidden: true });
    this.newButton.addEventListener("click", () => this.showPending());
    this.olderButton = el("button", { type: "button", class: "cf-older", hidden: true });
    this.olderButton.addEventListener("click", () => this.loadOlder());
    this.list = el("ol", { class: "cf-comments", "aria-label": "Comments" });
    this.empty = el("p", { class: "cf-empty", hidden: true, text: "No comments yet. Start the conversation." });
    this.loading = el("p", { class: "cf-loading", text: "Loading comments…" });
    // Announcements for screen readers: new comments waiting, a permalink that leads nowhere.
    this.announcer = el("div", { class: "cf-announcer cf-visually-hidden", role: "status", "aria-live": "polite" });
    this.root = el(
      "div",
      { class: "cf-widget cf-thread" },
      this.toolbar, this.newButton, this.loading, this.empty, this.list, this.announcer,
    );
    element.replaceChildren(this.root);
    this._applySort(sort ?? this._storedSort());
    if (votes) this.setVotes(votes);
    this.loadVotes();

    if (permalinks) {
      this._onHashChange = () => {
        const id = permalinkId(globalThis.location?.hash);
        if (!id) return;
        if (this.loaded) this.reveal(id);
        else this.revealOnLoad = id;
      };
      globalThis.addEventListener?.("hashchange", this._onHashChange);
    }
  }

  destroy() {
    if (this._onHashChange) globalThis.removeEventListener?.("hashchange", this._onHashChange);
    this.readingNow?.destroy();
    super.destroy();
  }

  // -- what the page tells the thread --

  setViewer(viewer) {
    const another = viewer?.id !== this.viewer?.id;
    this.viewer = viewer;
    if (another) this.votes = this.voteMemory.load(viewer?.id);
    // Comments awaiting moderation are their author's alone: another viewer never sees them.
    for (const entry of [...this.comments.values()]) {
      if (entry.awaiting && entry.data.author?.id !== viewer?.id) this._forget(entry);
    }
    if (this.loaded) this._showAwaiting();
    for (const entry of this.comments.values()) if (entry.li) this._renderControls(entry);
    this._renderChrome();
    if (another) this.loadVotes(); // the same reader again (a role, a new token): asked already
  }

  /**
   * Ask the site for the viewer's votes (the `myVotes` action) and show those instead of the
   * cached ones; votes cast meanwhile keep their newer value. A failed request keeps the cache.
   * Resolves true when the site's answer was applied.
   */
  async loadVotes() {
    const viewer = this.viewer;
    if (!viewer || typeof this.actions.myVotes !== "function") return false;
    const asked = ++this.votesAsked;
    this.votedMeanwhile = new Set();
    let answer;
    try {
      answer = await this.actions.myVotes();
    } catch {
      return false; // the cached votes stay
    }
    if (asked !== this.votesAsked || this.viewer?.id !== viewer.id) return false;
    if (!answer || typeof answer !== "object" || Array.isArray(answer)) return false;
    const votes = new Map();
    for (const [commentId, value] of Object.entries(answer)) {
      if (value === 1 || value === -1) votes.set(commentId, value);
    }
    for (const commentId of this.votedMeanwhile) {
      votes.delete(commentId);
      const mine = this.votes.get(commentId);
      if (mine) votes.set(commentId, mine);
    }
    this.votes = votes;
    this.voteMemory.replace(viewer.id, votes);
    for (const entry of this.comments.values()) if (entry.li) this._renderControls(entry);
    this.root.dataset.votes = "loaded";
    return true;
  }

  /**
   * The viewer's new comment that the ingest API answered with status "pending": shown to
   * them (and only them) marked "awaiting moderation" until it arrives live as approved.
   * `comment` is {comment_id, body, parent_id?, posted_at?}; the author is the viewer.
   */
  markAwaiting(comment) {
    if (!this.viewer) return;
    const data = {
      comment_id: comment.comment_id, article_id: this.articleId, parent_id: comment.parent_id ?? null,
      author: { id: this.viewer.id, name: this.viewer.name }, body: comment.body,
      posted_at: comment.posted_at ?? new Date().toISOString(), edited_at: null, score: 0,
    };
    this.awaiting.add(this.viewer.id, data);
    if (this.loaded) this._showAwaiting();
  }

  /** Show the viewer's remembered waiting comments of this article that are not shown yet. */
  _showAwaiting() {
    for (const data of this.awaiting.load(this.viewer?.id)) {
      if (data.article_id !== this.articleId) continue;
      const known = this.comments.get(data.comment_id);
      if (known && !known.awaiting) {
        this.awaiting.forget(this.viewer.id, data.comment_id); // approved meanwhile
        continue;
      }
      if (known) continue;
      const entry = this._entry(data);
      entry.awaiting = true;
      this._show(entry, { fresh: true });
    }
    this._renderChrome();
  }

  /** A waiting comment was decided: no longer remembered; approved ones stay as comments. */
  _settleAwaiting(entry) {
    entry.awaiting = false;
    this.awaiting.forget(entry.data.author?.id, entry.data.comment_id);
    entry.li?.classList.remove("cf-awaiting");
    const note = entry.li?.querySelector(":scope > .cf-card .cf-awaiting-note");
    if (note) note.hidden = true;
  }

  /** The viewer's own votes as the site knows them ({comment_id: 1 | -1 | 0}); remembered too. */
  setVotes(votes) {
    for (const [commentId, value] of Object.entries(votes ?? {})) {
      if (value === 1 || value === -1) this.votes.set(commentId, value);
      else this.votes.delete(commentId);
      if (this.viewer) this.voteMemory.remember(this.viewer.id, commentId, value);
    }
    for (const entry of this.comments.values()) if (entry.li) this._renderControls(entry);
  }

  /** A comment this page just posted: show it at once when it arrives. */
  markOwn(commentId) {
    this.own.add(commentId);
    const index = this.pending.indexOf(commentId);
    if (index >= 0) {
      this.pending.splice(index, 1);
      this._show(this.comments.get(commentId), { fresh: true });
      this._renderNewButton();
    }
  }

  /** Where a reply form for a comment goes (under the comment, above its replies). */
  replySlot(commentId) {
    return this.comments.get(commentId)?.li?.querySelector(":scope > .cf-reply-slot") ?? null;
  }

  /** Order top-level comments by "oldest", "newest" or "best"; the choice is remembered. */
  setSort(sort) {
    if (!SORT_ORDERS.includes(sort)) return;
    this._applySort(sort);
    try {
      this.storage?.setItem(SORT_KEY, sort);
    } catch {
      // not remembered; still applied
    }
  }

  /**
   * Scroll to a comment and highlight it, showing it if it waits behind the button and paging
   * older comments in until it is found. Resolves true if it was found.
   */
  async reveal(commentId) {
    if (this.comments.has(commentId) && !this.comments.get(commentId).shown) this.showPending({ focus: false });
    for (let pages = 0; !this.comments.get(commentId)?.li && this.cursor !== null && pages < 100; pages++) {
      if (!(await this._fetchOlder())) break;
    }
    const entry = this.comments.get(commentId);
    if (!entry?.li) {
      this.root.dataset.permalink = "missing";
      this._announce("The linked comment is not available.");
      return false;
    }
    for (const old of this.list.querySelectorAll(".cf-target")) old.classList.remove("cf-target");
    entry.li.classList.add("cf-target");
    this.root.dataset.permalink = "found";
    entry.li.scrollIntoView({ block: "center" });
    entry.li.querySelector(":scope > .cf-card").focus({ preventScroll: true });
    return true;
  }

  // -- stream --

  onSnapshot(snapshot) {
    const shownBefore = this.loaded ? [...this.comments.values()].filter((e) => e.shown && !e.removed) : [];
    const before = this.loaded ? new Set(shownBefore.map((e) => e.data.comment_id)) : null;
    const oldestBefore = shownBefore.map((e) => e.data).sort(compareComments)[0] ?? null;
    this.generation += 1;
    this.comments.clear();
    this.pending = [];
    this.list.replaceChildren();
    this.cursor = snapshot.cursor ?? null;
    this.closed = Boolean(snapshot.article?.closed);
    for (const data of snapshot.comments || []) {
      const entry = this._entry(data);
      // After a reconnect with a fresh snapshot, comments the reader has not seen yet still
      // queue behind the button, exactly as if they had arrived as updates.
      if (before && !entry.removed && !before.has(data.comment_id) && !this._isOwn(data)) {
        this.pending.push(data.comment_id);
      } else this._show(entry);
    }
    // A placeholder the snapshot sent for a removed comment stays only while replies hang off it.
    for (const entry of [...this.comments.values()]) if (entry.removed) this._prune(entry);
    if (this.cursor === null) this._settleOrphans();
    this.loaded = true;
    this.loading.hidden = true;
    this._showAwaiting();
    this._renderNewButton();
    this._renderChrome();
    // A fresh snapshot after a reconnect holds only the newest comments; page back to where
    // the reader was, so the thread ends as it would had the connection never dropped.
    if (oldestBefore && this.cursor !== null) this._refill(oldestBefore);
    if (this.revealOnLoad) {
      const id = this.revealOnLoad;
      this.revealOnLoad = null;
      this.reveal(id);
    }
    if (this.sort === "best") this.loadBest();
  }

  /**
   * Under Best, the article's best top-level comments come from the server (the `history` op
   * with `sort: "best"`), wherever they sit in the thread, so the order is right beyond the
   * loaded pages: every comment not sent scores at most the page's `floor`. Once per snapshot;
   * resolves false if the server could not answer (the loaded comments are still ranked).
   */
  async loadBest() {
    if (!this.loaded || this.bestGeneration === this.generation) return true;
    const generation = (this.bestGeneration = this.generation);
    let before = null;
    for (let pages = 0; pages < 10; pages++) {
      let page;
      try {
        page = await this.feed.history(this.channel, { sort: "best", before, limit: 100 });
      } catch {
        if (generation === this.generation) this.bestGeneration = -1; // ask again next time
        return false;
      }
      if (generation !== this.generation) return true; // a fresh snapshot came meanwhile
      for (const data of page.comments) {
        if (!this.comments.has(data.comment_id)) this._show(this._entry(data));
      }
      before = page.cursor;
      if (before === null) break;
    }
    this._renderChrome();
    this.root.dataset.best = "loaded";
    return true;
  }

  async _refill(oldestBefore) {
    const generation = this.generation;
    for (let pages = 0; pages < 20 && this.cursor !== null && generation === this.generation; pages++) {
      const oldest = [...this.comments.values()].filter((e) => e.shown).map((e) => e.data).sort(compareComments)[0];
      if (oldest && compareComments(oldest, oldestBefore) <= 0) return;
      if (!(await this._fetchOlder())) return;
    }
  }

  onUpdate(type, data) {
    switch (type) {
      case "comment.added":
        this._added(data);
        break;
      case "comment.updated":
        this._updated(data);
        break;
      case "comment.removed":
        this._removed(data.comment_id);
        break;
      case "comment.score":
        this._scored(data.comment_id, data.score);
        break;
      case "article":
        this.closed = Boolean(data.closed || data.deleted);
        for (const entry of this.comments.values()) if (entry.li) this._renderControls(entry);
        break;
      default:
        break;
    }
  }

  _added(data) {
    const known = this.comments.get(data.comment_id);
    if (known && known.removed) {
      // Un-hidden while its placeholder still holds replies: bring the text back in place.
      known.removed = false;
      known.data = { ...data };
      known.li.classList.remove("cf-tombstone");
      this._renderBody(known);
      this._renderControls(known);
      this._place(known); // a placeholder made without its parent id goes where it belongs
      return;
    }
    if (known && known.awaiting) {
      // Approved: the author's waiting comment becomes an ordinary one, in place.
      this._settleAwaiting(known);
      known.data = { ...data };
      this._renderBody(known);
      this._renderControls(known);
      return;
    }
    if (known) {
      this._updated(data);
      return;
    }
    const entry = this._entry(data);
    if (this._isOwn(data)) this._show(entry, { fresh: true });
    else {
      this.pending.push(data.comment_id);
      this._renderNewButton();
    }
    this._renderChrome();
  }

  _updated(data) {
    const entry = this.comments.get(data.comment_id);
    if (!entry || entry.removed) return;
    entry.data = { ...entry.data, ...data };
    if (entry.li) this._renderBody(entry);
  }

  /** Scores change in place; "best" re-orders only when the reader picks a sort again, so
   *  comments do not jump around under the reader. */
  _scored(commentId, score) {
    const entry = this.comments.get(commentId);
    if (!entry) return;
    entry.data = { ...entry.data, score };
    if (entry.li) entry.li.querySelector(":scope > .cf-card .cf-score").textContent = String(score);
  }

  _removed(commentId) {
    const entry = this.comments.get(commentId);
    if (!entry) return;
    if (entry.awaiting) {
      // Rejected (or deleted) before it was ever shown to readers.
      this._settleAwaiting(entry);
      this._forget(entry);
      this._renderChrome();
      return;
    }
    const waiting = this.pending.indexOf(commentId);
    if (waiting >= 0) {
      this.pending.splice(waiting, 1);
      this.comments.delete(commentId);
      this._renderNewButton();
      return;
    }
    entry.removed = true;
    this._prune(entry);
    this._renderChrome();
  }

  /** Remove a removed comment's element, or keep a placeholder while replies still hang off it. */
  _prune(entry) {
    if (!entry.li) return;
    const replies = entry.li.querySelector(":scope > .cf-replies");
    if (replies.children.length > 0) {
      entry.li.classList.add("cf-tombstone");
      this._renderBody(entry);
      this._renderControls(entry);
      return;
    }
    const parentLi = entry.li.parentElement?.closest(".cf-comment");
    this._forget(entry);
    const parent = parentLi && this.comments.get(parentLi.dataset.commentId);
    if (parent && parent.removed) this._prune(parent);
  }

  _forget(entry) {
    entry.li?.remove();
    this.comments.delete(entry.data.comment_id);
  }

  /**
   * Nothing older exists (cursor null), so a parent still missing was removed. Its replies go
   * under a placeholder, as they stay under one when the removal happens live. The streams do
   * not say where the removed comment itself sat, so the placeholder is top level, dated by
   * its earliest reply.
   */
  _settleOrphans() {
    const missing = new Map();
    for (const entry of this.comments.values()) {
      const parentId = entry.data.parent_id;
      if (!entry.shown || !parentId || this.comments.has(parentId)) continue;
      const earliest = missing.get(parentId);
      if (!earliest || compareComments(entry.data, earliest) < 0) missing.set(parentId, entry.data);
    }
    for (const [parentId, child] of missing) {
      const entry = this._entry({
        comment_id: parentId, article_id: child.article_id, parent_id: null,
        posted_at: child.posted_at, score: 0, removed: true,
      });
      this._show(entry);
    }
  }

  // -- new comments button --

  showPending({ focus = true } = {}) {
    const ids = this.pending;
    this.pending = [];
    let first = null;
    for (const id of ids) {
      const entry = this.comments.get(id);
      if (!entry) continue;
      this._show(entry, { fresh: true });
      first ??= entry.li;
    }
    // A reply that waited while its parent was removed (and pruned) keeps a placeholder too.
    if (this.cursor === null) this._settleOrphans();
    this._renderNewButton();
    this._renderChrome();
    if (first && focus) {
      // The button is gone; keyboard and screen reader users continue at the first new comment.
      first.querySelector(":scope > .cf-card").focus({ preventScroll: true });
      first.scrollIntoView({ block: "nearest" });
    }
  }

  _renderNewButton() {
    const n = this.pending.length;
    this.newButton.hidden = n === 0;
    this.newButton.textContent = n === 0 ? "" : newCommentsLabel(n);
    this.newButton.dataset.count = String(n);
    if (n > this.announcedPending) this._announce(newCommentsLabel(n));
    this.announcedPending = n;
  }

  /** A polite live region: a fresh node per message, so a repeated message is read again. */
  _announce(text) {
    this.announcer.replaceChildren(el("p", { text }));
  }

  // -- sort --

  _storedSort() {
    try {
      const stored = this.storage?.getItem(SORT_KEY);
      return SORT_ORDERS.includes(stored) ? stored : "oldest";
    } catch {
      return "oldest";
    }
  }

  _applySort(sort) {
    this.sort = SORT_ORDERS.includes(sort) ? sort : "oldest";
    this.topOrder = topLevelOrder(this.sort);
    this.root.dataset.sort = this.sort;
    for (const button of this.sortButtons) button.setAttribute("aria-pressed", String(button.dataset.sort === this.sort));
    const data = (li) => this.comments.get(li.dataset.commentId)?.data ?? {};
    this.list.append(...[...this.list.children].sort((a, b) => this.topOrder(data(a), data(b))));
    // Older comments come in where the order puts them: above the list when oldest is first.
    if (this.sort === "oldest") this.list.before(this.olderButton);
    else this.list.after(this.olderButton);
    if (!this.olderButton.disabled) this.olderButton.textContent = this._olderLabel();
    if (this.sort === "best") this.loadBest();
  }

  _olderLabel() {
    return this.sort === "oldest" ? "Load older comments" : "Load more comments";
  }

  // -- load older --

  async loadOlder() {
    if (this.cursor === null) return;
    this.olderButton.disabled = true;
    this.olderButton.textContent = "Loading…";
    const ok = await this._fetchOlder();
    this.olderButton.disabled = false;
    this.olderButton.textContent = ok ? this._olderLabel() : "Could not load older comments — try again";
  }

  /** One page of older comments through the history op; false if it failed. */
  async _fetchOlder() {
    const generation = this.generation;
    let page;
    try {
      page = await this.feed.history(this.channel, { before: this.cursor, limit: this.pageSize });
    } catch {
      return false;
    }
    if (generation !== this.generation) return true; // a fresh snapshot came meanwhile: stale page
    const added = [];
    for (const data of page.comments) {
      if (this.comments.has(data.comment_id)) continue;
      const entry = this._entry(data);
      this._show(entry);
      added.push(entry);
    }
    for (const entry of added) if (entry.removed) this._prune(entry);
    this.cursor = page.cursor;
    if (this.cursor === null) this._settleOrphans();
    this._renderChrome();
    return true;
  }

  _renderChrome() {
    this.olderButton.hidden = this.cursor === null;
    const anyShown = [...this.comments.values()].some((e) => e.shown);
    this.empty.hidden = !this.loaded || anyShown || this.pending.length > 0;
  }

  // -- building comments --

  _entry(data) {
    const entry = { data, li: null, shown: false, removed: data.removed === true };
    this.comments.set(data.comment_id, entry);
    return entry;
  }

  _isOwn(data) {
    return this.own.has(data.comment_id) || (this.viewer !== null && data.author?.id === this.viewer.id);
  }

  _show(entry, { fresh = false } = {}) {
    if (!entry || entry.shown) return;
    entry.shown = true;
    entry.li = this._build(entry);
    entry.li.classList.toggle("cf-tombstone", entry.removed);
    entry.li.classList.toggle("cf-awaiting", Boolean(entry.awaiting));
    if (fresh) entry.li.classList.add("cf-fresh");
    this._place(entry);
    this._adoptOrphans(entry);
  }

  _build(entry) {
    const { data } = entry;
    const name = data.author?.name ?? "";
    const li = el(
      "li",
      { class: "cf-comment", id: `comment-${data.comment_id}`, "data-comment-id": data.comment_id },
      el(
        "article",
        // Focusable from script (not in the tab order): "show new comments" and permalinks
        // move the focus here.
        { class: "cf-card", tabindex: "-1", "aria-label": name ? `Comment by ${name}` : "Removed comment" },
        el(
          "div",
          { class: "cf-side" },
          el("span", { class: `cf-avatar cf-avatar-${hue(name)}`, "aria-hidden": "true", text: [...name][0]?.toUpperCase() ?? "?" }),
          el(
            "div",
            { class: "cf-vote" },
            el("button", { type: "button", class: "cf-vote-up", "aria-label": "Vote up", title: "Vote up", text: "▲" }),
            el("span", { class: "cf-score", title: "Score", text: String(data.score ?? 0) }),
            el("button", { type: "button", class: "cf-vote-down", "aria-label": "Vote down", title: "Vote down", text: "▼" }),
          ),
        ),
        el(
          "div",
          { class: "cf-main" },
          el(
            "header",
            { class: "cf-meta" },
            el("span", { class: "cf-author", text: name || "anonymous" }),
            el("a", { class: "cf-permalink", href: `#comment-${data.comment_id}`, title: "Link to this comment" },
              el("time", { class: "cf-time" })),
            el("span", { class: "cf-edited", text: "edited", hidden: true }),
            el("span", { class: "cf-orphan-note", text: "in reply to an earlier comment", hidden: true }),
            el("span", { class: "cf-awaiting-note", text: "awaiting moderation", hidden: !entry.awaiting }),
          ),
          el("div", { class: "cf-text" }),
          el("footer", { class: "cf-actions" }),
        ),
      ),
      el("div", { class: "cf-reply-slot" }),
      el("ol", { class: "cf-replies", "aria-label": "Replies" }),
    );
    entry.li = li;
    li.querySelector(".cf-vote-up").addEventListener("click", () => this._vote(entry, 1));
    li.querySelector(".cf-vote-down").addEventListener("click", () => this._vote(entry, -1));
    this._renderBody(entry);
    this._renderControls(entry);
    return li;
  }

  _renderBody(entry) {
    const { data, li } = entry;
    const card = li.querySelector(":scope > .cf-card");
    const text = card.querySelector(".cf-text");
    const time = card.querySelector(".cf-time");
    const edited = card.querySelector(".cf-edited");
    if (entry.removed) {
      text.textContent = "This comment was removed.";
      edited.hidden = true;
      card.setAttribute("aria-label", "Removed comment");
      return;
    }
    const name = data.author?.name ?? "";
    card.setAttribute("aria-label", name ? `Comment by ${name}` : "Comment");
    // Paragraphs split on blank lines; each is a text node (CSS keeps single line breaks).
    const paragraphs = String(data.body ?? "").split(/\n\s*\n/).filter((p) => p.trim() !== "");
    text.replaceChildren(...paragraphs.map((p) => el("p", { text: p })));
    time.textContent = formatTime(data.posted_at);
    time.setAttribute("datetime", data.posted_at ?? "");
    edited.hidden = !data.edited_at;
    card.querySelector(".cf-score").textContent = String(data.score ?? 0);
  }

  _renderControls(entry) {
    const { data, li } = entry;
    const viewer = this.viewer;
    const live = viewer !== null && !entry.removed && !entry.awaiting;
    li.querySelector(":scope > .cf-card .cf-vote").classList.toggle("cf-can-vote", live);
    for (const button of li.querySelectorAll(":scope > .cf-card .cf-vote button")) button.hidden = !live;
    const mine = this.votes.get(data.comment_id) ?? 0;
    li.querySelector(":scope > .cf-card .cf-vote-up").setAttribute("aria-pressed", String(mine === 1));
    li.querySelector(":scope > .cf-card .cf-vote-down").setAttribute("aria-pressed", String(mine === -1));

    const bar = li.querySelector(":scope > .cf-card .cf-actions");
    const buttons = [];
    if (live && !this.closed) buttons.push(this._action("Reply", "cf-reply", () => this.actions.reply?.(data)));
    if (live && data.author?.id === viewer.id) {
      buttons.push(this._action("Edit", "cf-edit", () => this._startEdit(entry)));
      buttons.push(this._action("Delete", "cf-delete", () => this.actions.remove?.(data)));
    }
    if (live && viewer.role === "moderator") {
      buttons.push(this._action("Hide", "cf-hide", () => this.actions.hide?.(data)));
    }
    if (live && data.author?.id !== viewer.id && this.actions.report) {
      // A reader reports once per comment (ingest counts one report per reader anyway).
      buttons.push(entry.reported
        ? el("span", { class: "cf-reported", text: "Reported" })
        : this._action("Report", "cf-report", () => this._startReport(entry)));
    }
    bar.replaceChildren(...buttons);
  }

  _startReport(entry) {
    const bar = entry.li.querySelector(":scope > .cf-card .cf-actions");
    if (bar.querySelector(".cf-report-form")) return;
    const reason = el("select", { class: "cf-report-reason", "aria-label": "Why report this comment" },
      ...REPORT_REASONS.map(([value, label]) => el("option", { value, text: label })));
    const note = el("input", { type: "text", class: "cf-report-text", maxlength: 200,
      "aria-label": "Anything the moderators should know (optional)", placeholder: "Optional note" });
    const send = el("button", { type: "submit", class: "cf-report-send", text: "Send report" });
    const cancel = el("button", { type: "button", class: "cf-cancel", text: "Cancel" });
    const error = el("p", { class: "cf-error", hidden: true });
    const form = el("form", { class: "cf-report-form" }, reason, note, send, cancel, error);
    const close = () => {
      this._renderControls(entry);
      entry.li?.querySelector(":scope > .cf-card .cf-report, :scope > .cf-card .cf-reported")?.focus();
    };
    cancel.addEventListener("click", close);
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        const text = note.value.trim();
        await this.actions.report(entry.data, { reason: reason.value, ...(text ? { text } : {}) });
        entry.reported = true;
        this._announce("Thank you: the moderators will look at it.");
        close();
      } catch (err) {
        error.textContent = err?.message || "The report was not sent.";
        error.hidden = false;
        send.disabled = false;
      }
    });
    bar.append(form);
    reason.focus();
  }

  _action(label, cls, handler) {
    const button = el("button", { type: "button", class: `cf-action ${cls}`, text: label });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await handler();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  async _vote(entry, value) {
    const commentId = entry.data.comment_id;
    const current = this.votes.get(commentId) ?? 0;
    const next = current === value ? 0 : value; // pressing the same arrow again withdraws the vote
    const voter = this.viewer?.id;
    try {
      await this.actions.vote?.(entry.data, next);
      if (next === 0) this.votes.delete(commentId);
      else this.votes.set(commentId, next);
      this.votedMeanwhile.add(commentId);
      this.voteMemory.remember(voter, commentId, next);
    } catch (err) {
      this._announce(`Your vote was not counted: ${err?.message || "try again"}`);
    } finally {
      if (entry.li) this._renderControls(entry);
    }
  }

  _startEdit(entry) {
    const text = entry.li.querySelector(":scope > .cf-card .cf-text");
    if (text.querySelector("textarea")) return;
    const area = el("textarea", { class: "cf-edit-body", rows: 4, "aria-label": "Edit your comment" });
    area.value = entry.data.body;
    const save = el("button", { type: "button", class: "cf-save", text: "Save" });
    const cancel = el("button", { type: "button", class: "cf-cancel", text: "Cancel" });
    const error = el("p", { class: "cf-error", hidden: true });
    // Closing the editor removes the focused element: give the focus back to the Edit button.
    const close = () => {
      this._renderBody(entry);
      entry.li?.querySelector(":scope > .cf-card .cf-edit")?.focus();
    };
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        await this.actions.edit?.(entry.data, area.value);
        entry.data = { ...entry.data, body: area.value.trim() }; // the stream confirms in a moment
        close();
      } catch (err) {
        error.textContent = err?.message || "Could not save the edit.";
        error.hidden = false;
        save.disabled = false;
      }
    });
    text.replaceChildren(area, el("div", { class: "cf-edit-buttons" }, save, cancel), error);
    area.focus();
  }

  /** Put a comment's element in its parent's reply list (or the top level), in order: the
   *  sort's order at the top level, oldest first among replies. */
  _place(entry) {
    const parentId = entry.data.parent_id;
    const parent = parentId ? this.comments.get(parentId) : null;
    const list = parent?.li ? parent.li.querySelector(":scope > .cf-replies") : this.list;
    const order = list === this.list ? this.topOrder : compareComments;
    const orphan = Boolean(parentId) && !parent?.li;
    entry.li.classList.toggle("cf-orphan", orphan);
    entry.li.querySelector(":scope > .cf-card .cf-orphan-note").hidden = !orphan;
    let next = null;
    for (const sibling of list.children) {
      if (sibling === entry.li) continue;
      const other = this.comments.get(sibling.dataset.commentId);
      if (other && order(entry.data, other.data) < 0) {
        next = sibling;
        break;
      }
    }
    list.insertBefore(entry.li, next);
  }

  /** Replies that arrived before their parent (older pages) move under it once it is shown. */
  _adoptOrphans(parent) {
    for (const child of [...this.list.children]) {
      const entry = this.comments.get(child.dataset.commentId);
      if (entry && entry.data.parent_id === parent.data.comment_id) this._place(entry);
    }
  }
}
