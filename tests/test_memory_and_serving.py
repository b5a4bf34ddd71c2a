"""helpers.memory (RSS, PSS, anonymous and file-backed memory from /proc) and helpers.serving (indexes opened
once per process), the pieces notebook 08's workers use."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from annoy import AnnoyIndex

from helpers import memory, serving

linux_only = pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="reads Linux's /proc")


@linux_only
def test_memory_use_sees_this_process_and_a_mapped_file(tmp_path: Path) -> None:
    before = memory.memory_use()
    assert before is not None and before.pid == os.getpid() and before.pss_mb <= before.rss_mb
    data = np.arange(10_000_000, dtype=np.float32)  # 40 MB, every page written
    after = memory.memory_use()
    assert after.rss_mb - before.rss_mb > 35 and after.private_mb - before.private_mb > 35
    del data
    assert memory.memory_use(pid=999_999_999) is None  # no such process


@linux_only
def test_peak_while_tells_anonymous_from_file_backed_memory(tmp_path: Path) -> None:
    def hold_anonymous() -> float:
        data = np.ones(12_500_000, dtype=np.float32)  # 50 MB, every page written
        time.sleep(0.05)  # held while the sampler (every 10 ms) looks
        return float(data.sum())

    total, peak = memory.peak_while(hold_anonymous)
    assert total == 12_500_000 and peak["anonymous"] > 40
    path = tmp_path / "pages.bin"
    path.write_bytes(os.urandom(30_000_000))

    def read_mapped() -> float:
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
        total = float(mapped.sum())
        time.sleep(0.05)
        return total

    total, peak = memory.peak_while(read_mapped)
    assert total > 0 and peak["file"] > 25 and peak["anonymous"] < 20


def saved_index(path: Path, seed: int) -> Path:
    index = AnnoyIndex(8, "angular")
    index.set_seed(seed)
    rng = np.random.default_rng(seed)
    for i in range(100):
        index.add_item(i, rng.standard_normal(8))
    index.build(3, n_jobs=1)
    index.save(str(path))
    index.unload()
    return path


def test_open_index_opens_a_file_once_and_a_replaced_file_anew(tmp_path: Path) -> None:
    path = saved_index(tmp_path / "a.ann", seed=1)
    first = serving.open_index(path, 8, "angular")
    assert serving.open_index(str(path), 8, "angular") is first
    time.sleep(0.01)
    saved_index(tmp_path / "b.ann", seed=2).replace(path)  # rebuilt: another file under the same name
    second = serving.open_index(path, 8, "angular")
    assert second is not first and second.get_n_items() == 100
    with pytest.raises(FileNotFoundError):
        serving.open_index(tmp_path / "missing.ann", 8, "angular")
    with pytest.raises(ValueError):
        serving.open_index(path, 9, "angular")  # the file's size does not fit 9 dimensions
    assert serving.close_all() >= 2
