"""The latent samplers: EM against a planted mixture and scipy's densities; the mixture sampler
against the prior on a table whose codes do not fill the prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from core.models import Batch
from core.quality import quality
from core.samplers import GaussianMixture, fit_mixture, fit_posterior_mixture, sample_rows
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer


def test_em_recovers_a_planted_mixture():
    rng = np.random.default_rng(0)
    n = 4000
    first = rng.random(n) < 0.3
    points = np.where(
        first[:, None], rng.normal([-3.0, 1.0], [0.5, 1.0], (n, 2)), rng.normal([2.0, -1.0], [1.0, 0.3], (n, 2))
    )
    fit = fit_mixture(torch.from_numpy(points), 2, torch.Generator().manual_seed(0))
    order = torch.argsort(fit.means[:, 0])
    assert fit.weights[order].numpy() == pytest.approx([0.3, 0.7], abs=0.03)
    assert fit.means[order].numpy() == pytest.approx(np.array([[-3.0, 1.0], [2.0, -1.0]]), abs=0.1)
    assert fit.variances[order].sqrt().numpy() == pytest.approx(np.array([[0.5, 1.0], [1.0, 0.3]]), abs=0.06)


def test_mixture_density_matches_scipy():
    mixture = GaussianMixture(
        torch.tensor([0.25, 0.75], dtype=torch.float64),
        torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64),
        torch.tensor([[1.0, 4.0], [0.25, 1.0]], dtype=torch.float64),
    )
    points = np.array([[0.1, 0.2], [2.5, -1.5], [-3.0, 4.0]])
    expected = np.log(
        sum(
            w * norm.pdf(points[:, 0], m[0], np.sqrt(v[0])) * norm.pdf(points[:, 1], m[1], np.sqrt(v[1]))
            for w, m, v in zip(mixture.weights.numpy(), mixture.means.numpy(), mixture.variances.numpy(), strict=True)
        )
    )
    assert mixture.log_density(torch.from_numpy(points)).numpy() == pytest.approx(expected, rel=1e-10)
    draws, component = mixture.draw(20000, torch.Generator().manual_seed(1))
    assert (component == 1).double().mean().item() == pytest.approx(0.75, abs=0.01)
    assert draws[component == 1].mean(0).numpy() == pytest.approx([2.0, -1.0], abs=0.02)


def test_the_mixture_sampler_is_closer_to_held_out_rows_than_the_prior():
    table, schema = make_synthetic(1500, seed=0)
    trainer = Trainer(table, schema, TrainConfig(seed=0, latent=4))
    for _ in range(40 * trainer.steps_per_epoch):
        trainer.step()

    def batch(split: str) -> Batch:
        rows = torch.as_tensor(trainer.splits[split])
        return Batch(trainer.inputs[rows], trainer.model_mask[rows], trainer.targets[rows])

    mixture = fit_posterior_mixture(trainer.model, batch("train"), batch("val"), seed=0)
    test = table.iloc[trainer.splits["test"]]
    scores = {
        name: quality(
            test, sample_rows(trainer.model, trainer.likelihood, trainer.encoder, 2000, 0, m), schema.features
        )
        for name, m in (("prior", None), ("mixture", mixture))
    }
    assert scores["mixture"].column_shapes > scores["prior"].column_shapes
    assert scores["mixture"].column_shapes > 0.85
