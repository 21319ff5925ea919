{#-
    What the day and minute checked models share, so that a rule is written once for every dataset.
-#}

{#- CTEs `held` and `changed_files`: the files of `manifest` with a load newer than the rows `relation` holds. -#}
{% macro files_with_newer_loads(manifest, relation) %}
    held as (

        select
            source_key,
            max(loaded_at) as loaded_at
        from {{ relation }}
        group by source_key

    ),

    changed_files as (

        select {{ manifest }}.source_key
        from {{ manifest }}
        left join held on {{ manifest }}.source_key = held.source_key
        group by {{ manifest }}.source_key
        having max({{ manifest }}.loaded_at) > coalesce(max(held.loaded_at), cast('1970-01-01' as timestamp))

    ),
{% endmacro %}

{#-
    CTEs `exact_copies_ranked` and `distinct_bars` over `bars`: exact copies of a bar in one file collapse to one;
    bars_in_file counts the different bars left for the same ticker and `time_key` (more than one is a conflict).
-#}
{% macro distinct_bars(bars, time_key) %}
    exact_copies_ranked as (

        select
            *,
            row_number() over (
                partition by
                    source_key, ticker, {{ time_key }}, open, high, low, close, volume, transactions
                order by loaded_at desc
            ) as copy_rank
        from {{ bars }}

    ),

    distinct_bars as (

        select
            *,
            count(*) over (partition by source_key, ticker, {{ time_key }}) as bars_in_file
        from exact_copies_ranked
        where copy_rank = 1

    ),
{% endmacro %}

{#-
    Why a bar stays out of the facts (null: clean), over the columns of distinct_bars. volume_required: an SQL
    condition, false for datasets whose files have no volume (index aggregates).
-#}
{% macro bar_quarantine_reason(volume_required='true') %}
    case
        when trade_date <> file_date then 'date_mismatch'
        when bars_in_file > 1 then 'conflicting_duplicate'
        when
            open is null or high is null or low is null or close is null or (volume is null and {{ volume_required }})
            then 'missing_value'
        -- NaN and infinities pass every comparison below (NaN sorts above every number)
        when
            not {{ is_finite('open') }}
            or not {{ is_finite('high') }}
            or not {{ is_finite('low') }}
            or not {{ is_finite('close') }}
            or not {{ is_finite('volume') }}
            then 'non_finite'
        when least(open, high, low, close) <= 0 then 'non_positive_price'
        when volume < 0 then 'negative_volume'
        when high < greatest(open, close, low) or low > least(open, close) then 'ohlc_inconsistent'
    end
{% endmacro %}

{#-
    The clean bars of `checked` (a checked model) of every ticker an instrument traded under, within its period,
    under the instrument's ticker; `columns` are carried as they are.
-#}
{% macro bars_under_instruments(checked, columns) %}
with

checked as (

    select * from {{ ref(checked) }}
    where quarantine_reason is null

),

periods as (

    select * from {{ ref('int_instruments__ticker_periods') }}

)

select
    periods.instrument_ticker,
    checked.ticker as traded_ticker,
    {%- for column in columns %}
    checked.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from checked
inner join periods
    on
        checked.ticker = periods.traded_ticker
        and checked.trade_date >= periods.valid_from
        and (checked.trade_date < periods.valid_until or periods.valid_until is null)
{% endmacro %}

{#-
    One bar per active instrument and `time_column` from `bars` (a bars_under_instruments model): the newest load
    wins. Incremental: the rows loaded since the newest load minus the lookback, plus the whole history of a
    traded ticker new to the table (a ticker or dataset configured again: its rows keep their old loads) and of each
    instrument whose periods changed since the last build (`periods_built`, see instruments_to_reread).
-#}
{% macro newest_instrument_bars(bars, time_column, columns, periods_built) %}
{% set reread = instruments_to_reread(periods_built) %}
with

bars as (

    select * from {{ ref(bars) }}

),

instruments as (

    select * from {{ ref('dim_instruments') }}
    where is_active

),

candidates as (

    select
        bars.*,
        instruments.instrument_id
    from bars
    inner join instruments on bars.instrument_ticker = instruments.ticker
    {% if is_incremental() %}
        where
            bars.loaded_at >= {{ lookback_floor(this) }}
            or bars.traded_ticker not in (select distinct traded_ticker from {{ this }})
            or {{ reread }}
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by instrument_ticker, {{ time_column }} order by loaded_at desc, source_key asc
        ) as load_rank
    from candidates

)

select
    instrument_ticker as ticker,
    {%- for column in columns %}
    {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from ranked
where load_rank = 1
{% endmacro %}
