"""Azure Functions entry points (Python v2 programming model). Thin: all logic is in sync_core."""

import azure.functions as func

from sync_core import functions, telemetry

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
