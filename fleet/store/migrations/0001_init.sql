-- fleet5g schema v1. Placeholders: {serial} an auto-increasing integer primary key,
-- {real} a double, {bigint} a 64-bit integer. The same tables on SQLite and PostgreSQL.
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  client_id TEXT UNIQUE,
  body_hash TEXT,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL,
  source TEXT NOT NULL,
  destination TEXT NOT NULL,
  created_s {real} NOT NULL,
  updated_s {real} NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX orders_state ON orders (state, created_s);
CREATE INDEX orders_created ON orders (created_s);
CREATE INDEX orders_updated ON orders (updated_s);

CREATE TABLE legs (
  id TEXT PRIMARY KEY,
  order_id TEXT,
  state TEXT NOT NULL,
  machine_id TEXT,
  updated_s {real} NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX legs_order ON legs (order_id);
CREATE INDEX legs_state ON legs (state);

CREATE TABLE order_timeline (
  id {serial},
  order_id TEXT NOT NULL,
  at_s {real} NOT NULL,
  state TEXT NOT NULL,
  stage TEXT,
  leg_id TEXT,
  machine_id TEXT,
  detail TEXT
);
CREATE INDEX timeline_order ON order_timeline (order_id, id);

CREATE TABLE machines (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  held_mode TEXT,
  updated_s {real} NOT NULL,
  body TEXT NOT NULL
);

CREATE TABLE zones (
  id TEXT PRIMARY KEY,
  closed INTEGER NOT NULL,
  updated_s {real} NOT NULL,
  by_actor TEXT
);

CREATE TABLE alarms (
  id TEXT PRIMARY KEY,
  raised_s {real} NOT NULL,
  acknowledged INTEGER NOT NULL DEFAULT 0,
  body TEXT NOT NULL
);
CREATE INDEX alarms_raised ON alarms (raised_s);

CREATE TABLE events (
  id {serial},
  type TEXT NOT NULL,
  at_s {real} NOT NULL,
  payload TEXT NOT NULL
);

CREATE TABLE users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_s {real} NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  user_name TEXT,
  label TEXT,
  created_s {real} NOT NULL,
  expires_s {real},
  revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit (
  id {serial},
  at_s {real} NOT NULL,
  actor TEXT NOT NULL,
  role TEXT,
  token_id TEXT,
  action TEXT NOT NULL,
  target TEXT,
  source TEXT,
  outcome TEXT NOT NULL,
  detail TEXT
);

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  event_types TEXT NOT NULL,
  owner TEXT,
  created_s {real} NOT NULL,
  cursor {bigint} NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE leader (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  url TEXT,
  since_s {real} NOT NULL,
  heartbeat_s {real} NOT NULL
);
