-- The jobs table in PostgreSQL (src/store/postgres.rs), shared by every instance that has the
-- same DATABASE_URL. The same columns as migrations/sqlite/: times are milliseconds since the
-- Unix epoch (UTC), `seq` orders the listing (newest first) and is its cursor, `id` is the
-- job's public name (128 random bits, hex).
CREATE TABLE jobs (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT   NOT NULL UNIQUE,
    -- The SHA-256 of the API key that created it (never the key), or NULL when keys are off.
    owner       TEXT,
    -- queued, running, succeeded, failed, cancelled, lost
    status      TEXT   NOT NULL,
    -- The POST /jobs body as it arrived (the /execute body, JSON).
    request     TEXT   NOT NULL,
    -- Where the job's end is POSTed (an operator-listed host), if anywhere.
    callback_url TEXT,
    -- The rendered /execute envelope and the status /execute would have answered with.
    answer      TEXT,
    http_status BIGINT,
    -- Why a job is lost or cancelled, in words.
    message     TEXT,
    created_at  BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    -- Until when the instance that claimed it answers for it (renewed while it runs); a running
    -- job whose lease has expired is marked lost by any instance.
    lease_until BIGINT,
    -- A DELETE that reached an instance other than the one running the job: that one sees it
    -- when it renews the lease, and stops the run.
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- How many times it may be claimed: a job whose instance died is queued again while
    -- attempts < max_attempts, and lost after.
    max_attempts BIGINT NOT NULL DEFAULT 1,
    attempts    BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX jobs_status_seq ON jobs (status, seq);
CREATE INDEX jobs_owner_seq ON jobs (owner, seq);
CREATE INDEX jobs_finished_at ON jobs (finished_at);
