"""`python -m sync_core doctor`: online checks of the installation, each with a verdict and a next step."""
