{#-
    Rows of tickers no configured instrument trades under any more, or that no listed dataset landing in
    `landing_table` holds any more (its dataset was taken out of `datasets`). Either comes back whole: a ticker
    configured again is new to the model's tickers_read, and a dataset listed again has files that hold no rows
    here, so the next build re-reads them.
-#}
{% macro remove_unconfigured_bars(relation, landing_table) %}
    delete from {{ relation }}
    where ticker not in ({{ listed_tickers(landing_table) }})
{% endmacro %}
