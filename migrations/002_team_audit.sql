-- The team's audit in one place: every session's events, as each local
-- log wrote them, with the local chain hash. Rows are only ever added.

CREATE TABLE audit_events (
    session     text NOT NULL,
    seq         bigint NOT NULL,
    ts_ms       bigint NOT NULL,
    kind        text NOT NULL,
    data        jsonb NOT NULL,
    hash        text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    prev        text NOT NULL,
    shipped_by  name NOT NULL DEFAULT session_user,
    shipped_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session, seq)
);

CREATE TRIGGER stepguard_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION stepguard_append_only();

CREATE TRIGGER stepguard_append_only_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION stepguard_append_only();
