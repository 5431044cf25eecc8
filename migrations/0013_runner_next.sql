-- The runner's loop on "done and next" (issue 19), and a verdict's stages looked up once.
--
-- 1. advance_and_claim takes the claim's lease, as claim_next does: the runner claims its
--    next task in the transaction that records this one done, with its own lease (ADR
--    0012). The five-argument function is replaced by one whose roles and lease default
--    to NULL, so a call with five arguments means what it meant.
-- 2. advance and return_task looked up the step's stages, then _advance_core and
--    _return_core looked them up again. The steps now take them (_advance_step,
--    _return_step); the cores stay for canary_apply, which has no stages at hand. The
--    canary hold of a new review round is written where its rate was checked.
-- 3. claim_next plans its statements once per session (a generic plan), not on every
--    call: its claim query, with its parameters (the stages, the pass, the family), was
--    planned anew each time because the planner priced a custom plan cheaper, which cost
--    ~0.4 ms of a done+next cycle's ~1.3 ms of server time (benchmarks/claim_throughput.py).

SET LOCAL search_path = ainarres, pg_temp;

-- ---------------------------------------------------------------------------------------
-- 1

DROP FUNCTION advance_and_claim(uuid, uuid, bigint, text, text[]);

CREATE FUNCTION advance_and_claim(p_agent uuid, p_task uuid, p_epoch bigint,
                                  p_head_commit text, p_roles text[] DEFAULT NULL,
                                  p_lease_seconds integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s'
AS $$
DECLARE
    v_done jsonb := advance(p_agent, p_task, p_epoch, p_head_commit);
BEGIN
    IF v_done->>'outcome' <> 'ok' THEN
        RETURN v_done;
    END IF;
    RETURN claim_next(p_agent, p_roles, p_lease_seconds) || jsonb_build_object('done', v_done);
END $$;

CALL _grant_execute('agents', 'advance_and_claim(uuid, uuid, bigint, text, text[], integer)');

-- ---------------------------------------------------------------------------------------
-- 2

CREATE FUNCTION _advance_step(p_task tasks, p_from stages, p_to stages, p_family families,
                              p_agent uuid, p_epoch bigint, p_head_commit text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks;
BEGIN
    IF p_from.reviews_branch THEN
        INSERT INTO reviews (task_id, round, commit, verdict, family_id, agent_id)
        VALUES (p_task.id, p_task.review_round, p_task.head_commit, 'approve', p_family.id,
                p_agent);
    END IF;
    UPDATE tasks SET stage_id = p_to.id, open = NOT p_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           head_commit = CASE WHEN p_from.writes_branch THEN COALESCE(p_head_commit, head_commit)
                              ELSE head_commit END,
           writer_family = CASE WHEN p_from.writes_branch THEN p_family.id ELSE writer_family END,
           writer_agent = CASE WHEN p_from.writes_branch THEN p_agent ELSE writer_agent END,
           review_round = review_round + CASE WHEN p_to.reviews_branch THEN 1 ELSE 0 END,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task.id
    RETURNING * INTO v_task;
    IF p_to.reviews_branch AND (SELECT rate > 0 FROM ainarres_private.canary_settings) THEN
        -- Canaries are on: the new round waits for the canary service (_canary_hold).
        INSERT INTO ainarres_private.review_holds (task_id, round, restore)
        VALUES (v_task.id, v_task.review_round, false)
        ON CONFLICT (task_id) DO UPDATE
            SET round = EXCLUDED.round, restore = EXCLUDED.restore, since = now();
    END IF;
    -- The head a review step starts from is on the task row, not in the log: a seeded round
    -- (ADR 0018) replaces it before any reviewer sees it.
    PERFORM _log('advanced', v_task.id, p_family.id, p_agent, p_from.name, p_to.name, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object(
                     'head_commit', CASE WHEN NOT p_to.reviews_branch THEN v_task.head_commit END,
                     'verdict', CASE WHEN p_from.reviews_branch THEN 'approve' END)));
    IF p_to.is_terminal THEN
        -- Closed: tasks waiting on this one have one open dependency fewer.
        UPDATE tasks SET open_deps = open_deps - 1, updated_at = now()
        WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on = v_task.id);
        PERFORM _wake('dependencies');
    ELSE
        PERFORM _wake(p_to.name);
    END IF;
    RETURN _outcome('ok', format('%s: %s -> %s', _short(v_task.id), p_from.name, p_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION _advance_core(p_task tasks, p_family families, p_agent uuid,
                                         p_epoch bigint, p_head_commit text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_from stages;
    v_to stages;
BEGIN
    SELECT * INTO v_from FROM stages WHERE id = p_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'advance';
    RETURN _advance_step(p_task, v_from, v_to, p_family, p_agent, p_epoch, p_head_commit);
END $$;

CREATE FUNCTION _return_step(p_task tasks, p_from stages, p_to stages, p_family families,
                             p_agent uuid, p_epoch bigint, p_reason text, p_cause text,
                             p_detail text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_task tasks;
BEGIN
    IF p_from.reviews_branch THEN
        INSERT INTO reviews (task_id, round, commit, verdict, reason, family_id, agent_id)
        VALUES (p_task.id, p_task.review_round, p_task.head_commit, 'return', p_reason,
                p_family.id, p_agent);
    END IF;
    UPDATE tasks SET stage_id = p_to.id, open = NOT p_to.is_terminal,
           holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL, attempts = 0,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task.id
    RETURNING * INTO v_task;
    PERFORM _log('returned', v_task.id, p_family.id, p_agent, p_from.name, p_to.name, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object(
                     'reason', p_reason, 'round', v_task.review_round,
                     'cause', COALESCE(p_cause, CASE WHEN p_from.reviews_branch THEN 'review' END),
                     'detail', NULLIF(p_detail, ''),
                     'writer_family', v_task.writer_family)));
    PERFORM _wake(p_to.name);
    RETURN _outcome('ok', format('%s returned: %s -> %s', _short(v_task.id), p_from.name,
                                 p_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION _return_core(p_task tasks, p_family families, p_agent uuid,
                                        p_epoch bigint, p_reason text, p_cause text,
                                        p_detail text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_from stages;
    v_to stages;
BEGIN
    SELECT * INTO v_from FROM stages WHERE id = p_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'return';
    RETURN _return_step(p_task, v_from, v_to, p_family, p_agent, p_epoch, p_reason, p_cause,
                        p_detail);
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
    RETURN _advance_step(v_task, v_from, v_to, v_family, p_agent, p_epoch, p_head_commit);
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
    RETURN _return_step(v_task, v_from, v_to, v_family, p_agent, p_epoch, p_reason, p_cause,
                        p_detail);
END $$;

-- canary_apply (the operator's) reaches the steps through the cores.
CALL _grant_execute('operator',
    '_advance_step(tasks, stages, stages, families, uuid, bigint, text)',
    '_return_step(tasks, stages, stages, families, uuid, bigint, text, text, text)');

-- ---------------------------------------------------------------------------------------
-- 3

ALTER FUNCTION claim_next(uuid, text[], integer) SET plan_cache_mode = force_generic_plan;
