with

records as (

    select * from {{ ref('base_massive__reference_records') }}
    where dataset = 'dividends'

),

renamed as (

    select
        {{ json_text('record', 'id') }} as dividend_id,
        {{ json_text('record', 'ticker') }} as ticker,
        cast({{ json_text('record', 'ex_dividend_date') }} as date) as ex_dividend_date,
        cast({{ json_text('record', 'pay_date') }} as date) as pay_date,
        cast({{ json_text('record', 'record_date') }} as date) as record_date,
        cast({{ json_text('record', 'declaration_date') }} as date) as declaration_date,
        cast({{ json_text('record', 'cash_amount') }} as double precision) as cash_amount,
        {{ json_text('record', 'currency') }} as currency,
        cast({{ json_text('record', 'frequency') }} as integer) as frequency,
        {{ json_text('record', 'distribution_type') }} as distribution_type,
        cast({{ json_text('record', 'historical_adjustment_factor') }} as double precision)
            as provider_adjustment_factor,
        fetch_id,
        fetched_ticker,
        fetch_window_start,
        fetched_at

    from records

)

select * from renamed
