"""A linear-chain CRF over tag sequences: the forward algorithm (log space) for the NLL, Viterbi decoding,
masks for padding, and transition constraints that forbid the moves BIO or BILUO do not allow.

Tags follow a span scheme over labels (:func:`tag_names`): ``O`` first, then ``B-X``, ``I-X`` (BIO) or
``B-X``, ``I-X``, ``L-X``, ``U-X`` (BILUO) for each label ``X``. :func:`allowed_moves` gives the legal
start tags, transitions and end tags; the CRF adds :data:`FORBIDDEN` to the scores of the others, so a
forbidden path has (numerically) zero probability and Viterbi never returns one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

SCHEMES = ("BIO", "BILUO")
FORBIDDEN = -1e4  # added to the score of a forbidden start, transition or end (finite: no NaN in logsumexp)


def tag_names(labels: Sequence[str], scheme: str = "BIO") -> list[str]:
    """``["O", "B-X", "I-X", ...]`` (BIO) or ``["O", "B-X", "I-X", "L-X", "U-X", ...]`` (BILUO) for ``labels``."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {list(SCHEMES)}")
    prefixes = "BI" if scheme == "BIO" else "BILU"
    return ["O"] + [f"{p}-{label}" for label in labels for p in prefixes]


def _split(tag: str) -> tuple[str, str | None]:
    return ("O", None) if tag == "O" else (tag[0], tag[2:])


def allowed_moves(tags: Sequence[str], scheme: str = "BIO") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(start (K,), transitions (K, K) from -> to, end (K,)) bool tensors: True where the scheme allows it.

    BIO: ``I-X`` follows only ``B-X`` or ``I-X``. BILUO: after ``B-X``/``I-X`` comes ``I-X`` or ``L-X``;
    after ``O``/``L-*``/``U-*`` comes ``O``, ``B-*`` or ``U-*``; a sequence starts with ``O``/``B``/``U``
    and ends with ``O``/``L``/``U``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {list(SCHEMES)}")
    parts = [_split(tag) for tag in tags]
    k = len(tags)
    start = torch.zeros(k, dtype=torch.bool)
    end = torch.zeros(k, dtype=torch.bool)
    moves = torch.zeros(k, k, dtype=torch.bool)
    for j, (p, label) in enumerate(parts):
        start[j] = p in ("O", "B", "U")
        end[j] = p in ("O", "B", "I") if scheme == "BIO" else p in ("O", "L", "U")
    for i, (pi, li) in enumerate(parts):
        for j, (pj, lj) in enumerate(parts):
            if scheme == "BIO":
                moves[i, j] = pj != "I" or (pi in ("B", "I") and li == lj)
            elif pi in ("B", "I"):
                moves[i, j] = pj in ("I", "L") and li == lj
            else:
                moves[i, j] = pj in ("O", "B", "U")
    return start, moves, end


def tags_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Token spans ``(start, end, label)`` from a tag sequence, BIO or BILUO, read leniently (as conlleval):
    an ``I``/``L`` that does not continue a span of its label starts one, and a span ends at the next tag
    that does not continue it. A valid sequence gives exactly its spans."""
    spans: list[tuple[int, int, str]] = []
    current: list | None = None  # [start, label]
    for i, tag in enumerate(tags):
        prefix, label = _split(tag)
        if prefix == "O":
            if current:
                spans.append((current[0], i, current[1]))
            current = None
            continue
        continues = current is not None and current[1] == label and prefix in ("I", "L")
        if not continues:
            if current:
                spans.append((current[0], i, current[1]))
            current = [i, label]
        if prefix in ("L", "U"):
            spans.append((current[0], i + 1, current[1]))
            current = None
    if current:
        spans.append((current[0], len(tags), current[1]))
    return spans


def spans_to_tags(n: int, spans: Sequence[tuple[int, int, str]], scheme: str = "BIO") -> list[str]:
    """The tags of ``n`` tokens holding non-overlapping token ``spans`` ``(start, end, label)``."""
    tags = ["O"] * n
    for start, end, label in spans:
        if not 0 <= start < end <= n:
            raise ValueError(f"span ({start}, {end}) is not inside {n} tokens")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"span ({start}, {end}, {label}) overlaps another")
        if scheme == "BILUO" and end - start == 1:
            tags[start] = f"U-{label}"
            continue
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
        if scheme == "BILUO":
            tags[end - 1] = f"L-{label}"
    return tags


class LinearChainCRF(nn.Module):
    """score(y) = start[y_1] + Σ_t emissions[t, y_t] + Σ_t transitions[y_{t-1}, y_t] + end[y_n], over the
    real positions of each row; p(y | x) = exp(score(y)) / Z(x).

    ``emissions`` (B, T, K) come from the network; ``mask`` (B, T) is True at real positions and must be a
    prefix of each row (padding at the end). A row of length 0 has one (empty) path: score 0, log Z 0.
    ``allowed`` = (start, transitions, end) bool tensors (see :func:`allowed_moves`) fixes forbidden moves
    at :data:`FORBIDDEN`; without it every move is allowed.
    """

    def __init__(self, num_tags: int, allowed: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, not {num_tags}")
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.zeros(num_tags))  # (K,)
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # (K, K) from -> to
        self.end = nn.Parameter(torch.zeros(num_tags))  # (K,)
        if allowed is None:
            allowed = (torch.ones(num_tags, dtype=torch.bool), torch.ones(num_tags, num_tags, dtype=torch.bool),
                       torch.ones(num_tags, dtype=torch.bool))
        start, moves, end = allowed
        if start.shape != (num_tags,) or moves.shape != (num_tags, num_tags) or end.shape != (num_tags,):
            raise ValueError(f"allowed moves of shapes {tuple(start.shape)}, {tuple(moves.shape)}, {tuple(end.shape)} "
                             f"do not fit {num_tags} tags")
        # penalties are buffers, rebuilt from the tag set (not saved)
        self.register_buffer("start_penalty", (~start).float() * FORBIDDEN, persistent=False)  # (K,)
        self.register_buffer("move_penalty", (~moves).float() * FORBIDDEN, persistent=False)  # (K, K)
        self.register_buffer("end_penalty", (~end).float() * FORBIDDEN, persistent=False)  # (K,)

    def reset_parameters(self) -> None:
        """Small random transition scores (N(0, 0.1)); the constraints stay."""
        with torch.no_grad():
            for p in (self.start, self.transitions, self.end):
                p.normal_(0.0, 0.1)

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.start + self.start_penalty, self.transitions + self.move_penalty, self.end + self.end_penalty

    @staticmethod
    def _check(emissions: torch.Tensor, mask: torch.Tensor) -> None:
        if emissions.dim() != 3 or mask.shape != emissions.shape[:2]:
            raise ValueError(f"emissions must be (B, T, K) and mask (B, T): {tuple(emissions.shape)}, {tuple(mask.shape)}")

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """score(tags) per row: ``emissions`` (B, T, K), ``tags`` (B, T) long (any value at padding),
        ``mask`` (B, T) bool -> (B,)."""
        self._check(emissions, mask)
        start, moves, end = self._scores()
        tags = tags.masked_fill(~mask, 0)  # (B, T)
        m = mask.to(emissions.dtype)  # (B, T)
        lengths = mask.sum(dim=1)  # (B,)
        emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (B, T)
        score = (emitted * m).sum(dim=1)  # (B,)
        present = (lengths > 0).to(emissions.dtype)  # (B,)
        score = score + start[tags[:, 0]] * present
        if tags.shape[1] > 1:
            steps = moves[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
            score = score + (steps * m[:, 1:]).sum(dim=1)
        last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # (B,)
        return score + end[last] * present

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z per row by the forward algorithm in log space: (B, T, K), (B, T) -> (B,)."""
        self._check(emissions, mask)
        start, moves, end = self._scores()
        alpha = start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + moves.unsqueeze(0), dim=1) + emissions[:, t]  # (B, K)
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        log_z = torch.logsumexp(alpha + end, dim=1)  # (B,)
        return log_z * (mask.sum(dim=1) > 0).to(emissions.dtype)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The negative log-likelihood of ``tags`` per row, (B,): log Z - score(tags); 0 for an empty row."""
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best (Viterbi) tag sequence of each row, as many tags as it has real positions."""
        self._check(emissions, mask)
        start, moves, end = self._scores()
        batch, steps, _ = emissions.shape
        lengths = mask.sum(dim=1).tolist()
        if batch == 0:
            return []
        # in numpy: the per-step arrays are small (B x K x K), where numpy's per-call cost is a fraction of torch's
        start, moves, end = (x.detach().cpu().numpy() for x in (start, moves, end))
        emissions_np, mask_np = emissions.detach().cpu().float().numpy(), mask.cpu().numpy()  # (B, T, K), (B, T)
        score = start + emissions_np[:, 0]  # (B, K)
        moves_to = np.ascontiguousarray(moves.T)  # (K to, K from): the max runs over the last, contiguous axis
        pointers = []
        for t in range(1, steps):
            candidates = score[:, None, :] + moves_to[None]  # (B, K to, K from)
            index = candidates.argmax(axis=2)  # (B, K): the best previous tag of each tag
            best = np.take_along_axis(candidates, index[..., None], axis=2)[..., 0]  # (B, K)
            pointers.append(index)
            score = np.where(mask_np[:, t, None], best + emissions_np[:, t], score)
        score = score + end
        # backtrack all rows at once, from the last step to the first: a row's path starts at its own last
        # real position (its best final tag) and follows the pointers back from there
        final = score.argmax(axis=1)  # (B,)
        back = np.stack(pointers) if pointers else None  # (T-1, B, K)
        last = np.asarray(lengths, dtype=np.int64) - 1  # (B,), -1 for an empty row
        rows = np.arange(batch)
        tags = np.zeros((batch, steps), dtype=np.int64)  # (B, T)
        current = final.copy()
        for t in range(steps - 1, -1, -1):
            previous = back[t][rows, current] if t < steps - 1 else current  # the tag at t given the tag at t+1
            current = np.where(last == t, final, np.where(last > t, previous, current))
            tags[:, t] = current
        return [tags[b, : lengths[b]].tolist() for b in range(batch)]
