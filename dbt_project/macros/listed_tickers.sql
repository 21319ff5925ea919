{#- The configured tickers (every ticker an instrument trades under) that a listed dataset landing in `landing_table`
    holds, by its ticker prefix as the extractor decides. -#}
{% macro listed_tickers(landing_table) %}
    select tickers.traded_ticker
    from {{ ref('int_instruments__tickers') }} as tickers
    where exists (
        select 1
        from {{ ref('stg_reference__datasets') }} as datasets
        where
            datasets.landing_table = '{{ landing_table }}'
            and case
                when datasets.ticker_prefix = '' then tickers.traded_ticker not like '_:%'
                else tickers.traded_ticker like datasets.ticker_prefix || '%'
            end
    )
{% endmacro %}
