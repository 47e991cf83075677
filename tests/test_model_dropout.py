"""hscnet.model.dropout: nn.Dropout's contract with 16-bit masks on the CPU."""

from __future__ import annotations

import pytest
import torch

from hscnet.model.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drops_at_rate_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(400_000)
    out = Dropout(p)(x)
    dropped = (out == 0).float().mean().item()
    # 400k Bernoulli draws: the standard error of the rate is below 1e-3
    assert dropped == pytest.approx(p, abs=4e-3)
    assert out.mean().item() == pytest.approx(1.0, abs=1e-2)
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)), rtol=1e-4)


def test_every_16_bit_lane_is_used_alike():
    torch.manual_seed(0)
    out = Dropout(0.5)(torch.ones(4 * 100_000)).view(-1, 4)
    lanes = (out == 0).float().mean(0)  # each lane of a 64-bit draw
    assert torch.allclose(lanes, torch.full((4,), 0.5), atol=1e-2), lanes


def test_gradient_is_the_mask_and_eval_is_identity():
    torch.manual_seed(0)
    layer = Dropout(0.3)
    x = torch.randn(64, 33, requires_grad=True)  # odd size: the mask covers a partial draw
    out = layer(x)
    out.sum().backward()
    scale = 1 / (1 - 0.3)
    assert torch.allclose(x.grad, torch.where(out == 0, 0.0, scale), rtol=1e-4)
    assert torch.allclose(out, x.detach() * x.grad)
    layer.eval()
    assert layer(x) is x


def test_seeded_and_edge_rates():
    x = torch.randn(1000)
    torch.manual_seed(3)
    first = Dropout(0.2)(x)
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.2)(x), first)
    assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x))
    assert torch.equal(Dropout(0.0)(x), x)
