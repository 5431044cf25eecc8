-- Makers, one integrator seat held by a person, keys and passwords that can be changed,
-- workflow settings without SQL.
--
-- 1. A family has a maker (anthropic, xai, openai, google, alibaba, ..., or person), given
--    or taken from `maker_defaults` (rows: a tool decides it, or the model's name does).
-- 2. Cross review is `cross_review` (require | prefer | off) at `cross_level` (maker by
--    default, or family): a reviewer from another maker catches what the author's misses.
-- 3. The integrator role is a person's, and one family's at a time: the database refuses
--    any other grant, through the verb or around it (a trigger and a unique index).
--    `revoke_role` exists for every role.
-- 4. `family_retire` disables a family's login and its grants; `family_password` rotates
--    its password; key rotation is recorded through `family_keyed`. Each is logged.
-- 5. `set_stage` and `set_cross_review`: a person changes workflow settings, logged.

SET LOCAL search_path = ainarres, pg_temp;

-- ---------------------------------------------------------------------------------------
-- 1: makers.

CREATE TABLE maker_defaults (
    tool  text NOT NULL,   -- a tool, or '*': any tool whose maker the model decides
    model text NOT NULL,   -- '*' (any), or the start of a model name, lowercase
    maker text NOT NULL CHECK (maker ~ '^[a-z][a-z0-9-]{0,31}$'),
    PRIMARY KEY (tool, model)
);
INSERT INTO maker_defaults (tool, model, maker) VALUES
    ('claude-code', '*', 'anthropic'), ('grok', '*', 'xai'), ('codex', '*', 'openai'),
    ('gemini-cli', '*', 'google'), ('person', '*', 'person'),
    ('*', 'claude', 'anthropic'), ('*', 'sonnet', 'anthropic'), ('*', 'opus', 'anthropic'),
    ('*', 'haiku', 'anthropic'), ('*', 'qwen', 'alibaba'), ('*', 'gpt', 'openai'),
    ('*', 'o1', 'openai'), ('*', 'o3', 'openai'), ('*', 'o4', 'openai'),
    ('*', 'codex', 'openai'), ('*', 'gemini', 'google'), ('*', 'gemma', 'google'),
    ('*', 'grok', 'xai'), ('*', 'deepseek', 'deepseek'), ('*', 'llama', 'meta'),
    ('*', 'mistral', 'mistral'), ('*', 'codestral', 'mistral'), ('*', 'devstral', 'mistral'),
    ('*', 'kimi', 'moonshot'), ('*', 'glm', 'zhipu');

-- The maker a tool and model come from, or NULL when nothing says. A tool that has its
-- own row decides; otherwise the longest model prefix matching any part of the model's
-- name (openrouter/qwen/qwen3-coder -> qwen -> alibaba).
CREATE FUNCTION _default_maker(p_tool text, p_model text) RETURNS text
LANGUAGE sql STABLE SET search_path = ainarres, pg_temp AS $$
    SELECT COALESCE(
        (SELECT maker FROM maker_defaults WHERE tool = p_tool AND model = '*'),
        (SELECT d.maker FROM maker_defaults d,
                regexp_split_to_table(lower(p_model), '[/:]') AS part
         WHERE d.tool = '*' AND d.model <> '*' AND part LIKE d.model || '%'
         ORDER BY length(d.model) DESC, d.model LIMIT 1))
$$;

ALTER TABLE families ADD COLUMN maker text
    CHECK (maker ~ '^[a-z][a-z0-9-]{0,31}$');
UPDATE families SET maker = COALESCE(_default_maker(tool, model), 'unknown');
ALTER TABLE families ALTER COLUMN maker SET NOT NULL;
ALTER TABLE families ADD CONSTRAINT families_person_maker CHECK ((tool = 'person') = (maker = 'person'));
ALTER TABLE families ADD COLUMN retired_at timestamptz;

-- A retired family is nobody: its verbs are refused even on a session left open.
CREATE OR REPLACE FUNCTION _caller() RETURNS families LANGUAGE sql STABLE AS $$
    SELECT f FROM ainarres.families f WHERE f.db_role = session_user AND f.retired_at IS NULL
$$;

CREATE FUNCTION family_add(p_name text, p_tool text, p_model text, p_password text,
                           p_maker text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    v_role text;
    v_group text := (SELECT value FROM settings WHERE key = 'agent_group');
    v_id bigint;
    v_maker text;
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9._+-]{0,63}$' THEN
        RETURN _outcome('invalid', format('family name %L: use 1-64 lowercase letters, digits or ._+- (e.g. claude-code+sonnet)', left(p_name, 64)));
    END IF;
    IF p_tool IS NULL OR p_tool !~ '^[a-z0-9][a-z0-9._-]{0,63}$' THEN
        RETURN _outcome('invalid', format('tool %L: use lowercase letters, digits or ._- (e.g. claude-code)', left(p_tool, 64)));
    END IF;
    IF p_model IS NULL OR p_model !~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$' THEN
        RETURN _outcome('invalid', format('model %L: use letters, digits or ._:/- (e.g. sonnet)', left(p_model, 64)));
    END IF;
    IF p_maker IS NOT NULL AND p_maker !~ '^[a-z][a-z0-9-]{0,31}$' THEN
        RETURN _outcome('invalid', format('maker %L: use 1-32 lowercase letters, digits or - (e.g. anthropic, xai, alibaba)', left(p_maker, 64)));
    END IF;
    IF p_tool = 'person' AND p_maker IS NOT NULL AND p_maker <> 'person' THEN
        RETURN _outcome('invalid', format('a person''s family is made by a person, not %s; leave out --maker', p_maker));
    END IF;
    IF p_tool <> 'person' AND p_maker = 'person' THEN
        RETURN _outcome('invalid', format('maker person is for tool person; %s is a tool: give the company that makes its model', p_tool));
    END IF;
    IF EXISTS (SELECT 1 FROM families WHERE name = p_name) THEN
        RETURN _outcome('invalid', format('family %s already exists', p_name));
    END IF;
    v_maker := COALESCE(p_maker, _default_maker(p_tool, p_model));
    IF v_maker IS NULL THEN
        RETURN _outcome('invalid', format(
            'no maker is known for tool %s with model %s: give --maker (e.g. anthropic, xai, openai, google, alibaba)',
            p_tool, p_model));
    END IF;
    -- Role names are cluster-wide: prefix with this board's digest, suffix with the name's.
    v_role := format('af_%s_%s_%s', left(md5(current_database()), 6),
                     left(regexp_replace(p_name, '[^a-z0-9]', '_', 'g'), 32), left(md5(p_name), 6));
    EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', v_role, p_password, v_group);
    PERFORM _family_limits(v_role);
    INSERT INTO families (name, tool, model, db_role, maker)
    VALUES (p_name, p_tool, p_model, v_role, v_maker)
    RETURNING id INTO v_id;
    PERFORM _log('family_added', NULL, v_id, NULL, NULL, NULL, NULL,
                 jsonb_build_object('tool', p_tool, 'model', p_model, 'maker', v_maker));
    RETURN _outcome('ok', format('family %s added (maker %s)', p_name, v_maker),
                    jsonb_build_object('family', jsonb_build_object(
                        'name', p_name, 'db_role', v_role, 'maker', v_maker)));
END $$;

CREATE OR REPLACE FUNCTION family_add(p_name text, p_tool text, p_model text, p_password text)
RETURNS jsonb
LANGUAGE sql SET search_path = ainarres, pg_temp AS $$
    SELECT ainarres.family_add(p_name, p_tool, p_model, p_password, NULL::text)
$$;

-- ---------------------------------------------------------------------------------------
-- 2: cross review at a level.

ALTER TABLE workflows RENAME COLUMN cross_family TO cross_review;
ALTER TABLE workflows ADD COLUMN cross_level text NOT NULL DEFAULT 'maker'
    CHECK (cross_level IN ('maker', 'family'));

-- Does family f stand too close to the writer of task t for the workflow's cross review?
CREATE FUNCTION _same_side(p_workflow workflows, p_reviewer families, p_writer bigint)
RETURNS boolean LANGUAGE sql STABLE SET search_path = ainarres, pg_temp AS $$
    SELECT CASE p_workflow.cross_level
        WHEN 'family' THEN p_writer IS NOT DISTINCT FROM p_reviewer.id
        ELSE p_writer IS NOT NULL AND EXISTS (SELECT 1 FROM ainarres.families w
                                              WHERE w.id = p_writer AND w.maker = p_reviewer.maker)
    END
$$;

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

-- ---------------------------------------------------------------------------------------
-- 3: one integrator seat, a person's.

CREATE FUNCTION grants_integrator_is_a_person() RETURNS trigger
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
BEGIN
    IF NEW.role = 'integrator' THEN
        SELECT * INTO v_family FROM families WHERE id = NEW.family_id;
        IF v_family.maker <> 'person' OR v_family.retired_at IS NOT NULL THEN
            RAISE EXCEPTION 'the integrator role is a person''s: family % (maker %) is not',
                v_family.name, v_family.maker USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER grants_integrator BEFORE INSERT OR UPDATE ON grants
    FOR EACH ROW EXECUTE FUNCTION grants_integrator_is_a_person();
CREATE UNIQUE INDEX grants_one_integrator ON grants (role) WHERE role = 'integrator';

CREATE OR REPLACE FUNCTION grant_role(p_family text, p_role text, p_expires_at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
    v_role roles;
    v_holder text;
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', left(p_family, 64)));
    END IF;
    IF v_family.retired_at IS NOT NULL THEN
        RETURN _outcome('not_allowed', format('family %s is retired; add a new family instead', p_family));
    END IF;
    SELECT * INTO v_role FROM roles WHERE name = p_role;
    IF v_role.name IS NULL THEN
        RETURN _outcome('not_found', format('no role %L; roles are %s', left(p_role, 32),
                        (SELECT string_agg(name, ', ' ORDER BY name) FROM roles WHERE NOT person_only)));
    END IF;
    IF v_role.person_only THEN
        RETURN _outcome('not_allowed', format('role %s is for a person, not a family', p_role));
    END IF;
    IF p_role = 'integrator' THEN
        IF v_family.maker <> 'person' THEN
            RETURN _outcome('not_allowed', format(
                'the integrator role is a person''s: %s is an agent family (maker %s); add a '
                'family with --tool person and grant it that', p_family, v_family.maker));
        END IF;
        SELECT f.name INTO v_holder FROM grants g JOIN families f ON f.id = g.family_id
        WHERE g.role = 'integrator' AND g.family_id <> v_family.id;
        IF v_holder IS NOT NULL THEN
            RETURN _outcome('not_allowed', format(
                '%s holds the one integrator seat; hand it over with `ainarres revoke %s '
                'integrator` first', v_holder, v_holder));
        END IF;
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

CREATE FUNCTION revoke_role(p_family text, p_role text, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', left(p_family, 64)));
    END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    DELETE FROM grants WHERE family_id = v_family.id AND role = p_role;
    IF NOT FOUND THEN
        RETURN _outcome('not_found', format('family %s holds no grant of %L', p_family, left(p_role, 32)));
    END IF;
    PERFORM _log('revoked', NULL, v_family.id, NULL, NULL, NULL, NULL,
                 jsonb_build_object('role', p_role, 'reason', p_reason));
    RETURN _outcome('ok', format('revoked %s from %s', p_role, p_family));
END $$;

-- ---------------------------------------------------------------------------------------
-- 4: a family's password, keys and retirement.

CREATE FUNCTION family_password(p_family text, p_password text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', left(p_family, 64)));
    END IF;
    IF v_family.retired_at IS NOT NULL THEN
        RETURN _outcome('not_allowed', format('family %s is retired; its login stays off', p_family));
    END IF;
    EXECUTE format('ALTER ROLE %I PASSWORD %L', v_family.db_role, p_password);
    PERFORM _log('password_rotated', NULL, v_family.id, NULL, NULL, NULL, NULL);
    RETURN _outcome('ok', format('%s has a new password', p_family),
                    jsonb_build_object('family', jsonb_build_object(
                        'name', p_family, 'db_role', v_family.db_role, 'maker', v_family.maker)));
END $$;

-- The signing key changed (the person's side swaps it in the hub's allowed signers).
CREATE FUNCTION family_keyed(p_family text, p_fingerprint text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', left(p_family, 64)));
    END IF;
    IF v_family.retired_at IS NOT NULL THEN
        RETURN _outcome('not_allowed', format('family %s is retired; it has no key to rotate', p_family));
    END IF;
    IF p_fingerprint IS NULL OR p_fingerprint !~ '^SHA256:[A-Za-z0-9+/]{43}$' THEN
        RETURN _outcome('invalid', 'fingerprint must be an ssh SHA256 fingerprint');
    END IF;
    PERFORM _log('key_rotated', NULL, v_family.id, NULL, NULL, NULL, NULL,
                 jsonb_build_object('fingerprint', p_fingerprint));
    RETURN _outcome('ok', format('%s signs with a new key (%s)', p_family, p_fingerprint));
END $$;

CREATE FUNCTION family_retire(p_family text, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_family families;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
    v_roles text[];
    v_held integer;
BEGIN
    SELECT * INTO v_family FROM families WHERE name = p_family FOR UPDATE;
    IF v_family.id IS NULL THEN
        RETURN _outcome('not_found', format('no family %L; see `ainarres family list`', left(p_family, 64)));
    END IF;
    IF v_family.retired_at IS NOT NULL THEN
        RETURN _outcome('illegal_transition', format('family %s is retired already', p_family));
    END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    EXECUTE format('ALTER ROLE %I NOLOGIN', v_family.db_role);
    WITH gone AS (DELETE FROM grants WHERE family_id = v_family.id RETURNING role)
    SELECT array_agg(role ORDER BY role) INTO v_roles FROM gone;
    -- Its claims go back to the queue (the work it pushed stays on the task branches).
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           updated_at = now()
    WHERE holder_family = v_family.id;
    GET DIAGNOSTICS v_held = ROW_COUNT;
    UPDATE families SET retired_at = now() WHERE id = v_family.id;
    PERFORM _log('retired', NULL, v_family.id, NULL, NULL, NULL, NULL, jsonb_build_object(
        'reason', p_reason, 'roles', COALESCE(v_roles, '{}'), 'released', v_held));
    PERFORM _wake('roles');
    RETURN _outcome('ok', format('family %s retired: login off, %s role(s) revoked, %s claim(s) released',
                                 p_family, COALESCE(array_length(v_roles, 1), 0), v_held),
                    jsonb_build_object('family', jsonb_build_object(
                        'name', p_family, 'db_role', v_family.db_role, 'maker', v_family.maker)));
END $$;

-- ---------------------------------------------------------------------------------------
-- 5: workflow settings.

CREATE FUNCTION set_stage(p_workflow text, p_stage text, p_lease_seconds integer,
                          p_max_attempts integer) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_stage stages;
BEGIN
    SELECT s.* INTO v_stage FROM stages s JOIN workflows w ON w.id = s.workflow_id
    WHERE w.name = p_workflow AND s.name = p_stage FOR UPDATE OF s;
    IF v_stage.id IS NULL THEN
        RETURN _outcome('not_found', format('no stage %L in workflow %L; see `ainarres workflow show`',
                                            left(p_stage, 32), left(p_workflow, 32)));
    END IF;
    IF p_lease_seconds IS NOT NULL AND p_lease_seconds NOT BETWEEN 10 AND 86400 THEN
        RETURN _outcome('invalid', 'a lease must be between 10 and 86400 seconds');
    END IF;
    IF p_max_attempts IS NOT NULL AND p_max_attempts NOT BETWEEN 1 AND 100 THEN
        RETURN _outcome('invalid', 'max attempts must be between 1 and 100');
    END IF;
    UPDATE stages SET lease_seconds = COALESCE(p_lease_seconds, lease_seconds),
           max_attempts = COALESCE(p_max_attempts, max_attempts)
    WHERE id = v_stage.id RETURNING * INTO v_stage;
    PERFORM _log('workflow_changed', NULL, NULL, NULL, v_stage.name, NULL, NULL, jsonb_build_object(
        'workflow', p_workflow, 'stage', v_stage.name, 'lease_seconds', v_stage.lease_seconds,
        'max_attempts', v_stage.max_attempts));
    RETURN _outcome('ok', format('%s/%s: lease %s s, at most %s attempts', p_workflow, v_stage.name,
                                 v_stage.lease_seconds, v_stage.max_attempts));
END $$;

CREATE FUNCTION set_cross_review(p_workflow text, p_mode text, p_level text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
DECLARE
    v workflows;
BEGIN
    SELECT * INTO v FROM workflows WHERE name = p_workflow FOR UPDATE;
    IF v.id IS NULL THEN
        RETURN _outcome('not_found', format('no workflow %L; see `ainarres workflow show`', left(p_workflow, 32)));
    END IF;
    IF p_mode IS NOT NULL AND p_mode NOT IN ('require', 'prefer', 'off') THEN
        RETURN _outcome('invalid', 'cross review must be require, prefer or off');
    END IF;
    IF p_level IS NOT NULL AND p_level NOT IN ('maker', 'family') THEN
        RETURN _outcome('invalid', 'the cross review level must be maker or family');
    END IF;
    UPDATE workflows SET cross_review = COALESCE(p_mode, cross_review),
           cross_level = COALESCE(p_level, cross_level)
    WHERE id = v.id RETURNING * INTO v;
    PERFORM _log('workflow_changed', NULL, NULL, NULL, NULL, NULL, NULL, jsonb_build_object(
        'workflow', v.name, 'cross_review', v.cross_review, 'cross_level', v.cross_level));
    RETURN _outcome('ok', format('%s: cross review %s at the %s level', v.name, v.cross_review,
                                 v.cross_level));
END $$;

-- ---------------------------------------------------------------------------------------
-- Privileges: the new operator verbs are the owner's; families read the new table.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ainarres FROM PUBLIC;
DO $$
DECLARE
    v_group text := (SELECT value FROM ainarres.settings WHERE key = 'agent_group');
BEGIN
    EXECUTE format('GRANT SELECT ON ainarres.maker_defaults TO %I', v_group);
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres._same_side(ainarres.workflows,
        ainarres.families, bigint) TO %I', v_group);
END $$;
