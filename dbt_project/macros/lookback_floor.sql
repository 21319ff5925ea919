{#- Rows loaded at or after this are re-read by an incremental run: the newest load in `relation` minus the lookback. -#}
{% macro lookback_floor(relation) %}
    (select {{ dbt.dateadd('day', -1 * var('lookback_days') | int, 'max(loaded_at)') }} from {{ relation }})
{% endmacro %}
