"""The project's ground floor, which every stage stands on: its errors, paths and validated params, the
YAML schema they are read with, atomic files, deferred signals, and the command-line edge."""
