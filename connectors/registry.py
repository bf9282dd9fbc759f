"""Finding a connector by what the command line was given: a built-in agency name (`police`), an
installed connector's entry-point name (group `justlink.connectors`), or a module path
(`my_package.module:MyConnector`, imported from the current directory too, like `python -m`).

An installed connector declares itself in its package's pyproject.toml:

    [project.entry-points."justlink.connectors"]
    township_mediation = "township_mediation.connector:TownshipMediationConnector"
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from connectors.sdk.connector import Connector
from runtime.topics import AGENCIES

ENTRY_POINT_GROUP = "justlink.connectors"

CONNECTORS = {
    "court": "connectors.court.connector:CourtConnector",
    "police": "connectors.police.connector:PoliceConnector",
    "civil_affairs": "connectors.civil_affairs.connector:CivilAffairsConnector",
    "justice": "connectors.justice.connector:JusticeConnector",
}


class ConnectorNotFound(ValueError):
    """The spec names no loadable connector; the message says what was tried and what exists."""


@dataclass(frozen=True)
class Listed:
    name: str
    target: str          # module:Class
    origin: str          # "built-in" or the distribution that installs it


def installed() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def available() -> list[Listed]:
    """The built-in connectors and every installed one."""
    found = [Listed(name, target, "built-in") for name, target in sorted(CONNECTORS.items())]
    for ep in installed():
        dist = ep.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else "installed"
        found.append(Listed(ep.name, ep.value, origin))
    return found


def failure(exc: BaseException) -> str:
    """An exception of the connector's own code, with where it happened: `SyntaxError: expected ':'
    (brk/connector.py, line 2)` — instead of a traceback."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _choices() -> str:
    names = [listed.name for listed in available()]
    return f"{', '.join(names)}, or a module path such as my_package.module:MyConnector"


def _load_path(target: str) -> object:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConnectorNotFound(f"{target!r} is not a module path; expected package.module:ClassName")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)   # like `python -m`: a package in the current directory is importable
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConnectorNotFound(f"module {module_name!r} fails to import: {failure(exc)}") from None
        raise ConnectorNotFound(f"cannot import module {module_name!r} ({type(exc).__name__}: {exc}); run from "
                                "the directory that holds the package, or install it") from None
    except Exception as exc:  # the connector's own module is broken (a syntax error while editing it, ...)
        raise ConnectorNotFound(f"module {module_name!r} fails to import: {failure(exc)}") from None
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConnectorNotFound(f"module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: object, spec: str) -> Connector:
    if isinstance(obj, type) and issubclass(obj, Connector):
        try:
            instance = obj()
        except Exception as exc:
            raise ConnectorNotFound(f"{spec!r} cannot be created: {failure(exc)}") from None
    elif isinstance(obj, Connector):
        instance = obj
    else:
        raise ConnectorNotFound(f"{spec!r} is not a Connector subclass (connectors.sdk.Connector)")
    agency = getattr(instance, "agency", None)
    if agency not in AGENCIES:
        raise ConnectorNotFound(f"{spec!r} declares agency {agency!r}; a connector publishes to one of the "
                                f"agencies' topics: {', '.join(AGENCIES)}")
    return instance


def resolve(spec: str) -> Connector:
    """The connector a command-line spec names (see the module doc)."""
    if spec in CONNECTORS:
        return _instantiate(_load_path(CONNECTORS[spec]), spec)
    if ":" in spec:
        return _instantiate(_load_path(spec), spec)
    for ep in installed():
        if ep.name == spec:
            try:
                obj = ep.load()
            except Exception as exc:  # an installed package that fails to import
                raise ConnectorNotFound(f"installed connector {spec!r} ({ep.value}) fails to load: "
                                        f"{failure(exc)}") from None
            return _instantiate(obj, spec)
    if "." in spec:   # a class named by its dotted path, as dead letters record it
        module, _, cls = spec.rpartition(".")
        return _instantiate(_load_path(f"{module}:{cls}"), spec)
    raise ConnectorNotFound(f"unknown connector {spec!r}; expected one of {_choices()}")


def get_connector(agency: str) -> Connector:
    """A built-in connector by agency name."""
    if agency not in CONNECTORS:
        raise ValueError(f"unknown agency {agency!r}; expected one of {', '.join(CONNECTORS)}")
    return resolve(agency)
