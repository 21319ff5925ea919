{#-
    Whether a ticker of the configured instruments that the files of `landing_table` hold was not read by the last
    build of `relation` (the list it read is kept in the table `tickers_read`, looked up here without a ref so as not
    to make a cycle): an option or an index added does not make the minute model re-read every minute file. Decided when the
    model compiles, so that the incremental filter stays a plain predicate the warehouse can serve from an index.
-#}
{% macro has_new_instruments(relation, tickers_read, landing_table) %}
    {% if not execute %}
        {{ return(false) }}
    {% endif %}
    {% set read = adapter.get_relation(relation.database, relation.schema, tickers_read) %}
    {% set already = read if read is not none else '(select distinct ticker as traded_ticker from ' ~ relation ~ ')' %}
    {#- only a ticker that a listed dataset landing in `landing_table` holds -#}
    {% set new_tickers = run_query(
        "select count(*) from (" ~ listed_tickers(landing_table) ~ ") as listed"
        ~ " where traded_ticker not in (select traded_ticker from " ~ already ~ " as already_read)"
    ) %}
    {{ return(new_tickers.columns[0].values()[0] > 0) }}
{% endmacro %}
