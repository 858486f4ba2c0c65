"""The Graph stand-in driven by Microsoft's own SDK (msgraph-sdk request builders and models).

The product sends its requests with its own paths (sync_core/exchange, kinds, contacts, email_import,
notifications); each test here sends the same request the way msgraph-sdk builds it and checks that the
answer parses into the SDK's model types with the expected values. The SDK writes some requests
differently from the product: `.../delta()` instead of `.../delta`, `members/graph.user` instead of
`members/microsoft.graph.user`, `$select=mailboxSettings` on the user instead of `/mailboxSettings`. Graph
takes both forms, so the stand-in must too (docs/microsoft.md, "The Graph stand-in and Microsoft's SDK").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import serve

TOKEN = "sdk-token"
ALICE = "alice@contoso.com"
BOB = "bob@contoso.com"
GROUP = "3f1c6b7e-2a4d-4c4e-9c1a-5b0c1d2e3f40"
IMMUTABLE = 'IdType="ImmutableId"'
STAMP = "String {5d365e5c-1f0a-4c3b-9a53-0e7c5a1d2b44} Name D365SyncKey"
# The SDK types every model property as Optional; the tests check the values, so they see the client as Any.
Sdk = Any
# msgraph-sdk warns on import of its own generated per-request configuration classes.
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated.*:DeprecationWarning")


class StaticToken(AccessTokenProvider):
    """The stand-in's static bearer token, for the loopback host only (kiota's Azure provider refuses http)."""

    def __init__(self, host: str) -> None:
        self._hosts = AllowedHostsValidator([host])

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        return TOKEN if self._hosts.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


@pytest.fixture
def state() -> GraphState:
    graph = GraphState(TOKEN, page_size=3)
    graph.add_user(ALICE, "Alice Adams", time_zone="Pacific Standard Time")
    graph.add_user(BOB, "Bob Brown", time_zone="W. Europe Standard Time")
    graph.add_group(GROUP, [ALICE, BOB])
    return graph


@pytest.fixture
def base_url(state: GraphState) -> Iterator[str]:
    with serve(create_graph_app(state)) as server:
        yield server.url + "/v1.0"


@pytest.fixture
async def sdk(base_url: str) -> AsyncIterator[Sdk]:
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken("127.0.0.1")))
    adapter.base_url = base_url
    yield GraphServiceClient(request_adapter=adapter)
    await adapter._http_client.aclose()


def config(*, prefer: str | None = IMMUTABLE, query: Any = None) -> RequestConfiguration[Any]:
    conf: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    if prefer:
        conf.headers.add("Prefer", prefer)
    return conf


def stamp_expand(key: str = STAMP) -> str:
    return f"singleValueExtendedProperties($filter=id eq '{key}')"


def stamp_filter(value: str) -> str:
    return f"singleValueExtendedProperties/any(ep: ep/id eq '{STAMP}' and ep/value eq '{value}')"


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- users, groups, mailbox settings, categories (exchange/client.py) -------------------------------------


async def test_user_with_select_as_the_planner_reads_it(sdk: Sdk) -> None:
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "mail", "userPrincipalName", "displayName"]
    )
    user = await sdk.users.by_user_id(ALICE).get(config(query=query))
    assert user is not None
    assert (user.mail, user.user_principal_name, user.display_name) == (ALICE, ALICE, "Alice Adams")
    assert user.id and user.given_name is None  # not selected, not sent


async def test_user_with_select_mailbox_settings(sdk: Sdk) -> None:
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=["id", "mailboxSettings"])
    user = await sdk.users.by_user_id(BOB).get(config(query=query))
    assert user is not None and user.mailbox_settings is not None
    assert user.mailbox_settings.time_zone == "W. Europe Standard Time"
    assert user.mailbox_settings.working_hours.time_zone.name == "W. Europe Standard Time"


async def test_mailbox_settings(sdk: Sdk) -> None:
    settings = await sdk.users.by_user_id(ALICE).mailbox_settings.get()
    assert settings is not None and settings.time_zone == "Pacific Standard Time"


async def test_unknown_user_is_a_404_api_error(sdk: Sdk) -> None:
    with pytest.raises(APIError) as caught:
        await sdk.users.by_user_id("nobody@contoso.com").get()
    assert caught.value.response_status_code == 404


@pytest.mark.parametrize("transitive", [False, True])
async def test_group_members_cast_to_users(sdk: Sdk, transitive: bool) -> None:
    from msgraph.generated.groups.item.members.graph_user.graph_user_request_builder import (
        GraphUserRequestBuilder,
    )

    group = sdk.groups.by_group_id(GROUP)
    builder = group.transitive_members.graph_user if transitive else group.members.graph_user
    query = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
        select=["id", "mail", "userPrincipalName"], top=1
    )
    page = await builder.get(config(query=query))
    mails = []
    while page is not None:
        mails += [user.mail for user in page.value]
        page = await builder.with_url(page.odata_next_link).get() if page.odata_next_link else None
    assert mails == [ALICE, BOB]


@pytest.mark.parametrize("transitive", [False, True])
async def test_group_members_without_cast(sdk: Sdk, transitive: bool) -> None:
    from msgraph.generated.models.user import User

    group = sdk.groups.by_group_id(GROUP)
    page = await (group.transitive_members if transitive else group.members).get()
    assert page is not None
    assert [type(m) for m in page.value] == [User, User]  # "@odata.type" tells the SDK which model
    assert sorted(m.mail for m in page.value) == [ALICE, BOB]


async def test_master_categories(sdk: Sdk) -> None:
    from msgraph.generated.models.category_color import CategoryColor
    from msgraph.generated.models.outlook_category import OutlookCategory

    categories = sdk.users.by_user_id(ALICE).outlook.master_categories
    made = await categories.post(OutlookCategory(display_name="D365", color=CategoryColor.Preset4))
    assert made is not None and made.color == CategoryColor.Preset4
    listed = await categories.get()
    assert listed is not None and (made.id, "D365") in [(c.id, c.display_name) for c in listed.value]
    with pytest.raises(APIError) as caught:
        await categories.post(OutlookCategory(display_name="d365", color=CategoryColor.Preset1))
    assert caught.value.response_status_code == 409


# ---- events (exchange/client.py, kinds/appointment_match.py, kinds/inventory.py) --------------------------

WINDOW = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))


def new_event(subject: str, day: int, key: str | None = None) -> Any:
    from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
    from msgraph.generated.models.event import Event
    from msgraph.generated.models.single_value_legacy_extended_property import (
        SingleValueLegacyExtendedProperty,
    )

    stamps = [SingleValueLegacyExtendedProperty(id=STAMP, value=key)] if key else None
    return Event(
        subject=subject,
        start=DateTimeTimeZone(date_time=f"2024-06-{day:02d}T09:00:00", time_zone="UTC"),
        end=DateTimeTimeZone(date_time=f"2024-06-{day:02d}T10:00:00", time_zone="UTC"),
        transaction_id=f"tx-{subject}",
        single_value_extended_properties=stamps,
    )


async def test_event_create_read_update_delete(sdk: Sdk) -> None:
    from msgraph.generated.models.event import Event
    from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder

    events = sdk.users.by_user_id(ALICE).events
    made = await events.post(new_event("Review", 3, key="DAT|5637144576"), config())
    assert isinstance(made, Event) and made.id and made.transaction_id == "tx-Review"
    again = await events.post(new_event("Review", 3, key="DAT|5637144576"), config())
    assert again is not None and again.id == made.id  # the transactionId guard: no second event

    query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(expand=[stamp_expand()])
    read = await events.by_event_id(made.id).get(config(query=query))
    assert read is not None and read.subject == "Review"
    assert [(p.id, p.value) for p in read.single_value_extended_properties] == [(STAMP, "DAT|5637144576")]
    assert read.start.date_time.startswith("2024-06-03T09:00:00") and read.start.time_zone == "UTC"

    etag = read.additional_data["@odata.etag"]
    patch = Event(subject="Review 2")
    stale = config()
    stale.headers.add("If-Match", 'W/"stale"')
    with pytest.raises(APIError) as caught:
        await events.by_event_id(made.id).patch(patch, stale)
    assert caught.value.response_status_code == 412
    conditional = config()
    conditional.headers.add("If-Match", etag)
    updated = await events.by_event_id(made.id).patch(patch, conditional)
    assert updated is not None and updated.subject == "Review 2" and updated.change_key != read.change_key

    await events.by_event_id(made.id).delete()
    with pytest.raises(APIError) as caught:
        await events.by_event_id(made.id).get()
    assert caught.value.response_status_code == 404


async def test_events_found_by_stamp(sdk: Sdk) -> None:
    from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder

    events = sdk.users.by_user_id(ALICE).events
    await events.post(new_event("One", 3, key="DAT|1"), config())
    two = await events.post(new_event("Two", 4, key="DAT|2"), config())
    query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
        filter=stamp_filter("DAT|2"), expand=[stamp_expand()]
    )
    found = await events.get(config(query=query))
    assert found is not None and [e.id for e in found.value] == [two.id]
    assert found.value[0].single_value_extended_properties[0].value == "DAT|2"


async def test_calendar_view_with_select_top_and_expand(sdk: Sdk) -> None:
    from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
        CalendarViewRequestBuilder,
    )

    for day in (3, 4, 5, 6):
        await sdk.users.by_user_id(ALICE).events.post(new_event(f"E{day}", day, key=f"DAT|{day}"), config())
    view = sdk.users.by_user_id(ALICE).calendar_view
    start, end = (graph_time(moment) for moment in WINDOW)
    query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time=start,
        end_date_time=end,
        select=["id", "changeKey", "categories", "type", "seriesMasterId"],
        top=3,
    )
    page = await view.get(config(query=query))
    listed = []
    while page is not None:
        listed += page.value
        page = await view.with_url(page.odata_next_link).get(config()) if page.odata_next_link else None
    assert len(listed) == 4 and all(e.change_key and e.subject is None for e in listed)

    one_day = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time="2024-06-04T09:00:00Z", end_date_time="2024-06-04T09:01:00Z", expand=[stamp_expand()]
    )
    found = await view.get(config(query=one_day))
    assert found is not None and [e.subject for e in found.value] == ["E4"]
    assert found.value[0].single_value_extended_properties[0].value == "DAT|4"


async def test_calendar_view_delta_rounds(sdk: Sdk) -> None:
    from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

    events = sdk.users.by_user_id(ALICE).events
    first = await events.post(new_event("First", 3), config())
    delta = sdk.users.by_user_id(ALICE).calendar_view.delta
    start, end = (graph_time(moment) for moment in WINDOW)
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time=start, end_date_time=end
    )
    seen, delta_link = await _delta_round(delta, await delta.get(config(query=query, prefer=PAGED)))
    assert [e.id for e in seen] == [first.id]

    second = await events.post(new_event("Second", 4), config())
    await events.by_event_id(first.id).delete()
    seen, _ = await _delta_round(delta, await delta.with_url(delta_link).get(config(prefer=PAGED)))
    assert {e.id: e.subject for e in seen} == {second.id: "Second", first.id: None}
    removed = next(e for e in seen if e.id == first.id)
    assert removed.additional_data["@removed"] == {"reason": "deleted"}


async def test_series_instances_in_the_window(sdk: Sdk) -> None:
    from msgraph.generated.models.day_of_week import DayOfWeek
    from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
    from msgraph.generated.models.recurrence_pattern import RecurrencePattern
    from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
    from msgraph.generated.models.recurrence_range import RecurrenceRange
    from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
    from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
        InstancesRequestBuilder,
    )

    series = new_event("Weekly", 3)  # a Monday
    series.recurrence = PatternedRecurrence(
        pattern=RecurrencePattern(
            type=RecurrencePatternType.Weekly, interval=1, days_of_week=[DayOfWeek.Monday]
        ),
        range=RecurrenceRange(
            type=RecurrenceRangeType.Numbered, start_date=datetime(2024, 6, 3).date(), number_of_occurrences=6
        ),
    )
    events = sdk.users.by_user_id(ALICE).events
    master = await events.post(series, config())
    assert master.type.value == "seriesMaster"
    query = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
        start_date_time=graph_time(WINDOW[0]), end_date_time=graph_time(WINDOW[1]), top=2
    )
    instances = events.by_event_id(master.id).instances
    page, found = await instances.get(config(query=query)), []
    while page is not None:
        found += page.value
        page = await instances.with_url(page.odata_next_link).get(config()) if page.odata_next_link else None
    assert [e.start.date_time[:10] for e in found] == ["2024-06-03", "2024-06-10", "2024-06-17", "2024-06-24"]
    assert {(e.type.value, e.series_master_id) for e in found} == {("occurrence", master.id)}


PAGED = f"{IMMUTABLE}, odata.maxpagesize=2"


async def _delta_round(builder: Any, page: Any) -> tuple[list[Any], str]:
    """Every item of one delta round (nextLinks followed) and the round's deltaLink."""
    items: list[Any] = []
    while page.odata_next_link:
        items += page.value
        page = await builder.with_url(page.odata_next_link).get(config(prefer=PAGED))
    items += page.value
    unique = list({item.id: item for item in items}.values())  # a page may repeat the last one
    return unique, page.odata_delta_link


# ---- Microsoft To Do (kinds/task_todo.py, kinds/task.py, kinds/inventory.py) ------------------------------

APP = "Dynamics 365 Finance and Operations"


def linked(key: str) -> Any:
    from msgraph.generated.models.linked_resource import LinkedResource

    return LinkedResource(application_name=APP, external_id=key, display_name="Activity", web_url=None)


async def test_todo_lists_and_tasks(sdk: Sdk) -> None:
    from msgraph.generated.models.todo_task import TodoTask
    from msgraph.generated.models.todo_task_list import TodoTaskList
    from msgraph.generated.models.wellknown_list_name import WellknownListName
    from msgraph.generated.users.item.todo.lists.item.tasks.item.todo_task_item_request_builder import (
        TodoTaskItemRequestBuilder,
    )
    from msgraph.generated.users.item.todo.lists.item.tasks.tasks_request_builder import TasksRequestBuilder

    lists = sdk.users.by_user_id(ALICE).todo.lists
    made = await lists.post(TodoTaskList(display_name="D365"))
    listed = await lists.get()
    assert (made.id, WellknownListName.None_) in [(lst.id, lst.wellknown_list_name) for lst in listed.value]
    tasks = lists.by_todo_task_list_id(made.id).tasks

    task = await tasks.post(TodoTask(title="Call back", linked_resources=[linked("DAT|1")]))
    assert isinstance(task, TodoTask) and [r.external_id for r in task.linked_resources or []] == ["DAT|1"]
    expand = TodoTaskItemRequestBuilder.TodoTaskItemRequestBuilderGetQueryParameters(
        expand=["linkedResources"]
    )
    read = await tasks.by_todo_task_id(task.id).get(config(prefer=None, query=expand))
    assert read.title == "Call back" and read.linked_resources[0].application_name == APP

    resources = tasks.by_todo_task_id(task.id).linked_resources
    second = await resources.post(linked("DAT|2"))
    await resources.by_linked_resource_id(second.id).patch(linked("DAT|3"))
    assert [r.external_id for r in (await resources.get()).value] == ["DAT|1", "DAT|3"]
    third = await resources.post(linked("DAT|4"))
    await resources.by_linked_resource_id(third.id).delete()  # forget --clean-mailbox
    assert [r.external_id for r in (await resources.get()).value] == ["DAT|1", "DAT|3"]

    updated = await tasks.by_todo_task_id(task.id).patch(TodoTask(title="Call back soon"))
    assert updated.title == "Call back soon"

    for title in ("Two", "Three"):
        await tasks.post(TodoTask(title=title))
    query = TasksRequestBuilder.TasksRequestBuilderGetQueryParameters(expand=["linkedResources"], top=2)
    page, titles = await tasks.get(config(prefer=None, query=query)), []
    while page is not None:
        titles += [(t.title, len(t.linked_resources)) for t in page.value]
        page = await tasks.with_url(page.odata_next_link).get() if page.odata_next_link else None
    assert titles == [("Call back soon", 2), ("Two", 0), ("Three", 0)]

    select = TasksRequestBuilder.TasksRequestBuilderGetQueryParameters(
        select=["id", "categories", "status", "dueDateTime", "startDateTime"], top=50
    )
    slim = await tasks.get(config(prefer=None, query=select))
    assert len(slim.value) == 3 and all(t.title is None and t.status for t in slim.value)

    await tasks.by_todo_task_id(task.id).delete()
    with pytest.raises(APIError) as caught:
        await tasks.by_todo_task_id(task.id).get()
    assert caught.value.response_status_code == 404


async def test_todo_delta_with_expanded_linked_resources(sdk: Sdk) -> None:
    from msgraph.generated.models.todo_task import TodoTask
    from msgraph.generated.users.item.todo.lists.item.tasks.delta.delta_request_builder import (
        DeltaRequestBuilder,
    )

    lists = await sdk.users.by_user_id(ALICE).todo.lists.get()
    default = next(lst.id for lst in lists.value if lst.wellknown_list_name.value == "defaultList")
    tasks = sdk.users.by_user_id(ALICE).todo.lists.by_todo_task_list_id(default).tasks
    first = await tasks.post(TodoTask(title="First", linked_resources=[linked("DAT|1")]))
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(expand=["linkedResources"])
    seen, delta_link = await _delta_round(
        tasks.delta, await tasks.delta.get(config(query=query, prefer=PAGED))
    )
    assert [(t.id, [r.external_id for r in t.linked_resources]) for t in seen] == [(first.id, ["DAT|1"])]

    # The option given on the round's first request holds for the round's links (todotask-delta.md).
    second = await tasks.post(TodoTask(title="Second", linked_resources=[linked("DAT|2")]))
    await tasks.by_todo_task_id(first.id).delete()
    seen, _ = await _delta_round(
        tasks.delta, await tasks.delta.with_url(delta_link).get(config(prefer=PAGED))
    )
    rows = [(t.id, t.title, [r.external_id for r in t.linked_resources or []]) for t in seen]
    assert rows == [(second.id, "Second", ["DAT|2"]), (first.id, None, [])]
    assert seen[1].additional_data["@removed"] == {"reason": "deleted"}


# ---- contacts (contacts/graph.py, kinds/contact.py, kinds/inventory.py) -----------------------------------


def new_contact(given: str, surname: str, key: str | None = None, **extra: Any) -> Any:
    from msgraph.generated.models.contact import Contact
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.models.single_value_legacy_extended_property import (
        SingleValueLegacyExtendedProperty,
    )

    stamps = [SingleValueLegacyExtendedProperty(id=STAMP, value=key)] if key else None
    mail = EmailAddress(address=f"{given.lower()}@fabrikam.com", name=f"{given} {surname}")
    return Contact(
        given_name=given,
        surname=surname,
        display_name=f"{given} {surname}",
        email_addresses=[mail],
        single_value_extended_properties=stamps,
        **extra,
    )


async def _contact_folder(sdk: Sdk, name: str = "Dynamics 365") -> str:
    from msgraph.generated.models.contact_folder import ContactFolder
    from msgraph.generated.users.item.contact_folders.contact_folders_request_builder import (
        ContactFoldersRequestBuilder,
    )

    folders = sdk.users.by_user_id(ALICE).contact_folders
    made = await folders.post(ContactFolder(display_name=name), config())
    query = ContactFoldersRequestBuilder.ContactFoldersRequestBuilderGetQueryParameters(
        filter=f"displayName eq '{name}'"
    )
    found = await folders.get(config(query=query))
    assert [(f.id, f.display_name) for f in found.value] == [(made.id, name)]
    return str(made.id)


async def test_contact_create_find_read_update_delete(sdk: Sdk) -> None:
    from msgraph.generated.models.contact import Contact
    from msgraph.generated.users.item.contact_folders.item.contacts.contacts_request_builder import (
        ContactsRequestBuilder,
    )
    from msgraph.generated.users.item.contacts.item.contact_item_request_builder import (
        ContactItemRequestBuilder,
    )

    folder_id = await _contact_folder(sdk)
    in_folder = sdk.users.by_user_id(ALICE).contact_folders.by_contact_folder_id(folder_id).contacts
    made = await in_folder.post(new_contact("Priya", "Patel", key="DAT|CP-1"), config())
    assert isinstance(made, Contact) and made.parent_folder_id == folder_id
    await in_folder.post(new_contact("Sam", "Lee", key="DAT|CP-2"), config())

    query = ContactsRequestBuilder.ContactsRequestBuilderGetQueryParameters(
        filter=stamp_filter("DAT|CP-1"), expand=[stamp_expand()]
    )
    found = await in_folder.get(config(query=query))
    assert [(c.id, c.single_value_extended_properties[0].value) for c in found.value] == [
        (made.id, "DAT|CP-1")
    ]

    contact = sdk.users.by_user_id(ALICE).contacts.by_contact_id(made.id)
    expand = ContactItemRequestBuilder.ContactItemRequestBuilderGetQueryParameters(expand=[stamp_expand()])
    read = await contact.get(config(query=expand))
    assert read.display_name == "Priya Patel" and read.email_addresses[0].address == "priya@fabrikam.com"

    conditional = config()
    conditional.headers.add("If-Match", read.additional_data["@odata.etag"])
    updated = await contact.patch(Contact(department="Purchasing", display_name="Priya Patel"), conditional)
    assert updated.department == "Purchasing" and updated.change_key != read.change_key
    stale = config()
    stale.headers.add("If-Match", read.additional_data["@odata.etag"])
    with pytest.raises(APIError) as caught:
        await contact.patch(Contact(department="Sales"), stale)
    assert caught.value.response_status_code == 412

    await contact.delete()
    with pytest.raises(APIError) as caught:
        await contact.get()
    assert caught.value.response_status_code == 404


async def test_contact_display_name_follows_the_name_unless_sent(sdk: Sdk) -> None:
    """contact-update.md: left-out properties may "be recalculated based on changes to other property
    values"; displayName is kept only when the update sends it."""
    from msgraph.generated.models.contact import Contact

    folder_id = await _contact_folder(sdk)
    in_folder = sdk.users.by_user_id(ALICE).contact_folders.by_contact_folder_id(folder_id).contacts
    made = await in_folder.post(Contact(given_name="Pavel", surname="Bansky"), config())
    assert made.display_name == "Pavel Bansky"  # generated on create
    contact = sdk.users.by_user_id(ALICE).contacts.by_contact_id(made.id)
    kept = await contact.patch(Contact(given_name="Paul", display_name="Pavel B."), config())
    assert kept.display_name == "Pavel B."
    regenerated = await contact.patch(Contact(surname="Banks"), config())
    assert (regenerated.given_name, regenerated.display_name) == ("Paul", "Paul Banks")
    other = await contact.patch(Contact(display_name="Paul (work)"), config())
    unchanged = await contact.patch(Contact(department="Sales"), config())
    assert other.display_name == unchanged.display_name == "Paul (work)"


async def test_contact_listings_of_the_reconciliation(sdk: Sdk) -> None:
    from msgraph.generated.users.item.contact_folders.item.contacts.contacts_request_builder import (
        ContactsRequestBuilder as FolderContacts,
    )
    from msgraph.generated.users.item.contacts.contacts_request_builder import ContactsRequestBuilder

    folder_id = await _contact_folder(sdk)
    in_folder = sdk.users.by_user_id(ALICE).contact_folders.by_contact_folder_id(folder_id).contacts
    for given in ("Ann", "Ben", "Cal"):
        await in_folder.post(new_contact(given, "Doe"), config())
    default = sdk.users.by_user_id(ALICE).contacts
    marked = await default.post(new_contact("Dee", "Marked", categories=["D365 Sync"]), config())
    await default.post(new_contact("Eve", "Unmarked"), config())

    select = ["id", "changeKey", "categories"]
    query = FolderContacts.ContactsRequestBuilderGetQueryParameters(select=select, top=2)
    page, listed = await in_folder.get(config(query=query)), []
    while page is not None:
        listed += page.value
        page = await in_folder.with_url(page.odata_next_link).get(config()) if page.odata_next_link else None
    assert len(listed) == 3 and all(c.change_key and c.given_name is None for c in listed)

    by_category = ContactsRequestBuilder.ContactsRequestBuilderGetQueryParameters(
        filter="categories/any(c:c eq 'D365 Sync')", select=select, top=100
    )
    found = await default.get(config(query=by_category))
    assert [(c.id, c.categories) for c in found.value] == [(marked.id, ["D365 Sync"])]


async def test_contact_folder_delta_rounds(sdk: Sdk) -> None:
    folder_id = await _contact_folder(sdk)
    in_folder = sdk.users.by_user_id(ALICE).contact_folders.by_contact_folder_id(folder_id).contacts
    first = await in_folder.post(new_contact("Ann", "Doe"), config())
    seen, delta_link = await _delta_round(in_folder.delta, await in_folder.delta.get(config(prefer=PAGED)))
    assert [(c.id, c.given_name) for c in seen] == [(first.id, "Ann")]

    second = await in_folder.post(new_contact("Ben", "Doe"), config())
    await sdk.users.by_user_id(ALICE).contacts.by_contact_id(first.id).delete()
    page = await in_folder.delta.with_url(delta_link).get(config(prefer=PAGED))
    seen, _ = await _delta_round(in_folder.delta, page)
    assert {c.id: c.given_name for c in seen} == {second.id: "Ben", first.id: None}
    removed = next(c for c in seen if c.id == first.id)
    assert "@removed" in removed.additional_data


# ---- mail (email_import/graph.py) -------------------------------------------------------------------------


def add_mail(state: GraphState, subject: str, categories: list[str], folder: str = "inbox") -> str:
    message = {
        "subject": subject,
        "body": {"contentType": "text", "content": "Hello"},
        "from": {"emailAddress": {"address": "ann@fabrikam.com", "name": "Ann"}},
        "toRecipients": [{"emailAddress": {"address": ALICE, "name": "Alice"}}],
        "categories": categories,
    }
    return str(state.add_message(ALICE, message, folder=folder)["id"])


async def test_marked_messages_read_and_stamped(sdk: Sdk, state: GraphState) -> None:
    from msgraph.generated.models.message import Message
    from msgraph.generated.models.single_value_legacy_extended_property import (
        SingleValueLegacyExtendedProperty,
    )
    from msgraph.generated.users.item.messages.item.message_item_request_builder import (
        MessageItemRequestBuilder,
    )
    from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder

    marked = add_mail(state, "Order 42", ["Import to D365"], folder="archive")
    add_mail(state, "Lunch", [])
    messages = sdk.users.by_user_id(ALICE).messages
    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
        filter="categories/any(c:c eq 'Import to D365')",
        select=["id", "internetMessageId", "categories"],
        top=100,
    )
    found = await messages.get(config(query=query))
    assert [(m.id, m.categories, m.subject) for m in found.value] == [(marked, ["Import to D365"], None)]

    message = messages.by_message_id(marked)
    read_query = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(
        select=[
            "id",
            "internetMessageId",
            "subject",
            "body",
            "from",
            "toRecipients",
            "categories",
            "changeKey",
        ],
        expand=[stamp_expand()],
    )
    read = await message.get(
        config(prefer=f'{IMMUTABLE}, outlook.body-content-type="html"', query=read_query)
    )
    assert read.subject == "Order 42" and read.body.content_type.value == "html"
    assert read.from_.email_address.address == "ann@fabrikam.com" and read.internet_message_id

    stamp = SingleValueLegacyExtendedProperty(id=STAMP, value="DAT|5637144577")
    await message.patch(Message(categories=["Imported to D365"], single_value_extended_properties=[stamp]))
    again = await message.get(config(query=read_query))
    assert again.categories == ["Imported to D365"]
    assert [(p.id, p.value) for p in again.single_value_extended_properties] == [(STAMP, "DAT|5637144577")]


async def test_mail_folder_delta(sdk: Sdk, state: GraphState) -> None:
    first = add_mail(state, "First", [])
    delta = sdk.users.by_user_id(ALICE).mail_folders.by_mail_folder_id("inbox").messages.delta
    seen, delta_link = await _delta_round(delta, await delta.get(config(prefer=PAGED)))
    assert [m.id for m in seen] == [first]
    second = add_mail(state, "Second", [])
    seen, _ = await _delta_round(delta, await delta.with_url(delta_link).get(config(prefer=PAGED)))
    assert [(m.id, m.subject) for m in seen] == [(second, "Second")]


# ---- subscriptions (notifications/subscriptions.py) -------------------------------------------------------


@pytest.fixture
def hook() -> Iterator[str]:
    """A notification endpoint that passes Graph's validation handshake."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        return PlainTextResponse(token) if token is not None else Response(status_code=202)

    with serve(Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])) as server:
        yield server.url + "/hook"


async def test_subscription_create_renew_delete(sdk: Sdk, state: GraphState, hook: str) -> None:
    from msgraph.generated.models.subscription import Subscription

    user = state.find_mailbox(ALICE)
    assert user is not None
    expires = state.clock().astimezone(UTC) + timedelta(days=2)
    body = Subscription(
        change_type="created,updated,deleted",
        notification_url=hook,
        lifecycle_notification_url=hook,
        resource=f"/users/{user.user.id}/events",
        expiration_date_time=expires,
        client_state="our-secret-state",
        latest_supported_tls_version="v1_2",
    )
    made = await sdk.subscriptions.post(body)
    assert isinstance(made, Subscription) and made.id and made.client_state == "our-secret-state"
    assert made.expiration_date_time == expires

    later = expires + timedelta(days=1)
    renewed = await sdk.subscriptions.by_subscription_id(made.id).patch(
        Subscription(expiration_date_time=later)
    )
    assert renewed.expiration_date_time == later
    listed = await sdk.subscriptions.get()
    assert [s.id for s in listed.value] == [made.id]

    await sdk.subscriptions.by_subscription_id(made.id).delete()
    with pytest.raises(APIError) as caught:
        await sdk.subscriptions.by_subscription_id(made.id).get()
    assert caught.value.response_status_code == 404


async def test_an_empty_contact_folder_is_deleted(sdk: Sdk) -> None:
    """forget --clean-mailbox: DELETE /users/{id}/contactFolders/{id} (contactfolder-delete.md)."""
    folder_id = await _contact_folder(sdk, "To go")
    folders = sdk.users.by_user_id(ALICE).contact_folders
    await folders.by_contact_folder_id(folder_id).delete(config())
    assert "To go" not in [f.display_name for f in (await folders.get(config())).value]
