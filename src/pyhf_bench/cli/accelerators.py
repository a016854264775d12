"""``pyhf-bench accelerators ACTION``: the GPU/TPU time model's commands. Argument parsing and printing only.

The work is :mod:`pyhf_bench.reporting.accelerators`' (the model), its ``timing``
(measurements), ``plots`` and ``page`` (``docs/accelerators.md``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools.costs import INTERP_BINS, load_table
from pyhf_bench.core.files import atomic_file
from pyhf_bench.reporting.accelerators import calibrate, check_predictions, merge, predict, read_json, write_json
from pyhf_bench.reporting.accelerators.page import render
from pyhf_bench.reporting.accelerators.plots import plot_costs, plot_predictions, plot_zigzag
from pyhf_bench.reporting.accelerators.timing import measure, measure_cpu, zigzag


def _cmd_cpu_figures(args) -> int:
    result = measure_cpu()
    if args.out:
        write_json(Path(args.out), result)
    print(json.dumps(result["figures"], indent=1))
    return 0


def _cmd_predict(args) -> int:
    costs = load_table(args.costs)
    cpu = read_json(args.cpu_figures, "CPU figures", f"pyhf-bench accelerators cpu-figures --out {args.cpu_figures}")
    if "figures" not in cpu:
        raise UserError(f"{args.cpu_figures} holds no 'figures'; regenerate it with `pyhf-bench accelerators cpu-figures`")
    calibration = None
    if args.calibration:
        calibration = read_json(args.calibration, "calibration", "pyhf-bench accelerators calibrate")
        if "eager_dispatch" not in calibration:
            raise UserError(f"{args.calibration} is not a calibration; write it with `pyhf-bench accelerators calibrate`")
    result = predict(costs, cpu, calibration=calibration)
    write_json(Path(args.out), result)
    print(f"{len(result['rows'])} rows, {len(result['summary'])} summaries -> {args.out}")
    return 0


def _cmd_measure(args) -> int:
    predictions = read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    spec = args.spec or ("cpu" if args.device == "cpu" else None)
    if spec is None:
        raise UserError(f"--spec is needed for --device {args.device}: the device of accelerators.json the times are "
                        f"compared with, one of: {', '.join(predictions['inputs']['devices'])}")
    result = measure(args.device, predictions, spec, tuple(args.precision or ("64b", "32b")), args.max_bins, args.budget)
    write_json(Path(args.out), result)
    print(f"{result['measured']} of {result['predicted']} predictions measured on {args.device}; median measured/"
          f"predicted {result['median_ratio']}" + "".join(f"\n  note: {n}" for n in result["notes"]))
    if result["measured"] == 0:
        raise UserError(f"nothing was measured on {args.device} ({'; '.join(result['notes']) or 'no rows'}); see the notes")
    return 0


def _cmd_calibrate(args) -> int:
    measured = read_json(args.measured, "CPU measurement", "pyhf-bench accelerators measure --device cpu")
    cpu = read_json(args.cpu_figures, "CPU figures", "pyhf-bench accelerators cpu-figures")
    result = calibrate(measured, load_table(args.costs), cpu, args.smallest)
    write_json(Path(args.out), result)
    print(json.dumps({k: result[k] for k in ("eager_dispatch", "cpu_kernel", "rows_used")}, indent=1))
    return 0


def _cmd_merge(args) -> int:
    """Measured times of an earlier ``measure`` beside newer predictions (e.g. after calibrating)."""
    predictions = read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    old = read_json(args.measured, "measured times", "pyhf-bench accelerators measure")
    measured = [{k: r[k] for k in ("operation", "precision", "model")} | {"seconds": r["measured_seconds"]}
                for r in old.get("rows", []) if r.get("measured_seconds")]
    if not measured:
        raise UserError(f"{args.measured} holds no measured times; write it with `pyhf-bench accelerators measure`")
    result = merge(predictions, measured, old["device"], old["spec"], old.get("notes"))
    write_json(Path(args.out), result)
    print(f"{result['measured']} measured beside {result['predicted']} predictions; median measured/predicted "
          f"{result['median_ratio']}")
    return 0


def _cmd_zigzag(args) -> int:
    result = zigzag(args.device, args.precision, INTERP_BINS, args.repeats)
    write_json(Path(args.out), result)
    for operation, r in result["operations"].items():
        print(f"{operation}: {r['neighbour_steps_same_sign_in_every_run']} of {r['neighbour_steps']} neighbour steps "
              f"repeat their sign in all {result['repeats']} runs; median max/min per size {r['median_max_over_min_per_size']:.2f}")
    return 0


def _cmd_plot(args) -> int:
    out = Path(args.out)
    if not out.is_dir():
        raise UserError(f"{out} is not a directory; create it or choose another --out")
    paths = plot_costs(load_table(args.costs), out)
    predictions = read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    measured = [read_json(m, "measured times", "pyhf-bench accelerators measure") for m in args.measured or ()]
    paths += plot_predictions(predictions, out, measured)
    for path in args.zigzag or ():
        result = read_json(path, "interpolator repeats", "pyhf-bench accelerators zigzag")
        paths += plot_zigzag(result, out, f"zigzag-{result['device']}")
    for path in paths:
        print(path)
    return 0


def _cmd_docs(args) -> int:
    predictions = read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    measured = [(m, read_json(m, "measured times", "pyhf-bench accelerators measure")) for m in args.measured or ()]
    zigzags = [read_json(z, "interpolator repeats", "pyhf-bench accelerators zigzag") for z in args.zigzag or ()]
    uncalibrated = read_json(args.uncalibrated, "measured times", "pyhf-bench accelerators merge") if args.uncalibrated else None
    text = render(load_table(args.costs), predictions, measured, zigzags, uncalibrated,
                  predictions_file=args.predictions, figures_dir=args.figures)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"{out.parent} does not exist; create it or choose another --out")
    with atomic_file(out) as fh:
        fh.write(text)
    print(out)
    return 0


def _add_committed_inputs(a) -> None:
    """The committed JSON inputs that `plot` and `docs` both read."""
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--measured", action="append", help="a file of `accelerators measure`, repeatable")
    a.add_argument("--zigzag", action="append", help="a file of `accelerators zigzag`, repeatable")


def add_parsers(sub) -> None:
    p = sub.add_parser("accelerators", help="GPU/TPU time model: CPU figures, predictions, device measurements, plots, docs")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("cpu-figures", help="measure this CPU's peak flops, bandwidth and dispatch latencies")
    a.add_argument("--out", help="write the JSON here")
    a.set_defaults(func=_cmd_cpu_figures)
    a = actions.add_parser("predict", help="predicted seconds per step on this CPU and each device, from the cost table")
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--cpu-figures", default="docs/cpu-figures-epyc-2core.json")
    a.add_argument("--calibration", help="host costs fitted to this CPU's times (`accelerators calibrate`)")
    a.add_argument("--out", default="docs/accelerator-predictions.json")
    a.set_defaults(func=_cmd_predict)
    a = actions.add_parser("calibrate", help="fit the host's per-primitive and per-kernel costs to a CPU measurement")
    a.add_argument("--measured", default="docs/accelerator-measured-cpu.json")
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--cpu-figures", default="docs/cpu-figures-epyc-2core.json")
    a.add_argument("--smallest", type=int, default=2, help="how many of each axis' smallest sizes to fit on")
    a.add_argument("--out", default="docs/cpu-calibration-epyc-2core.json")
    a.set_defaults(func=_cmd_calibrate)
    a = actions.add_parser("merge", help="an earlier measurement's times beside (newer) predictions")
    a.add_argument("--measured", required=True)
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--out", required=True)
    a.set_defaults(func=_cmd_merge)
    a = actions.add_parser("measure", help="time the predicted steps (JAX) on a device; write them beside the predictions")
    a.add_argument("--device", default="gpu", choices=("cpu", "gpu", "tpu"))
    a.add_argument("--spec", help="the predicted device to compare with (default: cpu for --device cpu)")
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--precision", action="append", choices=("64b", "32b"), help="repeatable (default: both)")
    a.add_argument("--max-bins", type=int, help="leave out synthetic models above this many bins")
    a.add_argument("--budget", type=float, default=400.0, help="seconds after which no new model is started")
    a.add_argument("--out", required=True)
    a.set_defaults(func=_cmd_measure)
    a = actions.add_parser("zigzag", help="time the interpolators repeatedly over bins (pyhf #301): does the shape repeat?")
    a.add_argument("--device", default="cpu", choices=("cpu", "gpu", "tpu"))
    a.add_argument("--precision", default="32b", choices=("64b", "32b"))
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--out", required=True)
    a.set_defaults(func=_cmd_zigzag)
    a = actions.add_parser("plot", help="work vs size and predicted (lines) vs measured (points) times, PNG + SVG")
    _add_committed_inputs(a)
    a.add_argument("--out", default="docs/accelerators")
    a.set_defaults(func=_cmd_plot)
    a = actions.add_parser("docs", help="write docs/accelerators.md from the committed JSON")
    _add_committed_inputs(a)
    a.add_argument("--uncalibrated", help="a CPU measurement beside the uncalibrated predictions (`accelerators merge`)")
    a.add_argument("--figures", default="accelerators", help="the plots' folder, relative to the page")
    a.add_argument("--out", default="docs/accelerators.md")
    a.set_defaults(func=_cmd_docs)
