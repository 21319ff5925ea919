with

records as (

    select * from {{ ref('base_massive__reference_records') }}
    where dataset = 'ticker_overview'

),

renamed as (

    select
        {{ json_text('record', 'ticker') }} as ticker,
        {{ json_text('record', 'name') }} as instrument_name,
        {{ json_text('record', 'type') }} as ticker_type,
        {{ json_text('record', 'primary_exchange') }} as primary_exchange,
        {{ json_text('record', 'composite_figi') }} as composite_figi,
        {{ json_text('record', 'share_class_figi') }} as share_class_figi,
        cast({{ json_text('record', 'list_date') }} as date) as list_date,
        cast(substr({{ json_text('record', 'delisted_utc') }}, 1, 10) as date) as delisted_date,
        {{ json_text('record', 'sic_description') }} as sic_description,
        fetch_id,
        fetched_ticker,
        fetched_at

    from records

)

select * from renamed
