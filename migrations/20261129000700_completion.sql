-- Completion of MCP prompt arguments and resource-template variables (issue 7): ids of the
-- caller's workspaces and entities by name (or id) prefix, and the types in use — from the
-- caller's own data only (membership checked; the policies filter the rest).

-- { kind: workspace | entity | entity_type | relationship_type, prefix?, workspace_id? }
--   -> { values: [..] (at most 20), has_more }
create function public.atoms_complete(args jsonb) returns jsonb
  language plpgsql stable
as $$
declare
  kind text := atoms_private.arg_text(atoms_private.require_object(args), 'kind', true, 30);
  prefix text := coalesce(atoms_private.arg_text(args, 'prefix', false, 200), '');
  ws uuid := atoms_private.arg_uuid(args, 'workspace_id', false);
  pattern text := replace(replace(replace(prefix, '\', '\\'), '%', '\%'), '_', '\_') || '%';
  mine uuid[];
  found text[];
begin
  if ws is not null then
    perform atoms_private.require_role(ws, 'viewer');
    mine := array[ws];
  else
    mine := atoms_private.caller_workspaces('viewer');
  end if;
  case kind
    when 'workspace' then
      select array_agg(x.id::text order by x.name, x.id) into found from (
        select w.id, w.name from public.atoms_workspaces w
        where w.id = any (atoms_private.caller_workspaces('viewer'))
          and (w.name ilike pattern or w.id::text like lower(prefix) || '%')
        order by w.name, w.id limit 21) x;
    when 'entity' then
      select array_agg(x.id::text order by x.name, x.id) into found from (
        select e.id, e.name from public.atoms_entities e
        where e.workspace_id = any (mine) and e.deleted_at is null
          and (e.name ilike pattern or e.id::text like lower(prefix) || '%')
        order by e.name, e.id limit 21) x;
    when 'entity_type' then
      select array_agg(x.type order by x.type) into found from (
        select distinct e.type from public.atoms_entities e
        where e.workspace_id = any (mine) and e.deleted_at is null and e.type like pattern
        order by e.type limit 21) x;
    when 'relationship_type' then
      select array_agg(x.type order by x.type) into found from (
        select distinct r.type from public.atoms_relationships r
        where r.workspace_id = any (mine) and r.deleted_at is null and r.type like pattern
        order by r.type limit 21) x;
    else
      perform atoms_private.fail('invalid_argument',
        'kind must be workspace, entity, entity_type or relationship_type');
  end case;
  found := coalesce(found, '{}');
  return jsonb_build_object('values', to_jsonb(found[1:20]), 'has_more', cardinality(found) > 20);
end
$$;

call atoms_private.seal();
