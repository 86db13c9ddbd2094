-- The jobs table (src/store/): one row per job, from POST /jobs until the retention reaper
-- deletes it. Times are milliseconds since the Unix epoch (UTC). `seq` orders the listing
-- (newest first) and is its cursor; `id` is the job's public name (128 random bits, hex).
CREATE TABLE jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    -- The SHA-256 of the API key that created it (never the key), or NULL when keys are off.
    owner       TEXT,
    -- queued, running, succeeded, failed, cancelled, lost
    status      TEXT    NOT NULL,
    -- The POST /jobs body as it arrived (the /execute body, JSON).
    request     TEXT    NOT NULL,
    -- Where the job's end is POSTed (an operator-listed host), if anywhere.
    callback_url TEXT,
    -- The rendered /execute envelope and the status /execute would have answered with.
    answer      TEXT,
    http_status INTEGER,
    -- Why a job is lost or cancelled, in words.
    message     TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    -- Until when the instance that claimed it answers for it (renewed while it runs).
    lease_until INTEGER,
    -- A DELETE that reached an instance other than the one running the job: that one sees it
    -- when it renews the lease, and stops the run.
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- How many times it may be claimed: a job whose instance died is queued again while
    -- attempts < max_attempts, and lost after.
    max_attempts INTEGER NOT NULL DEFAULT 1,
    attempts    INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX jobs_status_seq ON jobs (status, seq);
CREATE INDEX jobs_owner_seq ON jobs (owner, seq);
CREATE INDEX jobs_finished_at ON jobs (finished_at);
