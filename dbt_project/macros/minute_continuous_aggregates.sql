{#-
    Where TimescaleDB is installed: continuous aggregates over the fct_minute_bars hypertable, the 5-minute, 1-hour
    and regular-session daily bars bucketed in New York time, each refreshed by a policy (and by every build), beside
    the dbt rollups that both warehouses have. A --full-refresh drops them with the table; this hook makes them again.
-#}
{% macro create_minute_aggregates(relation) %}
    {{ return(adapter.dispatch('create_minute_aggregates', 'tickerbars')(relation)) }}
{% endmacro %}

{% macro default__create_minute_aggregates(relation) %}
    select 1
{% endmacro %}

{% macro postgres__create_minute_aggregates(relation) %}
    {%- if execute and timescaledb_installed() %}
        {#- a --full-refresh leaves the aggregates on the table it replaces (dropped after this hook): made again -#}
        {%- for (stale,) in load_result_rows(
            "select view_name from timescaledb_information.continuous_aggregates where view_schema = '"
            ~ relation.schema ~ "' and hypertable_name <> '" ~ relation.identifier ~ "' and view_name in ('"
            ~ minute_aggregate_specs().keys() | join("', '") ~ "')"
        ) %}
    drop materialized view if exists {{ relation.schema }}.{{ stale }};
        {%- endfor %}
        {%- for name, spec in minute_aggregate_specs().items() %}
    create materialized view if not exists {{ relation.schema }}.{{ name }}
    with (timescaledb.continuous) as
    select
        ticker,
        time_bucket(interval '{{ spec.bucket }}', bar_start, 'America/New_York') as bucket_start,
        first(open, bar_start) as open,
        max(high) as high,
        min(low) as low,
        last(close, bar_start) as close,
        sum(volume) as volume,
        cast(sum(transactions) as bigint) as transactions,
        count(*) as minute_bars
    from {{ relation }}
    {{ spec.where }}
    group by ticker, time_bucket(interval '{{ spec.bucket }}', bar_start, 'America/New_York')
    with no data;
    select add_continuous_aggregate_policy(
        '{{ relation.schema }}.{{ name }}',
        start_offset => interval '{{ var("continuous_aggregate_window") }}',
        end_offset => interval '1 minute',
        schedule_interval => interval '1 hour',
        if_not_exists => true,
        initial_start => now() + interval '1 hour'
    );
        {%- endfor %}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{#-
    A refresh policy running while the build refreshes the same aggregate makes the build fail ("could not refresh
    continuous aggregate ... due to a concurrent refresh"). So the build pauses the policies that are scheduled,
    noting them in paused_refresh_policies (committed at once, so that the scheduler starts none of them), waits for
    any that is still running, refreshes, and resumes the ones it paused (a policy paused by hand stays paused).
    on-run-end resumes them too, so a build that fails in between leaves none paused. TimescaleDB's scheduler cancels
    a running policy that is paused once it next reads its jobs (its refresh rolls back; the build's own refresh does
    that work), so the wait is mostly for that.
-#}
{% macro pause_minute_aggregate_policies(relation) %}
    {{ return(adapter.dispatch('pause_minute_aggregate_policies', 'tickerbars')(relation)) }}
{% endmacro %}

{% macro default__pause_minute_aggregate_policies(relation) %}
    select 1
{% endmacro %}

{% macro postgres__pause_minute_aggregate_policies(relation) %}
    {%- if execute and timescaledb_installed() %}
    create table if not exists {{ paused_policies() }} (
        job_id integer primary key, paused_at timestamp with time zone not null
    );
    insert into {{ paused_policies() }} (job_id, paused_at)
    select job_id, now() from ({{ minute_aggregate_policies(relation) }}) as policies where scheduled
    on conflict (job_id) do nothing;
    select alter_job(job_id, scheduled => false) from {{ paused_policies() }}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{% macro wait_for_minute_aggregate_policies(relation) %}
    {{ return(adapter.dispatch('wait_for_minute_aggregate_policies', 'tickerbars')(relation)) }}
{% endmacro %}

{% macro default__wait_for_minute_aggregate_policies(relation) %}
    select 1
{% endmacro %}

{% macro postgres__wait_for_minute_aggregate_policies(relation) %}
    {%- if execute and timescaledb_installed() %}
    do $wait_for_policies$
    declare
        waiting_since timestamptz := clock_timestamp();
    begin
        loop
            perform pg_stat_clear_snapshot();
            exit when not exists (
                select from timescaledb_information.job_stats
                where
                    job_status = 'Running'
                    and job_id in (select job_id from ({{ minute_aggregate_policies(relation) }}) as policies)
            );
            if clock_timestamp() - waiting_since > interval '{{ var("continuous_aggregate_policy_wait") }}' then
                raise exception 'a refresh policy of the minute-bar continuous aggregates has run for over {{
                    var("continuous_aggregate_policy_wait") }}; the build waits for it before refreshing them'
                    using hint = 'see timescaledb_information.job_stats; run the build again when it has ended';
            end if;
            perform pg_sleep(0.2);
        end loop;
    end
    $wait_for_policies$
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{#- Resumes the policies a build paused: after the refreshes, and on-run-end (whatever failed). -#}
{% macro resume_minute_aggregate_policies() %}
    {{ return(adapter.dispatch('resume_minute_aggregate_policies', 'tickerbars')()) }}
{% endmacro %}

{% macro default__resume_minute_aggregate_policies() %}
    select 1
{% endmacro %}

{% macro postgres__resume_minute_aggregate_policies() %}
    {%- if execute and timescaledb_installed() %}
    do $resume_policies$
    begin
        if to_regclass('{{ paused_policies() }}') is not null then
            perform alter_job(paused.job_id, scheduled => true)
            from {{ paused_policies() }} as paused
            inner join timescaledb_information.jobs as jobs on paused.job_id = jobs.job_id;
            delete from {{ paused_policies() }};
        end if;
    end
    $resume_policies$
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{% macro paused_policies() %}
    {{ return(build_log_schema() ~ '.paused_refresh_policies') }}
{% endmacro %}

{% macro minute_aggregate_policies(relation) %}
    {#- a continuous aggregate's jobs name it (not its materialized hypertable) as their hypertable -#}
    select job_id, scheduled
    from timescaledb_information.jobs
    where
        proc_name = 'policy_refresh_continuous_aggregate'
        and hypertable_schema = '{{ relation.schema }}'
        and hypertable_name in ('{{ minute_aggregate_specs().keys() | join("', '") }}')
{% endmacro %}

{#-
    Brings one continuous aggregate up to date with the build: a statement of its own, outside a transaction, as
    TimescaleDB requires.
-#}
{% macro refresh_minute_aggregate(relation, name) %}
    {{ return(adapter.dispatch('refresh_minute_aggregate', 'tickerbars')(relation, name)) }}
{% endmacro %}

{% macro default__refresh_minute_aggregate(relation, name) %}
    select 1
{% endmacro %}

{% macro postgres__refresh_minute_aggregate(relation, name) %}
    {%- if execute and timescaledb_installed() %}
    call refresh_continuous_aggregate('{{ relation.schema }}.{{ name }}', null, null)
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{% macro minute_aggregate_specs() %}
    {{ return({
        'cagg_minute_bars_5m': {'bucket': '5 minutes', 'where': ''},
        'cagg_minute_bars_1h': {'bucket': '1 hour', 'where': ''},
        'cagg_minute_bars_daily': {'bucket': '1 day', 'where': "where market_session = 'regular'"},
    }) }}
{% endmacro %}
