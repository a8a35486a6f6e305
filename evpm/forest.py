"""A trained XGBoost forest evaluated with numpy, for the few-row requests of the API.

XGBoost's own `inplace_predict` costs ~0.3-1.5 ms per call whatever the row count (call set-up,
and the model falling out of the CPU cache between requests); walking all trees level by level
with numpy costs a few tens of microseconds for one row. The result is XGBoost's, to float32
rounding: same trees, same thresholds, same missing-value directions (a test checks it on
thousands of rows). Large batches still go to XGBoost.
"""

from __future__ import annotations

import json
from collections import deque

import numpy as np

SMALL_BATCH = 64  # rows up to which the numpy walk beats XGBoost


class CompiledForest:
    """The trees of one or more models as one node table, walked at once.

    A model is a group of boosters whose outputs are averaged (an ensemble's members; one
    booster for a single model). `predict` returns one column per group: several models cost
    one walk, not one each.

    A node is three int32 (12 bytes, so the whole ensemble stays small enough for the CPU
    caches): the slot of the row it reads, its threshold (a leaf: its value) as float32 bits,
    and its left child, the right child being the next node. One level of the walk is then
    `left + (value >= threshold)` for every tree at once. Missing values need no test of their
    own: the row is laid out twice, NaN as −inf in the slots of nodes whose missing values go
    left and as +inf in those whose missing values go right; a leaf reads a last slot of −inf
    and so never moves on.
    """

    def __init__(self, groups: list[list], feature_names: list[str]) -> None:
        index = {name: i for i, name in enumerate(feature_names)}
        width = len(feature_names)
        self.width = width
        leaf_slot = 2 * width
        slots: list[int] = []
        thresholds: list[float] = []
        lefts: list[int] = []
        roots, sizes, depth = [], [], 0
        for boosters in groups:
            size = 0
            for booster in boosters:
                # Averaging the members = summing every member's leaves scaled by 1 / members.
                scale = 1.0 / len(boosters)
                for text in booster.get_dump(dump_format="json"):
                    root = len(slots)
                    roots.append(root)
                    slots.append(0)
                    thresholds.append(0.0)
                    lefts.append(0)
                    queue = deque([(json.loads(text), root, 0)])
                    while queue:  # breadth first: a tree's top levels share cache lines
                        node, at, level = queue.popleft()
                        if "leaf" in node:
                            slots[at], thresholds[at], lefts[at] = \
                                leaf_slot, node["leaf"] * scale, at
                            depth = max(depth, level)
                            continue
                        column = index[node["split"]]
                        goes_left = node["missing"] == node["yes"]
                        left = len(slots)
                        slots[at] = column if goes_left else width + column
                        thresholds[at] = node["split_condition"]
                        lefts[at] = left
                        slots += [0, 0]
                        thresholds += [0.0, 0.0]
                        lefts += [0, 0]
                        children = {child["nodeid"]: child for child in node["children"]}
                        queue.append((children[node["yes"]], left, level + 1))
                        queue.append((children[node["no"]], left + 1, level + 1))
                    size += 1
            sizes.append(size)
        self.group_starts = np.cumsum([0, *sizes[:-1]])
        self.depth = depth
        self.roots = np.array(roots, dtype=np.int32)
        self.nodes = np.empty((len(slots), 3), dtype=np.int32)
        self.nodes[:, 0] = slots
        self.nodes[:, 1] = np.array(thresholds, dtype=np.float32).view(np.int32)
        self.nodes[:, 2] = lefts

    def _row(self, row: np.ndarray) -> np.ndarray:
        """The row as the nodes read it: NaN as −inf, then as +inf, then a leaf's −inf."""
        missing = np.isnan(row)
        out = np.empty(2 * self.width + 1, dtype=np.float32)
        out[:self.width] = np.where(missing, -np.inf, row)
        out[self.width:-1] = np.where(missing, np.inf, row)
        out[-1] = -np.inf
        return out

    def predict(self, matrix: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """Per row and model: its boosters' mean leaf sum plus the model's base margin.

        `margins` has one column per model (rows × models); so has the result (XGBoost's raw
        output, averaged over a model's members).
        """
        x = matrix.astype(np.float32)
        out = np.empty((len(x), len(self.group_starts)))
        nodes = self.nodes
        for r in range(len(x)):
            row = self._row(x[r])
            index = self.roots
            for _ in range(self.depth):
                block = nodes.take(index, axis=0)
                index = block[:, 2] + (row.take(block[:, 0]) >= block[:, 1].view(np.float32))
            leaves = nodes[index, 1].view(np.float32).astype(np.float64)
            out[r] = np.add.reduceat(leaves, self.group_starts)
        return out + margins
