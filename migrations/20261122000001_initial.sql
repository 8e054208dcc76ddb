-- Policy Gateway control-plane schema (SPEC §1.2, §5, §6, §7, §8, §9).
-- Every tenant-owned row carries `org` (the JWT's org claim) and every lookup filters on it.
-- Never stored anywhere: prompt or completion text, raw API keys (SPEC §6).

-- One row, bumped by every transaction that changes what data planes enforce (policies,
-- rollouts, projects, keys). Its value is the snapshot version: monotonic across all
-- control-plane replicas because they share this row. The bump also NOTIFYs
-- `policy_gateway_config` so every replica rebuilds and streams the new snapshot.
CREATE TABLE config_state (
    singleton  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version    BIGINT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO config_state (version) VALUES (1);

CREATE TABLE policies (
    org                TEXT NOT NULL,
    policy_id          TEXT NOT NULL,
    -- Newest revision number handed out; revisions are never reused.
    latest_revision    BIGINT NOT NULL,
    stable_revision    BIGINT NOT NULL,
    candidate_revision BIGINT,
    rollout_state      TEXT NOT NULL DEFAULT 'none'
                       CHECK (rollout_state IN ('none', 'shadow', 'canary', 'cooldown')),
    rollout_started_at TIMESTAMPTZ,
    cooldown_until     TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by         TEXT NOT NULL,
    PRIMARY KEY (org, policy_id)
);

CREATE TABLE policy_revisions (
    org        TEXT NOT NULL,
    policy_id  TEXT NOT NULL,
    revision   BIGINT NOT NULL CHECK (revision > 0),
    -- The document as saved (validated); the engine re-validates it when compiling.
    document   JSONB NOT NULL,
    author     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org, policy_id, revision),
    FOREIGN KEY (org, policy_id) REFERENCES policies (org, policy_id) ON DELETE CASCADE
);

CREATE TABLE projects (
    org                   TEXT NOT NULL,
    id                    TEXT NOT NULL,
    name                  TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    policy_id             TEXT,
    monthly_request_limit BIGINT CHECK (monthly_request_limit >= 0),
    monthly_token_limit   BIGINT CHECK (monthly_token_limit >= 0),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org, id)
);

CREATE TABLE api_keys (
    id          UUID PRIMARY KEY,
    org         TEXT NOT NULL,
    -- SHA-256 of the raw key. The raw key exists only in the creation response.
    key_hash    BYTEA NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_preview TEXT NOT NULL,
    label       TEXT NOT NULL,
    -- NULL for org-wide keys. Deleting a project deletes its keys.
    project_id  TEXT,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ,
    FOREIGN KEY (org, project_id) REFERENCES projects (org, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_by_project ON api_keys (org, project_id);

-- History (SPEC §6): enforcement, simulation, revision, rollback, key. Pruned per policy to
-- POLICY_HISTORY_LIMIT entries, oldest first.
CREATE TABLE history (
    id          UUID PRIMARY KEY,
    org         TEXT NOT NULL,
    type        TEXT NOT NULL
                CHECK (type IN ('enforcement', 'simulation', 'revision', 'rollback', 'key')),
    policy_id   TEXT,
    policy_name TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The type-specific fields (decision record, identifiers, config snapshot...).
    entry       JSONB NOT NULL
);
CREATE INDEX history_by_policy ON history (org, policy_id, created_at DESC, id DESC);
CREATE INDEX history_by_org ON history (org, created_at DESC, id DESC);

-- Ids of every audit entry ever accepted from a data plane, kept apart from `history` so
-- that an entry resent after its history row was pruned is still recognised as a
-- duplicate (at-least-once delivery, stored exactly once).
CREATE TABLE audit_receipts (
    id          UUID PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Candidate decisions reported by data planes, for automatic rollback (SPEC §9): counted
-- whatever `audit_logs` says and however history is pruned.
CREATE TABLE rollout_observations (
    org        TEXT NOT NULL,
    policy_id  TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    minute     TIMESTAMPTZ NOT NULL,
    decision   TEXT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (org, policy_id, revision, minute, decision)
);

-- Per-request usage for billing (SPEC §6); not pruned by the history limit. The id is the
-- data plane's, so a resent record is stored once.
CREATE TABLE usage_records (
    id                UUID PRIMARY KEY,
    org               TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    project_id        TEXT,
    key_id            UUID,
    policy_id         TEXT,
    model             TEXT NOT NULL,
    quota_subject     TEXT,
    prompt_tokens     BIGINT NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL CHECK (completion_tokens >= 0),
    node_id           TEXT NOT NULL
);
CREATE INDEX usage_by_project ON usage_records (org, project_id, created_at);

-- Quota counters (SPEC §4), one per subject, metric and window start. `leased` is budget
-- handed to data planes and not yet reported as used.
CREATE TABLE quota_counters (
    org          TEXT NOT NULL,
    policy_id    TEXT NOT NULL,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'project', 'project_record')),
    subject      TEXT NOT NULL,
    metric       TEXT NOT NULL CHECK (metric IN ('requests', 'tokens')),
    window_start TIMESTAMPTZ NOT NULL,
    used         BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    leased       BIGINT NOT NULL DEFAULT 0 CHECK (leased >= 0),
    PRIMARY KEY (org, policy_id, subject_kind, subject, metric, window_start)
);

-- Data planes seen by any replica and the snapshot version each applied or rejected.
CREATE TABLE data_plane_nodes (
    node_id            TEXT PRIMARY KEY,
    region             TEXT NOT NULL DEFAULT '',
    software_version   TEXT NOT NULL DEFAULT '',
    connected          BOOLEAN NOT NULL DEFAULT FALSE,
    control_plane_id   TEXT,
    connected_at       TIMESTAMPTZ,
    last_seen_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_version    BIGINT,
    applied_at         TIMESTAMPTZ,
    nacked_version     BIGINT,
    nack_error         TEXT,
    nack_count         BIGINT NOT NULL DEFAULT 0
);
