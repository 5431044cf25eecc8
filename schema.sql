-- The board's schema as the migrations make it (generated; do not edit: see
-- tests/board/test_schema.py). The families' group role carries a digest of the
-- database's name; here it reads <agents>.
--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: ainarres; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA ainarres;


--
-- Name: ainarres_private; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA ainarres_private;


--
-- Name: git_oid; Type: DOMAIN; Schema: ainarres; Owner: -
--

CREATE DOMAIN ainarres.git_oid AS text
	CONSTRAINT git_oid_hex CHECK ((VALUE ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'::text));


--
-- Name: DOMAIN git_oid; Type: COMMENT; Schema: ainarres; Owner: -
--

COMMENT ON DOMAIN ainarres.git_oid IS 'a full git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: families; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.families (
    id bigint NOT NULL,
    name text NOT NULL,
    tool text NOT NULL,
    model text NOT NULL,
    db_role text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    maker text NOT NULL,
    retired_at timestamp with time zone,
    CONSTRAINT families_maker_check CHECK ((maker ~ '^[a-z][a-z0-9-]{0,31}$'::text)),
    CONSTRAINT families_model_check CHECK ((model ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$'::text)),
    CONSTRAINT families_name_check CHECK ((name ~ '^[a-z0-9][a-z0-9._+-]{0,63}$'::text)),
    CONSTRAINT families_person_maker CHECK (((tool = 'person'::text) = (maker = 'person'::text))),
    CONSTRAINT families_tool_check CHECK ((tool ~ '^[a-z0-9][a-z0-9._-]{0,63}$'::text))
);


--
-- Name: tasks; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.tasks (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    id_rev text GENERATED ALWAYS AS (reverse(replace((id)::text, '-'::text, ''::text))) STORED,
    seq bigint NOT NULL,
    workflow_id bigint NOT NULL,
    stage_id bigint NOT NULL,
    title text NOT NULL,
    body text DEFAULT ''::text NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    parent_id uuid,
    open boolean DEFAULT true NOT NULL,
    holder_agent uuid,
    holder_family bigint,
    lease_expires_at timestamp with time zone,
    claim_epoch bigint DEFAULT 0 NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    blocked boolean DEFAULT false NOT NULL,
    blocked_reason text,
    branch text NOT NULL,
    base_commit ainarres.git_oid,
    head_commit ainarres.git_oid,
    writer_family bigint,
    writer_agent uuid,
    review_round integer DEFAULT 0 NOT NULL,
    open_deps integer DEFAULT 0 NOT NULL,
    created_by text NOT NULL,
    created_family bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    stage_entered_at timestamp with time zone DEFAULT now() NOT NULL,
    claim_lease_seconds integer,
    CONSTRAINT tasks_body_check CHECK ((octet_length(body) <= 65536)),
    CONSTRAINT tasks_check CHECK (((holder_agent IS NULL) = (lease_expires_at IS NULL))),
    CONSTRAINT tasks_check1 CHECK (((holder_agent IS NULL) = (holder_family IS NULL))),
    CONSTRAINT tasks_check2 CHECK ((blocked = (blocked_reason IS NOT NULL))),
    CONSTRAINT tasks_claim_lease_seconds_check CHECK (((claim_lease_seconds IS NULL) OR ((claim_lease_seconds >= 10) AND (claim_lease_seconds <= 86400)))),
    CONSTRAINT tasks_open_deps_check CHECK ((open_deps >= 0)),
    CONSTRAINT tasks_priority_check CHECK (((priority >= '-1000'::integer) AND (priority <= 1000))),
    CONSTRAINT tasks_title_check CHECK ((((length(btrim(title)) >= 1) AND (length(btrim(title)) <= 200)) AND (title !~ '[[:cntrl:]]'::text)))
);


--
-- Name: _advance_core(ainarres.tasks, ainarres.families, uuid, bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._advance_core(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_head_commit text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v_from stages;
    v_to stages;
BEGIN
    SELECT * INTO v_from FROM stages WHERE id = p_task.stage_id;
    SELECT s.* INTO v_to FROM transitions tr JOIN stages s ON s.id = tr.to_stage_id
    WHERE tr.from_stage_id = v_from.id AND tr.kind = 'advance';
    RETURN _advance_step(p_task, v_from, v_to, p_family, p_agent, p_epoch, p_head_commit);
END $$;


--
-- Name: stages; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.stages (
    id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    name text NOT NULL,
    active_label text NOT NULL,
    is_initial boolean DEFAULT false NOT NULL,
    is_terminal boolean DEFAULT false NOT NULL,
    lease_seconds integer DEFAULT 900 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    writes_branch boolean DEFAULT false NOT NULL,
    reviews_branch boolean DEFAULT false NOT NULL,
    "position" integer NOT NULL,
    CONSTRAINT stages_check CHECK ((NOT (is_initial AND is_terminal))),
    CONSTRAINT stages_lease_seconds_check CHECK ((lease_seconds > 0)),
    CONSTRAINT stages_max_attempts_check CHECK ((max_attempts > 0)),
    CONSTRAINT stages_name_check CHECK ((name ~ '^[a-z][a-z0-9_-]{0,31}$'::text))
);


--
-- Name: _advance_step(ainarres.tasks, ainarres.stages, ainarres.stages, ainarres.families, uuid, bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._advance_step(p_task ainarres.tasks, p_from ainarres.stages, p_to ainarres.stages, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_head_commit text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: _approved_commit(uuid); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._approved_commit(p_task uuid) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT r.commit FROM ainarres.reviews r JOIN ainarres.tasks t ON t.id = r.task_id
    WHERE r.task_id = p_task AND r.round = t.review_round AND r.verdict = 'approve'
    ORDER BY r.id DESC LIMIT 1
$$;


--
-- Name: _bad_text(text, text, integer, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._bad_text(p_field text, p_value text, p_max integer, p_single_line boolean) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT ainarres._text_refusal(p_field, p_value, p_max, p_single_line, false)
$$;


--
-- Name: _bad_text_or_empty(text, text, integer, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._bad_text_or_empty(p_field text, p_value text, p_max integer, p_single_line boolean) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT ainarres._text_refusal(p_field, p_value, p_max, p_single_line, true)
$$;


--
-- Name: _caller(); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._caller() RETURNS ainarres.families
    LANGUAGE sql STABLE
    AS $$
    SELECT f FROM ainarres.families f WHERE f.db_role = session_user AND f.retired_at IS NULL
$$;


--
-- Name: _canary_defer(ainarres.tasks); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._canary_defer(p_task ainarres.tasks) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
    SELECT (SELECT rate > 0 FROM ainarres_private.canary_settings) OR _canary_live(p_task)
$$;


--
-- Name: _canary_hold(ainarres.tasks, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._canary_hold(p_task ainarres.tasks, p_restore boolean) RETURNS void
    LANGUAGE sql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
    INSERT INTO ainarres_private.review_holds (task_id, round, restore)
    SELECT p_task.id, p_task.review_round, p_restore
    WHERE p_restore OR (SELECT rate > 0 FROM ainarres_private.canary_settings)
    ON CONFLICT (task_id) DO UPDATE
        SET round = EXCLUDED.round, restore = EXCLUDED.restore, since = now()
$$;


--
-- Name: _canary_live(ainarres.tasks); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._canary_live(p_task ainarres.tasks) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
    SELECT EXISTS (SELECT 1 FROM ainarres_private.canaries c
                   WHERE c.task_id = p_task.id AND c.round = p_task.review_round
                     AND c.state = 'live')
$$;


--
-- Name: _canary_verdict(ainarres.tasks, ainarres.families, uuid, bigint, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._canary_verdict(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_verdict text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    c ainarres_private.canaries;
    v_result text;
    v_task tasks;
    v_stage text;
BEGIN
    SELECT * INTO c FROM ainarres_private.canaries
    WHERE task_id = p_task.id AND round = p_task.review_round AND state = 'live' FOR UPDATE;
    IF p_verdict = 'approve' THEN
        v_result := 'missed';
    ELSIF EXISTS (SELECT 1 FROM annotations a
                  WHERE a.task_id = c.task_id AND a.round = c.round
                    AND a.family_id = p_family.id AND a.severity IN ('blocker', 'major')
                    AND a.file = c.file AND a.side = 'new'
                    AND abs(a.line - c.line) <= c.tolerance) THEN
        v_result := 'caught';
    ELSE
        v_result := 'returned_elsewhere';
    END IF;
    UPDATE ainarres_private.canaries
    SET state = 'judged', result = v_result, reviewer_family = p_family.id,
        reviewer_agent = p_agent, reason = left(p_reason, 4000), judged_at = now()
    WHERE id = c.id;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           attempts = 0, head_commit = c.real_head, review_round = review_round + 1,
           stage_entered_at = now(), updated_at = now()
    WHERE id = p_task.id
    RETURNING * INTO v_task;
    PERFORM _canary_hold(v_task, true);
    SELECT name INTO v_stage FROM stages WHERE id = v_task.stage_id;
    PERFORM _log('canary', p_task.id, p_family.id, p_agent, v_stage, v_stage, p_epoch,
                 jsonb_build_object('round', c.round, 'verdict', p_verdict, 'result', v_result,
                                    'writer_family', v_task.writer_family));
    RETURN _outcome('ok', format(
        '%s: review round %s was a seeded review (a canary): %s; the task will be reviewed '
        'again at its implementer''s head', _short(p_task.id), c.round,
        CASE v_result WHEN 'caught' THEN 'you caught its defect'
                      WHEN 'missed' THEN 'you approved it with its defect'
                      ELSE 'you returned it, but no annotation of yours pointed at its defect'
        END),
        jsonb_build_object('task', _task_json(v_task),
                           'canary', jsonb_build_object('round', c.round, 'result', v_result)));
END $$;


--
-- Name: _default_maker(text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._default_maker(p_tool text, p_model text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
    SELECT COALESCE(
        (SELECT maker FROM maker_defaults WHERE tool = p_tool AND model = '*'),
        (SELECT d.maker FROM maker_defaults d,
                regexp_split_to_table(lower(p_model), '[/:]') AS part
         WHERE d.tool = '*' AND d.model <> '*' AND part LIKE d.model || '%'
         ORDER BY length(d.model) DESC, d.model LIMIT 1))
$$;


--
-- Name: _family_limits(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._family_limits(p_role text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v_limit integer := COALESCE(
        (SELECT value::integer FROM settings WHERE key = 'family_connection_limit'), 16);
BEGIN
    EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', p_role, v_limit);
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', p_role,
                   COALESCE((SELECT value FROM settings WHERE key = 'family_statement_timeout'), '60s'));
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', p_role,
                   COALESCE((SELECT value FROM settings
                             WHERE key = 'family_idle_in_transaction_timeout'), '60s'));
    IF current_setting('server_version_num')::integer >= 170000 THEN
        EXECUTE format('ALTER ROLE %I SET transaction_timeout = %L', p_role,
                       COALESCE((SELECT value FROM settings
                                 WHERE key = 'family_transaction_timeout'), '5min'));
    END IF;
END $$;


--
-- Name: _govern(bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._govern(p_family bigint, p_role text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: _grant_execute(text, regprocedure[]); Type: PROCEDURE; Schema: ainarres; Owner: -
--

CREATE PROCEDURE ainarres._grant_execute(IN p_to text, VARIADIC p_routines regprocedure[])
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v_group text := (SELECT value FROM settings WHERE key = 'agent_group');
    v_routine regprocedure;
BEGIN
    IF p_to IS NULL OR p_to NOT IN ('agents', 'operator') THEN
        RAISE EXCEPTION 'grant execute to %: say agents or operator', p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v_routine IN ARRAY p_routines LOOP
        IF (SELECT pronamespace FROM pg_proc WHERE oid = v_routine) <> 'ainarres'::regnamespace THEN
            RAISE EXCEPTION '% is not in the board''s schema', v_routine
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', v_routine);
        IF p_to = 'agents' THEN
            EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %I', v_routine, v_group);
        END IF;
    END LOOP;
END $$;


--
-- Name: _has_role(bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._has_role(p_family bigint, p_role text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT EXISTS (SELECT 1 FROM ainarres.grants g
                   WHERE g.family_id = p_family AND g.role = p_role
                     AND (g.expires_at IS NULL OR g.expires_at > now()))
       AND NOT EXISTS (SELECT 1 FROM ainarres.denials d
                       WHERE d.family_id = p_family AND d.role = p_role AND d.lifted_at IS NULL
                         AND (d.expires_at IS NULL OR d.expires_at > now()))
$$;


--
-- Name: _hold(ainarres.families, uuid, uuid, bigint); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._hold(p_family ainarres.families, p_agent uuid, p_task uuid, p_epoch bigint, OUT task ainarres.tasks, OUT refusal jsonb) RETURNS record
    LANGUAGE plpgsql
    AS $$
BEGIN
    SELECT * INTO task FROM tasks t WHERE t.id = p_task;
    refusal := _refuse_unheld(p_family, p_agent, task, p_task, p_epoch);
    IF refusal IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT * INTO task FROM tasks t WHERE t.id = p_task FOR NO KEY UPDATE;
    refusal := _refuse_unheld(p_family, p_agent, task, p_task, p_epoch);
END $$;


--
-- Name: _log(text, uuid, bigint, uuid, text, text, bigint, jsonb); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._log(p_kind text, p_task uuid, p_family bigint, p_agent uuid, p_from text, p_to text, p_epoch bigint, p_data jsonb DEFAULT '{}'::jsonb) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO ainarres.events (kind, task_id, family_id, agent_id, from_stage, to_stage, epoch, data)
    VALUES (p_kind, p_task, p_family, p_agent, p_from, p_to, p_epoch, p_data)
$$;


--
-- Name: _metric(bigint, text, text, interval); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._metric(p_family bigint, p_role text, p_metric text, p_window interval) RETURNS numeric
    LANGUAGE plpgsql STABLE
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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
    ELSIF p_metric = 'canary_missed' THEN
        -- The share of the family's judged canaries it did not catch, once it has seen
        -- the policy's minimum (below it: 0, too few to judge).
        SELECT CASE WHEN count(*) >= COALESCE(
                        (SELECT max(p.min_samples) FROM policies p
                         WHERE p.metric = p_metric AND p.role = p_role), 0)
                    THEN avg(CASE WHEN c.result = 'caught' THEN 0 ELSE 1 END) END
        INTO v
        FROM ainarres_private.canaries c
        WHERE c.reviewer_family = p_family AND c.state = 'judged'
          AND c.judged_at > now() - p_window;
    END IF;
    RETURN COALESCE(v, 0);
END $$;


--
-- Name: _outcome(text, text, jsonb); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._outcome(p_outcome text, p_message text, p_extra jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT jsonb_build_object('outcome', p_outcome, 'message', p_message) || p_extra
$$;


--
-- Name: _reclaim(ainarres.tasks, ainarres.stages); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._reclaim(v_task ainarres.tasks, v_stage ainarres.stages) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: _refuse_unheld(ainarres.families, uuid, ainarres.tasks, uuid, bigint); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._refuse_unheld(p_family ainarres.families, p_agent uuid, t ainarres.tasks, p_task uuid, p_epoch bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    AS $$
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


--
-- Name: _reserve_connections(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._reserve_connections(p_role text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_use_reserved_connections') THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('GRANT pg_use_reserved_connections TO %I', p_role);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'role % may not use the reserved connections (%); a superuser can run GRANT pg_use_reserved_connections TO %',
            p_role, SQLERRM, quote_ident(p_role);
    END;
END $$;


--
-- Name: _return_core(ainarres.tasks, ainarres.families, uuid, bigint, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._return_core(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: _return_step(ainarres.tasks, ainarres.stages, ainarres.stages, ainarres.families, uuid, bigint, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._return_step(p_task ainarres.tasks, p_from ainarres.stages, p_to ainarres.stages, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: workflows; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.workflows (
    id bigint NOT NULL,
    name text NOT NULL,
    cross_review text DEFAULT 'prefer'::text CONSTRAINT workflows_cross_family_not_null NOT NULL,
    cross_level text DEFAULT 'maker'::text NOT NULL,
    CONSTRAINT workflows_cross_family_check CHECK ((cross_review = ANY (ARRAY['require'::text, 'prefer'::text, 'off'::text]))),
    CONSTRAINT workflows_cross_level_check CHECK ((cross_level = ANY (ARRAY['maker'::text, 'family'::text]))),
    CONSTRAINT workflows_name_check CHECK ((name ~ '^[a-z][a-z0-9_-]{0,31}$'::text))
);


--
-- Name: _same_side(ainarres.workflows, ainarres.families, bigint); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._same_side(p_workflow ainarres.workflows, p_reviewer ainarres.families, p_writer bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
    SELECT CASE p_workflow.cross_level
        WHEN 'family' THEN p_writer IS NOT DISTINCT FROM p_reviewer.id
        ELSE p_writer IS NOT NULL AND EXISTS (SELECT 1 FROM ainarres.families w
                                              WHERE w.id = p_writer AND w.maker = p_reviewer.maker)
    END
$$;


--
-- Name: _short(uuid); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._short(p_id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT '…' || right(replace(p_id::text, '-', ''), 4)
$$;


--
-- Name: _task_json(ainarres.tasks); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._task_json(t ainarres.tasks) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: _text_refusal(text, text, integer, boolean, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._text_refusal(p_field text, p_value text, p_max integer, p_single_line boolean, p_allow_empty boolean) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $$
DECLARE
    v_char text;
    v_code integer;
    v_what text;
    v_hex text;
BEGIN
    IF p_value IS NULL OR btrim(p_value, E' \t\n\r') = '' THEN
        IF p_allow_empty AND p_value IS NULL THEN
            RETURN NULL;
        ELSIF NOT p_allow_empty THEN
            RETURN p_field || ' must not be empty';
        END IF;
    END IF;
    IF octet_length(p_value) > p_max THEN
        RETURN format('%s is %s bytes; the limit is %s', p_field, octet_length(p_value), p_max);
    END IF;
    IF p_single_line THEN
        v_char := substring(p_value FROM
            '[\u0001-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060-\u2064\ufeff\u00ad\u2028\u2029]');
    ELSE
        v_char := substring(p_value FROM
            '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\ufeff\u2028\u2029]');
    END IF;
    IF v_char IS NULL THEN
        RETURN NULL;
    END IF;
    v_code := ascii(v_char);
    v_hex := upper(to_hex(v_code));
    v_hex := repeat('0', greatest(0, 4 - length(v_hex))) || v_hex;
    v_what := CASE
        WHEN p_single_line AND v_code IN (10, 11, 12, 13, 133, 8232, 8233) THEN 'a line break'
        WHEN v_code < 32 OR v_code BETWEEN 127 AND 159 THEN 'a control character'
        WHEN v_code IN (1564, 8206, 8207) OR v_code BETWEEN 8234 AND 8238
             OR v_code BETWEEN 8294 AND 8297 THEN 'a bidi control'
        WHEN v_code IN (8232, 8233) THEN 'a line or paragraph separator'
        ELSE 'an invisible character' END;
    IF v_what = 'a line break' THEN
        RETURN format('%s must be one line: it contains U+%s (a line break) at character %s; remove it',
                      p_field, v_hex, position(v_char IN p_value));
    END IF;
    RETURN format('%s contains U+%s (%s) at character %s; remove it',
                  p_field, v_hex, v_what, position(v_char IN p_value));
END $$;


--
-- Name: _verdict_record(ainarres.tasks, ainarres.families, uuid, bigint, text, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._verdict_record(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_verdict text, p_reason text, p_cause text, p_detail text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v_task tasks;
BEGIN
    INSERT INTO ainarres_private.verdicts (task_id, round, epoch, family_id, agent_id, verdict,
                                           reason, cause, detail)
    VALUES (p_task.id, p_task.review_round, p_epoch, p_family.id, p_agent, p_verdict,
            p_reason, p_cause, NULLIF(p_detail, ''));
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           attempts = 0, updated_at = now()
    WHERE id = p_task.id
    RETURNING * INTO v_task;
    RETURN _outcome('ok', format('%s: your verdict (%s) on review round %s is recorded; the '
                                 'board applies it in a moment', _short(p_task.id), p_verdict,
                                 p_task.review_round),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;


--
-- Name: _wake(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres._wake(p_what text) RETURNS void
    LANGUAGE sql
    AS $$
    SELECT pg_notify('ainarres_board', p_what)
    WHERE EXISTS (SELECT 1 FROM ainarres.agents
                  WHERE waiting_since > now() - interval '2 minutes')
$$;


--
-- Name: advance(uuid, uuid, bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.advance(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $_$
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
END $_$;


--
-- Name: advance_and_claim(uuid, uuid, bigint, text, text[], integer); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.advance_and_claim(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text, p_roles text[] DEFAULT NULL::text[], p_lease_seconds integer DEFAULT NULL::integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_done jsonb := advance(p_agent, p_task, p_epoch, p_head_commit);
BEGIN
    IF v_done->>'outcome' <> 'ok' THEN
        RETURN v_done;
    END IF;
    RETURN claim_next(p_agent, p_roles, p_lease_seconds) || jsonb_build_object('done', v_done);
END $$;


--
-- Name: agent_mark(uuid, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.agent_mark(p_agent uuid, p_sandboxed boolean) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    UPDATE ainarres.agents a SET sandboxed = p_sandboxed
    FROM ainarres.families f
    WHERE a.id = p_agent AND f.id = a.family_id AND f.db_role = session_user
$$;


--
-- Name: agent_start(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.agent_start(p_name text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $_$
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
END $_$;


--
-- Name: annotate(uuid, uuid, bigint, text, integer, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.annotate(p_agent uuid, p_task uuid, p_epoch bigint, p_file text, p_line integer, p_side text, p_severity text, p_body text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_stage stages;
    v_bad text := _bad_text('body', p_body, 16384, false);
    v_id bigint;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    v_task := v_held.task;
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
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
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


--
-- Name: block(uuid, uuid, bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.block(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
    v_bad text := _bad_text('reason', p_reason, 4000, false);
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
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


--
-- Name: brief(text, text, integer, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.brief(p_title text, p_body text, p_priority integer, p_workflow text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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
                      _bad_text_or_empty('body', p_body, 65536, false),
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


--
-- Name: canary_apply(uuid); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.canary_apply(p_task uuid) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v ainarres_private.verdicts;
    v_task tasks;
    v_family families;
BEGIN
    SELECT * INTO v FROM ainarres_private.verdicts WHERE task_id = p_task FOR UPDATE;
    IF v.task_id IS NULL THEN
        RETURN _outcome('invalid', format('no verdict on %s waits', _short(p_task)));
    END IF;
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR NO KEY UPDATE;
    DELETE FROM ainarres_private.verdicts WHERE task_id = p_task;
    IF v_task.review_round <> v.round OR v_task.holder_agent IS NOT NULL THEN
        RETURN _outcome('invalid', format('%s moved on from round %s; its verdict is dropped',
                                          _short(p_task), v.round));
    END IF;
    SELECT * INTO v_family FROM families WHERE id = v.family_id;
    IF _canary_live(v_task) THEN
        RETURN _canary_verdict(v_task, v_family, v.agent_id, v.epoch, v.verdict, v.reason);
    ELSIF v.verdict = 'approve' THEN
        RETURN _advance_core(v_task, v_family, v.agent_id, v.epoch, NULL);
    END IF;
    RETURN _return_core(v_task, v_family, v.agent_id, v.epoch, v.reason, v.cause, v.detail);
END $$;


--
-- Name: canary_live(uuid, integer); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.canary_live(p_task uuid, p_round integer) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    c ainarres_private.canaries;
BEGIN
    SELECT * INTO c FROM ainarres_private.canaries
    WHERE task_id = p_task AND round = p_round FOR UPDATE;
    IF c.id IS NULL OR c.state <> 'planting' THEN
        RETURN _outcome('invalid', format('%s round %s has no canary being planted',
                                           _short(p_task), p_round));
    END IF;
    UPDATE tasks SET head_commit = c.seeded_head, updated_at = now()
    WHERE id = p_task AND review_round = p_round AND head_commit = c.real_head
      AND holder_agent IS NULL
      AND EXISTS (SELECT 1 FROM ainarres_private.review_holds h
                  WHERE h.task_id = p_task AND h.round = p_round AND NOT h.restore);
    IF NOT FOUND THEN
        RETURN _outcome('invalid', format('%s moved on from round %s', _short(p_task), p_round));
    END IF;
    UPDATE ainarres_private.canaries SET state = 'live' WHERE id = c.id;
    DELETE FROM ainarres_private.review_holds WHERE task_id = p_task;
    PERFORM _wake('review');
    RETURN _outcome('ok', format('%s round %s is open for review', _short(p_task), p_round));
END $$;


--
-- Name: canary_plan(uuid, integer, text, text, text, integer, text, integer, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.canary_plan(p_task uuid, p_round integer, p_real text, p_seeded text, p_file text, p_line integer, p_kind text, p_tolerance integer, p_description text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v_task tasks;
    c ainarres_private.canaries;
BEGIN
    SELECT * INTO c FROM ainarres_private.canaries WHERE task_id = p_task AND round = p_round;
    IF c.id IS NOT NULL THEN
        IF c.seeded_head = p_seeded AND c.real_head = p_real THEN
            RETURN _outcome('ok', 'already planned', jsonb_build_object('state', c.state));
        END IF;
        RETURN _outcome('invalid', format('round %s of %s has another canary', p_round,
                                           _short(p_task)));
    END IF;
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR NO KEY UPDATE;
    IF v_task.id IS NULL OR v_task.review_round <> p_round
       OR v_task.head_commit IS DISTINCT FROM p_real
       OR NOT EXISTS (SELECT 1 FROM ainarres_private.review_holds h
                      WHERE h.task_id = p_task AND h.round = p_round AND NOT h.restore) THEN
        RETURN _outcome('invalid', format('%s round %s is not waiting for a canary decision '
                                           'at %s', _short(p_task), p_round, left(p_real, 12)));
    END IF;
    INSERT INTO ainarres_private.canaries (task_id, round, real_head, seeded_head, file, line,
                                           kind, tolerance, description, writer_family)
    VALUES (p_task, p_round, p_real, p_seeded, p_file, p_line, p_kind, p_tolerance,
            p_description, v_task.writer_family);
    RETURN _outcome('ok', 'planned', jsonb_build_object('state', 'planting'));
END $$;


--
-- Name: canary_release(uuid, integer, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.canary_release(p_task uuid, p_round integer, p_restore boolean) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ainarres_private.review_holds
                   WHERE task_id = p_task AND round = p_round AND restore = p_restore) THEN
        RETURN _outcome('invalid', format('%s round %s is not held', _short(p_task), p_round));
    END IF;
    IF p_restore THEN
        UPDATE ainarres_private.canaries SET restored_at = now()
        WHERE task_id = p_task AND state = 'judged' AND restored_at IS NULL;
        IF (SELECT rate > 0 FROM ainarres_private.canary_settings) THEN
            UPDATE ainarres_private.review_holds SET restore = false, since = now()
            WHERE task_id = p_task;
            RETURN _outcome('ok', format('%s round %s waits for a canary decision',
                                         _short(p_task), p_round));
        END IF;
    END IF;
    DELETE FROM ainarres_private.review_holds WHERE task_id = p_task;
    UPDATE tasks SET updated_at = now() WHERE id = p_task;
    PERFORM _wake('review');
    RETURN _outcome('ok', format('%s round %s is open for review', _short(p_task), p_round));
END $$;


--
-- Name: canary_set(numeric, bigint); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.canary_set(p_rate numeric, p_seed bigint) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
DECLARE
    v_released integer := 0;
    v_task uuid;
BEGIN
    IF p_rate IS NULL OR NOT (p_rate >= 0 AND p_rate <= 0.9) THEN
        RETURN _outcome('invalid', 'the canary rate is a share of review rounds from 0 to 0.9 '
                        '(0 stops planting; above 0.9 a task could wait for ever)');
    END IF;
    UPDATE ainarres_private.canary_settings
    SET rate = p_rate, seed = COALESCE(p_seed, seed), updated_at = now();
    IF p_rate = 0 THEN
        -- Rounds waiting for a decision are decided: no canary (a round whose canary is
        -- being planted waits for the service to finish it). Verdicts on real rounds apply
        -- now; those on seeded rounds, and heads to put back, wait for the service.
        WITH gone AS (
            DELETE FROM ainarres_private.review_holds h
            WHERE NOT h.restore
              AND NOT EXISTS (SELECT 1 FROM ainarres_private.canaries c
                              WHERE c.task_id = h.task_id AND c.round = h.round)
            RETURNING task_id)
        SELECT count(*) INTO v_released FROM gone;
        FOR v_task IN SELECT v.task_id FROM ainarres_private.verdicts v
                      JOIN tasks t ON t.id = v.task_id WHERE NOT _canary_live(t) LOOP
            PERFORM canary_apply(v_task);
        END LOOP;
        PERFORM _wake('review');
    END IF;
    RETURN _outcome('ok', format('canary rate %s', trim_scale(p_rate)),
                    jsonb_build_object('rate', p_rate, 'released', v_released));
END $$;


--
-- Name: claim_next(uuid, text[]); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[] DEFAULT NULL::text[]) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    SELECT ainarres.claim_next(p_agent, p_roles, NULL::integer)
$$;


--
-- Name: claim_next(uuid, text[], integer); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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
              AND (NOT s.reviews_branch  -- only a review round is ever held
                   OR (NOT EXISTS (SELECT 1 FROM ainarres_private.review_holds h
                                   WHERE h.task_id = t.id)
                       AND NOT EXISTS (SELECT 1 FROM ainarres_private.verdicts v
                                       WHERE v.task_id = t.id)))
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


--
-- Name: create_task(uuid, text, text, integer, uuid[], uuid, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.create_task(p_agent uuid, p_title text, p_body text, p_priority integer, p_depends_on uuid[], p_parent uuid, p_workflow text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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
                      _bad_text_or_empty('body', p_body, 65536, false),
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


--
-- Name: deny_role(text, text, text, timestamp with time zone); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.deny_role(p_family text, p_role text, p_reason text, p_expires_at timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: events_append_only(); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.events_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;


--
-- Name: events_govern(); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.events_govern() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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
    ELSIF NEW.kind = 'canary' THEN
        PERFORM _govern(NEW.family_id, 'reviewer');
    ELSIF NEW.kind = 'usage' THEN
        PERFORM _govern(NEW.family_id, 'implementer');
    END IF;
    RETURN NULL;
END $$;


--
-- Name: family_add(text, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.family_add(p_name text, p_tool text, p_model text, p_password text) RETURNS jsonb
    LANGUAGE sql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
    SELECT ainarres.family_add(p_name, p_tool, p_model, p_password, NULL::text)
$$;


--
-- Name: family_add(text, text, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.family_add(p_name text, p_tool text, p_model text, p_password text, p_maker text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $_$
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
END $_$;


--
-- Name: family_keyed(text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.family_keyed(p_family text, p_fingerprint text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $_$
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
END $_$;


--
-- Name: family_password(text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.family_password(p_family text, p_password text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: family_retire(text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.family_retire(p_family text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: gate_integrations(uuid[]); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.gate_integrations(p_ids uuid[]) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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


--
-- Name: gate_login(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.gate_login(p_password text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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
        ainarres.gate_task_branch(text), ainarres.gate_integrations(uuid[]),
        ainarres.gate_seeded(text[]) TO %I', v_role);
    PERFORM _reserve_connections(v_role);
    INSERT INTO settings (key, value) VALUES ('gate_role', v_role)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    RETURN _outcome('ok', format('gate login %s ready', v_role),
                    jsonb_build_object('family', jsonb_build_object('db_role', v_role)));
END $$;


--
-- Name: gate_seeded(text[]); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.gate_seeded(p_oids text[]) RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    SELECT COALESCE(array_agg(DISTINCT c.seeded_head::text), '{}')
    FROM ainarres_private.canaries c WHERE c.seeded_head = ANY(p_oids)
$$;


--
-- Name: gate_signer(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.gate_signer(p_principal text) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    SELECT jsonb_build_object(
        'family', f.name,
        'roles', COALESCE((SELECT jsonb_agg(r.name ORDER BY r.name) FROM roles r
                           WHERE _has_role(f.id, r.name)), '[]'))
    FROM families f WHERE f.name = p_principal
$$;


--
-- Name: gate_task_branch(text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.gate_task_branch(p_branch text) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    SELECT jsonb_build_object(
        'task_id', t.id, 'short_id', _short(t.id), 'stage', s.name,
        'writes_branch', s.writes_branch, 'holder_family', f.name, 'epoch', t.claim_epoch,
        'lease_live', t.lease_expires_at IS NOT NULL AND t.lease_expires_at >= now())
    FROM tasks t
    JOIN stages s ON s.id = t.stage_id
    LEFT JOIN families f ON f.id = t.holder_family
    WHERE t.branch = p_branch
$$;


--
-- Name: grant_role(text, text, timestamp with time zone); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.grant_role(p_family text, p_role text, p_expires_at timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: grants_integrator_is_a_person(); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.grants_integrator_is_a_person() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: heartbeat(uuid, uuid, bigint); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.heartbeat(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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


--
-- Name: integrate_beat(uuid, integer); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.integrate_beat(p_agent uuid, p_pid integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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


--
-- Name: integrate_begin(uuid, integer, text, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.integrate_begin(p_agent uuid, p_pid integer, p_host text, p_takeover boolean) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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


--
-- Name: integrate_end(uuid, integer); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.integrate_end(p_agent uuid, p_pid integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_family families := _caller();
BEGIN
    DELETE FROM integration_run
    WHERE agent_id = p_agent AND pid = p_pid AND family_id = v_family.id;
    RETURN _outcome(CASE WHEN FOUND THEN 'ok' ELSE 'not_found' END, 'integrate run ended');
END $$;


--
-- Name: lift_denial(text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.lift_denial(p_family text, p_role text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: note(uuid, uuid, bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.note(p_agent uuid, p_task uuid, p_epoch bigint, p_body text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_bad text := _bad_text('note', p_body, 16384, false);
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    IF v_bad IS NOT NULL THEN RETURN _outcome('invalid', v_bad); END IF;
    PERFORM _log('note', p_task, v_family.id, p_agent, NULL, NULL, p_epoch,
                 jsonb_build_object('body', p_body));
    RETURN _outcome('ok', format('noted on %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_held.task)));
END $$;


--
-- Name: record_usage(uuid, uuid, bigint, bigint, numeric, numeric); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.record_usage(p_agent uuid, p_task uuid, p_epoch bigint, p_tokens bigint, p_cost_usd numeric, p_seconds numeric) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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


--
-- Name: release(uuid, uuid, bigint); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.release(p_agent uuid, p_task uuid, p_epoch bigint) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    UPDATE tasks SET holder_agent = NULL, holder_family = NULL, lease_expires_at = NULL,
           updated_at = now()
    WHERE id = p_task
    RETURNING * INTO v_task;
    PERFORM _log('released', p_task, v_family.id, p_agent, NULL, NULL, p_epoch);
    PERFORM _wake((SELECT name FROM stages WHERE id = v_task.stage_id));
    RETURN _outcome('ok', format('released %s', _short(p_task)),
                    jsonb_build_object('task', _task_json(v_task)));
END $$;


--
-- Name: resume(uuid); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.resume(p_agent uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
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


--
-- Name: return_task(uuid, uuid, bigint, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    SELECT ainarres.return_task(p_agent, p_task, p_epoch, p_reason, p_cause, NULL::text)
$$;


--
-- Name: return_task(uuid, uuid, bigint, text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
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


--
-- Name: revoke_role(text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.revoke_role(p_family text, p_role text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: set_base(uuid, uuid, bigint, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.set_base(p_agent uuid, p_task uuid, p_epoch bigint, p_base text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $_$
DECLARE
    v_family families := _caller();
    v_held record := _hold(v_family, p_agent, p_task, p_epoch);
    v_task tasks;
BEGIN
    IF v_held.refusal IS NOT NULL THEN RETURN v_held.refusal; END IF;
    v_task := v_held.task;
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
END $_$;


--
-- Name: set_cross_review(text, text, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.set_cross_review(p_workflow text, p_mode text, p_level text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: set_policy(text, numeric, interval, interval, boolean); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.set_policy(p_name text, p_threshold numeric, p_window interval, p_denial_base interval, p_enabled boolean) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: set_stage(text, text, integer, integer); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.set_stage(p_workflow text, p_stage text, p_lease_seconds integer, p_max_attempts integer) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    AS $$
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


--
-- Name: tasks_default_branch(); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.tasks_default_branch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.branch := COALESCE(NEW.branch, 'task/' || right(replace(NEW.id::text, '-', ''), 12));
    RETURN NEW;
END $$;


--
-- Name: unblock(uuid, text); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.unblock(p_task uuid, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    v_task tasks;
    v_bad text := _bad_text('reason', p_reason, 2000, false);
BEGIN
    SELECT * INTO v_task FROM tasks WHERE id = p_task FOR NO KEY UPDATE;
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


--
-- Name: wait_begin(uuid); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.wait_begin(p_agent uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    UPDATE ainarres.agents a SET waiting_since = now()
    FROM ainarres.families f
    WHERE a.id = p_agent AND f.id = a.family_id AND f.db_role = session_user
$$;


--
-- Name: wait_end(uuid); Type: FUNCTION; Schema: ainarres; Owner: -
--

CREATE FUNCTION ainarres.wait_end(p_agent uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'ainarres', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
    UPDATE ainarres.agents a SET waiting_since = NULL
    FROM ainarres.families f
    WHERE a.id = p_agent AND f.id = a.family_id AND f.db_role = session_user
$$;


--
-- Name: agents; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.agents (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    family_id bigint NOT NULL,
    name text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    waiting_since timestamp with time zone,
    sandboxed boolean,
    CONSTRAINT agents_name_check CHECK ((name ~ '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$'::text))
);


--
-- Name: annotations; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.annotations (
    id bigint NOT NULL,
    task_id uuid NOT NULL,
    round integer NOT NULL,
    commit ainarres.git_oid NOT NULL,
    file text NOT NULL,
    line integer NOT NULL,
    side text NOT NULL,
    severity text NOT NULL,
    body text NOT NULL,
    family_id bigint NOT NULL,
    agent_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT annotations_body_check CHECK (((length(btrim(body)) >= 1) AND (octet_length(body) <= 16384))),
    CONSTRAINT annotations_file_check CHECK ((((length(file) >= 1) AND (length(file) <= 4096)) AND (file !~ '[[:cntrl:]]'::text))),
    CONSTRAINT annotations_line_check CHECK (((line >= 1) AND (line <= 10000000))),
    CONSTRAINT annotations_severity_check CHECK ((severity = ANY (ARRAY['blocker'::text, 'major'::text, 'minor'::text, 'nit'::text]))),
    CONSTRAINT annotations_side_check CHECK ((side = ANY (ARRAY['new'::text, 'old'::text])))
);


--
-- Name: annotations_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.annotations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.annotations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: denials; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.denials (
    id bigint NOT NULL,
    family_id bigint NOT NULL,
    role text NOT NULL,
    reason text NOT NULL,
    expires_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text NOT NULL,
    lifted_at timestamp with time zone,
    lifted_by text,
    lifted_reason text,
    CONSTRAINT denials_reason_check CHECK (((length(btrim(reason)) >= 1) AND (length(btrim(reason)) <= 2000)))
);


--
-- Name: denials_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.denials ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.denials_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: events; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.events (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    kind text NOT NULL,
    task_id uuid,
    family_id bigint,
    agent_id uuid,
    actor text DEFAULT SESSION_USER NOT NULL,
    from_stage text,
    to_stage text,
    epoch bigint,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT events_kind_check CHECK ((kind = ANY (ARRAY['briefed'::text, 'created'::text, 'claimed'::text, 'note'::text, 'based'::text, 'advanced'::text, 'returned'::text, 'released'::text, 'blocked'::text, 'unblocked'::text, 'lease_expired'::text, 'annotated'::text, 'usage'::text, 'integrate_started'::text, 'canary'::text, 'family_added'::text, 'granted'::text, 'revoked'::text, 'denied'::text, 'lifted'::text, 'retired'::text, 'password_rotated'::text, 'key_rotated'::text, 'demoted'::text, 'policy_changed'::text, 'workflow_changed'::text])))
);


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: families_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.families ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.families_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: grants; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.grants (
    family_id bigint NOT NULL,
    role text NOT NULL,
    expires_at timestamp with time zone,
    granted_at timestamp with time zone DEFAULT now() NOT NULL,
    granted_by text NOT NULL
);


--
-- Name: integration_run; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.integration_run (
    one boolean DEFAULT true NOT NULL,
    family_id bigint NOT NULL,
    agent_id uuid NOT NULL,
    pid integer NOT NULL,
    host text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    beat_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT integration_run_host_check CHECK ((((length(host) >= 1) AND (length(host) <= 255)) AND (host !~ '[[:cntrl:]]'::text))),
    CONSTRAINT integration_run_one_check CHECK (one)
);


--
-- Name: maker_defaults; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.maker_defaults (
    tool text NOT NULL,
    model text NOT NULL,
    maker text NOT NULL,
    CONSTRAINT maker_defaults_maker_check CHECK ((maker ~ '^[a-z][a-z0-9-]{0,31}$'::text))
);


--
-- Name: policies; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.policies (
    name text NOT NULL,
    role text NOT NULL,
    metric text NOT NULL,
    threshold numeric NOT NULL,
    window_span interval DEFAULT '7 days'::interval NOT NULL,
    denial_base interval DEFAULT '01:00:00'::interval NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    description text NOT NULL,
    min_samples integer DEFAULT 0 NOT NULL,
    CONSTRAINT policies_denial_base_check CHECK ((denial_base > '00:00:00'::interval)),
    CONSTRAINT policies_metric_check CHECK ((metric = ANY (ARRAY['approvals_failed_checks'::text, 'returned_in_a_row'::text, 'abandoned'::text, 'seconds_vs_peer_median'::text, 'canary_missed'::text]))),
    CONSTRAINT policies_min_samples_check CHECK ((min_samples >= 0)),
    CONSTRAINT policies_name_check CHECK ((name ~ '^[a-z][a-z0-9_-]{0,47}$'::text)),
    CONSTRAINT policies_threshold_check CHECK ((threshold > (0)::numeric)),
    CONSTRAINT policies_window_span_check CHECK ((window_span > '00:00:00'::interval))
);


--
-- Name: reviews; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.reviews (
    id bigint NOT NULL,
    task_id uuid NOT NULL,
    round integer NOT NULL,
    commit ainarres.git_oid,
    verdict text NOT NULL,
    reason text,
    family_id bigint NOT NULL,
    agent_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reviews_verdict_check CHECK ((verdict = ANY (ARRAY['approve'::text, 'return'::text])))
);


--
-- Name: reviews_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.reviews ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.reviews_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: roles; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.roles (
    name text NOT NULL,
    description text NOT NULL,
    person_only boolean DEFAULT false NOT NULL,
    CONSTRAINT roles_name_check CHECK ((name ~ '^[a-z][a-z_]{0,31}$'::text))
);


--
-- Name: schema_migrations; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: settings; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.settings (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: stages_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.stages ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.stages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: task_deps; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.task_deps (
    task_id uuid NOT NULL,
    depends_on uuid NOT NULL,
    CONSTRAINT task_deps_check CHECK ((task_id <> depends_on))
);


--
-- Name: tasks_seq_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.tasks ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.tasks_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: track_records; Type: VIEW; Schema: ainarres; Owner: -
--

CREATE VIEW ainarres.track_records AS
 SELECT name AS family,
    ( SELECT count(*) AS count
           FROM ainarres.events e
          WHERE ((e.family_id = f.id) AND (e.kind = 'claimed'::text))) AS claimed,
    ( SELECT count(*) AS count
           FROM (ainarres.tasks t
             JOIN ainarres.stages s ON ((s.id = t.stage_id)))
          WHERE ((t.writer_family = f.id) AND s.is_terminal)) AS shipped,
    ( SELECT count(*) AS count
           FROM ainarres.events e
          WHERE ((e.kind = 'returned'::text) AND (((e.data ->> 'writer_family'::text))::bigint = f.id))) AS returned_as_producer,
    ( SELECT count(*) AS count
           FROM ainarres.events e
          WHERE ((e.kind = 'lease_expired'::text) AND (e.family_id = f.id) AND ((e.data ->> 'seen_after_expiry'::text))::boolean)) AS abandoned,
    ( SELECT count(*) AS count
           FROM ainarres.reviews r
          WHERE (r.family_id = f.id)) AS reviews_done,
    ( SELECT count(*) AS count
           FROM (ainarres.reviews r
             JOIN ainarres.events e ON (((e.task_id = r.task_id) AND (e.kind = 'returned'::text) AND ((e.data ->> 'cause'::text) = 'checks'::text) AND (((e.data ->> 'round'::text))::integer = r.round))))
          WHERE ((r.family_id = f.id) AND (r.verdict = 'approve'::text))) AS approvals_failed_checks,
    ( SELECT count(*) AS count
           FROM (ainarres.reviews r
             JOIN ainarres.reviews nxt ON (((nxt.task_id = r.task_id) AND (nxt.round = (r.round + 1)) AND (nxt.verdict = 'approve'::text) AND (nxt.family_id <> r.family_id))))
          WHERE ((r.family_id = f.id) AND (r.verdict = 'return'::text))) AS returns_overturned,
    (( SELECT COALESCE(sum(((e.data ->> 'seconds'::text))::numeric), (0)::numeric) AS "coalesce"
           FROM ainarres.events e
          WHERE ((e.family_id = f.id) AND (e.kind = 'usage'::text))))::double precision AS seconds_worked,
    ( SELECT sum(((e.data ->> 'tokens'::text))::bigint) AS sum
           FROM ainarres.events e
          WHERE ((e.family_id = f.id) AND (e.kind = 'usage'::text))) AS tokens
   FROM ainarres.families f;


--
-- Name: transitions; Type: TABLE; Schema: ainarres; Owner: -
--

CREATE TABLE ainarres.transitions (
    id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    from_stage_id bigint NOT NULL,
    to_stage_id bigint NOT NULL,
    kind text NOT NULL,
    role text,
    CONSTRAINT transitions_check CHECK (((kind = 'create'::text) = (role IS NULL))),
    CONSTRAINT transitions_kind_check CHECK ((kind = ANY (ARRAY['advance'::text, 'return'::text, 'create'::text])))
);


--
-- Name: transitions_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.transitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.transitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: workflows_id_seq; Type: SEQUENCE; Schema: ainarres; Owner: -
--

ALTER TABLE ainarres.workflows ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres.workflows_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: canaries; Type: TABLE; Schema: ainarres_private; Owner: -
--

CREATE TABLE ainarres_private.canaries (
    id bigint NOT NULL,
    task_id uuid NOT NULL,
    round integer NOT NULL,
    real_head ainarres.git_oid NOT NULL,
    seeded_head ainarres.git_oid NOT NULL,
    file text NOT NULL,
    line integer NOT NULL,
    kind text NOT NULL,
    tolerance integer NOT NULL,
    description text NOT NULL,
    writer_family bigint,
    state text DEFAULT 'planting'::text NOT NULL,
    result text,
    reviewer_family bigint,
    reviewer_agent uuid,
    reason text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    judged_at timestamp with time zone,
    restored_at timestamp with time zone,
    CONSTRAINT canaries_check CHECK (((state = 'judged'::text) = (result IS NOT NULL))),
    CONSTRAINT canaries_file_check CHECK (((length(file) >= 1) AND (length(file) <= 4096))),
    CONSTRAINT canaries_kind_check CHECK ((kind ~ '^[a-z][a-z_]{0,47}$'::text)),
    CONSTRAINT canaries_line_check CHECK ((line >= 1)),
    CONSTRAINT canaries_result_check CHECK ((result = ANY (ARRAY['caught'::text, 'missed'::text, 'returned_elsewhere'::text]))),
    CONSTRAINT canaries_state_check CHECK ((state = ANY (ARRAY['planting'::text, 'live'::text, 'judged'::text]))),
    CONSTRAINT canaries_tolerance_check CHECK (((tolerance >= 0) AND (tolerance <= 20)))
)
WITH (autovacuum_enabled='false');


--
-- Name: canaries_id_seq; Type: SEQUENCE; Schema: ainarres_private; Owner: -
--

ALTER TABLE ainarres_private.canaries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ainarres_private.canaries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: canary_settings; Type: TABLE; Schema: ainarres_private; Owner: -
--

CREATE TABLE ainarres_private.canary_settings (
    one boolean DEFAULT true NOT NULL,
    rate numeric DEFAULT 0 NOT NULL,
    seed bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT canary_settings_one_check CHECK (one),
    CONSTRAINT canary_settings_rate_check CHECK (((rate >= (0)::numeric) AND (rate <= 0.9)))
);


--
-- Name: migrate_lock; Type: TABLE; Schema: ainarres_private; Owner: -
--

CREATE TABLE ainarres_private.migrate_lock (
);


--
-- Name: review_holds; Type: TABLE; Schema: ainarres_private; Owner: -
--

CREATE TABLE ainarres_private.review_holds (
    task_id uuid NOT NULL,
    round integer NOT NULL,
    restore boolean DEFAULT false NOT NULL,
    since timestamp with time zone DEFAULT now() NOT NULL
)
WITH (autovacuum_enabled='false');


--
-- Name: verdicts; Type: TABLE; Schema: ainarres_private; Owner: -
--

CREATE TABLE ainarres_private.verdicts (
    task_id uuid NOT NULL,
    round integer NOT NULL,
    epoch bigint NOT NULL,
    family_id bigint NOT NULL,
    agent_id uuid NOT NULL,
    verdict text NOT NULL,
    reason text,
    cause text,
    detail text,
    at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT verdicts_verdict_check CHECK ((verdict = ANY (ARRAY['approve'::text, 'return'::text])))
)
WITH (autovacuum_enabled='false');


--
-- Name: agents agents_family_id_name_key; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.agents
    ADD CONSTRAINT agents_family_id_name_key UNIQUE (family_id, name);


--
-- Name: agents agents_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.agents
    ADD CONSTRAINT agents_pkey PRIMARY KEY (id);


--
-- Name: annotations annotations_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.annotations
    ADD CONSTRAINT annotations_pkey PRIMARY KEY (id);


--
-- Name: denials denials_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.denials
    ADD CONSTRAINT denials_pkey PRIMARY KEY (id);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: families families_db_role_key; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.families
    ADD CONSTRAINT families_db_role_key UNIQUE (db_role);


--
-- Name: families families_name_key; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.families
    ADD CONSTRAINT families_name_key UNIQUE (name);


--
-- Name: families families_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.families
    ADD CONSTRAINT families_pkey PRIMARY KEY (id);


--
-- Name: grants grants_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.grants
    ADD CONSTRAINT grants_pkey PRIMARY KEY (family_id, role);


--
-- Name: integration_run integration_run_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.integration_run
    ADD CONSTRAINT integration_run_pkey PRIMARY KEY (one);


--
-- Name: maker_defaults maker_defaults_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.maker_defaults
    ADD CONSTRAINT maker_defaults_pkey PRIMARY KEY (tool, model);


--
-- Name: policies policies_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (name);


--
-- Name: reviews reviews_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.reviews
    ADD CONSTRAINT reviews_pkey PRIMARY KEY (id);


--
-- Name: roles roles_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.roles
    ADD CONSTRAINT roles_pkey PRIMARY KEY (name);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);


--
-- Name: stages stages_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.stages
    ADD CONSTRAINT stages_pkey PRIMARY KEY (id);


--
-- Name: stages stages_workflow_id_name_key; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.stages
    ADD CONSTRAINT stages_workflow_id_name_key UNIQUE (workflow_id, name);


--
-- Name: task_deps task_deps_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.task_deps
    ADD CONSTRAINT task_deps_pkey PRIMARY KEY (task_id, depends_on);


--
-- Name: tasks tasks_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (id);


--
-- Name: transitions transitions_from_stage_id_kind_to_stage_id_key; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.transitions
    ADD CONSTRAINT transitions_from_stage_id_kind_to_stage_id_key UNIQUE (from_stage_id, kind, to_stage_id);


--
-- Name: transitions transitions_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.transitions
    ADD CONSTRAINT transitions_pkey PRIMARY KEY (id);


--
-- Name: workflows workflows_name_key; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.workflows
    ADD CONSTRAINT workflows_name_key UNIQUE (name);


--
-- Name: workflows workflows_pkey; Type: CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.workflows
    ADD CONSTRAINT workflows_pkey PRIMARY KEY (id);


--
-- Name: canaries canaries_pkey; Type: CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.canaries
    ADD CONSTRAINT canaries_pkey PRIMARY KEY (id);


--
-- Name: canaries canaries_task_id_round_key; Type: CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.canaries
    ADD CONSTRAINT canaries_task_id_round_key UNIQUE (task_id, round);


--
-- Name: canary_settings canary_settings_pkey; Type: CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.canary_settings
    ADD CONSTRAINT canary_settings_pkey PRIMARY KEY (one);


--
-- Name: review_holds review_holds_pkey; Type: CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.review_holds
    ADD CONSTRAINT review_holds_pkey PRIMARY KEY (task_id);


--
-- Name: verdicts verdicts_pkey; Type: CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.verdicts
    ADD CONSTRAINT verdicts_pkey PRIMARY KEY (task_id);


--
-- Name: agents_waiting; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX agents_waiting ON ainarres.agents USING btree (waiting_since) WHERE (waiting_since IS NOT NULL);


--
-- Name: annotations_task; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX annotations_task ON ainarres.annotations USING btree (task_id, round, id);


--
-- Name: denials_active; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX denials_active ON ainarres.denials USING btree (family_id, role) WHERE (lifted_at IS NULL);


--
-- Name: events_task; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX events_task ON ainarres.events USING btree (task_id, id);


--
-- Name: grants_one_integrator; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE UNIQUE INDEX grants_one_integrator ON ainarres.grants USING btree (role) WHERE (role = 'integrator'::text);


--
-- Name: reviews_task; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX reviews_task ON ainarres.reviews USING btree (task_id, id);


--
-- Name: stages_one_initial; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE UNIQUE INDEX stages_one_initial ON ainarres.stages USING btree (workflow_id) WHERE is_initial;


--
-- Name: task_deps_depends_on; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX task_deps_depends_on ON ainarres.task_deps USING btree (depends_on);


--
-- Name: tasks_branch_unique; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE UNIQUE INDEX tasks_branch_unique ON ainarres.tasks USING btree (branch);


--
-- Name: tasks_claim; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX tasks_claim ON ainarres.tasks USING btree (stage_id, priority DESC, seq) WHERE (open AND (NOT blocked) AND (open_deps = 0));


--
-- Name: tasks_held; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX tasks_held ON ainarres.tasks USING btree (holder_agent) WHERE (holder_agent IS NOT NULL);


--
-- Name: tasks_id_rev; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE INDEX tasks_id_rev ON ainarres.tasks USING btree (id_rev text_pattern_ops);


--
-- Name: transitions_one_advance; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE UNIQUE INDEX transitions_one_advance ON ainarres.transitions USING btree (from_stage_id) WHERE (kind = 'advance'::text);


--
-- Name: transitions_one_return; Type: INDEX; Schema: ainarres; Owner: -
--

CREATE UNIQUE INDEX transitions_one_return ON ainarres.transitions USING btree (from_stage_id) WHERE (kind = 'return'::text);


--
-- Name: canaries_reviewer; Type: INDEX; Schema: ainarres_private; Owner: -
--

CREATE INDEX canaries_reviewer ON ainarres_private.canaries USING btree (reviewer_family, judged_at);


--
-- Name: canaries_seeded_head; Type: INDEX; Schema: ainarres_private; Owner: -
--

CREATE INDEX canaries_seeded_head ON ainarres_private.canaries USING btree (seeded_head);


--
-- Name: events events_govern; Type: TRIGGER; Schema: ainarres; Owner: -
--

CREATE TRIGGER events_govern AFTER INSERT ON ainarres.events FOR EACH ROW WHEN ((new.kind = ANY (ARRAY['returned'::text, 'lease_expired'::text, 'usage'::text, 'canary'::text]))) EXECUTE FUNCTION ainarres.events_govern();


--
-- Name: events events_no_truncate; Type: TRIGGER; Schema: ainarres; Owner: -
--

CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ainarres.events FOR EACH STATEMENT EXECUTE FUNCTION ainarres.events_append_only();


--
-- Name: events events_no_update; Type: TRIGGER; Schema: ainarres; Owner: -
--

CREATE TRIGGER events_no_update BEFORE DELETE OR UPDATE ON ainarres.events FOR EACH ROW EXECUTE FUNCTION ainarres.events_append_only();


--
-- Name: grants grants_integrator; Type: TRIGGER; Schema: ainarres; Owner: -
--

CREATE TRIGGER grants_integrator BEFORE INSERT OR UPDATE ON ainarres.grants FOR EACH ROW EXECUTE FUNCTION ainarres.grants_integrator_is_a_person();


--
-- Name: tasks tasks_branch; Type: TRIGGER; Schema: ainarres; Owner: -
--

CREATE TRIGGER tasks_branch BEFORE INSERT ON ainarres.tasks FOR EACH ROW EXECUTE FUNCTION ainarres.tasks_default_branch();


--
-- Name: agents agents_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.agents
    ADD CONSTRAINT agents_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: annotations annotations_agent_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.annotations
    ADD CONSTRAINT annotations_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES ainarres.agents(id);


--
-- Name: annotations annotations_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.annotations
    ADD CONSTRAINT annotations_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: annotations annotations_task_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.annotations
    ADD CONSTRAINT annotations_task_id_fkey FOREIGN KEY (task_id) REFERENCES ainarres.tasks(id);


--
-- Name: denials denials_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.denials
    ADD CONSTRAINT denials_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: denials denials_role_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.denials
    ADD CONSTRAINT denials_role_fkey FOREIGN KEY (role) REFERENCES ainarres.roles(name);


--
-- Name: grants grants_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.grants
    ADD CONSTRAINT grants_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: grants grants_role_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.grants
    ADD CONSTRAINT grants_role_fkey FOREIGN KEY (role) REFERENCES ainarres.roles(name);


--
-- Name: integration_run integration_run_agent_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.integration_run
    ADD CONSTRAINT integration_run_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES ainarres.agents(id);


--
-- Name: integration_run integration_run_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.integration_run
    ADD CONSTRAINT integration_run_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: policies policies_role_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.policies
    ADD CONSTRAINT policies_role_fkey FOREIGN KEY (role) REFERENCES ainarres.roles(name);


--
-- Name: reviews reviews_agent_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.reviews
    ADD CONSTRAINT reviews_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES ainarres.agents(id);


--
-- Name: reviews reviews_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.reviews
    ADD CONSTRAINT reviews_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: reviews reviews_task_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.reviews
    ADD CONSTRAINT reviews_task_id_fkey FOREIGN KEY (task_id) REFERENCES ainarres.tasks(id);


--
-- Name: stages stages_workflow_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.stages
    ADD CONSTRAINT stages_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES ainarres.workflows(id);


--
-- Name: task_deps task_deps_depends_on_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.task_deps
    ADD CONSTRAINT task_deps_depends_on_fkey FOREIGN KEY (depends_on) REFERENCES ainarres.tasks(id);


--
-- Name: task_deps task_deps_task_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.task_deps
    ADD CONSTRAINT task_deps_task_id_fkey FOREIGN KEY (task_id) REFERENCES ainarres.tasks(id);


--
-- Name: tasks tasks_created_family_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_created_family_fkey FOREIGN KEY (created_family) REFERENCES ainarres.families(id);


--
-- Name: tasks tasks_holder_agent_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_holder_agent_fkey FOREIGN KEY (holder_agent) REFERENCES ainarres.agents(id);


--
-- Name: tasks tasks_holder_family_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_holder_family_fkey FOREIGN KEY (holder_family) REFERENCES ainarres.families(id);


--
-- Name: tasks tasks_parent_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES ainarres.tasks(id);


--
-- Name: tasks tasks_stage_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_stage_id_fkey FOREIGN KEY (stage_id) REFERENCES ainarres.stages(id);


--
-- Name: tasks tasks_workflow_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES ainarres.workflows(id);


--
-- Name: tasks tasks_writer_agent_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_writer_agent_fkey FOREIGN KEY (writer_agent) REFERENCES ainarres.agents(id);


--
-- Name: tasks tasks_writer_family_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.tasks
    ADD CONSTRAINT tasks_writer_family_fkey FOREIGN KEY (writer_family) REFERENCES ainarres.families(id);


--
-- Name: transitions transitions_from_stage_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.transitions
    ADD CONSTRAINT transitions_from_stage_id_fkey FOREIGN KEY (from_stage_id) REFERENCES ainarres.stages(id);


--
-- Name: transitions transitions_role_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.transitions
    ADD CONSTRAINT transitions_role_fkey FOREIGN KEY (role) REFERENCES ainarres.roles(name);


--
-- Name: transitions transitions_to_stage_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.transitions
    ADD CONSTRAINT transitions_to_stage_id_fkey FOREIGN KEY (to_stage_id) REFERENCES ainarres.stages(id);


--
-- Name: transitions transitions_workflow_id_fkey; Type: FK CONSTRAINT; Schema: ainarres; Owner: -
--

ALTER TABLE ONLY ainarres.transitions
    ADD CONSTRAINT transitions_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES ainarres.workflows(id);


--
-- Name: canaries canaries_reviewer_family_fkey; Type: FK CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.canaries
    ADD CONSTRAINT canaries_reviewer_family_fkey FOREIGN KEY (reviewer_family) REFERENCES ainarres.families(id);


--
-- Name: canaries canaries_task_id_fkey; Type: FK CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.canaries
    ADD CONSTRAINT canaries_task_id_fkey FOREIGN KEY (task_id) REFERENCES ainarres.tasks(id) ON DELETE CASCADE;


--
-- Name: canaries canaries_writer_family_fkey; Type: FK CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.canaries
    ADD CONSTRAINT canaries_writer_family_fkey FOREIGN KEY (writer_family) REFERENCES ainarres.families(id);


--
-- Name: review_holds review_holds_task_id_fkey; Type: FK CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.review_holds
    ADD CONSTRAINT review_holds_task_id_fkey FOREIGN KEY (task_id) REFERENCES ainarres.tasks(id) ON DELETE CASCADE;


--
-- Name: verdicts verdicts_family_id_fkey; Type: FK CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.verdicts
    ADD CONSTRAINT verdicts_family_id_fkey FOREIGN KEY (family_id) REFERENCES ainarres.families(id);


--
-- Name: verdicts verdicts_task_id_fkey; Type: FK CONSTRAINT; Schema: ainarres_private; Owner: -
--

ALTER TABLE ONLY ainarres_private.verdicts
    ADD CONSTRAINT verdicts_task_id_fkey FOREIGN KEY (task_id) REFERENCES ainarres.tasks(id) ON DELETE CASCADE;


--
-- Name: SCHEMA ainarres; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA ainarres TO <agents>;


--
-- Name: TABLE families; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.families TO <agents>;


--
-- Name: TABLE tasks; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.tasks TO <agents>;


--
-- Name: FUNCTION _advance_core(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_head_commit text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._advance_core(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_head_commit text) FROM PUBLIC;


--
-- Name: TABLE stages; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.stages TO <agents>;


--
-- Name: FUNCTION _advance_step(p_task ainarres.tasks, p_from ainarres.stages, p_to ainarres.stages, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_head_commit text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._advance_step(p_task ainarres.tasks, p_from ainarres.stages, p_to ainarres.stages, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_head_commit text) FROM PUBLIC;


--
-- Name: FUNCTION _approved_commit(p_task uuid); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._approved_commit(p_task uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres._approved_commit(p_task uuid) TO <agents>;


--
-- Name: FUNCTION _bad_text(p_field text, p_value text, p_max integer, p_single_line boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._bad_text(p_field text, p_value text, p_max integer, p_single_line boolean) FROM PUBLIC;


--
-- Name: FUNCTION _bad_text_or_empty(p_field text, p_value text, p_max integer, p_single_line boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._bad_text_or_empty(p_field text, p_value text, p_max integer, p_single_line boolean) FROM PUBLIC;


--
-- Name: FUNCTION _caller(); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._caller() FROM PUBLIC;


--
-- Name: FUNCTION _canary_defer(p_task ainarres.tasks); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._canary_defer(p_task ainarres.tasks) FROM PUBLIC;


--
-- Name: FUNCTION _canary_hold(p_task ainarres.tasks, p_restore boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._canary_hold(p_task ainarres.tasks, p_restore boolean) FROM PUBLIC;


--
-- Name: FUNCTION _canary_live(p_task ainarres.tasks); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._canary_live(p_task ainarres.tasks) FROM PUBLIC;


--
-- Name: FUNCTION _canary_verdict(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_verdict text, p_reason text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._canary_verdict(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_verdict text, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION _default_maker(p_tool text, p_model text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._default_maker(p_tool text, p_model text) FROM PUBLIC;


--
-- Name: FUNCTION _family_limits(p_role text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._family_limits(p_role text) FROM PUBLIC;


--
-- Name: FUNCTION _govern(p_family bigint, p_role text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._govern(p_family bigint, p_role text) FROM PUBLIC;


--
-- Name: PROCEDURE _grant_execute(IN p_to text, VARIADIC p_routines regprocedure[]); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON PROCEDURE ainarres._grant_execute(IN p_to text, VARIADIC p_routines regprocedure[]) FROM PUBLIC;


--
-- Name: FUNCTION _has_role(p_family bigint, p_role text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._has_role(p_family bigint, p_role text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres._has_role(p_family bigint, p_role text) TO <agents>;


--
-- Name: FUNCTION _hold(p_family ainarres.families, p_agent uuid, p_task uuid, p_epoch bigint, OUT task ainarres.tasks, OUT refusal jsonb); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._hold(p_family ainarres.families, p_agent uuid, p_task uuid, p_epoch bigint, OUT task ainarres.tasks, OUT refusal jsonb) FROM PUBLIC;


--
-- Name: FUNCTION _log(p_kind text, p_task uuid, p_family bigint, p_agent uuid, p_from text, p_to text, p_epoch bigint, p_data jsonb); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._log(p_kind text, p_task uuid, p_family bigint, p_agent uuid, p_from text, p_to text, p_epoch bigint, p_data jsonb) FROM PUBLIC;


--
-- Name: FUNCTION _metric(p_family bigint, p_role text, p_metric text, p_window interval); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._metric(p_family bigint, p_role text, p_metric text, p_window interval) FROM PUBLIC;


--
-- Name: FUNCTION _outcome(p_outcome text, p_message text, p_extra jsonb); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._outcome(p_outcome text, p_message text, p_extra jsonb) FROM PUBLIC;


--
-- Name: FUNCTION _reclaim(v_task ainarres.tasks, v_stage ainarres.stages); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._reclaim(v_task ainarres.tasks, v_stage ainarres.stages) FROM PUBLIC;


--
-- Name: FUNCTION _refuse_unheld(p_family ainarres.families, p_agent uuid, t ainarres.tasks, p_task uuid, p_epoch bigint); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._refuse_unheld(p_family ainarres.families, p_agent uuid, t ainarres.tasks, p_task uuid, p_epoch bigint) FROM PUBLIC;


--
-- Name: FUNCTION _reserve_connections(p_role text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._reserve_connections(p_role text) FROM PUBLIC;


--
-- Name: FUNCTION _return_core(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._return_core(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) FROM PUBLIC;


--
-- Name: FUNCTION _return_step(p_task ainarres.tasks, p_from ainarres.stages, p_to ainarres.stages, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._return_step(p_task ainarres.tasks, p_from ainarres.stages, p_to ainarres.stages, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) FROM PUBLIC;


--
-- Name: TABLE workflows; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.workflows TO <agents>;


--
-- Name: FUNCTION _same_side(p_workflow ainarres.workflows, p_reviewer ainarres.families, p_writer bigint); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._same_side(p_workflow ainarres.workflows, p_reviewer ainarres.families, p_writer bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres._same_side(p_workflow ainarres.workflows, p_reviewer ainarres.families, p_writer bigint) TO <agents>;


--
-- Name: FUNCTION _short(p_id uuid); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._short(p_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres._short(p_id uuid) TO <agents>;


--
-- Name: FUNCTION _task_json(t ainarres.tasks); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._task_json(t ainarres.tasks) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres._task_json(t ainarres.tasks) TO <agents>;


--
-- Name: FUNCTION _text_refusal(p_field text, p_value text, p_max integer, p_single_line boolean, p_allow_empty boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._text_refusal(p_field text, p_value text, p_max integer, p_single_line boolean, p_allow_empty boolean) FROM PUBLIC;


--
-- Name: FUNCTION _verdict_record(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_verdict text, p_reason text, p_cause text, p_detail text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._verdict_record(p_task ainarres.tasks, p_family ainarres.families, p_agent uuid, p_epoch bigint, p_verdict text, p_reason text, p_cause text, p_detail text) FROM PUBLIC;


--
-- Name: FUNCTION _wake(p_what text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres._wake(p_what text) FROM PUBLIC;


--
-- Name: FUNCTION advance(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.advance(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.advance(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text) TO <agents>;


--
-- Name: FUNCTION advance_and_claim(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text, p_roles text[], p_lease_seconds integer); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.advance_and_claim(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text, p_roles text[], p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.advance_and_claim(p_agent uuid, p_task uuid, p_epoch bigint, p_head_commit text, p_roles text[], p_lease_seconds integer) TO <agents>;


--
-- Name: FUNCTION agent_mark(p_agent uuid, p_sandboxed boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.agent_mark(p_agent uuid, p_sandboxed boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.agent_mark(p_agent uuid, p_sandboxed boolean) TO <agents>;


--
-- Name: FUNCTION agent_start(p_name text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.agent_start(p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.agent_start(p_name text) TO <agents>;


--
-- Name: FUNCTION annotate(p_agent uuid, p_task uuid, p_epoch bigint, p_file text, p_line integer, p_side text, p_severity text, p_body text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.annotate(p_agent uuid, p_task uuid, p_epoch bigint, p_file text, p_line integer, p_side text, p_severity text, p_body text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.annotate(p_agent uuid, p_task uuid, p_epoch bigint, p_file text, p_line integer, p_side text, p_severity text, p_body text) TO <agents>;


--
-- Name: FUNCTION block(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.block(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.block(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text) TO <agents>;


--
-- Name: FUNCTION brief(p_title text, p_body text, p_priority integer, p_workflow text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.brief(p_title text, p_body text, p_priority integer, p_workflow text) FROM PUBLIC;


--
-- Name: FUNCTION canary_apply(p_task uuid); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.canary_apply(p_task uuid) FROM PUBLIC;


--
-- Name: FUNCTION canary_live(p_task uuid, p_round integer); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.canary_live(p_task uuid, p_round integer) FROM PUBLIC;


--
-- Name: FUNCTION canary_plan(p_task uuid, p_round integer, p_real text, p_seeded text, p_file text, p_line integer, p_kind text, p_tolerance integer, p_description text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.canary_plan(p_task uuid, p_round integer, p_real text, p_seeded text, p_file text, p_line integer, p_kind text, p_tolerance integer, p_description text) FROM PUBLIC;


--
-- Name: FUNCTION canary_release(p_task uuid, p_round integer, p_restore boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.canary_release(p_task uuid, p_round integer, p_restore boolean) FROM PUBLIC;


--
-- Name: FUNCTION canary_set(p_rate numeric, p_seed bigint); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.canary_set(p_rate numeric, p_seed bigint) FROM PUBLIC;


--
-- Name: FUNCTION claim_next(p_agent uuid, p_roles text[]); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[]) TO <agents>;


--
-- Name: FUNCTION claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.claim_next(p_agent uuid, p_roles text[], p_lease_seconds integer) TO <agents>;


--
-- Name: FUNCTION create_task(p_agent uuid, p_title text, p_body text, p_priority integer, p_depends_on uuid[], p_parent uuid, p_workflow text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.create_task(p_agent uuid, p_title text, p_body text, p_priority integer, p_depends_on uuid[], p_parent uuid, p_workflow text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.create_task(p_agent uuid, p_title text, p_body text, p_priority integer, p_depends_on uuid[], p_parent uuid, p_workflow text) TO <agents>;


--
-- Name: FUNCTION deny_role(p_family text, p_role text, p_reason text, p_expires_at timestamp with time zone); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.deny_role(p_family text, p_role text, p_reason text, p_expires_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION events_append_only(); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.events_append_only() FROM PUBLIC;


--
-- Name: FUNCTION events_govern(); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.events_govern() FROM PUBLIC;


--
-- Name: FUNCTION family_add(p_name text, p_tool text, p_model text, p_password text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.family_add(p_name text, p_tool text, p_model text, p_password text) FROM PUBLIC;


--
-- Name: FUNCTION family_add(p_name text, p_tool text, p_model text, p_password text, p_maker text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.family_add(p_name text, p_tool text, p_model text, p_password text, p_maker text) FROM PUBLIC;


--
-- Name: FUNCTION family_keyed(p_family text, p_fingerprint text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.family_keyed(p_family text, p_fingerprint text) FROM PUBLIC;


--
-- Name: FUNCTION family_password(p_family text, p_password text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.family_password(p_family text, p_password text) FROM PUBLIC;


--
-- Name: FUNCTION family_retire(p_family text, p_reason text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.family_retire(p_family text, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION gate_integrations(p_ids uuid[]); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.gate_integrations(p_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION gate_login(p_password text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.gate_login(p_password text) FROM PUBLIC;


--
-- Name: FUNCTION gate_seeded(p_oids text[]); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.gate_seeded(p_oids text[]) FROM PUBLIC;


--
-- Name: FUNCTION gate_signer(p_principal text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.gate_signer(p_principal text) FROM PUBLIC;


--
-- Name: FUNCTION gate_task_branch(p_branch text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.gate_task_branch(p_branch text) FROM PUBLIC;


--
-- Name: FUNCTION grant_role(p_family text, p_role text, p_expires_at timestamp with time zone); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.grant_role(p_family text, p_role text, p_expires_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION grants_integrator_is_a_person(); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.grants_integrator_is_a_person() FROM PUBLIC;


--
-- Name: FUNCTION heartbeat(p_agent uuid, p_task uuid, p_epoch bigint); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.heartbeat(p_agent uuid, p_task uuid, p_epoch bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.heartbeat(p_agent uuid, p_task uuid, p_epoch bigint) TO <agents>;


--
-- Name: FUNCTION integrate_beat(p_agent uuid, p_pid integer); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.integrate_beat(p_agent uuid, p_pid integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.integrate_beat(p_agent uuid, p_pid integer) TO <agents>;


--
-- Name: FUNCTION integrate_begin(p_agent uuid, p_pid integer, p_host text, p_takeover boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.integrate_begin(p_agent uuid, p_pid integer, p_host text, p_takeover boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.integrate_begin(p_agent uuid, p_pid integer, p_host text, p_takeover boolean) TO <agents>;


--
-- Name: FUNCTION integrate_end(p_agent uuid, p_pid integer); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.integrate_end(p_agent uuid, p_pid integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.integrate_end(p_agent uuid, p_pid integer) TO <agents>;


--
-- Name: FUNCTION lift_denial(p_family text, p_role text, p_reason text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.lift_denial(p_family text, p_role text, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION note(p_agent uuid, p_task uuid, p_epoch bigint, p_body text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.note(p_agent uuid, p_task uuid, p_epoch bigint, p_body text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.note(p_agent uuid, p_task uuid, p_epoch bigint, p_body text) TO <agents>;


--
-- Name: FUNCTION record_usage(p_agent uuid, p_task uuid, p_epoch bigint, p_tokens bigint, p_cost_usd numeric, p_seconds numeric); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.record_usage(p_agent uuid, p_task uuid, p_epoch bigint, p_tokens bigint, p_cost_usd numeric, p_seconds numeric) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.record_usage(p_agent uuid, p_task uuid, p_epoch bigint, p_tokens bigint, p_cost_usd numeric, p_seconds numeric) TO <agents>;


--
-- Name: FUNCTION release(p_agent uuid, p_task uuid, p_epoch bigint); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.release(p_agent uuid, p_task uuid, p_epoch bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.release(p_agent uuid, p_task uuid, p_epoch bigint) TO <agents>;


--
-- Name: FUNCTION resume(p_agent uuid); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.resume(p_agent uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.resume(p_agent uuid) TO <agents>;


--
-- Name: FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text) TO <agents>;


--
-- Name: FUNCTION return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.return_task(p_agent uuid, p_task uuid, p_epoch bigint, p_reason text, p_cause text, p_detail text) TO <agents>;


--
-- Name: FUNCTION revoke_role(p_family text, p_role text, p_reason text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.revoke_role(p_family text, p_role text, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION set_base(p_agent uuid, p_task uuid, p_epoch bigint, p_base text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.set_base(p_agent uuid, p_task uuid, p_epoch bigint, p_base text) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.set_base(p_agent uuid, p_task uuid, p_epoch bigint, p_base text) TO <agents>;


--
-- Name: FUNCTION set_cross_review(p_workflow text, p_mode text, p_level text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.set_cross_review(p_workflow text, p_mode text, p_level text) FROM PUBLIC;


--
-- Name: FUNCTION set_policy(p_name text, p_threshold numeric, p_window interval, p_denial_base interval, p_enabled boolean); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.set_policy(p_name text, p_threshold numeric, p_window interval, p_denial_base interval, p_enabled boolean) FROM PUBLIC;


--
-- Name: FUNCTION set_stage(p_workflow text, p_stage text, p_lease_seconds integer, p_max_attempts integer); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.set_stage(p_workflow text, p_stage text, p_lease_seconds integer, p_max_attempts integer) FROM PUBLIC;


--
-- Name: FUNCTION tasks_default_branch(); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.tasks_default_branch() FROM PUBLIC;


--
-- Name: FUNCTION unblock(p_task uuid, p_reason text); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.unblock(p_task uuid, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION wait_begin(p_agent uuid); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.wait_begin(p_agent uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.wait_begin(p_agent uuid) TO <agents>;


--
-- Name: FUNCTION wait_end(p_agent uuid); Type: ACL; Schema: ainarres; Owner: -
--

REVOKE ALL ON FUNCTION ainarres.wait_end(p_agent uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ainarres.wait_end(p_agent uuid) TO <agents>;


--
-- Name: TABLE agents; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.agents TO <agents>;


--
-- Name: TABLE annotations; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.annotations TO <agents>;


--
-- Name: TABLE denials; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.denials TO <agents>;


--
-- Name: TABLE events; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.events TO <agents>;


--
-- Name: TABLE grants; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.grants TO <agents>;


--
-- Name: TABLE integration_run; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.integration_run TO <agents>;


--
-- Name: TABLE maker_defaults; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.maker_defaults TO <agents>;


--
-- Name: TABLE policies; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.policies TO <agents>;


--
-- Name: TABLE reviews; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.reviews TO <agents>;


--
-- Name: TABLE roles; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.roles TO <agents>;


--
-- Name: TABLE schema_migrations; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.schema_migrations TO <agents>;


--
-- Name: TABLE settings; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.settings TO <agents>;


--
-- Name: TABLE task_deps; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.task_deps TO <agents>;


--
-- Name: TABLE track_records; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.track_records TO <agents>;


--
-- Name: TABLE transitions; Type: ACL; Schema: ainarres; Owner: -
--

GRANT SELECT ON TABLE ainarres.transitions TO <agents>;


--
-- PostgreSQL database dump complete
--
