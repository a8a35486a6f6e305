"""A trained XGBoost forest evaluated with numpy, for the few-row requests of the API.

XGBoost's own `inplace_predict` costs ~0.3-1.5 ms per call whatever the row count (call set-up,
and the model falling out of the CPU cache between requests); walking all trees level by level
with numpy costs a few tens of microseconds for one row. The result is XGBoost's, to float32
rounding: same trees, same thresholds, same missing-value directions (a test checks it on
thousands of rows). Large batches still go to XGBoost.
"""

from __future__ import annotations

import json

import numpy as np

SMALL_BATCH = 64  # rows up to which the numpy walk beats XGBoost


class CompiledForest:
    """The trees of one or more models as node arrays, walked at once.

    A model is a group of boosters whose outputs are averaged (an ensemble's members; one
    booster for a single model). `predict` returns one column per group: several models cost
    one walk, not one each.
    """

    def __init__(self, groups: list[list], feature_names: list[str]) -> None:
        index = {name: i for i, name in enumerate(feature_names)}
        trees, sizes, scales = [], [], []
        for boosters in groups:
            size = 0
            for booster in boosters:
                dump = booster.get_dump(dump_format="json")
                trees += [json.loads(t) for t in dump]
                # Averaging the members = summing every member's leaves scaled by 1 / members.
                scales += [1.0 / len(boosters)] * len(dump)
                size += len(dump)
            sizes.append(size)
        self.group_starts = np.cumsum([0, *sizes[:-1]])
        flat = [self._flatten(tree) for tree in trees]
        # Trees laid end to end (no padding) in 4-byte arrays: the whole model stays small
        # enough to remain in the CPU cache between requests.
        sizes_nodes = np.array([max(nodes) + 1 for nodes in flat])
        offsets = np.concatenate([[0], np.cumsum(sizes_nodes)[:-1]])
        total = int(sizes_nodes.sum())
        f_feature = np.zeros(total, dtype=np.int32)
        f_threshold = np.zeros(total, dtype=np.float32)
        f_left = np.zeros(total, dtype=np.int32)
        f_right = np.zeros(total, dtype=np.int32)
        f_missing_left = np.zeros(total, dtype=bool)
        self.f_value = np.zeros(total, dtype=np.float64)
        depth = 0
        for offset, nodes, scale in zip(offsets.tolist(), flat, scales, strict=True):
            for node_id, node in nodes.items():
                g = offset + node_id
                if "leaf" in node:
                    # A leaf points to itself, so extra levels of the walk stay on it.
                    f_left[g] = f_right[g] = g
                    self.f_value[g] = node["leaf"] * scale
                else:
                    f_feature[g] = index[node["split"]]
                    f_threshold[g] = np.float32(node["split_condition"])
                    f_left[g] = offset + node["yes"]
                    f_right[g] = offset + node["no"]
                    f_missing_left[g] = node["missing"] == node["yes"]
                depth = max(depth, node["depth"])
        self.depth = depth + 1
        self.roots = offsets.astype(np.int32)
        # The fields of a node side by side in one int32 row (16 bytes): feature | missing
        # flag << 16, threshold bits, left, right. One cache line per node visited, not one
        # per array — in a busy server the model is never warm in the cache.
        self.nodes = np.empty((total, 4), dtype=np.int32)
        self.nodes[:, 0] = f_feature | (f_missing_left.astype(np.int32) << 16)
        self.nodes[:, 1] = f_threshold.view(np.int32)
        self.nodes[:, 2] = f_left
        self.nodes[:, 3] = f_right

    @staticmethod
    def _flatten(tree: dict) -> dict[int, dict]:
        nodes, stack = {}, [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            nodes[node["nodeid"]] = {**node, "depth": depth}
            for child in node.get("children", []):
                stack.append((child, depth + 1))
        return nodes

    def predict(self, matrix: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """Per row and model: its boosters' mean leaf sum plus the model's base margin.

        `margins` has one column per model (rows × models); so has the result (XGBoost's raw
        output, averaged over a model's members).
        """
        x = matrix.astype(np.float32)
        out = np.empty((len(x), len(self.group_starts)))
        nodes = self.nodes
        for r in range(len(x)):
            row = x[r]
            row_nan = np.isnan(row)
            index = self.roots
            for _ in range(self.depth):
                block = nodes.take(index, axis=0).T  # 4 × trees, each row contiguous
                feature = block[0] & 0xFFFF
                go_left = np.where(row_nan.take(feature), block[0] >= 0x10000,
                                   row.take(feature) < block[1].view(np.float32))
                index = np.where(go_left, block[2], block[3])
            out[r] = np.add.reduceat(self.f_value.take(index), self.group_starts)
        return out + margins
