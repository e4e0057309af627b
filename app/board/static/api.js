// GraphQL over HTTP with the session token kept in sessionStorage (never a cookie: the
// server reads tokens from the Authorization header only).

const TOKEN_KEY = "tandem.token";

export const endpoint = new URL("graphql", document.baseURI).href;

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.codes = errors.map((e) => (e.extensions || {}).code);
  }
}

/** The `data` of an operation; throws GraphQLError on any top-level error. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  const current = token();
  if (current) headers.authorization = `Bearer ${current}`;
  const response = await fetch(endpoint, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLError([{ message: `HTTP ${response.status}` }]);
  }
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  return body.data;
}

/** Whether an error says the document asked for something this server does not have. */
export function unsupported(error) {
  return (
    error instanceof GraphQLError &&
    error.codes.some((c) => c === "GRAPHQL_VALIDATION_FAILED" || c === "BAD_USER_INPUT" || c === undefined) &&
    error.errors.some((e) => /Cannot query field|Unknown argument|Unknown type/.test(e.message))
  );
}
