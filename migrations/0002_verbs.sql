-- The verbs. Each is one function call, so one transaction, returning a structured outcome:
--   {"outcome": "ok" | "empty" | "lease_lost" | "not_allowed" | "illegal_transition"
--               | "blocked" | "not_found" | "invalid", "message": "...", ...}
-- A refusal changes nothing. Agent verbs are SECURITY DEFINER and identify the caller's
-- family by session_user; operator verbs run with the caller's own rights, and family roles
-- may not execute them at all.

SET LOCAL search_path = ainarres, pg_temp;

-- ---------------------------------------------------------------------------------------
-- Helpers (not granted to anyone).

CREATE FUNCTION _outcome(p_outcome text, p_message text, p_extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('outcome', p_outcome, 'message', p_message) || p_extra
$$;

CREATE FUNCTION _short(p_id uuid) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '…' || right(replace(p_id::text, '-', ''), 4)
$$;

-- The caller's family, from the authenticated role; NULL id when the role is no family's.
CREATE FUNCTION _caller() RETURNS families LANGUAGE sql STABLE AS $$
    SELECT f FROM ainarres.families f WHERE f.db_role = session_user
$$;

-- An unexpired grant and no active denial.
CREATE FUNCTION _has_role(p_family bigint, p_role text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ainarres.grants g
                   WHERE g.family_id = p_family AND g.role = p_role
                     AND (g.expires_at IS NULL OR g.expires_at > now()))
       AND NOT EXISTS (SELECT 1 FROM ainarres.denials d
                       WHERE d.family_id = p_family AND d.role = p_role AND d.lifted_at IS NULL
                         AND (d.expires_at IS NULL OR d.expires_at > now()))
$$;

-- NULL when the text is acceptable, else why not.
CREATE FUNCTION _bad_text(p_field text, p_value text, p_max integer, p_single_line boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_value IS NULL OR length(btrim(p_value)) = 0 THEN p_field || ' must not be empty'
        WHEN octet_length(p_value) > p_max
            THEN format('%s is %s bytes; the limit is %s', p_field, octet_length(p_value), p_max)
        WHEN p_single_line AND p_value ~ '[[:cntrl:]]'
            THEN p_field || ' must be one line without control characters'
        WHEN p_value ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'
            THEN p_field || ' contains control characters other than tab and newline'
    END
$$;

CREATE FUNCTION _task_json(t tasks) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'short_id', ainarres._short(t.id), 'title', t.title, 'body', t.body,
        'workflow', w.name, 'stage', s.name, 'writes_branch', s.writes_branch,
        'priority', t.priority, 'parent_id', t.parent_id,
        'open', t.open, 'holder_agent', t.holder_agent, 'holder_family', hf.name,
        'lease_expires_at', t.lease_expires_at, 'claim_epoch', t.claim_epoch,
        'attempts', t.attempts, 'blocked', t.blocked, 'blocked_reason', t.blocked_reason,
        'branch', t.branch, 'base_commit', t.base_commit, 'head_commit', t.head_commit,
        'created_by', t.created_by, 'created_at', t.created_at, 'updated_at', t.updated_at,
        'stage_entered_at', t.stage_entered_at, 'review_round', t.review_round,
        'depends_on', COALESCE((SELECT jsonb_agg(d.depends_on ORDER BY d.depends_on)
                                FROM ainarres.task_deps d WHERE d.task_id = t.id), '[]'))
    FROM ainarres.stages s
    JOIN ainarres.workflows w ON w.id = s.workflow_id
    LEFT JOIN ainarres.families hf ON hf.id = t.holder_family
    WHERE s.id = t.stage_id
$$;

CREATE FUNCTION _log(p_kind text, p_task uuid, p_family bigint, p_agent uuid,
                     p_from text, p_to text, p_epoch bigint, p_data jsonb DEFAULT '{}')
RETURNS void LANGUAGE sql AS $$
    INSERT INTO ainarres.events (kind, task_id, family_id, agent_id, from_stage, to_stage, epoch, data)
    VALUES (p_kind, p_task, p_family, p_agent, p_from, p_to, p_epoch, p_data)
$$;

-- Wakes `next --wait` sleepers; the payload says what changed (a stage's name, or roles).
-- Only when someone sleeps: a NOTIFY takes a database-wide lock until its commit is on disk,
-- which would serialise every advance of a busy board for nobody.
CREATE FUNCTION _wake(p_what text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('ainarres_board', p_what)
    WHERE EXISTS (SELECT 1 FROM ainarres.agents
                  WHERE waiting_since > now() - interval '2 minutes')
$$;

-- Is (family, agent) allowed to act on held task t at epoch p_epoch? NULL if yes.
CREATE FUNCTION _refuse_unheld(p_family families, p_agent uuid, t tasks, p_task uuid, p_epoch bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_family.id IS NULL THEN
        RETURN _outcome('not_allowed', format(
            'database role %s is not a family''s role; connect with a family credential', session_user));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = p_family.id) THEN
        RETURN _outcome('not_allowed', format(
            'agent %s is not an agent of family %s; start one with `ainarres next`', p_agent, p_family.name));
    END IF;
    IF t.id IS NULL THEN
        RETURN _outcome('not_found', format('no task %s', p_task));
    END IF;
    IF t.holder_agent IS NOT DISTINCT FROM p_agent AND t.claim_epoch = p_epoch
       AND t.lease_expires_at >= now() THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM events e WHERE e.task_id = t.id AND e.kind = 'claimed'
               AND e.agent_id = p_agent AND e.epoch = p_epoch) THEN
        RETURN _outcome('lease_lost', format(
            'task %s is no longer yours: your claim (epoch %s) %s; drop this work and ask for the next task',
            _short(t.id), p_epoch,
            CASE WHEN t.claim_epoch > p_epoch THEN 'was reclaimed by another agent after the lease expired'
                 WHEN t.holder_agent IS NULL THEN 'ended (released, returned, advanced or blocked)'
                 ELSE 'expired' END),
            jsonb_build_object('task', _task_json(t)));
    END IF;
    RETURN _outcome('not_allowed', format(
        'task %s is not held by agent %s at epoch %s; claim it with `ainarres next` first',
        _short(t.id), p_agent, p_epoch));
END $$;

CREATE FUNCTION _approved_commit(p_task uuid) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT r.commit FROM ainarres.reviews r JOIN ainarres.tasks t ON t.id = r.task_id
    WHERE r.task_id = p_task AND r.round = t.review_round AND r.verdict = 'approve'
    ORDER BY r.id DESC LIMIT 1
$$;

-- ---------------------------------------------------------------------------------------
-- Agent verbs.

CREATE FUNCTION agent_start(p_name text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_id uuid;
BEGIN
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_allowed', format(
            'database role %s is not a family''s role; connect with a family credential', session_user));
    END IF;
    IF p_name IS NULL OR p_name !~ '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$' THEN
        RETURN _outcome('invalid', 'agent name must be 1-128 letters, digits or ._:@+- and start with a letter or digit');
    END IF;
    INSERT INTO agents (family_id, name) VALUES (v_family.id, p_name)
    ON CONFLICT (family_id, name) DO UPDATE SET last_seen_at = now()
    RETURNING id INTO v_id;
    RETURN _outcome('ok', format('agent %s of family %s', p_name, v_family.name),
                    jsonb_build_object('agent', jsonb_build_object(
                        'id', v_id, 'name', p_name, 'family', v_family.name)));
END $$;

-- `next --wait` says it sleeps (so state changes NOTIFY) and that it woke up.
CREATE FUNCTION wait_begin(p_agent uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    UPDATE ainarres.agents a SET waiting_since = now()
    FROM ainarres.families f
    WHERE a.id = p_agent AND f.id = a.family_id AND f.db_role = session_user
$$;

CREATE FUNCTION wait_end(p_agent uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    UPDATE ainarres.agents a SET waiting_since = NULL
    FROM ainarres.families f
    WHERE a.id = p_agent AND f.id = a.family_id AND f.db_role = session_user
$$;

CREATE FUNCTION claim_next(p_agent uuid, p_roles text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
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
            FOR UPDATE SKIP LOCKED) c
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

CREATE FUNCTION heartbeat(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks;
    v_refusal jsonb;
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(_caller(), p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
    UPDATE tasks SET lease_expires_at = now() + make_interval(secs => s.lease_seconds)
    FROM stages s WHERE s.id = tasks.stage_id AND tasks.id = p_task
    RETURNING tasks.* INTO v_task;
    UPDATE agents SET last_seen_at = now() WHERE id = p_agent;
    RETURN _outcome('ok', format('lease of %s extended to %s', _short(p_task), v_task.lease_expires_at),
                    jsonb_build_object('task', _task_json(v_task), 'epoch', p_epoch));
END $$;

CREATE FUNCTION note(p_agent uuid, p_task uuid, p_epoch bigint, p_body text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
    v_bad text := _bad_text('note', p_body, 16384, false);
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    PERFORM _log('note', p_task, v_family.id, p_agent, NULL, NULL, p_epoch,
                 jsonb_build_object('body', p_body));
    RETURN _outcome('ok', format('noted on %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

-- Moves a held task along its one advance transition and lets go of it.
CREATE FUNCTION advance(p_agent uuid, p_task uuid, p_epoch bigint,
                                   p_head_commit text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
    v_from stages;
    v_to stages;
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
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

CREATE FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
    v_from stages;
    v_to stages;
    v_bad text := _bad_text('reason', p_reason, 4000, false);
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    SELECT * INTO v_from FROM stages WHERE id = v_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'return';
    IF v_to.id IS NULL THEN
        RETURN _outcome('illegal_transition', format(
            'a task in stage %s cannot be returned; release it or block it instead', v_from.name));
    END IF;
    IF v_from.reviews_branch THEN
        INSERT INTO reviews (task_id, round, commit, verdict, reason, family_id, agent_id)
        VALUES (p_task, v_task.review_round, v_task.head_commit,
                'return', p_reason, v_family.id, p_agent);
    END IF;
    UPDATE tasks SET stage_id = v_to.id, open = NOT v_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('returned', p_task, v_family.id, p_agent, v_from.name, v_to.name, p_epoch,
                 jsonb_build_object('reason', p_reason, 'round', v_task.review_round));
    PERFORM _wake(v_to.name);
    RETURN _outcome('ok', format('%s returned: %s -> %s', _short(p_task), v_from.name, v_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE FUNCTION release(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('released', p_task, v_family.id, p_agent, NULL, NULL, p_epoch);
    PERFORM _wake((SELECT name FROM stages WHERE id = v_task.stage_id));
    RETURN _outcome('ok', format('released %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE FUNCTION block(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
    v_bad text := _bad_text('reason', p_reason, 4000, false);
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
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
CREATE FUNCTION create_task(p_agent uuid, p_title text, p_body text, p_priority integer,
                            p_depends_on uuid[], p_parent uuid, p_workflow text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
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
                      CASE WHEN p_body IS NOT NULL AND octet_length(p_body) > 65536
                           THEN format('body is %s bytes; the limit is 65536', octet_length(p_body)) END,
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

CREATE FUNCTION set_base(p_agent uuid, p_task uuid, p_epoch bigint, p_base text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
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

CREATE FUNCTION resume(p_agent uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
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
        ORDER BY priority DESC, seq FOR UPDATE
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

CREATE FUNCTION annotate(p_agent uuid, p_task uuid, p_epoch bigint, p_file text, p_line integer,
                         p_side text, p_severity text, p_body text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
    v_stage stages;
    v_id bigint;
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
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
    IF p_body IS NULL OR length(btrim(p_body)) = 0 THEN
        RETURN _outcome('invalid', 'body must not be empty');
    END IF;
    IF octet_length(p_body) > 16384 THEN
        RETURN _outcome('invalid', format('body is %s bytes; the limit is 16384', octet_length(p_body)));
    END IF;
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
-- Operator verbs: run with the person's own rights (a family role cannot execute them, and
-- could not write the tables they write anyway).

CREATE FUNCTION brief(p_title text, p_body text, p_priority integer, p_workflow text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
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
                      CASE WHEN octet_length(p_body) > 65536
                           THEN format('body is %s bytes; the limit is 65536', octet_length(p_body)) END,
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

CREATE FUNCTION family_add(p_name text, p_tool text, p_model text, p_password text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
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
    INSERT INTO families (name, tool, model, db_role) VALUES (p_name, p_tool, p_model, v_role)
    RETURNING id INTO v_id;
    PERFORM _log('family_added', NULL, v_id, NULL, NULL, NULL, NULL,
                 jsonb_build_object('tool', p_tool, 'model', p_model));
    RETURN _outcome('ok', format('family %s added', p_name),
                    jsonb_build_object('family', jsonb_build_object('name', p_name, 'db_role', v_role)));
END $$;

CREATE FUNCTION grant_role(p_family text, p_role text, p_expires_at timestamptz) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
    v_role roles;
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', p_family));
    END IF;
    SELECT * INTO v_role FROM roles WHERE name = p_role;
    IF v_role.name IS NULL THEN
        RETURN _outcome('not_found', format('no role %L; roles are %s', p_role,
                        (SELECT string_agg(name, ', ' ORDER BY name) FROM roles WHERE NOT person_only)));
    END IF;
    IF v_role.person_only THEN
        RETURN _outcome('not_allowed', format('role %s is for a person, not a family', p_role));
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
        RETURN _outcome('invalid', 'the expiry is in the past');
    END IF;
    INSERT INTO grants (family_id, role, expires_at, granted_by)
    VALUES (v_family.id, p_role, p_expires_at, session_user)
    ON CONFLICT (family_id, role) DO UPDATE
        SET expires_at = EXCLUDED.expires_at, granted_at = now(), granted_by = EXCLUDED.granted_by;
    PERFORM _log('granted', NULL, v_family.id, NULL, NULL, NULL, NULL,
                 jsonb_strip_nulls(jsonb_build_object('role', p_role, 'expires_at', p_expires_at)));
    PERFORM _wake('roles');
    RETURN _outcome('ok', format('granted %s to %s%s', p_role, p_family,
                    COALESCE(' until ' || p_expires_at::text, '')));
END $$;

CREATE FUNCTION deny_role(p_family text, p_role text, p_reason text, p_expires_at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', p_family));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM roles WHERE name = p_role) THEN
        RETURN _outcome('not_found', format('no role %L', p_role));
    END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
        RETURN _outcome('invalid', 'the expiry is in the past');
    END IF;
    INSERT INTO denials (family_id, role, reason, expires_at, created_by)
    VALUES (v_family.id, p_role, p_reason, p_expires_at, session_user);
    PERFORM _log('denied', NULL, v_family.id, NULL, NULL, NULL, NULL,
                 jsonb_strip_nulls(jsonb_build_object('role', p_role, 'reason', p_reason,
                                                      'expires_at', p_expires_at)));
    RETURN _outcome('ok', format('denied %s to %s %s', p_role, p_family,
                    COALESCE('until ' || p_expires_at::text, 'permanently')));
END $$;

CREATE FUNCTION lift_denial(p_family text, p_role text, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
    v_count integer;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', p_family));
    END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    UPDATE denials SET lifted_at = now(), lifted_by = session_user, lifted_reason = p_reason
    WHERE family_id = v_family.id AND role = p_role AND lifted_at IS NULL
      AND (expires_at IS NULL OR expires_at > now());
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count = 0 THEN
        RETURN _outcome('not_found', format('family %s has no active denial of %L', p_family, p_role));
    END IF;
    PERFORM _log('lifted', NULL, v_family.id, NULL, NULL, NULL, NULL,
                 jsonb_build_object('role', p_role, 'reason', p_reason));
    PERFORM _wake('roles');
    RETURN _outcome('ok', format('lifted %s denial(s) of %s for %s', v_count, p_role, p_family));
END $$;

CREATE FUNCTION unblock(p_task uuid, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR UPDATE;
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
-- Privileges: families read the board and execute the agent verbs; nothing else.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ainarres FROM PUBLIC;
REVOKE ALL ON SCHEMA ainarres FROM PUBLIC;
DO $$
DECLARE
    v_group text := (SELECT value FROM ainarres.settings WHERE key = 'agent_group');
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA ainarres TO %I', v_group);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA ainarres TO %I', v_group);
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.agent_start(text),
        ainarres.wait_begin(uuid), ainarres.wait_end(uuid), ainarres.claim_next(uuid, text[]),
        ainarres.heartbeat(uuid, uuid, bigint), ainarres.note(uuid, uuid, bigint, text),
        ainarres.advance(uuid, uuid, bigint, text), ainarres.return_task(uuid, uuid, bigint, text),
        ainarres.release(uuid, uuid, bigint), ainarres.block(uuid, uuid, bigint, text),
        ainarres.create_task(uuid, text, text, integer, uuid[], uuid, text),
        ainarres.set_base(uuid, uuid, bigint, text), ainarres.resume(uuid),
        ainarres.annotate(uuid, uuid, bigint, text, integer, text, text, text) TO %I', v_group);
    -- The pure read helpers the shared read queries use.
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres._short(uuid),
        ainarres._task_json(ainarres.tasks), ainarres._has_role(bigint, text),
        ainarres._approved_commit(uuid) TO %I', v_group);
END $$;
