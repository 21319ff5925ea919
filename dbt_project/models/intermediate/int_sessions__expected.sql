{#-
    The exchange sessions a day file is expected for: from the first day file to the later of the newest file and
    the last session whose file is due (landing.sessions.file_due, written by the last extract run). When the
    provider stops publishing, the sessions after its last file are expected all the same, and show as gaps.
-#}
{{ config(materialized='view') }}

with

sessions as (

    select * from {{ ref('stg_reference__sessions') }}

),

files as (

    select
        min(file_date) as first_file_date,
        max(file_date) as last_file_date
    from {{ ref('int_files__current_versions') }}
    -- the day files of datasets on the exchange's calendar (crypto trades every day, forex Sunday to Friday)
    where dataset in (
            select dataset from {{ ref('stg_reference__datasets') }}
            where calendar = 'XNYS' and landing_table = 'day_aggs'
        )

),

due as (

    select max(session_date) as last_due_session
    from sessions
    where is_file_due

),

expected_range as (

    select
        files.first_file_date,
        greatest(files.last_file_date, due.last_due_session) as last_expected_date
    from files
    cross join due

)

select sessions.session_date
from sessions
cross join expected_range
where sessions.session_date between expected_range.first_file_date and expected_range.last_expected_date
