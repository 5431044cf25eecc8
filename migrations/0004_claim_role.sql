-- claim_next can be narrowed to one role: the integrator process claims integration steps
-- only, even when its family holds other roles too.

SET LOCAL search_path = ainarres, pg_temp;

ALTER FUNCTION claim_next(uuid) RENAME TO _claim_next_any;

CREATE FUNCTION claim_next(p_agent uuid, p_role text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_stages bigint[];
    v_task tasks;
    v_stage stages;
    v_role text;
BEGIN
    IF v_family.id IS NULL OR NOT EXISTS (
            SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = v_family.id) THEN
        RETURN _refuse_unheld(v_family, p_agent, NULL, NULL, NULL);
    END IF;
    IF p_role IS NOT NULL AND NOT EXISTS (SELECT 1 FROM roles WHERE name = p_role) THEN
        RETURN _outcome('not_found', format('no role %L', p_role));
    END IF;
    UPDATE agents SET last_seen_at = now() WHERE id = p_agent;

    SELECT array_agg(tr.from_stage_id) INTO v_stages
    FROM transitions tr
    WHERE tr.kind = 'advance' AND (p_role IS NULL OR tr.role = p_role)
      AND _has_role(v_family.id, tr.role);
    IF v_stages IS NULL THEN
        RETURN _outcome('not_allowed', format(
            'family %s holds no %s that takes a step; a person grants roles with `ainarres grant`',
            v_family.name, COALESCE('active ' || p_role || ' role', 'role')));
    END IF;

    LOOP
        -- The best claimable task of each stage this family may work, each found by walking
        -- tasks_claim; rows other claimers hold locked are skipped, not waited for.
        SELECT c.* INTO v_task
        FROM unnest(v_stages) AS s(stage_id)
        CROSS JOIN LATERAL (
            SELECT t.* FROM tasks t
            WHERE t.stage_id = s.stage_id AND t.open AND NOT t.blocked
              AND (t.lease_expires_at IS NULL OR t.lease_expires_at < now())
              AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks dt ON dt.id = d.depends_on
                              WHERE d.task_id = t.id AND dt.open)
            ORDER BY t.priority DESC, t.seq
            LIMIT 1
            FOR UPDATE SKIP LOCKED) c
        ORDER BY c.priority DESC, c.seq
        LIMIT 1;

        IF v_task.id IS NULL THEN
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

DROP FUNCTION _claim_next_any(uuid);
REVOKE ALL ON FUNCTION claim_next(uuid, text) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.claim_next(uuid, text) TO %I',
                   (SELECT value FROM ainarres.settings WHERE key = 'agent_group'));
END $$;
