{#-
    Settings for the session a model is built in (a pre-hook of every model; the session keeps them for the
    models and tests that reuse its connection).
    PostgreSQL: no JIT. Its cost estimates of the builds' correlated deletes run to millions (the models' tables have
    no statistics yet when they run), so PostgreSQL compiled them with LLVM first: 0.79 s of JIT for a 16 ms delete
    (fct_daily_bars' retired bars, 5 years of 12 tickers), on every everyday build.
-#}
{% macro session_settings() %}
    {{ return(adapter.dispatch('session_settings', 'tickerbars')()) }}
{% endmacro %}

{% macro default__session_settings() %}{% endmacro %}

{% macro postgres__session_settings() %}set jit = off{% endmacro %}
