"""Skills: what the speaker can do on its own, and the public API for third-party skills.

    from edge.skills.base import Skill, SkillReply, SkillRequest     # a skill in code
    from edge.skills.declared import DeclaredSkill, SkillContext      # a skill declared in YAML
    loaded = load_skills(settings)                                     # edge.skills.loader
    reply = loaded.registry.handle(request)                            # edge.skills.registry

    base.py, declared.py   the plugin API (what the example skill in examples/skills/tea uses)
    spec.py, templates.py, slots.py, matcher.py, examples.py
                           intents declared in YAML: sentences, slot types, training examples
    registry.py, loader.py the registry and how installed skills are found
    store.py, memory.py    the skills' SQLite database and remembered facts, lists, alerts
    phrasing.py, timeparse.py, quantities.py, providers.py
                           saying and reading times, units, weather and currency providers
    http.py                JSON over HTTP for providers: one deadline, a size cap, one error
    builtin/               the skills that ship with the speaker

This package imports only `edge.core`; third-party skills import only `edge.skills`.
"""
