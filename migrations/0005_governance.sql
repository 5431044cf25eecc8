-- Governance: track records from the event log, policies as rows, automatic demotion by
-- the board itself. Governance only ever writes denials; restoring is a person's `lift`.

SET LOCAL search_path = ainarres, pg_temp;

-- Why an integration step sent a task back: the reviewer answers for `checks`, not for a
-- `conflict` with work merged after the review.
DROP FUNCTION return_task(uuid, uuid, bigint, text);
CREATE FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text,
                            p_cause text DEFAULT NULL) RETURNS jsonb
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

-- ---------------------------------------------------------------------------------------
-- Track records: views over the log, not a second source of truth.

CREATE VIEW track_records AS
SELECT f.name AS family,
       (SELECT count(*) FROM events e WHERE e.family_id = f.id AND e.kind = 'claimed') AS claimed,
       (SELECT count(*) FROM tasks t JOIN stages s ON s.id = t.stage_id
        WHERE t.writer_family = f.id AND s.is_terminal) AS shipped,
       (SELECT count(*) FROM events e WHERE e.kind = 'returned'
        AND (e.data->>'writer_family')::bigint = f.id) AS returned_as_producer,
       (SELECT count(*) FROM events e WHERE e.kind = 'lease_expired' AND e.family_id = f.id)
           AS abandoned,
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

-- ---------------------------------------------------------------------------------------
-- Policies: rows a person edits. metric names what _metric computes.

CREATE TABLE policies (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,47}$'),
    role         text NOT NULL REFERENCES roles,
    metric       text NOT NULL CHECK (metric IN ('approvals_failed_checks', 'returned_in_a_row',
                                                 'abandoned', 'seconds_vs_peer_median')),
    threshold    numeric NOT NULL CHECK (threshold > 0),
    window_span  interval NOT NULL DEFAULT '7 days' CHECK (window_span > interval '0'),
    denial_base  interval NOT NULL DEFAULT '1 hour' CHECK (denial_base > interval '0'),
    enabled      boolean NOT NULL DEFAULT true,
    description  text NOT NULL
);

INSERT INTO policies (name, role, metric, threshold, window_span, denial_base, description) VALUES
    ('reviewer-approves-failing', 'reviewer', 'approvals_failed_checks', 2, '7 days', '1 hour',
     'a reviewer whose approvals failed the integration checks N times in the window'),
    ('implementer-returned-in-a-row', 'implementer', 'returned_in_a_row', 3, '7 days', '1 hour',
     'an implementer whose last N reviewed changes were all returned'),
    ('implementer-abandons', 'implementer', 'abandoned', 3, '1 day', '30 minutes',
     'an implementer that let N leases expire in the window'),
    ('costly-without-shipping', 'implementer', 'seconds_vs_peer_median', 3, '7 days', '1 hour',
     'a family spending more than K times the peer median tool time per shipped task');

-- The value of a metric for a family, over a window ending now.
CREATE FUNCTION _metric(p_family bigint, p_role text, p_metric text, p_window interval)
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
        SELECT count(*) INTO v FROM events e
        WHERE e.kind = 'lease_expired' AND e.family_id = p_family AND e.at > now() - p_window;
    ELSIF p_metric = 'seconds_vs_peer_median' THEN
        -- Only a family that shipped nothing in the window, against the median tool time per
        -- shipped task of the peers (families holding the same role) that did ship.
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

-- Evaluate the family's enabled policies for a role; write a denial when one trips.
-- The denial grows with each earlier automatic denial under the same policy.
CREATE FUNCTION _govern(p_family bigint, p_role text) RETURNS void
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    p policies;
    v_value numeric;
    v_prior integer;
    v_until timestamptz;
BEGIN
    -- Only a family that holds the role can lose it.
    IF p_family IS NULL OR NOT EXISTS (SELECT 1 FROM grants g
                                       WHERE g.family_id = p_family AND g.role = p_role) THEN
        RETURN;
    END IF;
    FOR p IN SELECT * FROM policies WHERE enabled AND role = p_role LOOP
        IF EXISTS (SELECT 1 FROM denials d WHERE d.family_id = p_family AND d.role = p.role
                   AND d.lifted_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > now())) THEN
            CONTINUE;  -- already denied; nothing to add
        END IF;
        v_value := _metric(p_family, p.role, p.metric, p.window_span);
        IF v_value < p.threshold THEN CONTINUE; END IF;
        SELECT count(*) INTO v_prior FROM denials d
        WHERE d.family_id = p_family AND d.created_by = 'governance:' || p.name;
        v_until := now() + p.denial_base * power(2, v_prior);
        INSERT INTO denials (family_id, role, reason, expires_at, created_by)
        VALUES (p_family, p.role,
                format('policy %s: %s = %s >= %s', p.name, p.metric, trim_scale(round(v_value, 2)), trim_scale(p.threshold)),
                v_until, 'governance:' || p.name);
        PERFORM _log('demoted', NULL, p_family, NULL, NULL, NULL, NULL, jsonb_build_object(
            'policy', p.name, 'role', p.role, 'metric', p.metric, 'value', v_value,
            'threshold', p.threshold, 'until', v_until, 'repeat', v_prior));
    END LOOP;
END $$;

-- The board governs itself as events land: returns and expired leases are the evidence.
CREATE FUNCTION events_govern() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_approver bigint;
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
        PERFORM _govern(NEW.family_id, 'implementer');
    ELSIF NEW.kind = 'usage' THEN
        PERFORM _govern(NEW.family_id, 'implementer');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_govern AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.kind IN ('returned', 'lease_expired', 'usage'))
    EXECUTE FUNCTION events_govern();

-- A person edits policies (families cannot: no privilege on the table).
CREATE FUNCTION set_policy(p_name text, p_threshold numeric, p_window interval,
                           p_denial_base interval, p_enabled boolean) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v policies;
BEGIN
    SELECT * INTO v FROM policies WHERE name = p_name FOR UPDATE;
    IF v.name IS NULL THEN
        RETURN _outcome('not_found', format('no policy %L; see `ainarres govern policy list`', p_name));
    END IF;
    IF p_threshold IS NOT NULL AND p_threshold <= 0 THEN
        RETURN _outcome('invalid', 'threshold must be positive');
    END IF;
    UPDATE policies SET threshold = COALESCE(p_threshold, threshold),
           window_span = COALESCE(p_window, window_span),
           denial_base = COALESCE(p_denial_base, denial_base),
           enabled = COALESCE(p_enabled, enabled)
    WHERE name = p_name RETURNING * INTO v;
    PERFORM _log('policy_changed', NULL, NULL, NULL, NULL, NULL, NULL, jsonb_build_object(
        'policy', v.name, 'threshold', v.threshold, 'window', v.window_span::text,
        'denial_base', v.denial_base::text, 'enabled', v.enabled));
    RETURN _outcome('ok', format('policy %s: %s >= %s over %s, denial %s, %s', v.name, v.metric,
                    v.threshold, v.window_span, v.denial_base,
                    CASE WHEN v.enabled THEN 'enabled' ELSE 'disabled' END));
END $$;

REVOKE ALL ON FUNCTION return_task(uuid, uuid, bigint, text, text), _metric(bigint, text, text, interval),
    _govern(bigint, text), events_govern(), set_policy(text, numeric, interval, interval, boolean)
    FROM PUBLIC;
DO $$
DECLARE
    v_group text := (SELECT value FROM ainarres.settings WHERE key = 'agent_group');
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.return_task(uuid, uuid, bigint, text, text)
        TO %I', v_group);
    EXECUTE format('GRANT SELECT ON ainarres.track_records, ainarres.policies TO %I', v_group);
END $$;
