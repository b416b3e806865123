-- What the walk needs from the team database: a request bound to the
-- digests of what the approver saw, N approvers from a group, live updates,
-- the team's rejections, an audit chain each engineer owns, and one role
-- to grant each engineer.
--
-- Every function names its tables with their schema and searches
-- pg_catalog, then pg_temp last: an engineer's temporary table or view
-- named like ours is never read in its place.

-- How many approvals a runbook's critical steps need, and from whom. Every
-- rule whose pattern (LIKE) matches the runbook's id applies: the most
-- approvals any of them asks, each approver a member of every group they
-- name. With none, one approval by any other role. Runbook ids are checked
-- to be ids (as stepguard's loader checks them), so no look-alike name
-- slips past a pattern.
CREATE TABLE public.approval_rules (
    id              serial PRIMARY KEY,
    runbook_like    text NOT NULL DEFAULT '%',
    approvals       integer NOT NULL DEFAULT 1 CHECK (approvals BETWEEN 1 AND 10),
    approver_group  name,
    note            text NOT NULL DEFAULT ''
);

ALTER TABLE public.pending_actions
    ADD COLUMN approvals_required integer NOT NULL DEFAULT 1,
    ADD COLUMN approver_groups name[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT pending_actions_sizes CHECK (
        length(action) <= 8000 AND length(runbook) <= 200 AND length(step) <= 200
        AND length(target) <= 200 AND pg_column_size(request) <= 65536);

-- The digests the decider was shown: the action's, the pre-flight's, and
-- the whole request document's. An approval of anything else is refused.
ALTER TABLE public.approval_events
    ADD COLUMN action_sha256 text NOT NULL DEFAULT '',
    ADD COLUMN preflight_sha256 text NOT NULL DEFAULT '',
    ADD COLUMN request_sha256 text NOT NULL DEFAULT '';

-- One approval per role per request, whatever the isolation level.
CREATE UNIQUE INDEX approval_events_one_approval
    ON public.approval_events (action_id, decided_by) WHERE decision = 'approve';

-- What an approver is shown, as the database keeps it: the hash covers the
-- document's canonical (jsonb) text.
CREATE FUNCTION public.stepguard_request_sha256(doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(convert_to(doc::text, 'UTF8')), 'hex')
$$;

-- A request is filed as the role that files it, now, and starts pending.
-- The action's digest must be the action's, the document shown carries the
-- very columns the approval is bound to, and what it needs comes from the
-- rules, never from the client.
CREATE OR REPLACE FUNCTION public.stepguard_check_request() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.requested_by <> session_user THEN
        RAISE EXCEPTION 'a request is filed as the role that files it (%), not as %',
            session_user, NEW.requested_by;
    END IF;
    IF NEW.state <> 'pending' THEN
        RAISE EXCEPTION 'a request starts pending, not %', NEW.state;
    END IF;
    NEW.requested_at := clock_timestamp();
    IF NEW.expires_at > NEW.requested_at + interval '24 hours' THEN
        RAISE EXCEPTION 'a request expires within 24 hours';
    END IF;
    IF NEW.runbook !~ '^[a-z0-9]+(-[a-z0-9]+)*$' THEN
        RAISE EXCEPTION 'runbook id % is not a runbook id ([a-z0-9-])', quote_literal(NEW.runbook);
    END IF;
    IF NEW.action_sha256 <> encode(sha256(convert_to(NEW.action, 'UTF8')), 'hex') THEN
        RAISE EXCEPTION 'the action''s digest is not the digest of the action';
    END IF;
    IF jsonb_typeof(NEW.request) <> 'object' THEN
        RAISE EXCEPTION 'a request''s document is a JSON object';
    END IF;
    NEW.request := NEW.request || jsonb_build_object(
        'runbook', NEW.runbook, 'step', NEW.step, 'target', NEW.target,
        'action', NEW.action, 'action_sha256', NEW.action_sha256,
        'preflight_sha256', NEW.preflight_sha256);
    SELECT coalesce(max(approvals), 1),
           coalesce(array_agg(DISTINCT approver_group ORDER BY approver_group)
                        FILTER (WHERE approver_group IS NOT NULL), '{}')
      INTO NEW.approvals_required, NEW.approver_groups
      FROM public.approval_rules
     WHERE NEW.runbook LIKE runbook_like;
    RETURN NEW;
END $$;

-- Four eyes (or more), in the database. SECURITY DEFINER, owned by a role
-- that may only read these tables and set a request's state: engineers
-- need no right to change pending_actions; session_user stays theirs.
CREATE OR REPLACE FUNCTION public.stepguard_check_decision() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s' AS $$
DECLARE
    asked public.pending_actions%ROWTYPE;
    approvals integer;
    missing name;
BEGIN
    -- Counted under the request's row lock, which only READ COMMITTED
    -- sees through: an older snapshot could miss another's approval.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'decide in a READ COMMITTED transaction, not %',
            current_setting('transaction_isolation');
    END IF;
    BEGIN
        SELECT * INTO asked FROM public.pending_actions WHERE id = NEW.action_id FOR UPDATE;
    EXCEPTION WHEN lock_not_available THEN
        -- Another decision holds it in a transaction left open: say so
        -- rather than wait for it.
        RAISE EXCEPTION 'approval % is held by an open transaction of another session: try again',
            NEW.action_id;
    END;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no approval %', NEW.action_id;
    END IF;
    IF NEW.decided_by <> session_user THEN
        RAISE EXCEPTION 'a decision is recorded as the role that makes it (%), not as %',
            session_user, NEW.decided_by;
    END IF;
    -- The clock, not the transaction's start: a decision kept open in an
    -- old transaction is as late as it really is.
    NEW.decided_at := clock_timestamp();
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
    IF asked.expires_at <= NEW.decided_at THEN
        -- Nothing is written (a raise undoes it): expires_at says it.
        RAISE EXCEPTION 'approval % expired at %', NEW.action_id, asked.expires_at;
    END IF;
    IF NEW.decision = 'approve' THEN
        IF NEW.action_sha256 <> asked.action_sha256
           OR NEW.preflight_sha256 <> asked.preflight_sha256
           OR NEW.request_sha256 <> public.stepguard_request_sha256(asked.request) THEN
            RAISE EXCEPTION 'approval %: what you were shown is not what was asked (digests differ)',
                NEW.action_id;
        END IF;
        SELECT g INTO missing FROM unnest(asked.approver_groups) AS g
         WHERE NOT pg_has_role(session_user, g, 'MEMBER') LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'approval % needs a member of %', NEW.action_id,
                array_to_string(asked.approver_groups, ' and ');
        END IF;
        IF EXISTS (SELECT 1 FROM public.approval_events
                    WHERE action_id = NEW.action_id AND decision = 'approve'
                      AND decided_by = session_user) THEN
            RAISE EXCEPTION 'you already approved %: another engineer must', NEW.action_id;
        END IF;
        SELECT count(DISTINCT decided_by) + 1 INTO approvals FROM public.approval_events
         WHERE action_id = NEW.action_id AND decision = 'approve';
        IF approvals >= asked.approvals_required THEN
            UPDATE public.pending_actions SET state = 'approved' WHERE id = NEW.action_id;
        END IF;
    ELSIF NEW.decision = 'reject' THEN
        IF btrim(NEW.reason) = '' THEN
            RAISE EXCEPTION 'a rejection says why';
        END IF;
        UPDATE public.pending_actions SET state = 'rejected' WHERE id = NEW.action_id;
    ELSE
        UPDATE public.pending_actions SET state = 'voided' WHERE id = NEW.action_id;
    END IF;
    RETURN NEW;
END $$;

ALTER FUNCTION public.stepguard_append_only() SET search_path = pg_catalog, pg_temp;

-- Live updates: the walk and the approvers' list LISTEN on this channel;
-- the payload is the request's id.
CREATE FUNCTION public.stepguard_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'approval_events' THEN
        PERFORM pg_notify('stepguard_approvals', NEW.action_id);
    ELSE
        PERFORM pg_notify('stepguard_approvals', NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stepguard_notify AFTER INSERT OR UPDATE ON public.pending_actions
    FOR EACH ROW EXECUTE FUNCTION public.stepguard_notify();

CREATE TRIGGER stepguard_notify AFTER INSERT ON public.approval_events
    FOR EACH ROW EXECUTE FUNCTION public.stepguard_notify();

-- The team's audit: each session belongs to the role that shipped its
-- first line, and only that role adds to it, each line after the one
-- before (its sequence and the previous line's hash): the chain is kept
-- by the database too, and no one can squat or fill another's session.
CREATE TABLE public.audit_sessions (
    session     text PRIMARY KEY,
    owner       name NOT NULL DEFAULT session_user,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION public.stepguard_check_shipped() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s' AS $$
DECLARE
    owned name;
    before public.audit_events%ROWTYPE;
BEGIN
    NEW.shipped_by := session_user;
    NEW.shipped_at := clock_timestamp();
    INSERT INTO public.audit_sessions (session, owner) VALUES (NEW.session, session_user)
        ON CONFLICT (session) DO NOTHING;
    SELECT owner INTO owned FROM public.audit_sessions WHERE session = NEW.session FOR UPDATE;
    IF owned <> session_user THEN
        RAISE EXCEPTION 'session % is shipped by %, not %', NEW.session, owned, session_user;
    END IF;
    SELECT * INTO before FROM public.audit_events
     WHERE session = NEW.session ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        IF NEW.seq <> 1 OR NEW.prev <> '' THEN
            RAISE EXCEPTION 'session %: the first line is line 1', NEW.session;
        END IF;
    ELSIF NEW.seq <> before.seq + 1 OR NEW.prev <> before.hash THEN
        RAISE EXCEPTION 'session %: line % does not follow line %', NEW.session, NEW.seq, before.seq;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER stepguard_check_shipped BEFORE INSERT ON public.audit_events
    FOR EACH ROW EXECUTE FUNCTION public.stepguard_check_shipped();

-- The team's rejections, which later cards and drafts show.
CREATE VIEW public.rejections AS
SELECT p.runbook, p.step, p.id AS action_id, p.action, e.decided_by, e.decided_at, e.reason
  FROM public.approval_events e JOIN public.pending_actions p ON p.id = e.action_id
 WHERE e.decision = 'reject';

-- The roles. stepguard_engineer: granted to each engineer. stepguard_definer:
-- owns the SECURITY DEFINER functions, with only what they need (never a
-- superuser's rights, whoever ran `team init`).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stepguard_engineer') THEN
        CREATE ROLE stepguard_engineer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stepguard_definer') THEN
        CREATE ROLE stepguard_definer NOLOGIN;
    END IF;
    -- Temporary objects are how a function's names could be shadowed, and
    -- an overload in public how a call could be made ambiguous: the team
    -- database has no use for either.
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO stepguard_definer;
GRANT SELECT, UPDATE (state) ON public.pending_actions TO stepguard_definer;
GRANT SELECT ON public.approval_events, public.approval_rules TO stepguard_definer;
GRANT SELECT, INSERT, UPDATE ON public.audit_sessions TO stepguard_definer;
GRANT SELECT ON public.audit_events TO stepguard_definer;
GRANT EXECUTE ON FUNCTION public.stepguard_request_sha256(jsonb) TO stepguard_definer;
ALTER FUNCTION public.stepguard_check_decision() OWNER TO stepguard_definer;
ALTER FUNCTION public.stepguard_check_shipped() OWNER TO stepguard_definer;

-- Engineers insert only the columns a client says; the rest (who, when,
-- which id in the log, what is required, the state) the database sets.
GRANT SELECT ON public.pending_actions, public.approval_events, public.audit_events
    TO stepguard_engineer;
GRANT INSERT (id, expires_at, runbook, step, target, action, action_sha256,
              preflight_sha256, request) ON public.pending_actions TO stepguard_engineer;
GRANT INSERT (action_id, decision, reason, action_sha256, preflight_sha256, request_sha256)
    ON public.approval_events TO stepguard_engineer;
GRANT INSERT (session, seq, ts_ms, kind, data, hash, prev) ON public.audit_events
    TO stepguard_engineer;
GRANT SELECT ON public.approval_rules, public.rejections, public.audit_sessions TO stepguard_engineer;
GRANT USAGE ON SEQUENCE public.approval_events_id_seq TO stepguard_engineer;
