-- berth store, schema 7: web UI sessions (`berth serve`). The browser's cookie holds a random
-- 256-bit session id, never an API token; only the id's SHA-256 is stored, so a copy of the
-- database signs no one in. A session belongs to the token it was opened with: revoking the
-- token (or removing the user) ends it. Signing out deletes the row; expired rows are pruned.
-- Tokens are also found by their public prefix (the failed-attempt limiter names the user).

CREATE TABLE sessions (
    sha256        TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    token_sha256  TEXT NOT NULL REFERENCES tokens (sha256) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX tokens_by_prefix ON tokens (prefix);
