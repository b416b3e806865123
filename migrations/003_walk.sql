-- What the walk needs from the team database: a request bound to the
-- digests of what the approver saw, N approvers from a group, live updates,
-- the team's rejections, and one role to grant each engineer.

-- How many approvals a runbook's critical steps need, and from whom. The
-- strictest rule whose pattern (LIKE) matches the runbook's id applies;
-- with none, one approval by any other role.
CREATE TABLE approval_rules (
    id              serial PRIMARY KEY,
    runbook_like    text NOT NULL DEFAULT '%',
    approvals       integer NOT NULL DEFAULT 1 CHECK (approvals BETWEEN 1 AND 10),
    approver_group  name,
    note            text NOT NULL DEFAULT ''
);

ALTER TABLE pending_actions
    ADD COLUMN approvals_required integer NOT NULL DEFAULT 1,
    ADD COLUMN approver_group name;

-- The digests the decider was shown: an approval of anything else is refused.
ALTER TABLE approval_events
    ADD COLUMN action_sha256 text NOT NULL DEFAULT '',
    ADD COLUMN preflight_sha256 text NOT NULL DEFAULT '';

-- A request is filed as the role that files it, now, and starts pending;
-- what it needs comes from the rules, never from the client.
CREATE OR REPLACE FUNCTION stepguard_check_request() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    rule approval_rules%ROWTYPE;
BEGIN
    IF NEW.requested_by <> session_user THEN
        RAISE EXCEPTION 'a request is filed as the role that files it (%), not as %',
            session_user, NEW.requested_by;
    END IF;
    IF NEW.state <> 'pending' THEN
        RAISE EXCEPTION 'a request starts pending, not %', NEW.state;
    END IF;
    NEW.requested_at := now();
    IF NEW.expires_at > now() + interval '24 hours' THEN
        RAISE EXCEPTION 'a request expires within 24 hours';
    END IF;
    SELECT * INTO rule FROM approval_rules
     WHERE NEW.runbook LIKE runbook_like
     ORDER BY approvals DESC, approver_group IS NULL, id LIMIT 1;
    NEW.approvals_required := coalesce(rule.approvals, 1);
    NEW.approver_group := rule.approver_group;
    RETURN NEW;
END $$;

-- Four eyes (or more), in the database. SECURITY DEFINER: engineers need
-- no right to change pending_actions themselves; session_user stays the
-- engineer's role.
CREATE OR REPLACE FUNCTION stepguard_check_decision() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    asked pending_actions%ROWTYPE;
    approvals integer;
BEGIN
    SELECT * INTO asked FROM pending_actions WHERE id = NEW.action_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no approval %', NEW.action_id;
    END IF;
    IF NEW.decided_by <> session_user THEN
        RAISE EXCEPTION 'a decision is recorded as the role that makes it (%), not as %',
            session_user, NEW.decided_by;
    END IF;
    NEW.decided_at := now();
    IF NEW.decision = 'void' AND asked.requested_by <> session_user THEN
        RAISE EXCEPTION 'only % who asked may void approval %', asked.requested_by, NEW.action_id;
    END IF;
    IF NEW.decision IN ('approve', 'reject') AND asked.requested_by = session_user THEN
        RAISE EXCEPTION 'approval % was requested by %: another engineer must decide it',
            NEW.action_id, asked.requested_by;
    END IF;
    IF asked.state <> 'pending' THEN
        RAISE EXCEPTION 'approval % is %', NEW.action_id, asked.state;
    END IF;
    IF asked.expires_at <= now() THEN
        -- Nothing is written (a raise undoes it): expires_at says it.
        RAISE EXCEPTION 'approval % expired at %', NEW.action_id, asked.expires_at;
    END IF;
    IF NEW.decision = 'approve' THEN
        IF NEW.action_sha256 <> asked.action_sha256
           OR NEW.preflight_sha256 <> asked.preflight_sha256 THEN
            RAISE EXCEPTION 'approval %: what you were shown is not what was asked (digests differ)',
                NEW.action_id;
        END IF;
        IF asked.approver_group IS NOT NULL
           AND NOT pg_has_role(session_user, asked.approver_group, 'MEMBER') THEN
            RAISE EXCEPTION 'approval % needs a member of %', NEW.action_id, asked.approver_group;
        END IF;
        IF EXISTS (SELECT 1 FROM approval_events
                    WHERE action_id = NEW.action_id AND decision = 'approve'
                      AND decided_by = session_user) THEN
            RAISE EXCEPTION 'you already approved %: another engineer must', NEW.action_id;
        END IF;
        SELECT count(*) + 1 INTO approvals FROM approval_events
         WHERE action_id = NEW.action_id AND decision = 'approve';
        IF approvals >= asked.approvals_required THEN
            UPDATE pending_actions SET state = 'approved' WHERE id = NEW.action_id;
        END IF;
    ELSIF NEW.decision = 'reject' THEN
        IF btrim(NEW.reason) = '' THEN
            RAISE EXCEPTION 'a rejection says why';
        END IF;
        UPDATE pending_actions SET state = 'rejected' WHERE id = NEW.action_id;
    ELSE
        UPDATE pending_actions SET state = 'voided' WHERE id = NEW.action_id;
    END IF;
    RETURN NEW;
END $$;

-- Live updates: the walk and the approvers' list LISTEN on this channel;
-- the payload is the request's id.
CREATE FUNCTION stepguard_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'approval_events' THEN
        PERFORM pg_notify('stepguard_approvals', NEW.action_id);
    ELSE
        PERFORM pg_notify('stepguard_approvals', NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stepguard_notify AFTER INSERT OR UPDATE ON pending_actions
    FOR EACH ROW EXECUTE FUNCTION stepguard_notify();

CREATE TRIGGER stepguard_notify AFTER INSERT ON approval_events
    FOR EACH ROW EXECUTE FUNCTION stepguard_notify();

-- The team's audit is shipped as each engineer's role: no one ships in
-- another's name.
CREATE FUNCTION stepguard_check_shipped() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.shipped_by := session_user;
    NEW.shipped_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER stepguard_check_shipped BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION stepguard_check_shipped();

-- The team's rejections, which later cards and drafts show.
CREATE VIEW rejections AS
SELECT p.runbook, p.step, p.id AS action_id, p.action, e.decided_by, e.decided_at, e.reason
  FROM approval_events e JOIN pending_actions p ON p.id = e.action_id
 WHERE e.decision = 'reject';

-- One role to grant each engineer: GRANT stepguard_engineer TO alice.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stepguard_engineer') THEN
        CREATE ROLE stepguard_engineer NOLOGIN;
    END IF;
END $$;

GRANT SELECT, INSERT ON pending_actions, approval_events, audit_events TO stepguard_engineer;
GRANT SELECT ON approval_rules, rejections TO stepguard_engineer;
GRANT USAGE ON SEQUENCE approval_events_id_seq TO stepguard_engineer;
