"""The per-column gradient engine against the other ways to get K column gradients.

For K = 12, 50 and 200 columns (batch 128, VAE, paper-sized layers) it times, in one
run and interleaved round by round:

  plain       a plain ELBO step: loss.backward(), Adam step
  ours        Trainer.step(): per-column gradients at y + diagnostics + IMTL-G
  K passes    the same corrected step, per-column gradients from K backward passes
  TorchJD     the same step with torchjd.autojac.mtl_backward + jac_to_grad(IMTLG)

and prints each as a ratio to the plain step (median of rounds).

    python -m bench.bench_engine [--rounds 7] [--steps 20] [--columns 12 50 200]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from torchjd.aggregation import IMTLG
from torchjd.autojac import jac_to_grad, mtl_backward

from bench.bench_step import mixed_table
from core.gradients import ObjectiveGradients, backward_combined
from core.models.layers import gaussian_kl, gaussian_sample
from core.mtl import combine_gradients
from core.trainer import TrainConfig, Trainer


def plain_step(tr: Trainer):
    """A plain ELBO step on the trainer's model, written the ordinary way."""
    model, opt = tr.model, tr.optimizer
    batch = tr._batch(tr._next_batch_rows())
    mu, logvar = model.posterior(batch, tr.noise_generator)
    z = gaussian_sample(mu, logvar, None, tr.noise_generator)
    log_lik = model.likelihood.log_prob(model.head(model.trunk(z)), batch.targets, batch.mask)
    loss = -log_lik.sum(-1).mean() + gaussian_kl(mu, logvar).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def k_passes_step(tr: Trainer):
    """The corrected step with per-column gradients from K separate backward passes."""
    model, opt = tr.model, tr.optimizer
    forward = model.forward_tasks(tr._batch(tr._next_batch_rows()), tr.noise_generator)
    (objective,) = forward.objectives
    rep = forward.shared[0]
    grads = torch.stack(
        [torch.autograd.grad(loss, rep.cut, retain_graph=True)[0].flatten() for loss in objective.column_losses]
    )
    comb = combine_gradients(tr.methods[0][0], grads, objective.column_losses.detach())
    (d_outputs,) = torch.autograd.grad(objective.column_losses.sum(), forward.outputs, retain_graph=True)
    opt.zero_grad(set_to_none=True)
    backward_combined(
        forward, [ObjectiveGradients(objective, d_outputs, [grads])], [[comb.direction]], list(model.parameters())
    )
    opt.step()


def torchjd_step(tr: Trainer, aggregator):
    """The corrected step done by TorchJD: Jacobian of the column losses w.r.t. the
    shared parameters, aggregated by its IMTL-G."""
    model, opt = tr.model, tr.optimizer
    batch = tr._batch(tr._next_batch_rows())
    mu, logvar = model.posterior(batch, tr.noise_generator)
    z = gaussian_sample(mu, logvar, None, tr.noise_generator)
    y = model.trunk(z)
    losses = -model.likelihood.log_prob(model.head(y), batch.targets, batch.mask).mean(0)
    opt.zero_grad(set_to_none=True)
    shared = [p for p in model.parameters() if all(p is not h for h in model.head_parameters())]
    mtl_backward(list(losses), features=y, shared_params=shared, retain_graph=True)
    jac_to_grad(shared, aggregator)
    gaussian_kl(mu, logvar).mean().backward()
    opt.step()


def time_per_step(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--columns", type=int, nargs="+", default=[12, 50, 200])
    args = ap.parse_args(argv)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 128, VAE, "
        f"hidden 50 x 3 layers, latent K/2; median of {args.rounds} rounds x {args.steps} steps"
    )
    print(f"{'K':>5} {'plain ms':>9} {'ours':>7} {'K passes':>9} {'TorchJD':>8}   (ratios to plain)")
    for k in args.columns:
        df, schema = mixed_table(k)
        tr = Trainer(df, schema, TrainConfig(method="imtl-g", batch_size=128, cosine_every=10))
        variants = {
            "plain": functools.partial(plain_step, tr),
            "ours": functools.partial(lambda t: t.step().diagnostics, tr),
            "k": functools.partial(k_passes_step, tr),
            "jd": functools.partial(torchjd_step, tr, IMTLG()),
        }
        for fn in variants.values():  # warm-up
            fn()
        times = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                times[name].append(time_per_step(fn, args.steps))
        med = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"{k:>5} {med['plain'] * 1e3:>9.2f} {med['ours'] / med['plain']:>7.2f} "
            f"{med['k'] / med['plain']:>9.2f} {med['jd'] / med['plain']:>8.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
