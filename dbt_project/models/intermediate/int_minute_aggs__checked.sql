{#-
    The minute bars of the configured instruments' tickers from the current version of each minute file, each
    checked by the day bars' rules, with the part of the day it trades in (pre_market, regular, post_market: the
    regular session is 09:30 to 16:00 New York, to 13:00 on an early close). A re-published file replaces every
    row of its older version (delete+insert on source_key); incremental runs re-read the files with newer loads,
    and every file when a configured ticker was not read yet (int_minute_aggs__tickers_read): one configured
    again finds its rows in landing already, and minute files landed whole (land_scope all) are never widened. The
    minute dataset taken out of `datasets` takes its rows out of this model (post-hook) until it is listed again.
-#}
{{ config(
    unique_key='source_key',
    post_hook=[
        "{{ remove_unconfigured_bars(this, 'minute_aggs') }}",
        "{{ remove_superseded_rows(this) }}",
    ],
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

    select * from {{ ref('stg_reference__calendar_days') }}
    where calendar = 'XNYS'

),

{% if is_incremental() %}

    {{ files_with_newer_loads('manifest', this) }}

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
        {% if is_incremental() and not has_new_instruments(this, 'int_minute_aggs__tickers_read', 'minute_aggs') %}
            and stg.load_id >= {{ first_load_to_reread(this, 'minute_aggs') }}
            and manifest.source_key in (select changed_files.source_key from changed_files)
        {% endif %}

),

{{ distinct_bars('bars', 'window_start_ns') }}

checked as (

    select
        *,
        {{ bar_quarantine_reason() }} as quarantine_reason
    from distinct_bars

)

select
    checked.ticker,
    checked.bar_start,
    checked.trade_date,
    case
        when checked.minute_of_day < 570 then 'pre_market'
        when checked.minute_of_day < (case when sessions.is_early_close then 780 else 960 end) then 'regular'
        else 'post_market'
    end as market_session,
    checked.open,
    checked.high,
    checked.low,
    checked.close,
    checked.volume,
    checked.transactions,
    checked.window_start_ns,
    checked.load_id,
    checked.source_key,
    checked.source_etag,
    checked.file_date,
    checked.loaded_at,
    checked.run_id,
    coalesce(
        checked.quarantine_reason, case when sessions.session_date is null then 'not_a_session' end
    ) as quarantine_reason
from checked
left join sessions on checked.trade_date = sessions.session_date
