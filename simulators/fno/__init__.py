"""Local stand-in for the Dynamics 365 Finance & Operations OData endpoint (`/data`)."""
