// The page's entry: log in, set up the pickers, the board, the live socket, the detail
// panel, presence and the inbox.

import { endpoint, gql, keepToken, token } from "./api.js";
import { Board, START, TOTAL, boardFilter } from "./board.js";
import { Detail } from "./detail.js";
import { avatars, el, money } from "./format.js";
import { Inbox, Presence } from "./presence.js";
import { LiveSocket } from "./socket.js";

const LOGIN = `
mutation BoardLogin($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    token mustChangePassword userErrors { code message }
  }
}`;

// The board's start (START) comes in the same request, so the cards are one round trip away.
const SETUP = `
query BoardSetup($filter: OpportunityFilterInput, $viewId: ID) {
  eventCursor
  opportunityGroups(groupBy: STAGE, filter: $filter, viewId: $viewId) { ...Totals }
  me { id name }
  stages { id name position kind }
  views { id name kind }
  users { id name }
  folders { id name depth }
}
${TOTAL}`;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  // A separate task, so the same text twice is read twice.
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

function setWall(on) {
  document.body.classList.toggle("wall", on);
  $("wall-toggle").setAttribute("aria-pressed", String(on));
  if (on) params.set("wall", "1");
  else params.delete("wall");
  remember();
}

function remember() {
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function showLogin(message = "") {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("login-form").elements.email.focus();
}

async function logIn(event) {
  event.preventDefault();
  const form = event.target;
  $("login-error").textContent = "";
  let payload;
  try {
    payload = (await gql(LOGIN, { email: form.elements.email.value, password: form.elements.password.value })).login;
  } catch (error) {
    $("login-error").textContent = error.message;
    return;
  }
  if (payload.userErrors.length) {
    $("login-error").textContent = payload.userErrors.map((e) => e.message).join("; ");
    return;
  }
  if (payload.mustChangePassword) {
    $("login-error").textContent = "Change your one-time password first (the changePassword mutation), then log in.";
    return;
  }
  keepToken(payload.token);
  form.reset();
  start();
}

function option(value, label, selected) {
  return el("option", { value, selected: value === selected }, label);
}

function fillPickers(setup) {
  const view = $("pick-view");
  view.replaceChildren(
    option("", "All open deals", params.get("view") || ""),
    ...setup.views.map((v) => option(v.id, v.name, params.get("view"))),
  );
  const owner = $("pick-owner");
  owner.replaceChildren(
    option("", "Anyone", params.get("owner") || ""),
    option("me", "Me", params.get("owner")),
    ...setup.users.map((u) => option(u.id, u.name, params.get("owner"))),
  );
  const folder = $("pick-folder");
  folder.replaceChildren(
    option("", "All folders", params.get("folder") || ""),
    ...setup.folders.map((f) => option(f.id, `${"\u00a0\u00a0".repeat(f.depth)}${f.name}`, params.get("folder"))),
  );
}

/** The pickers' filter, from the URL (before the pickers exist) or the pickers. */
function filterOf({ owner, folder }) {
  const filter = {};
  if (owner === "me") filter.mine = true;
  else if (owner) filter.ownerIds = [owner];
  if (folder) {
    filter.folderId = folder;
    filter.includeSubfolders = true;
  }
  return filter;
}

function currentFilter() {
  return filterOf({ owner: $("pick-owner").value, folder: $("pick-folder").value });
}

let socket = null;

async function start() {
  $("login").hidden = true;
  const picked = {
    filter: boardFilter(filterOf({ owner: params.get("owner"), folder: params.get("folder") })),
    viewId: params.get("view") || null,
  };
  let setup;
  try {
    setup = await gql(SETUP, picked);
  } catch (error) {
    const picks = ["view", "owner", "folder"].some((key) => params.has(key));
    if (!(error.codes && error.codes.includes("UNAUTHENTICATED")) && picks) {
      // A link to a view, owner or folder that is gone (or never was): the whole board.
      for (const key of ["view", "owner", "folder"]) params.delete(key);
      remember();
      return start();
    }
    keepToken(null);
    showLogin(error.codes && error.codes.includes("UNAUTHENTICATED") ? "Please log in." : error.message);
    return;
  }
  $("app").hidden = false;
  $("me").textContent = setup.me.name;
  fillPickers(setup);
  performance.mark("board:setup");

  socket = new LiveSocket({
    url: endpoint,
    token: token(),
    onStatus: (up) => {
      $("offline").hidden = up;
      document.body.classList.toggle("is-offline", !up);
      if (!up) announce("Offline — reconnecting");
    },
    onRefused: () => {
      keepToken(null);
      showLogin("Your session ended; please log in again.");
    },
  });
  const board = new Board({
    root: $("board"),
    announce,
    socket,
    me: setup.me,
    onOpen: (id) => detail.open(id),
    onConflict: showConflict,
  });
  const presence = new Presence({
    socket,
    onBoard: (snapshot) => {
      avatars($("board-presence"), snapshot.entries, setup.me.id);
      board.setPresence(snapshot.opportunities);
    },
  });
  const detail = new Detail({ panel: $("detail"), stages: setup.stages, presence, board, announce });
  socket.start();

  const reload = async () => {
    params.set("view", $("pick-view").value);
    params.set("owner", $("pick-owner").value);
    params.set("folder", $("pick-folder").value);
    for (const key of ["view", "owner", "folder"]) if (!params.get(key)) params.delete(key);
    remember();
    try {
      await board.load({ stages: setup.stages, filter: currentFilter(), viewId: $("pick-view").value });
    } catch (error) {
      announce(`Could not load the board: ${error.message}`);
    }
  };
  for (const id of ["pick-view", "pick-owner", "pick-folder"]) $(id).addEventListener("change", reload);

  await board.load({
    stages: setup.stages,
    filter: currentFilter(),
    viewId: $("pick-view").value,
    start: setup,
  });
  // The filled board is on the screen once the browser has painted the next frame.
  requestAnimationFrame(() =>
    setTimeout(() => {
      performance.mark("board:painted");
      document.body.dataset.state = "ready";
    }, 0),
  );
  presence.start();
  new Inbox({ socket, badge: $("inbox"), count: $("inbox-count") }).start();
}

function showConflict({ seen, current, message, stage, retry }) {
  const dialog = $("conflict");
  const teammates = (current.history ? current.history.nodes : [])
    .filter((h) => h.version > seen.version && h.actor)
    .map((h) => h.actor.name);
  const who = [...new Set(teammates)].join(", ") || "A teammate";
  $("conflict-title").textContent = `${who} changed “${current.name}” meanwhile`;
  $("conflict-text").textContent = `${message} Your move to ${stage.name} was not saved.`;
  const stageName = (id) => {
    const column = document.querySelector(`.column[data-stage="${CSS.escape(id)}"] .stage-name`);
    return column ? column.textContent : "a closed stage";
  };
  const rows = [
    ["Name", seen.name, current.name],
    ["Stage", stageName(seen.stage.id), stageName(current.stage.id)],
    ["Value", money(seen.expectedValue), money(current.expectedValue)],
    ["Probability", `${seen.probability} %`, `${current.probability} %`],
    ["Owner", seen.owner.name, current.owner.name],
    ["Close date", seen.estimatedCloseDate || "—", current.estimatedCloseDate || "—"],
  ].filter(([, a, b]) => a !== b);
  $("conflict-changes").replaceChildren(
    ...(rows.length ? rows : [["Version", String(seen.version), String(current.version)]]).map(([field, a, b]) =>
      el("tr", {}, el("th", { scope: "row" }, field), el("td", {}, a), el("td", {}, b)),
    ),
  );
  const returnTo = document.activeElement;
  dialog.hidden = false;
  $("conflict-retry").textContent = `Move it to ${stage.name} anyway`;
  const close = () => {
    dialog.hidden = true;
    $("conflict-retry").onclick = null;
    $("conflict-cancel").onclick = null;
    if (returnTo && returnTo.isConnected) returnTo.focus();
  };
  $("conflict-retry").onclick = () => {
    close();
    retry();
  };
  $("conflict-cancel").onclick = close;
  $("conflict-retry").focus();
  announce(`${who} changed ${current.name} meanwhile; your move was not saved`);
}

async function logOut() {
  try {
    await gql("mutation BoardLogout { logout { loggedOut } }");
  } catch {
    // The token is forgotten either way.
  }
  keepToken(null);
  if (socket) socket.stop();
  socket = null;
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", logIn);
  $("logout").addEventListener("click", logOut);
  $("wall-toggle").addEventListener("click", () => setWall(!document.body.classList.contains("wall")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("conflict").hidden) $("conflict-cancel").click();
  });
  if (params.get("wall") === "1") setWall(true);
  if (token()) start();
  else showLogin();
});
