#!/usr/bin/env python3
"""Environment facts for the report, read without the shim: PyTorch and CUDA
versions, the device as PyTorch and NVML see it. Reads only; changes nothing."""

import argparse
import platform
import sys

import gv_common as gv


def torch_facts():
    import torch

    facts = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
             "cudnn": torch.backends.cudnn.version(), "cuda_available": torch.cuda.is_available()}
    if facts["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        facts.update(device=props.name, capability=f"{props.major}.{props.minor}",
                     multiprocessors=props.multi_processor_count, total_memory=props.total_memory,
                     mem_get_info={"free": free, "total": total}, device_count=torch.cuda.device_count())
    try:
        import torchvision
        facts["torchvision"] = torchvision.__version__
    except ImportError as e:
        facts["torchvision"] = f"missing: {e}"
    return facts


def nvml_facts():
    try:
        import pynvml
    except ImportError as e:
        return {"error": f"pynvml missing: {e}"}
    pynvml.nvmlInit()
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        mem = pynvml.nvmlDeviceGetMemoryInfo(h)
        facts = {"driver": _text(pynvml.nvmlSystemGetDriverVersion()), "name": _text(pynvml.nvmlDeviceGetName(h)),
                 "memory_total": mem.total, "memory_used": mem.used, "memory_free": mem.free}
        try:
            current, _pending = pynvml.nvmlDeviceGetMigMode(h)
            facts["mig_mode"] = current
        except pynvml.NVMLError as e:
            facts["mig_mode"] = f"n/a ({e})"
        return facts
    finally:
        pynvml.nvmlShutdown()


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--check-args", action="store_true")
    args = p.parse_args(argv)
    if args.check_args:
        print("envinfo.py: arguments ok:", " ".join(argv))
        return 0
    result = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}
    for key, fn in (("torch", torch_facts), ("nvml", nvml_facts)):
        try:
            result[key] = fn()
        except Exception as e:  # a fact we cannot read is reported, not fatal
            result[key] = {"error": f"{type(e).__name__}: {e}"}
    gv.write_json(args.out, result)
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
