"""The `distill` command; one class per subcommand, heavy imports inside `run()`.

distill data DATASET                 counts and validation report (clinc150, hwu64, snips,
                                     banking77, a Rhino context .yaml, a .csv/.jsonl file)
distill rhino CONTEXT.yaml --out DIR one command from a Rhino context to a checked bundle
distill train DATASET --out DIR      any dataset (+ --extra FILE, --skills) to a bundle
distill eval BUNDLE --dataset NAME   accuracy, macro-F1, OOS, slot F1, ECE, size, ms/query
distill run CONFIG.yaml              the whole chain: teacher -> distilled student -> INT8 bundle ->
                                     side-by-side report; resumes after an interruption
distill promote CANDIDATE --deployed DIR [--product NAME]
                                     swap in a bundle only if no regression set (shared, and the
                                     product line's: regression/NAME/product.toml) gets worse
distill corrections EXPORT... --bundle DIR
                                     quarantine suspicious user corrections of flywheel exports
                                     (several speakers' exports: merged and de-duplicated)
distill review EXPORT --bundle DIR  accept, relabel or drop the export's items in the terminal
                                     (quarantined corrections first); an HTML report of the changes
distill baseline --out DIR           the shipped HWU64 recipe (see distill.baseline)
distill keygen KEY                   an Ed25519 key pair for signing bundles (KEY, KEY.pub)
distill sign BUNDLE --key KEY        a signed BUNDLE.tar.zst for `edge update` (also: promote --sign KEY)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("distill.cli")


def _data_argument(parser: argparse.ArgumentParser) -> None:
    from distill.data.records import default_data_dir

    parser.add_argument(
        "--data",
        type=Path,
        default=default_data_dir(),
        help="shared data folder (default: $EDGE_DATA_DIR, else ../shared/data)",
    )


class DataCommand:
    name = "data"
    help = "show a dataset's counts and validation warnings"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", help="clinc150 | hwu64 | snips | banking77 | FILE.yaml | FILE.csv | FILE.jsonl")
        _data_argument(parser)
        parser.add_argument("--min-examples", type=int, default=10, help="flag intents with fewer training examples")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from distill.data.report import data_report
        from distill.data.sources import load_dataset

        report = data_report(args.dataset, load_dataset(args.dataset, args.data), args.min_examples)
        print(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
        return 0


class RhinoCommand:
    name = "rhino"
    help = "train a bundle from a Rhino context YAML in one command"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("context", type=Path, help="Rhino context YAML")
        _chain_arguments(parser, epochs=3)
        parser.add_argument("--per-expression", type=int, default=8, help="seeded realisations per expression")

    def run(self, args: argparse.Namespace) -> int:
        from distill.profiles import load_profile
        from distill.rhino_command import convert

        manifest = convert(
            args.context,
            args.out,
            args.data,
            _settings(args),
            load_profile(args.device_profile),
            args.per_expression,
            "distill " + shlex.join(args.argv),
        )
        check = manifest["metrics"]["rhino_exact_parse"]
        print(
            f"{args.out}: {check['exact']}/{check['sentences']} held-out context sentences parsed exactly, "
            f"{manifest['metrics']['wall_seconds']:.0f} s"
        )
        return 0


def _chain_arguments(parser: argparse.ArgumentParser, epochs: int) -> None:
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    _data_argument(parser)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=48, help="tokens, including [CLS] and [SEP]")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--device-profile", default="generic", help="devices/profiles/NAME.toml, or generic")


def _settings(args: argparse.Namespace):
    from distill.chain import ChainSettings

    return ChainSettings(epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed)


class TrainCommand:
    name = "train"
    help = "fine-tune MiniLM on any dataset (+ extra files, + installed skills) into an INT8 bundle"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", help="as for `distill data`")
        _chain_arguments(parser, epochs=4)
        parser.add_argument(
            "--extra",
            type=Path,
            action="append",
            default=[],
            help="more training examples: CSV/JSONL, e.g. the data-flywheel export (repeatable)",
        )
        parser.add_argument("--skills", action="store_true", help="add the installed skills' declared intents")
        parser.add_argument("--oos", action="store_true", help="add CLINC150 out-of-scope utterances")
        parser.add_argument("--limit", type=int, help="keep only the first N examples per split (smoke runs)")
        self._register_llm_teacher(parser)

    @staticmethod
    def _register_llm_teacher(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(
            "LLM teacher", "augment train through an OpenAI-compatible endpoint (API key: $OPENAI_API_KEY if set)"
        )
        group.add_argument("--llm-teacher", metavar="URL", help="base URL ending in /v1, e.g. http://127.0.0.1:8080/v1")
        group.add_argument("--llm-model", default="", metavar="NAME", help="model to request (part of the cache key)")
        group.add_argument("--paraphrases", type=int, default=3, metavar="N", help="asked per example; 0: none")
        group.add_argument("--llm-per-intent", type=int, default=0, metavar="K", help="paraphrase K per intent; 0: all")
        group.add_argument("--unlabelled", type=Path, metavar="FILE", help="utterances to soft-label, one per line")
        group.add_argument("--min-confidence", type=float, default=0.7, help="drop soft labels below this confidence")
        group.add_argument("--llm-temperature", type=float, default=0.7)
        group.add_argument("--llm-timeout", type=float, default=60.0, metavar="SECONDS", help="per request")
        group.add_argument("--llm-workers", type=int, default=4, help="requests in flight at once")
        group.add_argument("--llm-cache", type=Path, metavar="DIR", help="default: ~/.cache/edge/llm-teacher")

    @staticmethod
    def _llm_augment(args: argparse.Namespace, splits):
        from distill.llm_teacher import TeacherSettings, augment, default_cache_dir, read_unlabelled, summary

        settings = TeacherSettings(
            base_url=args.llm_teacher,
            model=args.llm_model,
            api_key=os.environ.get("OPENAI_API_KEY", ""),
            paraphrases=args.paraphrases,
            per_intent=args.llm_per_intent,
            temperature=args.llm_temperature,
            min_confidence=args.min_confidence,
            timeout_seconds=args.llm_timeout,
            workers=args.llm_workers,
            cache_dir=args.llm_cache or default_cache_dir(),
            seed=args.seed,
        )
        splits, stats = augment(splits, settings, read_unlabelled(args.unlabelled) if args.unlabelled else ())
        print(summary(stats))
        return splits

    def run(self, args: argparse.Namespace) -> int:
        from distill.chain import build_bundle
        from distill.data.extra import with_extras
        from distill.data.sources import load_dataset
        from distill.llm_teacher import TeacherUnavailable
        from distill.profiles import load_profile
        from distill.rhino_command import with_out_of_scope

        if args.unlabelled and not args.llm_teacher:
            print("distill train: --unlabelled needs --llm-teacher URL to label it", file=sys.stderr)
            return 2
        splits = load_dataset(args.dataset, args.data, seed=args.seed)
        splits = {split: items[: args.limit] for split, items in splits.items()} if args.limit else splits
        splits = with_extras(splits, args.extra, args.skills)
        try:
            splits = self._llm_augment(args, splits) if args.llm_teacher else splits
        except TeacherUnavailable as error:
            print(f"distill train: {error}", file=sys.stderr)
            return 2
        splits = with_out_of_scope(splits, args.data) if args.oos else splits
        build_bundle(
            splits, args.out, _settings(args), load_profile(args.device_profile), "distill " + shlex.join(args.argv)
        )
        print(f"{args.out}: written; measure it with `distill eval {args.out} --dataset {args.dataset}`")
        return 0


class EvalCommand:
    name = "eval"
    help = "measure a bundle with the device runtime on a dataset split"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("bundle", type=Path)
        parser.add_argument("--dataset", required=True, help="as for `distill data`")
        parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
        _data_argument(parser)
        parser.add_argument("--limit", type=int, help="evaluate only the first N examples")
        parser.add_argument(
            "--per-expression", type=int, default=8, help="Rhino contexts: as given to `distill rhino` (held-out test)"
        )
        parser.add_argument(
            "--report",
            type=Path,
            metavar="DIR",
            help="write DIR/report.{json,md,html} and DIR/confusion.png (see distill.report), "
            "and the metric list as DIR.json and DIR.md beside it",
        )

    def run(self, args: argparse.Namespace) -> int:
        from distill.bundle_eval import evaluate_examples, markdown
        from distill.data.sources import load_dataset
        from distill.report import ModelColumn, write_report

        examples = load_dataset(args.dataset, args.data, per_expression=args.per_expression)[args.split][: args.limit]
        result = evaluate_examples(args.bundle, examples, keep_predictions=args.report is not None)
        report = {k: v for k, v in result.items() if k != "predicted"} | {"dataset": args.dataset, "split": args.split}
        if args.report:
            column = ModelColumn.from_evaluation(args.bundle.name, result, [e.intent for e in examples])
            title = f"{args.bundle.name} on {args.dataset} ({args.split})"
            notes = [f"bundle: {args.bundle}", f"dataset: {args.dataset}, split {args.split}, {len(examples)} items"]
            paths = write_report(args.report, title, [column], notes, command="distill " + shlex.join(args.argv))
            if args.report.suffix not in (".json", ".md"):  # else the metric list would overwrite the folder
                args.report.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
                args.report.with_suffix(".md").write_text(markdown(report, f"{args.bundle.name} on {args.dataset}"))
            log.info("report: %s", paths["html"])
        print(json.dumps(report, indent=2))
        return 0


from distill.promote import PromoteCommand  # noqa: E402  (stdlib-only at import time)
from distill.publish import PublishCommand  # noqa: E402  (stdlib-only at import time)
from distill.review import ReviewCommand  # noqa: E402  (stdlib-only at import time)
from distill.run import STAGES as STAGE_NAMES  # noqa: E402  (stdlib-only at import time)
from distill.screen import CorrectionsCommand  # noqa: E402  (stdlib-only at import time)
from distill.signing import KeygenCommand, SignCommand  # noqa: E402  (stdlib-only at import time)


class RunCommand:
    name = "run"
    help = "teacher -> distilled student -> INT8 bundle -> report, from a YAML config (resumable)"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", type=Path, help="run configuration, e.g. configs/clinc150.yaml")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a top-level setting (YAML value), e.g. --set limit=200 --set out=/tmp/b",
        )
        parser.add_argument("--stop-after", choices=STAGE_NAMES, help="stop after this stage (rerun to continue)")

    def run(self, args: argparse.Namespace) -> int:
        import yaml

        from distill.data.records import DataFormatError
        from distill.run import run_config

        overrides = {}
        for item in args.set:
            key, separator, value = item.partition("=")
            if not separator:
                raise DataFormatError(f"--set {item!r}: expected KEY=VALUE")
            overrides[key.strip()] = yaml.safe_load(value)
        results = run_config(args.config, "distill " + shlex.join(args.argv), overrides, args.stop_after)
        if not results:  # another process of `accelerate launch`: the main process reports
            return 0
        evaluation = results.get("evaluate")
        if evaluation:
            int8 = evaluation["columns"]["student INT8 (bundle)"]
            print(
                f"{results['bundle']['bundle']}: INT8 accuracy {int8['accuracy']:.4f}, "
                f"oos recall {int8['oos_recall'] if int8['oos_recall'] is not None else 'n/a'}, "
                f"{int8['size_mb']} MB, {evaluation['speedup_teacher_over_int8']:.1f}x faster than the teacher; "
                "report in the run folder's report/"
            )
        else:
            print(f"stopped after {args.stop_after}; rerun the same command to continue")
        return 0


COMMANDS = (DataCommand(), RhinoCommand(), TrainCommand(), EvalCommand(), RunCommand(), PromoteCommand(),
            CorrectionsCommand(), ReviewCommand(), SignCommand(), KeygenCommand(), PublishCommand())


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="distill",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = root.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub.add_parser(command.name, help=command.help))
    sub.add_parser("baseline", help="the shipped HWU64 recipe; `distill baseline --help`", add_help=False)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    from distill.data.records import DataFormatError
    from distill.profiles import ProfileError
    from distill.recipes import TeacherError
    from edge.nlu.bundle import BundleError

    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["baseline"]:
        from distill.baseline import main as baseline_main

        return baseline_main(args_list[1:])
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning threads slow a busy CPU
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # under `accelerate launch` (torchrun sets RANK) only the main process tells the progress
    logging.getLogger("distill").setLevel(logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING)
    args = parser().parse_args(args_list)
    if args.command is None:
        parser().print_help()
        return 2
    args.argv = args_list
    command = next(c for c in COMMANDS if c.name == args.command)
    try:
        return command.run(args)
    except (DataFormatError, BundleError, ProfileError, TeacherError) as error:
        print(f"distill {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
