"""The JVM shares Python's main thread: starting it must not shrink that thread's stack.

A JVM created on the primordial thread puts its stack guard pages at -Xss (1 MiB by default); the
GPU compose stage then died with SIGSEGV in libtorch_cuda during torch.compile. Deep C recursion
after the JVM is up is the same fault without a GPU: repr() of a deeply nested list recurses in C.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sanchaek.search.embedded import main_thread_stack_option

# Enough C recursion for ~4 MiB of stack: fine in an 8 MiB main thread, fatal under a 1 MiB cap.
DEEP_REPR = """
import sys
from sanchaek.config import params_from_dict
from sanchaek.search.embedded import java_classes
java_classes(params_from_dict({}).index)
sys.setrecursionlimit(10**6)
nested = []
for _ in range(20000):
    nested = [nested]
print(len(repr(nested)))
"""


def test_the_jvm_stack_option_matches_the_main_thread_limit():
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    option = main_thread_stack_option()
    assert option.startswith("-Xss") and option.endswith("k")
    if soft != resource.RLIM_INFINITY:
        assert int(option[4:-1]) * 1024 >= min(soft, 2**20)


def test_deep_native_recursion_survives_a_started_jvm():
    pytest.importorskip("jpype")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DEEP_REPR)], capture_output=True, text=True, timeout=120
    )
    if "no Java runtime" in proc.stderr or "Lucene jars" in proc.stderr:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.strip() == str(2 * 20000 + 2)
