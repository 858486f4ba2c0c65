"""F&O data events (docs/fno-events.md): each event about an `Activities` or `ContactPersons` row becomes the
work the F&O feed would queue for that row, within seconds. `event.py` reads and checks one message body (any
bytes may come); `receiver.py` turns it into queue messages. Framework-neutral: function_app.py's Service Bus
trigger and the tests hand the body to `sync_core.functions.on_fno_event`."""
