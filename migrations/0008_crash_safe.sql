-- Crash-safe: leases that fit the work, one integrate at a time, governance that blames a
-- family only for what it did, and returns that carry their whole story.
--
-- 1. A claim may ask for a shorter lease than its stage's (`claim_next` with a third
--    argument): the runner, which heartbeats, asks for a heartbeat window, so a dead
--    agent's task comes back in about a minute; a person's claim keeps the stage's lease.
--    Heartbeats extend by the claim's own lease.
-- 2. `resume` also takes back the caller's claims whose lease ran out while nobody else
--    took them: a restarted agent releases them at once, instead of leaving them to be
--    "reclaimed from" it.
-- 3. An expired lease is abandonment only when its agent was seen on the board after the
--    lease ran out (it went on talking yet let this task lapse: something only the family
--    controls). An agent that went silent (its process died, its machine or the board
--    went away) is not blamed for it. ADR 0011.
-- 4. `return_task` takes a detail (the checks' output, the conflicting hunks), which the
--    next claimer reads in full.
-- 5. `integrate_begin/beat/end`: one integrate at a time, through the board.
--
-- Old clients keep working: the two-argument `claim_next` and five-argument
-- `return_task` stay, calling the new ones (signatures are never changed in place).

SET LOCAL search_path = ainarres, pg_temp;

ALTER TABLE tasks ADD COLUMN claim_lease_seconds integer
    CHECK (claim_lease_seconds IS NULL OR claim_lease_seconds BETWEEN 10 AND 86400);

-- ---------------------------------------------------------------------------------------
-- 1 and 3: the claim.

CREATE FUNCTION claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_stages bigint[];
    v_task tasks;
    v_stage stages;
    v_role text;
    v_others_first boolean;
    v_lease integer;
    v_seen boolean;
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
            -- Whether it was seen after its lease ran out decides if governance counts it.
            SELECT a.last_seen_at > v_task.lease_expires_at INTO v_seen
            FROM agents a WHERE a.id = v_task.holder_agent;
            PERFORM _log('lease_expired', v_task.id, v_task.holder_family, v_task.holder_agent,
                         v_stage.name, NULL, v_task.claim_epoch,
                         jsonb_build_object('attempts', v_task.attempts + 1,
                                            'expired_at', v_task.lease_expires_at,
                                            'seen_after_expiry', COALESCE(v_seen, false)));
            IF v_task.attempts + 1 >= v_stage.max_attempts THEN
                UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
                       claim_lease_seconds = NULL, attempts = attempts + 1, blocked = true,
                       updated_at = now(),
                       blocked_reason = format('%s leases expired in stage %s (max %s); a person must look',
                                               attempts + 1, v_stage.name, v_stage.max_attempts)
                WHERE id = v_task.id;
                PERFORM _log('blocked', v_task.id, NULL, NULL, v_stage.name, NULL, v_task.claim_epoch,
                             jsonb_build_object('reason', format(
                                 '%s leases expired in stage %s (max %s)', v_task.attempts + 1,
                                 v_stage.name, v_stage.max_attempts)));
                CONTINUE;
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

CREATE OR REPLACE FUNCTION claim_next(p_agent uuid, p_roles text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
    SELECT ainarres.claim_next(p_agent, p_roles, NULL::integer)
$$;

CREATE OR REPLACE FUNCTION heartbeat(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_held record := _hold(_caller(), p_agent, p_task, p_epoch);
    v_task tasks;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    UPDATE tasks SET lease_expires_at = now() + make_interval(
               secs => COALESCE(tasks.claim_lease_seconds, s.lease_seconds))
    FROM stages s WHERE s.id = tasks.stage_id AND tasks.id = p_task
    RETURNING tasks.* INTO v_task;
    UPDATE agents SET last_seen_at = now() WHERE id = p_agent;
    RETURN _outcome('ok', format('lease of %s extended to %s', _short(p_task), v_task.lease_expires_at),
                    jsonb_build_object('task', _task_json(v_task), 'epoch', p_epoch));
END $$;

-- 2: what this agent still holds, or held until its lease ran out and nobody took it since.
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
    UPDATE agents SET last_seen_at = now() WHERE id = p_agent;
    FOR v_task IN
        SELECT * FROM tasks WHERE holder_agent = p_agent
        ORDER BY priority DESC, seq FOR NO KEY UPDATE
    LOOP
        UPDATE tasks SET claim_epoch = claim_epoch + 1, updated_at = now(),
               lease_expires_at = now() + make_interval(
                   secs => COALESCE(tasks.claim_lease_seconds, s.lease_seconds))
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

-- A claim's own lease outlives the claim in the row (the next claim sets it again): it is
-- read only while the task is held.

-- ---------------------------------------------------------------------------------------
-- 3: governance counts only lapses the family let happen.

CREATE OR REPLACE VIEW track_records AS
SELECT f.name AS family,
       (SELECT count(*) FROM events e WHERE e.family_id = f.id AND e.kind = 'claimed') AS claimed,
       (SELECT count(*) FROM tasks t JOIN stages s ON s.id = t.stage_id
        WHERE t.writer_family = f.id AND s.is_terminal) AS shipped,
       (SELECT count(*) FROM events e WHERE e.kind = 'returned'
        AND (e.data->>'writer_family')::bigint = f.id) AS returned_as_producer,
       (SELECT count(*) FROM events e WHERE e.kind = 'lease_expired' AND e.family_id = f.id
        AND (e.data->>'seen_after_expiry')::boolean) AS abandoned,
       (SELECT count(*) FROM reviews r WHERE r.family_id = f.id) AS reviews_done,
       (SELECT count(*) FROM reviews r JOIN events e ON e.task_id = r.task_id
        AND e.kind = 'returned' AND e.data->>'cause' = 'checks'
        AND (e.data->>'round')::int = r.round
        WHERE r.family_id = f.id AND r.verdict = 'approve') AS approvals_failed_checks,
       (SELECT count(*) FROM reviews r JOIN reviews nxt ON nxt.task_id = r.task_id
        AND nxt.round = r.round + 1 AND nxt.verdict = 'approve' AND nxt.family_id <> r.family_id
        WHERE r.family_id = f.id AND r.verdict = 'return') AS returns_overturned,
       (SELECT COALESCE(sum((e.data->>'seconds')::numeric), 0) FROM events e
        WHERE e.family_id = f.id AND e.kind = 'usage')::float8 AS seconds_worked,
       (SELECT sum((e.data->>'tokens')::bigint) FROM events e
        WHERE e.family_id = f.id AND e.kind = 'usage') AS tokens
FROM families f;

CREATE OR REPLACE FUNCTION _metric(p_family bigint, p_role text, p_metric text, p_window interval)
RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = ainarres, pg_temp AS $$
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
    END IF;
    RETURN COALESCE(v, 0);
END $$;

UPDATE policies SET description =
    'an implementer that let N leases expire in the window while it was still working '
    '(a dead process or a lost board is not counted)'
WHERE name = 'implementer-abandons';

-- ---------------------------------------------------------------------------------------
-- 4: returns with their detail.

CREATE FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text,
                            p_cause text, p_detail text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
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
                     'detail', NULLIF(p_detail, ''),
                     'writer_family', v_task.writer_family)));
    PERFORM _wake(v_to.name);
    RETURN _outcome('ok', format('%s returned: %s -> %s', _short(p_task), v_from.name, v_to.name),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;

CREATE OR REPLACE FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text,
                                       p_cause text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
    SELECT ainarres.return_task(p_agent, p_task, p_epoch, p_reason, p_cause, NULL::text)
$$;

-- ---------------------------------------------------------------------------------------
-- 5: one integrate at a time. A run holds this row while it heartbeats; a run whose
-- beat is older than a minute is dead (killed, its machine gone) and may be taken over.

CREATE TABLE integration_run (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    family_id  bigint NOT NULL REFERENCES families,
    agent_id   uuid NOT NULL REFERENCES agents,
    pid        integer NOT NULL,
    host       text NOT NULL CHECK (length(host) BETWEEN 1 AND 255 AND host !~ '[[:cntrl:]]'),
    started_at timestamptz NOT NULL DEFAULT now(),
    beat_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION integrate_begin(p_agent uuid, p_pid integer, p_host text, p_takeover boolean)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
    v_run integration_run;
    v_agent text;
BEGIN
    IF v_family.id IS NULL OR NOT EXISTS (
            SELECT 1 FROM agents a WHERE a.id = p_agent AND a.family_id = v_family.id) THEN
        RETURN _refuse_unheld(v_family, p_agent, NULL, NULL, NULL);
    END IF;
    IF NOT _has_role(v_family.id, 'integrator') THEN
        RETURN _outcome('not_allowed', format(
            'family %s holds no active integrator role (not granted, or denied: see '
            '`ainarres govern status`)', v_family.name));
    END IF;
    IF p_host IS NULL OR length(p_host) NOT BETWEEN 1 AND 255 OR p_host ~ '[[:cntrl:]]' THEN
        RETURN _outcome('invalid', 'host must be a name of 1-255 printable characters');
    END IF;
    SELECT * INTO v_run FROM integration_run FOR UPDATE;
    IF v_run.one IS NOT NULL AND NOT p_takeover AND v_run.beat_at > now() - interval '60 seconds'
       AND NOT (v_run.agent_id = p_agent AND v_run.pid = p_pid AND v_run.host = p_host) THEN
        SELECT a.name INTO v_agent FROM agents a WHERE a.id = v_run.agent_id;
        RETURN _outcome('blocked', format(
            'another integrate (pid %s on %s, agent %s) is running since %s; wait for it to '
            'finish (its last sign of life was %s s ago)', v_run.pid, v_run.host, v_agent,
            to_char(v_run.started_at, 'HH24:MI:SS'),
            round(extract(epoch FROM now() - v_run.beat_at))));
    END IF;
    DELETE FROM integration_run;
    INSERT INTO integration_run (family_id, agent_id, pid, host)
    VALUES (v_family.id, p_agent, p_pid, p_host);
    PERFORM _log('integrate_started', NULL, v_family.id, p_agent, NULL, NULL, NULL,
                 jsonb_strip_nulls(jsonb_build_object(
                     'pid', p_pid, 'host', p_host,
                     'took_over', CASE WHEN v_run.one IS NOT NULL THEN jsonb_build_object(
                         'pid', v_run.pid, 'host', v_run.host) END)));
    RETURN _outcome('ok', 'this integrate is the only one running');
END $$;

CREATE FUNCTION integrate_beat(p_agent uuid, p_pid integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
BEGIN
    UPDATE integration_run SET beat_at = now()
    WHERE agent_id = p_agent AND pid = p_pid AND family_id = v_family.id;
    IF NOT FOUND THEN
        RETURN _outcome('lease_lost', 'this integrate no longer holds the run; stop');
    END IF;
    RETURN _outcome('ok', 'integrate run extended');
END $$;

CREATE FUNCTION integrate_end(p_agent uuid, p_pid integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_family families := _caller();
BEGIN
    DELETE FROM integration_run
    WHERE agent_id = p_agent AND pid = p_pid AND family_id = v_family.id;
    RETURN _outcome(CASE WHEN FOUND THEN 'ok' ELSE 'not_found' END, 'integrate run ended');
END $$;

-- ---------------------------------------------------------------------------------------
-- Privileges: as before, plus the new verbs; families read the new table like the rest.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ainarres FROM PUBLIC;
DO $$
DECLARE
    v_group text := (SELECT value FROM ainarres.settings WHERE key = 'agent_group');
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION
        ainarres.claim_next(uuid, text[], integer),
        ainarres.return_task(uuid, uuid, bigint, text, text, text),
        ainarres.integrate_begin(uuid, integer, text, boolean),
        ainarres.integrate_beat(uuid, integer),
        ainarres.integrate_end(uuid, integer) TO %I', v_group);
    EXECUTE format('GRANT SELECT ON ainarres.integration_run TO %I', v_group);
END $$;
