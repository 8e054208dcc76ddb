-- Quota leases (SPEC §4, docs/quotas.md): the control plane is the single authority over
-- every quota counter and hands budget to data planes as leases, one per bucket and node.
--
-- A counter's `used` is what data planes reported (usage-record charges, applied once).
-- Budget handed out and not yet reported lives here as `held`, so the old
-- `quota_counters.leased` column is derived from this table (the sum of `held` over
-- unexpired leases) and is dropped. Grants keep used + that sum <= the limit.

ALTER TABLE quota_counters DROP COLUMN leased;

CREATE TABLE quota_leases (
    org          TEXT NOT NULL,
    policy_id    TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    metric       TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    node_id      TEXT NOT NULL,
    -- Bumped each time the node's lease of this bucket starts again after expiring, so
    -- late charges of the old epoch never reduce the new lease. The row outlives its
    -- expiry to keep the sequence monotonic.
    epoch        BIGINT NOT NULL CHECK (epoch > 0),
    -- Granted under `epoch` minus what the node's charges under `epoch` reported.
    held         BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org, policy_id, subject_kind, subject, metric, window_start, node_id),
    -- A lease is taken with its counter row locked; the counter row always exists first.
    FOREIGN KEY (org, policy_id, subject_kind, subject, metric, window_start)
        REFERENCES quota_counters (org, policy_id, subject_kind, subject, metric, window_start)
        ON DELETE CASCADE
);

-- `GET /usage` lists a policy's user-quota subjects of the current window.
CREATE INDEX quota_counters_by_window
    ON quota_counters (org, policy_id, subject_kind, window_start, subject);
