{#- One row per dbt invocation, to chart: duration, models and tests that failed, the marts' rows and coverage,
    sessions behind, quarantine by reason when it finished. A view: the on-run-end hook writes the row after the
    models are built, and a view shows it at once. -#}
{{ config(materialized='view') }}

with

builds as (

    select * from {{ ref('stg_pipeline__build_runs') }}

),

sessions as (

    select * from {{ ref('stg_reference__calendar_days') }}
    where calendar = 'XNYS'

),

quarantine_by_build as (

    select
        invocation_id,
        cast(sum(quarantined_rows) as bigint) as quarantined_rows,
        {{ quarantine_columns('quarantine_reason', 'quarantined_rows') }}
    from {{ ref('stg_pipeline__build_quarantine') }}
    group by invocation_id

),

behind as (

    select
        builds.invocation_id,
        count(sessions.session_date) as sessions_behind
    from builds
    left join sessions
        on
            builds.newest_session < sessions.session_date
            and cast(builds.finished_at as date) > sessions.session_date
    group by builds.invocation_id

)

select
    builds.invocation_id,
    builds.command,
    builds.target_name,
    builds.started_at,
    builds.finished_at,
    {{ seconds_between('builds.started_at', 'builds.finished_at') }} as duration_seconds,
    builds.models_ok,
    builds.models_failed,
    builds.models_skipped,
    builds.tests_passed,
    builds.tests_warned,
    builds.tests_failed,
    builds.models_failed + builds.tests_failed as failures,
    builds.fact_rows,
    builds.tickers,
    builds.min_coverage_pct,
    builds.tickers_below_threshold,
    builds.newest_session,
    case when builds.newest_session is not null then behind.sessions_behind end as sessions_behind,
    coalesce(quarantine_by_build.quarantined_rows, 0) as quarantined_rows,
    {{ quarantine_columns_or_zero('quarantine_by_build') }}
from builds
inner join behind on builds.invocation_id = behind.invocation_id
left join quarantine_by_build on builds.invocation_id = quarantine_by_build.invocation_id
