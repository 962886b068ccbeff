"""Decode-time fusion of a block's parallel projections: q, k, v into one matmul, gate and up into another
(bench/lora_gpu.py's ``fused_qkv`` generation variant; the engine option it was, with both groups,
lost 3.2% on an H100 and is kept as reports/gpu/2026-12-06-h100/fuse_projections.patch).

At batch 1 a decode step reads every weight once, one matrix-vector product per projection, and
each product is a kernel of its own. The projections that read the same input (attention's q, k and
v; a gated MLP's gate and up) can be one product over their concatenated weights: fewer, larger
kernels (at the Llama-3.1-8B shape k and v are 8 MB each, q 32 MB, gate and up 117 MB).

Hugging Face's attention and MLP call their projections one at a time (``self.q_proj(x)``,
``self.k_proj(x)``, ...), so each projection is replaced, in place, by a ``ProjectionSlice`` of one
shared ``FusedProjection``:

- in eager mode (prefill, the plain engine) the group's product is computed on the first slice's
  call and reused by the others for the same input tensor;
- in a compiled graph every slice writes the whole product and takes its part, and
  ``DedupeIdenticalNodes`` (an Inductor post-grad pass: Inductor's ``post_grad_custom_pre_pass``)
  merges the identical products into one.

Only plain ``nn.Linear`` projections are fused (the engine decodes merged weights); a group whose
layers differ in input size, dtype or device, or that is not all ``nn.Linear``, is left as it is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch._inductor.custom_graph_pass import CustomGraphPass

# Projections that read the same input, by the child names Llama, Qwen2, Mistral and Gemma use,
# under the name their fused layer takes.
PARALLEL_PROJECTIONS = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


class FusedProjection(nn.Module):
    """One linear layer over the concatenated weights of a group, with a one-entry memo for eager calls."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.cat([layer.weight.detach() for layer in layers]), requires_grad=False)
        biases = [layer.bias for layer in layers]
        self.bias = (
            None
            if all(b is None for b in biases)
            else nn.Parameter(
                torch.cat(
                    [b.detach() if b is not None else layer.weight.new_zeros(layer.out_features)
                     for b, layer in zip(biases, layers, strict=True)]
                ),
                requires_grad=False,
            )
        )  # fmt: skip
        self._memo: tuple[Any, Any] | None = None

    def product(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():  # pure: the graph pass merges the slices' products
            return nn.functional.linear(x, self.weight, self.bias)
        if self._memo is None or self._memo[0] is not x:
            self._memo = (x, nn.functional.linear(x, self.weight, self.bias))
        return self._memo[1]

    def release(self) -> None:
        self._memo = None


class ProjectionSlice(nn.Module):
    """Rows ``start:stop`` of a ``FusedProjection``'s output: what the replaced layer returned."""

    def __init__(self, fused: FusedProjection, start: int, stop: int, last: bool) -> None:
        super().__init__()
        # A plain attribute, not a submodule: the group's weights are registered once, in the parent.
        object.__setattr__(self, "fused", fused)
        self.start, self.stop, self.last = start, stop, last
        self.in_features, self.out_features = fused.weight.shape[1], stop - start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fused.product(x)[..., self.start : self.stop]
        if self.last and not torch.compiler.is_compiling():
            self.fused.release()  # the memo must not keep a step's activations alive
        return out


def fuse_parallel_projections(model: nn.Module, groups: tuple[str, ...] = tuple(PARALLEL_PROJECTIONS)) -> int:
    """Fuse every group named in ``groups`` (keys of ``PARALLEL_PROJECTIONS``) found in ``model``, in
    place; returns how many."""
    fused = 0
    for parent in list(model.modules()):
        for fused_name in groups:
            names = PARALLEL_PROJECTIONS[fused_name]
            layers = [getattr(parent, name, None) for name in names]
            if not _fusable(layers):
                continue
            group = FusedProjection(layers)
            parent.add_module(fused_name, group)
            start = 0
            for i, (name, layer) in enumerate(zip(names, layers, strict=True)):
                setattr(parent, name, ProjectionSlice(group, start, start + layer.out_features, i == len(names) - 1))
                start += layer.out_features
            fused += 1
    return fused


def _fusable(layers: list[Any]) -> bool:
    if not all(type(layer) is nn.Linear for layer in layers):
        return False
    first = layers[0].weight
    return all(
        layer.in_features == layers[0].in_features and layer.weight.dtype == first.dtype
        and layer.weight.device == first.device
        for layer in layers
    )  # fmt: skip


class DedupeIdenticalNodes(CustomGraphPass):
    """Common-subexpression elimination over Inductor's post-grad graph, in place: a node that
    repeats an earlier node's pure op on the same arguments is replaced by it. Random ops, ``empty``
    and mutating ops are kept, and two reads of a buffer are merged only where no mutation of it
    lies between them (torch's own ``fx_graph_cse`` rules, which returns a new graph instead)."""

    def __call__(self, graph: torch.fx.Graph) -> None:
        from torch._functorch.compile_utils import get_aten_target, rand_ops
        from torch._inductor.pattern_matcher import compute_mutation_region_ids, same_mutation_regions

        compute_mutation_region_ids(graph)
        outputs = set(next(iter(reversed(graph.nodes))).all_input_nodes)
        seen: dict[Any, torch.fx.Node] = {}
        for node in list(graph.nodes):
            if (
                node.op != "call_function"
                or node in outputs
                or node.is_impure()
                or get_aten_target(node) in rand_ops
                or get_aten_target(node) is torch.ops.aten.empty
            ):
                continue
            key = _node_key(node)
            if key is None:
                continue
            earlier = seen.get(key)
            if earlier is not None and same_mutation_regions(node, earlier):
                node.replace_all_uses_with(earlier)
                graph.erase_node(node)
            else:
                seen[key] = node

    def uuid(self) -> str:
        return "sanchaek.DedupeIdenticalNodes.v1"


def _node_key(node: torch.fx.Node) -> Any:
    """A hashable identity of (op, arguments), or None where an argument cannot be hashed."""
    key = (node.target, _frozen(node.args), _frozen(node.kwargs))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: Any) -> Any:
    # The type rides along so that 1 and 1.0 (equal, with one hash) stay different arguments.
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _frozen(v)) for k, v in value.items())))
    return (type(value).__name__, value)
