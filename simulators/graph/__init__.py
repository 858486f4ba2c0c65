"""Local stand-in for Microsoft Graph v1.0 (Exchange Online subset) used by tests and the sandbox."""
