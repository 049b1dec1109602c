#!/usr/bin/env python3
"""Export a PyTorch Stained Glass Transform to the sgt-proxy artifact format (sgt-onnx/1).

A worked, tested example of the recipe in src/sgt/README.md ("Exporting a trained transform").
The module below is a TOY with random weights, not a trained transform: replace `ToySgt` with your
own module (same forward signature) and keep the rest.

Writes into --out:
  transform.onnx          input_ids int64 [B,T], attention_mask int64 [B,T], noise float32 [B,T,H]
                          -> transformed_embeds float32 [B,T,H], plain_embeds float32 [B,T,H]
  embeddings.safetensors  tensor "weight" [V,H] (F32 or F16): the base model's input embedding table
  sgt.json                format sgt-onnx/1 manifest
  tokenizer.json, tokenizer_config.json   copied from --tokenizer-dir (must have a chat_template)
  (--reference FILE) a JSON reference: torch's outputs for a fixed padded batch, for tests

Needs only torch (tested with Debian's python3-torch 1.13) and the standard library: torch's
exporter serialises ONNX itself (the `onnx` package is not needed), and the safetensors file is
written by hand (8-byte header length, JSON header, raw little-endian data).

Usage:
  python3 scripts/export-sgt-example.py --out DIR --tokenizer-dir DIR [--hidden 16] [--seed 0]
      [--vocab V] [--max-sequence-length 4096] [--base-model NAME] [--embeddings-dtype f32|f16]
      [--opset 17] [--reference FILE]
"""
from __future__ import annotations

import argparse
import ctypes
import inspect
import json
import math
import os
import shutil
import sys
import tempfile
import warnings

import torch
from torch import nn
from torch.nn import functional as F

FORMAT = "sgt-onnx/1"
INPUT_NAMES = ["input_ids", "attention_mask", "noise"]
OUTPUT_NAMES = ["transformed_embeds", "plain_embeds"]
# B and T are dynamic; H is fixed (the loader checks it against hidden_size).
DYNAMIC_AXES = {
    "input_ids": {0: "batch", 1: "sequence"},
    "attention_mask": {0: "batch", 1: "sequence"},
    "noise": {0: "batch", 1: "sequence"},
    "transformed_embeds": {0: "batch", 1: "sequence"},
    "plain_embeds": {0: "batch", 1: "sequence"},
}
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"]


class ToySgt(nn.Module):
    """A toy SGT: embeds = table[ids]; out = embeds + mu + sigma * noise on real tokens, 0 on padding.

    mu and sigma depend on the token and on the causal mean of the sequence so far (masked), so the
    transform is sequence-dependent like a real one. The noise is an INPUT, never sampled inside
    forward(): the proxy feeds seeded N(0, 1) noise so that a request seed reproduces a result.
    """

    def __init__(self, vocab_size: int, hidden_size: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)

        def normal(*shape: int, std: float) -> torch.Tensor:
            return torch.randn(*shape, generator=generator) * std

        h = hidden_size
        # In a real export this is the base model's own input embedding table (model.get_input_embeddings()).
        self.embed = nn.Embedding(vocab_size, h)
        self.mu_token = nn.Linear(h, h)
        self.mu_context = nn.Linear(h, h, bias=False)
        self.sigma_token = nn.Linear(h, h)
        self.sigma_context = nn.Linear(h, h, bias=False)
        with torch.no_grad():
            self.embed.weight.copy_(normal(vocab_size, h, std=1 / math.sqrt(h)))
            for layer in (self.mu_token, self.mu_context, self.sigma_token, self.sigma_context):
                layer.weight.copy_(normal(h, h, std=1.0))
                if layer.bias is not None:
                    layer.bias.copy_(normal(h, std=0.1))
        # Buffers, not Python floats, so they are visible as graph constants.
        self.register_buffer("mu_scale", torch.tensor(0.5 / math.sqrt(h)))
        self.register_buffer("sigma_scale", torch.tensor(1.0 / math.sqrt(h)))

    def estimate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """(plain embeds, mask [B,T,1], mu, sigma), mu and sigma zero on padding."""
        plain = self.embed(input_ids)
        mask = attention_mask.unsqueeze(-1).to(plain.dtype)
        x = plain * mask
        # Causal mean over real tokens: padding neither counts nor contributes.
        count = torch.cumsum(mask, dim=1).clamp(min=1.0)
        context = torch.cumsum(x, dim=1) / count
        mu = torch.tanh(self.mu_token(x) + self.mu_context(context)) * self.mu_scale
        sigma = F.softplus(self.sigma_token(x) + self.sigma_context(context)) * self.sigma_scale
        return plain, mask, mu * mask, sigma * mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, noise: torch.Tensor):
        plain, mask, mu, sigma = self.estimate(input_ids, attention_mask)
        transformed = (plain + mu + sigma * noise) * mask
        return transformed, plain


def tokenizer_max_id(tokenizer_json: dict) -> int:
    """Largest id the tokenizer can produce: model vocab and added tokens (as the loader computes it)."""
    model = tokenizer_json.get("model") or {}
    vocab = model.get("vocab")
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        top = len(vocab) - 1
    elif isinstance(vocab, dict):
        top = max((v for v in vocab.values() if isinstance(v, int)), default=-1)
    else:
        raise SystemExit("tokenizer.json has no model.vocab")
    for token in tokenizer_json.get("added_tokens") or []:
        if isinstance(token.get("id"), int):
            top = max(top, token["id"])
    return top


def read_tokenizer(tokenizer_dir: str) -> int:
    for name in TOKENIZER_FILES:
        if not os.path.isfile(os.path.join(tokenizer_dir, name)):
            raise SystemExit(f"--tokenizer-dir {tokenizer_dir} has no {name}")
    with open(os.path.join(tokenizer_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if not config.get("chat_template"):
        raise SystemExit("tokenizer_config.json has no chat_template (the proxy renders chats with it)")
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        return tokenizer_max_id(json.load(f))


def write_safetensors(path: str, name: str, tensor: torch.Tensor, metadata: dict[str, str]) -> None:
    """One-tensor safetensors file, streamed in row chunks (a real table is GBs)."""
    dtypes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    tensor = tensor.detach().cpu().contiguous()
    nbytes = tensor.numel() * tensor.element_size()
    header = {"__metadata__": metadata, name: {"dtype": dtypes[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [0, nbytes]}}
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # data starts 8-byte aligned
    if sys.byteorder != "little":
        raise SystemExit("safetensors is little-endian; this writer only runs on little-endian machines")
    with open(path, "wb") as f:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        chunk = 4 << 20
        for start in range(0, nbytes, chunk):
            f.write(ctypes.string_at(tensor.data_ptr() + start, min(chunk, nbytes - start)))


def export_onnx(module: nn.Module, path: str, hidden: int, opset: int) -> None:
    # Example inputs: any B and T (dynamic_axes frees them); B > 1 and a padded row exercise the mask.
    b, t = 3, 7
    input_ids = torch.randint(0, module.embed.num_embeddings, (b, t), dtype=torch.int64)
    attention_mask = torch.ones(b, t, dtype=torch.int64)
    attention_mask[1, 4:] = 0
    noise = torch.zeros(b, t, hidden, dtype=torch.float32)
    extra = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # Newer torch (2.9+) defaults to the dynamo exporter, which needs the onnx and onnxscript
        # packages; this recipe uses the TorchScript exporter that torch 1.13 has.
        extra["dynamo"] = False
    with warnings.catch_warnings():
        # torch 1.13 warns this for constants it creates itself; harmless. TracerWarnings stay visible:
        # they mean Python control flow on tensor values was frozen into the graph.
        warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
        torch.onnx.export(
            module,
            (input_ids, attention_mask, noise),
            path,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes=DYNAMIC_AXES,
            opset_version=opset,
            do_constant_folding=True,
            export_params=True,
            **extra,
        )


def _fields(buf: bytes, start: int = 0, end: int | None = None):
    """(field number, wire type, value) of one protobuf message; length-delimited values as (start, end)."""
    pos, end = start, len(buf) if end is None else end

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    while pos < end:
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            yield field, wire, varint()
        elif wire == 1:
            pos += 8
        elif wire == 2:
            size = varint()
            yield field, wire, (pos, pos + size)
            pos += size
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def graph_signature(path: str) -> tuple[list[str], list[str]]:
    """Input and output names of an ONNX file's graph (ModelProto.graph = 7; GraphProto.input = 11,
    .output = 12; ValueInfoProto.name = 1), read without the onnx package."""
    with open(path, "rb") as f:
        buf = f.read()
    names: dict[int, list[str]] = {11: [], 12: []}
    for field, wire, graph in _fields(buf):
        if field != 7 or wire != 2:
            continue
        for g_field, g_wire, value_info in _fields(buf, *graph):
            if g_field not in names or g_wire != 2:
                continue
            for v_field, v_wire, name in _fields(buf, *value_info):
                if v_field == 1 and v_wire == 2:
                    names[g_field].append(buf[name[0]:name[1]].decode("utf-8"))
    return names[11], names[12]


def check_signature(path: str) -> None:
    """torch.onnx.export silently drops an input the graph does not use (a transform that ignores
    attention_mask, or samples its noise inside forward): the proxy would then refuse the artifact."""
    inputs, outputs = graph_signature(path)
    if inputs != INPUT_NAMES or outputs != OUTPUT_NAMES:
        raise SystemExit(
            f"exported graph has inputs {inputs} and outputs {outputs}; expected {INPUT_NAMES} and {OUTPUT_NAMES}. "
            "An input missing here is one forward() does not use (the exporter prunes it)."
        )


def reference(module: ToySgt, vocab: int, hidden: int, seed: int) -> dict:
    """torch's outputs for a fixed, right-padded batch of 2 (row 1 has 5 real tokens of 8)."""
    ids = [[151644, 872, 198, 9707, 1879, 151645, 198, 151644], [151644, 77091, 198, 40, 1079, 0, 0, 0]]
    input_ids = torch.tensor(ids, dtype=torch.int64) % vocab
    attention_mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3], dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed + 1)
    noise = torch.randn(2, 8, hidden, generator=generator) * attention_mask.unsqueeze(-1)
    with torch.no_grad():
        plain, _, mu, sigma = module.estimate(input_ids, attention_mask)
        transformed, _ = module(input_ids, attention_mask, noise)
        transformed_zero_noise, _ = module(input_ids, attention_mask, torch.zeros_like(noise))
    flat = lambda x: x.reshape(-1).tolist()  # noqa: E731
    return {
        "shape": [2, 8, hidden],
        "input_ids": input_ids.tolist(),
        "attention_mask": attention_mask.tolist(),
        "noise": flat(noise),
        "plain_embeds": flat(plain),
        "mu": flat(mu),
        "sigma": flat(sigma),
        "transformed_embeds": flat(transformed),
        "transformed_embeds_zero_noise": flat(transformed_zero_noise),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="artifact directory to write (an existing artifact there is replaced)")
    parser.add_argument("--tokenizer-dir", required=True, help="directory with tokenizer.json and tokenizer_config.json")
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab", type=int, help="rows of the table (default: the tokenizer's largest id + 1)")
    parser.add_argument("--max-sequence-length", type=int, default=4096)
    parser.add_argument("--base-model", default="sgt-example/torch-toy")
    parser.add_argument("--embeddings-dtype", choices=["f32", "f16"], default="f32")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (torch 1.13 exports up to 17)")
    parser.add_argument("--reference", help="also write torch's outputs for a fixed batch to this JSON file")
    args = parser.parse_args()

    max_id = read_tokenizer(args.tokenizer_dir)
    vocab = args.vocab if args.vocab is not None else max_id + 1
    if vocab <= max_id:
        raise SystemExit(f"--vocab {vocab} does not cover the tokenizer's id {max_id}; the loader would refuse the artifact")
    if args.hidden < 1 or args.max_sequence_length < 1:
        raise SystemExit("--hidden and --max-sequence-length must be positive")

    torch.manual_seed(args.seed)
    module = ToySgt(vocab, args.hidden, args.seed).eval()

    # Build in a sibling temp dir and rename: a failed export never leaves a half-written artifact.
    out = os.path.abspath(args.out)
    if os.path.exists(out) and not os.path.isfile(os.path.join(out, "sgt.json")) and (not os.path.isdir(out) or os.listdir(out)):
        raise SystemExit(f"--out {out} exists and is not an SGT artifact; not replacing it")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".sgt-export-", dir=parent)
    try:
        export_onnx(module, os.path.join(staging, "transform.onnx"), args.hidden, args.opset)
        check_signature(os.path.join(staging, "transform.onnx"))
        table = module.embed.weight.detach()
        if args.embeddings_dtype == "f16":
            table = table.to(torch.float16)
        write_safetensors(
            os.path.join(staging, "embeddings.safetensors"), "weight", table,
            {"format": "pt", "source": "scripts/export-sgt-example.py"},
        )
        for name in TOKENIZER_FILES:
            shutil.copyfile(os.path.join(args.tokenizer_dir, name), os.path.join(staging, name))
        manifest = {
            "format": FORMAT,
            "base_model": args.base_model,
            "hidden_size": args.hidden,
            "vocab_size": vocab,
            "max_sequence_length": args.max_sequence_length,
            "noise": "input",
            "inputs": INPUT_NAMES,
            "outputs": OUTPUT_NAMES,
            "exported_with": {"script": "scripts/export-sgt-example.py", "torch": torch.__version__, "opset": args.opset, "seed": args.seed},
        }
        with open(os.path.join(staging, "sgt.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    if args.reference:
        with open(args.reference, "w", encoding="utf-8") as f:
            json.dump(reference(module, vocab, args.hidden, args.seed), f)
    print(f"wrote {out}: V {vocab}, H {args.hidden}, opset {args.opset}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
