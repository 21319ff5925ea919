{#-
    PostgreSQL: the landing tables' BRIN index (load_id, file_date) summarized over the pages landed since the last
    build (an on-run-start hook). An unsummarized page range matches every search and COPY summarizes none, so after a
    backfill, until autovacuum came by, the incremental models' `load_id >= n` read all of landing (1.3 s of a 7 s
    everyday run on 5 years of full-market files) instead of its newest pages. Once a backfill's pages are
    summarized, each build summarizes only what landed since. DuckDB has no such index.
-#}
{% macro summarize_landing_indexes() %}
    {{ return(adapter.dispatch('summarize_landing_indexes', 'tickerbars')()) }}
{% endmacro %}

{% macro default__summarize_landing_indexes() %}{% endmacro %}

{% macro postgres__summarize_landing_indexes() %}
    {%- set schema = build_log_schema() -%}
    select brin_summarize_new_values(brin_index)
    from (
        values
        (to_regclass('{{ schema }}.day_aggs_lineage_brin')),
        (to_regclass('{{ schema }}.minute_aggs_lineage_brin'))
    ) as landing_indexes (brin_index)
    where brin_index is not null
{% endmacro %}
