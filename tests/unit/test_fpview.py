"""The arch-neutral FP view (sigdbg/abi/fpview.py) and the Abi's flag names.

The renderers print what a decoder's ``fp_view()`` lists, so a group of an
arch they have never heard of comes out in the same shape as x86's YMM rows;
the x86 and ARM texts themselves are held by the integration tests (the
target's own register values) and were compared byte for byte with the
renderers before the view existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi import ABIS, by_name
from sigdbg.abi.aarch64.a64frame import A64Record
from sigdbg.abi.arm.a32frame import A32Record
from sigdbg.abi.fpview import FpView, RegGroup
from sigdbg.render.text import _a32_record_text, _a64_record_text
from sigdbg.shell import views


def test_rows_of_a_group() -> None:
    g = RegGroup("q", 32, (0, 0xABC, 0, 0x1))
    assert g.nonzero_rows("  ") == ["  q1  00000abc", "  q3  00000001"]
    assert [g.label(n) for n in range(2)] == ["q0", "q1"]
    # only the low bits, and registers with their own names
    p = RegGroup("p", 32, (0x12345678, 0, 0xFFFF0001), shown=16, labels=("p0", "p1", "ffr"))
    assert p.nonzero_rows("") == ["p0  ...5678", "ffr ...0001"]


def test_words_and_notes() -> None:
    v = FpView("fmt", (("ctl", 0x37F), ("st", 0)), (("head", "a=1"), ("", "plain")))
    assert v.words_text() == "  ctl=0x37f st=0x0"
    assert v.note_rows("    ") == ["    head: a=1", "    plain"]
    assert FpView().words_text() == ""


@dataclass(frozen=True)
class _Regs:
    """What ``regs --fp`` needs of a decoded regset: where it came from and its view."""

    source: str
    view: FpView

    def fp_view(self) -> FpView:
        return self.view


def test_shell_view_prints_any_arch_groups() -> None:
    regs = _Regs("NT_SOMETHING", FpView(words=(("fpcr", 0x10),),
                                        groups=(RegGroup("q", 64, (0, 0xFF)),)))
    assert views.vectors(regs) == ("vector registers from NT_SOMETHING  fpcr=0x10\n"
                                   "  q0   0000000000000000\n"
                                   "  q1   00000000000000ff")


def test_arm_records_go_through_the_view() -> None:
    v = tuple(f"{x:#034x}" for x in (0, 1 << 127, 0, 5))
    a64 = A64Record(0x1000, 16, 0x46508001, 528, "fpsimd", False, {"fpsr": 0, "fpcr": 0}, v, 0)
    assert a64.fp_view().groups == (RegGroup("v", 128, (0, 1 << 127, 0, 5)),)
    # (a record's lines are indented under the frame's)
    assert _a64_record_text(a64).splitlines()[1:] == [
        "          v1  80000000000000000000000000000000",
        "          v3  00000000000000000000000000000005"]
    a32 = A32Record(0x2000, 8, 0x56465001, 288, "vfp", {"fpscr": 0}, (0, 0, 7), 0)
    assert _a32_record_text(a32).splitlines()[1:] == ["          d2  0000000000000007"]


def test_every_abi_names_its_flags() -> None:
    from sigdbg.abi.aarch64.a64frame import pstate_names
    from sigdbg.abi.arm.a32frame import cpsr_names
    from sigdbg.names import eflags_names

    assert by_name("x86_64").flag_names is eflags_names
    assert by_name("i386").flag_names is eflags_names
    assert by_name("aarch64").flag_names is pstate_names
    assert by_name("arm").flag_names is cpsr_names
    for abi in ABIS:
        assert isinstance(abi.flag_names(0), tuple), abi
