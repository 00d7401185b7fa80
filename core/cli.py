"""`python -m core ...`: train, resume and list runs, import images, export and predict from a terminal.

The training flags are generated from RunConfig's fields, so the CLI, the Train form and the
saved config.json always agree.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path

from core.config import ConfigError, RunConfig, best_basis_note, field_info, json_object, range_text

EXIT_FAILED, EXIT_STOPPED = 1, 130


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run configuration (defaults: the preset, --config or RunConfig)")
    for f in fields(RunConfig):
        if f.metadata.get("cli") is False:
            continue
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        kwargs = {"default": None, "help": _help(f.name)}
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float}.get(kind, str)
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        group.add_argument(_flag(f.name), dest=f.name, **kwargs)


def _help(name: str) -> str:
    """The field's help, its allowed range and its default, from RunConfig's metadata."""
    info = field_info(name)
    span = range_text(name)
    unit = f" {info['unit']}" if span and info.get("unit") else ""
    text = f"{info['help']}" + (f" Range: {span}{unit}." if span else "") + f" (default: {_show(info['default'])})"
    return text.replace("%", "%%")  # argparse %-formats help strings


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return repr(value) if isinstance(value, str) else str(value)


def _add_folders(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--data-dir", default=default, help="dataset folder (default: $CNN_STUDIO_DATA or ./data)")
    parser.add_argument("--checkpoints", default=default,
                        help="run store folder (default: $CNN_STUDIO_CHECKPOINTS or ./checkpoints)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="CNN Studio from the command line.")
    _add_folders(parser, None)
    # the folder options also work after the command (`train --preset fast_mnist --data-dir DIR`);
    # SUPPRESS keeps a value given before the command when the command does not repeat it
    folders = argparse.ArgumentParser(add_help=False)
    _add_folders(folders, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    add = lambda *a, **kw: sub.add_parser(*a, parents=[folders], **kw)  # noqa: E731
    train = add("train", help="train a new run")
    train.add_argument("--preset", help="start from a named configuration (see `presets`)")
    train.add_argument("--config", help="start from a config.json file")
    add_config_flags(train)
    add_backend_flags(train)
    add_sweep_parser(add)
    resume = add("resume", help="continue a stopped, interrupted or failed run")
    resume.add_argument("run_id")
    add_backend_flags(resume)
    add("runs", help="table of saved runs")
    add("presets", help="named configurations")
    add("datasets", help="datasets and where their files are")
    add("models", help="architectures")
    download = add("download", help="download a torchvision dataset into the data folder")
    download.add_argument("dataset")
    add_import_parser(add)
    add_export_predict(add)
    issues = add("label-issues", help="test images whose label is probably wrong (cleanlab), most suspicious first",
                 description="One line per image: its index, the given label, the suggested label and the score "
                             "(cleanlab's self-confidence: the probability the model gives the given label; lower "
                             "is more suspicious), and * when cleanlab's confident learning flags it. A summary goes "
                             "to standard error. Exit status: 0 done, 1 the finder cannot run on this run, 2 unknown "
                             "or damaged run.")
    issues.add_argument("run_id")
    issues.add_argument("--top", type=int, help="print only the N most suspicious images")
    issues.add_argument("--which", default="best", choices=("best", "last"), help="which weights' predictions "
                        "(default: best)")
    issues.add_argument("--split", default="test", choices=("test", "val"),
                        help="test: the test set (default); val: the run's validation share (indices are "
                             "positions in the dataset's training split)")
    return parser


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    from core.ray_backend import ADDRESS_ENV, INSTALL_HINT, LOCAL

    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where to train: this process (local, the default) or as Ray tasks on a Ray cluster "
                             f"(ray; needs `{INSTALL_HINT}`)")
    parser.add_argument("--ray-address", default=None,
                        help=f"with --backend ray: the cluster's address (host:port, ray://host:10001 or auto), or "
                             f"{LOCAL} to start a Ray on this machine (default: ${ADDRESS_ENV}, else {LOCAL})")


def add_export_predict(add) -> None:
    export = add("export", help="write a run's model as ONNX, TorchScript or a .pth state dict, checked",
                 description="The file is loaded back and must predict like PyTorch on the run's test images. "
                             "Exit status: 0 written and checked, 1 the export or its check failed, "
                             "2 unknown or damaged run.")
    export.add_argument("run_id")
    export.add_argument("--format", required=True, choices=("onnx", "torchscript", "pth"))
    export.add_argument("--which", default="best", choices=("best", "last"), help="which weights (default: best)")
    export.add_argument("--out", help="file or folder to write (default: RUN_ID_WHICH.EXT in the current folder)")
    predict = add("predict", help="classify image files or folders; CSV to stdout or --out",
                  description="Exit status: 0 all files classified, 1 some files skipped (listed on stderr), "
                              "2 nothing classified.")
    predict.add_argument("run_id")
    predict.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders searched recursively")
    predict.add_argument("--which", default="best", choices=("best", "last"), help="which weights (default: best)")
    predict.add_argument("--out", help="CSV file to write (default: standard output)")
    predict.add_argument("--invert", default="auto", choices=("auto", "always", "never"),
                         help="gray models: invert colours; auto inverts light pictures (default: auto)")
    predict.add_argument("--center", default=None, action=argparse.BooleanOptionalAction,
                         help="gray models: crop and centre the digit like MNIST (default: on for digit runs)")


def config_from_args(args) -> RunConfig:
    """The preset, then --config, then single flags, checked as a whole (with the dataset's image
    size when the dataset is known, so a custom layer stack that cannot run is refused here)."""
    from core import presets

    cfg = RunConfig()
    if args.preset:
        cfg = presets.get(args.preset).config
    if args.config:
        cfg = RunConfig.from_dict({**cfg.to_dict(), **_read_config_file(args.config)})
    changes = {f.name: getattr(args, f.name) for f in fields(RunConfig)
               if getattr(args, f.name, None) is not None}
    if changes:
        cfg = RunConfig.from_dict({**cfg.to_dict(), **changes})
    from core import data

    return cfg.validate(image_shape=data.image_shape(cfg.dataset, getattr(args, "data_dir", None)))


def _read_config_file(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path} is not a UTF-8 text file; a config is JSON like {{\"epochs\": 3}}"]) from None
    return json_object(text, source=path)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from core.runs import RunError, RunStore

    try:
        store = RunStore(args.checkpoints)
        handler = COMMANDS[args.command]
        return handler(args, store)
    except ConfigError as exc:
        print("Invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except (RunError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


# ---- commands ------------------------------------------------------------------------------

def cmd_train(args, store) -> int:

    cfg = config_from_args(args)
    on_ray = getattr(args, "backend", "local") == "ray"
    if on_ray:
        from core import ray_backend

        ray_backend.connect(args.ray_address)  # RayUnavailable (exit 2) before any run exists
    run_id = store.create(cfg, preset=args.preset)
    print(f"run {run_id} → {store.path(run_id)}")
    if on_ray:
        return _train_on_ray(store, run_id, args)
    return _train(store, run_id, args, resume=False)


def cmd_resume(args, store) -> int:
    on_ray = getattr(args, "backend", "local") == "ray"
    if on_ray:
        from core import ray_backend

        ray_backend.connect(args.ray_address)
    store.begin_resume(args.run_id, queued=on_ray)  # RunError (exit 2) says why not
    if on_ray:
        return _train_on_ray(store, args.run_id, args)
    return _train(store, args.run_id, args, resume=True)


def _train_on_ray(store, run_id, args) -> int:
    """Send the run to Ray and follow it from its folder, as the dashboard does; Ctrl+C stops it."""
    import time

    from core import ray_backend

    batch = ray_backend.submit_runs(store, [run_id], address=args.ray_address, data_dir=args.data_dir)
    print(f"sent to Ray ({ray_backend.resolve_address(args.ray_address)}); Ctrl+C stops it")

    def stop(*_):
        batch.stop()
        print("stopping after the current batch…")

    previous = signal.signal(signal.SIGINT, stop)
    shown, state = 0, None
    try:
        while True:
            done = batch.done()
            rec = store.record(run_id)
            if rec.state != state and not done:
                state = rec.state
                where = f" (worker pid {rec.status.pid} on {rec.status.host})" if state == "running" else ""
                print(f"{state}{where}")
            for row in rec.metrics[shown:]:
                print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}  "
                      f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%}  lr {row['lr']:.3g}  "
                      f"{row['epoch_seconds']:.1f}s")
            shown = len(rec.metrics)
            if done:
                break
            time.sleep(0.5)
    finally:
        signal.signal(signal.SIGINT, previous)
    status, message = batch.results()[run_id]
    print(f"{status}: {message}")
    rec = store.record(run_id)
    if rec.status is not None and rec.status.epochs_done:
        test = f"{rec.status.test_acc:.2%}" if rec.status.test_acc is not None else "not measured"
        print(f"best validation accuracy {rec.status.best_val_acc or 0:.2%} at epoch {rec.status.best_epoch}; "
              f"test accuracy {test} (last weights)")
    return {"completed": 0, "stopped": EXIT_STOPPED}.get(status, EXIT_FAILED)


def _train(store, run_id, args, *, resume) -> int:
    from core import trainer
    from core.progress import ProgressPrinter

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        result = trainer.run(store, run_id, resume=resume, data_dir=args.data_dir,
                             callbacks=[ProgressPrinter()], stop_event=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"{result.status}: {result.message}")
    rec = store.record(run_id)
    if result.epochs_done and rec.status is not None:
        test = f"{rec.status.test_acc:.2%}" if rec.status.test_acc is not None else "not measured"
        print(f"best validation accuracy {result.best_val_acc:.2%} at epoch {result.best_epoch}; "
              f"test accuracy {test} (last weights)")
        print(best_basis_note(rec.config))
    return {"completed": 0, "stopped": EXIT_STOPPED}.get(result.status, EXIT_FAILED)


def cmd_runs(args, store) -> int:
    from core.tables import runs_table

    table = runs_table(store.list())
    if not len(table):
        print(f"no runs in {store.root}")
        return 0
    missing = lambda v: v is None or v != v  # noqa: E731 - None or NaN
    pct = lambda v: "" if missing(v) else f"{v:.2%}"  # noqa: E731
    view = table[["run_id", "status", "dataset", "arch", "optimizer", "lr", "schedule"]].astype(object)
    view["epochs"] = ["" if missing(v) else str(int(v)) for v in table["epochs"]]
    view["best"] = ["" if missing(a) else f"{pct(a)} @{int(e)}"
                    for a, e in zip(table["best_val_acc"], table["best_epoch"].fillna(0))]
    view["test"] = table["test_acc"].map(pct)
    view["time"] = table["train_seconds"].map(lambda v: "" if missing(v) else f"{v:.0f}s")
    print(view.where(view.notna(), "").to_string(index=False))
    for _, row in table.iterrows():  # why a run is damaged, interrupted, failed or incomplete
        if row["message"]:
            print(f"{row['status']}: {row['run_id']}: {row['message']}")
    return 0


def cmd_presets(args, store) -> int:
    from core import data, presets

    for p in presets.PRESETS.values():
        state = data.status(p.config.dataset, args.data_dir).state
        ready = "ready" if state in ("present", "bundled", "debian") else f"needs data ({state})"
        print(f"{p.name:28} {p.title}  [{ready}]")
        print(f"{'':28} {p.description}" + (f" Reported: {p.reported}." if p.reported else ""))
    return 0


def cmd_datasets(args, store) -> int:
    from core import data

    for name in data.names(args.data_dir):
        info, st = data.info(name, args.data_dir), data.status(name, args.data_dir)
        print(f"{name:16} {st.state:13} {info.title}: {st.detail}")
        if st.state not in ("present", "bundled"):
            print(f"{'':16} {st.fix}")
    return 0


def cmd_models(args, store) -> int:
    from core import models

    for m in models.describe():
        print(f"{m['name']:16} {m['description']}")
    return 0


def cmd_download(args, store) -> int:
    from core import data

    def progress(fraction, message):
        print(f"\r{fraction:6.1%} {message[:60]:60}", end="", flush=True)

    try:
        st = data.download(args.dataset, args.data_dir, progress=progress)
    except data.DatasetError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    print(f"\n{args.dataset}: {st.detail}")
    return 0


def cmd_export(args, store) -> int:
    from core import export

    try:
        done = export.export(store, args.run_id, args.format, which=args.which, out=args.out,
                             data_dir=args.data_dir)
    except export.ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {done.path} ({export.TITLE[done.format]}, {done.which} weights) in {done.seconds:.1f} s")
    print(f"checked: {done.check}")
    print("\nHow to load it:\n")
    print(done.snippet)
    return 0


def cmd_predict(args, store) -> int:
    from core import predict

    rows, skipped, found = predict.predict_paths(store, args.run_id, args.paths, which=args.which,
                                                 invert=args.invert, center=args.center)
    for s in skipped:
        print(f"skipped {s.file}: {s.reason}", file=sys.stderr)
    if found.ignored:
        print(f"ignored {found.ignored} file(s) in the folders without an image extension "
              f"({', '.join(sorted(predict.EXTENSIONS))})", file=sys.stderr)
    if not rows:
        print("error: no image could be classified" + ("" if found.files else
              " — no image files found; pass image files or folders holding them"), file=sys.stderr)
        return 2
    text = predict.to_csv(rows)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(rows)} prediction(s) to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if skipped else 0


def cmd_label_issues(args, store) -> int:
    from core import label_issues

    if args.top is not None and args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    classes = store.read_model(args.run_id).classes
    try:
        table = label_issues.for_run(store, args.run_id, args.which, args.split)
    except label_issues.LabelIssueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    shown = min(len(table), args.top or len(table))
    print(f"{len(table)} image(s) of the {label_issues.SPLIT_TITLES[args.split]} of run {args.run_id} whose given "
          f"label the {args.which} weights dispute, {int(table['flagged'].sum())} of them flagged by cleanlab's "
          f"confident learning (find_label_issues; marked *); ranked by cleanlab's label quality score "
          f"(self-confidence). Showing {shown}. Columns: index, given label, suggested label, score.",
          file=sys.stderr)
    for line in label_issues.lines(table, classes, args.top):
        print(line)
    return 0


# ---- import ----------------------------------------------------------------------------------

def add_import_parser(add) -> None:
    p = add("import", help="import a folder or .zip of images (class folders or train/test split folders)")
    p.add_argument("path", help="a folder or .zip: <class>/… or train/<class>/… + test/<class>/…")
    p.add_argument("--name", required=True, help="dataset name (letters, digits, - and _): trains as folder:NAME")
    p.add_argument("--size", type=int, help="resize to N×N pixels (default: the images' own size when they "
                                            "all share one square size, else 28)")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--grayscale", dest="grayscale", action="store_const", const=True,
                        help="store one channel (default: grayscale unless the images are colour)")
    colour.add_argument("--rgb", dest="grayscale", action="store_const", const=False, help="store three channels")
    p.add_argument("--test-share", type=float, default=0.2,
                   help="share of each class held out as the test set, for class folders only: split folders "
                        "keep their own test set (default: 0.2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset of that name")
    p.add_argument("--yes", action="store_true", help="import without asking for confirmation")


def cmd_import(args, store) -> int:
    from core import data
    from core.data import importer

    root = data.data_dir(args.data_dir)
    try:
        importer.check_target(args.name, root, args.overwrite)
        plan = data.preview_import(args.path)
    except data.DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = args.size or importer.suggested_size(plan)
    grayscale = (not plan.colour) if args.grayscale is None else args.grayscale
    print("\n".join(plan.describe()))
    held = "" if plan.has_test_split else f", {args.test_share:g} of each class held out as the test set"
    print(f"Will import as folder:{args.name} at {size}×{size} {'grayscale' if grayscale else 'RGB'}{held}.")
    if not args.yes and not _confirmed("Import?", "importing", "Nothing imported."):
        return 1
    try:
        rep = data.import_image_folder(
            args.path, args.name, args.data_dir, image_size=size, grayscale=grayscale, test_share=args.test_share,
            overwrite=args.overwrite, progress=lambda f, msg: print(f"\r{f:6.1%} {msg[:60]:60}", end="", flush=True),
        )
    except data.DatasetError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C: the dataset is written only at the end, so nothing is
        print("\nImport cancelled; nothing was written.", file=sys.stderr)
        return EXIT_STOPPED
    print(f"\nImported {rep.dataset}: {len(rep.classes)} classes, {rep.train_count:,} train / "
          f"{rep.test_count:,} test images; {len(rep.skipped):,} file(s) skipped.")
    print(f"Train on it with: python -m core train --dataset {rep.dataset}")
    return 0


def _confirmed(question: str, doing: str, declined: str) -> bool:
    if not sys.stdin.isatty():  # a script or pipe cannot answer; acting unasked would surprise it
        print(f"error: not {doing} without confirmation, and standard input is not a terminal to ask on; "
              "pass --yes to go ahead.", file=sys.stderr)
        return False
    if input(f"{question} [y/N] ").strip().lower() in ("y", "yes"):
        return True
    print(declined)
    return False


# ---- sweep -----------------------------------------------------------------------------------

def add_sweep_parser(add) -> None:
    p = add("sweep", help="train several runs with some fields varied (a grid or random draws) and compare them",
            description="Every `train` flag works here too and fixes that field for all runs. Exit status: 0 every "
                        "run completed or was stopped by the median rule, 1 some run failed or was stopped, "
                        "2 the sweep is invalid or was not confirmed.")
    p.add_argument("--preset", help="start from a named configuration (see `presets`)")
    p.add_argument("--config", help="start from a config.json file")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=VALUES",
                   help="vary a field: listed values (lr=0.003,0.01,0.03; optimizer=sgd,adam) or a log-uniform "
                        "range low:high (lr=0.0001:0.1, needs --random). Repeat for more fields.")
    p.add_argument("--seeds", type=int, default=1, help="run each combination with this many seeds (default: 1)")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="draw N random combinations instead of running the full grid (default: the full grid)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the random draws (default: 0)")
    p.add_argument("--early-stopping", action="store_true",
                   help="median stopping rule: after --grace-epochs, stop a run whose best validation accuracy "
                        "is below the median of the other runs' at the same epoch")
    p.add_argument("--grace-epochs", type=int, default=1, help="epochs before the median rule looks (default: 1)")
    add_backend_flags(p)
    p.add_argument("--yes", action="store_true", help="start without asking for confirmation")
    add_config_flags(p)


def cmd_sweep(args, store) -> int:
    from core import sweeps

    try:
        return _sweep(args, store)
    except sweeps.SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _sweep(args, store) -> int:
    import os

    from core import sweeps

    base = config_from_args(args)
    axes = tuple(sweeps.parse_grid_arg(g) for g in args.grid)
    fixed = [a.field for a in axes if getattr(args, a.field, None) is not None]
    if fixed:
        raise ConfigError([f"{f} is both fixed ({_flag(f)}) and varied (--grid {f}=...); keep one" for f in fixed])
    spec = sweeps.SweepSpec(base, axes, seeds=args.seeds, random=args.random, sample_seed=args.sample_seed,
                            early_stopping=args.early_stopping, grace_epochs=max(args.grace_epochs, 1),
                            name=base.name)  # --name names the sweep; its runs are "NAME · lr=…"
    configs = spec.configs()
    ray = sweeps.ray_backend() if args.backend == "ray" else None
    _, words = sweeps.estimate(store, configs)
    varied = ", ".join(f"{a.field}={a.text()}" for a in axes) + (f", {args.seeds} seeds" if args.seeds > 1 else "")
    print(f"Sweep of {len(configs)} runs ({varied.strip(', ')}) on the {args.backend} backend.")
    print(f"Time: {words}.")
    if args.early_stopping:
        print(f"Early stopping: median rule from epoch {spec.grace_epochs}.")
    if not args.yes and not _confirmed(f"Start {len(configs)} runs?", "starting a sweep", "Nothing started."):
        return 2
    from core.jobs import JobRunner

    runner = None if ray is not None else JobRunner(store, data_dir=args.data_dir)
    sweep = sweeps.start(store, spec, backend=args.backend, runner=runner, configs=configs, preset=args.preset,
                         address=args.ray_address or os.environ.get("CNN_STUDIO_RAY_ADDRESS"), data_dir=args.data_dir)
    print(f"sweep {sweep.sweep_id}: {len(sweep.run_ids)} runs queued; Ctrl+C stops it (finished runs are kept)")
    if runner is not None:
        done = lambda: runner.wait_idle(timeout=0.5)  # noqa: E731

        def stop_all():
            for run_id in sweep.run_ids:
                runner.cancel(run_id)
            runner.stop()
            runner.wait_idle(timeout=120)
    else:  # the Ray backend's handle on the submitted tasks (core.ray_backend.RayBatch)
        done = lambda: sweep.handle.wait(timeout=0.5)  # noqa: E731

        def stop_all():
            sweep.handle.stop()
            sweep.handle.wait(timeout=120)
    return _follow(store, sweep, done, stop_all)


def _follow(store, sweep, done, stop_all) -> int:
    """Print each run as it ends until all have; Ctrl+C stops the rest. The exit status says how it went."""
    from core import sweeps

    stop, printed = threading.Event(), set()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not done() and not stop.is_set():
            _print_finished(store, sweep, printed)
        if stop.is_set():
            stop_all()
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_finished(store, sweep, printed)
    frame = sweeps.table(store, sweep)
    top = sweeps.best(frame)
    if top is not None:
        values = " ".join(f"{f}={top[f]}" for f in sweep.fields)
        print(f"best: {top['run_id']} ({values}) — best validation accuracy {top['best_val_acc']:.2%}")
    ruled = frame["message"].fillna("").str.contains("median rule")
    bad = frame[(frame["status"] != "completed") & ~ruled]
    return EXIT_STOPPED if stop.is_set() else (1 if len(bad) else 0)


def _print_finished(store, sweep, printed: set) -> None:
    """One line per run of the sweep that has ended since the last call."""
    for run_id in sweep.run_ids:
        rec = store.record(run_id)
        if run_id in printed or rec.state in ("queued", "running"):
            continue
        printed.add(run_id)
        acc = rec.status.best_val_acc if rec.status else None
        best = f" — best validation accuracy {acc:.2%}" if acc is not None else ""
        why = f" ({rec.message})" if rec.state != "completed" and rec.message else ""
        print(f"[{len(printed)}/{len(sweep.run_ids)}] {rec.name}: {rec.state}{best}{why}")


COMMANDS = {"sweep": cmd_sweep, "train": cmd_train, "resume": cmd_resume, "runs": cmd_runs, "presets": cmd_presets,
            "datasets": cmd_datasets, "models": cmd_models, "download": cmd_download,
            "import": cmd_import, "export": cmd_export, "predict": cmd_predict, "label-issues": cmd_label_issues}
