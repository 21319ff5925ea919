{#-
    The bars of `minute_bars` rolled up per ticker and bucket of `bucket_seconds` (none: per session day, the
    regular session's bars only): the first open, the highest high, the lowest low, the last close, summed volume
    and trades. New York is a whole number of hours from UTC, so buckets of 5 minutes or an hour cut the epoch in
    New York time too. Incremental: every bucket of the days with a bar loaded since the last build is rebuilt, and
    every day the rollup does not hold yet (a ticker configured or active again, an earlier ticker's days: their
    bars come with their old loads).
-#}
{% macro rollup_minute_bars(minute_bars, bucket_seconds=none) %}

with

{% if is_incremental() %}

    rolled_days as (

        select distinct
            ticker,
            trade_date
        from {{ this }}

    ),

    touched_days as (

        select distinct
            minute_bars.ticker,
            minute_bars.trade_date
        from {{ minute_bars }} as minute_bars
        where
            minute_bars.loaded_at > (select max(loaded_at) from {{ this }})
            or not exists (
                select 1
                from rolled_days
                where rolled_days.ticker = minute_bars.ticker and rolled_days.trade_date = minute_bars.trade_date
            )

    ),

{% endif %}

bars as (

    select
        minute_bars.*,
        {% if bucket_seconds %}
            minute_bars.window_start_ns - mod(minute_bars.window_start_ns, {{ bucket_seconds * 1000000000 }})
        {% else %}
            min(minute_bars.window_start_ns) over (partition by minute_bars.ticker, minute_bars.trade_date)
        {% endif %} as bucket_ns
    from {{ minute_bars }} as minute_bars
    {% if is_incremental() %}
        inner join touched_days
            on minute_bars.ticker = touched_days.ticker and minute_bars.trade_date = touched_days.trade_date
    {% endif %}
    {% if not bucket_seconds %}
        where minute_bars.market_session = 'regular'
    {% endif %}

),

ordered as (

    select
        *,
        row_number() over (partition by ticker, bucket_ns order by window_start_ns) as from_first,
        row_number() over (partition by ticker, bucket_ns order by window_start_ns desc) as from_last
    from bars

)

select
    ticker,
    trade_date,
    to_timestamp(bucket_ns / 1000000000.0) as bucket_start,
    max(case when from_first = 1 then open end) as open,
    max(high) as high,
    min(low) as low,
    max(case when from_last = 1 then close end) as close,
    sum(volume) as volume,
    cast(sum(transactions) as bigint) as transactions,
    count(*) as minute_bars,
    max(loaded_at) as loaded_at
from ordered
group by ticker, trade_date, bucket_ns

{% endmacro %}

{#-
    Days a rollup holds that its minute bars no longer support: the instrument left, its bars were retired, or (for
    the regular-session rollup, `regular_only`) a re-published file has none of that day's regular session.
-#}
{% macro remove_unsupported_rollup_days(relation, minute_bars, regular_only=false) %}
    delete from {{ relation }}
    where not exists (
        select 1
        from {{ minute_bars }} as minute_bars
        where
            minute_bars.ticker = {{ relation.identifier }}.ticker
            and minute_bars.trade_date = {{ relation.identifier }}.trade_date
            {%- if regular_only %}
                and minute_bars.market_session = 'regular'
            {%- endif %}
    )
{% endmacro %}
