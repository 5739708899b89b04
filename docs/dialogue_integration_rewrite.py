"""Rewrite edge/pipeline.py (path in argv[1]) to route turns through the dialogue layer."""
import sys
from pathlib import Path

p = Path(sys.argv[1]); s = p.read_text()
def rep(old, new, count=1):
    global s
    if s.count(old) != count:
        sys.exit(f"anchor not found exactly {count}x: {old[:80]!r}")
    s = s.replace(old, new)

rep('''which route was taken and why (`route`, `route_rule`, `route_reason`).
''', '''which route was taken and why (`route`, `route_rule`, `route_reason`).

Before routing, the dialogue layer (edge/conversation) reads the turn against the session: an
answer to a question the speaker asked ("about 200 yuan"), a yes to an offer, "cancel", "no, make
it Friday", "and tomorrow?", or a skill's declared sentence is the dialogue's own (`route_rule`
"dialogue") and is never escalated. The trace's `dialogue` entry says how the turn was read and
whether the reply asked a question (`expects_follow_up`: listen again without the wake word).
''')
rep("from dataclasses import dataclass, field\n", "from dataclasses import dataclass, field\nfrom datetime import datetime\n")
rep("from edge.cascade import Cascade\n", "from edge.cascade import Cascade\nfrom edge.conversation import DialogueManager, Interpretation\n")
if "from edge.router import RouteDecision\n" in s:
    rep("from edge.router import RouteDecision\n", "from edge.router import RouteDecision, Router\n")
else:
    rep("from edge.settings import Settings\n", "from edge.router import RouteDecision, Router\nfrom edge.settings import Settings\n")
rep("from edge.skills import SkillRegistry, builtin_skills\nfrom edge.skills.base import SkillRequest\n",
    "from edge.skills import SkillRegistry\nfrom edge.skills.alerts import Alert\nfrom edge.skills.declared import SkillContext\n"
    "from edge.skills.loader import load_skills\n")
rep('''        return next((event for event in self.events if isinstance(event, Error)), None)
''', '''        return next((event for event in self.events if isinstance(event, Error)), None)

    @property
    def expects_follow_up(self) -> bool:
        """The reply asked a question: the live loop should listen again without the wake word."""
        return bool(self.trace.get("dialogue", {}).get("expects_follow_up"))
''')
rep('''        cascade: Cascade | None = None,
    ):''', '''        cascade: Cascade | None = None, dialogue: DialogueManager | None = None, skill_context: SkillContext | None = None,
    ):''')
rep('''        self.cascade = cascade or Cascade.load(settings, nlu.manifest, nlu.labels)
''', '''        self.cascade = cascade or Cascade.load(settings, nlu.manifest, nlu.labels)
        self.skill_context = skill_context  # the skills' clock, database and memory (for an AlertScheduler)
        self.dialogue = dialogue or DialogueManager(
            settings.dialogue, skills, skill_context.memory if skill_context else None,
            skill_context.clock if skill_context else (lambda: datetime.now().astimezone()),
            oos_label=nlu.manifest.oos_label,
        )
''')
rep('''        skills = SkillRegistry(builtin_skills(settings.skills, clock=clock))
        return cls(settings, asr, IntentModel.load(settings.nlu), skills, PiperTts(settings.tts))
''', '''        loaded = load_skills(settings, clock=clock)  # built-ins and entry points; skipped ones are logged
        return cls(settings, asr, IntentModel.load(settings.nlu), loaded.registry, PiperTts(settings.tts),
                   skill_context=loaded.context)
''')
rep('''    def run_audio(self, audio: RequestAudio) -> TurnResult:''', '''    def announce(self, alert: Alert) -> SpeechAudio:
        """The spoken alert of a timer, alarm or reminder that is due (see edge/skills/alerts.py)."""
        spoken = SpokenReply(self.tts)
        spoken.say(alert.text, from_markdown=False)
        return spoken.audio()

    def run_audio(self, audio: RequestAudio, session: str = "default") -> TurnResult:''')
rep('''            return self._understand_and_answer(Transcript(text="", audio_seconds=audio.seconds), clock)''',
    '''            return self._understand_and_answer(Transcript(text="", audio_seconds=audio.seconds), clock, session)''')
rep('''        clock.mark("asr_done")
        return self._understand_and_answer(transcript, clock)
''', '''        clock.mark("asr_done")
        return self._understand_and_answer(transcript, clock, session)
''')
rep('''    def run_text(self, text: str) -> TurnResult:
        clock = _TurnClock()
        clock.mark("asr_done")
        return self._understand_and_answer(Transcript(text=text), clock)

    def _understand_and_answer(self, transcript: Transcript, clock: _TurnClock) -> TurnResult:''',
    '''    def run_text(self, text: str, session: str = "default") -> TurnResult:
        clock = _TurnClock()
        clock.mark("asr_done")
        return self._understand_and_answer(Transcript(text=text), clock, session)

    def _understand_and_answer(self, transcript: Transcript, clock: _TurnClock, session: str = "default") -> TurnResult:''')
rep('''        meant = self.cascade.correction(transcript.text)
''', '''        # While the speaker waits for an answer, "no, I meant Friday" corrects a slot (the dialogue's business),
        # not the previous turn's intent.
        meant = None if self.dialogue.expects_follow_up(session) else self.cascade.correction(transcript.text)
''')
rep('''        decision = self.cascade.decide(intent)
''', '''        turn = self.dialogue.interpret(intent, request_text, session)
        decision = _dialogue_decision(turn, self.cascade.router) if turn.claimed else self.cascade.decide(intent)
''')
start = s.index("        skill_reply = self.skills.handle(\n")
end = s.index('        clock.mark("skill_done")\n', start)
call = "self.dialogue.respond(turn, out_of_scope=unsure)" if "unsure = " in s[:start] else "self.dialogue.respond(turn)"
s = s[:start] + f"        answer = {call}\n" + s[end:]
rep('''        clock.mark("skill_done")
        reply = Reply(text=skill_reply.text, route="local", skill=skill_reply.skill)
        card = Card(**skill_reply.card) if skill_reply.card else None
''', '''        clock.mark("skill_done")
        trace["dialogue"] = answer.trace()
        reply = Reply(text=answer.text, route="local", skill=answer.skill)
        card = Card(**answer.card) if answer.card else None
''')
rep('''        self.cascade.after_turn(request_text, intent, decision, reply)
''', '''        self.cascade.after_turn(request_text, turn.intent, decision, reply)
''')
rep('''def _intent_trace(''', '''def _dialogue_decision(turn: Interpretation, router: Router) -> RouteDecision:
    """A turn the dialogue layer answers itself stays on the device."""
    reason = f"dialogue: {turn.kind} ({turn.intent.intent}) in a conversation the speaker is leading"
    return RouteDecision(False, "dialogue", reason, router.threshold, router.threshold_source)


def _intent_trace(''')
p.write_text(s)
print("rewritten", p)
