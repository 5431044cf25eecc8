-- The gate's facts: a hub bound to this board logs in as the gate role, which may execute
-- these three read-only functions and nothing else. It learns facts; it changes nothing.

SET LOCAL search_path = ainarres, pg_temp;


CREATE FUNCTION gate_signer(p_principal text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    SELECT jsonb_build_object(
        'family', f.name,
        'roles', COALESCE((SELECT jsonb_agg(r.name ORDER BY r.name) FROM roles r
                           WHERE _has_role(f.id, r.name)), '[]'))
    FROM families f WHERE f.name = p_principal
$$;

CREATE FUNCTION gate_task_branch(p_branch text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    SELECT jsonb_build_object(
        'task_id', t.id, 'short_id', _short(t.id), 'stage', s.name,
        'writes_branch', s.writes_branch, 'holder_family', f.name, 'epoch', t.claim_epoch,
        'lease_live', t.lease_expires_at IS NOT NULL AND t.lease_expires_at >= now())
    FROM tasks t
    JOIN stages s ON s.id = t.stage_id
    LEFT JOIN families f ON f.id = t.holder_family
    WHERE t.branch = p_branch
$$;

-- For each task id: is it waiting in the integration step (its stage's advance needs the
-- integrator role), at which reviewed head, held by whom.
CREATE FUNCTION gate_integrations(p_ids uuid[]) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
    SELECT COALESCE(jsonb_object_agg(t.id, jsonb_build_object(
        'short_id', _short(t.id), 'stage', s.name,
        'head_commit', CASE WHEN _approved_commit(t.id) = t.head_commit THEN t.head_commit END,
        'holder_family', f.name,
        'lease_live', t.lease_expires_at IS NOT NULL AND t.lease_expires_at >= now(),
        'awaits_integration', EXISTS (SELECT 1 FROM transitions tr
                                      WHERE tr.from_stage_id = s.id AND tr.kind = 'advance'
                                        AND tr.role = 'integrator'))), '{}')
    FROM tasks t
    JOIN stages s ON s.id = t.stage_id
    LEFT JOIN families f ON f.id = t.holder_family
    WHERE t.id = ANY(p_ids)
$$;

-- Operator only: create (or re-key) this board's gate login. Returns its role name.
CREATE FUNCTION gate_login(p_password text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
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
    INSERT INTO settings (key, value) VALUES ('gate_role', v_role)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    RETURN _outcome('ok', format('gate login %s ready', v_role),
                    jsonb_build_object('family', jsonb_build_object('db_role', v_role)));
END $$;

REVOKE ALL ON FUNCTION gate_signer(text), gate_task_branch(text), gate_integrations(uuid[]),
    gate_login(text) FROM PUBLIC;
