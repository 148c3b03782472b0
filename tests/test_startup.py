"""Start-up stays light: ``import trnsim.cli`` loads no kernel layer, HTML, Ray or ml_dtypes.

Not timed (speed comes from benchmarks/startup_speed.py): it checks the mechanism, which modules a
fresh interpreter has loaded after importing the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Heavy modules that only some commands need: the kernel layer and its bfloat16 dtypes, the HTML
#: report's plotly, Ray for sweeps.
DEFERRED = ("ml_dtypes", "plotly", "ray", "trnsim.nki")

_PROBE = "import json, sys, trnsim.cli; print(json.dumps(sorted(sys.modules)))"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_defers_heavy_modules() -> None:
    loaded = _modules_after(_PROBE)
    assert "trnsim.cli.cmd_plan" in loaded  # the probe did import the commands
    found = sorted(m for m in loaded if any(m == name or m.startswith(name + ".") for name in DEFERRED))
    assert found == []


def test_kernel_run_help_names_the_kernel_layers_variables() -> None:
    from trnsim.cli import cmd_kernel_run
    from trnsim.nki import budget, targets

    assert cmd_kernel_run.ENV_TARGET == targets.ENV_TARGET
    assert cmd_kernel_run.ENV_INSTRUCTIONS == budget.ENV_INSTRUCTIONS
    assert cmd_kernel_run.ENV_TIME == budget.ENV_TIME


def test_the_cluster_model_loads_no_what_if_machinery() -> None:
    """Timing a plan on the shipped tables needs neither the NeuronCore timing data's models nor the
    table generator: what-if timing imports them where a chip carries overrides."""
    loaded = _modules_after("import json, sys, trnsim.cluster.step, trnsim.plan.compare; "
                            "print(json.dumps(sorted(sys.modules)))")
    assert "trnsim.devicetime.whatif_timing" in loaded  # the probe did load the what-if module
    assert not {"trnsim.hardware.neuroncore_timing", "trnsim.devicetime.regenerate"} & loaded
