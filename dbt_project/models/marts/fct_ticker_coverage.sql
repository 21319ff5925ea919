{#-
    Per active configured instrument: days with a bar against its dataset's calendar (NYSE sessions, every day for
    crypto, Sunday to Friday for forex) from its first bar to the dataset's last expected day
    (int_dataset_days__expected: the newest file, or the last day whose file is due if later), and for an option
    contract to its expiry at the latest. A day with no file at all counts as missing.
-#}
with

expected_days as (

    select * from {{ ref('int_dataset_days__expected') }}

),

-- bars on their calendar's days only: a file dated on a day off is listed in fct_missing_sessions, not counted here
bars as (

    select bars.*
    from {{ ref('fct_daily_bars') }} as bars
    inner join expected_days
        on bars.dataset = expected_days.dataset and bars.trade_date = expected_days.session_date

),

instruments as (

    select * from {{ ref('dim_instruments') }}
    where is_active

),

present as (

    select
        ticker,
        dataset,
        min(trade_date) as first_session,
        max(trade_date) as last_session,
        count(*) as sessions_present
    from bars
    group by ticker, dataset

),

option_contracts as (

    select * from {{ ref('dim_option_contracts') }}

),

expected as (

    select
        present.ticker,
        count(*) as sessions_expected
    from present
    inner join expected_days
        on present.dataset = expected_days.dataset and present.first_session <= expected_days.session_date
    left join option_contracts on present.ticker = option_contracts.ticker
    where expected_days.session_date <= coalesce(option_contracts.expiration_date, expected_days.session_date)
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
