{#-
    Every row kept out of fct_daily_bars and fct_minute_bars, with the reason: one place to look. The checked bars of
    each resolution, with the start of a minute bar (day bars have none).
-#}
{%- set checked_bars = {
    'int_day_aggs__checked': 'cast(null as timestamp with time zone)',
    'int_minute_aggs__checked': 'cast(bar_start as timestamp with time zone)',
} %}

with

rejected as (

    select * from {{ ref('int_rejected_rows__configured') }}

),

current_versions as (

    select * from {{ ref('int_files__current_versions') }}

),

failed_checks as (

    {%- for checked, bar_start in checked_bars.items() %}
        select
            ticker,
            trade_date,
            {{ bar_start }} as bar_start,
            file_date,
            source_key,
            source_etag,
            quarantine_reason,
            cast(null as text) as detail,
            open,
            high,
            low,
            close,
            volume,
            transactions,
            cast(null as text) as raw_line,
            cast(null as bigint) as line_number,
            loaded_at
        from {{ ref(checked) }}
        where quarantine_reason is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

unparsable as (

    select
        rejected.ticker,
        cast(null as date) as trade_date,
        cast(null as timestamp with time zone) as bar_start,
        rejected.file_date,
        rejected.source_key,
        rejected.source_etag,
        'unparsable' as quarantine_reason,
        rejected.column_name || ': ' || rejected.parse_error as detail,
        cast(null as double precision) as open,
        cast(null as double precision) as high,
        cast(null as double precision) as low,
        cast(null as double precision) as close,
        cast(null as double precision) as volume,
        cast(null as bigint) as transactions,
        rejected.raw_line,
        rejected.line_number,
        rejected.loaded_at
    from rejected
    inner join current_versions
        on
            rejected.source_key = current_versions.source_key
            and rejected.load_id >= current_versions.first_load_id

)

select * from failed_checks
union all
select * from unparsable
