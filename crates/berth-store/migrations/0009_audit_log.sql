-- berth store, schema 9: the audit trail (docs/audit.md). Who did what to which object, when,
-- from where, and with what outcome: sign-ins and sign-outs, token use, launches, kills, log
-- views, downloads, tool/project/user changes and command-line runs.
--
-- Append-only and hash-chained: each entry's `hash` is SHA-256 over its fields and the `hash`
-- of the entry before it (`prev_hash`; the first entry's is 64 zeros), and `seq` counts up from
-- 1 without gaps. `berth audit verify` recomputes the chain, so an edited, inserted, reordered
-- or deleted entry is found; the newest (seq, hash) is also kept outside the database
-- (`audit-head.json`) so that deleting the newest entries is found too.
--
-- The triggers refuse UPDATE and DELETE, except the deletion of entries older than the anchor,
-- which retention moves forward (recording the move as an `audit-prune` entry in the chain).

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    via        TEXT NOT NULL,
    address    TEXT,
    action     TEXT NOT NULL,
    object     TEXT,
    outcome    TEXT NOT NULL,
    detail     TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_object ON audit_log (object, seq);

-- Where the kept chain starts: entries before `first_seq` were removed by retention, and
-- `prev_hash` is the hash of the last removed one. One row at most.
CREATE TABLE audit_anchor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    first_seq  INTEGER NOT NULL,
    prev_hash  TEXT NOT NULL,
    pruned_at  TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq >= COALESCE((SELECT first_seq FROM audit_anchor WHERE id = 1), 1)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: only entries older than the retention anchor can be removed');
END;

CREATE TRIGGER audit_anchor_forward BEFORE UPDATE ON audit_anchor
WHEN NEW.first_seq < OLD.first_seq
BEGIN
    SELECT RAISE(ABORT, 'the audit anchor only moves forward');
END;

CREATE TRIGGER audit_anchor_kept BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'the audit anchor cannot be removed');
END;
