{#-
    The whole market's gaps: every expected exchange session (int_sessions__expected: from the first day file to the
    newest, or to the last session whose file is due if later) that has no file (never published, withdrawn, not
    yet loaded, or a feed that stopped), and every day file whose date is not a session (a weekend).
-#}
with

files as (

    select * from {{ ref('int_files__current_versions') }}
    -- the day files of datasets on the exchange's calendar (crypto trades every day, forex Sunday to Friday)
    where dataset in (
            select dataset from {{ ref('stg_reference__datasets') }}
            where calendar = 'XNYS' and landing_table = 'day_aggs'
        )

),

sessions as (

    select * from {{ ref('stg_reference__sessions') }}

),

expected_sessions as (

    select * from {{ ref('int_sessions__expected') }}

),

sessions_without_file as (

    select
        expected_sessions.session_date,
        'no_file' as reason,
        cast(null as text) as source_key
    from expected_sessions
    where expected_sessions.session_date not in (select files.file_date from files)

),

files_off_session as (

    select
        files.file_date as session_date,
        'not_a_session' as reason,
        files.source_key
    from files
    where files.file_date not in (select sessions.session_date from sessions)

)

select * from sessions_without_file
union all
select * from files_off_session
