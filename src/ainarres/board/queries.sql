-- Named queries of the board, loaded once by queries.py. Values are always parameters.

-- name: agent_start
SELECT ainarres.agent_start(%(name)s) AS r;

-- name: wait_begin
SELECT ainarres.wait_begin(%(agent)s);

-- name: wait_end
SELECT ainarres.wait_end(%(agent)s);

-- name: claim_next
SELECT ainarres.claim_next(%(agent)s, %(roles)s::text[]) AS r;

-- name: claim_next_leased
SELECT ainarres.claim_next(%(agent)s, %(roles)s::text[], %(lease)s::integer) AS r;

-- name: heartbeat
SELECT ainarres.heartbeat(%(agent)s, %(task)s, %(epoch)s) AS r;

-- name: note
SELECT ainarres.note(%(agent)s, %(task)s, %(epoch)s, %(body)s) AS r;

-- name: advance
SELECT ainarres.advance(%(agent)s, %(task)s, %(epoch)s, %(head_commit)s) AS r;

-- name: return_task
SELECT ainarres.return_task(%(agent)s, %(task)s, %(epoch)s, %(reason)s, %(cause)s,
                            %(detail)s::text) AS r;

-- name: integrate_begin
SELECT ainarres.integrate_begin(%(agent)s, %(pid)s, %(host)s, %(takeover)s) AS r;

-- name: integrate_beat
SELECT ainarres.integrate_beat(%(agent)s, %(pid)s) AS r;

-- name: integrate_end
SELECT ainarres.integrate_end(%(agent)s, %(pid)s) AS r;

-- name: release
SELECT ainarres.release(%(agent)s, %(task)s, %(epoch)s) AS r;

-- name: block
SELECT ainarres.block(%(agent)s, %(task)s, %(epoch)s, %(reason)s) AS r;

-- name: create_task
SELECT ainarres.create_task(%(agent)s, %(title)s, %(body)s, %(priority)s, %(depends_on)s::uuid[],
                            %(parent)s, %(workflow)s) AS r;

-- name: brief
SELECT ainarres.brief(%(title)s, %(body)s, %(priority)s, %(workflow)s) AS r;

-- name: family_add
SELECT ainarres.family_add(%(name)s, %(tool)s, %(model)s, %(password)s, %(maker)s::text) AS r;

-- name: revoke_role
SELECT ainarres.revoke_role(%(family)s, %(role)s, %(reason)s) AS r;

-- name: family_password
SELECT ainarres.family_password(%(family)s, %(password)s) AS r;

-- name: family_keyed
SELECT ainarres.family_keyed(%(family)s, %(fingerprint)s) AS r;

-- name: family_retire
SELECT ainarres.family_retire(%(family)s, %(reason)s) AS r;

-- name: set_stage
SELECT ainarres.set_stage(%(workflow)s, %(stage)s, %(lease)s::integer, %(attempts)s::integer) AS r;

-- name: set_cross_review
SELECT ainarres.set_cross_review(%(workflow)s, %(mode)s, %(level)s) AS r;

-- name: workflows
SELECT w.name, w.cross_review, w.cross_level,
       (SELECT jsonb_agg(jsonb_build_object('stage', s.name, 'lease_seconds', s.lease_seconds,
                         'max_attempts', s.max_attempts, 'initial', s.is_initial,
                         'terminal', s.is_terminal) ORDER BY s.position)
        FROM ainarres.stages s WHERE s.workflow_id = w.id) AS stages
FROM ainarres.workflows w ORDER BY w.name;

-- name: grant_role
SELECT ainarres.grant_role(%(family)s, %(role)s, %(expires_at)s) AS r;

-- name: deny_role
SELECT ainarres.deny_role(%(family)s, %(role)s, %(reason)s, %(expires_at)s) AS r;

-- name: lift_denial
SELECT ainarres.lift_denial(%(family)s, %(role)s, %(reason)s) AS r;

-- name: unblock
SELECT ainarres.unblock(%(task)s, %(reason)s) AS r;

-- name: find_task_by_suffix
SELECT id FROM ainarres.tasks WHERE id_rev LIKE %(rev_prefix)s ORDER BY id LIMIT 2;

-- name: task_exists
SELECT id FROM ainarres.tasks WHERE id = %(id)s;

-- name: task_show
SELECT ainarres._task_json(t) AS task FROM ainarres.tasks t WHERE t.id = %(id)s;

-- name: task_reviews_branch
SELECT s.reviews_branch FROM ainarres.tasks t JOIN ainarres.stages s ON s.id = t.stage_id
WHERE t.id = %(id)s;

-- name: task_list
SELECT t.id, ainarres._short(t.id) AS short_id, t.title, s.name AS stage, t.priority,
       t.blocked, t.blocked_reason, f.name AS holder_family, a.name AS holder_agent,
       t.lease_expires_at, t.claim_epoch, t.attempts, t.created_at
FROM ainarres.tasks t
JOIN ainarres.stages s ON s.id = t.stage_id
LEFT JOIN ainarres.families f ON f.id = t.holder_family
LEFT JOIN ainarres.agents a ON a.id = t.holder_agent
WHERE (%(stage)s::text IS NULL OR s.name = %(stage)s)
  AND (%(all)s OR t.open)
ORDER BY s.position, t.priority DESC, t.seq
LIMIT %(limit)s;

-- name: stage_names
SELECT name FROM ainarres.stages ORDER BY workflow_id, position;

-- name: stage_counts
SELECT s.name AS stage, s.is_terminal,
       count(t.id) FILTER (WHERE NOT t.blocked) AS tasks,
       count(t.id) FILTER (WHERE t.holder_agent IS NOT NULL) AS held,
       count(t.id) FILTER (WHERE t.blocked) AS blocked
FROM ainarres.stages s
LEFT JOIN ainarres.tasks t ON t.stage_id = s.id
GROUP BY s.id
ORDER BY s.workflow_id, s.position;

-- name: active_tasks
SELECT t.id, ainarres._short(t.id) AS short_id, t.title, s.name AS stage,
       s.active_label AS label, f.name AS family, a.name AS agent, t.claim_epoch AS epoch,
       a.sandboxed,
       extract(epoch FROM now() - e.claimed_at)::float8 AS age_seconds,
       extract(epoch FROM t.lease_expires_at - now())::float8 AS lease_left_seconds
FROM ainarres.tasks t
JOIN ainarres.stages s ON s.id = t.stage_id
JOIN ainarres.families f ON f.id = t.holder_family
JOIN ainarres.agents a ON a.id = t.holder_agent
CROSS JOIN LATERAL (SELECT max(ev.at) AS claimed_at FROM ainarres.events ev
                    WHERE ev.task_id = t.id AND ev.kind = 'claimed' AND ev.epoch = t.claim_epoch) e
WHERE t.holder_agent IS NOT NULL
ORDER BY e.claimed_at;

-- name: blocked_tasks
SELECT t.id, ainarres._short(t.id) AS short_id, t.title, s.name AS stage, t.blocked_reason
FROM ainarres.tasks t JOIN ainarres.stages s ON s.id = t.stage_id
WHERE t.blocked ORDER BY t.updated_at;

-- name: events
SELECT e.id, e.at, e.kind, e.task_id, CASE WHEN e.task_id IS NULL THEN NULL
       ELSE ainarres._short(e.task_id) END AS short_id,
       f.name AS family, a.name AS agent, e.actor, e.from_stage, e.to_stage, e.epoch, e.data
FROM ainarres.events e
LEFT JOIN ainarres.families f ON f.id = e.family_id
LEFT JOIN ainarres.agents a ON a.id = e.agent_id
WHERE (%(task)s::uuid IS NULL OR e.task_id = %(task)s)
  AND (%(family)s::text IS NULL OR f.name = %(family)s)
ORDER BY e.id DESC
LIMIT %(limit)s;

-- name: family_list
SELECT f.name, f.tool, f.model, f.maker, f.retired_at, f.db_role, f.created_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('role', g.role, 'expires_at', g.expires_at,
                        'active', ainarres._has_role(f.id, g.role)) ORDER BY g.role)
                 FROM ainarres.grants g WHERE g.family_id = f.id), '[]') AS grants,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('role', d.role, 'reason', d.reason,
                        'expires_at', d.expires_at, 'created_at', d.created_at) ORDER BY d.id)
                 FROM ainarres.denials d WHERE d.family_id = f.id AND d.lifted_at IS NULL
                   AND (d.expires_at IS NULL OR d.expires_at > now())), '[]') AS denials,
       (SELECT count(*) FROM ainarres.agents a WHERE a.family_id = f.id) AS agents
FROM ainarres.families f
WHERE (%(name)s::text IS NULL OR f.name = %(name)s)
ORDER BY f.name;

-- name: lease_soonest
SELECT extract(epoch FROM min(lease_expires_at) - now())::float8 AS seconds
FROM ainarres.tasks WHERE holder_agent IS NOT NULL;

-- name: gate_login
SELECT ainarres.gate_login(%(password)s) AS r;

-- name: gate_signer
SELECT ainarres.gate_signer(%(p)s);

-- name: gate_task_branch
SELECT ainarres.gate_task_branch(%(b)s);

-- name: gate_seeded
SELECT ainarres.gate_seeded(%(oids)s::text[]);

-- name: gate_integrations
SELECT ainarres.gate_integrations(%(ids)s::uuid[]);

-- name: set_base
SELECT ainarres.set_base(%(agent)s, %(task)s, %(epoch)s, %(base)s) AS r;

-- name: resume
SELECT ainarres.resume(%(agent)s) AS r;

-- name: awaiting_integration
SELECT ainarres._task_json(t) AS task
FROM ainarres.tasks t
JOIN ainarres.transitions tr ON tr.from_stage_id = t.stage_id AND tr.kind = 'advance'
WHERE tr.role = 'integrator' AND t.open AND NOT t.blocked
ORDER BY t.priority DESC, t.seq;

-- name: step_families
-- Who took each step of a task last: stage left -> family (implement -> opencode+qwen).
SELECT DISTINCT ON (e.from_stage) e.from_stage AS stage, f.name AS family
FROM ainarres.events e JOIN ainarres.families f ON f.id = e.family_id
WHERE e.task_id = %(task)s AND e.kind = 'advanced'
ORDER BY e.from_stage, e.id DESC;

-- name: open_branches
SELECT branch FROM ainarres.tasks WHERE open;

-- name: annotate
SELECT ainarres.annotate(%(agent)s, %(task)s, %(epoch)s, %(file)s, %(line)s, %(side)s,
                         %(severity)s, %(body)s) AS r;

-- name: annotations
SELECT a.id, a.round, a.commit, a.file, a.line, a.side, a.severity, a.body,
       f.name AS family, ag.name AS agent, a.created_at
FROM ainarres.annotations a
JOIN ainarres.families f ON f.id = a.family_id
JOIN ainarres.agents ag ON ag.id = a.agent_id
WHERE a.task_id = %(task)s AND (%(round)s::int IS NULL OR a.round = %(round)s)
ORDER BY a.round, a.file, a.line, a.id;

-- name: reviews
SELECT r.round, r.verdict, r.commit, r.reason, f.name AS family, ag.name AS agent, r.created_at
FROM ainarres.reviews r
JOIN ainarres.families f ON f.id = r.family_id
JOIN ainarres.agents ag ON ag.id = r.agent_id
WHERE r.task_id = %(task)s
ORDER BY r.id;

-- name: shipped
-- Tasks that reached a terminal stage through the integrator's step, with who did what.
SELECT t.id, ainarres._short(t.id) AS short_id, t.title, wf.name AS implemented,
       wf.maker AS implemented_maker, rv.name AS reviewed, rv.maker AS reviewed_maker,
       ig.name AS integrated, ig.maker AS integrated_maker,
       t.review_round - (SELECT count(*) FROM ainarres.events c
                         WHERE c.task_id = t.id AND c.kind = 'canary')::int AS rounds,
       t.stage_entered_at AS shipped_at
FROM ainarres.tasks t
JOIN ainarres.stages s ON s.id = t.stage_id
LEFT JOIN ainarres.families wf ON wf.id = t.writer_family
LEFT JOIN LATERAL (SELECT f.name, f.maker FROM ainarres.reviews r
                   JOIN ainarres.families f ON f.id = r.family_id
                   WHERE r.task_id = t.id AND r.verdict = 'approve'
                   ORDER BY r.id DESC LIMIT 1) rv ON true
LEFT JOIN LATERAL (SELECT f.name, f.maker FROM ainarres.events e
                   JOIN ainarres.families f ON f.id = e.family_id
                   WHERE e.task_id = t.id AND e.kind = 'advanced' AND e.to_stage = s.name
                   ORDER BY e.id DESC LIMIT 1) ig ON true
WHERE s.is_terminal
  AND EXISTS (SELECT 1 FROM ainarres.transitions tr WHERE tr.to_stage_id = s.id
              AND tr.kind = 'advance' AND tr.role = 'integrator')
ORDER BY t.stage_entered_at, t.seq;

-- name: agent_mark
SELECT ainarres.agent_mark(%(agent)s, %(sandboxed)s);

-- name: record_usage
SELECT ainarres.record_usage(%(agent)s, %(task)s, %(epoch)s, %(tokens)s::bigint,
                             %(cost)s::numeric, %(seconds)s::numeric) AS r;

-- name: returned
SELECT ainarres._short(e.task_id) AS short_id, t.title, e.from_stage, f.name AS family,
       e.data->>'reason' AS reason, e.at
FROM ainarres.events e
JOIN ainarres.tasks t ON t.id = e.task_id
LEFT JOIN ainarres.families f ON f.id = e.family_id
WHERE e.kind = 'returned'
ORDER BY e.id;

-- name: stage_times
-- How long tasks stayed in each stage they left: from the event that moved them in to the
-- one that moved them out.
WITH moves AS (
    SELECT task_id, to_stage AS stage, at,
           lead(at) OVER (PARTITION BY task_id ORDER BY id) AS left_at
    FROM ainarres.events
    WHERE to_stage IS NOT NULL AND kind IN ('briefed', 'created', 'advanced', 'returned')
)
SELECT stage, count(*) AS visits,
       extract(epoch FROM avg(left_at - at))::float8 AS avg_seconds,
       extract(epoch FROM max(left_at - at))::float8 AS max_seconds
FROM moves WHERE left_at IS NOT NULL
GROUP BY stage ORDER BY min(at);

-- name: usage_by_family
SELECT f.name AS family, count(*) AS runs,
       sum((e.data->>'tokens')::bigint)::bigint AS tokens,
       sum((e.data->>'cost_usd')::numeric)::float8 AS cost_usd,
       sum((e.data->>'seconds')::numeric)::float8 AS seconds
FROM ainarres.events e JOIN ainarres.families f ON f.id = e.family_id
WHERE e.kind = 'usage'
GROUP BY f.name ORDER BY f.name;

-- name: unsandboxed_agents
SELECT f.name AS family, a.name AS agent, a.last_seen_at
FROM ainarres.agents a JOIN ainarres.families f ON f.id = a.family_id
WHERE a.sandboxed = false ORDER BY f.name, a.name;

-- name: track_records
SELECT family, claimed, shipped, returned_as_producer, abandoned, reviews_done,
       approvals_failed_checks, returns_overturned, seconds_worked, tokens::bigint AS tokens
FROM ainarres.track_records ORDER BY family;

-- name: policies
SELECT name, role, metric, threshold::float8 AS threshold, window_span::text AS window,
       denial_base::text AS denial_base, enabled, description
FROM ainarres.policies ORDER BY name;

-- name: set_policy
SELECT ainarres.set_policy(%(name)s, %(threshold)s::numeric, %(window)s::interval,
                           %(denial_base)s::interval, %(enabled)s) AS r;

-- name: active_denials
SELECT f.name AS family, d.role, d.reason, d.expires_at, d.created_by, d.created_at,
       extract(epoch FROM d.expires_at - now())::float8 AS heals_in_seconds
FROM ainarres.denials d JOIN ainarres.families f ON f.id = d.family_id
WHERE d.lifted_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > now())
ORDER BY f.name, d.role;

-- name: policy_standing
-- Every enabled policy against every family holding its role: value, threshold.
SELECT f.name AS family, p.name AS policy, p.role,
       ainarres._metric(f.id, p.role, p.metric, p.window_span)::float8 AS value,
       p.threshold::float8 AS threshold
FROM ainarres.policies p
JOIN ainarres.grants g ON g.role = p.role
JOIN ainarres.families f ON f.id = g.family_id
WHERE p.enabled
ORDER BY f.name, p.name;

-- name: integrators
SELECT f.name FROM ainarres.families f WHERE ainarres._has_role(f.id, 'integrator');

-- name: advance_and_claim
SELECT ainarres.advance_and_claim(%(agent)s, %(task)s, %(epoch)s, %(head_commit)s,
                                  %(roles)s::text[], %(lease)s::integer) AS r;

-- name: feedback
-- What came back to a task since its branch was last handed on (its last advance out of a
-- stage that writes the branch): returns with their cause, blocks, a person's unblock,
-- expired leases, notes. Oldest first.
SELECT e.id, e.at, e.kind, e.from_stage, e.epoch, f.name AS family, ag.name AS agent, e.data
FROM ainarres.events e
LEFT JOIN ainarres.families f ON f.id = e.family_id
LEFT JOIN ainarres.agents ag ON ag.id = e.agent_id
WHERE e.task_id = %(task)s
  AND e.kind IN ('returned', 'blocked', 'unblocked', 'lease_expired', 'note')
  AND (e.kind <> 'lease_expired' OR EXISTS (
        SELECT 1 FROM ainarres.tasks t JOIN ainarres.stages s ON s.workflow_id = t.workflow_id
        WHERE t.id = e.task_id AND s.name = e.from_stage AND s.writes_branch))
  AND e.id > COALESCE((SELECT max(d.id) FROM ainarres.events d
                       JOIN ainarres.tasks t ON t.id = d.task_id
                       JOIN ainarres.stages s ON s.workflow_id = t.workflow_id
                                             AND s.name = d.from_stage
                       WHERE d.task_id = %(task)s AND d.kind = 'advanced' AND s.writes_branch),
                      0)
ORDER BY e.id;

-- name: integration_run
SELECT r.pid, r.host, r.started_at, r.beat_at, f.name AS family, a.name AS agent
FROM ainarres.integration_run r
JOIN ainarres.families f ON f.id = r.family_id
JOIN ainarres.agents a ON a.id = r.agent_id;

-- name: canary_set
SELECT ainarres.canary_set(%(rate)s::numeric, %(seed)s::bigint) AS r;

-- name: canary_plan
SELECT ainarres.canary_plan(%(task)s, %(round)s, %(real)s, %(seeded)s, %(file)s, %(line)s,
                            %(kind)s, %(tolerance)s, %(description)s) AS r;

-- name: canary_live
SELECT ainarres.canary_live(%(task)s, %(round)s) AS r;

-- name: canary_apply
SELECT ainarres.canary_apply(%(task)s) AS r;

-- name: canary_verdicts
-- Verdicts given while canaries are on, oldest first: the service applies them.
SELECT v.task_id FROM ainarres_private.verdicts v ORDER BY v.at, v.task_id;

-- name: canary_release
SELECT ainarres.canary_release(%(task)s, %(round)s, %(restore)s) AS r;

-- name: canary_settings
-- The operator's: how often review rounds are seeded, and what waits for the service.
SELECT s.rate::float8 AS rate, s.seed, s.updated_at,
       (SELECT count(*) FROM ainarres_private.review_holds) AS held,
       (SELECT count(*) FROM ainarres_private.canaries WHERE state = 'live') AS live,
       (SELECT count(*) FROM ainarres_private.canaries WHERE state = 'judged') AS judged,
       (SELECT count(*) FROM ainarres_private.verdicts) AS verdicts,
       extract(epoch FROM now() - least(
           (SELECT min(since) FROM ainarres_private.review_holds),
           (SELECT min(at) FROM ainarres_private.verdicts)))::float8 AS oldest_wait_seconds
FROM ainarres_private.canary_settings s;

-- name: canary_holds
-- Review rounds waiting for the canary service, oldest first, with the canary each one
-- restores from (a restore) or the one planned for it (a crash between plan and live).
SELECT h.task_id, ainarres._short(h.task_id) AS short_id, t.seq, h.round, h.restore,
       t.branch, t.head_commit, t.review_round, c.real_head, c.seeded_head, c.state,
       EXISTS (SELECT 1 FROM ainarres_private.canaries p
               WHERE p.task_id = h.task_id AND p.round = h.round - 1) AS after_canary
FROM ainarres_private.review_holds h
JOIN ainarres.tasks t ON t.id = h.task_id
LEFT JOIN LATERAL (
    SELECT c.real_head, c.seeded_head, c.state FROM ainarres_private.canaries c
    WHERE c.task_id = h.task_id
      AND ((h.restore AND c.state = 'judged' AND c.restored_at IS NULL)
           OR (NOT h.restore AND c.round = h.round))
    ORDER BY c.id DESC LIMIT 1) c ON true
ORDER BY h.since, h.task_id;

-- name: canary_results
-- Every judged canary with who reviewed it and who wrote the change it was seeded in.
SELECT c.task_id, ainarres._short(c.task_id) AS short_id, c.round, c.kind, c.file, c.line,
       c.result, rf.name AS reviewer, rf.maker AS reviewer_maker, wf.name AS writer,
       wf.maker AS writer_maker, c.judged_at
FROM ainarres_private.canaries c
JOIN ainarres.families rf ON rf.id = c.reviewer_family
LEFT JOIN ainarres.families wf ON wf.id = c.writer_family
WHERE c.state = 'judged'
ORDER BY c.judged_at, c.id;
