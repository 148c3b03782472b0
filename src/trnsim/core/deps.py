"""Read-after-write, write-after-read and write-after-write dependencies between instructions.

For every allocation the tracker keeps the boxes (partition range × byte range) last written and
last read, each with the time the access is over and the instruction that made it. A new access
looks up only the records of its own allocation. A write that covers a record removes it: any
later access has to wait for the new write anyway, and that write already waited for the record.
So the bookkeeping stays as small as the set of live, distinct tiles of each allocation.
"""

from __future__ import annotations

from trnsim.nki.trace import Region

__all__ = ["Access", "RegionTracker"]

#: (partition_start, partition_stop, byte_start, byte_stop)
Box = tuple[int, int, int, int]
#: (time the access is over in ns, engine key of the accessor, index of the scheduled instruction)
Access = tuple[float, int, int]


def _box(region: Region) -> Box:
    return (region.partition_start, region.partition_stop, region.byte_start, region.byte_stop)


class RegionTracker:
    """Last writers and readers of every allocation."""

    def __init__(self) -> None:
        self._writes: dict[int, dict[Box, Access]] = {}
        self._reads: dict[int, dict[Box, Access]] = {}

    def before_read(self, region: Region, engine: int, exempt_same_engine: bool) -> Access | None:
        """The latest conflicting write a read of ``region`` must wait for (None if none).

        With ``exempt_same_engine``, writes by the same in-order engine do not count (TensorE
        accumulating into PSUM reads its own partial sums in queue order).
        """
        writes = self._writes.get(region.alloc_id)
        if not writes:
            return None
        p0, p1, b0, b1 = _box(region)
        best: Access | None = None
        for (q0, q1, c0, c1), access in writes.items():
            if q0 < p1 and p0 < q1 and c0 < b1 and b0 < c1:
                if exempt_same_engine and access[1] == engine:
                    continue
                if best is None or access[0] > best[0]:
                    best = access
        return best

    def before_write(self, region: Region, engine: int) -> Access | None:
        """The latest conflicting read or write a write of ``region`` must wait for.

        Accesses by the same in-order engine are already ordered by its queue.
        """
        p0, p1, b0, b1 = _box(region)
        best: Access | None = None
        for table in (self._writes.get(region.alloc_id), self._reads.get(region.alloc_id)):
            if not table:
                continue
            for (q0, q1, c0, c1), access in table.items():
                if (q0 < p1 and p0 < q1 and c0 < b1 and b0 < c1 and access[1] != engine
                        and (best is None or access[0] > best[0])):
                    best = access
        return best

    def record_read(self, region: Region, access: Access) -> None:
        """Remember a read that is over at ``access[0]``."""
        reads = self._reads.setdefault(region.alloc_id, {})
        box = _box(region)
        old = reads.get(box)
        if old is None or access[0] > old[0]:
            reads[box] = access

    def record_write(self, region: Region, access: Access) -> None:
        """Remember a write whose result is ready at ``access[0]``; drop records it covers."""
        box = _box(region)
        p0, p1, b0, b1 = box
        for table in (self._writes.get(region.alloc_id), self._reads.get(region.alloc_id)):
            if not table or len(table) == 0:
                continue
            covered = [
                key for key in table
                if p0 <= key[0] and key[1] <= p1 and b0 <= key[2] and key[3] <= b1
            ]
            for key in covered:
                del table[key]
        self._writes.setdefault(region.alloc_id, {})[box] = access
