"""The `roost` admin CLI: one module per command group, all sharing `context.CliState`."""
