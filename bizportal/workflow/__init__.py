"""The permit-type language and the pure workflow engine.

Nothing here imports Flask, SQLAlchemy, Redis or RQ (a test enforces it): the
CLI, the web app, jobs and benchmarks all share this package.

- `spec`         typed, immutable models of the language (permit, form, agencies files)
- `yamlsource`   safe YAML reading with line/column for every value
- `expressions`  CEL conditions and fee formulas, type-checked against the form
- `routes`       the route compiled into a graph, and its analysis
- `validation`   all checks, reporting every problem as file:line:column
- `calendar`     Thai working days
- `state`        application state, events and effects (JSON round-trip)
- `engine`       `Workflow.decide(state, event, calendar) -> Decision`
"""
