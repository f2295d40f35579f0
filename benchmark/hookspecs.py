"""The hooks a plugin implements. These docstrings are the plugin author's reference.

A plugin is a module (or any object) with functions decorated by ``unlearn_bench.hookimpl``; a package makes it
known through the entry-point group ``unlearn_bench``::

    [project.entry-points.unlearn_bench]
    my-method = "my_package.my_module"

Every hook receives ``register``: call it once per class. Registration checks the class (right base class, a
unique ``name``, typed ``Params``; metrics must declare ``higher_is_better``) and records which plugin and which
distribution version it came from.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("unlearn_bench")
hookimpl = pluggy.HookimplMarker("unlearn_bench")


@hookspec
def register_datasets(register):
    """Register :class:`unlearn_bench.datasets.Dataset` subclasses: labelled images from a local root."""


@hookspec
def register_tasks(register):
    """Register :class:`unlearn_bench.tasks.Task` subclasses: degradations such as centre inpainting."""


@hookspec
def register_models(register):
    """Register :class:`unlearn_bench.models.I2IModel` subclasses: image-to-image models with an encoder/decoder
    split and a training loss."""


@hookspec
def register_methods(register):
    """Register :class:`unlearn_bench.methods.Method` subclasses: unlearning methods."""


@hookspec
def register_attacks(register):
    """Register :class:`unlearn_bench.attacks.Attack` subclasses: attacks and audits such as the poisoning audit."""


@hookspec
def register_metrics(register):
    """Register :class:`unlearn_bench.metrics.Metric` subclasses: numbers computed from restored images and a
    reference."""


@hookspec
def register_extractors(register):
    """Register :class:`unlearn_bench.features.Extractor` subclasses: feature extractors (Inception, CLIP, ...)
    that feature metrics name in their ``extractor`` parameter."""


@hookspec
def register_executors(register):
    """Register :class:`unlearn_bench.executors.Executor` subclasses: where a suite's cells run (``unlearn-bench run
    --executor NAME``)."""
