-- Families read the board through the same helpers the operator's reads use: grant the
-- pure, read-only ones (they reveal nothing a family cannot already SELECT).

SET LOCAL search_path = ainarres, pg_temp;

DO $$
DECLARE
    v_group text := (SELECT value FROM ainarres.settings WHERE key = 'agent_group');
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION ainarres._short(uuid), ainarres._task_json(ainarres.tasks),
        ainarres._has_role(bigint, text) TO %I', v_group);
END $$;
