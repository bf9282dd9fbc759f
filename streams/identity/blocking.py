"""Blocking: which stored profiles a new one is compared with.

Keys (short strings, so the block table stays small and any table backend can hold them):
- exact blind indexes: ID number, phone, agency person id, name + date of birth
  (``<kind letter><first 16 hex of the index>``; a truncation collision only adds a comparison);
- fuzzy names: the date-of-birth index plus one MinHash band of the pinyin CLK's set bits
  (``b<dob><band>``), and, for records without a birth date (police records give an age only),
  band i of the pinyin CLK together with band i of the address CLK (``a<band><band>``). Two names whose pinyin bigram sets have Jaccard J share a band with
  probability 1 - (1 - J^rows)^bands, so homophones and one-letter slips with the same birth
  date meet, while the common-name crowd does not, as the date is part of the key.
"""

from __future__ import annotations

import hashlib

import numpy as np

from streams.identity.config import Blocking
from streams.identity.profile import Profile

_HASH_POSITIONS = 8192  # positions beyond this (CLKs longer than 8192 bits) wrap around
_EXACT_KINDS = {"id_number": "i", "phone": "p", "agency_person_id": "a", "name_dob": "n"}
_MINHASH_CACHE_SIZE = 50_000


class Blocker:
    def __init__(self, blocking: Blocking) -> None:
        self.blocking = blocking
        self._exact = [(field, _EXACT_KINDS[field]) for field in blocking.exact]
        rows = blocking.name_bands * blocking.band_rows
        # Fixed seed: block keys must be the same in every process and every run.
        generator = np.random.Generator(np.random.PCG64(20240517))
        self._table = generator.integers(0, 2**32, size=(rows, _HASH_POSITIONS), dtype=np.uint32)
        self._minhash_cache: dict[int, tuple[str, ...]] = {}

    def keys(self, profile: Profile) -> list[str]:
        out = []
        for field, kind in self._exact:
            value = getattr(profile, field)
            if value:
                out.append(kind + value[:16])
        if profile.name_pinyin and self.blocking.name_bands:
            names = self._bands(profile.name_pinyin)
            if profile.dob:
                dob = profile.dob[:16]
                out.extend(f"b{dob}{band}" for band in names)
            if profile.address and self.blocking.address_bands:
                addresses = self._bands(profile.address)
                out.extend(f"a{n}{a}" for n, a in zip(names[: self.blocking.address_bands], addresses, strict=False))
        return out

    def _bands(self, clk: int) -> tuple[str, ...]:
        cached = self._minhash_cache.get(clk)
        if cached is not None:
            return cached
        raw = clk.to_bytes((clk.bit_length() + 7) // 8, "little")
        positions = np.flatnonzero(np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little"))
        mins = self._table[:, positions % _HASH_POSITIONS].min(axis=1)
        rows = self.blocking.band_rows
        bands = tuple(
            str(i) + hashlib.blake2b(mins[i * rows : (i + 1) * rows].tobytes(), digest_size=6).hexdigest()
            for i in range(self.blocking.name_bands)
        )
        if len(self._minhash_cache) >= _MINHASH_CACHE_SIZE:
            self._minhash_cache.clear()
        self._minhash_cache[clk] = bands
        return bands
