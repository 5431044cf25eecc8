-- "This one is done; give me the next": one transaction instead of two for an agent's
-- loop (one commit to flush, one round trip).

SET LOCAL search_path = ainarres, pg_temp;

CREATE FUNCTION advance_and_claim(p_agent uuid, p_task uuid, p_epoch bigint,
                                  p_head_commit text, p_roles text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ainarres, pg_temp AS $$
DECLARE
    v_done jsonb := advance(p_agent, p_task, p_epoch, p_head_commit);
BEGIN
    IF v_done->>'outcome' <> 'ok' THEN
        RETURN v_done;
    END IF;
    RETURN claim_next(p_agent, p_roles) || jsonb_build_object('done', v_done);
END $$;

REVOKE ALL ON FUNCTION advance_and_claim(uuid, uuid, bigint, text, text[]) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION
        ainarres.advance_and_claim(uuid, uuid, bigint, text, text[]) TO %I',
        (SELECT value FROM ainarres.settings WHERE key = 'agent_group'));
END $$;
