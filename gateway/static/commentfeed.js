// commentfeed.js — the browser client of the commentfeed websocket protocol v1 (docs/protocol.md).
//
// One CommentFeed holds one websocket and any number of channel subscriptions. It reconnects
// with exponential backoff and jitter, resumes every channel from the last position it applied
// (`since`), drops updates it already has, and turns frames into DOM events for the widgets:
//
//   "snapshot"  detail {channel, epoch, offset, snapshot}     fresh state: replace what you had
//   "update"    detail {channel, epoch, offset, type, data}   one change, in channel order
//   "state"     detail {state, attempt?, delayMs?, code?}     connecting | live | reconnecting | stopped
//   "error"     detail {code, message, channel?}              an error frame the client could not absorb
//   "auth"      detail {user | null, code?}                   logged in (user) or not (bad_token)
//
// Private channels (`moderation:<site>`) need a login: setToken(token) sends `auth` on every
// (re)connect before the private subscriptions are sent again.
//
// Plain ES module, no build step, no dependencies.

/** Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes"). */
const FINAL_CLOSE_CODES = new Set([1000, 1009, 4001, 4003]);

/** Channels that need an `auth` first (docs/protocol.md, "auth"). */
export function isPrivateChannel(channel) {
  return channel.startsWith("moderation:");
}

/** Error codes that mean "try this subscribe again later" rather than "give up". */
const RETRYABLE_ERRORS = new Set(["unavailable", "rate_limited"]);

/**
 * Backoff before reconnect attempt `attempt` (0-based): exponential from `initialMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so a gateway restart does not bring
 * every page back in the same millisecond.
 */
export function backoffDelay(attempt, { initialMs = 500, maxMs = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * What to do with an update given the position a channel is at (pure; the heart of resume).
 *   "apply" — the next update in order
 *   "drop"  — already have it (replays after a resume are expected and harmless)
 *   "resync" — a gap or an epoch we do not know: ask the gateway to put us right
 */
export function classifyUpdate(position, update) {
  if (!position) return "drop"; // no snapshot yet: the snapshot will include it
  if (update.epoch !== position.epoch) return "resync";
  if (update.offset <= position.offset) return "drop";
  if (update.offset === position.offset + 1) return "apply";
  return "resync";
}

export class CommentFeed extends EventTarget {
  /**
   * @param {string} url  e.g. "ws://127.0.0.1:8765/ws"
   * @param {object} [options]
   * @param {number} [options.initialBackoffMs=500]
   * @param {number} [options.maxBackoffMs=30000]
   * @param {number} [options.pingIntervalMs=20000]  app-level ping while idle
   * @param {number} [options.pongTimeoutMs=10000]   no frame at all for this long after a ping: dead
   * @param {typeof WebSocket} [options.WebSocket]   injectable for tests
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = {
      initialBackoffMs: 500,
      maxBackoffMs: 30000,
      pingIntervalMs: 20000,
      pongTimeoutMs: 10000,
      random: Math.random,
      ...options,
    };
    this.WebSocketImpl = options.WebSocket || globalThis.WebSocket;
    /** channel -> {refs, position: {epoch, offset} | null, pending: bool} */
    this.channels = new Map();
    /** request id -> {resolve, reject, op, channel} */
    this.requests = new Map();
    this.nextId = 1;
    this.socket = null;
    this.state = "idle";
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.deadTimer = null;
    this.wanted = false;
    /** The reader token sent with `auth`, and the user the gateway answered for it. */
    this.token = null;
    this.user = null;
    /** Whether the current socket has its `auth` answered (private subscribes wait for it). */
    this.authed = false;
    this._onOnline = () => {
      if (this.wanted && this.state === "reconnecting") this._reconnectNow();
    };
  }

  // -- public API ------------------------------------------------------------------------------

  /** Open the connection (and keep it open until close()). Safe to call more than once. */
  connect() {
    this.wanted = true;
    globalThis.addEventListener?.("online", this._onOnline);
    if (!this.socket && this.retryTimer === null) this._open();
    return this;
  }

  /** Close for good: no reconnect until connect() is called again. */
  close() {
    this.wanted = false;
    globalThis.removeEventListener?.("online", this._onOnline);
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) {
      const socket = this.socket;
      this._detach();
      socket.close(1000);
    }
    this._failRequests("closed");
    this._setState("stopped");
  }

  /**
   * Subscribe to a channel; returns a function that undoes this subscription. Subscriptions
   * are reference counted, so several widgets can share one channel. A second subscriber
   * asks for a fresh snapshot so it can draw itself; the others treat it as a resync.
   */
  subscribe(channel) {
    let entry = this.channels.get(channel);
    if (entry) {
      entry.refs += 1;
      entry.position = null; // everyone redraws from the fresh snapshot
      this._sendSubscribe(channel);
    } else {
      entry = { refs: 1, position: null };
      this.channels.set(channel, entry);
      this._sendSubscribe(channel);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.unsubscribe(channel);
    };
  }

  unsubscribe(channel) {
    const entry = this.channels.get(channel);
    if (!entry) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    this.channels.delete(channel);
    if (this._isOpen()) this._send({ op: "unsubscribe", channel });
  }

  /**
   * Log in with a reader token (null logs out): sent now if connected, and again after every
   * reconnect. Resolves with the user, or rejects with code `bad_token`.
   */
  setToken(token) {
    this.token = token || null;
    this.user = null;
    this.authed = false;
    if (!this._isOpen()) return Promise.resolve(null);
    if (!this.token) {
      // The gateway has no "log out" op: a fresh connection is anonymous.
      this._restart();
      return Promise.resolve(null);
    }
    return this._auth();
  }

  /** The position (epoch, offset) applied on a channel, or null before its snapshot. */
  position(channel) {
    const entry = this.channels.get(channel);
    return entry && entry.position ? { ...entry.position } : null;
  }

  /**
   * Older comments of an article channel: resolves with {comments (newest first), cursor}.
   * `sort: "best"` pages the article's best top-level comments instead (by score, then newest),
   * with `floor`: no top-level comment left out scores above it (null: none is left out).
   */
  history(channel, { before = null, limit = 50, sort = "newest" } = {}) {
    const frame = { op: "history", channel, limit };
    if (before !== null && before !== undefined) frame.before = before;
    if (sort && sort !== "newest") frame.sort = sort;
    return this._request(frame).then((reply) => {
      const page = { comments: reply.comments || [], cursor: reply.cursor ?? null };
      if (reply.sort === "best") page.floor = reply.floor ?? null;
      return page;
    });
  }

  /** Round trip to the gateway; resolves with the time it took in milliseconds. */
  ping() {
    const started = performance.now();
    return this._request({ op: "ping" }).then(() => performance.now() - started);
  }

  // -- connection ------------------------------------------------------------------------------

  _open() {
    this.retryTimer = null;
    this._setState(this.attempt === 0 ? "connecting" : "reconnecting", { attempt: this.attempt });
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (err) {
      // A malformed URL throws synchronously; treat it like a failed connection.
      this._emit("error", { code: "connect_failed", message: String(err) });
      this._scheduleReconnect(null);
      return;
    }
    this.socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = (event) => this._onMessage(socket, event);
    socket.onclose = (event) => this._onClose(socket, event);
    socket.onerror = () => {}; // a close event always follows; handle it there
  }

  _onOpen(socket) {
    if (socket !== this.socket) return;
    this._setState("live");
    this._armPing();
    this.authed = false;
    if (this.token) this._auth().catch(() => {}); // answered before any subscribe below
    for (const channel of this.channels.keys()) {
      if (!isPrivateChannel(channel)) this._sendSubscribe(channel);
    }
  }

  /** Send `auth`; once answered, (re)subscribe the private channels. */
  _auth() {
    const token = this.token;
    return this._request({ op: "auth", token }).then(
      (frame) => {
        if (token !== this.token) return this.user;
        this.user = frame.user ?? null;
        this.authed = true;
        this._emit("auth", { user: this.user });
        for (const channel of this.channels.keys()) {
          if (isPrivateChannel(channel)) this._sendSubscribe(channel);
        }
        return this.user;
      },
      (err) => {
        if (token === this.token && err.code === "bad_token") {
          this.user = null;
          this._emit("auth", { user: null, code: err.code });
        }
        throw err;
      },
    );
  }

  /** Drop the socket and connect again at once (a logout: the new connection is anonymous). */
  _restart() {
    const socket = this.socket;
    this._detach();
    this._failRequests("disconnected");
    socket?.close(1000);
    if (this.wanted) this._open();
  }

  _onClose(socket, event) {
    if (socket !== this.socket) return;
    this._detach();
    this._failRequests("disconnected");
    if (!this.wanted) return;
    if (FINAL_CLOSE_CODES.has(event.code)) {
      this.wanted = false;
      this._setState("stopped", { code: event.code, reason: event.reason });
      return;
    }
    this._scheduleReconnect(event.code);
  }

  _scheduleReconnect(code) {
    const delayMs = backoffDelay(this.attempt, {
      initialMs: this.options.initialBackoffMs,
      maxMs: this.options.maxBackoffMs,
      random: this.options.random,
    });
    this.attempt += 1;
    this._setState("reconnecting", { attempt: this.attempt, delayMs, code });
    this.retryTimer = setTimeout(() => this._open(), delayMs);
  }

  _reconnectNow() {
    clearTimeout(this.retryTimer);
    this._open();
  }

  /** Drop a socket (dead or closed) without letting its late events reach us. */
  _detach() {
    const socket = this.socket;
    this.socket = null;
    clearTimeout(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.pingTimer = this.deadTimer = null;
    if (socket) socket.onopen = socket.onmessage = socket.onclose = null;
  }

  _isOpen() {
    return this.socket !== null && this.socket.readyState === 1;
  }

  // -- liveness --------------------------------------------------------------------------------

  /** Any frame proves the connection alive; after an idle interval, ask with a ping. */
  _armPing() {
    clearTimeout(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.deadTimer = null;
    this.pingTimer = setTimeout(() => {
      if (!this._isOpen()) return;
      this._send({ op: "ping" });
      this.deadTimer = setTimeout(() => this._declareDead(), this.options.pongTimeoutMs);
    }, this.options.pingIntervalMs);
  }

  _declareDead() {
    const socket = this.socket;
    if (!socket) return;
    this._detach();
    try {
      socket.close(4100, "no pong");
    } catch {
      // closing a socket that is not open throws in some browsers; it is gone either way
    }
    this._failRequests("disconnected");
    if (this.wanted) this._scheduleReconnect(null);
  }

  // -- frames in -------------------------------------------------------------------------------

  _onMessage(socket, event) {
    if (socket !== this.socket) return;
    this._armPing();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return; // the gateway only sends JSON; ignore anything else rather than die
    }
    if (!frame || typeof frame !== "object") return;
    switch (frame.op) {
      case "subscribed":
        this._onSubscribed(frame);
        break;
      case "update":
        this._onUpdate(frame);
        break;
      case "pong":
        this.attempt = 0;
        this._settle(frame);
        break;
      case "history":
      case "authed":
        this._settle(frame);
        break;
      case "unsubscribed":
        if (frame.id === undefined) this._onDropped(frame.channel);
        else this._settle(frame);
        break;
      case "error":
        this._onError(frame);
        break;
      default:
        break; // unknown ops are ignored (forward compatible)
    }
  }

  _onSubscribed(frame) {
    this._settle(frame);
    const entry = this.channels.get(frame.channel);
    if (!entry) return; // unsubscribed meanwhile
    this.attempt = 0; // a working subscription: the next outage starts from the short delay
    entry.resyncing = false;
    entry.failures = 0;
    if (frame.recovered && !entry.position) {
      this._resync(frame.channel); // a replay is no use without a snapshot to replay onto
      return;
    }
    if (frame.recovered) {
      for (const update of frame.missed || []) this._onUpdate(update);
      // The reply's position covers the missed list; anything else would be a gap.
      if (entry.position && entry.position.offset < frame.offset) this._resync(frame.channel);
      return;
    }
    entry.position = { epoch: frame.epoch, offset: frame.offset };
    this._emit("snapshot", {
      channel: frame.channel,
      epoch: frame.epoch,
      offset: frame.offset,
      snapshot: frame.snapshot,
    });
  }

  _onUpdate(frame) {
    const entry = this.channels.get(frame.channel);
    if (!entry) return;
    const verdict = classifyUpdate(entry.position, frame);
    if (verdict === "drop") return;
    if (verdict === "resync") {
      this._resync(frame.channel);
      return;
    }
    entry.position = { epoch: frame.epoch, offset: frame.offset };
    this._emit("update", {
      channel: frame.channel,
      epoch: frame.epoch,
      offset: frame.offset,
      type: frame.type,
      data: frame.data,
    });
  }

  /**
   * The gateway ended a private subscription by itself (the login expired or changed): it
   * stays wanted, and is sent again after the next successful `auth`.
   */
  _onDropped(channel) {
    const entry = this.channels.get(channel);
    if (!entry) return;
    entry.position = null;
    this.authed = false;
    this._emit("error", { code: "unsubscribed", message: "the login no longer allows this channel", channel });
  }

  /** A gap or a foreign epoch: resume from what we have (replay or fresh snapshot). */
  _resync(channel) {
    const entry = this.channels.get(channel);
    if (!entry || entry.resyncing) return;
    entry.resyncing = true;
    this._sendSubscribe(channel);
  }

  _onError(frame) {
    const request = frame.id !== undefined ? this.requests.get(frame.id) : undefined;
    if (request) {
      this.requests.delete(frame.id);
      if (request.op === "subscribe") {
        const entry = this.channels.get(request.channel);
        if (entry) entry.resyncing = false;
        if (entry && RETRYABLE_ERRORS.has(frame.code)) {
          const delayMs = backoffDelay(entry.failures || 0, {
            initialMs: this.options.initialBackoffMs,
            maxMs: this.options.maxBackoffMs,
            random: this.options.random,
          });
          entry.failures = (entry.failures || 0) + 1;
          setTimeout(() => {
            if (this.channels.get(request.channel) === entry) this._sendSubscribe(request.channel);
          }, delayMs);
        }
      }
      request.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code }));
    }
    this._emit("error", { code: frame.code, message: frame.message, channel: request?.channel });
  }

  // -- frames out ------------------------------------------------------------------------------

  _sendSubscribe(channel) {
    const entry = this.channels.get(channel);
    if (!entry || !this._isOpen()) return; // sent on (re)open
    if (isPrivateChannel(channel) && !this.authed) return; // sent once `auth` is answered
    const frame = { op: "subscribe", channel };
    if (entry.position) frame.since = { epoch: entry.position.epoch, offset: entry.position.offset };
    this._request(frame).catch(() => {}); // the reply is handled in _onSubscribed / _onError
  }

  _request(frame) {
    if (!this._isOpen()) return Promise.reject(Object.assign(new Error("not connected"), { code: "disconnected" }));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject, op: frame.op, channel: frame.channel });
      this._send({ ...frame, id });
    });
  }

  _settle(frame) {
    if (frame.id === undefined) return;
    const request = this.requests.get(frame.id);
    if (!request) return;
    this.requests.delete(frame.id);
    request.resolve(frame);
  }

  _failRequests(code) {
    const pending = [...this.requests.values()];
    this.requests.clear();
    for (const request of pending) request.reject(Object.assign(new Error(code), { code }));
    for (const entry of this.channels.values()) entry.resyncing = false;
  }

  _send(frame) {
    this.socket.send(JSON.stringify(frame));
  }

  // -- events ----------------------------------------------------------------------------------

  _setState(state, extra = {}) {
    this.state = state;
    this._emit("state", { state, ...extra });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
