{#- Per configured ticker: sessions with a bar against sessions loaded since its first bar. -#}
with

bars as (

    select * from {{ ref('fct_daily_bars') }}

),

instruments as (

    select * from {{ ref('dim_instruments') }}
    where is_active

),

loaded_sessions as (

    select distinct file_date as session_date
    from {{ ref('int_files__current_versions') }}

),

present as (

    select
        ticker,
        min(trade_date) as first_session,
        max(trade_date) as last_session,
        count(*) as sessions_present
    from bars
    group by ticker

),

expected as (

    select
        present.ticker,
        count(*) as sessions_loaded
    from present
    inner join loaded_sessions
        on present.first_session <= loaded_sessions.session_date
    group by present.ticker

)

select
    instruments.ticker,
    present.first_session,
    present.last_session,
    coalesce(present.sessions_present, 0) as sessions_present,
    coalesce(expected.sessions_loaded, 0) as sessions_loaded,
    coalesce(expected.sessions_loaded, 0) - coalesce(present.sessions_present, 0) as sessions_missing,
    case
        when expected.sessions_loaded > 0
            then round(cast(100.0 * present.sessions_present / expected.sessions_loaded as numeric), 2)
    end as coverage_pct
from instruments
left join present on instruments.ticker = present.ticker
left join expected on instruments.ticker = expected.ticker
