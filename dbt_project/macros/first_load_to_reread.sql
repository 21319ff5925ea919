{#-
    The lowest load_id an incremental run of a checked model must re-read: the first load of the current version of
    every file of the datasets landing in `table` with a load newer than the rows `relation` holds for it ('null'
    when there is none).
    A literal, decided when the model runs, so that PostgreSQL serves `load_id >= n` from its BRIN index
    instead of scanning all of landing.
-#}
{% macro first_load_to_reread(relation, table='day_aggs') %}
    {% if not execute %}
        {{ return('null') }}
    {% endif %}
    {% set query %}
        with held as (
            select source_key, max(loaded_at) as loaded_at
            from {{ relation }}
            group by source_key
        )
        select min(manifest.load_id)
        from {{ ref('stg_polygon__load_manifest') }} as manifest
        inner join {{ ref('int_files__current_versions') }} as current_versions
            on manifest.source_key = current_versions.source_key
            and manifest.load_id >= current_versions.first_load_id
        left join held on manifest.source_key = held.source_key
        where
            (held.loaded_at is null or current_versions.loaded_at > held.loaded_at)
            and manifest.dataset in (select dataset from {{ ref('stg_reference__datasets') }} where landing_table = '{{ table }}')
    {% endset %}
    {% set first = run_query(query).columns[0].values()[0] %}
    {{ return('null' if first is none else first | int) }}
{% endmacro %}
