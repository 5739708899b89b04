"""Load every installed skill: the built-ins and third-party skills registered as entry points.

    loaded = load_skills(settings)            # one shared database + memory, a registry with a timeout
    loaded.registry.handle(request)
    loaded.problems                           # skills that were skipped, each with file:line and a fix
    loaded.close()

A third-party skill is a package with an entry point in the `edge.skills` group pointing at a
`DeclaredSkill` subclass (or any callable taking a `SkillContext` and returning a `Skill`):

    [project.entry-points."edge.skills"]
    greeter = "edge_skill_greeter:GreeterSkill"

A skill that cannot be imported, whose YAML is invalid, or whose intents clash with another
skill's is skipped with a logged warning that names the file and line; the others keep working.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge.core.settings import Settings
from edge.core.stages import MediaPlayer
from edge.skills.base import Skill
from edge.skills.builtin.alarms import AlarmSkill
from edge.skills.builtin.calculator import CalculatorSkill
from edge.skills.builtin.clock import ClockSkill
from edge.skills.builtin.jokes import JokeSkill
from edge.skills.declared import DeclaredSkill, SkillContext, spec_of
from edge.skills.memory import Memory
from edge.skills.phrasing import Clock, resolve_timezone, system_clock
from edge.skills.registry import DuplicateIntentError, SkillRegistry
from edge.skills.spec import SkillSpec, SkillSpecError, load_skill_spec
from edge.skills.store import SkillStore

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "edge.skills"
SPECS = Path(__file__).resolve().parent / "builtin" / "specs"
# Declarations for the built-ins that predate YAML: their sentences feed matching and training data.
LEGACY_SPECS = {AlarmSkill: "alarms.yaml"}


@dataclass
class LoadedSkills:
    registry: SkillRegistry
    context: SkillContext
    problems: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # skill name -> "built-in" or "dist 1.0 (entry point)"

    def close(self) -> None:
        self.registry.close()  # closes the shared store last


def builtin_declared_classes() -> list[type[DeclaredSkill]]:
    from edge.skills.builtin.facts import FactsSkill
    from edge.skills.builtin.forecasts import CurrencySkill, WeatherSkill
    from edge.skills.builtin.home import SmartHomeSkill
    from edge.skills.builtin.hotels import HotelSkill
    from edge.skills.builtin.lists import ListsSkill
    from edge.skills.builtin.media import MediaSkill
    from edge.skills.builtin.reminders import ReminderSkill
    from edge.skills.builtin.units import UnitsSkill
    from edge.skills.builtin.volume import VolumeSkill

    return [HotelSkill, ListsSkill, ReminderSkill, FactsSkill, VolumeSkill, WeatherSkill, CurrencySkill,
            SmartHomeSkill, UnitsSkill, MediaSkill]


def load_skills(settings: Settings, clock: Clock | None = None, entry_points: bool | None = None,
                media: MediaPlayer | None = None) -> LoadedSkills:
    """Open the database, build every skill, and register the ones that load. `media`: the runtime's
    music player (edge/audio/player.py), handed to the skills in their context."""
    clock = clock or system_clock(resolve_timezone(settings.skills.timezone))
    store = SkillStore(settings.skills.database_path)
    context = SkillContext(settings, clock, store, Memory(store), media)
    registry = SkillRegistry(timeout_seconds=settings.skills.handler_timeout_seconds or None, resources=[store])
    loaded = LoadedSkills(registry, context)
    disabled = {name.strip() for name in settings.skills.disabled.split(",") if name.strip()}
    alarms = AlarmSkill(settings.skills, clock, store)
    alarms.spec = load_skill_spec(SPECS / LEGACY_SPECS[AlarmSkill])
    candidates: list[tuple[Callable[[], Skill], str]] = [
        (CalculatorSkill, "built-in"), (lambda: ClockSkill(settings.skills, clock), "built-in"), (lambda: alarms, "built-in"),
        (lambda: JokeSkill(context.memory), "built-in"),
    ]
    candidates += [(_bind(cls, context), "built-in") for cls in builtin_declared_classes()]
    if settings.skills.entry_points if entry_points is None else entry_points:
        candidates += [(_bind(target, context), origin) for target, origin in _entry_point_targets(loaded.problems)]
    for build, origin in candidates:
        _register(loaded, build, origin, disabled)
    return loaded


def _bind(target: Callable[[SkillContext], Skill], context: SkillContext) -> Callable[[], Skill]:
    return lambda: target(context)


def _register(loaded: LoadedSkills, build: Callable[[], Skill], origin: str, disabled: set[str]) -> None:
    try:
        skill = build()
    except SkillSpecError as error:
        _problem(loaded.problems, f"skipped a skill from {origin}: {error}")
        return
    except Exception as error:  # a third-party constructor may fail in any way
        logger.debug("skill construction failed", exc_info=True)
        _problem(loaded.problems, f"skipped a skill from {origin}: it failed to start: {type(error).__name__}: {error}")
        return
    if not isinstance(skill, Skill):
        _problem(loaded.problems, f"skipped {type(skill).__name__} from {origin}: it is not an edge.skills.Skill")
        return
    if skill.name in disabled:
        skill.close()
        return
    try:
        loaded.registry.register(skill)
    except DuplicateIntentError as error:
        skill.close()
        _problem(loaded.problems, f"skipped skill {skill.name!r} from {origin}: {error}")
        return
    loaded.origins[skill.name] = origin


def _problem(problems: list[str], message: str) -> None:
    logger.warning("%s", message)
    problems.append(message)


def _entry_point_targets(problems: list[str]) -> Iterator[tuple[Callable[[SkillContext], Skill], str]]:
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist
        origin = f"{dist.name} {dist.version} (entry point {entry.name!r})" if dist else f"entry point {entry.name!r}"
        try:
            target = entry.load()
        except Exception as error:  # any import-time failure of a third-party package
            _problem(problems, f"skipped {origin}: cannot import {entry.value}: {type(error).__name__}: {error}")
            continue
        yield target, origin


def installed_specs(entry_points: bool = True, problems: list[str] | None = None) -> list[SkillSpec]:
    """Every installed skill's declaration, without starting any skill (for training data)."""
    problems = [] if problems is None else problems
    specs = [load_skill_spec(SPECS / name) for name in LEGACY_SPECS.values()]
    targets: list[tuple[object, str]] = [(cls, "built-in") for cls in builtin_declared_classes()]
    if entry_points:
        targets += list(_entry_point_targets(problems))
    for target, origin in targets:
        if not (isinstance(target, type) and getattr(target, "spec_file", "")):
            _problem(problems, f"no intents collected from {origin}: it is not a DeclaredSkill with a spec_file")
            continue
        try:
            specs.append(spec_of(target))
        except SkillSpecError as error:
            _problem(problems, f"skipped a skill from {origin}: {error}")
    return specs
