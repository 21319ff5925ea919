{#-
    The records of a reference dataset that count: each from the newest fetch for its ticker whose window covers
    its date (a fetch with no window_start asked for the whole history). An event a later fetch no longer returns
    is thereby withdrawn.
-#}
{% macro current_reference_records(records, dataset, date_column) %}
    select records.*
    from {{ records }} as records
    where not exists (
        select 1
        from {{ ref('stg_massive__fetches') }} as fetches
        where
            fetches.dataset = '{{ dataset }}'
            and fetches.fetched_ticker = records.fetched_ticker
            and fetches.fetch_id > records.fetch_id
            and (fetches.fetch_window_start is null or fetches.fetch_window_start <= records.{{ date_column }})
    )
{% endmacro %}
