{#-
    The bars of the configured instruments from the current version of each day file, each checked.
    A re-published file (new ETag) replaces every row of its older version: delete+insert on source_key.
    Every ticker a configured instrument traded under is kept (int_instruments__tickers). A ticker that leaves the
    configuration, or whose dataset is taken out of `datasets`, leaves this model too (post-hook); a ticker this
    model has not read yet (see int_day_aggs__tickers_read) makes the run re-read every file, so that it gets every
    file's rows.
    Incremental runs re-read exactly the files with a load newer than the rows held for them.
    quarantine_reason is null for a clean bar; otherwise the bar stays out of fct_daily_bars.
-#}
{{ config(
    unique_key='source_key',
    post_hook=[
        "{{ remove_unconfigured_bars(this, 'day_aggs') }}",
        "{{ remove_superseded_rows(this) }}",
    ],
) }}

with

datasets as (

    select * from {{ ref('stg_reference__datasets') }}
    where landing_table = 'day_aggs'

),

-- the loads of day files (every day dataset shares the landing table; minute files have their own)
manifest as (

    select * from {{ ref('stg_polygon__load_manifest') }}
    where dataset in (select datasets.dataset from datasets)

),

instruments as (

    select traded_ticker as ticker from {{ ref('int_instruments__tickers') }}

),

current_versions as (

    select * from {{ ref('int_files__current_versions') }}

),

{% if is_incremental() %}

    {{ files_with_newer_loads('manifest', this) }}

{% endif %}

bars as (

    select
        stg.ticker,
        -- the day a bar belongs to is window_start's date in its dataset's zone (New York; UTC for crypto, forex)
        {{ epoch_ns_to_session_date('stg.window_start_ns', 'datasets.day_timezone') }} as trade_date,
        stg.open,
        stg.high,
        stg.low,
        stg.close,
        stg.volume,
        stg.transactions,
        stg.window_start_ns,
        stg.load_id,
        manifest.source_key,
        manifest.dataset,
        datasets.has_volume,
        manifest.source_etag,
        stg.file_date,
        manifest.loaded_at,
        manifest.run_id
    from {{ ref('stg_polygon__day_aggs') }} as stg
    inner join manifest on stg.load_id = manifest.load_id
    inner join datasets on manifest.dataset = datasets.dataset
    inner join current_versions
        on
            manifest.source_key = current_versions.source_key
            and manifest.load_id >= current_versions.first_load_id
    where
        stg.ticker in (select instruments.ticker from instruments)
        {% if is_incremental() and not has_new_instruments(this, 'int_day_aggs__tickers_read', 'day_aggs') %}
            -- a newly configured ticker brings its whole history: then every file is re-read
            and stg.load_id >= {{ first_load_to_reread(this) }}
            and manifest.source_key in (select changed_files.source_key from changed_files)
        {% endif %}

),

{{ distinct_bars('bars', 'trade_date') }}

checked as (

    select
        ticker,
        trade_date,
        open,
        high,
        low,
        close,
        volume,
        transactions,
        window_start_ns,
        load_id,
        source_key,
        dataset,
        source_etag,
        file_date,
        loaded_at,
        run_id,
        {{ bar_quarantine_reason('has_volume') }} as quarantine_reason

    from distinct_bars

)

select * from checked
