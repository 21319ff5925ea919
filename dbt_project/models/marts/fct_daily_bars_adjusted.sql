{#-
    Every bar of fct_daily_bars with its split factor and total-return factor, compounded from the events after the
    bar's date (as of the latest events known): split-adjusted OHLC and volume, and a dividend-adjusted close.
    An ex-date's factor is 1 - its cash dividends together / the raw close of the last bar before it.
-#}
with

bars as (

    select
        *,
        lead(trade_date) over (partition by ticker order by trade_date) as next_trade_date
    from {{ ref('fct_daily_bars') }}

),

periods as (

    select * from {{ ref('int_instruments__ticker_periods') }}

),

-- each action under the instrument's ticker, when it happened under one of its tickers in that ticker's period
actions as (

    select
        corporate_actions.action_type,
        corporate_actions.event_date,
        corporate_actions.price_factor,
        corporate_actions.cash_amount,
        periods.instrument_ticker as ticker
    from {{ ref('fct_corporate_actions') }} as corporate_actions
    inner join periods
        on
            corporate_actions.ticker = periods.traded_ticker
            and corporate_actions.event_date >= periods.valid_from
            and (corporate_actions.event_date < periods.valid_until or periods.valid_until is null)

),

-- the cash of each ex-date: a special dividend beside the regular one comes off the price together with it
dividend_cash as (

    select
        ticker,
        event_date,
        sum(cash_amount) as cash_amount
    from actions
    where action_type = 'cash_dividend'
    group by ticker, event_date

),

dividend_factors as (

    select
        dividend_cash.ticker,
        dividend_cash.event_date,
        1 - dividend_cash.cash_amount / bars.close as dividend_factor
    from dividend_cash
    inner join bars
        on
            dividend_cash.ticker = bars.ticker
            and dividend_cash.event_date > bars.trade_date
            and (dividend_cash.event_date <= bars.next_trade_date or bars.next_trade_date is null)
    where dividend_cash.cash_amount < bars.close

),

split_factors as (

    select
        bars.ticker,
        bars.trade_date,
        exp(sum(ln(actions.price_factor))) as split_factor
    from bars
    inner join actions
        on bars.ticker = actions.ticker and bars.trade_date < actions.event_date
    where actions.price_factor is not null
    group by bars.ticker, bars.trade_date

),

cumulative_dividend_factors as (

    select
        bars.ticker,
        bars.trade_date,
        exp(sum(ln(dividend_factors.dividend_factor))) as dividend_factor
    from bars
    inner join dividend_factors
        on bars.ticker = dividend_factors.ticker and bars.trade_date < dividend_factors.event_date
    group by bars.ticker, bars.trade_date

),

factored as (

    select
        bars.ticker,
        bars.trade_date,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        coalesce(split_factors.split_factor, 1) as split_factor,
        coalesce(split_factors.split_factor, 1)
        * coalesce(cumulative_dividend_factors.dividend_factor, 1) as total_return_factor
    from bars
    left join split_factors
        on bars.ticker = split_factors.ticker and bars.trade_date = split_factors.trade_date
    left join cumulative_dividend_factors
        on
            bars.ticker = cumulative_dividend_factors.ticker
            and bars.trade_date = cumulative_dividend_factors.trade_date

)

select
    ticker,
    trade_date,
    split_factor,
    total_return_factor,
    open * split_factor as split_adjusted_open,
    high * split_factor as split_adjusted_high,
    low * split_factor as split_adjusted_low,
    close * split_factor as split_adjusted_close,
    volume / split_factor as split_adjusted_volume,
    close * total_return_factor as adjusted_close,
    open as raw_open,
    high as raw_high,
    low as raw_low,
    close as raw_close,
    volume as raw_volume
from factored
