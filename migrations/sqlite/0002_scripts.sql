-- The script library (src/store/scripts/): one row per saved script in `scripts`, one per version
-- in `script_versions` (a PUT adds one; DELETE removes the script with every version). Scripts are
-- NOT deleted by the jobs' retention reaper. Times are milliseconds since the Unix epoch (UTC);
-- `seq` orders GET /scripts (newest first) and is its cursor; `id` is the script's public name
-- (128 random bits, hex).
CREATE TABLE scripts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    -- The SHA-256 of the API key that saved it (as the jobs'), or NULL when keys are off.
    owner       TEXT,
    name        TEXT    NOT NULL,
    -- The newest version's number (versions count from 1, none is ever renumbered).
    latest      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A name is unique per owner (the owner-less scripts of a server without keys count as one owner).
CREATE UNIQUE INDEX scripts_owner_name ON scripts (COALESCE(owner, ''), name);
CREATE INDEX scripts_owner_seq ON scripts (owner, seq);

CREATE TABLE script_versions (
    script_id   TEXT    NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    -- The Python source, as saved (checked as /execute checks a script).
    source      TEXT    NOT NULL,
    -- As given, or main()'s docstring; may be empty.
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (script_id, version)
);

-- Which saved script (and version) a job ran: NULL for a job posted to /jobs with its source.
ALTER TABLE jobs ADD COLUMN script_id TEXT;
ALTER TABLE jobs ADD COLUMN script_version INTEGER;
