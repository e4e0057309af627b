// The detail panel: one opportunity's facts, participants and timeline, refetched on its
// events; who views or edits it; a journal entry added from here.

import { GraphQLError, gql, unsupported } from "./api.js";
import { CARD } from "./board.js";
import { avatars, el, money, overdue, shortDate, when } from "./format.js";

const DETAIL = (spans) => `
query BoardDetail($id: ID!) {
  opportunity(id: $id) {
    ...Card
    description nextStep leadSource forecastCategory
    folder { id name }
    participants {
      kind role isPrimary
      target {
        __typename
        ... on Company { name } ... on Contact { fullName } ... on User { name } ... on Team { name }
      }
    }
    timeline(first: 30) {
      nodes {
        kind occurredAt actor { id name }
        activity {
          __typename
          ... on Journal { title body ${spans ? "bodySpans { text user { id name } team { id name } }" : ""} }
          ... on Task { title } ... on Appointment { subject } ... on Email { subject }
          ... on Document { name }
        }
        change { kind changes { field old new } }
      }
    }
  }
}
${CARD}`;

const ADD_JOURNAL = `
mutation BoardJournal($input: AddJournalInput!) {
  addJournal(input: $input) { activity { id } userErrors { field code message } }
}`;

const LABELS = {
  stage_id: "stage",
  stageId: "stage",
  expected_value: "value",
  expectedValue: "value",
  estimated_close_date: "close date",
  estimatedCloseDate: "close date",
  owner_id: "owner",
  ownerId: "owner",
};

export class Detail {
  constructor({ panel, stages, presence, board, announce }) {
    this.panel = panel;
    this.stages = stages;
    this.presence = presence; // the presence feature, or null
    this.board = board;
    this.announce = announce;
    this.id = null;
    this.spans = true;
    this.refetchTimer = null;
    this.returnFocus = null;
    this.$ = (id) => panel.querySelector(`#${id}`);
    this.$("detail-close").addEventListener("click", () => this.close());
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    const form = this.$("journal-form");
    const body = this.$("journal-body");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.addJournal(body.value);
    });
    body.addEventListener("focus", () => this.presence && this.presence.opportunity(this.id, "EDITING"));
    body.addEventListener("blur", () => this.presence && this.id && this.presence.opportunity(this.id, "VIEWING"));
    board.listeners.add((event) => {
      if (event.opportunityId === this.id) this.refetchSoon();
    });
  }

  async open(id) {
    if (!this.panel.hidden && this.id === id) return;
    this.returnFocus = document.activeElement;
    this.id = id;
    this.panel.hidden = false;
    this.$("detail-title").textContent = "Loading…";
    this.$("journal-error").textContent = "";
    this.$("journal-body").value = "";
    if (this.presence) this.presence.opportunity(id, "VIEWING", (entries) => avatars(this.$("detail-presence"), entries, this.board.me.id));
    await this.fetch();
    this.$("detail-close").focus();
  }

  close() {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    if (this.presence) this.presence.opportunity(null);
    this.id = null;
    this.$("detail-presence").replaceChildren();
    if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
  }

  refetchSoon() {
    clearTimeout(this.refetchTimer);
    this.refetchTimer = setTimeout(() => this.fetch(), 150);
  }

  async fetch() {
    const id = this.id;
    if (!id) return;
    let data;
    try {
      data = await gql(DETAIL(this.spans), { id });
    } catch (error) {
      if (this.spans && unsupported(error)) {
        this.spans = false; // a server without mentions yet: plain bodies
        return this.fetch();
      }
      this.$("detail-title").textContent = `Could not load: ${error.message}`;
      return;
    }
    if (id !== this.id) return;
    const o = data.opportunity;
    if (!o) {
      this.$("detail-title").textContent = "This opportunity is gone or no longer visible to you";
      return;
    }
    this.show(o);
  }

  show(o) {
    const stage = this.stages.find((s) => s.id === o.stage.id);
    this.$("detail-title").textContent = `${o.number} · ${o.name}`;
    const facts = [
      ["Stage", stage ? stage.name : o.status],
      ["Status", o.status],
      ["Value", money(o.expectedValue)],
      ["Weighted", `${money(o.weightedValue)} (${o.probability} %)`],
      ["Owner", o.owner.name],
      ["Close date", `${shortDate(o.estimatedCloseDate)}${overdue(o) ? " — overdue" : ""}`],
      ["Company", o.companies.map((c) => c.name).join(", ") || "—"],
      ["Folder", o.folder ? o.folder.name : "—"],
      ["Next step", o.nextStep || "—"],
      ["Visibility", o.visibility],
    ];
    this.$("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    this.$("detail-participants").replaceChildren(
      ...(o.participants.length
        ? o.participants.map((p) => {
            const t = p.target;
            const name = t.name || t.fullName || "";
            return el("li", {}, `${name} — ${p.role.toLowerCase().replace(/_/g, " ")}${p.isPrimary ? " (primary)" : ""}`);
          })
        : [el("li", {}, "No participants yet")]),
    );
    this.$("detail-timeline").replaceChildren(...o.timeline.nodes.map((entry) => this.entry(entry)));
  }

  entry(entry) {
    const who = entry.actor ? entry.actor.name : "Someone";
    const head = el("p", { class: "entry-head" }, el("strong", {}, who), ` · ${when(entry.occurredAt)}`);
    let body;
    const a = entry.activity;
    if (a && a.__typename === "Journal") {
      body = el("p", { class: "entry-body" });
      if (a.bodySpans && a.bodySpans.length) {
        for (const span of a.bodySpans) {
          const mention = span.user || span.team;
          body.append(mention ? el("mark", { class: "mention", title: mention.name }, span.text) : span.text);
        }
      } else {
        body.textContent = a.body;
      }
    } else if (a) {
      body = el("p", { class: "entry-body" }, `${a.__typename}: ${a.title || a.subject || a.name || ""}`);
    } else if (entry.change) {
      const fields = entry.change.changes.map((c) => LABELS[c.field] || c.field.replace(/_id$/, "").replace(/_/g, " "));
      body = el("p", { class: "entry-body" }, `${entry.change.kind.toLowerCase().replace(/_/g, " ")}${fields.length ? `: ${fields.join(", ")}` : ""}`);
    }
    return el("li", { class: `entry ${entry.kind.toLowerCase()}` }, head, body);
  }

  async addJournal(text) {
    const error = this.$("journal-error");
    error.textContent = "";
    if (!text.trim()) {
      error.textContent = "Write something first.";
      return;
    }
    let payload;
    try {
      payload = (await gql(ADD_JOURNAL, { input: { opportunityId: this.id, body: text } })).addJournal;
    } catch (e) {
      error.textContent = e instanceof GraphQLError ? e.message : String(e);
      return;
    }
    if (payload.userErrors.length) {
      error.textContent = payload.userErrors.map((e) => e.message).join("; ");
      return;
    }
    this.$("journal-body").value = "";
    this.announce("Journal entry added");
    await this.fetch();
  }
}
