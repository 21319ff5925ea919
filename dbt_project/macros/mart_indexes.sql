{#-
    A bars mart's indexes: on PostgreSQL its key, unique, and its time column (dbt-postgres `indexes`).
-#}
{% macro mart_indexes(time_column) %}
    {{ return(adapter.dispatch('mart_indexes', 'tickerbars')(time_column)) }}
{% endmacro %}

{% macro default__mart_indexes(time_column) %}{{ return([]) }}{% endmacro %}

{% macro postgres__mart_indexes(time_column) %}
    {{ return([{'columns': ['ticker', time_column], 'unique': True}, {'columns': [time_column]}]) }}
{% endmacro %}

{#-
    DuckDB: the marts carry no index. dbt-duckdb's rebuild of a table reads
    duckdb_indexes(), which failed while the other thread replaced an indexed mart ("Table with name
    fct_minute_bars__dbt_backup does not exist!" on every full refresh with minute bars). Warehouses built by earlier
    versions keep those indexes until this on-run-start hook drops them (dbt-duckdb names them with an md5: an index of
    the user's own is left alone).
-#}
{% macro drop_mart_indexes() %}
    {{ return(adapter.dispatch('drop_mart_indexes', 'tickerbars')()) }}
{% endmacro %}

{% macro default__drop_mart_indexes() %}{% endmacro %}

{% macro duckdb__drop_mart_indexes() %}
    {%- if execute -%}
        {%- set found = run_query(
            "select schema_name, index_name from duckdb_indexes() where database_name = current_database() "
            ~ "and schema_name = '" ~ target.schema ~ "' and table_name in ('fct_daily_bars', 'fct_minute_bars') "
            ~ "and regexp_full_match(index_name, '[0-9a-f]{32}')"
        ) -%}
        {%- for schema_name, index_name in found.rows %}
            drop index "{{ schema_name }}"."{{ index_name }}";
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
