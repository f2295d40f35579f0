"""The built-in plugins of unlearn-bench, each registered through the ``unlearn_bench`` entry-point group."""
