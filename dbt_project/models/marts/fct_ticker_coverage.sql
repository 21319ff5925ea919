{#-
    Per active configured instrument: sessions with a bar against the exchange's sessions from its first bar to the
    last expected session (int_sessions__expected: the newest day file, or the last session whose file is due if
    later). A session with no file at all counts as missing.
-#}
with

-- bars on sessions only: a file dated on a weekend is listed in fct_missing_sessions, not counted here
bars as (

    select * from {{ ref('fct_daily_bars') }}
    where trade_date in (select session_date from {{ ref('stg_reference__sessions') }})

),

instruments as (

    select * from {{ ref('dim_instruments') }}
    where is_active

),

expected_sessions as (

    select * from {{ ref('int_sessions__expected') }}

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
        count(*) as sessions_expected
    from present
    inner join expected_sessions on present.first_session <= expected_sessions.session_date
    group by present.ticker

)

select
    instruments.ticker,
    present.first_session,
    present.last_session,
    coalesce(present.sessions_present, 0) as sessions_present,
    coalesce(expected.sessions_expected, 0) as sessions_expected,
    coalesce(expected.sessions_expected, 0) - coalesce(present.sessions_present, 0) as sessions_missing,
    case
        when expected.sessions_expected > 0
            then round(cast(100.0 * present.sessions_present / expected.sessions_expected as numeric), 2)
    end as coverage_pct
from instruments
left join present on instruments.ticker = present.ticker
left join expected on instruments.ticker = expected.ticker
