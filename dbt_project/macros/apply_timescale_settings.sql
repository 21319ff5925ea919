{#-
    Where TimescaleDB is installed: the hypertable and its compression, applied on every run, since a
    --full-refresh recreates the table. The keys and indexes come from the model's `indexes` config, which
    dbt-postgres applies whenever it (re)creates the table.
-#}
{% macro apply_timescale_settings(relation, time_column='trade_date', chunk_interval=var('hypertable_chunk_interval')) %}
    {{ return(adapter.dispatch('apply_timescale_settings', 'tickerbars')(relation, time_column, chunk_interval)) }}
{% endmacro %}

{% macro default__apply_timescale_settings(relation, time_column, chunk_interval) %}
    select 1
{% endmacro %}

{% macro postgres__apply_timescale_settings(relation, time_column, chunk_interval) %}
    {%- set table = relation.identifier -%}
    {%- if execute and timescaledb_installed() %}
        {%- set hypertable = load_result_rows(
            "select compression_enabled from timescaledb_information.hypertables"
            ~ " where hypertable_schema = '" ~ relation.schema ~ "' and hypertable_name = '" ~ table ~ "'"
        ) %}
        {%- if hypertable | length == 0 %}
    select create_hypertable(
        '{{ relation }}'::regclass,
        by_range('{{ time_column }}', interval '{{ chunk_interval }}'),
        if_not_exists => true,
        migrate_data => true,
        create_default_indexes => false
    );
        {%- endif %}
        {%- if hypertable | length == 0 or not hypertable[0][0] %}
    alter table {{ relation }} set (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'ticker',
        timescaledb.compress_orderby = '{{ time_column }}'
    );
        {%- endif %}
    select add_compression_policy(
        '{{ relation }}'::regclass, interval '{{ var("compress_after") }}', if_not_exists => true
    );
    {%- else %}
        {%- if execute %}
        {{ log(table ~ ": hypertable step skipped: the timescaledb extension is not installed in this "
               ~ "database (plain PostgreSQL table with the same keys and indexes)", info=True) }}
        {%- endif %}
    select 1
    {%- endif %}
{% endmacro %}

{% macro timescaledb_installed() %}
    {{ return(load_result_rows("select 1 from pg_extension where extname = 'timescaledb'") | length > 0) }}
{% endmacro %}

{% macro load_result_rows(sql) %}
    {{ return(run_query(sql).rows) }}
{% endmacro %}
