"""The dependency tracker's fast paths answer exactly as its reference scan.

``RegionTracker`` answers most queries by an exact-box look-up (while an allocation's boxes are
disjoint), a linear scan of small tables, or an in-place rewrite; the reference is the bisection
scan of ``_Table.overlapping`` with every fast path off. Both trackers get the same random mix of
tile-aligned, sub-tile, partially overlapping and empty accesses, with integer times so that ties
(where the order of records decides the producer) are frequent.
"""

from __future__ import annotations

import random

from trnsim.core.deps import Record, RegionTracker, _Table
from trnsim.nki.trace import MemorySpace, Operand, Region


class _ReferenceTracker(RegionTracker):
    """Every query through the bisection scan; every write through drop-and-insert."""

    exact_lookups = False

    def _found(self, table: _Table, box: Region) -> list[Record]:
        table.disjoint = False
        return table.overlapping(box)


def _operand(alloc: int, box: tuple[int, int, int, int], space: MemorySpace) -> Operand:
    p0, p1, b0, b1 = box
    return Operand("t", space, (max(0, p1 - p0), max(0, b1 - b0)), "bfloat16", 0,
                   Region(alloc, p0, p1, b0, b1), 0, 0)


def _box(rng: random.Random) -> tuple[int, int, int, int]:
    kind = rng.random()
    if kind < 0.5:  # a whole tile of a 4 x 4 tiling
        p, b = rng.randrange(4) * 32, rng.randrange(4) * 256
        return (p, p + 32, b, b + 256)
    if kind < 0.8:  # a slice inside a tile
        p, b = rng.randrange(4) * 32, rng.randrange(4) * 256 + rng.randrange(0, 256, 64)
        return (p, p + 32, b, b + 64)
    if kind < 0.95:  # anything, across tiles
        p0, b0 = rng.randrange(128), rng.randrange(1024)
        return (p0, rng.randrange(p0 + 1, 129), b0, rng.randrange(b0 + 1, 1025))
    p, b = rng.randrange(128), rng.randrange(1024)  # empty
    return (p, p, b, b) if rng.random() < 0.5 else (p, p + 1, b, b)


def test_fast_paths_match_the_reference_scan() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        fast, reference = RegionTracker(), _ReferenceTracker()
        for index in range(200):
            space = rng.choice((MemorySpace.SBUF, MemorySpace.PSUM, MemorySpace.HBM))
            inputs = tuple(_operand(rng.randrange(3), _box(rng), space) for _ in range(rng.randrange(3)))
            outputs = tuple(_operand(rng.randrange(3), _box(rng), space) for _ in range(rng.randrange(2)))
            engine = rng.choice((0, 1, 2, -(index + 1)))
            exempt, unordered = rng.random() < 0.5, engine < 0
            got = fast.wait(inputs, outputs, engine, exempt, unordered)
            want = reference.wait(inputs, outputs, engine, exempt, unordered)
            assert got[:2] == want[:2], (seed, index)
            assert got[2] == want[2], (seed, index)
            start = float(rng.randrange(20))
            ready = start + rng.randrange(1, 5)
            fast.finish(got[2], ready, outputs, ready, engine, index)
            reference.finish(want[2], ready, outputs, ready, engine, index)
        for alloc, table in fast._tables.items():
            other = reference._tables[alloc]
            assert table.boxes == other.boxes, seed
            assert table.records == other.records, seed


def test_remembered_queries_follow_the_boxes_of_the_table() -> None:
    """A remembered query answers with the current records; a new or dropped box forgets it."""
    tracker = RegionTracker()
    sbuf = MemorySpace.SBUF
    tiles = [_operand(7, (0, 128, b, b + 256), sbuf) for b in (0, 256, 512)]
    for index, tile in enumerate(tiles):
        tracker.finish([], 1.0, (tile,), 10.0 + index, 1, index)
    piece = _operand(7, (0, 128, 256, 320), sbuf)  # a slice of the second tile
    ready, producer, reads = tracker.wait((piece,), (), 2, False, False)
    assert (ready, producer, len(reads)) == (11.0, 1, 1)
    table = tracker._tables[7]
    assert not table.memo  # inside one box of a disjoint table: found by its start, not remembered
    two = _operand(7, (0, 128, 200, 300), sbuf)  # across the first and second tiles
    ready, producer, reads = tracker.wait((two,), (), 2, False, False)
    assert (ready, producer, len(reads)) == (11.0, 1, 2)
    assert table.memo  # remembered
    tracker.finish([], 1.0, (tiles[1],), 40.0, 1, 3)  # the same box rewritten: still remembered
    assert table.memo
    assert tracker.wait((piece,), (), 2, False, False)[:2] == (40.0, 3)
    assert tracker.wait((two,), (), 2, False, False)[:2] == (40.0, 3)
    across = _operand(7, (0, 128, 300, 600), sbuf)  # overlaps the second and third tiles
    tracker.finish([], 1.0, (across,), 50.0, 1, 4)
    assert not table.disjoint
    ready, producer, reads = tracker.wait((piece,), (), 2, False, False)
    assert (ready, producer, len(reads)) == (50.0, 4, 2)  # the new box is seen


def test_remembered_answers_are_dropped_when_their_table_changes() -> None:
    """``Resolved`` entries name records of a table: a new box or a replaced record drops them."""
    tracker = RegionTracker()
    sbuf = MemorySpace.SBUF
    tiles = [_operand(7, (0, 128, b, b + 256), sbuf) for b in (0, 256, 512)]
    for index, tile in enumerate(tiles):
        tracker.finish([], 1.0, (tile,), 10.0 + index, 1, index)
    table, resolved = tracker._tables[7], tracker.resolved
    piece, second = Region(7, 0, 128, 256, 320), tiles[1].region
    assert second is not None

    def remember() -> None:  # what the scheduler does after answering these accesses
        resolved.reads[piece] = resolved.rewrites[second] = table.records[second]
        table.cached.extend((piece, second))

    remember()
    tracker.finish([], 1.0, (tiles[1],), 40.0, 1, 3)  # the tracker replaces the record object
    assert not resolved.reads and not resolved.rewrites and not table.cached
    remember()
    tracker.finish([], 1.0, (_operand(7, (0, 128, 768, 1024), sbuf),), 50.0, 1, 4)  # a new box
    assert not resolved.reads and not resolved.rewrites and not table.cached
    remember()
    tracker.wait((_operand(7, (0, 128, 1024, 1100), sbuf),), (), 2, False, False)  # an input's new piece
    assert not resolved.reads and not table.cached
    # another allocation's change leaves them alone
    remember()
    tracker.finish([], 1.0, (_operand(8, (0, 128, 0, 256), sbuf),), 60.0, 1, 5)
    assert resolved.reads == {piece: table.records[second]}


def test_a_table_created_with_its_first_box_equals_an_insert_into_an_empty_one() -> None:
    for box in (Region(3, 0, 128, 0, 256), Region(3, 5, 5, 0, 64), Region(3, 0, 1, 64, 64)):
        record: Record = [1.0, 0, 0, 0.0, -1]
        built, inserted = _Table(None, box, record), _Table()
        inserted.insert(box, record)
        assert [getattr(built, name) for name in _Table.__slots__] == \
            [getattr(inserted, name) for name in _Table.__slots__]
    assert not _Table(None, Region(3, 5, 5, 0, 64), [0.0, -1, -1, 0.0, -1]).disjoint  # empty boxes
