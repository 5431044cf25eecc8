-- Git on the board: a branch per task, the stage that writes it, resuming one's own claims,
-- and the read-only facts the hub's gate asks for.

SET LOCAL search_path = ainarres, pg_temp;

-- Which stages produce commits on the task branch: only their lease holder may push it.
ALTER TABLE stages ADD COLUMN writes_branch boolean NOT NULL DEFAULT false;
UPDATE stages SET writes_branch = true WHERE name = 'implement';

-- Tasks now say whether their current stage writes the branch.
CREATE OR REPLACE FUNCTION _task_json(t tasks) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'short_id', ainarres._short(t.id), 'title', t.title, 'body', t.body,
        'workflow', w.name, 'stage', s.name, 'writes_branch', s.writes_branch,
        'priority', t.priority, 'parent_id', t.parent_id,
        'open', t.open, 'holder_agent', t.holder_agent, 'holder_family', hf.name,
        'lease_expires_at', t.lease_expires_at, 'claim_epoch', t.claim_epoch,
        'attempts', t.attempts, 'blocked', t.blocked, 'blocked_reason', t.blocked_reason,
        'branch', t.branch, 'base_commit', t.base_commit, 'head_commit', t.head_commit,
        'created_by', t.created_by, 'created_at', t.created_at, 'updated_at', t.updated_at,
        'stage_entered_at', t.stage_entered_at,
        'depends_on', COALESCE((SELECT jsonb_agg(d.depends_on ORDER BY d.depends_on)
                                FROM ainarres.task_deps d WHERE d.task_id = t.id), '[]'))
    FROM ainarres.stages s
    JOIN ainarres.workflows w ON w.id = s.workflow_id
    LEFT JOIN ainarres.families hf ON hf.id = t.holder_family
    WHERE s.id = t.stage_id
$$;
REVOKE ALL ON FUNCTION _task_json(tasks) FROM PUBLIC;

-- Every task's branch is fixed at creation: task/<last 12 hex digits of its id>.
CREATE FUNCTION tasks_default_branch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.branch := COALESCE(NEW.branch, 'task/' || right(replace(NEW.id::text, '-', ''), 12));
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_branch BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_default_branch();
UPDATE tasks SET branch = 'task/' || right(replace(id::text, '-', ''), 12) WHERE branch IS NULL;
ALTER TABLE tasks ALTER COLUMN branch SET NOT NULL;
CREATE UNIQUE INDEX tasks_branch_unique ON tasks (branch);
ALTER TABLE tasks ADD CONSTRAINT tasks_commits_hex
    CHECK (base_commit ~ '^[0-9a-f]{40}([0-9a-f]{24})?$' AND head_commit ~ '^[0-9a-f]{40}([0-9a-f]{24})?$');

-- Records where the task branch forked from main (set by the holder when it prepares it).
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

-- A restarted agent (same family, same name) takes back what it still holds. The epoch
-- moves on, so whatever is left of the earlier process is fenced out.
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

-- ---------------------------------------------------------------------------------------
-- The gate's facts. A hub bound to this board logs in as the gate role, which may execute
-- these three functions and nothing else: it learns facts, it cannot change anything.

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
        'short_id', _short(t.id), 'stage', s.name, 'head_commit', t.head_commit,
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

REVOKE ALL ON FUNCTION set_base(uuid, uuid, bigint, text), resume(uuid), gate_signer(text),
    gate_task_branch(text), gate_integrations(uuid[]), gate_login(text),
    tasks_default_branch() FROM PUBLIC;
DO $$
DECLARE
    v_group text := (SELECT value FROM ainarres.settings WHERE key = 'agent_group');
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres.set_base(uuid, uuid, bigint, text),
        ainarres.resume(uuid) TO %I', v_group);
END $$;
