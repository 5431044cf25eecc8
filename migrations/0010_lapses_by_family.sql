-- Red-team round: a family could block any task of its stages by claiming it with short
-- leases under new agent names and letting them lapse, and governance never counted it,
-- since each lapsed agent was never seen again.
--
-- 1. A lapse is "seen" when any agent of the holder's *family* was seen after the lease
--    ran out (the family kept talking to the board), not only that agent (ADR 0011).
-- 2. Governance counts abandonment in every role: a lapse is judged against the role of
--    the stage it happened in, and designers and reviewers get the policy implementers had.
-- 3. The lazy reclaim of an expired lease is one helper, `_reclaim`, so the next change of
--    the claim does not copy it again.

SET LOCAL search_path = ainarres, pg_temp;

-- Log an expired lease and count the attempt; true when that blocked the task.
CREATE FUNCTION _reclaim(v_task tasks, v_stage stages) RETURNS boolean
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_seen boolean := EXISTS (SELECT 1 FROM agents a
                              WHERE a.family_id = v_task.holder_family
                                AND a.last_seen_at > v_task.lease_expires_at);
BEGIN
    PERFORM _log('lease_expired', v_task.id, v_task.holder_family, v_task.holder_agent,
                 v_stage.name, NULL, v_task.claim_epoch,
                 jsonb_build_object('attempts', v_task.attempts + 1,
                                    'expired_at', v_task.lease_expires_at,
                                    'seen_after_expiry', v_seen));
    IF v_task.attempts + 1 < v_stage.max_attempts THEN
        RETURN false;
    END IF;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           claim_lease_seconds = NULL, attempts = attempts + 1, blocked = true,
           updated_at = now(),
           blocked_reason = format('%s leases expired in stage %s (max %s); a person must look',
                                   attempts + 1, v_stage.name, v_stage.max_attempts)
    WHERE id = v_task.id;
    PERFORM _log('blocked', v_task.id, NULL, NULL, v_stage.name, NULL, v_task.claim_epoch,
                 jsonb_build_object('reason', format('%s leases expired in stage %s (max %s)',
                                                     v_task.attempts + 1, v_stage.name,
                                                     v_stage.max_attempts)));
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
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

-- 2: abandonment is judged in the role of the stage where the lease lapsed.
CREATE OR REPLACE FUNCTION events_govern() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
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
    ELSIF NEW.kind = 'usage' THEN
        PERFORM _govern(NEW.family_id, 'implementer');
    END IF;
    RETURN NULL;
END $$;

INSERT INTO policies (name, role, metric, threshold, window_span, denial_base, description) VALUES
    ('reviewer-abandons', 'reviewer', 'abandoned', 3, '1 day', '30 minutes',
     'a reviewer that let N leases expire in the window while it was still working'),
    ('designer-abandons', 'designer', 'abandoned', 3, '1 day', '30 minutes',
     'a designer that let N leases expire in the window while it was still working')
ON CONFLICT (name) DO NOTHING;

REVOKE ALL ON FUNCTION _reclaim(tasks, stages) FROM PUBLIC;
