"""DReG: IWAE with doubly reparameterised encoder gradients (Tucker et al., 2019).

The decoder follows the IWAE gradient (weights w_s); the encoder follows only the
path through z with squared weights w_s^2 and the posterior's parameters held fixed
inside log q. The two are separate objectives, each with its own method instance:
the decoder's trains the trunk and heads, the encoder's trains the encoder only.
"""

from __future__ import annotations

import torch

from core.models.base import Batch, Objective, SharedRepresentation, TaskForward
from core.models.iwae import IWAE


class DReG(IWAE):
    NAME = "dreg"
    DESCRIPTION = "IWAE with doubly reparameterised encoder gradients"
    OBJECTIVES = ("decoder", "encoder")

    def forward_tasks(self, batch: Batch, generator: torch.Generator | None = None) -> TaskForward:
        y, y_cut, outputs, log_lik, log_prior_ratio, _, weights, bound, kl = self._weighted_terms(
            batch, generator, True
        )
        w = weights.unsqueeze(-1)
        w2 = (weights**2).unsqueeze(-1)
        decoder = Objective("decoder", -(w * log_lik).sum(0).mean(0), torch.zeros(()), params=self.decoder_parameters())
        encoder = Objective(
            "encoder",
            -(w2 * log_lik).sum(0).mean(0),
            -(weights**2 * log_prior_ratio).sum(0).mean(),
            params=self.encoder_parameters(),
            trains_heads=False,
        )
        return TaskForward(
            outputs=outputs,
            shared=[SharedRepresentation("y", y, y_cut, self.head.weight)],
            objectives=[decoder, encoder],
            loss=-bound.detach(),
            kl=kl,
        )
