"""Read-after-write, write-after-read and write-after-write dependencies between instructions.

For every allocation the tracker keeps one record per box (partition range × byte range) last
written: when its data is ready, who wrote it, and until when it is being read (the latest
read of it, and by whom). A read of a box nobody wrote yet (a kernel input) creates a record
ready at time 0, so that a later overwrite still waits for the read.

Records are sorted by first byte; a query scans the starts from ``b0 - longest record`` to
``b1``, which for tiled allocations is a handful of records whatever the allocation's size. A
write that covers a record removes it: any later access has to wait for the new write anyway,
and that write already waited for the record.

Most kernels access their tiles whole or in a fixed tiling: while the boxes of an allocation are
pairwise disjoint (``_Table.disjoint``), an access of exactly one of them overlaps that record
only, and a dictionary look-up answers the query without a scan. A read of a slice inside one
box of a disjoint table overlaps that box only (any other would intersect it): the box starting
nearest before the slice is checked by one bisection. Other queries (a kernel input read in new
pieces, a slice across boxes) are remembered per table as the boxes they overlap, in table order,
until a box is added or dropped (``_Table.memo``): rewriting a box keeps the boxes, so a loop that
reads the same slices of a rewritten buffer answers each query with one look-up.

An allocation nobody wrote yet (a kernel input) needs no records while it is only read: its data
is ready at time 0, so a read waits for nothing, and the records matter only to a later write (which
waits until they are no longer read). The scheduler logs such reads (``RegionTracker.unwritten``)
and :meth:`RegionTracker.materialize` replays them, in order, into the table the tracker would have
built, when the allocation is written or queried otherwise; most inputs are never written.

The scheduler goes one step further (:class:`Resolved`): an access it answered with one record is
remembered tracker-wide, query box -> record, until that allocation's boxes change or one of its
records is replaced by another object. The scheduler rewrites a box's record in place (same list)
where this module would replace it, so a loop's repeated accesses cost one look-up each.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, ClassVar

from trnsim.nki.trace import MemorySpace, Operand, Region

__all__ = ["Record", "RegionTracker", "Resolved"]

#: A record's key: the operand's region (alloc_id, partition_start, partition_stop, byte_start,
#: byte_stop); a named tuple, so that keys hash in C and need no conversion.
Box = Region
#: [ready_ns, writer engine key (negative for DMA), writer index, read_until_ns, last reader index]:
#: times are floats, keys and indices ints (a list, so that a read updates it in place).
Record = list[Any]

_READY, _WRITER, _WRITER_INDEX, _READ_UNTIL, _READER_INDEX = range(5)
#: Up to this many records, a query scans them all (same records, same order as the bisection).
_SCAN = 8
_PSUM, _HBM = MemorySpace.PSUM, MemorySpace.HBM


class Resolved:
    """Accesses answered by one record, remembered while their answer stays the same.

    ``reads``: a read box -> the one record it overlaps. ``rewrites``: the exact box of a disjoint
    table -> its record, where rewriting it keeps the box in place (no other box starts at the same
    byte). Each entry is listed in its table (``_Table.cached``), which drops them when its boxes
    change or a record of it is replaced by another object (:meth:`_Table.forget`).
    """

    __slots__ = ("reads", "rewrites")

    def __init__(self) -> None:
        self.reads: dict[Box, Record] = {}
        self.rewrites: dict[Box, Record] = {}


class _Table:
    """The records of one allocation, indexed by first byte."""

    __slots__ = ("boxes", "cached", "disjoint", "max_len", "memo", "records", "resolved", "starts")

    def __init__(self, resolved: Resolved | None = None, box: Box | None = None,
                 record: Record | None = None) -> None:
        """An empty table, or one holding ``box`` (written first) with its ``record``."""
        if box is None or record is None:
            self.records: dict[Box, Record] = {}
            self.starts: list[int] = []
            self.boxes: list[Box] = []
            self.max_len = 0
            #: No two (non-empty) boxes intersect: a box's only overlapping record is its own.
            self.disjoint = True
        else:  # insert, on an empty table (a fresh tile: most tables of a kernel)
            self.records = {box: record}
            start = box[3]
            self.starts = [start]
            self.boxes = [box]
            length = box[4] - start
            self.max_len = length if length > 0 else 0
            self.disjoint = length > 0 and box[1] < box[2]
        #: Query box -> the boxes it overlaps (in table order), while the set of boxes is unchanged.
        self.memo: dict[Box, list[Box]] = {}
        #: The tracker's remembered answers, and the keys of those that name a record of this table.
        self.resolved = resolved
        self.cached: list[Box] = []

    def forget(self) -> None:
        """Drop the remembered answers about this table (its boxes or record objects change)."""
        if self.memo:
            self.memo.clear()
        if self.cached:
            resolved = self.resolved
            assert resolved is not None
            reads, rewrites = resolved.reads, resolved.rewrites
            for box in self.cached:
                reads.pop(box, None)
                rewrites.pop(box, None)
            self.cached.clear()

    def insert(self, box: Box, record: Record) -> None:
        # unpacked once: a box is a named tuple, whose items cost a generic look-up each
        _, p0, p1, b0, b1 = box
        if p0 >= p1 or b0 >= b1:
            self.disjoint = False  # the fast paths assume every box overlaps itself
        if box not in self.records:
            if self.memo or self.cached:
                self.forget()
            i = bisect_right(self.starts, b0)
            self.starts.insert(i, b0)
            self.boxes.insert(i, box)
            if b1 - b0 > self.max_len:
                self.max_len = b1 - b0
        elif self.cached:
            self.forget()  # another record object for the box
        self.records[box] = record

    def enclosing(self, box: Box) -> Record | None:
        """The record of the one box that contains non-empty ``box`` in a disjoint table (any other
        box overlapping it would intersect that one): the nearest box starting at or before it, by
        one bisection of the starts; None where no box contains it or the table is not disjoint."""
        if not (self.disjoint and self.records):
            return None
        # unpacked: a box is a named tuple, whose items cost a generic look-up each
        _, p0, p1, b0, b1 = box
        if p0 >= p1 or b0 >= b1:
            return None
        i = bisect_right(self.starts, b0) - 1
        if i < 0:
            return None
        outer = self.boxes[i]
        _, q0, q1, _, c1 = outer
        if q0 <= p0 and p1 <= q1 and b1 <= c1:
            return self.records[outer]
        return None

    def overlapping_boxes(self, box: Box) -> list[Box]:
        """The boxes that intersect ``box``, in table order."""
        _, p0, p1, b0, b1 = box
        if len(self.records) <= _SCAN:  # a few tiles: a linear scan beats two bisections
            return [o for o in self.boxes if o[1] < p1 and p0 < o[2] and b0 < o[4] and o[3] < b1]
        starts = self.starts
        lo = bisect_left(starts, b0 - self.max_len + 1)
        hi = bisect_left(starts, b1, lo)
        return [o for o in self.boxes[lo:hi] if o[1] < p1 and p0 < o[2] and b0 < o[4]]

    def overlapping(self, box: Box) -> list[Record]:
        records = self.records
        _, p0, p1, b0, b1 = box
        if len(records) == 1:  # the common case: a tile buffer written and read whole
            (only, record), = records.items()
            if only == box:
                return [record]
        starts = self.starts
        lo = bisect_left(starts, b0 - self.max_len + 1)
        hi = bisect_left(starts, b1, lo)
        return [records[o] for o in self.boxes[lo:hi] if o[1] < p1 and p0 < o[2] and b0 < o[4]]

    def drop_covered(self, box: Box) -> None:
        _, p0, p1, b0, b1 = box
        starts = self.starts
        lo = bisect_left(starts, b0)
        hi = bisect_left(starts, b1, lo)
        if lo == hi:
            return
        boxes = self.boxes
        if hi - lo == 1:  # the common case: the tile written last time
            b = boxes[lo]
            if p0 <= b[1] and b[2] <= p1 and b[4] <= b1:
                del self.records[b], boxes[lo], starts[lo]
                if self.memo or self.cached:
                    self.forget()
            return
        keep = []
        for b in boxes[lo:hi]:
            if p0 <= b[1] and b[2] <= p1 and b[4] <= b1:
                del self.records[b]
            else:
                keep.append(b)
        if len(keep) == hi - lo:
            return
        if self.memo or self.cached:
            self.forget()
        boxes[lo:hi] = keep
        starts[lo:hi] = [b[3] for b in keep]


class RegionTracker:
    """Last writers and readers of every allocation.

    The scheduler calls :meth:`wait` once per instruction and :meth:`finish` once it is placed:
    one call each rather than one per operand and record (this is the simulator's inner loop).
    """

    __slots__ = ("_tables", "resolved", "singles", "unwritten")

    #: Answer an exact-box query of a disjoint table inline (tests turn it off to compare the
    #: fast paths with the reference scan).
    exact_lookups: ClassVar[bool] = True

    def __init__(self) -> None:
        self._tables: dict[int, _Table] = {}
        #: Accesses answered by one record (filled and used by the scheduler's inline paths).
        self.resolved = Resolved()
        #: Allocations written once as one non-empty box (most tiles of a kernel), without a table:
        #: alloc_id -> (box, record). Only the scheduler's inline paths make these (a dict entry
        #: instead of a _Table with its five containers); they answer the box and slices inside it
        #: and hand any other access to the table :meth:`table` makes of the entry.
        self.singles: dict[int, tuple[Box, Record]] = {}
        #: Allocations only read so far by the scheduler's inline paths (kernel inputs), without a
        #: table: alloc_id -> the reads in order, each (box, the record its instruction updated as
        #: its own). Such a read depends on nothing (nobody wrote the data: ready at 0) and matters
        #: only to a later write, through the records it leaves; :meth:`materialize` replays the
        #: reads into the table the tracker would have built, when anything else touches the
        #: allocation (most kernel inputs are never written: never replayed).
        self.unwritten: dict[int, list[tuple[Box, Record]]] = {}

    @property
    def tables(self) -> dict[int, _Table]:
        """The table of each allocation (the scheduler answers exact-box queries from it inline)."""
        return self._tables

    def table(self, alloc: int) -> _Table | None:
        """The table of allocation ``alloc`` (made from its single box or its logged reads if it has
        them), or None."""
        single = self.singles.pop(alloc, None)
        if single is None:
            table = self._tables.get(alloc)
            if table is None and alloc in self.unwritten:
                return self.materialize(alloc)
            return table
        table = self._tables[alloc] = _Table(self.resolved, single[0], single[1])
        return table

    def materialize(self, alloc: int) -> _Table | None:
        """The table of ``alloc`` made of its logged reads (:attr:`unwritten`), or None if it has
        none: each read in order as :meth:`wait` and :meth:`finish` would have done it (the
        records it overlaps, or a new record of its box where none does, read until the time and
        by the reader its logged record was given)."""
        log = self.unwritten.pop(alloc, None)
        if log is None:
            return None
        table = self._tables[alloc] = _Table(self.resolved)
        for box, read in log:
            found = self._found(table, box)
            if not found:
                record = [0.0, -1, -1, 0.0, -1]
                table.insert(box, record)
                found = [record]
            read_end = read[_READ_UNTIL]
            for record in found:
                if read_end > record[_READ_UNTIL]:
                    record[_READ_UNTIL] = read_end
                    record[_READER_INDEX] = read[_READER_INDEX]
        return table

    def read_missed(self, region: Box, table: _Table | None,
                    outputs: tuple[Operand, ...]) -> Record | tuple[Record, ...]:
        """The scheduler's read of ``region`` where no remembered answer (:class:`Resolved`) or single
        box (:attr:`singles`) gave its record: the one record it overlaps, or a tuple of the records
        where it overlaps several (in table order). ``table`` is the allocation's table (None where
        it has none yet); ``outputs`` those of the reading instruction.

        Does the bookkeeping :meth:`wait` and :meth:`finish` would: a read of an allocation nobody
        wrote (a kernel input) is logged (:attr:`unwritten`; its record, ready at 0, decides
        nothing), unless the instruction also writes the allocation (the replay must see this read
        finished first); a kernel input read in a new piece gets a record of its own; a read answered
        by one record of a table with several boxes is remembered (:attr:`Resolved.reads`) until
        the table's boxes change.
        """
        alloc = region[0]
        record: Record | None
        if table is None:
            for output in outputs:
                written = output[5]
                if written is not None and written[0] == alloc:
                    table = self.materialize(alloc)
                    break
            else:
                record = [0.0, -1, -1, 0.0, -1]
                log = self.unwritten.get(alloc)
                if log is None:
                    self.unwritten[alloc] = [(region, record)]
                else:
                    log.append((region, record))
                return record
            if table is None:  # (no read logged yet) a kernel input nobody wrote
                record = [0.0, -1, -1, 0.0, -1]
                if region[1] < region[2] and region[3] < region[4]:
                    self.singles[alloc] = (region, record)
                else:
                    self._tables[alloc] = _Table(self.resolved, region, record)
                return record
        records = table.records
        record = None
        if len(records) == 1:
            # one box: the only record overlapping the box itself or a slice inside it (found again
            # as cheaply as remembered: not remembered)
            box = table.boxes[0]
            if box == region or (box[1] <= region[1] < region[2] <= box[2]
                                 and box[3] <= region[3] < region[4] <= box[4]):
                return records[box]
        elif table.disjoint:
            # a slice inside one box; else the box itself (another box may start at the same byte)
            record = table.enclosing(region)
            if record is None:
                record = records.get(region)
        if record is None:
            found = self._found(table, region)
            if not found:  # a kernel input read in a new piece
                record = [0.0, -1, -1, 0.0, -1]
                table.insert(region, record)
                return record
            if len(found) > 1:
                return tuple(found)
            record = found[0]
        # the answer depends only on the table's boxes: remember it until they change
        self.resolved.reads[region] = record
        table.cached.append(region)
        return record

    def _found(self, table: _Table, box: Box) -> list[Record]:
        """The records overlapping ``box`` (in table order), by the cheapest exact route."""
        records = table.records
        if not records:
            return []
        record = records.get(box)
        if record is not None and (len(records) == 1 or table.disjoint):
            return [record]
        memo = table.memo
        boxes = memo.get(box)
        if boxes is None:
            boxes = memo[box] = table.overlapping_boxes(box)
        if len(boxes) == 1:
            return [records[boxes[0]]]
        return [records[o] for o in boxes]

    def wait(self, inputs: tuple[Operand, ...], outputs: tuple[Operand, ...], engine: int,
             exempt_psum: bool, unordered_hbm: bool) -> tuple[float, int, list[Record]]:
        """When the operands allow an instruction to start: (time, deciding instruction or -1, reads).

        With ``exempt_psum``, writes of PSUM inputs by the same in-order engine do not count
        (TensorE accumulating into PSUM reads its own partial sums in queue order). With
        ``unordered_hbm`` (a DMA), earlier DMA writes of HBM outputs are not waited for: HBM
        regions are linear byte ranges, so the tiles of one output look overlapping although they
        are not, and DMA queues do not order writes among themselves. Earlier writes by the same
        in-order engine are ordered by its queue; reads are waited for whoever made them. Pass
        the records read to :meth:`finish` once the instruction is placed.
        """
        tables = self._tables
        table_of = self.table
        found_in = self._found
        exact = self.exact_lookups
        ready = 0.0
        producer: float = -1  # an instruction index (records hold it as a number)
        reads: list[Record] = []
        for operand in inputs:
            region = operand.region
            if region is None:
                continue
            table = table_of(region[0])
            if table is None:
                table = tables[region[0]] = _Table(self.resolved)
            records = table.records
            if exact:
                record = records.get(region)
                if record is not None and not (table.disjoint or len(records) == 1):
                    record = None
                if record is None:  # a slice inside one box of a disjoint table
                    record = table.enclosing(region)
                if record is None:
                    # a slice of one record remembered by the table (_found's memo), inline
                    boxes = table.memo.get(region)
                    record = records[boxes[0]] if boxes is not None and len(boxes) == 1 else None
                if record is not None:
                    # the common case, inline: the one record this box overlaps
                    if record[_READY] > ready and not (
                            exempt_psum and record[_WRITER] == engine and operand.space == _PSUM):
                        ready, producer = record[_READY], record[_WRITER_INDEX]
                    reads.append(record)
                    continue
            found = found_in(table, region)
            if not found:  # a kernel input nobody wrote: a later overwrite still waits for the read
                record = [0.0, -1, -1, 0.0, -1]
                table.insert(region, record)
                reads.append(record)
                continue
            exempt = exempt_psum and operand.space == _PSUM
            for record in found:
                if record[_READY] > ready and not (exempt and record[_WRITER] == engine):
                    ready, producer = record[_READY], record[_WRITER_INDEX]
            reads.extend(found)
        for operand in outputs:
            region = operand.region
            if region is None:
                continue
            table = table_of(region[0])
            if table is None:
                continue
            records = table.records
            record = records.get(region) if exact else None
            if record is not None and (table.disjoint or len(records) == 1):
                # the common case, inline: rewriting exactly one box
                if (record[_READY] > ready and record[_WRITER] != engine
                        and not (unordered_hbm and record[_WRITER] < 0 and operand.space == _HBM)):
                    ready, producer = record[_READY], record[_WRITER_INDEX]
                if record[_READ_UNTIL] > ready:
                    ready, producer = record[_READ_UNTIL], record[_READER_INDEX]
                continue
            unordered = unordered_hbm and operand.space == _HBM
            for record in found_in(table, region):
                if (record[_READY] > ready and record[_WRITER] != engine
                        and not (unordered and record[_WRITER] < 0)):
                    ready, producer = record[_READY], record[_WRITER_INDEX]
                if record[_READ_UNTIL] > ready:
                    ready, producer = record[_READ_UNTIL], record[_READER_INDEX]
        return ready, int(producer), reads

    def finish(self, reads: list[Record], read_end: float, outputs: tuple[Operand, ...],
               ready: float, engine: int, index: int) -> None:
        """Note the reads (until ``read_end``) and the writes (data ready at ``ready``) of ``index``.

        A write drops the records it covers.
        """
        for record in reads:
            if read_end > record[_READ_UNTIL]:
                record[_READ_UNTIL] = read_end
                record[_READER_INDEX] = index
        write = self.write
        for operand in outputs:
            region = operand.region
            if region is not None:
                write(region, [ready, engine, index, 0.0, -1])

    def write(self, region: Region, record: Record) -> None:
        """Make ``record`` the last write of ``region``, dropping the records it covers."""
        table = self.table(region[0])
        if table is None:  # a fresh tile: nothing to drop, nothing to intersect
            self._tables[region[0]] = _Table(self.resolved, region, record)
            return
        if not table.disjoint:
            table.drop_covered(region)
        elif region in table.records:
            # Rewriting a box of a disjoint table: it covers only itself. If no other box
            # starts at the same byte, dropping and re-inserting it would put it back in place.
            starts = table.starts
            i = bisect_left(starts, region[3])
            if i + 1 == len(starts) or starts[i + 1] != region[3]:
                table.records[region] = record
                if table.cached:
                    table.forget()  # another record object for the box
                return
            table.drop_covered(region)
        else:
            table.drop_covered(region)
            if self._found(table, region):  # a partial overwrite: boxes now intersect
                table.disjoint = False
        table.insert(region, record)
