-- Canaries (issue 15, ADR 0018): a review round of a real task whose head carries one
-- seeded defect, planted before any reviewer can claim the round and disclosed once the
-- reviewer has given its verdict. What was planted, and where, is the operator's alone:
-- families have no privilege on the private schema.

SET search_path = ainarres, pg_temp;

-- ---------------------------------------------------------------------------------------
-- 1: the private record.

CREATE TABLE ainarres_private.canary_settings (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    rate        numeric NOT NULL DEFAULT 0 CHECK (rate >= 0 AND rate <= 0.9),
    seed        bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ainarres_private.canary_settings DEFAULT VALUES;

-- A review round no reviewer may claim yet: while canaries are on, every task entering a
-- review step waits here until the canary service has decided (plant or not), and a task
-- whose seeded round was judged waits until its own head is back on the hub.
CREATE TABLE ainarres_private.review_holds (
    task_id  uuid PRIMARY KEY REFERENCES ainarres.tasks ON DELETE CASCADE,
    round    integer NOT NULL,
    restore  boolean NOT NULL DEFAULT false,
    since    timestamptz NOT NULL DEFAULT now()
);

-- A review verdict given while canaries are on, waiting to be applied (canary_apply).
CREATE TABLE ainarres_private.verdicts (
    task_id    uuid PRIMARY KEY REFERENCES ainarres.tasks ON DELETE CASCADE,
    round      integer NOT NULL,
    epoch      bigint NOT NULL,
    family_id  bigint NOT NULL REFERENCES ainarres.families,
    agent_id   uuid NOT NULL,
    verdict    text NOT NULL CHECK (verdict IN ('approve', 'return')),
    reason     text,
    cause      text,
    detail     text,
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ainarres_private.canaries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id          uuid NOT NULL REFERENCES ainarres.tasks ON DELETE CASCADE,
    round            integer NOT NULL,
    real_head        ainarres.git_oid NOT NULL,
    seeded_head      ainarres.git_oid NOT NULL,
    file             text NOT NULL CHECK (length(file) BETWEEN 1 AND 4096),
    line             integer NOT NULL CHECK (line >= 1),
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,47}$'),
    tolerance        integer NOT NULL CHECK (tolerance BETWEEN 0 AND 20),
    description      text NOT NULL,
    writer_family    bigint REFERENCES ainarres.families,
    state            text NOT NULL DEFAULT 'planting'
                     CHECK (state IN ('planting', 'live', 'judged')),
    result           text CHECK (result IN ('caught', 'missed', 'returned_elsewhere')),
    reviewer_family  bigint REFERENCES ainarres.families,
    reviewer_agent   uuid,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    judged_at        timestamptz,
    restored_at      timestamptz,
    UNIQUE (task_id, round),
    CHECK ((state = 'judged') = (result IS NOT NULL))
);
CREATE INDEX canaries_seeded_head ON ainarres_private.canaries (seeded_head);
CREATE INDEX canaries_reviewer ON ainarres_private.canaries (reviewer_family, judged_at);

ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN (
    -- a task's life
    'briefed', 'created', 'claimed', 'note', 'based', 'advanced', 'returned', 'released',
    'blocked', 'unblocked', 'lease_expired', 'annotated', 'usage', 'integrate_started',
    'canary',
    -- families and their roles
    'family_added', 'granted', 'revoked', 'denied', 'lifted', 'retired',
    'password_rotated', 'key_rotated',
    -- governance and settings
    'demoted', 'policy_changed', 'workflow_changed'));

ALTER TABLE policies ADD COLUMN min_samples integer NOT NULL DEFAULT 0
    CHECK (min_samples >= 0);
ALTER TABLE policies DROP CONSTRAINT policies_metric_check;
ALTER TABLE policies ADD CONSTRAINT policies_metric_check CHECK (metric IN (
    'approvals_failed_checks', 'returned_in_a_row', 'abandoned', 'seconds_vs_peer_median',
    'canary_missed'));
INSERT INTO policies (name, role, metric, threshold, window_span, denial_base, min_samples,
                      description)
VALUES ('reviewer-misses-canaries', 'reviewer', 'canary_missed', 0.5, '30 days', '1 hour', 10,
        'a reviewer that did not catch at least half of the seeded defects (canaries) it '
        'reviewed in the window, once it has reviewed N of them');

-- What the server tells anyone about these tables must not count canaries: its statistics
-- views and functions (inserts, updates, live rows, sizes, locks) are readable by every
-- login by default. Where the operator is a superuser (the embedded server) this database
-- stops showing them to anyone but the operator; on an external server a superuser can do
-- the same (external-database.md). Autovacuum stays off these small tables, so
-- pg_class.reltuples does not count them either.
ALTER TABLE ainarres_private.canaries SET (autovacuum_enabled = false);
ALTER TABLE ainarres_private.review_holds SET (autovacuum_enabled = false);
ALTER TABLE ainarres_private.verdicts SET (autovacuum_enabled = false);
DO $$
DECLARE
    r record;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN;
    END IF;
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
             WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'v'
               AND (c.relname LIKE 'pg\_stat%' OR c.relname = 'pg_locks') LOOP
        EXECUTE format('REVOKE SELECT ON %s FROM PUBLIC', r.rel);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND (p.proname LIKE 'pg\_stat\_get\_%' OR p.proname IN (
                    'pg_lock_status', 'pg_relation_size', 'pg_total_relation_size',
                    'pg_table_size', 'pg_indexes_size', 'pg_relation_filenode',
                    'pg_relation_filepath')) LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', r.fn);
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------------------
-- 2: what the verbs consult.

-- Whether the task's current review round is a planted canary.
CREATE FUNCTION _canary_live(p_task tasks) RETURNS boolean
LANGUAGE sql STABLE SET search_path = ainarres, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM ainarres_private.canaries c
                   WHERE c.task_id = p_task.id AND c.round = p_task.review_round
                     AND c.state = 'live')
$$;

-- Hold the task's current review round for the canary service: always to restore the
-- head after a seeded round, and while canaries are on for every round that starts.
CREATE FUNCTION _canary_hold(p_task tasks, p_restore boolean) RETURNS void
LANGUAGE sql SET search_path = ainarres, pg_temp AS $$
    INSERT INTO ainarres_private.review_holds (task_id, round, restore)
    SELECT p_task.id, p_task.review_round, p_restore
    WHERE p_restore OR (SELECT rate > 0 FROM ainarres_private.canary_settings)
    ON CONFLICT (task_id) DO UPDATE
        SET round = EXCLUDED.round, restore = EXCLUDED.restore, since = now()
$$;

-- The reviewer's verdict on a seeded round: scored (caught when it returned the task with
-- a blocker or major annotation of its family's, in that round, on the seeded file's new
-- side within the kind's tolerance: a nit near the line is not a catch),
-- then disclosed to everyone. The task is not approved or returned by it: it is reviewed
-- again at its implementer's head, once the canary service has put that back on the hub.
CREATE FUNCTION _canary_verdict(p_task tasks, p_family families, p_agent uuid, p_epoch bigint,
                                p_verdict text, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    c ainarres_private.canaries;
    v_result text;
    v_task tasks;
    v_stage text;
BEGIN
    SELECT * INTO c FROM ainarres_private.canaries
    WHERE task_id = p_task.id AND round = p_task.review_round AND state = 'live' FOR UPDATE;
    IF p_verdict = 'approve' THEN
        v_result := 'missed';
    ELSIF EXISTS (SELECT 1 FROM annotations a
                  WHERE a.task_id = c.task_id AND a.round = c.round
                    AND a.family_id = p_family.id AND a.severity IN ('blocker', 'major')
                    AND a.file = c.file AND a.side = 'new'
                    AND abs(a.line - c.line) <= c.tolerance) THEN
        v_result := 'caught';
    ELSE
        v_result := 'returned_elsewhere';
    END IF;
    UPDATE ainarres_private.canaries
    SET state = 'judged', result = v_result, reviewer_family = p_family.id,
        reviewer_agent = p_agent, reason = left(p_reason, 4000), judged_at = now()
    WHERE id = c.id;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           attempts = 0, head_commit = c.real_head, review_round = review_round + 1,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task.id
    RETURNING * INTO v_task;
    PERFORM _canary_hold(v_task, true);
    SELECT name INTO v_stage FROM stages WHERE id = v_task.stage_id;
    PERFORM _log('canary', p_task.id, p_family.id, p_agent, v_stage, v_stage, p_epoch,
                 jsonb_build_object('round', c.round, 'verdict', p_verdict, 'result', v_result,
                                    'writer_family', v_task.writer_family));
    RETURN _outcome('ok', format(
        '%s: review round %s was a seeded review (a canary): %s; the task will be reviewed '
        'again at its implementer''s head', _short(p_task.id), c.round,
        CASE v_result WHEN 'caught' THEN 'you caught its defect'
                      WHEN 'missed' THEN 'you approved it with its defect'
                      ELSE 'you returned it, but no annotation of yours pointed at its defect'
        END),
        jsonb_build_object('task', _task_json(v_task),
                           'canary', jsonb_build_object('round', c.round, 'result', v_result)));
END $$;

-- ---------------------------------------------------------------------------------------
-- 3: the operator's verbs (the canary service runs them with the operator's login).

CREATE FUNCTION canary_set(p_rate numeric, p_seed bigint) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_released integer := 0;
    v_task uuid;
BEGIN
    IF p_rate IS NULL OR NOT (p_rate >= 0 AND p_rate <= 0.9) THEN
        RETURN _outcome('invalid', 'the canary rate is a share of review rounds from 0 to 0.9 '
                        '(0 stops planting; above 0.9 a task could wait for ever)');
    END IF;
    UPDATE ainarres_private.canary_settings
    SET rate = p_rate, seed = COALESCE(p_seed, seed), updated_at = now();
    IF p_rate = 0 THEN
        -- Rounds waiting for a decision are decided: no canary (a round whose canary is
        -- being planted waits for the service to finish it). Verdicts on real rounds apply
        -- now; those on seeded rounds, and heads to put back, wait for the service.
        WITH gone AS (
            DELETE FROM ainarres_private.review_holds h
            WHERE NOT h.restore
              AND NOT EXISTS (SELECT 1 FROM ainarres_private.canaries c
                              WHERE c.task_id = h.task_id AND c.round = h.round)
            RETURNING task_id)
        SELECT count(*) INTO v_released FROM gone;
        FOR v_task IN SELECT v.task_id FROM ainarres_private.verdicts v
                      JOIN tasks t ON t.id = v.task_id WHERE NOT _canary_live(t) LOOP
            PERFORM canary_apply(v_task);
        END LOOP;
        PERFORM _wake('review');
    END IF;
    RETURN _outcome('ok', format('canary rate %s', trim_scale(p_rate)),
                    jsonb_build_object('rate', p_rate, 'released', v_released));
END $$;

-- Record the defect about to be planted on a held round (idempotent: the same plan again
-- is a no-op; another plan for the same round is refused).
CREATE FUNCTION canary_plan(p_task uuid, p_round integer, p_real text, p_seeded text,
                            p_file text, p_line integer, p_kind text, p_tolerance integer,
                            p_description text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks;
    c ainarres_private.canaries;
BEGIN
    SELECT * INTO c FROM ainarres_private.canaries WHERE task_id = p_task AND round = p_round;
    IF c.id IS NOT NULL THEN
        IF c.seeded_head = p_seeded AND c.real_head = p_real THEN
            RETURN _outcome('ok', 'already planned', jsonb_build_object('state', c.state));
        END IF;
        RETURN _outcome('invalid', format('round %s of %s has another canary', p_round,
                                           _short(p_task)));
    END IF;
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR NO KEY UPDATE;
    IF v_task.id IS NULL OR v_task.review_round <> p_round
       OR v_task.head_commit IS DISTINCT FROM p_real
       OR NOT EXISTS (SELECT 1 FROM ainarres_private.review_holds h
                      WHERE h.task_id = p_task AND h.round = p_round AND NOT h.restore) THEN
        RETURN _outcome('invalid', format('%s round %s is not waiting for a canary decision '
                                           'at %s', _short(p_task), p_round, left(p_real, 12)));
    END IF;
    INSERT INTO ainarres_private.canaries (task_id, round, real_head, seeded_head, file, line,
                                           kind, tolerance, description, writer_family)
    VALUES (p_task, p_round, p_real, p_seeded, p_file, p_line, p_kind, p_tolerance,
            p_description, v_task.writer_family);
    RETURN _outcome('ok', 'planned', jsonb_build_object('state', 'planting'));
END $$;

-- The seeded head is on the hub: make it the task's head and open the round to reviewers.
CREATE FUNCTION canary_live(p_task uuid, p_round integer) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    c ainarres_private.canaries;
BEGIN
    SELECT * INTO c FROM ainarres_private.canaries
    WHERE task_id = p_task AND round = p_round FOR UPDATE;
    IF c.id IS NULL OR c.state <> 'planting' THEN
        RETURN _outcome('invalid', format('%s round %s has no canary being planted',
                                           _short(p_task), p_round));
    END IF;
    UPDATE tasks SET head_commit = c.seeded_head, updated_at = now()
    WHERE id = p_task AND review_round = p_round AND head_commit = c.real_head
      AND holder_agent IS NULL
      AND EXISTS (SELECT 1 FROM ainarres_private.review_holds h
                  WHERE h.task_id = p_task AND h.round = p_round AND NOT h.restore);
    IF NOT FOUND THEN
        RETURN _outcome('invalid', format('%s moved on from round %s', _short(p_task), p_round));
    END IF;
    UPDATE ainarres_private.canaries SET state = 'live' WHERE id = c.id;
    DELETE FROM ainarres_private.review_holds WHERE task_id = p_task;
    PERFORM _wake('review');
    RETURN _outcome('ok', format('%s round %s is open for review', _short(p_task), p_round));
END $$;

-- No canary this round: open it to reviewers. With p_restore, the implementer's head is
-- back on the hub after a seeded round: while canaries are on, that round is decided like
-- any other (a round after a canary may be one too, or the round after one would be known
-- to be real); otherwise it opens.
CREATE FUNCTION canary_release(p_task uuid, p_round integer, p_restore boolean) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ainarres_private.review_holds
                   WHERE task_id = p_task AND round = p_round AND restore = p_restore) THEN
        RETURN _outcome('invalid', format('%s round %s is not held', _short(p_task), p_round));
    END IF;
    IF p_restore THEN
        UPDATE ainarres_private.canaries SET restored_at = now()
        WHERE task_id = p_task AND state = 'judged' AND restored_at IS NULL;
        IF (SELECT rate > 0 FROM ainarres_private.canary_settings) THEN
            UPDATE ainarres_private.review_holds SET restore = false, since = now()
            WHERE task_id = p_task;
            RETURN _outcome('ok', format('%s round %s waits for a canary decision',
                                         _short(p_task), p_round));
        END IF;
    END IF;
    DELETE FROM ainarres_private.review_holds WHERE task_id = p_task;
    UPDATE tasks SET updated_at = now() WHERE id = p_task;
    PERFORM _wake('review');
    RETURN _outcome('ok', format('%s round %s is open for review', _short(p_task), p_round));
END $$;

-- For the gate: which of these commits are seeded heads (they never reach main).
CREATE FUNCTION gate_seeded(p_oids text[]) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    SELECT COALESCE(array_agg(DISTINCT c.seeded_head::text), '{}')
    FROM ainarres_private.canaries c WHERE c.seeded_head = ANY(p_oids)
$$;
ALTER FUNCTION gate_seeded(text[]) SET lock_timeout = '5s';

-- ---------------------------------------------------------------------------------------
-- 4: the verbs that meet a canary, redefined with the same signatures (one transaction each):
-- advance and return_task score a seeded round, advance holds a new review round, claim_next
-- skips held rounds, governance counts canaries, gate_login grants gate_seeded.

-- While canaries are on, a review verdict is recorded and applied later, by the canary
-- service in a transaction of its own: the verb's answer, and everything the reviewer
-- could read before its own commit, is the same for a seeded round and a real one (a
-- family calling `advance` in a transaction it rolls back learns nothing). Off, verdicts
-- apply at once, as before.
CREATE FUNCTION _canary_defer(p_task tasks) RETURNS boolean
LANGUAGE sql STABLE SET search_path = ainarres, pg_temp AS $$
    SELECT (SELECT rate > 0 FROM ainarres_private.canary_settings) OR _canary_live(p_task)
$$;

CREATE FUNCTION _verdict_record(p_task tasks, p_family families, p_agent uuid, p_epoch bigint,
                                p_verdict text, p_reason text, p_cause text, p_detail text)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks;
BEGIN
    INSERT INTO ainarres_private.verdicts (task_id, round, epoch, family_id, agent_id, verdict,
                                           reason, cause, detail)
    VALUES (p_task.id, p_task.review_round, p_epoch, p_family.id, p_agent, p_verdict,
            p_reason, p_cause, NULLIF(p_detail, ''));
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           attempts = 0, updated_at = now()
    WHERE id = p_task.id
    RETURNING * INTO v_task;
    RETURN _outcome('ok', format('%s: your verdict (%s) on review round %s is recorded; the '
                                 'board applies it in a moment', _short(p_task.id), p_verdict,
                                 p_task.review_round),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

-- The step itself, once the caller is known to hold the task (advance) or a recorded
-- verdict is applied (canary_apply).
CREATE FUNCTION _advance_core(p_task tasks, p_family families, p_agent uuid, p_epoch bigint,
                              p_head_commit text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks := p_task;
    v_from stages;
    v_to stages;
BEGIN
    SELECT * INTO v_from FROM stages WHERE id = v_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'advance';
    IF v_from.reviews_branch THEN
        INSERT INTO reviews (task_id, round, commit, verdict, family_id, agent_id)
        VALUES (v_task.id, v_task.review_round, v_task.head_commit, 'approve', p_family.id,
                p_agent);
    END IF;
    UPDATE tasks SET stage_id = v_to.id, open = NOT v_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           head_commit = CASE WHEN v_from.writes_branch THEN COALESCE(p_head_commit, head_commit)
                              ELSE head_commit END,
           writer_family = CASE WHEN v_from.writes_branch THEN p_family.id ELSE writer_family END,
           writer_agent = CASE WHEN v_from.writes_branch THEN p_agent ELSE writer_agent END,
           review_round = review_round + CASE WHEN v_to.reviews_branch THEN 1 ELSE 0 END,
           stage_entered_at = now(), updated_at = now()
    WHERE id = v_task.id
    RETURNING * INTO v_task;
    IF v_to.reviews_branch AND (SELECT rate > 0 FROM ainarres_private.canary_settings) THEN
        PERFORM _canary_hold(v_task, false);
    END IF;
    -- The head a review step starts from is on the task row, not in the log: a seeded round
    -- (ADR 0018) replaces it before any reviewer sees it.
    PERFORM _log('advanced', v_task.id, p_family.id, p_agent, v_from.name, v_to.name, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object(
                     'head_commit', CASE WHEN NOT v_to.reviews_branch THEN v_task.head_commit END,
                     'verdict', CASE WHEN v_from.reviews_branch THEN 'approve' END)));
    IF v_to.is_terminal THEN
        -- Closed: tasks waiting on this one have one open dependency fewer.
        UPDATE tasks SET open_deps = open_deps - 1, updated_at = now()
        WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = v_task.id);
        PERFORM _wake('dependencies');
    ELSE
        PERFORM _wake(v_to.name);
    END IF;
    RETURN _outcome('ok', format('%s: %s -> %s', _short(v_task.id), v_from.name, v_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE FUNCTION _return_core(p_task tasks, p_family families, p_agent uuid, p_epoch bigint,
                             p_reason text, p_cause text, p_detail text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks := p_task;
    v_from stages;
    v_to stages;
BEGIN
    SELECT * INTO v_from FROM stages WHERE id = v_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'return';
    IF v_from.reviews_branch THEN
        INSERT INTO reviews (task_id, round, commit, verdict, reason, family_id, agent_id)
        VALUES (v_task.id, v_task.review_round, v_task.head_commit, 'return', p_reason,
                p_family.id, p_agent);
    END IF;
    UPDATE tasks SET stage_id = v_to.id, open = NOT v_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           stage_entered_at = now(), updated_at = now()
    WHERE id = v_task.id
    RETURNING * INTO v_task;
    PERFORM _log('returned', v_task.id, p_family.id, p_agent, v_from.name, v_to.name, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object(
                     'reason', p_reason, 'round', v_task.review_round,
                     'cause', COALESCE(p_cause, CASE WHEN v_from.reviews_branch THEN 'review' END),
                     'detail', NULLIF(p_detail, ''),
                     'writer_family', v_task.writer_family)));
    PERFORM _wake(v_to.name);
    RETURN _outcome('ok', format('%s returned: %s -> %s', _short(v_task.id), v_from.name,
                                 v_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION advance(p_agent uuid, p_task uuid, p_epoch bigint,
                                   p_head_commit text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s'
AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_from stages;
    v_to stages;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    v_task := v_held.task;
    IF p_head_commit IS NOT NULL AND p_head_commit !~ '^[0-9a-f]{40}([0-9a-f]{24})?$' THEN
        RETURN _outcome('invalid', 'head commit must be a full hex object id (40 or 64 digits)');
    END IF;
    SELECT * INTO v_from FROM stages WHERE id = v_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'advance';
    IF v_to.id IS NULL THEN
        RETURN _outcome('illegal_transition', format('stage %s has no next step', v_from.name));
    END IF;
    IF v_from.reviews_branch THEN
        -- The approval pins the head (on a board used without git there is none to pin).
        IF p_head_commit IS NOT NULL AND p_head_commit IS DISTINCT FROM v_task.head_commit THEN
            RETURN _outcome('invalid', format(
                'you reviewed %s but the task''s head is %s; review the current head',
                left(p_head_commit, 12), COALESCE(left(v_task.head_commit, 12), 'none')));
        END IF;
        IF _canary_defer(v_task) THEN
            RETURN _verdict_record(v_task, v_family, p_agent, p_epoch, 'approve', NULL, NULL,
                                   NULL);
        END IF;
    END IF;
    RETURN _advance_core(v_task, v_family, p_agent, p_epoch, p_head_commit);
END $$;

CREATE OR REPLACE FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text,
                                       p_cause text, p_detail text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s'
AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_from stages;
    v_to stages;
    v_bad text := COALESCE(_bad_text('reason', p_reason, 4000, false),
                           _bad_text_or_empty('detail', p_detail, 65536, false));
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    v_task := v_held.task;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    IF p_cause IS NOT NULL AND p_cause NOT IN ('checks', 'conflict', 'review') THEN
        RETURN _outcome('invalid', 'cause must be checks, conflict or review');
    END IF;
    SELECT * INTO v_from FROM stages WHERE id = v_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'return';
    IF v_to.id IS NULL THEN
        RETURN _outcome('illegal_transition', format(
            'a task in stage %s cannot be returned; release it or block it instead', v_from.name));
    END IF;
    IF v_from.reviews_branch AND _canary_defer(v_task) THEN
        RETURN _verdict_record(v_task, v_family, p_agent, p_epoch, 'return', p_reason, p_cause,
                               p_detail);
    END IF;
    RETURN _return_core(v_task, v_family, p_agent, p_epoch, p_reason, p_cause, p_detail);
END $$;

-- The operator's (the canary service's): apply a recorded verdict. A seeded round is scored
-- and disclosed; a real one takes the step the reviewer asked for, as the reviewer.
CREATE FUNCTION canary_apply(p_task uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v ainarres_private.verdicts;
    v_task tasks;
    v_family families;
BEGIN
    SELECT * INTO v FROM ainarres_private.verdicts WHERE task_id = p_task FOR UPDATE;
    IF v.task_id IS NULL THEN
        RETURN _outcome('invalid', format('no verdict on %s waits', _short(p_task)));
    END IF;
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR NO KEY UPDATE;
    DELETE FROM ainarres_private.verdicts WHERE task_id = p_task;
    IF v_task.review_round <> v.round OR v_task.holder_agent IS NOT NULL THEN
        RETURN _outcome('invalid', format('%s moved on from round %s; its verdict is dropped',
                                          _short(p_task), v.round));
    END IF;
    SELECT * INTO v_family FROM families WHERE id = v.family_id;
    IF _canary_live(v_task) THEN
        RETURN _canary_verdict(v_task, v_family, v.agent_id, v.epoch, v.verdict, v.reason);
    ELSIF v.verdict = 'approve' THEN
        RETURN _advance_core(v_task, v_family, v.agent_id, v.epoch, NULL);
    END IF;
    RETURN _return_core(v_task, v_family, v.agent_id, v.epoch, v.reason, v.cause, v.detail);
END $$;

CREATE OR REPLACE FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_family families := _caller();
    v_stages bigint[];
    v_task tasks;
    v_stage stages;
    v_role text;
    v_others_first boolean;
    v_lease integer;
BEGIN
    IF v_family.id IS NULL OR NOT EXISTS (
            SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = v_family.id) THEN
        RETURN _refuse_unheld(v_family, p_agent, NULL, NULL, NULL);
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_roles) r WHERE r NOT IN (SELECT name FROM roles)) THEN
        RETURN _outcome('not_found', format('no role among %s', array_to_string(p_roles, ', ')));
    END IF;
    IF p_lease_seconds IS NOT NULL AND p_lease_seconds NOT BETWEEN 10 AND 86400 THEN
        RETURN _outcome('invalid', 'a lease must be between 10 and 86400 seconds');
    END IF;
    -- Seen, at most every 10 s: a write per claim would cost every claim a row update.
    UPDATE agents SET last_seen_at = now()
    WHERE id = p_agent AND last_seen_at < now() - interval '10 seconds';

    SELECT array_agg(tr.from_stage_id) INTO v_stages
    FROM transitions tr
    WHERE tr.kind = 'advance' AND (p_roles IS NULL OR tr.role = ANY(p_roles))
      AND _has_role(v_family.id, tr.role);
    IF v_stages IS NULL THEN
        RETURN _outcome('not_allowed', format(
            'family %s holds no %s that takes a step; a person grants roles with `ainarres grant`',
            v_family.name, COALESCE('active role among ' || array_to_string(p_roles, ', '), 'role')));
    END IF;

    -- Two passes: the first skips reviews too close to their writer (same maker, or same
    -- family, as the workflow says) where the workflow prefers cross review; the second
    -- falls back to them. Where it requires it, they are never offered.
    v_others_first := true;
    LOOP
        SELECT c.* INTO v_task
        FROM stages s
        JOIN workflows w ON w.id = s.workflow_id
        CROSS JOIN LATERAL (
            SELECT t.* FROM tasks t
            WHERE t.stage_id = s.id AND t.open AND NOT t.blocked
              AND (t.lease_expires_at IS NULL OR t.lease_expires_at < now())
              AND t.open_deps = 0
              AND (NOT s.reviews_branch  -- only a review round is ever held
                   OR (NOT EXISTS (SELECT 1 FROM ainarres_private.review_holds h
                                   WHERE h.task_id = t.id)
                       AND NOT EXISTS (SELECT 1 FROM ainarres_private.verdicts v
                                       WHERE v.task_id = t.id)))
              AND NOT (s.reviews_branch AND t.writer_agent IS NOT DISTINCT FROM p_agent)
              AND NOT (s.reviews_branch AND w.cross_review = 'require'
                       AND _same_side(w, v_family, t.writer_family))
              AND NOT (v_others_first AND s.reviews_branch AND w.cross_review = 'prefer'
                       AND _same_side(w, v_family, t.writer_family))
            ORDER BY t.priority DESC, t.seq
            LIMIT 1
            FOR NO KEY UPDATE SKIP LOCKED) c
        WHERE s.id = ANY(v_stages)
        ORDER BY c.priority DESC, c.seq
        LIMIT 1;

        IF v_task.id IS NULL THEN
            IF v_others_first THEN
                v_others_first := false;
                CONTINUE;
            END IF;
            RETURN _outcome('empty', format('nothing to do for family %s right now', v_family.name));
        END IF;
        SELECT * INTO v_stage FROM stages WHERE id = v_task.stage_id;

        IF v_task.holder_agent IS NOT NULL THEN
            IF _reclaim(v_task, v_stage) THEN
                CONTINUE;  -- blocked: that was its last attempt
            END IF;
            v_task.attempts := v_task.attempts + 1;
        END IF;

        v_lease := LEAST(COALESCE(p_lease_seconds, v_stage.lease_seconds), v_stage.lease_seconds);
        UPDATE tasks SET holder_agent = p_agent, holder_family = v_family.id,
               lease_expires_at = now() + make_interval(secs => v_lease),
               claim_lease_seconds = CASE WHEN v_lease = v_stage.lease_seconds THEN NULL
                                          ELSE v_lease END,
               claim_epoch = claim_epoch + 1, attempts = v_task.attempts, updated_at = now()
        WHERE id = v_task.id
        RETURNING * INTO v_task;
        SELECT tr.role INTO v_role FROM transitions tr
        WHERE tr.from_stage_id = v_stage.id AND tr.kind = 'advance';
        PERFORM _log('claimed', v_task.id, v_family.id, p_agent, v_stage.name, NULL,
                     v_task.claim_epoch, jsonb_strip_nulls(jsonb_build_object(
                         'role', v_role, 'lease_seconds', v_lease)));
        RETURN _outcome('ok', format('claimed %s [%s] as %s', _short(v_task.id), v_stage.name, v_role),
                        jsonb_build_object('task', _task_json(v_task), 'epoch', v_task.claim_epoch,
                                           'role', v_role));
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION ainarres._metric(p_family bigint, p_role text, p_metric text, p_window interval) RETURNS numeric
    LANGUAGE plpgsql STABLE
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v numeric;
BEGIN
    IF p_metric = 'approvals_failed_checks' THEN
        SELECT count(*) INTO v FROM reviews r JOIN events e ON e.task_id = r.task_id
          AND e.kind = 'returned' AND e.data->>'cause' = 'checks'
          AND (e.data->>'round')::int = r.round
        WHERE r.family_id = p_family AND r.verdict = 'approve' AND e.at > now() - p_window;
    ELSIF p_metric = 'returned_in_a_row' THEN
        -- The family's latest verdicts on its own work, newest first, until an approval.
        SELECT count(*) INTO v FROM (
            SELECT r.verdict, bool_or(r.verdict = 'approve')
                       OVER (ORDER BY r.id DESC ROWS UNBOUNDED PRECEDING) AS approved_since
            FROM reviews r JOIN tasks t ON t.id = r.task_id
            WHERE t.writer_family = p_family AND r.created_at > now() - p_window) x
        WHERE NOT x.approved_since;
    ELSIF p_metric = 'abandoned' THEN
        -- Only lapses by an agent that was still talking to the board (ADR 0011).
        SELECT count(*) INTO v FROM events e
        WHERE e.kind = 'lease_expired' AND e.family_id = p_family AND e.at > now() - p_window
          AND (e.data->>'seen_after_expiry')::boolean;
    ELSIF p_metric = 'seconds_vs_peer_median' THEN
        WITH per AS (
            SELECT g.family_id,
                   (SELECT COALESCE(sum((e.data->>'seconds')::numeric), 0) FROM events e
                    WHERE e.family_id = g.family_id AND e.kind = 'usage'
                      AND e.at > now() - p_window) AS seconds,
                   (SELECT count(*) FROM tasks t JOIN stages s ON s.id = t.stage_id
                    WHERE t.writer_family = g.family_id AND s.is_terminal
                      AND t.stage_entered_at > now() - p_window) AS shipped
            FROM grants g WHERE g.role = p_role)
        SELECT CASE WHEN me.shipped = 0 AND peers.med > 0 THEN me.seconds / peers.med END
        INTO v
        FROM per me,
             (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds / shipped) AS med
              FROM per WHERE shipped > 0 AND family_id <> p_family) peers
        WHERE me.family_id = p_family;
    ELSIF p_metric = 'canary_missed' THEN
        -- The share of the family's judged canaries it did not catch, once it has seen
        -- the policy's minimum (below it: 0, too few to judge).
        SELECT CASE WHEN count(*) >= COALESCE(
                        (SELECT max(p.min_samples) FROM policies p
                         WHERE p.metric = p_metric AND p.role = p_role), 0)
                    THEN avg(CASE WHEN c.result = 'caught' THEN 0 ELSE 1 END) END
        INTO v
        FROM ainarres_private.canaries c
        WHERE c.reviewer_family = p_family AND c.state = 'judged'
          AND c.judged_at > now() - p_window;
    END IF;
    RETURN COALESCE(v, 0);
END $$;

CREATE OR REPLACE FUNCTION ainarres.events_govern() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_approver bigint;
    v_role text;
BEGIN
    IF NEW.kind = 'returned' THEN
        IF NEW.data->>'cause' = 'checks' THEN
            SELECT r.family_id INTO v_approver FROM reviews r
            WHERE r.task_id = NEW.task_id AND r.round = (NEW.data->>'round')::int
              AND r.verdict = 'approve' ORDER BY r.id DESC LIMIT 1;
            PERFORM _govern(v_approver, 'reviewer');
        END IF;
        PERFORM _govern((NEW.data->>'writer_family')::bigint, 'implementer');
    ELSIF NEW.kind = 'lease_expired' THEN
        SELECT tr.role INTO v_role
        FROM tasks t JOIN stages s ON s.workflow_id = t.workflow_id AND s.name = NEW.from_stage
        JOIN transitions tr ON tr.from_stage_id = s.id AND tr.kind = 'advance'
        WHERE t.id = NEW.task_id;
        PERFORM _govern(NEW.family_id, COALESCE(v_role, 'implementer'));
    ELSIF NEW.kind = 'canary' THEN
        PERFORM _govern(NEW.family_id, 'reviewer');
    ELSIF NEW.kind = 'usage' THEN
        PERFORM _govern(NEW.family_id, 'implementer');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ainarres.gate_login(p_password text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_role text := 'ainarres_gate_' || left(md5(current_database()), 8);
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', v_role, p_password);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', v_role, p_password);
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), v_role);
    EXECUTE format('GRANT USAGE ON SCHEMA ainarres TO %I', v_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.gate_signer(text),
        ainarres.gate_task_branch(text), ainarres.gate_integrations(uuid[]),
        ainarres.gate_seeded(text[]) TO %I', v_role);
    PERFORM _reserve_connections(v_role);
    INSERT INTO settings (key, value) VALUES ('gate_role', v_role)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    RETURN _outcome('ok', format('gate login %s ready', v_role),
                    jsonb_build_object('family', jsonb_build_object('db_role', v_role)));
END $$;

-- Governance hears of a judged canary too.
DROP TRIGGER events_govern ON events;
CREATE TRIGGER events_govern AFTER INSERT ON events FOR EACH ROW
    WHEN (NEW.kind IN ('returned', 'lease_expired', 'usage', 'canary'))
    EXECUTE FUNCTION events_govern();

-- ---------------------------------------------------------------------------------------
-- 5: grants. The gate login that exists gets its new function now; gate_login grants it
-- from here on.
DO $$
DECLARE
    v_role text;
BEGIN
    FOR v_role IN SELECT value FROM ainarres.settings s JOIN pg_roles r ON r.rolname = s.value
                  WHERE s.key = 'gate_role' LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.gate_seeded(text[]) TO %I', v_role);
    END LOOP;
END $$;

CALL _grant_execute('operator',
    '_canary_live(tasks)', '_canary_hold(tasks, boolean)',
    '_canary_verdict(tasks, families, uuid, bigint, text, text)',
    'canary_set(numeric, bigint)',
    'canary_plan(uuid, integer, text, text, text, integer, text, integer, text)',
    'canary_live(uuid, integer)', 'canary_release(uuid, integer, boolean)',
    'gate_seeded(text[])', '_canary_defer(tasks)',
    '_verdict_record(tasks, families, uuid, bigint, text, text, text, text)',
    '_advance_core(tasks, families, uuid, bigint, text)',
    '_return_core(tasks, families, uuid, bigint, text, text, text)',
    'canary_apply(uuid)');
