-- `atoms bench db --fleet`: a fleet-sized data set, loaded in bulk by the migration role
-- (table owner): 200 workspaces x 1,000 entities, and one hub workspace whose hub entity has
-- 50,000 outgoing relationships to 50,000 leaves. The benchmark user owns every workspace.
insert into public.atoms_users (external_id, display_name) values ('user_01BENCH', 'Bench')
on conflict (external_id) do nothing;

create temporary table bench_words (n int primary key, word text);
insert into bench_words values (0, 'atlas'), (1, 'beacon'), (2, 'cobalt'), (3, 'delta'), (4, 'ember'),
  (5, 'falcon'), (6, 'granite'), (7, 'harbor'), (8, 'iris'), (9, 'juniper'), (10, 'kepler'),
  (11, 'lumen'), (12, 'meridian'), (13, 'nimbus'), (14, 'orion'), (15, 'pulsar');

insert into public.atoms_workspaces (id, name, created_by)
select (lpad(to_hex(w), 8, '0') || '-0000-4000-8000-000000000000')::uuid, 'fleet ' || w, u.id
from generate_series(1, 201) w, public.atoms_users u where u.external_id = 'user_01BENCH';
insert into public.atoms_workspace_members (workspace_id, user_id, role)
select w.id, w.created_by, 'owner' from public.atoms_workspaces w where w.name like 'fleet %';

-- 1,000 entities in each of workspaces 1..200, 50,001 in workspace 201 (the hub's).
insert into public.atoms_entities (workspace_id, type, name, metadata, created_by, updated_by, created_at, updated_at)
select w.id, case when i % 3 = 0 then 'project' else 'note' end,
       a.word || ' ' || b.word || ' ' || c.word || ' ' || i,
       jsonb_build_object('rank', i), w.created_by, w.created_by,
       now() - make_interval(secs => i), now() - make_interval(secs => i)
from public.atoms_workspaces w
cross join lateral generate_series(1, case when w.name = 'fleet 201' then 50001 else 1000 end) i
join bench_words a on a.n = i % 16
join bench_words b on b.n = (i / 16) % 16
join bench_words c on c.n = (i / 256) % 16
where w.name like 'fleet %';
update public.atoms_entities e set name = 'hub', type = 'hub'
from public.atoms_workspaces w
where w.id = e.workspace_id and w.name = 'fleet 201' and e.name like '% 1' and e.name not like '% 11';

insert into public.atoms_relationships (workspace_id, source_id, target_id, type, created_by, created_at, updated_at)
select hub.workspace_id, hub.id, leaf.id, 'links', hub.created_by, leaf.created_at, leaf.created_at
from public.atoms_entities hub
join public.atoms_entities leaf on leaf.workspace_id = hub.workspace_id and leaf.id <> hub.id
where hub.name = 'hub';
