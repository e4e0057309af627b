// A small graphql-transport-ws client: one WebSocket for all the page's subscriptions,
// authenticated in connection_init, re-opened with backoff when it drops. Each subscription
// gives its variables as a function, so a re-subscription resumes from the latest cursor.

const PROTOCOL = "graphql-transport-ws";
const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 10000;
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

export class LiveSocket {
  constructor({ url, token, onStatus = () => {}, onRefused = () => {} }) {
    this.url = url.replace(/^http/, "ws");
    this.token = token;
    this.onStatus = onStatus;
    this.onRefused = onRefused;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.socket = null;
    this.acked = false;
    this.failures = 0;
    this.stopped = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.online = () => this.reconnectNow();
    window.addEventListener("online", this.online);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.online);
    clearTimeout(this.retryTimer);
    this.clearTimers();
    if (this.socket) this.socket.close(1000, "bye");
    this.socket = null;
  }

  /** Subscribe; `variables()` is asked each time the subscription is (re)sent. */
  subscribe(query, variables, { next, error = () => {}, complete = () => {} }) {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { query, variables, next, error, complete });
    if (this.acked) this.sendSubscribe(id);
    return id;
  }

  unsubscribe(id) {
    if (!this.subscriptions.delete(id)) return;
    if (this.acked) this.send({ id, type: "complete" });
  }

  /** Send an operation that needs no answer over the open socket (e.g. a heartbeat). */
  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  get connected() {
    return this.acked;
  }

  open() {
    if (this.stopped) return;
    const socket = new WebSocket(this.url, PROTOCOL);
    this.socket = socket;
    this.acked = false;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { token: this.token } }));
    });
    socket.addEventListener("message", (event) => this.receive(socket, event.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  receive(socket, raw) {
    if (socket !== this.socket) return;
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    const sub = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.failures = 0;
        this.onStatus(true);
        for (const id of this.subscriptions.keys()) this.sendSubscribe(id);
        this.schedulePing();
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "pong":
        clearTimeout(this.pongTimer);
        this.schedulePing();
        break;
      case "next":
        if (sub) sub.next(message.payload);
        break;
      case "error":
        if (sub) {
          this.subscriptions.delete(message.id);
          sub.error(message.payload);
        }
        break;
      case "complete":
        if (sub) {
          this.subscriptions.delete(message.id);
          sub.complete();
        }
        break;
    }
  }

  sendSubscribe(id) {
    const sub = this.subscriptions.get(id);
    this.send({ id, type: "subscribe", payload: { query: sub.query, variables: sub.variables() } });
  }

  schedulePing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      this.send({ type: "ping" });
      // No pong in time: the connection is dead even if the browser has not noticed.
      this.pongTimer = setTimeout(() => this.socket && this.socket.close(4000, "no pong"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  clearTimers() {
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.clearTimers();
    this.acked = false;
    this.socket = null;
    if (this.stopped) return;
    this.onStatus(false);
    if (event.code === 4403 || event.code === 4401) {
      this.onRefused(event);
      return;
    }
    const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.retryTimer = setTimeout(() => this.open(), wait * (0.75 + Math.random() / 2));
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.retryTimer);
    this.open();
  }
}
