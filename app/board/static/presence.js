// Who else is here (presence) and the inbox count: both optional, so the board works on a
// server that does not offer them yet (the first validation error switches each one off).

import { gql } from "./api.js";

const ENTRY = "user { id name } state since sessionId";

const BOARD_PRESENCE = `
subscription BoardPresence($sessionId: String) {
  presence(board: true, announce: VIEWING, sessionId: $sessionId) {
    entries { ${ENTRY} }
    opportunities { opportunityId entries { ${ENTRY} } }
  }
}`;

const DEAL_PRESENCE = `
subscription DealPresence($id: ID, $state: PresenceState, $sessionId: String) {
  presence(opportunityId: $id, announce: $state, sessionId: $sessionId) { entries { ${ENTRY} } }
}`;

const UNREAD = "query BoardUnread { unreadNotificationCount }";

const NOTIFICATIONS = `
subscription BoardInbox($since: String) {
  notificationEvents(since: $since) { cursor unreadCount }
}`;

function sessionId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The board's presence and the open deal's. A subscription with `announce` is the session's
 * presence for as long as it runs (the socket answers the server's pings), so no heartbeat is
 * sent; a change of state (viewing → editing) is a new subscription under its own session
 * name, so the old one ending cannot take the new one with it. */
export class Presence {
  constructor({ socket, onBoard }) {
    this.socket = socket;
    this.onBoard = onBoard;
    this.session = sessionId();
    this.available = true;
    this.deal = null; // { id, state, subscription }
    this.turn = 0;
  }

  start() {
    this.socket.subscribe(BOARD_PRESENCE, () => ({ sessionId: this.session }), {
      next: (payload) => {
        if (payload.data) this.onBoard(payload.data.presence);
      },
      error: () => this.off(),
    });
  }

  off() {
    this.available = false;
    if (this.deal) this.socket.unsubscribe(this.deal.subscription);
    this.deal = null;
  }

  /** Be on deal `id` in `state` (VIEWING or EDITING); null: on none. */
  opportunity(id, state = "VIEWING", onEntries) {
    if (!this.available) return;
    const deal = this.deal;
    if (deal && deal.id === id && deal.state === state) return;
    const show = onEntries || (deal && deal.id === id ? deal.onEntries : null);
    if (deal) this.socket.unsubscribe(deal.subscription);
    this.deal = null;
    if (!id) return;
    const session = `${this.session}-${++this.turn}`;
    const next = { id, state, onEntries: show };
    next.subscription = this.socket.subscribe(
      DEAL_PRESENCE,
      () => ({ id, state, sessionId: session }),
      {
        next: (payload) => {
          if (payload.data && next.onEntries) next.onEntries(payload.data.presence.entries);
        },
        // A server without presence refuses the document; a deal gone from view, just this one.
        error: (errors) => {
          if (errors.some((e) => /Cannot query field|Unknown (argument|type)/.test(e.message))) this.off();
        },
      },
    );
    this.deal = next;
  }
}

export class Inbox {
  constructor({ socket, badge, count }) {
    this.socket = socket;
    this.badge = badge;
    this.count = count;
    this.cursor = null;
  }

  async start() {
    let data;
    try {
      data = await gql(UNREAD);
    } catch {
      return; // no inbox on this server (yet): the badge stays hidden
    }
    this.show(data.unreadNotificationCount);
    this.badge.hidden = false;
    this.socket.subscribe(NOTIFICATIONS, () => ({ since: this.cursor }), {
      next: (payload) => {
        if (!payload.data) return;
        const event = payload.data.notificationEvents;
        this.cursor = event.cursor;
        this.show(event.unreadCount);
      },
      error: () => {},
    });
  }

  show(n) {
    this.count.textContent = String(n);
    this.badge.setAttribute("aria-label", `Inbox: ${n} unread`);
    this.badge.classList.toggle("unread", n > 0);
  }
}
