-- The house: rules the schema states once instead of repeating.
--
-- 1. `git_oid`, a domain for git object ids (40 hex digits for SHA-1, 64 for SHA-256), is
--    the type of every column that holds one; the column checks that spelled its regex out
--    go. The verbs `advance` and `set_base` keep their own test of an argument, since it
--    answers with an `invalid` outcome instead of an error.
-- 2. `events.kind` is one of the kinds the verbs write: a misspelt kind in a new verb fails
--    its first test instead of landing in the log unseen. A new kind means dropping this
--    check and adding it again with the longer list, in the migration of the verb.
-- 3. `_grant_execute`: how a migration grants a function it adds (AGENTS.md, Contributing).

SET LOCAL search_path = ainarres, pg_temp;

-- ---------------------------------------------------------------------------------------
-- 1: git object ids.

-- The check is added after the columns move: altering a column to a domain that has a
-- check rewrites the table, while a check added to the domain afterwards is one scan.
CREATE DOMAIN git_oid AS text;

ALTER TABLE tasks
    DROP CONSTRAINT tasks_base_commit_check,
    DROP CONSTRAINT tasks_head_commit_check,
    ALTER COLUMN base_commit TYPE git_oid,
    ALTER COLUMN head_commit TYPE git_oid;
ALTER TABLE annotations
    DROP CONSTRAINT annotations_commit_check,
    ALTER COLUMN commit TYPE git_oid;
-- The head a review judged: written only from tasks.head_commit, so never checked until now.
ALTER TABLE reviews
    ALTER COLUMN commit TYPE git_oid;

ALTER DOMAIN git_oid ADD CONSTRAINT git_oid_hex
    CHECK (VALUE ~ '^[0-9a-f]{40}([0-9a-f]{24})?$');
COMMENT ON DOMAIN git_oid IS 'a full git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits';

-- ---------------------------------------------------------------------------------------
-- 2: the kinds of event, as the verbs write them (through `_log`).

ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN (
    -- a task's life
    'briefed', 'created', 'claimed', 'note', 'based', 'advanced', 'returned', 'released',
    'blocked', 'unblocked', 'lease_expired', 'annotated', 'usage', 'integrate_started',
    -- families and their roles
    'family_added', 'granted', 'revoked', 'denied', 'lifted', 'retired',
    'password_rotated', 'key_rotated',
    -- governance and settings
    'demoted', 'policy_changed', 'workflow_changed'));

-- ---------------------------------------------------------------------------------------
-- 3: granting what a migration adds.

-- A new function is executable by PUBLIC until revoked. This revokes that and, for
-- 'agents', grants EXECUTE to this board's agent group; 'operator' leaves a function to its
-- owner (the operator verbs, which run with the caller's rights). The gate's functions are
-- granted by `gate_login`. It runs with its caller's rights, so it grants nothing its
-- caller could not grant itself, and only the owner may call it.
CREATE PROCEDURE _grant_execute(p_to text, VARIADIC p_routines regprocedure[])
LANGUAGE plpgsql SET search_path = ainarres, pg_temp AS $$
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

-- `REVOKE ... ON ALL FUNCTIONS` (0002-0009) does not reach procedures: this one says so.
CALL _grant_execute('operator', '_grant_execute(text, regprocedure[])');
