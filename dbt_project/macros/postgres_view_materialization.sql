{#-
    Views on PostgreSQL are replaced in place (create or replace view) whenever the new query keeps the view's
    columns, so a build never drops the views that depend on it. dbt's own view materialization renames the old view
    away and drops it with cascade: that took every dependent view with it until the build re-made it (a reader saw
    "relation does not exist"), and two threads whose views share dependents (stg_massive__fetches and
    stg_massive__splits both feed int_splits__checked) locked those dependents in opposite orders and deadlocked.
    When the columns do change (an upgrade), the old view is still dropped with cascade, inside the transaction and
    one thread at a time (an advisory lock), so dbt re-makes the dependents and no two drops can deadlock.
-#}
{% materialization view, adapter='postgres' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set backup_type = 'view' if existing_relation is none else existing_relation.type -%}
    {%- set backup_relation = make_backup_relation(target_relation, backup_type) -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
    {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('main') -%}
        {{ get_create_view_as_sql(intermediate_relation, sql) }}
    {%- endcall %}

    {%- if existing_relation is not none and existing_relation.is_view
        and view_keeps_columns(existing_relation, intermediate_relation) %}
        {% call statement('replace_view') -%}
            drop view {{ intermediate_relation }};
            {{ get_replace_view_sql(target_relation, sql) }}
        {%- endcall %}
    {%- else %}
        {% call statement('serialize_cascading_drops') -%}
            select pg_advisory_xact_lock(hashtext('tickerbars: drop a relation with cascade'))
        {%- endcall %}
        {%- if existing_relation is not none %}
            {{ adapter.rename_relation(existing_relation, backup_relation) }}
        {%- endif %}
        {{ adapter.rename_relation(intermediate_relation, target_relation) }}
        {%- if existing_relation is not none %}
            {% call statement('drop_backup') -%}
                {{ get_drop_sql(backup_relation) }}
            {%- endcall %}
            {% do adapter.cache_dropped(backup_relation) %}
        {%- endif %}
    {%- endif %}

    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke(existing_relation, True)) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{#- Whether create or replace view may take the new query: each old column in place, same name, type and collation. -#}
{% macro view_keeps_columns(existing_relation, new_relation) %}
    {%- set changed = load_result_rows(
        "select count(*) from pg_attribute as old_column"
        ~ " left join pg_attribute as new_column on new_column.attrelid = '"
        ~ new_relation.include(database=False) ~ "'::regclass"
        ~ " and new_column.attnum = old_column.attnum"
        ~ " where old_column.attrelid = '" ~ existing_relation.include(database=False) ~ "'::regclass"
        ~ " and old_column.attnum > 0 and not old_column.attisdropped"
        ~ " and (new_column.attname is distinct from old_column.attname"
        ~ " or new_column.atttypid is distinct from old_column.atttypid"
        ~ " or new_column.atttypmod is distinct from old_column.atttypmod"
        ~ " or new_column.attcollation is distinct from old_column.attcollation"
        ~ " or new_column.attisdropped)"
    )[0][0] -%}
    {{ return(changed == 0) }}
{% endmacro %}
