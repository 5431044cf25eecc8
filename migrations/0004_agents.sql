-- Agents report what their tool cost and whether it ran sandboxed.

SET LOCAL search_path = ainarres, pg_temp;

-- NULL: unknown (an agent driven by hand); false: the person opted out of the sandbox.
ALTER TABLE agents ADD COLUMN sandboxed boolean;

CREATE FUNCTION agent_mark(p_agent uuid, p_sandboxed boolean) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    UPDATE ainarres.agents a SET sandboxed = p_sandboxed
    FROM ainarres.families f
    WHERE a.id = p_agent AND f.id = a.family_id AND f.db_role = session_user
$$;

-- What one run of the tool on a held task cost, as the tool reported it.
CREATE FUNCTION record_usage(p_agent uuid, p_task uuid, p_epoch bigint, p_tokens bigint,
                             p_cost_usd numeric, p_seconds numeric) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families := _caller();
    v_task tasks;
    v_refusal jsonb;
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task;
    v_refusal := _refuse_unheld(v_family, p_agent, v_task, p_task, p_epoch);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
    IF p_tokens < 0 OR p_cost_usd < 0 OR p_seconds < 0 THEN
        RETURN _outcome('invalid', 'usage figures cannot be negative');
    END IF;
    PERFORM _log('usage', p_task, v_family.id, p_agent,
                 (SELECT name FROM stages WHERE id = v_task.stage_id), NULL, p_epoch,
                 jsonb_strip_nulls(jsonb_build_object('tokens', p_tokens, 'cost_usd', p_cost_usd,
                                                      'seconds', p_seconds)));
    RETURN _outcome('ok', 'usage recorded');
END $$;

REVOKE ALL ON FUNCTION agent_mark(uuid, boolean),
    record_usage(uuid, uuid, bigint, bigint, numeric, numeric) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.agent_mark(uuid, boolean),
        ainarres.record_usage(uuid, uuid, bigint, bigint, numeric, numeric) TO %I',
        (SELECT value FROM ainarres.settings WHERE key = 'agent_group'));
END $$;
