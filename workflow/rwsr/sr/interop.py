"""Generator weights other tools can load, and published weights to start training from.

`rwsr export --format basicsr` writes BasicSR's RRDBNet layout, `{"params_ema": state_dict}`, which
BasicSR, Real-ESRGAN, spandrel and chaiNNer load. `sr.init_weights` reads that layout (under
`params_ema`, `params`, or bare), the ESRGAN repository's two older ones (`RRDB_trunk...` and
the original `model.N...`), and rwsr's own generator files, so that training can fine-tune a
published ESRGAN, as the DSGAN paper did.

Our RRDBNet (rwsr.nn.rrdbnet) computes BasicSR's x4 RRDBNet under other parameter names:
    body.N.dense.M.convs.K   <->  body.N.rdb{M+1}.conv{K+1}
    upconvs.0, upconvs.1     <->  conv_up1, conv_up2
and conv_first, conv_body, conv_hr, conv_last alike. At x2 they differ: BasicSR pixel-unshuffles
its input (12 channels into conv_first) and keeps both upsampling convs, ours runs one upsampling
conv at the input's size; x2 weights carry over in neither direction, and both say so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from rwsr.errors import InputError
from rwsr.nn.rrdbnet import RRDBNet
from rwsr.train.checkpoint import save_checkpoint

log = logging.getLogger(__name__)

# spandrel 0.4 builds ESRGAN models with growth 32 whatever the file holds (checked by loading our export).
SPANDREL_GROWTH = 32

Rules = list[tuple[str, str | Callable[[re.Match[str]], str]]]


OURS_TO_BASICSR: Rules = [
    (r"^body\.(\d+)\.dense\.(\d)\.convs\.(\d)\.", lambda m: f"body.{m[1]}.rdb{int(m[2]) + 1}.conv{int(m[3]) + 1}."),
    (r"^upconvs\.(\d)\.", lambda m: f"conv_up{int(m[1]) + 1}."),
]  # ours count dense blocks, convs and upsampling convs from 0, BasicSR from 1
BASICSR_TO_OURS: Rules = [
    (r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", lambda m: f"body.{m[1]}.dense.{int(m[2]) - 1}.convs.{int(m[3]) - 1}."),
    (r"^conv_up(\d)\.", lambda m: f"upconvs.{int(m[1]) - 1}."),
]
# The ESRGAN repository's RRDBNet_arch.py (RRDB_ESRGAN_x4.pth, RRDB_PSNR_x4.pth) -> BasicSR's names.
TRUNK_TO_BASICSR: Rules = [
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv(\d)\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
]
# ESRGAN's original x4 network, one nn.Sequential: conv, the shortcut trunk (RRDBs then its conv),
# then upsample/conv/lrelu twice, the HR conv, lrelu, the last conv; its dense convs are conv+act pairs (.0).
OLD_ESRGAN_TO_BASICSR: Rules = [
    (r"^model\.0\.", "conv_first."),
    (r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"^model\.1\.sub\.\d+\.", "conv_body."),
    (r"^model\.3\.", "conv_up1."),
    (r"^model\.6\.", "conv_up2."),
    (r"^model\.8\.", "conv_hr."),
    (r"^model\.10\.", "conv_last."),
]


def rename(key: str, rules: Rules) -> str:
    """`key` under the first rule whose pattern it matches, unchanged when none does."""
    for pattern, replacement in rules:
        renamed, count = re.subn(pattern, replacement, key)
        if count:
            return renamed
    return key


def to_basicsr(model: nn.Module, source: str | Path = "the generator") -> dict[str, torch.Tensor]:
    """The state dict of our x4 RRDBNet under BasicSR's names."""
    if not isinstance(model, RRDBNet):
        raise InputError(f"{source}: a {type(model).__name__} generator has no BasicSR layout (only RRDBNet has)")
    if model.scale != 4:
        raise InputError(f"{source}: an x{model.scale} RRDBNet cannot be exported in BasicSR's layout: BasicSR's x2 "
                         f"pixel-unshuffles its input and upsamples twice, rwsr's upsamples once; only x4 matches")  # fmt: skip
    return {rename(key, OURS_TO_BASICSR): value.detach().cpu().clone() for key, value in model.state_dict().items()}


def export_generator(model_path: str | Path, output: str | Path, format: str = "basicsr") -> None:
    """Write the generator file `model_path` (from train-sr) as `{"params_ema": ...}` in BasicSR's layout."""
    from rwsr.sr.upscale import load_generator

    if format != "basicsr":
        raise InputError(f"--format {format!r}: the known format is basicsr")
    if Path(output).resolve() == Path(model_path).resolve():
        raise InputError(f"--output {output} is the --model file; choose another name (say generator_basicsr.pth)")
    model, _ = load_generator(model_path)
    state = to_basicsr(model, model_path)
    save_checkpoint(output, {"params_ema": state})
    arch = model.arch
    log.info("wrote %s; in BasicSR: RRDBNet(num_in_ch=%d, num_out_ch=%d, scale=4, num_feat=%d, num_block=%d, "
             "num_grow_ch=%d)", output, arch["in_channels"], arch["out_channels"], arch["features"],
             arch["blocks"], arch["growth"])  # fmt: skip
    if arch["growth"] != SPANDREL_GROWTH:
        log.warning("spandrel (and chaiNNer, which loads through it) assume num_grow_ch %d and will not load this "
                    "model's %d (config key sr.growth); BasicSR and Real-ESRGAN do, given num_grow_ch=%d",
                    SPANDREL_GROWTH, arch["growth"], arch["growth"])  # fmt: skip


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights in a .pth file: under `params_ema` (preferred, as Real-ESRGAN does), `params`,
    an rwsr generator file's `state_dict`, or a bare state dict."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config key 'sr.init_weights': file not found: {path}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors: no code runs
    except Exception as error:  # a foreign or damaged file fails in many ways inside torch.load
        raise InputError(f"{path}: not a PyTorch weights file ({type(error).__name__}: {error})") from error
    if isinstance(content, dict):
        for key in ("params_ema", "params", "state_dict"):
            if isinstance(content.get(key), dict):
                content = content[key]
                break
    if not isinstance(content, dict) or not content or not all(isinstance(v, torch.Tensor) for v in content.values()):
        shown = ", ".join(map(str, list(content)[:5])) if isinstance(content, dict) else type(content).__name__
        raise InputError(
            f"{path}: holds no state dict (expected params_ema, params or a bare state dict; found {shown})"
        )
    return content


def file_layout(state: dict[str, torch.Tensor]) -> str:
    """The RRDBNet size a BasicSR-named state dict holds, for error messages."""
    blocks = {int(m[1]) for key in state if (m := re.match(r"body\.(\d+)\.rdb", key))}
    try:
        return (f"in_channels {state['conv_first.weight'].shape[1]}, features {state['conv_first.weight'].shape[0]}, "
                f"blocks {len(blocks)}, growth {state['body.0.rdb1.conv1.weight'].shape[0]}")  # fmt: skip
    except KeyError:
        return "no RRDBNet that rwsr knows"


def load_init_weights(path: str | Path, model: RRDBNet) -> None:
    """Load the weights of a BasicSR/ESRGAN-layout file into `model`; a key or shape that does not fit
    is an error naming the file, the first such key, and the network size the file holds."""
    found = read_state_dict(path)
    basicsr = {rename(rename(key, OLD_ESRGAN_TO_BASICSR), TRUNK_TO_BASICSR): value for key, value in found.items()}
    basicsr_name = dict(zip(basicsr, found))  # BasicSR name -> the file's own, for the messages
    ours = {rename(key, BASICSR_TO_OURS): key for key in basicsr}
    arch = model.arch
    wanted = f"features {arch['features']}, blocks {arch['blocks']}, growth {arch['growth']}, x{arch['scale']}"
    holds = f"the file holds {file_layout(basicsr)}"
    hint = (" (BasicSR's x2 and x1 models pixel-unshuffle their input; rwsr's x2 RRDBNet does not)"
            if "conv_first.weight" in basicsr and basicsr["conv_first.weight"].shape[1] != arch["in_channels"] else "")  # fmt: skip
    state = {}
    for key, expected in model.state_dict().items():
        if key not in ours:
            raise InputError(f"{path}: no weights for {rename(key, OURS_TO_BASICSR)}, which the generator ({wanted}) "
                             f"needs; {holds}; set sr.features/blocks/growth to match{hint}")  # fmt: skip
        tensor = basicsr[ours[key]]
        if tensor.shape != expected.shape:
            raise InputError(f"{path}: {basicsr_name[ours[key]]} has shape {tuple(tensor.shape)} but the generator "
                             f"({wanted}) needs {tuple(expected.shape)}; {holds}; set sr.features/blocks/growth "
                             f"to match{hint}")  # fmt: skip
        state[key] = tensor
    extra = [basicsr_name[ours[key]] for key in ours if key not in state]
    if extra:
        raise InputError(f"{path}: {extra[0]} (and {len(extra) - 1} more) has no place in the generator ({wanted}); "
                         f"{holds}; set sr.features/blocks/growth to match{hint}")  # fmt: skip
    model.load_state_dict(state)
    log.info("generator starts from %s (%d tensors)", path, len(state))
