"""Read-after-write, write-after-read and write-after-write dependencies between instructions.

For every allocation the tracker keeps one record per box (partition range × byte range) last
written: when its data is ready, who wrote it, and until when it is being read (the latest
read of it, and by whom). A read of a box nobody wrote yet (a kernel input) creates a record
ready at time 0, so that a later overwrite still waits for the read.

Records are sorted by first byte; a query scans the starts from ``b0 - longest record`` to
``b1``, which for tiled allocations is a handful of records whatever the allocation's size. A
write that covers a record removes it: any later access has to wait for the new write anyway,
and that write already waited for the record.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from trnsim.nki.trace import Region

__all__ = ["Record", "RegionTracker"]

#: (partition_start, partition_stop, byte_start, byte_stop)
Box = tuple[int, int, int, int]
#: [ready_ns, writer engine key (negative for DMA), writer index, read_until_ns, last reader index]
Record = list[float]

_READY, _WRITER, _WRITER_INDEX, _READ_UNTIL, _READER_INDEX = range(5)


class _Table:
    """The records of one allocation, indexed by first byte."""

    __slots__ = ("boxes", "max_len", "records", "starts")

    def __init__(self) -> None:
        self.records: dict[Box, Record] = {}
        self.starts: list[int] = []
        self.boxes: list[Box] = []
        self.max_len = 0

    def insert(self, box: Box, record: Record) -> None:
        if box not in self.records:
            i = bisect_right(self.starts, box[2])
            self.starts.insert(i, box[2])
            self.boxes.insert(i, box)
            self.max_len = max(self.max_len, box[3] - box[2])
        self.records[box] = record

    def overlapping(self, box: Box) -> list[Record]:
        records = self.records
        if len(records) == 1:  # the common case: a tile buffer written and read whole
            (only, record), = records.items()
            if only == box:
                return [record]
        p0, p1, b0, b1 = box
        starts = self.starts
        lo = bisect_left(starts, b0 - self.max_len + 1)
        hi = bisect_left(starts, b1, lo)
        return [records[o] for o in self.boxes[lo:hi] if o[0] < p1 and p0 < o[1] and b0 < o[3]]

    def drop_covered(self, box: Box) -> None:
        p0, p1, b0, b1 = box
        starts = self.starts
        lo = bisect_left(starts, b0)
        hi = bisect_left(starts, b1, lo)
        if lo == hi:
            return
        boxes = self.boxes
        if hi - lo == 1:  # the common case: the tile written last time
            b = boxes[lo]
            if p0 <= b[0] and b[1] <= p1 and b[3] <= b1:
                del self.records[b], boxes[lo], starts[lo]
            return
        keep = []
        for b in boxes[lo:hi]:
            if p0 <= b[0] and b[1] <= p1 and b[3] <= b1:
                del self.records[b]
            else:
                keep.append(b)
        boxes[lo:hi] = keep
        starts[lo:hi] = [b[2] for b in keep]


def _box(region: Region) -> Box:
    return (region.partition_start, region.partition_stop, region.byte_start, region.byte_stop)


class RegionTracker:
    """Last writers and readers of every allocation."""

    def __init__(self) -> None:
        self._tables: dict[int, _Table] = {}

    def read(self, region: Region, engine: int, exempt_same_engine: bool) -> tuple[float, int, list[Record]]:
        """What a read of ``region`` waits for: (ready time, producer index or -1, records read).

        With ``exempt_same_engine``, writes by the same in-order engine do not count (TensorE
        accumulating into PSUM reads its own partial sums in queue order). Pass the records to
        :meth:`finish_read` once the read's end is known.
        """
        table = self._tables.get(region.alloc_id)
        if table is None:
            table = self._tables[region.alloc_id] = _Table()
        box = _box(region)
        found = table.overlapping(box)
        if not found:
            record: Record = [0.0, -1, -1, 0.0, -1]
            table.insert(box, record)
            return 0.0, -1, [record]
        ready, producer = 0.0, -1
        for record in found:
            if record[_READY] > ready and not (exempt_same_engine and record[_WRITER] == engine):
                ready, producer = record[_READY], int(record[_WRITER_INDEX])
        return ready, producer, found

    @staticmethod
    def finish_read(records: list[Record], read_end: float, index: int) -> None:
        """Note that the records are being read until ``read_end`` by instruction ``index``."""
        for record in records:
            if read_end > record[_READ_UNTIL]:
                record[_READ_UNTIL] = read_end
                record[_READER_INDEX] = index

    def write(self, region: Region, engine: int, unordered_dma_write: bool = False) -> tuple[float, int]:
        """What a write of ``region`` waits for: (time, index of the instruction or -1).

        Earlier writes by the same in-order engine are ordered by its queue; reads are waited
        for whoever made them (for the same engine they are over by the time it is free anyway).
        With ``unordered_dma_write`` (a DMA writing HBM), earlier DMA writes are not waited for:
        HBM regions are linear byte ranges, so the tiles of one output look overlapping although
        they are not, and DMA queues do not order writes among themselves.
        """
        table = self._tables.get(region.alloc_id)
        if table is None:
            return 0.0, -1
        ready, producer = 0.0, -1
        for record in table.overlapping(_box(region)):
            if (record[_READY] > ready and record[_WRITER] != engine
                    and not (unordered_dma_write and record[_WRITER] < 0)):
                ready, producer = record[_READY], int(record[_WRITER_INDEX])
            if record[_READ_UNTIL] > ready:
                ready, producer = record[_READ_UNTIL], int(record[_READER_INDEX])
        return ready, producer

    def finish_write(self, region: Region, ready: float, engine: int, index: int) -> None:
        """Record a write whose data is ready at ``ready``; drop the records it covers."""
        table = self._tables.get(region.alloc_id)
        if table is None:
            table = self._tables[region.alloc_id] = _Table()
        box = _box(region)
        table.drop_covered(box)
        table.insert(box, [ready, engine, index, 0.0, -1])
