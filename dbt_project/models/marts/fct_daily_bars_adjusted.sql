{#-
    Every bar of fct_daily_bars with its split factor and total-return factor, compounded from the events after the
    bar's date (as of the latest events known): split-adjusted OHLC and volume, and a dividend-adjusted close.
    An ex-date's factor is 1 - its cash dividends together / the raw close of the last bar before it
    (fct_dividend_checks, which flags dividends that are not a fraction of that close).
-#}
with

bars as (

    select * from {{ ref('fct_daily_bars') }}

),

splits as (

    {{ corporate_actions_by_instrument('corporate_actions.price_factor is not null') }}

),

-- each ex-date's factor, where its dividends are a fraction of the close before it (fct_dividend_checks)
dividend_factors as (

    select
        ticker,
        event_date,
        dividend_factor
    from {{ ref('fct_dividend_checks') }}
    where dividend_factor is not null

),

split_factors as (

    select
        bars.ticker,
        bars.trade_date,
        exp(sum(ln(splits.price_factor))) as split_factor
    from bars
    inner join splits
        on bars.ticker = splits.ticker and bars.trade_date < splits.event_date
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
        bars.dataset,
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
    dataset,
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
