"""The administrator's console in the browser (issue 16, docs/console.md).

Server-rendered pages over the same operations as the command line (status_report.py, cli_ops.py,
held_deletions.py, doctor/), served by the Function app behind App Service authentication (azure.py) or
locally on 127.0.0.1 with a one-time token (local.py). Neither HTTP stack is known to the pages: both hand
a `web.Request` to `routes.Console` and send back its `web.Response`."""
