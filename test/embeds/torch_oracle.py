"""Real-torch oracle for torch-interop.test.ts: one process, JSON in on stdin, JSON out on stdout.

- "load": base64 strings our writer produced, loaded exactly as vLLM does.
- "convert_f32_bits": float32 bit patterns, converted by torch to bfloat16 and float16.
- "saved": files torch.save wrote itself, for our reader.
"""
import base64
import io
import json
import os
import sys
import tempfile

import torch

BITS_VIEW = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}
MASK = {torch.float32: 0xFFFFFFFF, torch.bfloat16: 0xFFFF, torch.float16: 0xFFFF}


def bits(t):
    if t.dtype not in BITS_VIEW:
        return None
    flat = t.detach().contiguous().view(BITS_VIEW[t.dtype]).flatten().tolist()
    return [b & MASK[t.dtype] for b in flat]


def vllm_load(raw):
    return torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")


def describe(obj):
    if not isinstance(obj, torch.Tensor):
        return {"ok": False, "error": f"not a tensor: {type(obj).__name__}"}
    return {"ok": True, "dtype": str(obj.dtype).replace("torch.", ""), "shape": list(obj.shape), "bits": bits(obj)}


def load_ours(cases):
    out = {}
    for case in cases:
        try:
            out[case["id"]] = describe(vllm_load(base64.b64decode(case["b64"], validate=True)))
        except Exception as exc:  # the test reports what torch said
            out[case["id"]] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return out


def convert(f32_bits):
    t = torch.tensor([b - (1 << 32) if b >= 1 << 31 else b for b in f32_bits], dtype=torch.int32).view(torch.float32)
    return {"bfloat16": bits(t.to(torch.bfloat16)), "float16": bits(t.to(torch.float16))}


def sample(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(shape, generator=g) * 4
    flat = t.view(-1)
    specials = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 65504.0, 1e-7, -3.0e38, 1.0 + 2**-8]
    flat[: len(specials)] = torch.tensor(specials)
    return t.to(dtype)


def saved_cases():
    cases = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        name = str(dtype).replace("torch.", "")
        for shape in ((5, 7), (1, 5, 7)):
            cases[f"{name}-{list(shape)}"] = sample(shape, dtype, len(cases))
        base = torch.arange(24, dtype=torch.float32).reshape(4, 6).to(dtype)
        cases[f"{name}-row-slice"] = base[1:3]
        cases[f"{name}-col-slice"] = base[:, 1:3]
    cases["scalar"] = torch.tensor(1.5)
    cases["empty"] = torch.zeros(0, 4, dtype=torch.bfloat16)
    cases["large-dims"] = torch.ones(2, 40000, dtype=torch.float16)
    cases["requires-grad"] = torch.ones(2, 3, requires_grad=True)
    cases["float64"] = torch.ones(2, 3, dtype=torch.float64)
    cases["dict"] = {"a": torch.ones(2), "b": torch.zeros(3)}
    return cases


def save(obj, **kwargs):
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def describe_saved(obj, raw):
    entry = describe(obj) if isinstance(obj, torch.Tensor) else {"ok": False}
    entry["b64"] = base64.b64encode(raw).decode("ascii")
    try:
        vllm_load(raw)
        entry["torch_loads"] = True
    except Exception:
        entry["torch_loads"] = False
    return entry


def saved():
    out = {name: describe_saved(obj, save(obj)) for name, obj in saved_cases().items()}
    proto4 = torch.ones(2, 3)
    out["protocol4"] = describe_saved(proto4, save(proto4, pickle_protocol=4))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "my_embeds.pt")
        named = torch.arange(6, dtype=torch.float32).reshape(2, 3)
        torch.save(named, path)
        with open(path, "rb") as f:
            out["file-prefix"] = describe_saved(named, f.read())
    return out


def main():
    request = json.load(sys.stdin)
    json.dump(
        {
            "torch": torch.__version__,
            "loaded": load_ours(request["load"]),
            "converted": convert(request["convert_f32_bits"]),
            "saved": saved(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
