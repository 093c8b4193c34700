// A scripted stand-in for the browser's WebSocket, for unit tests of the JS client's own logic
// (resume, gaps, backoff, rendering) without a gateway. Tests drive the "server" side through
// window.__ws. The whole-stack tests never load this file.
(() => {
  const ws = {
    sockets: [],
    sent: [],
    /** While true, new sockets fail to connect (an unreachable gateway). */
    refuse: false,
    /** Optional auto-responder: (socket, frame) => void */
    onFrame: null,
    get last() {
      return this.sockets[this.sockets.length - 1];
    },
    sentOps(op) {
      return this.sent.filter((f) => f.op === op);
    },
  };

  class ScriptedSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      ws.sockets.push(this);
      setTimeout(() => {
        if (this.readyState !== 0) return;
        if (ws.refuse) {
          this.readyState = 3;
          this.onclose?.({ code: 1006, reason: "" });
        } else {
          this.readyState = 1;
          this.onopen?.({});
        }
      }, 0);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      const frame = JSON.parse(data);
      this.sent.push(frame);
      ws.sent.push(frame);
      ws.onFrame?.(this, frame);
    }

    close(code = 1000, reason = "") {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.onclose?.({ code, reason }), 0);
    }

    // -- the server's side --
    push(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }

    drop(code = 1006) {
      this.readyState = 3;
      this.onclose?.({ code, reason: "" });
    }
  }

  ScriptedSocket.OPEN = 1;
  window.__ws = ws;
  window.WebSocket = ScriptedSocket;
})();
