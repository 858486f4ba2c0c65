"""Azure Functions entry points (Python v2 programming model). Thin: all logic is in sync_core."""

import azure.functions as func

from sync_core import functions, telemetry
from sync_core import webhook as notifications
from sync_core.console import azure as console

# Traces and metrics to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
telemetry.configure_from_environment()

app = func.FunctionApp()


@app.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
async def plan_cycle(timer: func.TimerRequest) -> None:
    await functions.on_timer()


@app.queue_trigger(arg_name="message", queue_name="%SYNC_SCAN_QUEUE%", connection="AzureWebJobsStorage")
async def scan(message: func.QueueMessage) -> None:
    await functions.on_queue_message(message.get_body(), message.dequeue_count or 1)


@app.queue_trigger(arg_name="message", queue_name="%SYNC_ITEM_QUEUE%", connection="AzureWebJobsStorage")
async def sync_item(message: func.QueueMessage) -> None:
    await functions.on_queue_message(message.get_body(), message.dequeue_count or 1)


# F&O data events (docs/fno-events.md): F&O sends them to a Service Bus queue; the connection is identity-based
# (FnoEvents__fullyQualifiedNamespace) and the function is disabled while data events are off (infra/).
# Messages come in batches: their activities are read in one query per company.
@app.service_bus_queue_trigger(
    arg_name="messages", queue_name="fno-data-events", connection="FnoEvents", cardinality="many"
)
async def fno_data_events(messages: list[func.ServiceBusMessage]) -> None:
    counts = [m.delivery_count or 1 for m in messages]
    await functions.on_fno_events([m.get_body() for m in messages], max(counts, default=1))


# Graph change notifications (off unless SYNC_NOTIFICATION_URL is set). Anonymous because Graph sends no
# function key; each notification is checked against its clientState instead.
@app.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    return await notifications.on_notifications(req)


@app.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    return await notifications.on_lifecycle(req)


# The administrator's console (docs/console.md). Anonymous at the Functions level because App Service
# authentication (Entra ID, infra authsettingsV2) signs the administrator in before the request gets here;
# the function checks the principal it is handed and refuses without it.
@app.route(route="console/{*path}", methods=["GET", "POST", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
async def admin_console(req: func.HttpRequest) -> func.HttpResponse:
    return await console.on_request(req)
