-- Hardening against a hostile family, found by a red-team run as a family's own role.
--
-- 1. No lock without the lease: a verb looks at a task without a lock, refuses a caller
--    that does not hold it, and only then takes the row lock (FOR NO KEY UPDATE: verbs
--    never change a key, so a designer's FOR KEY SHARE on a dependency does not conflict)
--    and looks again under it. Before, `note` on another family's task inside an open
--    transaction kept that row locked: claims skipped it, its holder's heartbeat hung.
--    Every SECURITY DEFINER function waits at most 5 s for any lock.
-- 2. Family roles get a connection limit (settings.family_connection_limit) and default
--    timeouts; the gate login may use the reserved connections (PostgreSQL 16+).
-- 3. Text a model or a person wrote is checked in one place, `_text_refusal`: no control
--    characters, bidi controls or invisible characters (rules in src/ainarres/text.py,
--    which says the same in the same words; tests/security/test_text_hygiene.py).
--
-- Functions keep their signatures (CREATE OR REPLACE), so running code keeps working.

SET LOCAL search_path = ainarres, pg_temp;

-- ---------------------------------------------------------------------------------------
-- Settings a person may change (they apply to families added afterwards; the values for
-- existing families are applied below, and again by `_family_limits(db_role)`).

INSERT INTO settings (key, value) VALUES
    ('family_connection_limit', '16'),
    ('family_statement_timeout', '60s'),
    ('family_idle_in_transaction_timeout', '60s'),
    ('family_transaction_timeout', '5min')
ON CONFLICT (key) DO NOTHING;

-- ---------------------------------------------------------------------------------------
-- Text hygiene.

-- Why a text cannot be stored, or NULL. Empty means NULL, or nothing but spaces, tabs and
-- line breaks (CR, LF), and is refused unless p_allow_empty. Single-line text (titles) refuses every control character,
-- bidi control, invisible character and line separator; multi-line text (bodies, notes,
-- reasons) allows TAB, LF and CR, and ZWNJ, ZWJ and the soft hyphen (scripts and emoji
-- sequences need them).
CREATE FUNCTION _text_refusal(p_field text, p_value text, p_max integer, p_single_line boolean,
                              p_allow_empty boolean)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_char text;
    v_code integer;
    v_what text;
    v_hex text;
BEGIN
    IF p_value IS NULL OR btrim(p_value, E' \t\n\r') = '' THEN
        IF p_allow_empty AND p_value IS NULL THEN
            RETURN NULL;
        ELSIF NOT p_allow_empty THEN
            RETURN p_field || ' must not be empty';
        END IF;
    END IF;
    IF octet_length(p_value) > p_max THEN
        RETURN format('%s is %s bytes; the limit is %s', p_field, octet_length(p_value), p_max);
    END IF;
    IF p_single_line THEN
        v_char := substring(p_value FROM
            '[\u0001-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060-\u2064\ufeff\u00ad\u2028\u2029]');
    ELSE
        v_char := substring(p_value FROM
            '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\ufeff\u2028\u2029]');
    END IF;
    IF v_char IS NULL THEN
        RETURN NULL;
    END IF;
    v_code := ascii(v_char);
    v_hex := upper(to_hex(v_code));
    v_hex := repeat('0', greatest(0, 4 - length(v_hex))) || v_hex;
    v_what := CASE
        WHEN p_single_line AND v_code IN (10, 11, 12, 13, 133, 8232, 8233) THEN 'a line break'
        WHEN v_code < 32 OR v_code BETWEEN 127 AND 159 THEN 'a control character'
        WHEN v_code IN (1564, 8206, 8207) OR v_code BETWEEN 8234 AND 8238
             OR v_code BETWEEN 8294 AND 8297 THEN 'a bidi control'
        WHEN v_code IN (8232, 8233) THEN 'a line or paragraph separator'
        ELSE 'an invisible character' END;
    IF v_what = 'a line break' THEN
        RETURN format('%s must be one line: it contains U+%s (a line break) at character %s; remove it',
                      p_field, v_hex, position(v_char IN p_value));
    END IF;
    RETURN format('%s contains U+%s (%s) at character %s; remove it',
                  p_field, v_hex, v_what, position(v_char IN p_value));
END $$;

-- NULL when the text is acceptable, else why not (every verb that stores text uses it).
CREATE OR REPLACE FUNCTION _bad_text(p_field text, p_value text, p_max integer, p_single_line boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT ainarres._text_refusal(p_field, p_value, p_max, p_single_line, false)
$$;

-- The same, where an empty text is fine (bodies of briefs and tasks).
CREATE FUNCTION _bad_text_or_empty(p_field text, p_value text, p_max integer, p_single_line boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT ainarres._text_refusal(p_field, p_value, p_max, p_single_line, true)
$$;

-- ---------------------------------------------------------------------------------------
-- The one way a verb takes a task's row lock.
--
-- Look without a lock and refuse whoever does not hold the task: a refusal takes no lock,
-- so a family cannot keep another's task locked from an open transaction. The holder then
-- locks the row and looks again, since the lease may have moved on in between. A wait for
-- the lock ends with the verb's lock_timeout (lock_not_available: the task is busy; retry).
CREATE FUNCTION _hold(p_family families, p_agent uuid, p_task uuid, p_epoch bigint,
                      OUT task tasks, OUT refusal jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO task FROM tasks t WHERE t.id = p_task;
    refusal := _refuse_unheld(p_family, p_agent, task, p_task, p_epoch);
    IF refusal IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT * INTO task FROM tasks t WHERE t.id = p_task FOR NO KEY UPDATE;
    refusal := _refuse_unheld(p_family, p_agent, task, p_task, p_epoch);
END $$;

-- ---------------------------------------------------------------------------------------
-- Agent verbs, as in 0002/0005, with `_hold`, FOR NO KEY UPDATE and the text checks.

CREATE OR REPLACE FUNCTION claim_next(p_agent uuid, p_roles text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_stages bigint[];
    v_task tasks;
    v_stage stages;
    v_role text;
    v_others_first boolean;
BEGIN
    IF v_family.id IS NULL OR NOT EXISTS (
            SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = v_family.id) THEN
        RETURN _refuse_unheld(v_family, p_agent, NULL, NULL, NULL);
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_roles) r WHERE r NOT IN (SELECT name FROM roles)) THEN
        RETURN _outcome('not_found', format('no role among %s', array_to_string(p_roles, ', ')));
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

    -- Two passes: the first skips reviews of this family's own work where the workflow
    -- prefers cross-family review; the second falls back to them.
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
              AND NOT (s.reviews_branch AND t.writer_agent IS NOT DISTINCT FROM p_agent)
              AND NOT (s.reviews_branch AND w.cross_family = 'require'
                       AND t.writer_family IS NOT DISTINCT FROM v_family.id)
              AND NOT (v_others_first AND s.reviews_branch AND w.cross_family = 'prefer'
                       AND t.writer_family IS NOT DISTINCT FROM v_family.id)
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
            -- The previous holder stopped heartbeating: reclaim lazily, counting an attempt.
            PERFORM _log('lease_expired', v_task.id, v_task.holder_family, v_task.holder_agent,
                         v_stage.name, NULL, v_task.claim_epoch,
                         jsonb_build_object('attempts', v_task.attempts + 1));
            IF v_task.attempts + 1 >= v_stage.max_attempts THEN
                UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
                       attempts = attempts + 1, blocked = true, updated_at = now(),
                       blocked_reason = format('%s leases expired in stage %s (max %s); a person must look',
                                               attempts + 1, v_stage.name, v_stage.max_attempts)
                WHERE id = v_task.id;
                PERFORM _log('blocked', v_task.id, NULL, NULL, v_stage.name, NULL, v_task.claim_epoch,
                             jsonb_build_object('reason', 'max attempts'));
                CONTINUE;
            END IF;
            v_task.attempts := v_task.attempts + 1;
        END IF;

        UPDATE tasks SET holder_agent = p_agent, holder_family = v_family.id,
               lease_expires_at = now() + make_interval(secs => v_stage.lease_seconds),
               claim_epoch = claim_epoch + 1, attempts = v_task.attempts, updated_at = now()
        WHERE id = v_task.id
        RETURNING * INTO v_task;
        SELECT tr.role INTO v_role FROM transitions tr
        WHERE tr.from_stage_id = v_stage.id AND tr.kind = 'advance';
        PERFORM _log('claimed', v_task.id, v_family.id, p_agent, v_stage.name, NULL,
                     v_task.claim_epoch, jsonb_build_object('role', v_role));
        RETURN _outcome('ok', format('claimed %s [%s] as %s', _short(v_task.id), v_stage.name, v_role),
                        jsonb_build_object('task', _task_json(v_task), 'epoch', v_task.claim_epoch,
                                           'role', v_role));
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION heartbeat(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_held record := _hold(_caller(), p_agent, p_task, p_epoch);
    v_task tasks;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    UPDATE tasks SET lease_expires_at = now() + make_interval(secs => s.lease_seconds)
    FROM stages s WHERE s.id = tasks.stage_id AND tasks.id = p_task
    RETURNING tasks.* INTO v_task;
    UPDATE agents SET last_seen_at = now() WHERE id = p_agent;
    RETURN _outcome('ok', format('lease of %s extended to %s', _short(p_task), v_task.lease_expires_at),
                    jsonb_build_object('task', _task_json(v_task), 'epoch', p_epoch));
END $$;

CREATE OR REPLACE FUNCTION note(p_agent uuid, p_task uuid, p_epoch bigint, p_body text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_bad text := _bad_text('note', p_body, 16384, false);
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    PERFORM _log('note', p_task, v_family.id, p_agent, NULL, NULL, p_epoch,
                 jsonb_build_object('body', p_body));
    RETURN _outcome('ok', format('noted on %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_held.task)));
END $$;

-- Moves a held task along its one advance transition and lets go of it.
CREATE OR REPLACE FUNCTION advance(p_agent uuid, p_task uuid, p_epoch bigint,
                                   p_head_commit text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
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
        INSERT INTO reviews (task_id, round, commit, verdict, family_id, agent_id)
        VALUES (p_task, v_task.review_round, v_task.head_commit, 'approve', v_family.id, p_agent);
    END IF;
    UPDATE tasks SET stage_id = v_to.id, open = NOT v_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           head_commit = CASE WHEN v_from.writes_branch THEN COALESCE(p_head_commit, head_commit)
                              ELSE head_commit END,
           writer_family = CASE WHEN v_from.writes_branch THEN v_family.id ELSE writer_family END,
           writer_agent = CASE WHEN v_from.writes_branch THEN p_agent ELSE writer_agent END,
           review_round = review_round + CASE WHEN v_to.reviews_branch THEN 1 ELSE 0 END,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('advanced', p_task, v_family.id, p_agent, v_from.name, v_to.name, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object(
                     'head_commit', v_task.head_commit,
                     'verdict', CASE WHEN v_from.reviews_branch THEN 'approve' END)));
    IF v_to.is_terminal THEN
        -- Closed: tasks waiting on this one have one open dependency fewer.
        UPDATE tasks SET open_deps = open_deps - 1, updated_at = now()
        WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = p_task);
        PERFORM _wake('dependencies');
    ELSE
        PERFORM _wake(v_to.name);
    END IF;
    RETURN _outcome('ok', format('%s: %s -> %s', _short(p_task), v_from.name, v_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text,
                                       p_cause text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_from stages;
    v_to stages;
    v_bad text := _bad_text('reason', p_reason, 4000, false);
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
    IF v_from.reviews_branch THEN
        INSERT INTO reviews (task_id, round, commit, verdict, reason, family_id, agent_id)
        VALUES (p_task, v_task.review_round, v_task.head_commit, 'return', p_reason,
                v_family.id, p_agent);
    END IF;
    UPDATE tasks SET stage_id = v_to.id, open = NOT v_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('returned', p_task, v_family.id, p_agent, v_from.name, v_to.name, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object(
                     'reason', p_reason, 'round', v_task.review_round,
                     'cause', COALESCE(p_cause, CASE WHEN v_from.reviews_branch THEN 'review' END),
                     'writer_family', v_task.writer_family)));
    PERFORM _wake(v_to.name);
    RETURN _outcome('ok', format('%s returned: %s -> %s', _short(p_task), v_from.name, v_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION release(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('released', p_task, v_family.id, p_agent, NULL, NULL, p_epoch);
    PERFORM _wake((SELECT name FROM stages WHERE id = v_task.stage_id));
    RETURN _outcome('ok', format('released %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION block(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_bad text := _bad_text('reason', p_reason, 4000, false);
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           blocked = true, blocked_reason = p_reason, updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('blocked', p_task, v_family.id, p_agent, NULL, NULL, p_epoch,
                 jsonb_build_object('reason', p_reason));
    RETURN _outcome('ok', format('blocked %s for a person', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

-- Only a family that may take the first step out of a create transition's source stage
-- (the designer, in the default workflow) may create tasks; they land in its target stage.
CREATE OR REPLACE FUNCTION create_task(p_agent uuid, p_title text, p_body text, p_priority integer,
                                       p_depends_on uuid[], p_parent uuid, p_workflow text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_workflow workflows;
    v_target bigint;
    v_needed text[];
    v_task tasks;
    v_bad text;
    v_missing uuid;
BEGIN
    IF v_family.id IS NULL OR NOT EXISTS (
            SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = v_family.id) THEN
        RETURN _refuse_unheld(v_family, p_agent, NULL, NULL, NULL);
    END IF;
    SELECT * INTO v_workflow FROM workflows WHERE name = p_workflow;
    IF v_workflow.id IS NULL THEN
        RETURN _outcome('not_found', format('no workflow %L', p_workflow));
    END IF;
    SELECT array_agg(DISTINCT a.role) INTO v_needed
    FROM transitions c
    JOIN transitions a ON a.from_stage_id = c.from_stage_id AND a.kind = 'advance'
    WHERE c.workflow_id = v_workflow.id AND c.kind = 'create';
    SELECT min(c.to_stage_id) INTO v_target
    FROM transitions c
    JOIN transitions a ON a.from_stage_id = c.from_stage_id AND a.kind = 'advance'
    WHERE c.workflow_id = v_workflow.id AND c.kind = 'create' AND _has_role(v_family.id, a.role);
    IF v_target IS NULL THEN
        RETURN _outcome('not_allowed', format(
            'family %s may not create tasks in workflow %s: that needs the %s role, the first step of the workflow',
            v_family.name, v_workflow.name, COALESCE(array_to_string(v_needed, ' or '), 'designer')));
    END IF;
    v_bad := COALESCE(_bad_text('title', p_title, 200, true),
                      _bad_text_or_empty('body', p_body, 65536, false),
                      CASE WHEN p_priority NOT BETWEEN -1000 AND 1000
                           THEN 'priority must be between -1000 and 1000' END);
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    IF p_parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks WHERE id = p_parent) THEN
        RETURN _outcome('not_found', format('no parent task %s', p_parent));
    END IF;
    SELECT d INTO v_missing FROM unnest(COALESCE(p_depends_on, '{}')) d
    WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE id = d) LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RETURN _outcome('not_found', format('no task %s to depend on', v_missing));
    END IF;
    INSERT INTO tasks (workflow_id, stage_id, title, body, priority, parent_id, created_by,
                       created_family, open_deps)
    VALUES (v_workflow.id, v_target, btrim(p_title), COALESCE(p_body, ''), COALESCE(p_priority, 0),
            p_parent, session_user, v_family.id,
            (SELECT count(DISTINCT d) FROM unnest(COALESCE(p_depends_on, '{}')) d
             JOIN tasks dt ON dt.id = d WHERE dt.open))
    RETURNING * INTO v_task;
    INSERT INTO task_deps (task_id, depends_on)
    SELECT DISTINCT v_task.id, d FROM unnest(COALESCE(p_depends_on, '{}')) d;
    PERFORM _log('created', v_task.id, v_family.id, p_agent, NULL,
                 (SELECT name FROM stages WHERE id = v_target), NULL,
                 jsonb_strip_nulls(jsonb_build_object('title', v_task.title, 'parent_id', p_parent)));
    PERFORM _wake((SELECT name FROM stages WHERE id = v_target));
    RETURN _outcome('ok', format('created %s %s', _short(v_task.id), v_task.title),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION set_base(p_agent uuid, p_task uuid, p_epoch bigint, p_base text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    v_task := v_held.task;
    IF p_base IS NULL OR p_base !~ '^[0-9a-f]{40}([0-9a-f]{24})?$' THEN
        RETURN _outcome('invalid', 'base commit must be a full hex object id');
    END IF;
    IF v_task.base_commit IS DISTINCT FROM p_base THEN
        UPDATE tasks SET base_commit = p_base, updated_at = now() WHERE id = p_task
        RETURNING * INTO v_task;
        PERFORM _log('based', p_task, v_family.id, p_agent, NULL, NULL, p_epoch,
                     jsonb_build_object('base_commit', p_base, 'branch', v_task.branch));
    END IF;
    RETURN _outcome('ok', format('%s based on %s', v_task.branch, left(p_base, 12)),
                    jsonb_build_object('task', _task_json(v_task), 'epoch', p_epoch));
END $$;

CREATE OR REPLACE FUNCTION resume(p_agent uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_out jsonb := '[]';
    v_task tasks;
    v_role text;
BEGIN
    IF v_family.id IS NULL OR NOT EXISTS (
            SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = v_family.id) THEN
        RETURN _refuse_unheld(v_family, p_agent, NULL, NULL, NULL);
    END IF;
    FOR v_task IN
        SELECT * FROM tasks WHERE holder_agent = p_agent AND lease_expires_at >= now()
        ORDER BY priority DESC, seq FOR NO KEY UPDATE
    LOOP
        UPDATE tasks SET claim_epoch = claim_epoch + 1, updated_at = now(),
               lease_expires_at = now() + make_interval(secs => s.lease_seconds)
        FROM stages s WHERE s.id = tasks.stage_id AND tasks.id = v_task.id
        RETURNING tasks.* INTO v_task;
        SELECT tr.role INTO v_role FROM transitions tr
        WHERE tr.from_stage_id = v_task.stage_id AND tr.kind = 'advance';
        PERFORM _log('claimed', v_task.id, v_family.id, p_agent,
                     (SELECT name FROM stages WHERE id = v_task.stage_id), NULL,
                     v_task.claim_epoch, jsonb_build_object('role', v_role, 'resumed', true));
        v_out := v_out || jsonb_build_object('task', _task_json(v_task),
                                             'epoch', v_task.claim_epoch, 'role', v_role);
    END LOOP;
    RETURN _outcome('ok', format('%s held task(s) resumed', jsonb_array_length(v_out)),
                    jsonb_build_object('held', v_out));
END $$;

CREATE OR REPLACE FUNCTION annotate(p_agent uuid, p_task uuid, p_epoch bigint, p_file text,
                                    p_line integer, p_side text, p_severity text, p_body text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_stage stages;
    v_bad text := _bad_text('body', p_body, 16384, false);
    v_id bigint;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    v_task := v_held.task;
    SELECT * INTO v_stage FROM stages WHERE id = v_task.stage_id;
    IF NOT v_stage.reviews_branch THEN
        RETURN _outcome('not_allowed', format(
            'task %s is in stage %s; annotations belong to a review', _short(p_task), v_stage.name));
    END IF;
    IF v_task.head_commit IS NULL THEN
        RETURN _outcome('invalid', 'the task has no head commit to annotate');
    END IF;
    IF p_side NOT IN ('new', 'old') OR p_side IS NULL THEN
        RETURN _outcome('invalid', 'side must be new or old');
    END IF;
    IF p_severity NOT IN ('blocker', 'major', 'minor', 'nit') OR p_severity IS NULL THEN
        RETURN _outcome('invalid', 'severity must be blocker, major, minor or nit');
    END IF;
    IF p_line IS NULL OR p_line < 1 OR p_line > 10000000 THEN
        RETURN _outcome('invalid', format('line %s is out of range', p_line));
    END IF;
    IF p_file IS NULL OR length(p_file) NOT BETWEEN 1 AND 4096 OR p_file ~ '[[:cntrl:]]' THEN
        RETURN _outcome('invalid', 'file must be a path of the diff');
    END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    INSERT INTO annotations (task_id, round, commit, file, line, side, severity, body, family_id, agent_id)
    VALUES (p_task, v_task.review_round, v_task.head_commit, p_file, p_line, p_side, p_severity,
            p_body, v_family.id, p_agent)
    RETURNING id INTO v_id;
    PERFORM _log('annotated', p_task, v_family.id, p_agent, NULL, NULL, p_epoch,
                 jsonb_build_object('annotation', v_id, 'file', p_file, 'line', p_line,
                                    'severity', p_severity));
    RETURN _outcome('ok', format('annotated %s:%s of %s', p_file, p_line, _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task), 'annotation', v_id));
END $$;

-- ---------------------------------------------------------------------------------------
-- Operator verbs that store text or take a task's lock.

CREATE OR REPLACE FUNCTION brief(p_title text, p_body text, p_priority integer, p_workflow text)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_workflow workflows;
    v_stage stages;
    v_task tasks;
    v_bad text;
BEGIN
    SELECT * INTO v_workflow FROM workflows WHERE name = p_workflow;
    IF v_workflow.id IS NULL THEN
        RETURN _outcome('not_found', format('no workflow %L', p_workflow));
    END IF;
    SELECT * INTO v_stage FROM stages WHERE workflow_id = v_workflow.id AND is_initial;
    v_bad := COALESCE(_bad_text('title', p_title, 200, true),
                      _bad_text_or_empty('body', p_body, 65536, false),
                      CASE WHEN p_priority NOT BETWEEN -1000 AND 1000
                           THEN 'priority must be between -1000 and 1000' END);
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    INSERT INTO tasks (workflow_id, stage_id, title, body, priority, created_by)
    VALUES (v_workflow.id, v_stage.id, btrim(p_title), COALESCE(p_body, ''), COALESCE(p_priority, 0),
            session_user)
    RETURNING * INTO v_task;
    PERFORM _log('briefed', v_task.id, NULL, NULL, NULL, v_stage.name, NULL,
                 jsonb_build_object('title', v_task.title));
    PERFORM _wake(v_stage.name);
    RETURN _outcome('ok', format('brief %s %s', _short(v_task.id), v_task.title),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION unblock(p_task uuid, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_task tasks;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR NO KEY UPDATE;
    IF v_task.id IS NULL THEN RETURN _outcome('not_found', format('no task %s', p_task)); END IF;
    IF NOT v_task.blocked THEN
        RETURN _outcome('illegal_transition', format('task %s is not blocked', _short(p_task)));
    END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    UPDATE tasks SET blocked = false, blocked_reason = NULL, attempts = 0, updated_at = now()
    WHERE id = p_task RETURNING * INTO v_task;
    PERFORM _log('unblocked', p_task, NULL, NULL, NULL, NULL, NULL, jsonb_build_object('reason', p_reason));
    PERFORM _wake((SELECT name FROM stages WHERE id = v_task.stage_id));
    RETURN _outcome('ok', format('unblocked %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

-- ---------------------------------------------------------------------------------------
-- Connections: a family cannot take every connection, nor sit in a session for ever.
--
-- The timeouts are role defaults, and a family may SET them otherwise in its own session
-- (they are user settings): they stop a buggy client, not a hostile one. What stops a
-- hostile family from freezing others' tasks is `_hold` above; the connection limit is
-- enforced by the server at login.

CREATE FUNCTION _family_limits(p_role text) RETURNS void
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_limit integer := COALESCE(
        (SELECT value::integer FROM settings WHERE key = 'family_connection_limit'), 16);
BEGIN
    EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', p_role, v_limit);
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', p_role,
                   COALESCE((SELECT value FROM settings WHERE key = 'family_statement_timeout'), '60s'));
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', p_role,
                   COALESCE((SELECT value FROM settings
                             WHERE key = 'family_idle_in_transaction_timeout'), '60s'));
    IF current_setting('server_version_num')::integer >= 170000 THEN
        EXECUTE format('ALTER ROLE %I SET transaction_timeout = %L', p_role,
                       COALESCE((SELECT value FROM settings
                                 WHERE key = 'family_transaction_timeout'), '5min'));
    END IF;
END $$;

-- May `p_role` use the connections PostgreSQL 16+ reserves (reserved_connections)? Skipped,
-- with a notice, where the role pg_use_reserved_connections does not exist (before 16) or
-- the operator may not grant it (an external server's non-superuser owner).
CREATE FUNCTION _reserve_connections(p_role text) RETURNS void
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_use_reserved_connections') THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('GRANT pg_use_reserved_connections TO %I', p_role);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'role % may not use the reserved connections (%); a superuser can run GRANT pg_use_reserved_connections TO %',
            p_role, SQLERRM, quote_ident(p_role);
    END;
END $$;

CREATE OR REPLACE FUNCTION family_add(p_name text, p_tool text, p_model text, p_password text)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_role text;
    v_group text := (SELECT value FROM settings WHERE key = 'agent_group');
    v_id bigint;
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9._+-]{0,63}$' THEN
        RETURN _outcome('invalid', format('family name %L: use 1-64 lowercase letters, digits or ._+- (e.g. claude-code+sonnet)', p_name));
    END IF;
    IF p_tool IS NULL OR p_tool !~ '^[a-z0-9][a-z0-9._-]{0,63}$' THEN
        RETURN _outcome('invalid', format('tool %L: use lowercase letters, digits or ._- (e.g. claude-code)', p_tool));
    END IF;
    IF p_model IS NULL OR p_model !~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$' THEN
        RETURN _outcome('invalid', format('model %L: use letters, digits or ._:/- (e.g. sonnet)', p_model));
    END IF;
    IF EXISTS (SELECT 1 FROM families WHERE name = p_name) THEN
        RETURN _outcome('invalid', format('family %s already exists', p_name));
    END IF;
    -- Role names are cluster-wide: prefix with this board's digest, suffix with the name's.
    v_role := format('af_%s_%s_%s', left(md5(current_database()), 6),
                     left(regexp_replace(p_name, '[^a-z0-9]', '_', 'g'), 32), left(md5(p_name), 6));
    EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', v_role, p_password, v_group);
    PERFORM _family_limits(v_role);
    INSERT INTO families (name, tool, model, db_role) VALUES (p_name, p_tool, p_model, v_role)
    RETURNING id INTO v_id;
    PERFORM _log('family_added', NULL, v_id, NULL, NULL, NULL, NULL,
                 jsonb_build_object('tool', p_tool, 'model', p_model));
    RETURN _outcome('ok', format('family %s added', p_name),
                    jsonb_build_object('family', jsonb_build_object('name', p_name, 'db_role', v_role)));
END $$;

-- Operator only: create (or re-key) this board's gate login. Returns its role name. It may
-- use the reserved connections, so a family filling the server cannot stop every push.
CREATE OR REPLACE FUNCTION gate_login(p_password text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
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
        ainarres.gate_task_branch(text), ainarres.gate_integrations(uuid[]) TO %I', v_role);
    PERFORM _reserve_connections(v_role);
    INSERT INTO settings (key, value) VALUES ('gate_role', v_role)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    RETURN _outcome('ok', format('gate login %s ready', v_role),
                    jsonb_build_object('family', jsonb_build_object('db_role', v_role)));
END $$;

-- Existing families and gate login; and the operator (on an external server, where it may
-- not be a superuser with the superuser's reserved connections).
DO $$
DECLARE
    v_role text;
BEGIN
    FOR v_role IN SELECT db_role FROM ainarres.families ORDER BY id LOOP
        PERFORM ainarres._family_limits(v_role);
    END LOOP;
    FOR v_role IN SELECT value FROM ainarres.settings s JOIN pg_roles r ON r.rolname = s.value
                  WHERE s.key = 'gate_role' LOOP
        PERFORM ainarres._reserve_connections(v_role);
    END LOOP;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        PERFORM ainarres._reserve_connections(current_user);
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------
-- Every SECURITY DEFINER function waits at most 5 s for a lock (those redefined above say
-- so themselves; this covers the rest). A wait that times out is an error, so the verb's
-- transaction rolls back whole.
DO $$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN SELECT p.oid FROM pg_proc p
                WHERE p.pronamespace = 'ainarres'::regnamespace AND p.prosecdef LOOP
        EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', v_fn, '5s');
    END LOOP;
END $$;

-- New helpers are nobody's but the owner's; families keep exactly the grants they had.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ainarres FROM PUBLIC;
