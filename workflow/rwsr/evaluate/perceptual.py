"""LPIPS (Zhang et al., CVPR 2018), the perceptual metric of the NTIRE real-world SR challenges.

The `lpips` package ships the calibrated linear layers (v0.1, AlexNet) inside its wheel, but its
AlexNet backbone would come from torchvision's download. Here the backbone goes through
rwsr.nn.pretrained's policy instead (auto | imagenet | random | path, torchvision's
alexnet-owt-7be5be79.pth in the torch cache), like VGG19 and the FID Inception. The calibrated
layers only mean something on top of the ImageNet features they were fitted to, so a random
backbone gives no score at all (an empty column), never a number that looks like one.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torchvision

from rwsr.errors import InputError
from rwsr.nn.pretrained import BackboneWeights, resolve_weights

ALEXNET_URL = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url


def alexnet_state_for_lpips(state: dict[str, torch.Tensor], net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """torchvision's AlexNet keys (`features.3.weight`) -> lpips's sliced ones (`slice2.3.weight`):
    lpips keeps torchvision's layer index inside each slice."""
    mapped = {}
    for name in net.state_dict():
        _, index, param = name.split(".")
        mapped[name] = state[f"features.{index}.{param}"]
    return mapped


class LPIPSMetric:
    """LPIPS-Alex with a policy-resolved backbone; `model` is None when the backbone is random.

    Args:
        weights: a choice for rwsr.nn.pretrained.resolve_weights (auto | imagenet | random | path);
            a file must hold torchvision's AlexNet state dict.
        config_key: the config key that holds `weights`, named in errors and warnings.
    """

    def __init__(self, weights: str = "auto", config_key: str = "evaluate.lpips_weights"):
        import lpips

        self.weights: BackboneWeights = resolve_weights(weights, ALEXNET_URL, "LPIPS AlexNet", config_key)
        self.model = None
        if self.weights.is_random:
            return
        # pnet_rand: lpips builds the bare AlexNet structure (no download); its own prints and
        # torchvision's deprecation warnings about `pretrained=` say nothing a user can act on.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        try:
            model.net.load_state_dict(alexnet_state_for_lpips(self.weights.state_dict, model.net))
        except (KeyError, RuntimeError) as error:
            raise InputError(
                f"config key '{config_key}': {self.weights.location} is not a torchvision AlexNet state dict: "
                f"{str(error).splitlines()[0]}"
            ) from error
        self.model = model.eval().requires_grad_(False)

    def describe(self) -> str:
        return self.weights.describe()

    @torch.inference_mode()
    def score(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], device: torch.device) -> float:
        """Mean LPIPS over (SR, ground truth) pairs of HxWx3 [0, 1] images, each whole; NaN when the
        backbone is random."""
        if self.model is None:
            return float("nan")
        model = self.model.to(device)
        values = []
        for sr, gt in pairs:
            a, b = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].to(device) for x in (sr, gt))
            values.append(float(model(a, b, normalize=True)))
        return float(np.mean(values))
