// Small DOM and formatting helpers. Text always goes in as textContent: data never becomes
// markup.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-")) node.dataset[name.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

const moneyFormats = new Map();

export function money(value) {
  if (!value) return "";
  let format = moneyFormats.get(value.currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: value.currency,
        maximumFractionDigits: 0,
      });
    } catch {
      format = { format: (n) => `${value.currency} ${Math.round(n)}` };
    }
    moneyFormats.set(value.currency, format);
  }
  return format.format(Number(value.amount));
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

export function overdue(opportunity) {
  return (
    opportunity.status === "OPEN" &&
    !!opportunity.estimatedCloseDate &&
    opportunity.estimatedCloseDate < today()
  );
}

const dates = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  timeZone: "UTC",
});
const times = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});

export function shortDate(isoDate) {
  if (!isoDate) return "no close date";
  const [y, m, d] = isoDate.split("-").map(Number);
  return dates.format(new Date(Date.UTC(y, m - 1, d)));
}

export function when(isoDateTime) {
  return times.format(new Date(isoDateTime));
}

export function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}

/** Avatars (initials, the full name as label) for presence entries, one per user. */
export function avatars(list, entries, me) {
  const users = new Map(); // one avatar per user; editing wins over viewing
  for (const entry of entries || []) {
    const known = users.get(entry.user.id);
    if (!known || entry.state === "EDITING") users.set(entry.user.id, entry);
  }
  list.replaceChildren(
    ...[...users.values()].map((entry) => {
      const editing = entry.state === "EDITING";
      const label = `${entry.user.name}${entry.user.id === me ? " (you)" : ""}, ${editing ? "editing" : "viewing"}`;
      return el("li", { class: `avatar${editing ? " editing" : ""}`, title: label, "aria-label": label }, initials(entry.user.name));
    }),
  );
}
