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
        if_not_exists => true
    );
        {%- endfor %}
    {%- else %}
    select 1
    {%- endif %}
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
