with

records as (

    select * from {{ ref('base_massive__reference_records') }}
    where dataset = 'splits'

),

renamed as (

    select
        {{ json_text('record', 'id') }} as split_id,
        {{ json_text('record', 'ticker') }} as ticker,
        cast({{ json_text('record', 'execution_date') }} as date) as execution_date,
        cast({{ json_text('record', 'split_from') }} as double precision) as split_from,
        cast({{ json_text('record', 'split_to') }} as double precision) as split_to,
        {{ json_text('record', 'adjustment_type') }} as adjustment_type,
        cast({{ json_text('record', 'historical_adjustment_factor') }} as double precision)
            as provider_adjustment_factor,
        fetch_id,
        fetched_ticker,
        fetch_window_start,
        fetched_at

    from records

)

select * from renamed
