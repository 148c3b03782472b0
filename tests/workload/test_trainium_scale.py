"""The end-to-end calibration scale of Trainium device times (devicetime/trainium_scale.py)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.tables import find_table
from trnsim.devicetime.timing import Method, time_op_detailed
from trnsim.devicetime.trainium_scale import TRAINIUM_SCALE, load_trainium_scale
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import CATALOG_ENV, load_chip, load_system
from trnsim.hardware.datafile import overlay


def _add(rows: int, cols: int) -> Op:
    return Op("add", OpClass.ELEMENTWISE, Phase.FWD, rows * cols, 4.0 * rows * cols, 2.0 * rows * cols,
              {"rows": rows, "cols": cols}, Dtype.BF16, 1, kernel="add")


def _scaled(chip: str, scale: float) -> AbstractContextManager[None]:
    return overlay({f"trainium_scale/{chip}": {"calibration_scale": scale}}, "test")


def test_shipped_scales_trn2_and_trn3_reuse_trn1s_labelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    trn1, trn2, trn3 = (load_trainium_scale(load_chip(n)) for n in ("trn1", "trn2", "trn3"))
    assert 0.0 < trn1.calibration_scale <= 1.0
    assert "neuron_trn1_llama2.csv" in trn1.source and trn1.confidence == "fitted"
    for other in (trn2, trn3):
        assert other.calibration_scale == trn1.calibration_scale
        assert other.calibration_note.startswith("ASSUMPTION: the Trn1 fit")
        assert other.confidence == "assumption"


def test_a_table_time_is_the_simulated_kernel_over_the_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    # 4096 x 8192 lies on the add table's grid: the table's own time; trn1 runs one NeuronCore per
    # rank (LNC=1), one launch; the time is that over the scale.
    table = find_table("add", "bfloat16", "trn1")
    assert table is not None
    kernel_s = table.interpolate_ns({"rows": 4096, "cols": 8192}) * 1e-9
    system = load_system("trn1")
    shipped = load_trainium_scale(system.chip).calibration_scale
    timed = time_op_detailed(_add(4096, 8192), system)
    assert timed.method is Method.TABLE
    assert timed.seconds == pytest.approx(kernel_s / shipped, rel=1e-12)
    assert timed.calibration_scale == shipped  # what the time was divided by, for serving to undo
    for scale in (1.0, 0.5):
        with _scaled("trn1", scale):
            timed = time_op_detailed(_add(4096, 8192), system)
        assert timed.seconds == pytest.approx(kernel_s / scale, rel=1e-12)
        assert timed.calibration_scale == scale
    # the roofline is an ideal bound, never scaled
    with _scaled("trn1", 0.5):
        roofline = time_op_detailed(_add(4096, 8192), system, "roofline")
    assert roofline.seconds == time_op_detailed(_add(4096, 8192), system, "roofline").seconds
    assert roofline.calibration_scale == 1.0


def test_a_trainium_steps_compute_scales_and_its_communication_does_not() -> None:
    from trnsim.cluster import estimate_step, make_plan
    from trnsim.cluster.topology import topology_for_system
    from trnsim.workload.models import load_model

    # Every op of the step is a simulated kernel (table or add proxy), so halving the scale doubles
    # each op's time; chain and epilogue fusion remove a fraction of an op's own time and overlap
    # hides min(fraction x op, neighbouring GEMM), both homogeneous in the times: the fused step's
    # compute (and the optimizer) double too, while collectives, on the topology, do not move.
    system = load_system("trn1")
    plan = make_plan(tp=8, pp=1, dp=4, micro_batch=1, global_batch=8, sequence_parallel=True,
                     overlap_dp_comm=False)
    model = load_model("llama3-8b")
    topology = topology_for_system(system, "trn1")
    with _scaled("trn1", 1.0):
        one = estimate_step(model, system, 32, plan, 4096, topology=topology).breakdown
    with _scaled("trn1", 0.5):
        half = estimate_step(model, system, 32, plan, 4096, topology=topology).breakdown
    assert one["compute"] > 0 and half["compute"] == pytest.approx(2 * one["compute"], rel=1e-9)
    assert half["optimizer"] == pytest.approx(2 * one["optimizer"], rel=1e-9)
    assert one["tp_comm"] > 0 and half["tp_comm"] == one["tp_comm"]
    assert one["dp_comm"] > 0 and half["dp_comm"] == one["dp_comm"]
    # a GPU does not read it
    p5 = load_system("p5")
    gpu_plan = make_plan(tp=8, pp=1, dp=1, micro_batch=1, global_batch=1)
    before = estimate_step(model, p5, 8, gpu_plan, 4096).step_time_s
    with _scaled("trn1", 0.5):
        assert estimate_step(model, p5, 8, gpu_plan, 4096).step_time_s == before


def test_serving_takes_the_kernels_own_times() -> None:
    from trnsim.serve.calibration import load_serving_cases
    from trnsim.serve.estimate import estimate_serving

    # the scale is fitted on training steps and left out of serving (docs/serving.md): a Trn2
    # serving estimate is the same at any scale
    case = load_serving_cases()[2]
    shipped = estimate_serving(case.config)
    with _scaled("trn2", 0.5):
        halved = estimate_serving(case.config)
    assert halved.tpot_s == pytest.approx(shipped.tpot_s, rel=1e-12)
    assert halved.ttft_s == pytest.approx(shipped.ttft_s, rel=1e-12)


def test_a_user_file_overrides_the_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped_text = TRAINIUM_SCALE.shipped_file("trn1").read_text()
    shipped = load_trainium_scale(load_chip("trn1")).calibration_scale
    (tmp_path / "trainium_scale").mkdir()
    (tmp_path / "trainium_scale" / "trn1.toml").write_text(
        shipped_text.replace(f"calibration_scale = {shipped}", "calibration_scale = 0.5"))
    system = load_system("trn1")
    before = time_op_detailed(_add(4096, 8192), system).seconds
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path))
    assert load_trainium_scale(load_chip("trn1")).calibration_scale == 0.5
    # trn2 has its own file: the trn1 user file is not its
    assert load_trainium_scale(load_chip("trn2")).calibration_scale == shipped
    after = time_op_detailed(_add(4096, 8192), system).seconds
    assert after == pytest.approx(before * shipped / 0.5, rel=1e-12)


def test_a_trainium_chip_without_a_file_uses_trn1s() -> None:
    trn9 = load_chip("trn2").model_copy(update={"name": "trn9"})
    assert load_trainium_scale(trn9) == load_trainium_scale(load_chip("trn1"))


@pytest.mark.parametrize("chip, scale, needle", [
    ("trn1", 0.0, "calibration_scale"),
    ("trn1", -1.0, "calibration_scale"),
])
def test_a_bad_scale_is_one_line(chip: str, scale: float, needle: str) -> None:
    with _scaled(chip, scale), pytest.raises(ConfigError) as error:
        load_trainium_scale(load_chip(chip))
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_a_gpu_has_no_trainium_scale() -> None:
    with pytest.raises(ConfigError, match=r"efficiency/h100\.toml"):
        load_trainium_scale(load_chip("h100"))
