// The board: open stages as columns, opportunities as cards, kept live from
// opportunityEvents; cards move by drag and drop or the keyboard, with expectedVersion.

import { gql } from "./api.js";
import { avatars, el, money, overdue, shortDate } from "./format.js";

export const CARD = `
fragment Card on Opportunity {
  id number name version status visibility estimatedCloseDate probability
  expectedValue { amount currency } weightedValue { amount currency }
  owner { id name } stage { id } companies { id name }
}`;

const PAGE = 100;
const ASC = [{ field: "ESTIMATED_CLOSE_DATE", direction: "ASC", nulls: "LAST" }];
const DESC = [{ field: "ESTIMATED_CLOSE_DATE", direction: "DESC", nulls: "FIRST" }];

/** One request for every column's cards: the first page of each, and for a column the
 * totals say holds more than a page, its last page too (read from the other end), so up to
 * 200 cards a column need no second round trip. */
function firstPages(sizes) {
  const args = ["$viewId: ID", "$asc: [OpportunityOrder!]"];
  if (sizes.some((size) => size > PAGE)) args.push("$desc: [OpportunityOrder!]");
  const fields = [];
  sizes.forEach((size, i) => {
    args.push(`$s${i}: OpportunityFilterInput`);
    const page = `pageInfo { hasNextPage endCursor } nodes { ...Card }`;
    if (size > PAGE) {
      fields.push(`a${i}: opportunities(filter: $s${i}, viewId: $viewId, orderBy: $asc, first: ${PAGE}) { totalCount ${page} }`);
      fields.push(`d${i}: opportunities(filter: $s${i}, viewId: $viewId, orderBy: $desc, first: ${Math.min(PAGE, size - PAGE)}) { ${page} }`);
    } else {
      fields.push(`a${i}: opportunities(filter: $s${i}, viewId: $viewId, orderBy: $asc, first: ${PAGE}) { ${page} }`);
    }
  });
  return `query BoardCards(${args.join(", ")}) {\n  ${fields.join("\n  ")}\n}\n${CARD}`;
}

const MORE = `
query BoardMoreCards($filter: OpportunityFilterInput, $viewId: ID, $asc: [OpportunityOrder!], $after: String) {
  opportunities(filter: $filter, viewId: $viewId, orderBy: $asc, first: ${PAGE}, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { ...Card }
  }
}
${CARD}`;

export const TOTAL = `
fragment Totals on OpportunityGroup {
  count stage { id }
  totals { currency value { amount currency } weightedValue { amount currency } }
}`;

const TOTALS = `
query BoardTotals($filter: OpportunityFilterInput, $viewId: ID) {
  opportunityGroups(groupBy: STAGE, filter: $filter, viewId: $viewId) { ...Totals }
}
${TOTAL}`;

/** Where a board starts: the event cursor, read before any card, and the column totals. */
export const START = `
query BoardStart($filter: OpportunityFilterInput, $viewId: ID) {
  eventCursor
  opportunityGroups(groupBy: STAGE, filter: $filter, viewId: $viewId) { ...Totals }
}
${TOTAL}`;

/** The board's filter: open deals only, narrowed by the pickers. */
export function boardFilter(filter) {
  return { ...filter, status: ["OPEN"] };
}

const EVENTS = `
subscription BoardEvents($since: String, $filter: OpportunityEventFilter, $viewId: ID) {
  opportunityEvents(since: $since, filter: $filter, viewId: $viewId) {
    cursor kind opportunityId version viewChange actor { id name }
    opportunity { ...Card }
  }
}
${CARD}`;

const MOVE = `
mutation MoveCard($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity {
      ...Card
      history(first: 10) { nodes { version actor { id name } } }
    }
    userErrors { field code message }
  }
}
${CARD}`;

const VERBS = {
  CREATED: "added",
  STAGE_CHANGED: "moved",
  WON: "won",
  LOST: "lost",
  DELETED: "deleted",
  REOPENED: "reopened",
  MOVED: "filed",
  ACTIVITY_ADDED: "noted",
  PARTICIPANT_LINKED: "linked",
};

const HIGHLIGHT_MS = 6000;

function byCloseDate(a, b) {
  const x = a.estimatedCloseDate || "9999";
  const y = b.estimatedCloseDate || "9999";
  return x < y ? -1 : x > y ? 1 : a.name.localeCompare(b.name);
}

export class Board {
  constructor({ root, announce, socket, me, onOpen, onConflict }) {
    this.root = root;
    this.announce = announce;
    this.socket = socket;
    this.me = me;
    this.onOpen = onOpen;
    this.onConflict = onConflict;
    this.stages = [];
    this.cards = new Map(); // id -> { data, node }
    this.columns = new Map(); // stage id -> { node, list, count, totals }
    this.cursor = null;
    this.subscription = null;
    this.generation = 0;
    this.totalsTimer = null;
    this.listeners = new Set();
    this.presence = new Map(); // opportunity id -> entries
  }

  /** Load the board for a filter and view from `start` (START's answer: the cursor read
   * before the cards, the column totals), then follow its events from that cursor on. */
  async load({ stages, filter, viewId, start }) {
    const generation = ++this.generation;
    if (this.subscription) this.socket.unsubscribe(this.subscription);
    this.subscription = null;
    this.stages = stages.filter((s) => s.kind === "OPEN").sort((a, b) => a.position - b.position);
    this.filter = boardFilter(filter);
    this.viewId = viewId || null;
    this.root.setAttribute("aria-busy", "true");
    if (!start) start = await gql(START, { filter: this.filter, viewId: this.viewId });
    this.cursor = start.eventCursor;
    const nodes = await this.fetchCards(start.opportunityGroups);
    if (generation !== this.generation) return;
    performance.mark("board:data");
    this.render(nodes);
    this.showTotals(start.opportunityGroups);
    performance.mark("board:rendered");
    this.root.setAttribute("aria-busy", "false");
    this.subscription = this.socket.subscribe(
      EVENTS,
      () => ({ since: this.cursor, filter: this.filter, viewId: this.viewId }),
      {
        next: (payload) => this.receive(payload),
        error: (errors) => this.announce(`Live updates stopped: ${errors.map((e) => e.message).join("; ")}`),
      },
    );
  }

  async fetchCards(groups) {
    const sizes = this.stages.map((stage) => {
      const group = groups.find((g) => g.stage && g.stage.id === stage.id);
      return group ? group.count : 0;
    });
    const variables = { viewId: this.viewId, asc: ASC };
    if (sizes.some((size) => size > PAGE)) variables.desc = DESC;
    this.stages.forEach((stage, i) => {
      variables[`s${i}`] = { ...this.filter, stageIds: [stage.id] };
    });
    const first = await gql(firstPages(sizes), variables);
    const columns = await Promise.all(
      this.stages.map(async (stage, i) => {
        let page = first[`a${i}`];
        const found = new Map(page.nodes.map((n) => [n.id, n]));
        const last = first[`d${i}`];
        if (last) for (const n of last.nodes) found.set(n.id, n);
        // Both ends did not cover it all (it grew, or holds more than two pages): read on.
        while (page.pageInfo.hasNextPage && (!last || found.size < first[`a${i}`].totalCount)) {
          const more = { filter: variables[`s${i}`], viewId: this.viewId, asc: ASC, after: page.pageInfo.endCursor };
          page = (await gql(MORE, more)).opportunities;
          for (const n of page.nodes) found.set(n.id, n);
        }
        return [...found.values()];
      }),
    );
    return columns.flat();
  }

  render(nodes) {
    this.cards.clear();
    this.columns.clear();
    const fragment = document.createDocumentFragment();
    for (const stage of this.stages) {
      const heading = el("h2", { id: `stage-${stage.id}`, class: "stage-name" }, stage.name);
      const count = el("span", { class: "stage-count", "aria-label": "opportunities" });
      const totals = el("ul", { class: "stage-totals", "aria-label": "totals per currency" });
      const list = el("ol", { class: "cards", "aria-labelledby": `stage-${stage.id}` });
      const node = el(
        "section",
        { class: "column", "data-stage": stage.id, "aria-labelledby": `stage-${stage.id}` },
        el("header", { class: "column-head" }, heading, count, totals),
        list,
      );
      this.dropTarget(node, stage);
      this.columns.set(stage.id, { node, list, count, totals, stage });
      fragment.append(node);
    }
    const sorted = [...nodes].sort(byCloseDate);
    for (const data of sorted) {
      const column = this.columns.get(data.stage.id);
      if (!column) continue;
      const node = this.cardNode(data);
      this.cards.set(data.id, { data, node });
      column.list.append(node);
    }
    this.root.replaceChildren(fragment);
    this.countCards();
  }

  cardNode(data) {
    const node = el("li", {
      class: "card",
      tabindex: "0",
      draggable: "true",
      "data-id": data.id,
      "aria-describedby": "board-help",
    });
    this.fill(node, data);
    node.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/plain", data.id);
      event.dataTransfer.effectAllowed = "move";
      node.classList.add("dragging");
    });
    node.addEventListener("dragend", () => node.classList.remove("dragging"));
    node.addEventListener("click", () => this.onOpen(node.dataset.id));
    node.addEventListener("keydown", (event) => this.key(event, node));
    return node;
  }

  fill(node, data) {
    const company = data.companies.length ? data.companies[0].name : "";
    const late = overdue(data);
    const stage = this.stages.find((s) => s.id === data.stage.id);
    node.setAttribute(
      "aria-label",
      `${data.name}${company ? `, ${company}` : ""}, ${money(data.expectedValue)}, owner ${data.owner.name}, ` +
        `closes ${shortDate(data.estimatedCloseDate)}${late ? ", overdue" : ""}${stage ? `, in ${stage.name}` : ""}`,
    );
    node.classList.toggle("overdue", late);
    node.classList.toggle("private", data.visibility === "PRIVATE");
    const presence = el("ul", { class: "avatars small", "aria-label": "On this deal now" });
    avatars(presence, this.presence.get(data.id), this.me.id);
    const parts = [
      el("h3", { class: "card-name" }, data.name),
      company ? el("p", { class: "card-company" }, company) : null,
      el(
        "p",
        { class: "card-value" },
        el("span", { class: "value" }, money(data.expectedValue)),
        el("span", { class: "probability" }, ` · ${data.probability} %`),
      ),
      el(
        "p",
        { class: "card-meta" },
        el("span", { class: "owner" }, data.owner.name),
        el("span", { class: "close" }, shortDate(data.estimatedCloseDate)),
        late ? el("span", { class: "overdue-mark" }, "Overdue") : null,
      ),
      presence,
      el("p", { class: "by", "aria-hidden": "true" }),
    ];
    node.replaceChildren(...parts.filter(Boolean));
  }

  countCards() {
    for (const column of this.columns.values()) {
      column.count.textContent = String(column.list.children.length);
    }
  }

  showTotals(groups) {
    for (const group of groups) {
      if (!group.stage) continue;
      const column = this.columns.get(group.stage.id);
      if (!column) continue;
      column.count.textContent = String(group.count);
      column.totals.replaceChildren(
        ...group.totals.map((t) =>
          el(
            "li",
            { "data-currency": t.currency },
            el("span", { class: "total" }, money(t.value)),
            el("span", { class: "weighted" }, ` weighted ${money(t.weightedValue)}`),
          ),
        ),
      );
    }
  }

  refreshTotals() {
    clearTimeout(this.totalsTimer);
    const generation = this.generation;
    this.totalsTimer = setTimeout(async () => {
      try {
        const totals = await gql(TOTALS, { filter: this.filter, viewId: this.viewId });
        if (generation === this.generation) this.showTotals(totals.opportunityGroups);
      } catch {
        this.countCards();
      }
    }, 250);
  }

  // --- live ---------------------------------------------------------------------------

  receive(payload) {
    if (payload.errors && payload.errors.length) return;
    const event = payload.data.opportunityEvents;
    this.cursor = event.cursor;
    for (const listener of this.listeners) listener(event);
    const card = this.cards.get(event.opportunityId);
    const data = event.opportunity;
    if (card && card.data.version > event.version) return; // already newer: a repeat
    const mine = event.actor && event.actor.id === this.me.id;
    const gone =
      event.kind === "DELETED" ||
      event.viewChange === "LEFT" ||
      !data ||
      data.status !== "OPEN" ||
      !this.columns.has(data.stage.id);
    if (gone) {
      if (card) this.remove(card, event, mine);
    } else {
      const same = card && card.data.version === event.version;
      if (!same) this.upsert(data, event, mine);
    }
    this.refreshTotals();
  }

  upsert(data, event, mine) {
    let card = this.cards.get(data.id);
    const fresh = !card;
    const moved = card && card.data.stage.id !== data.stage.id;
    if (fresh) {
      card = { data, node: this.cardNode(data) };
      this.cards.set(data.id, card);
    } else {
      card.data = data;
      this.fill(card.node, data);
    }
    if (fresh || moved) this.place(card);
    this.countCards();
    const verb = fresh ? "added" : moved ? "moved" : VERBS[event.kind] || "changed";
    this.mark(card.node, verb, event.actor, mine);
    if (!mine && event.actor) {
      const stage = this.stages.find((s) => s.id === data.stage.id);
      this.announce(`${event.actor.name} ${verb} ${data.name}${moved || fresh ? ` to ${stage.name}` : ""}`);
    }
  }

  remove(card, event, mine) {
    this.cards.delete(card.data.id);
    const verb = VERBS[event.kind] || "moved out";
    this.mark(card.node, verb, event.actor, mine);
    card.node.classList.add("leaving");
    card.node.removeAttribute("tabindex");
    setTimeout(() => {
      card.node.remove();
      this.countCards();
    }, 1500);
    if (!mine && event.actor) this.announce(`${event.actor.name} ${verb} ${card.data.name}`);
  }

  /** Put a card in its stage's column, in close-date order. */
  place(card) {
    const column = this.columns.get(card.data.stage.id);
    const focused = document.activeElement === card.node;
    const before = [...column.list.children].find((n) => {
      const other = this.cards.get(n.dataset.id);
      return other && other !== card && byCloseDate(card.data, other.data) < 0;
    });
    column.list.insertBefore(card.node, before || null);
    if (focused) card.node.focus();
  }

  mark(node, verb, actor, mine) {
    const by = node.querySelector(".by");
    if (by && actor && !mine) by.textContent = `${verb} by ${actor.name.split(" ")[0]}`;
    node.classList.remove("highlight");
    void node.offsetWidth; // restart the animation
    node.classList.add("highlight");
    clearTimeout(node.highlightTimer);
    node.highlightTimer = setTimeout(() => {
      node.classList.remove("highlight");
      if (by) by.textContent = "";
    }, HIGHLIGHT_MS);
  }

  setPresence(opportunities) {
    const next = new Map((opportunities || []).map((o) => [o.opportunityId, o.entries]));
    const touched = new Set([...this.presence.keys(), ...next.keys()]);
    this.presence = next;
    for (const id of touched) {
      const card = this.cards.get(id);
      const list = card && card.node.querySelector(".avatars");
      if (list) avatars(list, next.get(id), this.me.id);
    }
  }

  // --- moving -------------------------------------------------------------------------

  dropTarget(node, stage) {
    node.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      node.classList.add("drop");
    });
    node.addEventListener("dragleave", (event) => {
      if (!node.contains(event.relatedTarget)) node.classList.remove("drop");
    });
    node.addEventListener("drop", (event) => {
      event.preventDefault();
      node.classList.remove("drop");
      const id = event.dataTransfer.getData("text/plain");
      if (id) this.move(id, stage.id);
    });
  }

  key(event, node) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const card = this.cards.get(node.dataset.id);
    if (!card) return;
    const index = this.stages.findIndex((s) => s.id === card.data.stage.id);
    switch (event.key) {
      case "ArrowLeft":
      case "ArrowRight": {
        event.preventDefault();
        const target = this.stages[index + (event.key === "ArrowLeft" ? -1 : 1)];
        if (target) this.move(card.data.id, target.id);
        else this.announce(`${card.data.name} is already in the ${event.key === "ArrowLeft" ? "first" : "last"} open stage`);
        break;
      }
      case "ArrowUp":
      case "ArrowDown": {
        event.preventDefault();
        const sibling = event.key === "ArrowUp" ? node.previousElementSibling : node.nextElementSibling;
        if (sibling) sibling.focus();
        break;
      }
      case "Enter":
      case " ":
        event.preventDefault();
        this.onOpen(card.data.id);
        break;
    }
  }

  /** Move a card to a stage: at once on the page, then for real with expectedVersion. */
  async move(id, stageId, seen) {
    const card = this.cards.get(id);
    if (!card || (card.data.stage.id === stageId && !seen)) return;
    const before = seen || card.data;
    const stage = this.stages.find((s) => s.id === stageId);
    card.node.classList.add("saving");
    card.data = { ...card.data, stage: { id: stageId } };
    this.place(card);
    this.countCards();
    let payload;
    try {
      payload = (await gql(MOVE, { input: { id, expectedVersion: before.version, stageId } })).updateOpportunity;
    } catch (error) {
      payload = { opportunity: null, userErrors: [{ code: "ERROR", message: error.message }] };
    }
    card.node.classList.remove("saving");
    const errors = payload.userErrors;
    const current = payload.opportunity;
    if (!errors.length && current) {
      this.settle(card, current);
      this.announce(`Moved ${current.name} to ${stage.name}`);
      this.refreshTotals();
      return;
    }
    const conflict = errors.find((e) => e.code === "CONFLICT");
    if (current) this.settle(card, current);
    else this.settle(card, before);
    if (conflict && current) {
      this.onConflict({
        seen: before,
        current,
        message: conflict.message,
        stage,
        retry: () => this.move(id, stageId, current),
      });
    } else {
      this.announce(`Could not move ${before.name}: ${errors.map((e) => e.message).join("; ")}`);
    }
  }

  settle(card, data) {
    const { history, ...plain } = data;
    if (!this.cards.has(plain.id)) return;
    if (card.data.version > plain.version && card.data.stage.id === plain.stage.id) return;
    card.data = plain;
    this.fill(card.node, plain);
    this.place(card);
    this.countCards();
  }

  focusFirst() {
    const first = this.root.querySelector(".card");
    if (first) first.focus();
  }
}
