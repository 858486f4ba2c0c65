"""A stand-in for the Azure Functions host (queue and timer triggers) and the chaos test that runs the
Functions pipeline in worker processes killed at random: `python -m tests.hostsim --help`."""
