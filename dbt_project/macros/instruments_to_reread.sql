{#-
    The periods an incremental bars mart is built under: for each active instrument, each ticker it traded under,
    from when to when, and its instrument_id. A model `<mart>__periods_built` keeps the ones of the last build.
-#}
{% macro instrument_periods() %}
    select
        periods.instrument_ticker,
        periods.traded_ticker,
        periods.valid_from,
        periods.valid_until,
        instruments.instrument_id
    from {{ ref('int_instruments__ticker_periods') }} as periods
    inner join {{ ref('dim_instruments') }} as instruments on periods.instrument_ticker = instruments.ticker
    where instruments.is_active
{% endmacro %}

{#-
    A predicate on `bars.instrument_ticker`: the instruments whose whole history an incremental run re-reads, those
    whose periods differ from the ones the last build recorded in `periods_built` (an instrument added or configured
    again, a ticker or a ticker change added, a period that moved, an instrument_id that changed). Their rows in
    landing keep old loads, which the lookback alone never reaches. Every instrument when nothing was recorded.
    Decided when the model runs, as a literal list.
-#}
{% macro instruments_to_reread(periods_built) %}
    {#- rendered when the project is parsed too, so that the model depends on what it reads -#}
    {% set current_periods = instrument_periods() %}
    {% if not execute or not is_incremental() %}
        {{ return('true') }}
    {% endif %}
    {% set built = adapter.get_relation(this.database, generate_schema_name('intermediate'), periods_built) %}
    {% if built is none %}
        {{ return('true') }}
    {% endif %}
    {% set query %}
        with

        current_periods as ({{ current_periods }}),

        built_periods as (
            select instrument_ticker, traded_ticker, valid_from, valid_until, instrument_id from {{ built }}
        ),

        changed as (
            (select * from current_periods except select * from built_periods)
            union all
            (select * from built_periods except select * from current_periods)
        )

        select distinct instrument_ticker from changed order by instrument_ticker
    {% endset %}
    {% set tickers = run_query(query).columns[0].values() %}
    {% if tickers | length == 0 %}
        {{ return('false') }}
    {% endif %}
    {% set quoted = [] %}
    {% for ticker in tickers %}
        {% do quoted.append("'" ~ ticker | replace("'", "''") ~ "'") %}
    {% endfor %}
    {{ return('bars.instrument_ticker in (' ~ quoted | join(', ') ~ ')') }}
{% endmacro %}
