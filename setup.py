"""Build hook for the optional C module; everything else is in pyproject.toml.

``sigdbg.backends._fastptrace`` makes the ptrace backend's hot system calls
without ctypes.  It is optional: when it cannot be built (no compiler, no
Python headers) sigdbg runs the same calls through ctypes.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("sigdbg.backends._fastptrace", ["sigdbg/backends/_fastptrace.c"], optional=True,
              extra_compile_args=["-O2", "-Wall"]),
])
