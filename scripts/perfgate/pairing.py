"""Side by side: each virtual user works against every side with a user of its own.

The user Locust spawns (the driver) chooses what happens: which task runs
next (weights, tags, a SequentialTaskSet's order, a MarkovTaskSet's
transitions, `interrupt()`), and how long to wait between tasks. Each side
has its own user object, made by the user's class with `host` set to that
side's URL, so `__init__`, `on_start` and `on_stop` (of the user and of every
TaskSet, nested ones too), the client's cookies, headers and auth, and every
attribute a task stores (a token, a cart id) belong to one side and never
reach the other. A task runs once per side, in a random order per task, and
the think time comes after both.

Entries are labelled with the side (`[baseline] GET /items`). An absolute URL
that points at the service under test goes to the side being measured; one
that points elsewhere is sent as written, its entry is not labelled (not
compared), and its host is counted for the summary.

A user whose client cannot be pointed at a host (no HttpUser or
FastHttpUser, no `perfgate_client(url)` method), or whose class runs its own
`run()`, is run against `--host` alone, and named with the reason.
"""

import logging
import random
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import gevent
from gevent import GreenletExit
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser
from locust.user.task import DefaultTaskSet, TaskSet
from locust.user.users import LOCUST_STATE_STOPPING, HttpUser, User

logger = logging.getLogger(__name__)

SIDES = "_perfgate_sides"  # on a driver user or TaskSet: label -> that side's object
DRIVER = "_perfgate_driver"  # on a side's user: the user Locust spawned
LABEL = "_perfgate_label"  # on a side's user: "[baseline] "
# What a task raises to steer Locust's loop: passed on once every side has run the task.
STEERING = (InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser)


@dataclass(frozen=True)
class Side:
    label: str  # "[baseline] ", the prefix of its entries
    url: str


def parse_targets(spec: str) -> list[Side]:
    """'baseline=URL,candidate=URL' -> the sides, in that order."""
    pairs = [item.split("=", 1) for item in spec.split(",") if item.strip()]
    return [Side(f"[{label.strip()}] ", url.strip().rstrip("/")) for label, url in pairs]


def unlabelled(name: str) -> bool:
    """Whether an entry name carries no side's label yet."""
    return not (name.startswith("[") and "] " in name)


def unpairable_reason(cls: type) -> str | None:
    """Why users of `cls` cannot be run side by side, or None when they can."""
    if cls.run is not User.run:
        return "its class runs its own run(), so its tasks cannot be repeated per side"
    if issubclass(cls, HttpUser | FastHttpUser) or callable(getattr(cls, "perfgate_client", None)):
        return None
    return (
        "its client cannot be pointed at another host: give the class a perfgate_client(url) method "
        "that returns a client for that URL"
    )


# -- what a side's client records ----------------------------------------------------

_side_of_greenlet: dict = {}  # greenlet -> the label of the side it works for now


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SideHook:
    """The request event of one side's HTTP client: the side's label on every
    entry it sends to the side, none on requests to other hosts (which are
    counted as not compared)."""

    def __init__(self, hook, label: str, url: str, not_compared: Callable[[str], None]):
        self._hook, self._label, self._origin, self._not_compared = hook, label, _origin(url), not_compared

    def fire(self, *, reverse: bool = False, **kw):
        url, name = kw.get("url"), kw.get("name")
        if isinstance(url, str) and "://" in url and _origin(url) != self._origin:
            self._not_compared(_origin(url))
            current = gevent.getcurrent()
            side = _side_of_greenlet.pop(current, None)  # not labelled by the task's side either
            try:
                return self._hook.fire(reverse=reverse, **kw)
            finally:
                if side is not None:
                    _side_of_greenlet[current] = side
        if isinstance(name, str) and unlabelled(name):
            kw["name"] = self._label + name
        return self._hook.fire(reverse=reverse, **kw)

    def __getattr__(self, attr: str):
        return getattr(self._hook, attr)


def _point_client(client, side: Side, service: set[str], not_compared: Callable[[str], None]) -> None:
    """An HttpSession or FastHttpSession made for `side`: labelled entries, and
    absolute URLs that name the service sent to the side instead."""
    client.request_event = SideHook(client.request_event, side.label, side.url, not_compared)
    build = client._build_url

    def build_url(path):
        if isinstance(path, str):
            for prefix in service:
                if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/", "?", "#"):
                    return build(side.url + path[len(prefix) :])
        return build(path)

    client._build_url = build_url


# -- users and TaskSets per side -------------------------------------------------------


def current_label() -> str:
    """The side the current greenlet works for ('' outside side-by-side work)."""
    return _side_of_greenlet.get(gevent.getcurrent(), "")


def _state_get(self):
    driver = self.__dict__.get(DRIVER)
    return driver._state if driver is not None else self.__dict__.get("_state")


def _state_set(self, value) -> None:
    driver = self.__dict__.get(DRIVER)
    if driver is not None:
        driver._state = value
    else:
        self.__dict__["_state"] = value


def _side_user(driver: User, side: Side, service: set[str], not_compared: Callable[[str], None]) -> User:
    """A user of the driver's class for one side, made as Locust makes users,
    with `host` set to the side's URL before `__init__` reads it."""
    cls = type(driver)
    user = cls.__new__(cls)
    user.host = side.url
    cls.__init__(user, driver.environment)
    if isinstance(user, HttpUser | FastHttpUser):
        _point_client(user.client, side, service, not_compared)
    else:
        user.client = user.perfgate_client(side.url)
    user.__dict__[LABEL] = side.label
    user.__dict__[DRIVER] = driver  # from here on, its run state is the driver's
    user._greenlet, user._group = driver.greenlet, driver.__dict__.get("_group")
    user._taskset_instance = DefaultTaskSet(user)
    return user


def attach(driver: User, sides: list[Side], not_compared: Callable[[str], None]) -> bool:
    """Gives `driver` one user per side and runs its on_start/on_stop on
    each; False for a user that cannot be paired (it runs as it is)."""
    if unpairable_reason(type(driver)) is not None:
        return False
    service = {h.rstrip("/") for h in (driver.host, driver.environment.host) if h}
    users = {side.label: _side_user(driver, side, service, not_compared) for side in sides}
    driver.__dict__[SIDES] = users
    _lifecycle_per_side(driver)
    return True


def _lifecycle_per_side(driver) -> None:
    """The driver's (user's or TaskSet's) on_start and on_stop run each side's instead."""
    driver.on_start = lambda: each_side(driver, lambda obj: obj.on_start())
    driver.on_stop = lambda: each_side(driver, lambda obj: obj.on_stop())


def attach_taskset(taskset: TaskSet) -> None:
    """A driver's TaskSet gets an instance per side, made by its own class
    under that side's parent, and runs its on_start/on_stop on each."""
    users = taskset.user.__dict__.get(SIDES)
    if users is None or SIDES in taskset.__dict__:
        return
    parent = taskset.parent
    if taskset is taskset.user._taskset_instance:
        sides = {label: user._taskset_instance for label, user in users.items()}
    else:
        parents = parent.__dict__[SIDES] if isinstance(parent, TaskSet) else users
        sides = {label: type(taskset)(parents[label]) for label in users}
    taskset.__dict__[SIDES] = sides
    _lifecycle_per_side(taskset)


def each_side(driver, work: Callable) -> None:
    """`work(side's object)` for every side, in a random order. What steers
    Locust (interrupt, reschedule, stop) is raised once all sides have run;
    an error on one side does not keep the other from running."""
    sides = list(driver.__dict__[SIDES].items())
    random.shuffle(sides)
    current = gevent.getcurrent()
    user = driver if isinstance(driver, User) else driver.user
    raised: list[BaseException] = []
    try:
        for label, obj in sides:
            if raised and isinstance(raised[0], StopUser):  # the user is stopping: no other side starts
                break
            _side_of_greenlet[current] = label
            try:
                work(obj)
            except GreenletExit:
                raise
            except BaseException as exc:  # noqa: BLE001 - passed on below, once every side has run
                raised.append(exc)
    finally:
        _side_of_greenlet.pop(current, None)
    if not raised:
        return
    steering = [exc for exc in raised if isinstance(exc, STEERING)]
    passed_on = steering[0] if steering else raised[0]
    for exc in raised:
        if exc is not passed_on and not isinstance(exc, STEERING):
            user.environment.events.user_error.fire(user_instance=driver, exception=exc, tb=exc.__traceback__)
            logger.error("%s\n%s", exc, "".join(traceback.format_exception(exc)))
    raise passed_on


def _bound_to(task, owner, obj):
    """A task bound to the driver (a MarkovTaskSet's next state) bound to `obj` instead."""
    if isinstance(task, types.MethodType) and task.__self__ is owner:
        return types.MethodType(task.__func__, obj)
    return task


def paired(execute: Callable) -> Callable:
    """A TaskSet's execute_task that runs each task once per side."""

    def execute_task(self, task):
        if SIDES not in self.__dict__ or (isinstance(task, type) and issubclass(task, TaskSet)):
            return execute(self, task)  # a nested TaskSet: its own tasks are paired when they run

        def run(side):
            if self.user._state == LOCUST_STATE_STOPPING:
                raise StopUser()  # the run is over: start no new task
            execute(side, _bound_to(task, self, side))

        each_side(self, run)

    execute_task._perfgate = True  # type: ignore[attr-defined]
    return execute_task


def label_events(environment) -> None:
    """Entries fired by a client of the user's own (`perfgate_client`) get the
    label of the side whose work fired them: such a client does not know the
    user it serves."""
    hook = environment.events.request
    if getattr(hook.fire, "_perfgate", False):
        return
    fire = hook.fire

    def labelled_fire(*, reverse=False, **kw):
        side, name = current_label(), kw.get("name")
        if side and isinstance(name, str) and unlabelled(name):
            kw["name"] = side + name
        return fire(reverse=reverse, **kw)

    labelled_fire._perfgate = True  # type: ignore[attr-defined]
    hook.fire = labelled_fire


def install(sides_of: Callable[[User], list[Side]], not_compared: Callable[[str], None]) -> None:
    """Patches Locust's User and TaskSet once: a user whose environment has
    sides (`sides_of`) gets a user per side when it starts running."""
    if getattr(User.run, "_perfgate", False):
        return
    user_run, taskset_run = User.run, TaskSet.run

    def run_user(self):
        sides = sides_of(self)
        if sides and DRIVER not in self.__dict__ and SIDES not in self.__dict__ and attach(self, sides, not_compared):
            label_events(self.environment)  # entries a task fires itself carry its side too
        return user_run(self)

    def run_taskset(self):
        attach_taskset(self)
        return taskset_run(self)

    run_user._perfgate = True  # type: ignore[attr-defined]
    User.run, TaskSet.run = run_user, run_taskset
    User._state = property(_state_get, _state_set)  # a side's user shares the driver's run state
    for cls in (TaskSet, DefaultTaskSet):
        if not getattr(cls.execute_task, "_perfgate", False):
            cls.execute_task = paired(cls.execute_task)
