{#- The corporate actions of fct_corporate_actions under the instrument's ticker, for those that happened under one
    of its tickers in that ticker's period (FB's dividends before 2022-06-09 count for META). -#}
{% macro corporate_actions_by_instrument(action_filter) %}
    select
        corporate_actions.action_type,
        corporate_actions.event_date,
        corporate_actions.price_factor,
        corporate_actions.cash_amount,
        periods.instrument_ticker as ticker
    from {{ ref('fct_corporate_actions') }} as corporate_actions
    inner join {{ ref('int_instruments__ticker_periods') }} as periods
        on
            corporate_actions.ticker = periods.traded_ticker
            and corporate_actions.event_date >= periods.valid_from
            and (corporate_actions.event_date < periods.valid_until or periods.valid_until is null)
    where {{ action_filter }}
{% endmacro %}
