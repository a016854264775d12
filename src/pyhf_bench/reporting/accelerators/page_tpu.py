"""The sections of ``docs/accelerators.md`` about 64b and TPUs: where 64b hurts, and pyhf #301's zig-zag."""

from __future__ import annotations

from pyhf_bench.reporting.accelerators.page_parts import Page, si


def sixty_four_bit(page: Page) -> list[str]:
    """What 64b costs on an H100 and on a TPU."""
    predictions = page.predictions
    devices = page.devices
    compute_bound = page.compute_bound
    lines: list[str] = []
    add = lines.append
    add("## Where 64b hurts")
    add("")
    h64 = [s for s in predictions["summary"] if s["device"] == "h100-sxm" and "cost_of_64b_at_largest" in s]
    t64 = [s for s in predictions["summary"] if s["device"] == "tpu-v5e" and "cost_of_64b_at_largest" in s]
    if h64:
        peaks = devices["h100-sxm"]["peak_flops"]
        add(f"* **H100:** FP64 runs at {peaks['64b'] / peaks['32b']:.2g} of the FP32 rate ({si(peaks['64b'], 'flop/s')} "
            f"against {si(peaks['32b'], 'flop/s')}), but "
            + ("no step here is compute-bound" if compute_bound == 0 else "hardly any step here is compute-bound")
            + ", so 64b costs what its bytes cost: at the largest sizes " +
            ", ".join(f"{s['operation']} {s['cost_of_64b_at_largest']:.2g}×" for s in h64) +
            " the 32b time; at small sizes, where latency rules, nothing. 32b is no reason to pick a GPU: "
            "pyhf's 32b fits are fragile (see the README's 32b notes), and the gain is at most the bytes.")
    if t64:
        add("* **TPU:** no float64 hardware. JAX on a TPU with `jax_enable_x64` (which pyhf's JAX backend "
            "sets at import) has XLA rewrite 64-bit types into pairs of float32 (double-double) "
            "([jax#10158](https://github.com/jax-ml/jax/issues/10158)); the rewrite does not cover every "
            "operation ([diffrax#366](https://github.com/patrick-kidger/diffrax/issues/366): \"While rewriting "
            "computation to not contain X64 element types, XLA encountered an HLO for which this rewriting is "
            "not implemented\"), and the older TPU driver refused 64-bit types outright "
            "([jax#9862](https://github.com/jax-ml/jax/issues/9862); for pyhf: "
            "[pyhf#1145](https://github.com/scikit-hep/pyhf/issues/1145), where even `precision=\"32b\"` met "
            "it because pyhf enables x64 globally). The model charges the emulation "
            f"{devices['tpu-v5e']['f64_emulation_factor']}× the flops (an assumption); at the largest sizes 64b "
            "costs " + ", ".join(f"{s['operation']} {s['cost_of_64b_at_largest']:.2g}×" for s in t64) +
            " the 32b time on a v5e. Since Google publishes only a bf16 peak, the TPU's flops term is a lower "
            "bound; a 64b pyhf fit on a TPU is the least predictable cell of this page, and the first thing a "
            "TPU session should measure (and check for correctness against the CPU, as `gpu-check` does).")
    add("")
    return lines


def tpu_background(page: Page) -> list[str]:
    """pyhf #301 and what is known about TPUs and dispatch."""
    fig = page.fig
    lines: list[str] = []
    add = lines.append
    add("## The TPU questions and pyhf #301")
    add("")
    add("[pyhf#301](https://github.com/scikit-hep/pyhf/issues/301) (2018, open): naive timings of pyhf's "
        "interpolators on a Colab TPU showed \"a zig-zag shape\" with size, and TPUs slower than GPUs. "
        "What is known:")
    add("")
    add("* **Dispatch dominates small work.** JAX's per-operation dispatch is far costlier than numpy's and "
        "independent of array size ([jax#427](https://github.com/jax-ml/jax/issues/427), "
        "[jax#193](https://github.com/jax-ml/jax/issues/193): ~70 µs per call in 2019 against 0.5 µs for numpy); "
        f"here today: {si(fig['eager_dispatch'], 's')} per JAX primitive against {si(fig['numpy_dispatch'], 's')} "
        "for numpy. GPUs lose to CPUs on small networks for the same reason "
        "([jax#1797](https://github.com/jax-ml/jax/issues/1797)), and timings without `block_until_ready` measure "
        "only the launch ([jax#4474](https://github.com/jax-ml/jax/issues/4474)), which is why every benchmark "
        "here synchronises and `gpu-check` times both.")
    add("* **Colab's TPU of 2018 was remote.** JAX and TensorFlow reached it through the `tpu_driver` over gRPC "
        "(the `grpc://` backend target in [pyhf#1145](https://github.com/scikit-hep/pyhf/issues/1145)); the "
        "later TPU VMs give \"direct access to a VM with TPUs attached, enabling significant performance and "
        "usability improvements\" ([JAX's Cloud TPU Colab notes](https://github.com/jax-ml/jax/blob/main/cloud_tpu_colabs/README.md)). "
        "Every eager dispatch then paid a network round trip: an interpolator benchmark of many small eager "
        "operations measures that round trip, not the TPU.")
    add("* **TPUs tile arrays by 8 × 128.** \"Each TPU core uses two-dimensional 8 X 128 vector registers\", and "
        "XLA pads tensors that do not fill 128 × 8 tiles ([Cloud TPU performance guide](https://cloud.google.com/tpu/docs/performance-guide)). "
        "An array of n bins occupies ceil(n/128) lanes-rows; time per element falls as n approaches a "
        "multiple of 128 and jumps just past it.")
    add("* **float64**: see above; the issue does not say at which precision the 2018 timings ran, and a 64-bit "
        "array on the TPU driver of that time was refused ([jax#9862](https://github.com/jax-ml/jax/issues/9862)).")
    add("")
    return lines


def interpolator_counts(page: Page) -> list[str]:
    """What the compilers and the model say about the interpolators (#301)."""
    i4p = page.interp_4p
    i0 = page.interp_0
    p4p = page.predicted_4p
    lines: list[str] = []
    add = lines.append
    edge = [r for r in i4p if r["size"] in (127, 128, 129, 255, 256, 257)]
    add("**What the compilers say about the interpolators** (the #301 measurement; JAX, 32b, 10 systematics):")
    add("")
    if i4p and i0:
        add(f"* code 4p is {i4p[0]['eager_dispatches']} eager dispatches per call and code 0 "
            f"{i0[0]['eager_dispatches']}, at every size; jitted, each is {i4p[0]['kernels']} fused kernel(s) "
            f"for the CPU. The work is tiny: code 4p at {i4p[-1]['size']:,} bins is {si(i4p[-1]['flops'])} flops over "
            f"{si(i4p[-1]['bytes_accessed'], 'B')}.")
    if edge:
        add("* The CPU compiler's bytes accessed grow smoothly across multiples of 128: " + ", ".join(
            f"{r['size']} bins {si(r['bytes_accessed'], 'B')}" for r in edge) + ". A TPU compiler that pads to "
            "128-lane tiles would not.")
    if p4p:
        first, last = p4p[0], p4p[-1]
        add(f"* Predicted (eager, 32b): {si(first['tpu-v5e']['seconds'], 's')} per call on a TPU v5e at "
            f"{first['size']} bin and {si(last['tpu-v5e']['seconds'], 's')} at {last['size']:,} bins; this CPU "
            f"{si(first['cpu']['seconds'], 's')} and {si(last['cpu']['seconds'], 's')}: flat, the dispatch floor. "
            "On a device whose every dispatch paid a network round trip, the floor rises by that round trip "
            "per dispatch and the device loses to any local CPU.")
    add("")
    return lines


def zigzag_sweeps(page: Page) -> list[str]:
    """The measured interpolator sweeps, one block per zigzag file."""
    zigzags = page.zigzags
    figures_dir = page.figures_dir
    lines: list[str] = []
    add = lines.append
    for z in zigzags:
        add(f"**Measured here: a zig-zag without any tiling** (`pyhf-bench accelerators zigzag --device {z['device']} "
            f"--precision {z['precision']} --repeats {z['repeats']}`; {z['repeats']} runs in one process):")
        add("")
        for operation, r in z["operations"].items():
            lo = min(min(v) for v in r["seconds"])
            hi = max(max(v) for v in r["seconds"])
            add(f"* `{operation}`: between {si(lo, 's')} and {si(hi, 's')} per call over {r['sizes'][0]:,} to "
                f"{r['sizes'][-1]:,} bins; the same size differs by a median {r['median_max_over_min_per_size']:.2g}× "
                f"between runs, and only {r['neighbour_steps_same_sign_in_every_run']} of the {r['neighbour_steps']} "
                "steps from one size to the next go the same way in every run (coin flips would give "
                f"{r['neighbour_steps'] * 2.0 ** (1 - z['repeats']):.3g}).")
        add("")
        add(f"![interpolators timed repeatedly]({figures_dir}/zigzag-{z['device']}.svg)")
        add("")
        add("On this shared 2-core CPU the eager interpolator's time jumps between levels independently of the "
            "size, and a single sweep over sizes draws a zig-zag that the next sweep does not repeat. Whatever "
            "else the 2018 TPU plot showed, a zig-zag from one sweep of a dispatch-bound step is no evidence of a "
            "size effect: the measurement below repeats the sweep.")
        add("")
    return lines


def tpu_hypothesis(page: Page) -> list[str]:
    """The hypothesis for #301 and the device session that decides it."""
    devices = page.devices
    eager_cost = page.eager_cost
    i4p = page.interp_4p
    p4p = page.predicted_4p
    lines: list[str] = []
    add = lines.append
    add("**Hypothesis.** The zig-zag is the 8 × 128 tiling seen through a latency floor: an eager interpolator "
        "call costs a constant number of dispatches × the per-dispatch latency (on 2018's Colab TPU a network "
        "round trip), flat in size, plus a work term that steps at every multiple of 128 bins (and of 8 "
        "systematics, the second-minor dimension); sizes that straddle multiples of 128, timed on a shared "
        "remote device, then alternate between the floor and the steps. TPUs were slower than GPUs because "
        "the floor was higher (remote dispatch), not because of the work.")
    visible = [r for r in p4p if r["tpu-v5e"]["work_seconds"] >= devices["tpu-v5e"]["launch_latency"]]
    if p4p:
        add("Sizes: the steps can show only where the work term (bytes ÷ bandwidth) is at least one launch "
            f"latency ({si(devices['tpu-v5e']['launch_latency'], 's')}) on a v5e: "
            + (f"from about {visible[0]['size']:,} bins for code 4p in this table" if visible else
               f"at no size in this table (up to {p4p[-1]['size']:,} bins) for code 4p")
            + "; below, only the floor, so the zig-zag of small sizes must be the floor's noise or the "
            "remote device's, which the measurement below tells apart.")
    add("")
    add("**The measurement that decides it** (one TPU VM session, JAX, 32b, then 64b; the cost table's "
        "interpolator sizes: `pyhf-bench accelerators zigzag --device tpu --repeats 3` and "
        "`pyhf-bench accelerators measure --device tpu --spec tpu-v5e`):")
    add("")
    sizes = ", ".join(str(r["size"]) for r in i4p) if i4p else "the interpolator sizes"
    add(f"1. Codes 0 and 4p, 10 systematics, at n = {sizes} bins, eager (as pyhf calls them) and jitted, three "
        "sweeps: a step of the jitted time from 128 to 129 and from 256 to 257 bins and none from 127 to 128, "
        "the same in every sweep, confirms the tiling; an eager time flat to within the sweeps' spread up to "
        "10⁴ bins confirms the floor; the floor divided "
        "by the dispatch count is the TPU's per-dispatch latency (the model assumes "
        f"{si(devices['tpu-v5e']['launch_latency'], 's')} plus the host's "
        f"{si(eager_cost('interpolate_4p'), 's')} for code 4p).")
    add("2. The same on an H100: no steps at multiples of 128 (a GPU schedules threads in warps of 32, with no "
        "128-lane tiles), the same flat eager floor at the GPU's own dispatch latency.")
    add("3. If the TPU compiler's `cost_analysis()` accounts for its padded layouts, its bytes accessed at 129 "
        "bins equal those at 256; if they do not, the profile's memory viewer shows the padding (the Cloud TPU "
        "performance guide's advice).")
    add("")
    return lines
