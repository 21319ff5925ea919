{#-
    The minute bars of the configured instruments' tickers from the current version of each minute file, each
    checked by the day bars' rules, with the part of the day it trades in (pre_market, regular, post_market: the
    regular session is 09:30 to 16:00 New York, to 13:00 on an early close). A re-published file replaces every
    row of its older version (delete+insert on source_key); incremental runs re-read the files with newer loads.
    Minute files land the configured tickers only by default, so a newly configured ticker arrives by the
    extractor widening its files, which are then re-read here.
-#}
{{ config(
    unique_key='source_key',
    post_hook="{{ remove_unconfigured_tickers(this) }}",
) }}

with

datasets as (

    select * from {{ ref('stg_reference__datasets') }}
    where landing_table = 'minute_aggs'

),

manifest as (

    select * from {{ ref('stg_polygon__load_manifest') }}
    where dataset in (select datasets.dataset from datasets)

),

instruments as (

    select traded_ticker as ticker from {{ ref('int_instruments__tickers') }}

),

sessions as (

    select * from {{ ref('stg_reference__sessions') }}

),

{% if is_incremental() %}

    held as (

        select
            source_key,
            max(loaded_at) as loaded_at
        from {{ this }}
        group by source_key

    ),

    changed_files as (

        select manifest.source_key
        from manifest
        left join held on manifest.source_key = held.source_key
        group by manifest.source_key
        having max(manifest.loaded_at) > coalesce(max(held.loaded_at), cast('1970-01-01' as timestamp))

    ),

{% endif %}

bars as (

    select
        stg.ticker,
        stg.bar_start,
        {{ epoch_ns_to_session_date('stg.window_start_ns') }} as trade_date,
        {{ epoch_ns_to_new_york_minute('stg.window_start_ns') }} as minute_of_day,
        stg.open,
        stg.high,
        stg.low,
        stg.close,
        stg.volume,
        stg.transactions,
        stg.window_start_ns,
        stg.load_id,
        manifest.source_key,
        manifest.source_etag,
        stg.file_date,
        manifest.loaded_at,
        manifest.run_id
    from {{ ref('stg_polygon__minute_aggs') }} as stg
    inner join manifest on stg.load_id = manifest.load_id
    inner join {{ ref('int_files__current_versions') }} as current_versions
        on
            manifest.source_key = current_versions.source_key
            and manifest.load_id >= current_versions.first_load_id
    where
        stg.ticker in (select instruments.ticker from instruments)
        {% if is_incremental() %}
            and stg.load_id >= {{ first_load_to_reread(this, 'minute_aggs') }}
            and manifest.source_key in (select changed_files.source_key from changed_files)
        {% endif %}

),

exact_copies_ranked as (

    select
        *,
        row_number() over (
            partition by source_key, ticker, window_start_ns, open, high, low, close, volume, transactions
            order by loaded_at desc
        ) as copy_rank
    from bars

),

distinct_bars as (

    select
        *,
        count(*) over (partition by source_key, ticker, window_start_ns) as bars_in_file
    from exact_copies_ranked
    where copy_rank = 1

)

select
    distinct_bars.ticker,
    distinct_bars.bar_start,
    distinct_bars.trade_date,
    case
        when distinct_bars.minute_of_day < 570 then 'pre_market'
        when distinct_bars.minute_of_day < (case when sessions.is_early_close then 780 else 960 end) then 'regular'
        else 'post_market'
    end as market_session,
    distinct_bars.open,
    distinct_bars.high,
    distinct_bars.low,
    distinct_bars.close,
    distinct_bars.volume,
    distinct_bars.transactions,
    distinct_bars.window_start_ns,
    distinct_bars.load_id,
    distinct_bars.source_key,
    distinct_bars.source_etag,
    distinct_bars.file_date,
    distinct_bars.loaded_at,
    distinct_bars.run_id,
    case
        when distinct_bars.trade_date <> distinct_bars.file_date then 'date_mismatch'
        when distinct_bars.bars_in_file > 1 then 'conflicting_duplicate'
        when
            distinct_bars.open is null or distinct_bars.high is null or distinct_bars.low is null
            or distinct_bars.close is null or distinct_bars.volume is null
            then 'missing_value'
        when
            not {{ is_finite('distinct_bars.open') }}
            or not {{ is_finite('distinct_bars.high') }}
            or not {{ is_finite('distinct_bars.low') }}
            or not {{ is_finite('distinct_bars.close') }}
            or not {{ is_finite('distinct_bars.volume') }}
            then 'non_finite'
        when least(distinct_bars.open, distinct_bars.high, distinct_bars.low, distinct_bars.close) <= 0
            then 'non_positive_price'
        when distinct_bars.volume < 0 then 'negative_volume'
        when
            distinct_bars.high < greatest(distinct_bars.open, distinct_bars.close, distinct_bars.low)
            or distinct_bars.low > least(distinct_bars.open, distinct_bars.close)
            then 'ohlc_inconsistent'
        when sessions.session_date is null then 'not_a_session'
    end as quarantine_reason
from distinct_bars
left join sessions on distinct_bars.trade_date = sessions.session_date
