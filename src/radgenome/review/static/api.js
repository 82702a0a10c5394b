// JSON calls to the review API with the session's CSRF token; decisions retried with their idempotency key.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

export function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export async function api(method, url, body, { raw = false } = {}) {
  const headers = { Accept: raw ? "*/*" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    window.location.assign("/login");
    throw new ApiError(401, "not signed in");
  }
  if (raw && res.ok) return res;
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail))
      : res.statusText;
    throw new ApiError(res.status, detail);
  }
  return data;
}

// POST a decision; a network failure is retried with the same idempotency key (stored once server-side)
export async function postDecision(url, body) {
  let lastError;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await api("POST", url, body);
    } catch (e) {
      lastError = e;
      if (!(e instanceof TypeError)) throw e; // HTTP errors are answers; only network errors are retried
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
  throw lastError;
}

export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
