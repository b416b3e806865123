-- Approvals of critical steps, decided by a second engineer. Identity is
-- the PostgreSQL role each engineer connects as (session_user), never a
-- typed name; the database itself refuses an approval by the requester.

CREATE TABLE pending_actions (
    id              text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{8}$'),
    requested_by    name NOT NULL DEFAULT session_user,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    runbook         text NOT NULL,
    step            text NOT NULL,
    target          text NOT NULL DEFAULT '',
    action          text NOT NULL,
    action_sha256   text NOT NULL CHECK (action_sha256 ~ '^[0-9a-f]{64}$'),
    preflight_sha256 text NOT NULL DEFAULT '',
    request         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'approved', 'rejected', 'voided', 'expired')),
    CHECK (expires_at > requested_at)
);

-- A request is filed as the role that files it, now, and starts pending:
-- no client may name another requester (then approve "their" request) or
-- file one already approved.
CREATE FUNCTION stepguard_check_request() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.requested_by <> session_user THEN
        RAISE EXCEPTION 'a request is filed as the role that files it (%), not as %',
            session_user, NEW.requested_by;
    END IF;
    IF NEW.state <> 'pending' THEN
        RAISE EXCEPTION 'a request starts pending, not %', NEW.state;
    END IF;
    NEW.requested_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER stepguard_check_request BEFORE INSERT ON pending_actions
    FOR EACH ROW EXECUTE FUNCTION stepguard_check_request();

CREATE TABLE approval_events (
    id          bigserial PRIMARY KEY,
    action_id   text NOT NULL REFERENCES pending_actions (id),
    decided_by  name NOT NULL DEFAULT session_user,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    decision    text NOT NULL CHECK (decision IN ('approve', 'reject', 'void')),
    reason      text NOT NULL DEFAULT ''
);

-- Four eyes, in the database: no client can get around it.
-- SECURITY DEFINER: engineers need no right to change pending_actions
-- themselves; session_user stays the engineer's role.
CREATE FUNCTION stepguard_check_decision() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    asked pending_actions%ROWTYPE;
BEGIN
    SELECT * INTO asked FROM pending_actions WHERE id = NEW.action_id FOR UPDATE;
    IF NEW.decided_by <> session_user THEN
        RAISE EXCEPTION 'a decision is recorded as the role that makes it (%), not as %',
            session_user, NEW.decided_by;
    END IF;
    IF NEW.decision IN ('approve', 'reject') AND asked.requested_by = session_user THEN
        RAISE EXCEPTION 'approval % was requested by %: another engineer must decide it',
            NEW.action_id, asked.requested_by;
    END IF;
    IF asked.state <> 'pending' THEN
        RAISE EXCEPTION 'approval % is %', NEW.action_id, asked.state;
    END IF;
    IF asked.expires_at <= now() THEN
        UPDATE pending_actions SET state = 'expired' WHERE id = NEW.action_id;
        RAISE EXCEPTION 'approval % expired at %', NEW.action_id, asked.expires_at;
    END IF;
    UPDATE pending_actions
       SET state = CASE NEW.decision WHEN 'approve' THEN 'approved'
                                     WHEN 'reject' THEN 'rejected'
                                     ELSE 'voided' END
     WHERE id = NEW.action_id;
    RETURN NEW;
END $$;

CREATE TRIGGER stepguard_check_decision BEFORE INSERT ON approval_events
    FOR EACH ROW EXECUTE FUNCTION stepguard_check_decision();

-- Decisions are history: never rewritten.
CREATE FUNCTION stepguard_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE TRIGGER stepguard_append_only BEFORE UPDATE OR DELETE ON approval_events
    FOR EACH ROW EXECUTE FUNCTION stepguard_append_only();

CREATE TRIGGER stepguard_append_only_truncate BEFORE TRUNCATE ON approval_events
    FOR EACH STATEMENT EXECUTE FUNCTION stepguard_append_only();
