// Schema versions, applied in order inside one transaction each; PRAGMA user_version records
// the last one applied. A database written by a newer agent is refused rather than guessed at.
import type { Database } from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
  // 1: alerts (whole alert as JSON + the columns queries filter on), audit trail, API rules and
  // their history
  `
  CREATE TABLE alerts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns    INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    engine   TEXT NOT NULL,
    rule_id  TEXT NOT NULL,
    src_ip   TEXT NOT NULL,
    dst_ip   TEXT NOT NULL,
    body     TEXT NOT NULL
  );
  CREATE INDEX alerts_ts ON alerts(ts_ns);
  CREATE INDEX alerts_engine ON alerts(engine, id);
  CREATE INDEX alerts_severity ON alerts(severity, id);
  CREATE INDEX alerts_rule ON alerts(rule_id, id);
  CREATE INDEX alerts_src ON alerts(src_ip, id);
  CREATE INDEX alerts_dst ON alerts(dst_ip, id);

  CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'rejected')),
    before  TEXT,
    after   TEXT,
    detail  TEXT
  );
  CREATE INDEX audit_at ON audit(at_ms);
  CREATE INDEX audit_actor ON audit(actor, id);
  CREATE INDEX audit_target ON audit(target, id);

  CREATE TABLE rules (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    actor      TEXT NOT NULL
  );
  CREATE TABLE rule_versions (
    rule_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    change  TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    before  TEXT,
    after   TEXT,
    PRIMARY KEY (rule_id, version)
  ) WITHOUT ROWID;
  `,
  // 2: the other record kinds (dns, flow, anomaly, dlp) in one table: the whole record as JSON,
  // its kind, and the columns a query of that kind filters on. \`name\` is the kind's own key
  // (a DNS message's first query name, lower-case; a DLP finding's detector; an anomaly's event;
  // a flow's application protocol), '' when it has none; src_ip/dst_ip are '' without a flow.
  `
  CREATE TABLE records (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind   TEXT NOT NULL,
    ts_ns  INTEGER NOT NULL,
    engine TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    dst_ip TEXT NOT NULL,
    name   TEXT NOT NULL,
    pid    INTEGER,
    body   TEXT NOT NULL
  );
  CREATE INDEX records_kind ON records(kind, id);
  CREATE INDEX records_kind_ts ON records(kind, ts_ns);
  CREATE INDEX records_kind_src ON records(kind, src_ip, id);
  CREATE INDEX records_kind_dst ON records(kind, dst_ip, id);
  CREATE INDEX records_kind_name ON records(kind, name, id);
  `,
  // 3: block-list holds (src/blocklist): one per owner, address and direction
  `
  CREATE TABLE blocklist (
    owner      TEXT NOT NULL,
    cidr       TEXT NOT NULL,
    direction  TEXT NOT NULL CHECK (direction IN ('src', 'dst')),
    reason     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    PRIMARY KEY (owner, cidr, direction)
  );
  CREATE INDEX blocklist_expires ON blocklist(expires_ms) WHERE expires_ms IS NOT NULL;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION; returns the version it found. */
export function migrate(db: Database, file: string): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > SCHEMA_VERSION) {
    throw new Error(`${file}: database schema version ${found} is newer than this agent understands (${SCHEMA_VERSION}); use a newer agent or another storage.path`);
  }
  for (let v = found; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return found;
}
