{#- The version of each day file that counts: its newest load. A re-published file replaces the older copy. -#}
{{ config(materialized='view') }}

with

manifest as (

    select * from {{ ref('stg_polygon__load_manifest') }}

),

ranked_versions as (

    select
        source_key,
        source_etag,
        file_date,
        loaded_at,
        row_number() over (partition by source_key order by loaded_at desc, run_id desc) as version_rank
    from manifest

)

select
    source_key,
    source_etag,
    file_date,
    loaded_at
from ranked_versions
where version_rank = 1
