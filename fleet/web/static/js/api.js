// Every URL and JSON shape of the service's API the page uses lives here, so a change
// in the API is a change in this one file. Errors come back as RFC 9457 problem+json.

const BASE = '/api/v1';
const TOKEN_KEY = 'fleet.token';
let token = sessionStorage.getItem(TOKEN_KEY);
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function setToken(value) {
  token = value;
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function hasToken() {
  return Boolean(token);
}

export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

async function call(method, path, body, query) {
  let url = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
    if ([...q].length) url += `?${q}`;
  }
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/auth/login') onUnauthorized();
    throw new ApiError(res.status, data || {});
  }
  return data;
}

/** A list response may be a bare array or wrapped ({items: [...]}, {orders: [...]}). */
function items(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.items)) return data.items;
  if (data && Array.isArray(data[key])) return data[key];
  return [];
}

export const api = {
  login: (username, password) => call('POST', '/auth/login', { username, password }),
  me: () => call('GET', '/auth/me'),
  site: () => call('GET', '/site'),
  vehicles: async () => items(await call('GET', '/vehicles'), 'vehicles'),
  machine: (kind, id) => call('GET', `/${kind === 'crane' ? 'cranes' : 'vehicles'}/${encodeURIComponent(id)}`),
  cranes: async () => items(await call('GET', '/cranes'), 'cranes'),
  orders: async (filters) => items(await call('GET', '/orders', undefined, filters), 'orders'),
  order: (id) => call('GET', `/orders/${encodeURIComponent(id)}`),
  orderEvents: async (id) => items(await call('GET', `/orders/${encodeURIComponent(id)}/timeline`), 'timeline'),
  createOrder: (order) => call('POST', '/orders', order),
  cancelOrder: (id) => call('POST', `/orders/${encodeURIComponent(id)}/cancel`, {}),
  setPriority: (id, priority) => call('POST', `/orders/${encodeURIComponent(id)}/priority`, { priority }),
  /** action: pause | resume | charge | out_of_service | estop */
  machineAction: (kind, id, action) =>
    call('POST', `/${kind === 'crane' ? 'cranes' : 'vehicles'}/${encodeURIComponent(id)}/${action}`, {}),
  estopAll: () => call('POST', '/estop', {}),
  zones: async () => items(await call('GET', '/zones'), 'zones'),
  setZone: (id, closed) => call('POST', `/zones/${encodeURIComponent(id)}/${closed ? 'close' : 'open'}`, {}),
  alarms: async () => items(await call('GET', '/alarms', undefined, { limit: 500 }), 'alarms'),
  ackAlarm: (id) => call('POST', `/alarms/${encodeURIComponent(id)}/ack`, {}),
  kpis: () => call('GET', '/kpis'),
  // the inventory (fleet/inventory/routes.py): 503 when the site has no storage slots
  slotMap: () => call('GET', '/inventory/map'),
  slot: (id) => call('GET', `/inventory/slots/${encodeURIComponent(id)}`),
  tally: (filters) => call('GET', '/inventory/tally', undefined, filters),
  tallyAlarms: () => call('GET', '/inventory/alarms', undefined, { open_only: true, limit: 200 }),
  reconciliation: () => call('GET', '/inventory/reconciliation'),
  /** answer: accept | re-read | check-station */
  resolveTally: (id, action) => call('POST', `/inventory/alarms/${encodeURIComponent(id)}/resolve`, { action }),
};

function withToken(path) {
  return `${BASE}${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token || '')}`;
}

/**
 * The service's event stream (SSE). EventSource cannot send headers, so the bearer
 * token goes in the query. `onEvent(type, data)` gets every event; `onLink(up)` the link.
 */
export function openEvents(onEvent, onLink, types) {
  const source = new EventSource(withToken('/events'));
  const handle = (type) => (msg) => {
    let data;
    try {
      data = JSON.parse(msg.data);
    } catch {
      return;
    }
    onEvent(data.type || type, data);
  };
  source.onmessage = handle('message');
  for (const type of types) source.addEventListener(type, handle(type));
  source.onopen = () => onLink(true);
  source.onerror = () => onLink(false);
  return source;
}

/**
 * The live pose channel (`GET /live`, SSE, `event: poses`): each frame lists the
 * machines that moved, `[{id, v, mode, x, y, th, ...}]`. EventSource reconnects by itself.
 */
export function openPoses(onFrame, onLink, hz = 10) {
  const source = new EventSource(withToken(`/live?hz=${hz}`));
  source.addEventListener('poses', (msg) => {
    let frame;
    try {
      frame = JSON.parse(msg.data);
    } catch {
      return; /* a bad frame is dropped; the next one carries the latest poses */
    }
    onFrame(Array.isArray(frame) ? { machines: frame } : frame);
  });
  source.onopen = () => onLink(true);
  source.onerror = () => onLink(false);
  return source;
}
