"""TFLite sparse tensors to dense numpy arrays (what the DENSIFY op does, done once at build time).

Format (tensorflow/lite/schema/schema.fbs, `SparsityParameters` and `DimensionMetadata`): the stored values
are the leaves of a tree walked in `traversal_order`. For an n-dimensional tensor with a k-dimensional
block, the order has n + k entries: a permutation of the tensor's dims, then of the block dims n..n+k-1;
`block_map[i]` names the tensor dim that block dim n+i subdivides. Each level of the walk is DENSE (every
index 0..dense_size-1 present, child position = parent * dense_size + i) or SPARSE_CSR (the children of
parent position p are positions segments[p] .. segments[p+1]-1, whose indices are array_indices[pos]).
The leaf positions index the values buffer. A blocked dim's coordinate is block_index * block_size +
index_in_block, where block_size is the block level's dense_size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError


@dataclass
class DimMeta:
    """One level of the traversal: `dense` with `dense_size`, or CSR with `segments` and `indices`."""

    dense: bool
    dense_size: int = 0
    segments: np.ndarray | None = None  # (P + 1,) int64, P = number of parent positions
    indices: np.ndarray | None = None  # (nnz_at_this_level,) int64


def densify(
    values: np.ndarray,
    shape: tuple[int, ...],
    traversal_order: list[int],
    block_map: list[int],
    dims: list[DimMeta],
) -> np.ndarray:
    """Expand sparse `values` (V,) into the dense array of `shape`; zeros where nothing is stored."""
    n = len(shape)
    if len(traversal_order) != len(dims) or len(traversal_order) != n + len(block_map):
        raise ModelError("sparse tensor metadata is inconsistent (traversal order, block map, dims)")
    pos = np.zeros(1, dtype=np.int64)
    coords: list[np.ndarray] = []  # per level, the index along that level for each current position
    for meta in dims:
        if meta.dense:
            size = int(meta.dense_size)
            step = np.arange(size, dtype=np.int64)
            coords = [np.repeat(c, size) for c in coords]
            coords.append(np.tile(step, len(pos)))
            pos = (pos[:, None] * size + step[None, :]).ravel()
        else:
            seg = meta.segments.astype(np.int64)
            idx = meta.indices.astype(np.int64)
            if len(pos) and int(pos.max()) + 1 >= len(seg):
                raise ModelError("sparse tensor segments are shorter than the tree above them")
            start = seg[pos]
            count = seg[pos + 1] - start
            parent = np.repeat(np.arange(len(pos)), count)
            first = np.cumsum(count) - count  # where each parent's children begin in the new arrays
            child = start[parent] + (np.arange(len(parent)) - first[parent])
            coords = [c[parent] for c in coords]
            coords.append(idx[child])
            pos = child
    if len(pos) and int(pos.max()) >= len(values):
        raise ModelError("sparse tensor has fewer values than its metadata describes")

    level_of = {d: lvl for lvl, d in enumerate(traversal_order)}
    index = []
    for d in range(n):
        c = coords[level_of[d]]
        if d in block_map:
            blk_level = level_of[n + block_map.index(d)]
            c = c * int(dims[blk_level].dense_size) + coords[blk_level]
        index.append(c)
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(index)] = values[pos]
    return dense
