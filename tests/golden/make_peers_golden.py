"""Regenerate tests/golden/peers_golden.json: what each peer FLOP counter reports (issue 15, part 2).

    python3 -m venv /tmp/peersvenv
    /tmp/peersvenv/bin/pip install torch==2.13.0 torchvision==0.28.0 torchinfo==1.8.0 \\
        fvcore==0.1.5.post20221221 ptflops==0.7.5 thop==0.1.1.post2209072238 calflops==0.3.2 \\
        transformers==5.23.0 deepspeed==0.19.8
    /tmp/peersvenv/bin/python tests/golden/make_peers_golden.py              # every tool, about 1.5 minutes
    /tmp/peersvenv/bin/python tests/golden/make_peers_golden.py fvcore thop  # only these tools, the others kept
    /tmp/peersvenv/bin/python tests/golden/make_peers_golden.py --fresh      # a process per run, about 15 minutes

The versions above are the ones recorded (the JSON's "versions" holds each, read from the installed
metadata): torch 2.13.0+cpu (the CPU wheel), torchvision 0.28.0, torchinfo 1.8.0, fvcore
0.1.5.post20221221, ptflops 0.7.5, thop 0.1.1.post2209072238 (the last "thop" on PyPI;
ultralytics-thop is another package), calflops 0.3.2 (it imports transformers at import time without
declaring it: transformers 5.23.0 installed for that alone), deepspeed 0.19.8 (its flops profiler,
deepspeed.profiling.flops_profiler; it installs and imports on the CPU). None of them enters
convcalc's own environment.

torchvision's wheel is built against the CUDA torch, so its C++ ops (nms, roi_align) do not load
beside the CPU torch and `import torchvision` then fails while registering a fake kernel for
torchvision::nms. import_torchvision() imports it with those registrations skipped for ops that do
not exist; the models (torch.nn only) are untouched. ptflops imports torchvision.ops: each worker
imports torchvision that way first.

Per model, in eval mode, batch 1, float32, seed 0, each tool's call under torch.no_grad() (the tools
call model.eval() themselves too; torchinfo and thop enter no_grad themselves):
- "networks": the torchvision models the examples ship (examples/NAME.yaml: the key is NAME),
  torchvision.models.<builder>(weights=None) with default arguments, input 1x3x224x224;
- "layers": single torch.nn modules with their inputs (shape and dtype; the embedding's indices int64;
  multiheadattention gets query = key = value, its other arguments the defaults, so need_weights=True).
Each entry holds "params" (the numel of model.parameters()) and "tools": per tool exactly what the
tool returns, under the tool's own names, as ints where it gives numbers (all of them have an API
returning numbers: no printed string is parsed), or "error" (the exception, one line, cut at 300
characters) where it raised:
- flopcounter: torch.utils.flop_counter.FlopCounterMode(display=False).get_total_flops() as "flops"
  (2 per multiply-accumulate, matrix products and convolutions only) and get_flop_counts()["Global"]
  as "by_op" (aten op name -> FLOPs);
- torchinfo: summary(model, input_data=[...], mode="eval", verbose=0): total_mult_adds as
  "mult_adds", total_params as "params", and "by_type": the leaf layers' macs summed by class name;
- fvcore: FlopCountAnalysis(model, inputs).total() as "flops" (fvcore counts one flop per
  multiply-accumulate), by_operator() as "by_op", unsupported_ops() as "unsupported" (op -> times
  met: counted as 0), uncalled_modules() as "uncalled", fvcore.nn.parameter_count(model)[""] as
  "params";
- ptflops: get_model_complexity_info(model, input_res, input_constructor=..., as_strings=False,
  print_per_layer_stat=False, verbose=True), default backend "pytorch" (module hooks plus patched
  torch.nn.functional and tensor ops): "macs", "params", "messages" (the warnings it printed) and,
  where it failed (it prints the exception and returns None, None), "error";
- ptflops_aten: the same call with backend="aten" (ptflops' own dispatch mode over aten ops);
- thop: profile(model, inputs, report_missing=True, ret_layer_info=True): "macs", "params" (floats
  in thop, integral here), "by_type": the leaf modules' ops summed by class name, and "missing": the
  module classes thop has no rule for ("[WARN] Cannot find rule for ...": counted as zero). thop
  sums the parameters of the root's children only: a bare layer reports 0 parameters;
- calflops: calculate_flops(model, args=[...], print_results=False, output_as_string=False):
  "flops", "macs", "params";
- deepspeed: get_model_profile(model, args=[...], print_profile=False, as_string=False, warm_up=1):
  "flops", "macs", "params".
What failed (recorded, not fixed): calflops raises StopIteration on a module without parameters
(next(model.parameters()) for the device: the pools, relu); ptflops' pytorch backend cannot give
nn.MultiheadAttention three positional inputs (an input_constructor's dict goes as keyword
arguments, and its attention hook then unpacks an empty input: ValueError).

"variants" (the JSON's top-level "variants" says which models) runs every tool again under a setting
that changes what some of them see, kept in the entry's "variants": grad_enabled, the tool's call not
wrapped in torch.no_grad() (in eval mode under no_grad nn.MultiheadAttention takes PyTorch's fast
path, torch._native_multi_head_attention, which FlopCounterMode and the hooking tools do not see;
torchinfo and thop still enter no_grad themselves); onednn_off, torch.backends.mkldnn.flags(
enabled=False) (with oneDNN on, nn.LSTM runs aten.mkldnn_rnn, which FlopCounterMode counts as 0).
"errors" holds a tool that did not import (none here).

Each tool runs in worker processes of its own (the hooking tools patch torch.nn.functional); a new
worker takes over after a run that raised, since a tool that raised midway may leave torch patched
(calflops then counts every later call again). --fresh runs each model in a process of its own: it
gave the same file. Models are built fresh for each run; torch.set_num_threads(2), torch's default
backends otherwise (oneDNN on).
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

OUT = Path(__file__).with_name("peers_golden.json")
TOOLS = ["flopcounter", "torchinfo", "fvcore", "ptflops", "ptflops_aten", "thop", "calflops", "deepspeed"]
PACKAGES = ["torch", "torchvision", "torchinfo", "fvcore", "ptflops", "thop", "calflops", "transformers", "deepspeed",
            "numpy"]

# example file name -> torchvision.models builder
NETWORKS = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "vgg16": "vgg16",
    "alexnet": "alexnet",
    "mobilenetv2": "mobilenet_v2",
    "densenet121": "densenet121",
    "efficientnet_b0": "efficientnet_b0",
    "mobilenetv3_small": "mobilenet_v3_small",
    "shufflenetv2": "shufflenet_v2_x1_0",
    "regnety_400mf": "regnet_y_400mf",
    "vit_b_16": "vit_b_16",
}
NET_INPUT = [1, 3, 224, 224]

# name -> (torch.nn constructor as source text, inputs: [[shape, dtype], ...])
F32, I64 = "float32", "int64"
LAYERS = {
    "conv2d": ("nn.Conv2d(3, 64, 3, padding=1)", [[[1, 3, 32, 32], F32]]),
    "conv2d_nobias": ("nn.Conv2d(3, 64, 3, padding=1, bias=False)", [[[1, 3, 32, 32], F32]]),
    "conv2d_stride2": ("nn.Conv2d(3, 16, 7, stride=2, padding=3, bias=False)", [[[1, 3, 33, 33], F32]]),
    "conv2d_grouped": ("nn.Conv2d(32, 64, 3, padding=1, groups=4)", [[[1, 32, 16, 16], F32]]),
    "conv2d_depthwise": ("nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)", [[[1, 32, 16, 16], F32]]),
    "convtranspose2d": ("nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)", [[[1, 16, 8, 8], F32]]),
    "linear": ("nn.Linear(128, 64)", [[[1, 128], F32]]),
    "linear_nobias": ("nn.Linear(128, 64, bias=False)", [[[1, 128], F32]]),
    "linear_tokens": ("nn.Linear(64, 32)", [[[1, 10, 64], F32]]),
    "batchnorm2d": ("nn.BatchNorm2d(16)", [[[1, 16, 8, 8], F32]]),
    "maxpool2d": ("nn.MaxPool2d(3, stride=2, padding=1)", [[[1, 16, 16, 16], F32]]),
    "avgpool2d": ("nn.AvgPool2d(2)", [[[1, 16, 16, 16], F32]]),
    "adaptiveavgpool2d": ("nn.AdaptiveAvgPool2d(1)", [[[1, 16, 7, 7], F32]]),
    "relu": ("nn.ReLU()", [[[1, 16, 8, 8], F32]]),
    "lstm": ("nn.LSTM(32, 64)", [[[10, 1, 32], F32]]),
    "gru": ("nn.GRU(32, 64)", [[[10, 1, 32], F32]]),
    "multiheadattention": ("nn.MultiheadAttention(64, 4, batch_first=True)", [[[1, 10, 64], F32]] * 3),
    "layernorm": ("nn.LayerNorm(64)", [[[1, 10, 64], F32]]),
    "embedding": ("nn.Embedding(1000, 64)", [[[1, 10], I64]]),
}
KWARG_NAMES = {"multiheadattention": ["query", "key", "value"]}  # ptflops passes several inputs as kwargs
# Settings that change what some tools see, each run again on the models it affects ("variants"):
# grad_enabled: the tool's call not wrapped in torch.no_grad() (in eval mode under no_grad,
# nn.MultiheadAttention takes PyTorch's fast path, torch._native_multi_head_attention, which the
# hooking tools and FlopCounterMode do not see); onednn_off: torch.backends.mkldnn.flags(enabled=False)
# (with oneDNN on, nn.LSTM runs aten.mkldnn_rnn, which FlopCounterMode does not count).
VARIANTS = {"grad_enabled": ["vit_b_16", "multiheadattention"], "onednn_off": ["lstm", "gru"]}
SETTING = {"no_grad": True}


def no_grad():
    import torch
    return torch.no_grad() if SETTING["no_grad"] else contextlib.nullcontext()


def import_torchvision():
    """import torchvision; if its C++ ops do not load (a CUDA wheel beside the CPU torch), skip the
    fake-kernel registrations of the ops that do not exist, which otherwise fail the import."""
    import torch
    import torch.library
    original = torch.library.register_fake

    def register_fake(op, *args, **kwargs):
        if isinstance(op, str) and op.startswith("torchvision::"):
            try:
                torch._C._dispatch_find_schema_or_throw(op, "")
            except RuntimeError:
                return lambda fn=None, *a, **k: fn
        return original(op, *args, **kwargs)
    torch.library.register_fake = register_fake
    try:
        import torchvision
    finally:
        torch.library.register_fake = original
    return torchvision


def one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:300]


def as_number(v):
    """The tools' numbers as ints when integral (thop's are float64, FlopCounterMode's ints)."""
    if v is None or isinstance(v, int):
        return v
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def build(kind: str, name: str):
    """A fresh model in eval mode and its inputs (seed 0)."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    if kind == "networks":
        tv = import_torchvision()
        model = getattr(tv.models, NETWORKS[name])(weights=None)
        inputs = [torch.randn(*NET_INPUT)]
    else:
        src, specs = LAYERS[name]
        model = eval(src, {"nn": nn})
        inputs = []
        for shape, dtype in specs:
            if dtype == I64:
                inputs.append(torch.randint(0, 1000, shape))
            else:
                inputs.append(torch.randn(*shape))
        if name == "multiheadattention":
            inputs = [inputs[0]] * 3  # self-attention: query is key is value
    return model.eval(), inputs


def by_type_sum(pairs) -> dict:
    out: dict = {}
    for t, v in pairs:
        out[t] = out.get(t, 0) + as_number(v)
    return out


def run_tool(tool: str, name: str, model, inputs) -> dict:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = _run_tool(tool, name, model, inputs, printed)
    return rec


def _run_tool(tool, name, model, inputs, printed) -> dict:
    import torch
    if tool == "flopcounter":
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter, no_grad():
            model(*inputs)
        return {"flops": int(counter.get_total_flops()),
                "by_op": {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}}
    if tool == "torchinfo":
        from torchinfo import summary
        with no_grad():
            s = summary(model, input_data=list(inputs), mode="eval", verbose=0, device="cpu")
        return {"mult_adds": int(s.total_mult_adds), "params": int(s.total_params),
                "by_type": by_type_sum((l.class_name, l.macs) for l in s.summary_list if l.is_leaf_layer)}
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis, parameter_count
        fa = FlopCountAnalysis(model, tuple(inputs))
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        with no_grad():
            total = fa.total()
        return {"flops": int(total), "by_op": {k: int(v) for k, v in fa.by_operator().items()},
                "unsupported": {k: int(v) for k, v in fa.unsupported_ops().items()},
                "uncalled": sorted(fa.uncalled_modules()), "params": int(parameter_count(model)[""])}
    if tool in ("ptflops", "ptflops_aten"):
        from ptflops import get_model_complexity_info
        names = KWARG_NAMES.get(name)
        construct = (lambda res: dict(zip(names, inputs))) if names else (lambda res: inputs[0])
        with no_grad():
            macs, params = get_model_complexity_info(
                model, tuple(inputs[0].shape[1:]), input_constructor=construct, as_strings=False,
                print_per_layer_stat=False, verbose=True, ost=printed,
                backend="pytorch" if tool == "ptflops" else "aten")
        lines = [line.strip() for line in printed.getvalue().splitlines() if line.strip()]
        rec = {"macs": as_number(macs), "params": as_number(params),
               "messages": [m[:300] for m in dict.fromkeys(m for m in lines if m.startswith("Warning"))]}
        if macs is None:  # ptflops prints the exception (the traceback goes to stderr) and returns None
            failed = [i for i, m in enumerate(lines) if "not finished successfully" in m]
            rec["error"] = " ".join(lines[failed[0] + 1].split())[:300] if failed and failed[0] + 1 < len(lines) else ""
        return rec
    if tool == "thop":
        from thop import profile
        macs, params, layers = profile(model, inputs=tuple(inputs), report_missing=True, ret_layer_info=True)
        pairs = []

        def walk(d, prefix):
            for n, (ops, _, sub) in d.items():
                if sub:
                    walk(sub, prefix + n + ".")
                else:
                    pairs.append((type(model.get_submodule(prefix + n)).__name__, ops))
        walk(layers, "")
        missing = sorted({line.split("<class '")[1].split("'")[0] for line in printed.getvalue().splitlines()
                          if "Cannot find rule" in line and "<class '" in line})
        return {"macs": as_number(macs), "params": as_number(params), "by_type": by_type_sum(pairs),
                "missing": missing}
    if tool == "calflops":
        from calflops import calculate_flops
        with no_grad():
            flops, macs, params = calculate_flops(model, args=list(inputs), print_results=False,
                                                  print_detailed=False, output_as_string=False)
        return {"flops": as_number(flops), "macs": as_number(macs), "params": as_number(params)}
    if tool == "deepspeed":
        from deepspeed.profiling.flops_profiler import get_model_profile
        with no_grad():
            flops, macs, params = get_model_profile(model, args=list(inputs), print_profile=False,
                                                    detailed=False, as_string=False, warm_up=1)
        return {"flops": as_number(flops), "macs": as_number(macs), "params": as_number(params)}
    raise ValueError(tool)


def all_runs() -> list:
    """Every run of a tool, as "kind/name" or "kind/name/variant"."""
    runs = [f"{kind}/{name}" for kind, names in (("networks", NETWORKS), ("layers", LAYERS)) for name in names]
    return runs + [f"{'networks' if n in NETWORKS else 'layers'}/{n}/{v}" for v, names in VARIANTS.items() for n in names]


def worker(tool: str, out: str, runs: list) -> int:
    """Run one tool on the given runs, appending a JSON line {"run", "rec"} per run to out. Returns 3
    (stop) after a run that raised: a tool that raised midway may leave torch patched (calflops leaves
    its wrappers on torch.nn.functional and then counts every later call again), so the next run is
    made in a new process; 4 when the tool does not import."""
    import torch
    torch.set_num_threads(2)
    import_torchvision()  # before any tool: ptflops imports torchvision
    with open(out, "a") as f:
        if tool == "deepspeed":
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    import deepspeed.profiling.flops_profiler  # noqa: F401
            except Exception as e:  # deepspeed may not install or import everywhere: say why, go on
                f.write(json.dumps({"run": "*", "rec": {"error": one_line(e)}}) + "\n")
                return 4
        for run in runs:
            kind, name, variant = (run.split("/") + [None])[:3]
            t0 = time.time()
            SETTING["no_grad"] = variant != "grad_enabled"
            try:
                with torch.backends.mkldnn.flags(enabled=variant != "onednn_off"):
                    model, inputs = build(kind, name)
                    rec = run_tool(tool, name, model, inputs)
            except Exception as e:  # a tool that raises is recorded, never fatal
                rec = {"error": one_line(e)}
            f.write(json.dumps({"run": run, "rec": rec}) + "\n")
            f.flush()
            print(f"{tool} {run} {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
            if "error" in rec:
                return 3
    return 0


def run_tool_everywhere(tool: str, fresh: bool) -> tuple:
    """{run: record} of one tool over all_runs(), in worker processes (one per run with fresh, else a new
    one after each run that raised), and the tool's own error (it does not import) or None."""
    import tempfile
    todo, done = all_runs(), {}
    while todo:
        batch = todo[:1] if fresh else todo
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
            proc = subprocess.run([sys.executable, __file__, "--worker", tool, f.name, *batch])
            lines = [json.loads(line) for line in Path(f.name).read_text().splitlines() if line.strip()]
        for line in lines:
            if line["run"] == "*":
                return done, line["rec"]["error"]
            done[line["run"]] = line["rec"]
        todo = [r for r in todo if r not in done]
        if todo and (proc.returncode not in (0, 3) or not lines):  # it died inside a run: record it, go on
            done[todo[0]] = {"error": f"the worker process exited with status {proc.returncode}"}
            todo = todo[1:]
    return done, None


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = str(Version(version(p)))  # thop's metadata says 0.1.1-2209072238: pip's 0.1.1.post2209072238
        except PackageNotFoundError:
            out[p] = None
    return out


def main() -> None:
    args = sys.argv[1:]
    fresh = "--fresh" in args
    only = [a for a in args if a != "--fresh"]
    for t in only:
        if t not in TOOLS:
            sys.exit(f"unknown tool {t!r}: one of {', '.join(TOOLS)}")
    old = json.loads(OUT.read_text()) if only and OUT.exists() else None
    golden = {"versions": versions(), "tools": TOOLS, "variants": VARIANTS, "errors": {},
              "networks": {}, "layers": {}}
    for kind, names in (("networks", NETWORKS), ("layers", LAYERS)):
        for name in names:
            model, inputs = build(kind, name)
            entry = ({"torchvision": NETWORKS[name], "input": NET_INPUT} if kind == "networks" else
                     {"module": LAYERS[name][0], "inputs": LAYERS[name][1]})
            entry["params"] = sum(p.numel() for p in model.parameters())
            entry["tools"] = {}
            variants = [v for v, vnames in VARIANTS.items() if name in vnames]
            if variants:
                entry["variants"] = {v: {} for v in variants}
            golden[kind][name] = entry
    if old:  # keep the tools not run now
        golden["errors"] = {t: e for t, e in old.get("errors", {}).items() if t not in only}
        for kind in ("networks", "layers"):
            for name, entry in golden[kind].items():
                prev = old.get(kind, {}).get(name, {})
                entry["tools"] = {t: r for t, r in prev.get("tools", {}).items() if t not in only}
                for v in entry.get("variants", {}):
                    entry["variants"][v] = {t: r for t, r in prev.get("variants", {}).get(v, {}).items()
                                            if t not in only}
    for tool in only or TOOLS:
        t0 = time.time()
        done, error = run_tool_everywhere(tool, fresh)
        if error is not None:
            golden["errors"][tool] = error
        for run, rec in done.items():
            kind, name, variant = (run.split("/") + [None])[:3]
            entry = golden[kind][name]
            (entry["variants"][variant] if variant else entry["tools"])[tool] = rec
        print(f"{tool}: {time.time() - t0:.0f} s", flush=True)
    for kind in ("networks", "layers"):  # the tools in TOOLS order
        for entry in golden[kind].values():
            entry["tools"] = {t: entry["tools"][t] for t in TOOLS if t in entry["tools"]}
            for v, recs in entry.get("variants", {}).items():
                entry["variants"][v] = {t: recs[t] for t in TOOLS if t in recs}
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*TF32 acceleration.*")
    if len(sys.argv) >= 4 and sys.argv[1] == "--worker":
        sys.exit(worker(sys.argv[2], sys.argv[3], sys.argv[4:]))
    else:
        main()
