"""onnxruntime's block-quantized weights (MatMulNBits, the format of onnxruntime-genai and Olive):
B [N, blocks, block_size x bits / 8] bytes, one scale per block of K and optionally a zero
point per block. The layer's weight is the K x N matrix they stand for (a MatMul's layout), its
width the `bits` attribute, and its storage what the file holds: the packed values, the scales
and the zero points. Its values read as a QDQ weight's do: integer levels (q - zero point), so
that a level at its zero point is a zero weight and the width is that of an integer weight;
float zero points (not levels) give the dequantized weight."""
from __future__ import annotations

from dataclasses import replace
from math import ceil, prod

import numpy as np

from codesign.errors import ModelImportError
from codesign.graph.index import GraphIndex, Weight
from codesign.graph.limits import shown


def nbits_weight(index: GraphIndex, node, name: str, attrs: dict, stored: Weight) -> Weight:
    """The K x N weight a MatMulNBits node's B, scales and zero points stand for; the shapes
    are checked against K, N, bits and block_size before anything is read."""
    k, n = int(attrs.get("K", 0)), int(attrs.get("N", 0))
    bits, block = int(attrs.get("bits", 4)), int(attrs.get("block_size", 0))
    blocks = ceil(k / block) if block > 0 else 0
    expected = (n, blocks, block * bits // 8)
    inputs = list(node.input) + [""] * 6
    scales, zeros, g_idx = (inputs[i] if inputs[i] else None for i in (2, 3, 4))
    scale_shape = index.shape(scales) if scales else None
    problem = ("block_size is not a power of two of at least 16" if block < 16 or block & (block - 1)
               else "bits is not 2 to 8" if not 2 <= bits <= 8
               else f"B has shape {list(stored.shape)[:4]}, not {list(expected)}" if stored.shape != expected
               else f"scales hold {prod(scale_shape)} values, not {n * blocks}"
               if scale_shape is not None and prod(scale_shape) != n * blocks
               else "its scales have no static shape" if scale_shape is None else None)
    if problem:
        raise ModelImportError(f"node {shown(name)} (MatMulNBits) with K {k}, N {n}, bits {bits}, block_size "
                               f"{block}: {problem}; the file is corrupted")
    extra = [t for t in (scales, zeros, g_idx) if t]
    stored_bits = prod(stored.shape) * 8 + sum(prod(index.shape(t) or ()) * (index.bits(t) or 32)
                                              for t in (scales, zeros) if t)

    def values() -> np.ndarray | None:
        consts = [index.constants.get(t) for t in extra]
        if None in consts or 8 % bits:           # run-time scales, or a packing other than 2/4/8 bits
            return None
        arrays = dict(zip(extra, (c.values() for c in consts)))
        q, zero, block_of = _codes(stored.values(), arrays.get(zeros), arrays.get(g_idx), k, n, bits, block)
        if zero.dtype.kind in "iu":              # integer levels, as a QDQ weight reads: the width is `bits`
            return np.ascontiguousarray((q - zero[:, block_of]).T.astype(np.int16))
        return _scaled(q, zero, arrays[scales], block_of)
    return replace(stored, shape=(k, n), bits=bits, values=values, stored_bits=stored_bits)


def dequantize(packed: np.ndarray, scales: np.ndarray, zeros: np.ndarray | None, g_idx: np.ndarray | None,
               k: int, n: int, bits: int, block: int) -> np.ndarray:
    """W [K, N] = (q - zero point) x scale, block by block along K (onnxruntime's product is
    x @ W)."""
    q, zero, block_of = _codes(packed, zeros, g_idx, k, n, bits, block)
    return _scaled(q, zero, scales, block_of)


def _codes(packed, zeros, g_idx, k: int, n: int, bits: int, block: int):
    """(q [N, K], zero points [N, blocks], each k's block): q unpacked low bits first; zero
    points packed the same way when they are bytes (else one float a block, as the scales),
    2^(bits-1) when absent."""
    blocks = ceil(k / block)
    q = _unpack(np.asarray(packed, np.uint8).reshape(n, -1), bits)[:, :k].astype(np.int16)
    if zeros is None:
        zero = np.full((n, blocks), 2 ** (bits - 1), np.int16)
    elif np.asarray(zeros).dtype == np.uint8:
        zero = _unpack(np.asarray(zeros).reshape(n, -1), bits)[:, :blocks].astype(np.int16)
    else:
        zero = np.asarray(zeros, np.float32).reshape(n, blocks)
    block_of = np.asarray(g_idx, np.int64).reshape(-1)[:k] if g_idx is not None else np.arange(k) // block
    return q, zero, block_of


def _scaled(q, zero, scales, block_of) -> np.ndarray:
    scale = np.asarray(scales, np.float32).reshape(q.shape[0], -1)
    return np.ascontiguousarray(((q - zero[:, block_of]) * scale[:, block_of]).T.astype(np.float32))


def _unpack(rows: np.ndarray, bits: int) -> np.ndarray:
    """Bytes to their 8 / bits values each, the lowest bits first."""
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    return ((rows[..., None] >> shifts) & (2 ** bits - 1)).reshape(rows.shape[0], -1)
