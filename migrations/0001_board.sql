-- The board: families, roles, grants, denials, workflow as data, tasks, and the event log.
--
-- Enforcement does not trust the client: a family connects as its own LOGIN role, a member
-- of this board's agent group, which may read the tables and EXECUTE the verbs below and
-- nothing else. The verbs are SECURITY DEFINER and take the caller's family from
-- session_user (the authenticated role), never from an argument.

-- The schema itself and schema_migrations are made by the migration runner.
SET LOCAL search_path = ainarres, pg_temp;

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- The group role of this board's families. Roles are cluster-wide, so its name carries a
-- digest of the database name: two boards on one cluster do not share a group.
DO $$
DECLARE
    v_group text := 'ainarres_agents_' || left(md5(current_database()), 8);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_group) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', v_group);
    END IF;
    INSERT INTO ainarres.settings (key, value) VALUES ('agent_group', v_group);
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), v_group);
END $$;

CREATE TABLE roles (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z_]{0,31}$'),
    description text NOT NULL,
    person_only boolean NOT NULL DEFAULT false
);

CREATE TABLE families (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._+-]{0,63}$'),
    tool       text NOT NULL CHECK (tool ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    model      text NOT NULL CHECK (model ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$'),
    db_role    text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id    bigint NOT NULL REFERENCES families,
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$'),
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- Set while the agent sleeps in `next --wait`: only then do state changes NOTIFY, since
    -- a NOTIFY serialises commits database-wide.
    waiting_since timestamptz,
    UNIQUE (family_id, name)
);
CREATE INDEX agents_waiting ON agents (waiting_since) WHERE waiting_since IS NOT NULL;

CREATE TABLE grants (
    family_id  bigint NOT NULL REFERENCES families,
    role       text NOT NULL REFERENCES roles,
    expires_at timestamptz,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by text NOT NULL,
    PRIMARY KEY (family_id, role)
);

CREATE TABLE denials (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id     bigint NOT NULL REFERENCES families,
    role          text NOT NULL REFERENCES roles,
    reason        text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    expires_at    timestamptz,            -- NULL: permanent
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    lifted_at     timestamptz,
    lifted_by     text,
    lifted_reason text
);
CREATE INDEX denials_active ON denials (family_id, role) WHERE lifted_at IS NULL;

-- cross_family: may the reviewer of a task come from the family that wrote it?
--   require: never; prefer: only when nothing else is waiting; off: no preference.
CREATE TABLE workflows (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
    cross_family text NOT NULL DEFAULT 'prefer' CHECK (cross_family IN ('require', 'prefer', 'off'))
);

CREATE TABLE stages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id   bigint NOT NULL REFERENCES workflows,
    name          text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
    active_label  text NOT NULL,          -- what the board shows while a task is held here
    is_initial    boolean NOT NULL DEFAULT false,
    is_terminal   boolean NOT NULL DEFAULT false,
    lease_seconds integer NOT NULL DEFAULT 900 CHECK (lease_seconds > 0),
    max_attempts  integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    writes_branch boolean NOT NULL DEFAULT false,  -- its holder pushes the task branch
    reviews_branch boolean NOT NULL DEFAULT false, -- its step is a review of the branch
    position      integer NOT NULL,
    UNIQUE (workflow_id, name),
    CHECK (NOT (is_initial AND is_terminal))
);
CREATE UNIQUE INDEX stages_one_initial ON stages (workflow_id) WHERE is_initial;

-- advance: the one next step out of a stage, taken by a holder of `role`.
-- return:  sends a held task back (review -> implement), by a holder of `role`.
-- create:  new tasks may be created in `to_stage` by whoever may take the advance step out
--          of `from_stage` (derived, so role is NULL): a designer, who designs briefs.
CREATE TABLE transitions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id   bigint NOT NULL REFERENCES workflows,
    from_stage_id bigint NOT NULL REFERENCES stages,
    to_stage_id   bigint NOT NULL REFERENCES stages,
    kind          text NOT NULL CHECK (kind IN ('advance', 'return', 'create')),
    role          text REFERENCES roles,
    CHECK ((kind = 'create') = (role IS NULL)),
    UNIQUE (from_stage_id, kind, to_stage_id)
);
CREATE UNIQUE INDEX transitions_one_advance ON transitions (from_stage_id) WHERE kind = 'advance';
CREATE UNIQUE INDEX transitions_one_return ON transitions (from_stage_id) WHERE kind = 'return';

CREATE TABLE tasks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The board shows the end of the id (…d25d); reversed, a suffix lookup walks an index.
    id_rev           text GENERATED ALWAYS AS (reverse(replace(id::text, '-', ''))) STORED,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    workflow_id      bigint NOT NULL REFERENCES workflows,
    stage_id         bigint NOT NULL REFERENCES stages,
    title            text NOT NULL
                     CHECK (length(btrim(title)) BETWEEN 1 AND 200 AND title !~ '[[:cntrl:]]'),
    body             text NOT NULL DEFAULT '' CHECK (octet_length(body) <= 65536),
    priority         integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    parent_id        uuid REFERENCES tasks,
    open             boolean NOT NULL DEFAULT true,   -- false once in a terminal stage
    holder_agent     uuid REFERENCES agents,
    holder_family    bigint REFERENCES families,
    lease_expires_at timestamptz,
    claim_epoch      bigint NOT NULL DEFAULT 0,       -- fencing token, +1 on every claim
    attempts         integer NOT NULL DEFAULT 0,      -- expired leases in this stage
    blocked          boolean NOT NULL DEFAULT false,
    blocked_reason   text,
    branch           text NOT NULL,                   -- task/<12 hex>, set by a trigger
    base_commit      text CHECK (base_commit ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    head_commit      text CHECK (head_commit ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    writer_family    bigint REFERENCES families,      -- who last wrote the branch
    writer_agent     uuid REFERENCES agents,
    review_round     integer NOT NULL DEFAULT 0,      -- +1 on every entry into a review
    open_deps        integer NOT NULL DEFAULT 0 CHECK (open_deps >= 0),
    created_by       text NOT NULL,                   -- database role of the creator
    created_family   bigint REFERENCES families,      -- NULL when a person created it
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    stage_entered_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((holder_agent IS NULL) = (lease_expires_at IS NULL)),
    CHECK ((holder_agent IS NULL) = (holder_family IS NULL)),
    CHECK (blocked = (blocked_reason IS NOT NULL))
);
-- The claim walks this index: one stage, best priority first, oldest first. Dependencies
-- are a counter kept by the verbs, so readiness is in the predicate, not a per-row join.
CREATE INDEX tasks_claim ON tasks (stage_id, priority DESC, seq)
    WHERE open AND NOT blocked AND open_deps = 0;
CREATE UNIQUE INDEX tasks_branch_unique ON tasks (branch);

CREATE FUNCTION tasks_default_branch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.branch := COALESCE(NEW.branch, 'task/' || right(replace(NEW.id::text, '-', ''), 12));
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_branch BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_default_branch();
CREATE INDEX tasks_id_rev ON tasks (id_rev text_pattern_ops);
CREATE INDEX tasks_held ON tasks (holder_agent) WHERE holder_agent IS NOT NULL;

CREATE TABLE task_deps (
    task_id    uuid NOT NULL REFERENCES tasks,
    depends_on uuid NOT NULL REFERENCES tasks,
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id <> depends_on)
);
CREATE INDEX task_deps_depends_on ON task_deps (depends_on);

CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind       text NOT NULL,
    task_id    uuid,
    family_id  bigint,
    agent_id   uuid,
    actor      text NOT NULL DEFAULT session_user,
    from_stage text,
    to_stage   text,
    epoch      bigint,
    data       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_task ON events (task_id, id);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Review: annotations on the diff, pinned to the commit they were made against, and the
-- verdict of every round.
CREATE TABLE annotations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES tasks,
    round      integer NOT NULL,
    commit     text NOT NULL CHECK (commit ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    file       text NOT NULL CHECK (length(file) BETWEEN 1 AND 4096 AND file !~ '[[:cntrl:]]'),
    line       integer NOT NULL CHECK (line BETWEEN 1 AND 10000000),
    side       text NOT NULL CHECK (side IN ('new', 'old')),
    severity   text NOT NULL CHECK (severity IN ('blocker', 'major', 'minor', 'nit')),
    body       text NOT NULL CHECK (length(btrim(body)) >= 1 AND octet_length(body) <= 16384),
    family_id  bigint NOT NULL REFERENCES families,
    agent_id   uuid NOT NULL REFERENCES agents,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX annotations_task ON annotations (task_id, round, id);

CREATE TABLE reviews (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES tasks,
    round      integer NOT NULL,
    commit     text,                      -- the head reviewed (none on a board without git)
    verdict    text NOT NULL CHECK (verdict IN ('approve', 'return')),
    reason     text,
    family_id  bigint NOT NULL REFERENCES families,
    agent_id   uuid NOT NULL REFERENCES agents,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_task ON reviews (task_id, id);

-- ---------------------------------------------------------------------------------------
-- The default development workflow, as rows.
INSERT INTO roles (name, description, person_only) VALUES
    ('designer',    'splits a brief into tasks; the only role that may create work', false),
    ('implementer', 'writes the change on the task branch', false),
    ('reviewer',    'reviews the diff, approves or returns it', false),
    ('integrator',  'merges approved work into main; holds the only key to main', false),
    ('operator',    'a person: briefs, grants, denials, unblocking', true);

INSERT INTO workflows (name) VALUES ('dev');

INSERT INTO stages (workflow_id, name, active_label, is_initial, is_terminal, lease_seconds,
                    max_attempts, writes_branch, reviews_branch, position)
SELECT w.id, s.name, s.label, s.initial, s.terminal, s.lease, s.attempts, s.writes, s.reviews,
       s.pos
FROM workflows w,
     (VALUES ('brief',     'designing',    true,  false, 900,  3, false, false, 1),
             ('designed',  'designed',     false, true,  900,  3, false, false, 2),
             ('implement', 'implementing', false, false, 1800, 3, true,  false, 3),
             ('review',    'reviewing',    false, false, 900,  3, false, true,  4),
             ('integrate', 'integrating',  false, false, 900,  3, false, false, 5),
             ('shipped',   'shipped',      false, true,  900,  3, false, false, 6))
     AS s(name, label, initial, terminal, lease, attempts, writes, reviews, pos)
WHERE w.name = 'dev';

INSERT INTO transitions (workflow_id, from_stage_id, to_stage_id, kind, role)
SELECT w.id, f.id, t.id, x.kind, x.role
FROM workflows w,
     (VALUES ('brief',     'designed',  'advance', 'designer'),
             ('brief',     'implement', 'create',  NULL),
             ('implement', 'review',    'advance', 'implementer'),
             ('review',    'integrate', 'advance', 'reviewer'),
             ('review',    'implement', 'return',  'reviewer'),
             ('integrate', 'shipped',   'advance', 'integrator'),
             ('integrate', 'implement', 'return',  'integrator'))
     AS x(src, dst, kind, role)
JOIN stages f ON f.name = x.src
JOIN stages t ON t.name = x.dst
WHERE w.name = 'dev' AND f.workflow_id = w.id AND t.workflow_id = w.id;
