with

records as (

    select * from {{ ref('base_massive__reference_records') }}
    where dataset = 'ticker_events'

),

events as (

    select
        {{ json_text('record', 'composite_figi') }} as composite_figi,
        {{ json_array_elements('record', 'events') }} as event,
        fetch_id,
        fetched_ticker,
        fetched_at
    from records

),

renamed as (

    select
        composite_figi,
        {{ json_text('event', 'type') }} as event_type,
        cast({{ json_text('event', 'date') }} as date) as event_date,
        {{ json_text('event', 'ticker_change.ticker') }} as ticker,
        fetch_id,
        fetched_ticker,
        fetched_at

    from events

)

select * from renamed
