{#-
    Each ex-date's cash dividends under the instrument's ticker, added together (a special beside the regular one
    comes off the price with it), against the raw close of the last bar before the ex-date, and the factor
    fct_daily_bars_adjusted compounds: 1 - dividends / close before. Dividends at or above that close cannot be a
    fraction of the price: they get no factor and are flagged by the warn test on is_below_close_before, not hidden.
-#}
with

bars as (

    select
        ticker,
        trade_date,
        close,
        lead(trade_date) over (partition by ticker order by trade_date) as next_trade_date
    from {{ ref('fct_daily_bars') }}

),

dividends as (

    {{ corporate_actions_by_instrument("corporate_actions.action_type = 'cash_dividend'") }}

),

dividend_cash as (

    select
        ticker,
        event_date,
        sum(cash_amount) as cash_amount,
        count(*) as dividends
    from dividends
    group by ticker, event_date

)

select
    dividend_cash.ticker,
    dividend_cash.event_date,
    dividend_cash.cash_amount,
    dividend_cash.dividends,
    bars.trade_date as close_date,
    bars.close as close_before,
    dividend_cash.cash_amount < bars.close as is_below_close_before,
    case
        when dividend_cash.cash_amount < bars.close then 1 - dividend_cash.cash_amount / bars.close
    end as dividend_factor
from dividend_cash
inner join bars
    on
        dividend_cash.ticker = bars.ticker
        and dividend_cash.event_date > bars.trade_date
        and (dividend_cash.event_date <= bars.next_trade_date or bars.next_trade_date is null)
