{#- One row per dbt invocation in the landing schema, written by the on-run-end hook: what ran, what failed, and
    the marts' state when it finished (rows, coverage, newest session, quarantine by reason). fct_build_runs
    reads it. The on-run-start hook creates the tables, so the models reading them build on a first run. -#}
{% macro build_log_schema() %}
    {{ return(env_var('TBP_LANDING_SCHEMA', 'landing')) }}
{% endmacro %}

{% macro create_build_log() %}
    {% set schema = build_log_schema() %}
    create schema if not exists {{ schema }};
    create table if not exists {{ schema }}.build_runs (
        invocation_id text primary key, command text not null, target_name text not null,
        started_at timestamp with time zone not null, finished_at timestamp with time zone not null,
        models_ok bigint not null, models_failed bigint not null, models_skipped bigint not null,
        tests_passed bigint not null, tests_warned bigint not null, tests_failed bigint not null,
        fact_rows bigint, tickers bigint, min_coverage_pct double precision, tickers_below_threshold bigint,
        newest_session date
    );
    create table if not exists {{ schema }}.build_quarantine (
        invocation_id text not null, quarantine_reason text not null, quarantined_rows bigint not null
    )
{% endmacro %}

{% macro _mart(name) %}
    {{ return(adapter.get_relation(database=target.database, schema=target.schema, identifier=name)) }}
{% endmacro %}

{% macro record_build(results) %}
    {% if not execute %}{{ return('') }}{% endif %}
    {% set n = namespace(models_ok=0, models_failed=0, models_skipped=0, passed=0, warned=0, failed=0) %}
    {% for result in results %}
        {% set kind, status = result.node.resource_type, result.status | string %}
        {% if kind in ('model', 'seed', 'snapshot') %}
            {% if status == 'success' %}{% set n.models_ok = n.models_ok + 1 %}
            {% elif status == 'skipped' %}{% set n.models_skipped = n.models_skipped + 1 %}
            {% else %}{% set n.models_failed = n.models_failed + 1 %}{% endif %}
        {% elif kind == 'test' %}
            {% if status == 'pass' %}{% set n.passed = n.passed + 1 %}
            {% elif status == 'warn' %}{% set n.warned = n.warned + 1 %}
            {% elif status != 'skipped' %}{% set n.failed = n.failed + 1 %}{% endif %}
        {% endif %}
    {% endfor %}
    {% set schema = build_log_schema() %}
    {% set facts, coverage, quarantine = _mart('fct_daily_bars'), _mart('fct_ticker_coverage'), _mart('fct_quarantined_bars') %}
    insert into {{ schema }}.build_runs
    select
        '{{ invocation_id }}', '{{ flags.WHICH }}', '{{ target.name }}',
        cast('{{ run_started_at.isoformat() }}' as timestamp with time zone), current_timestamp,
        {{ n.models_ok }}, {{ n.models_failed }}, {{ n.models_skipped }}, {{ n.passed }}, {{ n.warned }}, {{ n.failed }},
        {% if facts %}(select count(*) from {{ facts }}){% else %}null{% endif %},
        {% if coverage %}(select count(*) from {{ coverage }}){% else %}null{% endif %},
        {% if coverage %}(select min(coverage_pct) from {{ coverage }}){% else %}null{% endif %},
        {% if coverage %}(select count(*) from {{ coverage }} where coverage_pct < {{ var('min_coverage_pct') }})
        {%- else %}null{% endif %},
        {% if facts %}({{ _newest_session_of_every_dataset(facts, schema) }}){% else %}null{% endif %};
    {% if quarantine %}
    insert into {{ schema }}.build_quarantine
    select '{{ invocation_id }}', quarantine_reason, count(*) from {{ quarantine }} group by quarantine_reason
    {% endif %}
{% endmacro %}

{#-
    The newest trade_date every configured dataset has bars through: the oldest of their newest days, so that one
    dataset's bars (crypto's, every day) do not hide another's that stopped. Option contracts are left out: they
    trade on the days someone trades them, and expire. The extractor writes the datasets table before any build
    (asking the adapter whether it exists would leave the hook's insert in a transaction dbt rolls back).
-#}
{% macro _newest_session_of_every_dataset(facts, schema) %}
    select min(newest_trade_date)
    from (
        select max(trade_date) as newest_trade_date
        from {{ facts }}
        where dataset in (select dataset from {{ schema }}.datasets) and ticker not like 'O:%'
        group by dataset
    ) as by_dataset
{% endmacro %}

{#- Seconds from one timestamp to another, as a double. -#}
{% macro seconds_between(start, finish) %}
    {{ return(adapter.dispatch('seconds_between', 'tickerbars')(start, finish)) }}
{% endmacro %}

{% macro default__seconds_between(start, finish) %}
    extract(epoch from ({{ finish }} - {{ start }}))
{% endmacro %}

{% macro duckdb__seconds_between(start, finish) %}
    (epoch({{ finish }}) - epoch({{ start }}))
{% endmacro %}

{#- One column per quarantine reason (var quarantine_reasons): how many rows carry it (the sum of count_expression). -#}
{% macro quarantine_columns(reason_column, count_expression='1') %}
    {% for reason in var('quarantine_reasons') %}
        cast(sum(case when {{ reason_column }} = '{{ reason }}' then {{ count_expression }} else 0 end) as bigint)
            as quarantined_{{ reason }}{{ "," if not loop.last }}
    {% endfor %}
{% endmacro %}

{#- The columns quarantine_columns made, from a left-joined relation: 0 where it has no row. -#}
{% macro quarantine_columns_or_zero(relation_alias) %}
    {% for reason in var('quarantine_reasons') %}
        coalesce({{ relation_alias }}.quarantined_{{ reason }}, 0) as quarantined_{{ reason }}{{ "," if not loop.last }}
    {% endfor %}
{% endmacro %}
