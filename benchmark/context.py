"""What a method or attack gets to work with: data, device, seeded randomness, training, and a trace."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .data import Batch, SplitData
from .models import I2IModel
from .progress import progress
from .training import OptimizerConfig, TrainRecipe, check_loss, make_optimizer, make_schedule, step

T = TypeVar("T")


class RunContext:
    """Shared by methods (``Method.unlearn``) and attacks (``Attack.attack_model``).

    - ``batches(part, batch_size)`` / ``endless(part, batch_size)``: degraded data on ``device``; parts are
      ``forget``, ``retain`` and ``train`` (their union).
    - ``generator()``: a fresh torch generator; the n-th call in a run always gets the same seed.
    - ``fit(model, part)``: the harness's training loop with the suite's recipe.
    - ``new_model()``: a freshly initialised model of the suite's architecture.
    - ``original``: a frozen copy of the model the run started from (θ0).
    - ``upstream(kind)``: the run's upstream models, built once and shared: ``original``, ``attack`` (when the suite has
      one), ``retrained`` (trained from scratch on the retain set), ``twin`` (trained like ``retrained`` with another
      seed: the noise floor of anything measured against the retrained model), ``original-twin`` and ``attack-twin``
      (the original and attack models' counterparts, for the noise floors against them) and ``shadow`` (a reference
      model for audits, trained with another seed on D_R and the split's ``population`` images of the forget
      classes). Treat them as read-only. ``retrained_model()`` is ``upstream('retrained')``; ``has_upstream(kind)``
      says whether this run has (and declared) that kind, e.g. ``attack`` only in suites with an attack.
    - ``cached_model(kind, key, build)``: a model an audit trains for itself (e.g. shadow models), stored in the
      artefact cache under ``kind`` and a key made of ``key`` and everything that determines a model trained from
      scratch on this split (data, task, model, seed); ``build()`` runs only when no stored copy exists, so every
      cell and every later run of the same seed shares it.
    - ``log(series, **values)`` appends a point to a trace series; ``record(**values)`` adds summary values. Both
      go into the result row.
    """

    def __init__(
        self,
        data: SplitData,
        *,
        seed: int,
        recipe: TrainRecipe,
        new_model: Callable[[], I2IModel],
        original: I2IModel | None = None,
        upstream: Callable[[str], I2IModel] | None = None,
        has_upstream: Callable[[str], bool] | None = None,
        cached_model: Callable[[str, dict[str, Any], Callable[[], I2IModel]], I2IModel] | None = None,
        show_progress: bool = True,
    ):
        self.data = data
        self.device = data.device
        self.seed = seed
        self.recipe = recipe
        self._new_model = new_model
        self.original = original
        self._upstream = upstream
        self._has_upstream = has_upstream
        self._cached_model = cached_model
        self.show_progress = show_progress
        self._generators = 0
        self.trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.summary: dict[str, Any] = {}

    def generator(self) -> torch.Generator:
        self._generators += 1
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self._generators)

    def batches(self, part: str, batch_size: int, shuffle: bool = True) -> Iterator[Batch]:
        return self.data.batches(part, batch_size, shuffle=shuffle, generator=self.generator() if shuffle else None)

    def endless(self, part: str, batch_size: int) -> Iterator[Batch]:
        return self.data.endless(part, batch_size, self.generator())

    def new_model(self) -> I2IModel:
        return self._new_model().to(self.device)

    def upstream(self, kind: str) -> I2IModel:
        if self._upstream is None:
            raise RuntimeError("no upstream models are available in this context")
        return self._upstream(kind)

    def has_upstream(self, kind: str) -> bool:
        return self._has_upstream is not None and self._has_upstream(kind)

    def cached_model(self, kind: str, key: dict[str, Any], build: Callable[[], I2IModel]) -> I2IModel:
        if self._cached_model is None:
            return build()
        return self._cached_model(kind, key, build)

    def retrained_model(self) -> I2IModel:
        return self.upstream("retrained")

    def progress(self, iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
        return progress(iterable, desc=desc, total=total, enabled=self.show_progress)

    def log(self, series: str, **values: Any) -> None:
        self.trace[series].append(values)

    def record(self, **values: Any) -> None:
        self.summary.update(values)

    def fit(
        self,
        model: I2IModel,
        part: str,
        *,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: OptimizerConfig | None = None,
        series: str | None = None,
        desc: str = "train",
    ) -> I2IModel:
        """Train ``model`` on ``part`` by gradient descent on its training loss (defaults: the suite's recipe).

        With ``series`` the mean loss of each epoch is logged to that trace series. On CUDA the loss runs under bf16
        autocast unless the recipe sets ``amp: false``; the recipe's ``ema`` applies only to training with the
        recipe's own optimiser (training from scratch).
        """
        use_ema = self.recipe.ema is not None and optimizer is None
        epochs = epochs or self.recipe.epochs
        batch_size = batch_size or self.recipe.batch_size
        optimizer_config = optimizer or self.recipe.optimizer
        parameters = [p for p in model.parameters() if p.requires_grad]
        opt = make_optimizer(parameters, optimizer_config)
        steps_per_epoch = -(-self.data.size(part) // batch_size)
        schedule = make_schedule(opt, optimizer_config, epochs * steps_per_epoch)
        model.train()
        amp = self.recipe.uses_amp(self.device)
        average = (
            AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(self.recipe.ema), use_buffers=True)
            if use_ema
            else None
        )
        bar = progress(total=epochs * steps_per_epoch, desc=desc, enabled=self.show_progress)
        global_step = 0
        with bar:
            for epoch in range(epochs):
                total = torch.zeros((), device=self.device)
                for batch in self.batches(part, batch_size):
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                        loss = model.training_loss(batch.inputs, batch.mask, batch.targets)
                    step(opt, loss, optimizer_config, parameters, schedule=schedule)
                    if average is not None:
                        average.update_parameters(model)
                    total += loss.detach().float()
                    global_step += 1
                    bar.update()
                mean = check_loss(total / steps_per_epoch, desc, global_step)
                bar.set_postfix(loss=f"{mean:.4g}")
                if series:
                    self.log(series, epoch=epoch, loss=mean)
        if average is not None:
            model.load_state_dict(average.module.state_dict())
        model.eval()
        return model
